"""What a replayed Dovecot index holds: :class:`MailIndex` and its :class:`IndexRecord` rows.

Both are plain frozen values with no reference to the files they came from::

    MailIndex(uid_validity=1700000000, next_uid=8, first_recent_uid=8,
              records=(IndexRecord(uid=1, flags=0x08, keywords=("$Forwarded",),
                                   extensions={"keywords": b"\\x01\\x00", "cache": b"..."}),
                       ...),
              keywords=("$Forwarded", "$Junk"),
              header_extensions={"dbox-hdr": b"...", "keywords": b"..."})

Flag bits are Dovecot's ``enum mail_flags`` (``lib-mail/mail-types.h``); only the low five bits
are IMAP flags, :func:`system_flags` names them.  Of the record's internal bits only
``MAIL_INDEX_MAIL_FLAG_DIRTY`` (0x80) is kept, as :attr:`IndexRecord.dirty`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "FLAG_ANSWERED",
    "FLAG_DELETED",
    "FLAG_DIRTY",
    "FLAG_DRAFT",
    "FLAG_FLAGGED",
    "FLAG_SEEN",
    "IMAP_FLAGS_MASK",
    "IndexRecord",
    "MailIndex",
    "system_flags",
]

FLAG_ANSWERED = 0x01
FLAG_FLAGGED = 0x02
FLAG_DELETED = 0x04
FLAG_SEEN = 0x08
FLAG_DRAFT = 0x10
#: ``MAIL_INDEX_MAIL_FLAG_DIRTY``: the flags and keywords changed in the index but were not yet
#: written to the mailbox itself (mbox with ``mbox_lazy_writes`` or a read-only file).
FLAG_DIRTY = 0x80
#: The bits of a record's flag byte that are IMAP system flags (0x20 is the old \\Recent,
#: 0x40 BACKEND and 0x80 DIRTY are Dovecot-internal).
IMAP_FLAGS_MASK = 0x1F

_FLAG_NAMES = (
    (FLAG_ANSWERED, "\\Answered"),
    (FLAG_FLAGGED, "\\Flagged"),
    (FLAG_DELETED, "\\Deleted"),
    (FLAG_SEEN, "\\Seen"),
    (FLAG_DRAFT, "\\Draft"),
)


def system_flags(flags: int) -> frozenset[str]:
    """The IMAP system flag names set in a record's flag byte (``0x0a`` -> Flagged, Seen)."""
    return frozenset(name for bit, name in _FLAG_NAMES if flags & bit)


@dataclass(frozen=True)
class IndexRecord:
    r"""One message of a mailbox (or, in the mdbox map index, one map entry).

    ``flags`` is the record's flag byte masked to the IMAP bits (``\Answered`` 0x01,
    ``\Flagged`` 0x02, ``\Deleted`` 0x04, ``\Seen`` 0x08, ``\Draft`` 0x10); ``keywords``
    are names in keyword-list order; ``extensions`` holds the raw per-record data of every
    extension that has record data (``record_size`` > 0), by extension name, exactly
    ``record_size`` bytes each: ``"mdbox"`` (``u32 map_uid, u32 save_date``) in an mdbox
    mailbox, ``"map"`` (``u32 file_id, offset, size``) and ``"ref"`` (``u16`` refcount) in the
    map index, ``"guid"``, ``"modseq"``, ``"cache"``, ``"keywords"`` (the raw bitmask).
    ``"modseq"`` is as the base file has it: the log carries no record updates for it and the
    running modseq of reference §3 step 8 is not replayed.

    ``dirty`` is the record's ``MAIL_INDEX_MAIL_FLAG_DIRTY`` bit (0x80 of the flag byte, set and
    cleared in the log by FLAG_UPDATE records like any other bit; an IMAP-flag "replace" leaves
    it alone).  Only mbox uses it: a dirty record's flags and keywords are newer than the file's.
    """

    uid: int
    flags: int
    keywords: tuple[str, ...]
    extensions: Mapping[str, bytes] = field(default_factory=dict)
    dirty: bool = False


@dataclass(frozen=True)
class MailIndex:
    """A mailbox index as Dovecot would see it after syncing its transaction log.

    ``records`` are in UID order with expunged messages removed; ``keywords`` are all
    keyword names in index order (also those no message carries); ``header_extensions`` is
    each extension's header data by name (``"dbox-hdr"``: ``u32 rebuild_count,
    guid[16] mailbox_guid, ...``; ``"mdbox-hdr"``: ``u32 map_uid_validity, guid[16], ...``;
    ``"map"``: ``u32 highest_file_id, u32 rebuild_count``).  ``warnings`` lists what a
    non-strict read skipped (a torn log tail, a corrupt record).
    """

    uid_validity: int
    next_uid: int
    first_recent_uid: int
    records: tuple[IndexRecord, ...]
    keywords: tuple[str, ...]
    header_extensions: Mapping[str, bytes]
    warnings: tuple[str, ...] = ()
