r"""Reading a remote IMAP account as an import source (``imapc:``), strictly read-only.

Settings, named as Dovecot names them (``-p name=value`` or the location's settings)::

    imapc_host           server name or address (required)
    imapc_port           default 143, or 993 with imapc_ssl=imaps
    imapc_user           login name; default: the source user's name (%u etc. expand)
    imapc_master_user    log in as this master user on behalf of imapc_user (SASL PLAIN authzid)
    imapc_password       the password on the command line: works, but shows in `ps` -- prefer
    imapc_password_file  a file whose first line is the password, or the environment variable
                         MAILBEAM_IMAPC_PASSWORD
    imapc_ssl            no | imaps | starttls (default no)
    imapc_ssl_verify     yes | no (default yes): check the certificate and host name
    ssl_client_ca_file   CA certificates to verify against (default: the system's)
    imapc_list_prefix    list only mailboxes under this prefix, shown without it (INBOX stays)
    imapc_cmd_timeout    socket timeout in seconds (default 60; "5 mins" style is accepted)
    imapc_connection_retry_count / imapc_connection_retry_interval (msecs): reconnect policy

The location's path (Dovecot's local imapc index directory) is ignored: nothing is cached.
Every mailbox is opened with EXAMINE and bodies are read with ``BODY.PEEK[]``, so the source
never changes (no ``\Seen``, no ``\Recent`` taken away).  What :meth:`ImapcSource.iter_messages`
yields per message::

    MessageMeta(source_key="1795886322:17",        # UIDVALIDITY:UID
                position=0, uid=17,
                flags=frozenset({"\\Seen"}), keywords=("$Junk",),   # keywords: non-\ flags
                received_date=1614834367,          # INTERNALDATE
                save_date=1614834400,              # SAVEDATE when the server has it, else None
                size=1234, vsize=1234,             # RFC822.SIZE (CRLF line endings)
                guid=None, handle="1795886322:17",
                recent=True)                       # \Recent as this EXAMINE reports it

``read_message`` returns the server's bytes of the message (CRLF line endings, as IMAP sends
them).  If the mailbox's UIDVALIDITY is no longer the one in the key, it raises
``ImapError(TEMP, code="UIDVALIDITY")``: the listing is stale and the folder must be listed again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from imapclient import IMAPClient

from mailstore.driver import SYSTEM_FLAGS, Capability, Folder, MailSource, MessageMeta
from mailstore.errors import Kind, MailstoreError
from mailstore.imap.client import ImapEndpoint, ImapError, ImapSession, SelectInfo
from mailstore.mutf7 import decode_mutf7, encode_mutf7

if TYPE_CHECKING:
    from mailstore.location import MailLocation
    from mailstore.userdb import User

__all__ = ["PASSWORD_ENV", "ImapcSource", "endpoint_for"]

log = logging.getLogger(__name__)

#: The environment variable an imapc source reads its password from.
PASSWORD_ENV = "MAILBEAM_IMAPC_PASSWORD"
#: UIDs per metadata UID FETCH.
FETCH_BATCH = 1000
#: Bodies per UID FETCH BODY.PEEK[] in :meth:`ImapcSource.read_messages`, and their byte budget.
READ_BATCH = 200
READ_BUDGET = 16 * 1024 * 1024

_SYSTEM = {flag.lower(): flag for flag in SYSTEM_FLAGS}
_TRUE = ("yes", "y", "1")
_FALSE = ("no", "n", "0")
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DATE_TIME = re.compile(
    r'"?\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"?'
)
_TIME_UNITS = {"": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
               "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
               "h": 3600, "hour": 3600, "hours": 3600}


def _params(message: str) -> MailstoreError:
    return MailstoreError(Kind.PARAMS, message)


def _seconds(name: str, value: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", value.lower())
    if match is None or match.group(2) not in _TIME_UNITS:
        raise _params(f"{name}={value!r}: expected a number of seconds (or '5 mins')")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def endpoint_for(location: MailLocation, user: User) -> ImapEndpoint:
    """The :class:`ImapEndpoint` an (expanded) ``imapc:`` location describes for ``user``."""
    host = location.get("imapc_host") or ""
    if not host:
        raise _params("imapc: the imapc_host setting is required (-p imapc_host=NAME)")
    mode = (location.get("imapc_ssl") or "no").lower()
    if mode not in ("no", "imaps", "starttls"):
        raise _params(f"imapc_ssl={mode!r}: expected no, imaps or starttls")
    port_text = location.get("imapc_port") or ("993" if mode == "imaps" else "143")
    try:
        port = int(port_text)
    except ValueError:
        raise _params(f"imapc_port={port_text!r} is not a number") from None
    verify_text = (location.get("imapc_ssl_verify") or "yes").lower()
    if verify_text not in _TRUE + _FALSE:
        raise _params(f"imapc_ssl_verify={verify_text!r}: expected yes or no")
    timeout_text = location.get("imapc_cmd_timeout")
    return ImapEndpoint(
        host=host,
        port=port,
        ssl=mode,
        verify=verify_text in _TRUE,
        ca_file=location.get("ssl_client_ca_file") or None,
        user=location.get("imapc_user") or user.name,
        master_user=location.get("imapc_master_user") or None,
        password_env=PASSWORD_ENV,
        password_file=location.get("imapc_password_file") or None,
        timeout=_seconds("imapc_cmd_timeout", timeout_text) if timeout_text else 60.0,
    )


def _session_for(location: MailLocation, endpoint: ImapEndpoint) -> ImapSession:
    retries_text = location.get("imapc_connection_retry_count")
    interval_text = location.get("imapc_connection_retry_interval")
    try:
        retries = int(retries_text) if retries_text else 4
        backoff = int(interval_text) / 1000 if interval_text else 0.5
    except ValueError:
        raise _params("imapc_connection_retry_count/_interval must be numbers") from None
    secret = location.get("imapc_password") or None
    return ImapSession(endpoint, retries=retries, backoff=backoff, secret=secret)


def _text(value: object) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def parse_imap_datetime(value: object) -> datetime:
    """An IMAP date-time (``" 4-Mar-2021 05:06:07 +0100"``, quoted or not) as aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    match = _DATE_TIME.fullmatch(_text(value).strip())
    if match is None or match.group(2).lower() not in _MONTHS:
        raise ValueError(f"not an IMAP date-time: {value!r}")
    day, mon, year, hh, mm, ss, sign, oh, om = match.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
    return datetime(int(year), _MONTHS[mon.lower()], int(day), int(hh), int(mm), int(ss),
                    tzinfo=timezone(offset))


def _uid_set(uids: list[int]) -> str:
    """``1:3,7,9:10`` for sorted ``uids``."""
    runs: list[str] = []
    start = prev = uids[0]
    for uid in uids[1:] + [-1]:
        if uid == prev + 1:
            prev = uid
            continue
        runs.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    return ",".join(runs)


def _key(meta: MessageMeta) -> tuple[int, int]:
    validity, _, uid = (meta.handle or meta.source_key).partition(":")
    try:
        return int(validity), int(uid)
    except ValueError:
        raise MailstoreError(
            Kind.INVALIDDATA, f"not an IMAP source key (UIDVALIDITY:UID): {meta.source_key!r}"
        ) from None


class ImapcSource(MailSource):
    """A remote IMAP account, read through one :class:`ImapSession` (read-only)."""

    capabilities = Capability.HAVE_UIDS | Capability.SUBSCRIPTIONS

    def __init__(self, location: MailLocation, user: User) -> None:
        self.location = location
        self.user = user
        self.endpoint = endpoint_for(location, user)
        self.session = _session_for(location, self.endpoint)
        self.list_prefix = location.get("imapc_list_prefix") or ""
        #: Mailboxes left out of the last listing because their names were not valid mUTF-7.
        self.skipped: list[str] = []

    def __repr__(self) -> str:
        return f"ImapcSource({self.endpoint.describe()})"

    def close(self) -> None:
        self.session.close()

    # -- names -----------------------------------------------------------------------------------

    def _names(self, rows: list[tuple[Any, Any, Any]], *, selectable: bool) -> list[Folder]:
        """Folders for LIST/LSUB rows: prefix stripped, mUTF-7 decoded, split at the separator."""
        folders: list[Folder] = []
        for flags, delim, raw in rows:
            attrs = {_text(f).lower() for f in flags}
            if selectable and attrs & {"\\noselect", "\\nonexistent"}:
                continue
            wire = _text(raw)
            sep = _text(delim) if delim else ""
            name = self._strip_prefix(wire, sep)
            if name is None:
                continue
            try:
                decoded = decode_mutf7(name)
            except MailstoreError as e:
                log.warning("%s: mailbox %r skipped: %s", self.endpoint.describe(), wire, e)
                self.skipped.append(wire)
                continue
            parts = tuple(decoded.split(sep)) if sep else (decoded,)
            if len(parts) == 1 and parts[0].upper() == "INBOX":
                parts = ("INBOX",)
            folders.append(Folder(parts, sep or "/", wire))
        return folders

    def _strip_prefix(self, wire: str, sep: str) -> str | None:
        if not self.list_prefix or wire.upper() == "INBOX":
            return wire
        prefix = encode_mutf7(self.list_prefix)
        if sep and wire.startswith(prefix + sep) and len(wire) > len(prefix) + len(sep):
            return wire[len(prefix) + len(sep):]
        return None

    def list_folders(self) -> list[Folder]:
        """Selectable mailboxes (``LIST "" "*"``), INBOX first, then sorted by name components."""
        self.skipped = []
        pattern = f"{encode_mutf7(self.list_prefix)}*" if self.list_prefix else "*"
        rows: list[tuple[Any, Any, Any]] = []
        rows += self.session.call(lambda c: c.list_folders("", pattern), f'LIST "" "{pattern}"')
        if self.list_prefix:
            rows += self.session.call(lambda c: c.list_folders("", "INBOX"), 'LIST "" "INBOX"')
        folders = {f.name: f for f in self._names(rows, selectable=True)}
        return sorted(folders.values(), key=lambda f: (not f.is_inbox, f.name))

    def subscriptions(self) -> list[tuple[str, ...]]:
        """Subscribed mailbox names (``LSUB "" "*"``), decoded, prefix stripped."""
        rows = self.session.call(lambda c: c.list_sub_folders("", "*"), 'LSUB "" "*"')
        return sorted({f.name for f in self._names(rows, selectable=False)})

    # -- messages --------------------------------------------------------------------------------

    def _examine(self, folder: Folder) -> SelectInfo:
        current = self.session.selected
        if current is not None and current.mailbox == folder.handle and current.readonly:
            return current
        return self.session.select(folder.handle, readonly=True)

    def iter_messages(self, folder: Folder) -> Iterator[MessageMeta]:
        """EXAMINE, ``UID SEARCH ALL``, then ``UID FETCH`` metadata in batches, in UID order."""
        info = self.session.select(folder.handle, readonly=True)
        if info.exists == 0:
            return
        uids = sorted(
            self.session.call(lambda c: c.search("ALL"), f"UID SEARCH ALL in {folder.handle}")
        )
        items = ["UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE"]
        if "SAVEDATE" in self.session.capabilities:
            items.append("SAVEDATE")
        position = 0
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            uid_set = _uid_set(batch)
            what = f"UID FETCH {uid_set} ({' '.join(items)}) in {folder.handle}"
            data = self.session.call(partial(self._fetch, uids=batch, items=items), what)
            for uid in batch:
                row = data.get(uid)
                if row is None:
                    continue  # expunged since the search: doveadm would not see it either
                yield self._meta(info.uidvalidity, uid, position, row)
                position += 1

    @staticmethod
    def _fetch(client: IMAPClient, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        # A list, not a "1:5" string: imapclient's fetch() filters the answer with int(messages).
        result: dict[int, dict[bytes, Any]] = client.fetch(uids, items)
        return result

    def _meta(self, uidvalidity: int, uid: int, position: int, row: dict[bytes, Any]) -> MessageMeta:
        flags: set[str] = set()
        keywords: list[str] = []
        recent = False
        for raw in row.get(b"FLAGS", ()):
            flag = _text(raw)
            if flag.lower() == "\\recent":
                recent = True
            elif flag.lower() in _SYSTEM:
                flags.add(_SYSTEM[flag.lower()])
            elif not flag.startswith("\\"):
                keywords.append(flag)
        received = parse_imap_datetime(row[b"INTERNALDATE"])
        saved = row.get(b"SAVEDATE")
        save_date = None
        if saved not in (None, b"NIL", "NIL"):
            try:
                save_date = int(parse_imap_datetime(saved).timestamp())
            except ValueError:
                save_date = None
        size = int(row[b"RFC822.SIZE"])
        key = f"{uidvalidity}:{uid}"
        return MessageMeta(
            source_key=key,
            position=position,
            uid=uid,
            flags=frozenset(flags),
            keywords=tuple(keywords),
            received_date=int(received.timestamp()),
            save_date=save_date,
            size=size,
            vsize=size,
            guid=None,
            handle=key,
            recent=recent,
        )

    def _check_validity(self, folder: Folder, info: SelectInfo, uidvalidity: int) -> None:
        if info.uidvalidity != uidvalidity:
            raise ImapError(
                Kind.TEMP,
                f"{self.endpoint.describe()}: mailbox {folder.vname}: UIDVALIDITY is now "
                f"{info.uidvalidity}, the message was listed under {uidvalidity}: "
                "list the mailbox again",
                "UIDVALIDITY",
            )

    def read_message(self, folder: Folder, meta: MessageMeta) -> bytes:
        """``UID FETCH uid BODY.PEEK[]`` in the EXAMINEd mailbox; NOTFOUND once expunged."""
        uidvalidity, uid = _key(meta)
        info = self._examine(folder)
        self._check_validity(folder, info, uidvalidity)
        what = f"UID FETCH {uid} BODY.PEEK[] in {folder.handle}"
        data = self.session.call(lambda c: self._fetch(c, [uid], ["BODY.PEEK[]"]), what)
        body = data.get(uid, {}).get(b"BODY[]")
        if body is None:
            raise MailstoreError(
                Kind.NOTFOUND,
                f"{self.endpoint.describe()}: mailbox {folder.vname}: message UID {uid} "
                "no longer exists (expunged)",
            )
        return bytes(body)

    def read_messages(self, folder: Folder, metas: list[MessageMeta]) -> dict[str, bytes]:
        """Bodies of ``metas`` by source key, several per ``UID FETCH``; a message missing from
        the result could not be read (ask :meth:`read_message` for the reason)."""
        if not metas:
            return {}
        info = self._examine(folder)
        wanted: dict[int, str] = {}
        for meta in metas:
            uidvalidity, uid = _key(meta)
            self._check_validity(folder, info, uidvalidity)
            wanted[uid] = meta.source_key
        sizes = {_key(m)[1]: m.size for m in metas}
        result: dict[str, bytes] = {}
        batch: list[int] = []
        budget = 0
        for uid in sorted(wanted):
            batch.append(uid)
            budget += sizes[uid]
            if len(batch) >= READ_BATCH or budget >= READ_BUDGET:
                self._read_batch(folder, batch, wanted, result)
                batch, budget = [], 0
        if batch:
            self._read_batch(folder, batch, wanted, result)
        return result

    def _read_batch(
        self, folder: Folder, uids: list[int], wanted: dict[int, str], out: dict[str, bytes]
    ) -> None:
        uid_set = _uid_set(uids)
        what = f"UID FETCH {uid_set} BODY.PEEK[] in {folder.handle}"
        data = self.session.call(lambda c: self._fetch(c, uids, ["BODY.PEEK[]"]), what)
        for uid in uids:
            body = data.get(uid, {}).get(b"BODY[]")
            if body is not None:
                out[wanted[uid]] = bytes(body)
