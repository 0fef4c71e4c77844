"""Dovecot transaction log files (``dovecot.index.log``, ``.log.2``): header and record framing.

Mirrors ``lib-index/mail-transaction-log-file.c``: a 40-byte header, then records that follow
each other with no gaps, each an 8-byte ``{size, type}`` header plus its payload.  The size is
stored 7 bits per byte, most significant first, each byte with its high bit set (``80 80 80 89``
is 36).  Reading stops where Dovecot stops (reference dovecot-index.md §2.4): a partly written
or zero-filled tail, a transaction whose BOUNDARY says it runs past the end, or an invalid record.
:func:`read_records` returns the records before that point and, when the file did not end
cleanly there, why::

    log = read_log("/m/dbox-Mails/dovecot.index.log")      # None when the file does not exist
    records, end, problem = read_records(log, log.header.hdr_size)
    records[0] == LogRecord(offset=40, type=0x10000002, payload=b"...")
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

from mailstore.errors import Kind, MailstoreError

__all__ = [
    "EXTERNAL",
    "EXT_ATOMIC_INC",
    "EXT_HDR_UPDATE",
    "EXT_HDR_UPDATE32",
    "EXT_INTRO",
    "EXT_REC_UPDATE",
    "EXT_RESET",
    "TYPE_MASK",
    "T_APPEND",
    "T_ATTRIBUTE_UPDATE",
    "T_BOUNDARY",
    "T_EXPUNGE",
    "T_EXPUNGE_GUID",
    "T_FLAG_UPDATE",
    "T_HEADER_UPDATE",
    "T_INDEX_DELETED",
    "T_INDEX_UNDELETED",
    "T_KEYWORD_RESET",
    "T_KEYWORD_UPDATE",
    "T_MODSEQ_UPDATE",
    "LogFile",
    "LogHeader",
    "LogRecord",
    "decode_size",
    "read_log",
    "read_records",
]

# Record types (mail-transaction-log.h); expunges always carry EXPUNGE_PROT (0xcd90).
T_EXPUNGE = 0x0000CD91
T_APPEND = 0x00000002
T_FLAG_UPDATE = 0x00000004
T_HEADER_UPDATE = 0x00000020
EXT_INTRO = 0x00000040
EXT_RESET = 0x00000080
EXT_HDR_UPDATE = 0x00000100
EXT_REC_UPDATE = 0x00000200
T_KEYWORD_UPDATE = 0x00000400
T_KEYWORD_RESET = 0x00000800
EXT_ATOMIC_INC = 0x00001000
T_EXPUNGE_GUID = 0x0000ED90
T_MODSEQ_UPDATE = 0x00008000
EXT_HDR_UPDATE32 = 0x00010000
T_INDEX_DELETED = 0x00020000
T_INDEX_UNDELETED = 0x00040000
T_BOUNDARY = 0x00080000
T_ATTRIBUTE_UPDATE = 0x00100000
TYPE_MASK = 0x0FFFFFFF
EXTERNAL = 0x10000000

_HEADER = struct.Struct("<BBHIIIIIQB")  # 37 of the 40 bytes; the rest is unused
_MIN_HDR_SIZE = 24
_RECORD_HEADER = 8


@dataclass(frozen=True)
class LogHeader:
    """``struct mail_transaction_log_header``; ``prev_file_seq == 0`` marks a reset file."""

    major: int
    minor: int
    hdr_size: int
    indexid: int
    file_seq: int
    prev_file_seq: int
    prev_file_offset: int
    create_stamp: int
    initial_modseq: int
    compat_flags: int


@dataclass(frozen=True)
class LogFile:
    """One log file read whole: its path, parsed header and bytes."""

    path: str
    header: LogHeader
    data: bytes

    def usable(self) -> bool:
        """Whether Dovecot would open it at all: version 1, little-endian, not marked corrupt."""
        h = self.header
        return h.major == 1 and h.hdr_size >= _MIN_HDR_SIZE and h.compat_flags == 1 and (
            h.indexid != 0
        )


@dataclass(frozen=True)
class LogRecord:
    """One record: where it starts, its full ``type`` word and its payload (header excluded)."""

    offset: int
    type: int
    payload: bytes

    @property
    def kind(self) -> int:
        """The record type without the EXTERNAL/SYNC bits."""
        return self.type & TYPE_MASK

    @property
    def external(self) -> bool:
        """True for a change already done in storage (as opposed to a request)."""
        return bool(self.type & EXTERNAL)


def decode_size(raw: bytes) -> int:
    """A record header's size field; 0 when any byte lacks its high bit (an unfinished tail)."""
    if len(raw) != 4 or any(b & 0x80 == 0 for b in raw):
        return 0
    b0, b1, b2, b3 = raw
    return (((b0 & 0x7F) << 21) | ((b1 & 0x7F) << 14) | ((b2 & 0x7F) << 7) | (b3 & 0x7F)) << 2


def read_log(path: str) -> LogFile | None:
    """Read a log file; None if it does not exist, INVALIDDATA if its header is cut short."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        kind = Kind.PERM if e.errno in (errno.EACCES, errno.EPERM) else Kind.INVALIDDATA
        raise MailstoreError(kind, f"cannot read {path}: {e.strerror}") from e
    if len(data) < _MIN_HDR_SIZE:
        raise MailstoreError(
            Kind.INVALIDDATA,
            f"{path}: transaction log header truncated at offset {len(data)} "
            f"(need {_MIN_HDR_SIZE} bytes)",
        )
    head = data[:40].ljust(40, b"\0")
    fields = _HEADER.unpack_from(head)
    header = LogHeader(*fields)
    if header.hdr_size < 40:
        # Fields past hdr_size are zero-filled, as Dovecot does for old headers.
        cut = data[: header.hdr_size].ljust(40, b"\0") if header.hdr_size >= 24 else head
        header = LogHeader(*_HEADER.unpack_from(cut))
    if header.hdr_size > len(data):
        raise MailstoreError(
            Kind.INVALIDDATA,
            f"{path}: transaction log header truncated at offset {len(data)} "
            f"(header size {header.hdr_size})",
        )
    return LogFile(path, header, data)


def _uid_ranges_invalid(data: bytes, stride: int) -> str | None:
    """``log_view_is_uid_range_valid``: whole entries, at least one, sorted ``uid1 <= uid2``."""
    if len(data) % stride:
        return "record size is not a multiple of its entry size"
    if not data:
        return "no UID ranges"
    prev = 0
    for pos in range(0, len(data), stride):
        uid1, uid2 = struct.unpack_from("<II", data, pos)
        if uid1 == 0 or uid1 > uid2:
            return f"invalid UID range {uid1}..{uid2}"
        if uid1 <= prev:
            return "UID ranges are not sorted"
        prev = uid2
    return None


def _invalid(rtype: int, payload: bytes) -> str | None:
    """Why a record is invalid (``log_view_is_record_valid``), None when it is fine."""
    kind = rtype & TYPE_MASK
    if rtype & 0x1 and kind != T_EXPUNGE:
        return "expunge record missing protection mask"
    if rtype & 0x2000 and kind != T_EXPUNGE_GUID:
        return "expunge guid record missing protection mask"
    if not payload:
        return f"empty record contents (type 0x{kind:x})"
    if kind == T_APPEND and len(payload) % 8:
        return "invalid append record size"
    if kind == T_EXPUNGE:
        return _uid_ranges_invalid(payload, 8)
    if kind == T_FLAG_UPDATE:
        return _uid_ranges_invalid(payload, 12)
    if kind == T_KEYWORD_RESET:
        return _uid_ranges_invalid(payload, 8)
    if kind == T_EXPUNGE_GUID:
        if len(payload) % 20:
            return "invalid expunge guid record size"
        for pos in range(0, len(payload), 20):
            if struct.unpack_from("<I", payload, pos)[0] == 0:
                return "expunge guid record with uid 0"
    if kind == T_KEYWORD_UPDATE:
        name_size = struct.unpack_from("<H", payload.ljust(4, b"\0"), 2)[0]
        seqset = _pad4(4 + name_size)
        if name_size == 0:
            return "trying to use an empty keyword"
        if seqset > len(payload):
            return "invalid keyword update record size"
        return _uid_ranges_invalid(payload[seqset:], 8)
    if kind == EXT_INTRO:
        pos = 0
        while pos + 20 <= len(payload):
            name_size = struct.unpack_from("<H", payload, pos + 18)[0]
            if pos + 20 + name_size > len(payload):
                return "ext intro: name_size too large"
            pos = _pad4(pos + 20 + name_size)
    return None


def _pad4(value: int) -> int:
    return (value + 3) & ~3


def read_records(log: LogFile, start: int) -> tuple[list[LogRecord], int, str | None]:
    """The records from ``start`` to where Dovecot stops reading.

    Returns ``(records, end, problem)``: ``end`` is the offset after the last record returned;
    ``problem`` is None when the file ends cleanly there, else why reading stopped early
    (its offset is ``end``).
    """
    data = log.data
    length = len(data)
    records: list[LogRecord] = []
    off = start
    while off < length:
        if length - off < _RECORD_HEADER:
            return records, off, f"{length - off} stray bytes after the last record"
        size = decode_size(data[off : off + 4])
        if size == 0:
            return records, off, "unfinished or zero-filled record header"
        if size < _RECORD_HEADER:
            return records, off, f"record size {size} is too small"
        if off + size > length:
            return records, off, f"record of {size} bytes runs past the end ({length})"
        rtype = struct.unpack_from("<I", data, off + 4)[0]
        payload = data[off + _RECORD_HEADER : off + size]
        kind = rtype & TYPE_MASK
        if kind == T_BOUNDARY and len(payload) >= 4:
            tsize = struct.unpack_from("<I", payload)[0]
            if off + tsize > length:
                return records, off, f"transaction of {tsize} bytes runs past the end ({length})"
        why = _invalid(rtype, payload)
        if why is not None:
            return records, off, why
        records.append(LogRecord(off, rtype, payload))
        off += size
    return records, off, None
