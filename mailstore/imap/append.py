"""APPENDing one batch into a selected mailbox: MULTIAPPEND chunks, the one-by-one fallback,
recovery after a lost connection, and the keywords a server refused.

:func:`prepare` turns a :class:`~mailstore.driver.SaveRequest` into a :class:`Pending` (the
CRLF body, the system flags, the keywords to send and those refused up front); an
:class:`AppendBatch` sends :func:`chunks` of them and fills in each ``Pending.result``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from imapclient import exceptions as imap_exc
from imapclient.datetime_util import datetime_to_INTERNALDATE
from imapclient.imapclient import _literal, _quote

from mailstore.driver import SYSTEM_FLAGS, SaveRequest, SaveResult
from mailstore.errors import Kind, MailstoreError
from mailstore.imap.client import ImapError, ImapSession, SelectInfo
from mailstore.imap.fingerprint import (
    Fingerprint,
    request_fingerprint,
    stored_fingerprints,
    wire_body,
)

if TYPE_CHECKING:
    from imapclient import IMAPClient

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_MESSAGES",
    "MAX_KEYWORD_LENGTH",
    "AppendBatch",
    "Pending",
    "appenduid",
    "chunks",
    "is_keyword",
    "prepare",
]

#: At most this many messages or bytes per MULTIAPPEND command.
CHUNK_MESSAGES = 200
CHUNK_BYTES = 16 << 20
#: Dovecot's default ``mail_max_keyword_length``: a longer keyword fails the whole APPEND
#: (``NO [CANNOT] Keyword length too long``), so it is refused before sending.
MAX_KEYWORD_LENGTH = 50
_ATOM_SPECIALS = frozenset('(){ %*"\\]')


def is_keyword(word: str) -> bool:
    """Whether ``word`` can be sent as a keyword (an IMAP atom, not too long, no backslash)."""
    return (
        0 < len(word) <= MAX_KEYWORD_LENGTH
        and not word.startswith("\\")
        and all(0x20 < ord(c) < 0x7F and c not in _ATOM_SPECIALS for c in word)
    )


@dataclass
class Pending:
    """One request on its way: what goes on the wire and what became of it."""

    request: SaveRequest
    body: bytes
    flags: list[str]
    keywords: list[str]
    refused: list[str]
    fingerprint: Fingerprint
    uid: int | None = None
    result: SaveResult | None = None

    @property
    def save_id(self) -> str:
        return self.request.save_id

    def outcome(self) -> SaveResult:
        return self.result or _failed(self.save_id, "not saved")


class AppendBatch:
    """The APPENDs of one save_batch into the mailbox ``wire`` (``shown`` in messages), which
    ``info`` describes as SELECTed when the batch began."""

    def __init__(self, session: ImapSession, wire: str, shown: str, info: SelectInfo) -> None:
        self.session = session
        self.wire = wire
        self.shown = shown
        self.info = info
        self.since_uid = info.uidnext or 1
        self.written: list[Pending] = []

    def append(self, chunk: list[Pending]) -> None:
        """APPEND a chunk (MULTIAPPEND) or one message; NO on a chunk → one by one."""
        if len(chunk) > 1:
            try:
                self._send(chunk)
                return
            except ImapError as e:
                if e.kind is Kind.TEMP:
                    self._recover(chunk)
                    return
        for item in chunk:
            try:
                self._send([item])
            except ImapError as e:
                if e.kind is Kind.TEMP:
                    self._recover([item])
                elif item.keywords and "keyword" in str(e).lower():
                    item.refused += item.keywords
                    item.keywords = []
                    self._send_or_fail(item)
                else:
                    item.result = _failed(item.save_id, _reason(e))

    def _send_or_fail(self, item: Pending) -> None:
        try:
            self._send([item])
        except ImapError as e:
            item.result = _failed(item.save_id, _reason(e))

    def _send(self, chunk: list[Pending]) -> None:
        what = f"APPEND {len(chunk)} message(s) to {self.shown}"
        response = self.session.call(lambda c: _append(c, self.wire, chunk), what, retry=False)
        uids = appenduid(response, self.info.uidvalidity, len(chunk))
        for item, uid in zip(chunk, uids or [None] * len(chunk), strict=True):
            self._written(item, uid)

    def _written(self, item: Pending, uid: int | None) -> None:
        item.uid = uid
        name = f"imap:{self.info.uidvalidity}:{uid}" if uid is not None else ""
        item.result = SaveResult(item.save_id, "written", dest_name=name,
                                 refused_keywords=tuple(item.refused))
        self.written.append(item)

    def _recover(self, chunk: list[Pending]) -> None:
        """After a lost connection: what of ``chunk`` arrived is written; send the rest once."""
        try:
            arrived = self._arrived(chunk)
        except MailstoreError as e:
            for item in chunk:
                item.result = _failed(item.save_id, f"temporary failure: {_reason(e)}")
            return
        rest = [item for item in chunk if item.save_id not in arrived]
        for item in chunk:
            if item.save_id in arrived:
                self._written(item, arrived[item.save_id])
        for item in rest:
            try:
                self._send([item])
            except ImapError as e:
                text = _reason(e)
                if e.kind is Kind.TEMP and "temporar" not in text.lower():
                    text = f"temporary failure: {text}"
                item.result = _failed(item.save_id, text)

    def _arrived(self, chunk: list[Pending]) -> dict[str, int | None]:
        """Which of ``chunk`` the mailbox got since the batch began (UIDs we know excluded)."""
        known = {item.uid for item in self.written if item.uid is not None}
        stored = self.session.call(
            lambda c: stored_fingerprints(c, [i.fingerprint for i in chunk], self.since_uid),
            f"SEARCH in {self.shown}",
        )
        found = [(uid, fp) for uid, fp in sorted(stored.items()) if uid not in known]
        # Copies this batch wrote without learning their UID (no UIDPLUS) are theirs, not ours.
        unknown = Counter(i.fingerprint for i in self.written if i.uid is None)
        for at in range(len(found) - 1, -1, -1):
            if unknown[found[at][1]]:
                unknown[found[at][1]] -= 1
                del found[at]
        arrived: dict[str, int | None] = {}
        for item in chunk:
            for at, (uid, fp) in enumerate(found):
                if fp == item.fingerprint:
                    arrived[item.save_id] = uid
                    del found[at]
                    break
        return arrived

    def check_keywords(self) -> None:
        """Keywords asked for but missing from the stored message are refused (UIDPLUS only)."""
        wanted = {i.uid: i for i in self.written if i.uid is not None and i.keywords}
        if not wanted:
            return
        try:
            got = self.session.call(lambda c: c.fetch(sorted(wanted), ["FLAGS"]),
                                    f"UID FETCH FLAGS in {self.shown}")
        except MailstoreError:
            return  # the messages are saved; only the report of refused keywords is lost
        for uid, item in wanted.items():
            if uid not in got or item.result is None:
                continue
            stored = {_text(f).lower() for f in got[uid].get(b"FLAGS", ())}
            missing = [k for k in item.keywords if k.lower() not in stored]
            if missing:
                item.refused += missing
                item.result = SaveResult(item.save_id, item.result.status,
                                         dest_name=item.result.dest_name,
                                         refused_keywords=tuple(item.refused))


# -- wire helpers ----------------------------------------------------------------------------------
def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _failed(save_id: str, reason: str) -> SaveResult:
    return SaveResult(save_id, "failed", reason=reason)


def _reason(e: MailstoreError) -> str:
    return str(e)


def _append(client: IMAPClient, mailbox: str, chunk: list[Pending]) -> bytes:
    """One APPEND command (MULTIAPPEND for several messages); the tagged OK text.

    The literal goes out as is, as imapclient's ``multiappend`` sends it: its ``append`` goes
    through imaplib, which would rewrite a bare CR as CRLF.
    """
    args: list[bytes] = [_quote(mailbox).encode("ascii")]
    for item in chunk:
        args.append(("(" + " ".join(item.flags + item.keywords) + ")").encode("ascii"))
        received = datetime.fromtimestamp(item.request.received_date, UTC)
        args.append(f'"{datetime_to_INTERNALDATE(received)}"'.encode("ascii"))
        args.append(_literal(item.body))
    typ, data = client._raw_command(b"APPEND", args, uid=False)
    text = _text(data[0]) if data else ""
    if typ != "OK":
        raise imap_exc.IMAPClientError(f"APPEND failed: {text}")
    return text.encode()


def appenduid(response: bytes, uidvalidity: int, count: int) -> list[int | None] | None:
    """UIDs from ``[APPENDUID <uidvalidity> <uid-set>]``, one per message, else None."""
    text = _text(response)
    start = text.find("[APPENDUID ")
    if start < 0:
        return None
    fields = text[start + 1 : text.find("]", start)].split()
    if len(fields) != 3 or not fields[1].isdigit() or int(fields[1]) != uidvalidity:
        return None
    uids: list[int | None] = []
    try:
        for part in fields[2].split(","):
            low, _, high = part.partition(":")
            first, last = int(low), int(high or low)
            step = 1 if last >= first else -1
            uids.extend(range(first, last + step, step))
    except ValueError:
        return None
    return uids if len(uids) == count else None


def chunks(items: list[Pending], *, multiappend: bool) -> Iterator[list[Pending]]:
    """Groups to send in one command: single messages without MULTIAPPEND."""
    if not multiappend:
        for item in items:
            yield [item]
        return
    chunk: list[Pending] = []
    size = 0
    for item in items:
        if chunk and (len(chunk) >= CHUNK_MESSAGES or size + len(item.body) > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item.body)
    if chunk:
        yield chunk


def prepare(req: SaveRequest, permanent_flags: Sequence[str]) -> Pending:
    """What to send for ``req`` into a mailbox with these PERMANENTFLAGS."""
    permanent = {f.lower() for f in permanent_flags}
    any_keyword = "\\*" in permanent
    flags = sorted(f for f in req.flags if f in SYSTEM_FLAGS)
    keywords: list[str] = []
    refused: list[str] = []
    for kw in req.keywords:
        ok = is_keyword(kw) and (any_keyword or kw.lower() in permanent)
        (keywords if ok else refused).append(kw)
    return Pending(req, wire_body(req.body), flags, keywords, refused,
                 request_fingerprint(req))
