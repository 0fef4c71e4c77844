r"""From mbox metadata headers (and Dovecot's index, if any) to UIDs, flags, keywords, \Recent.

Mirrors the read side of Dovecot's ``mbox-sync.c`` / ``mbox-sync-parse.c`` (2.3.19.1) for a
mailbox opened read-only, as ``doveadm import`` opens its source.  Per message, headers are
taken in file order:

* ``X-IMAPbase: <uidvalidity> <uid-last> [keywords]`` / ``X-IMAP`` -- only in the first message;
  UIDs continue after ``uid-last``; the keywords become the names ``X-Keywords`` may use.
  ``X-IMAP`` also makes that first message the hidden "FOLDER INTERNAL DATA" pseudo-message.
* ``X-UID: n`` -- used if ``prev < n <= next`` (``next`` = the next free UID, bumped when
  ``n == next``); ignored in the first message before ``X-IMAPbase``, and when repeated.
  Otherwise the message gets ``next`` (and ``next`` grows).
* ``Status``: ``R`` = ``\Seen``, ``O`` = old; ``X-Status``: ``A F T D`` = ``\Answered
  \Flagged \Draft \Deleted``.  Several such headers add up.
* ``X-Keywords``: the first one only; ignored whole if a name in it is not declared.
* ``\Recent``: a message is recent when no message at or after it has ``O`` (and, with an
  index, its UID is at least the index's ``first_recent_uid``).

**The index.**  A message is matched to its index record by UID -- records below it count as
expunged, an X-UID the index does not know below its ``next_uid`` is broken -- or, without an
X-UID, by the offset of its separator in the record's ``mbox`` extension (Dovecot uses a header
MD5 there; with the file unchanged the offset is the same).  The index's ``next_uid`` seeds UID
assignment and its keywords are declared names.  Whose flags count follows
``mbox_sync_update_flags()`` / ``mbox_sync_get_dirty_flags()``:

* a matched record marked DIRTY (``MAIL_INDEX_MAIL_FLAG_DIRTY``: changed in the index but not
  yet written to the file -- ``mbox_lazy_writes=yes``, the default, or a read-only file) gives
  the message its flags *and* its keywords [obs 2.3.19: ``doveadm flags`` on a read-only mbox];
* any other message keeps the flags and keywords of its ``Status``/``X-Status``/``X-Keywords``
  headers, even if its (non-dirty) record says otherwise: another MUA may have edited the file
  since Dovecot's last sync, and Dovecot's sync writes the file's flags into the index.

``doveadm import`` reads the file like this even when its size and mtime still match the index's
``mbox`` header (where ``mbox_sync_has_changed()`` alone would skip reading it): the first
message's GUID, which mbox takes from a header MD5 it does not store for mail with X-UIDs,
forces a full read (``mbox_mail_get_special()`` -> ``mbox_sync(FORCE_SYNC | READONLY)``)
[obs 2.3.19].

Not replayed: non-external flag/keyword changes still waiting in the log after the mailbox-sync
(tail) offset -- a process that died between committing a STORE and syncing the mbox.  Dovecot's
next sync applies them on top of the file's flags (``index_sync_changes_apply()``); here they
count only for a dirty record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailstore.mbox.parser import RawMessage

if TYPE_CHECKING:
    from mailstore.index.model import IndexRecord, MailIndex

__all__ = ["MboxMail", "sync_messages"]

_STATUS = {ord("R"): "\\Seen"}
_XSTATUS = {ord("A"): "\\Answered", ord("F"): "\\Flagged", ord("T"): "\\Draft",
            ord("D"): "\\Deleted"}
_INDEX_FLAGS = ((0x01, "\\Answered"), (0x02, "\\Flagged"), (0x04, "\\Deleted"),
                (0x08, "\\Seen"), (0x10, "\\Draft"))
_LWSP_LF = b" \t\n"
_BAD_KEYWORD_CHARS = frozenset(b'(){ %*"\\]')


@dataclass(frozen=True)
class MboxMail:
    """One message after the sync: its place in the file and its IMAP state."""

    raw: RawMessage
    uid: int
    flags: frozenset[str]
    keywords: tuple[str, ...]
    recent: bool


def _keyword_ok(word: bytes) -> bool:
    return bool(word) and all(c > 0x20 and c != 0x7F and c not in _BAD_KEYWORD_CHARS
                              for c in word)


def _digits(value: bytes) -> tuple[int, bytes]:
    rest = value.lstrip(b"0123456789")
    head = value[: len(value) - len(rest)]
    return (int(head) if head else 0), rest


def _index_flags(bits: int) -> frozenset[str]:
    return frozenset(name for bit, name in _INDEX_FLAGS if bits & bit)


def _record_offset(rec: IndexRecord) -> int | None:
    data = rec.extensions.get("mbox")
    if data is None or len(data) < 8:
        return None
    return int(struct.unpack_from("<Q", data)[0])


class _Sync:
    def __init__(self, index: MailIndex | None) -> None:
        self.index = index
        self.records = list(index.records) if index is not None else []
        self.pos = 0
        self.next_uid = max(index.next_uid, 1) if index is not None else 1
        self.idx_next_uid = self.next_uid
        self.prev_uid = 0
        self.declared: set[str] = set(index.keywords) if index is not None else set()

    def _imapbase(self, value: bytes) -> bool:
        validity, rest = _digits(value)
        if rest[:1] not in (b"", b" ") or validity == 0:
            return False
        rest = rest.lstrip(_LWSP_LF)
        uid_last, rest = _digits(rest)
        if rest[:1] not in (b"", b" ", b"\t", b"\n"):
            return False
        if self.next_uid - 1 <= uid_last:
            self.next_uid = uid_last + 1
        for word in rest.split():
            if _keyword_ok(word):
                self.declared.add(word.decode("utf-8", "surrogateescape"))
        return True

    def _x_uid(self, value: bytes) -> int:
        uid, rest = _digits(value)
        if rest.strip(_LWSP_LF) or uid > self.next_uid or uid <= self.prev_uid:
            return 0
        if uid == self.next_uid:
            self.next_uid += 1
        return uid

    def _match(self, uid: int, raw: RawMessage) -> tuple[int, IndexRecord | None]:
        """The message's UID after matching it against the index, and its record."""
        recs = self.records
        if uid:
            while self.pos < len(recs) and recs[self.pos].uid < uid:
                self.pos += 1
            if self.pos < len(recs) and recs[self.pos].uid == uid:
                self.pos += 1
                return uid, recs[self.pos - 1]
            if self.pos < len(recs) or uid < self.idx_next_uid:
                return 0, None  # "UID inserted in the middle" / "expunged message reappeared"
            return uid, None
        for i in range(self.pos, len(recs)):
            if _record_offset(recs[i]) == raw.sep_offset:
                self.pos = i + 1
                return recs[i].uid, recs[i]
        self.pos = len(recs)
        return 0, None

    def message(self, seq: int, raw: RawMessage) -> tuple[MboxMail, bool] | None:
        """The synced message and whether it has ``O``; None for the pseudo-message."""
        flags: set[str] = set()
        old = False
        uid = 0
        seen_base = False
        pseudo = False
        keywords: list[str] | None = None
        for name, value in raw.meta:
            if name in (b"x-imapbase", b"x-imap"):
                if seq == 1 and not seen_base and self._imapbase(value):
                    seen_base = True
                    pseudo = pseudo or name == b"x-imap"
            elif name == b"x-uid":
                if uid == 0 and not (seq == 1 and not seen_base):
                    uid = self._x_uid(value)
            elif name == b"status":
                flags.update(_STATUS[c] for c in value if c in _STATUS)
                old = old or b"O" in value
            elif name == b"x-status":
                flags.update(_XSTATUS[c] for c in value if c in _XSTATUS)
            elif name == b"x-keywords" and not keywords:
                words = [w.decode("utf-8", "surrogateescape") for w in value.split()]
                if all(w in self.declared for w in words):
                    keywords = list(dict.fromkeys(words))
        if pseudo:
            return None
        uid, rec = self._match(uid, raw) if self.index is not None else (uid, None)
        if uid == 0:
            uid = self.next_uid
            self.next_uid += 1
            self.pos = len(self.records)
        self.prev_uid = uid
        if rec is not None and rec.dirty:
            return MboxMail(raw, uid, _index_flags(rec.flags), tuple(rec.keywords), False), old
        return MboxMail(raw, uid, frozenset(flags), tuple(keywords or ()), False), old


def sync_messages(raws: Iterable[RawMessage], index: MailIndex | None) -> Iterator[MboxMail]:
    """The real messages of a mailbox with UIDs, flags, keywords and ``recent`` (see above)."""
    sync = _Sync(index)
    mails: list[MboxMail] = []
    last_old_uid = index.first_recent_uid - 1 if index is not None else 0
    for seq, raw in enumerate(raws, start=1):
        result = sync.message(seq, raw)
        if result is None:
            continue
        mail, old = result
        if old:
            last_old_uid = max(last_old_uid, mail.uid)
        mails.append(mail)
    for mail in mails:
        yield MboxMail(mail.raw, mail.uid, mail.flags, mail.keywords, mail.uid > last_old_uid)
