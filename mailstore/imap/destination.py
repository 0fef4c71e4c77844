"""Importing into an IMAP server: the ``imap`` and ``imaps`` destinations.

The location comes from :func:`mailstore.location.parse_destination`
(``imap://HOST[:PORT]``); each destination user logs in as themselves, or through
``imap_master_user`` (SASL PLAIN with the user as authorization identity).  The password is
read when logging in, from ``imap_password_file`` or else ``$MAILBEAM_DEST_PASSWORD``; it is
never part of the location, an error or a repr.

Names are UTF-8 tuples in the core and mUTF-7 on the wire, joined with the server's separator
and prefixed by its personal namespace prefix (both from NAMESPACE, else ``LIST "" ""``).

``save_batch`` SELECTs the mailbox (for PERMANENTFLAGS and UIDNEXT), then APPENDs in ordinal
order with flags, keywords and INTERNALDATE: up to :data:`CHUNK_MESSAGES` messages per
MULTIAPPEND command when the server has it (one server transaction per command), else one APPEND
per message.  A NO fails a whole MULTIAPPEND, so that chunk is sent again one message at a time
and only the culprit fails, with the server's text.  Keywords that are not IMAP atoms, longer
than Dovecot's default ``mail_max_keyword_length`` (50), not allowed by PERMANENTFLAGS, or
missing from the stored message afterwards (checked with UID FETCH FLAGS when the server has
UIDPLUS) are reported in ``refused_keywords``.  With UIDPLUS, ``dest_name`` is
``imap:<uidvalidity>:<uid>``.

APPEND is never retried blindly: a lost connection during APPEND reconnects and looks for the
chunk among the messages that arrived since the batch started (:mod:`.fingerprint`); what is
there is ``written``, the rest is sent once more.  :meth:`ImapDestination.present` answers the
same question for a whole batch on resume, over the whole mailbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from imapclient import IMAPClient

from mailstore.driver import (
    MailDestination,
    SaveRequest,
    SaveResult,
    register_destination,
)
from mailstore.errors import Kind, MailstoreError
from mailstore.imap.append import AppendBatch, Pending, chunks, prepare
from mailstore.imap.client import ImapEndpoint, ImapError, ImapSession
from mailstore.imap.fingerprint import claim, request_fingerprint, stored_fingerprints
from mailstore.mutf7 import decode_mutf7, encode_mutf7

if TYPE_CHECKING:
    from mailstore.location import MailLocation
    from mailstore.userdb import User

__all__ = ["PASSWORD_ENV", "ImapDestination", "endpoint_for"]

#: Where the password comes from when the location names no password file.
PASSWORD_ENV = "MAILBEAM_DEST_PASSWORD"


def endpoint_for(location: MailLocation, user: str) -> ImapEndpoint:
    """The IMAP endpoint of a parsed ``imap``/``imaps`` location for destination ``user``."""
    return ImapEndpoint(
        host=location.path,
        port=int(location.get("imap_port") or (993 if location.driver == "imaps" else 143)),
        ssl=location.get("imap_ssl") or ("imaps" if location.driver == "imaps" else "starttls"),
        verify=(location.get("imap_ssl_verify") or "yes") == "yes",
        ca_file=location.get("imap_ssl_ca_file"),
        user=user,
        master_user=location.get("imap_master_user"),
        password_env=PASSWORD_ENV,
        password_file=location.get("imap_password_file"),
    )


class ImapDestination(MailDestination):
    """A user's mailboxes on an IMAP server (see the module docstring)."""

    def __init__(self, location: MailLocation, user: User, epoch: int) -> None:
        self.location = location
        self.user = user
        self.epoch = int(epoch)
        self.endpoint = endpoint_for(location, user.name)
        self._session: ImapSession | None = None
        self._namespace: tuple[str, str] | None = None

    def __repr__(self) -> str:
        return f"ImapDestination({self.endpoint.describe()})"

    @property
    def session(self) -> ImapSession:
        """The logged-in session (opened on first use)."""
        if self._session is None:
            self._session = ImapSession(self.endpoint)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- names -----------------------------------------------------------------------------------
    @property
    def separator(self) -> str:
        """The server's hierarchy separator in the personal namespace (asked on first use)."""
        return self._names()[1]

    @separator.setter
    def separator(self, value: str) -> None:
        raise AttributeError("the IMAP server decides the separator")

    def _names(self) -> tuple[str, str]:
        if self._namespace is None:
            self._namespace = self.session.call(_personal_namespace, "NAMESPACE")
        return self._namespace

    def _wire(self, name: tuple[str, ...]) -> str:
        self.validate_name(name)
        if len(name) == 1 and name[0].upper() == "INBOX":
            return "INBOX"
        prefix, sep = self._names()
        return encode_mutf7(prefix + sep.join(name))

    def _shown(self, name: tuple[str, ...]) -> str:
        return self.separator.join(name)

    def validate_name(self, name: tuple[str, ...]) -> None:
        """Raise MailstoreError(PARAMS) for an empty name or component, a component holding the
        server's separator, or a character mUTF-7 cannot carry (NUL, a lone surrogate)."""
        sep = self.separator
        shown = sep.join(name)
        if not name or any(part == "" for part in name):
            raise MailstoreError(Kind.PARAMS, f"Mailbox name {shown!r}: empty name component")
        for part in name:
            if sep in part:
                raise MailstoreError(
                    Kind.PARAMS, f"Mailbox name {shown!r}: {part!r} contains the separator {sep!r}"
                )
        try:
            encode_mutf7(shown)
        except MailstoreError as e:
            raise MailstoreError(Kind.PARAMS, f"Mailbox name {shown!r}: {e}") from None

    # -- mailboxes -------------------------------------------------------------------------------
    def create_mailbox(self, name: tuple[str, ...]) -> bool:
        """CREATE the mailbox; False when it existed (``[ALREADYEXISTS]``, "already exists",
        or INBOX, which always exists)."""
        wire = self._wire(name)
        if wire == "INBOX":
            return False
        try:
            self.session.call(lambda c: c.create_folder(wire), f"CREATE {self._shown(name)}")
        except ImapError as e:
            if e.code == "ALREADYEXISTS" or "already exists" in str(e).lower():
                return False
            raise
        return True

    def subscribe(self, names: Iterable[tuple[str, ...]]) -> None:
        """SUBSCRIBE each mailbox (subscribing twice is harmless in IMAP)."""
        for name in names:
            wire = self._wire(name)
            self.session.call(lambda c, w=wire: c.subscribe_folder(w),  # type: ignore[misc]
                              f"SUBSCRIBE {self._shown(name)}")

    # -- saving ----------------------------------------------------------------------------------
    def save_batch(self, name: tuple[str, ...], requests: list[SaveRequest]) -> list[SaveResult]:
        """APPEND ``requests`` to ``name`` in ordinal order; one result per request, in order.

        A request that repeats an earlier ``save_id`` shares its result.  A message the server
        refuses is ``failed`` with the server's text; a connection that stays lost fails what
        is left with a reason saying "temporary".  Login and SELECT failures raise.
        """
        wire = self._wire(name)
        shown = self._shown(name)
        info = self.session.select(wire, readonly=False)
        items: dict[str, Pending] = {}
        for req in sorted(requests, key=lambda r: r.ordinal):
            if req.save_id not in items:
                items[req.save_id] = prepare(req, info.permanent_flags)
        batch = AppendBatch(self.session, wire, shown, info)
        for chunk in chunks(list(items.values()), multiappend=self._multiappend()):
            batch.append(chunk)
        batch.check_keywords()
        return [items[r.save_id].outcome() for r in requests]

    def _multiappend(self) -> bool:
        return "MULTIAPPEND" in self.session.capabilities

    # -- exactly once ----------------------------------------------------------------------------
    def present(self, name: tuple[str, ...], requests: list[SaveRequest]) -> set[str]:
        """The save ids of ``requests`` already stored in mailbox ``name``.

        Matched by fingerprint (Message-ID, RFC822.SIZE, INTERNALDATE, first KB; see
        :mod:`.fingerprint`) over the whole mailbox, copy for copy in ordinal order.  A message
        that was in the mailbox before the import and is identical to a request counts too.
        A mailbox that does not exist holds nothing.
        """
        if not requests:
            return set()
        wire = self._wire(name)
        try:
            self.session.select(wire, readonly=True)
        except ImapError as e:
            if e.kind is Kind.NOTFOUND:
                return set()
            raise
        ordered = sorted(requests, key=lambda r: r.ordinal)
        prints = [(r.save_id, request_fingerprint(r)) for r in ordered]
        found = self.session.call(
            lambda c: stored_fingerprints(c, [fp for _, fp in prints], 1),
            f"SEARCH in {self._shown(name)}",
        )
        return claim(prints, found.values())


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _personal_namespace(client: IMAPClient) -> tuple[str, str]:
    """(prefix, separator) of the first personal namespace; LIST "" "" without NAMESPACE."""
    if client.has_capability("NAMESPACE"):
        personal = client.namespace().personal
        if personal:
            prefix, sep = personal[0]
            return decode_mutf7(_text(prefix)), _text(sep) if sep else "."
    listed = client.list_folders("", "")
    sep = listed[0][1] if listed else None
    return "", _text(sep) if sep else "."


register_destination("imap", ImapDestination)
register_destination("imaps", ImapDestination)
