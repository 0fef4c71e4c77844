"""The in-memory state of a mailbox index while its log is replayed.

Mirrors the parts of ``struct mail_index_map`` a reader needs: the base header bytes, the ordered
extension list (whose order defines the ``ext_id`` log records use), the keyword names, and each
message's flag byte and per-extension record data.  Record data is kept per extension by UID;
a missing entry means all zeros, so adding an extension costs nothing per message.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field

from mailstore.index.model import FLAG_DIRTY, IMAP_FLAGS_MASK, IndexRecord, MailIndex

__all__ = ["BASE_HEADER_SIZE", "Extension", "IndexState", "keywords_header", "keywords_record_size"]

#: ``sizeof(struct mail_index_header)``.
BASE_HEADER_SIZE = 120
_OFF_INDEXID = 16
_OFF_UID_VALIDITY = 24
_OFF_NEXT_UID = 28
_OFF_FIRST_RECENT_UID = 48
_OFF_LOG_FILE_SEQ = 60
_OFF_TAIL_OFFSET = 64
_OFF_HEAD_OFFSET = 68
KEYWORDS = "keywords"


def keywords_record_size(count: int) -> int:
    """Bytes per record for ``count`` keywords: ``ceil(n/8)``, plus one unless a multiple of 4."""
    size = (count + 7) // 8
    return size + 1 if size % 4 else size


def keywords_header(names: list[str]) -> bytes:
    """The ``keywords`` extension header data for ``names``, padded to 4 bytes (§1.4)."""
    recs = bytearray()
    blob = bytearray()
    for name in names:
        recs += struct.pack("<II", 0, len(blob))
        blob += name.encode("utf-8", "surrogateescape") + b"\0"
    data = struct.pack("<I", len(names)) + bytes(recs) + bytes(blob)
    return data + b"\0" * (-len(data) % 4)


@dataclass
class Extension:
    """One index extension: header data and per-message record data (missing = zeros)."""

    name: str
    reset_id: int
    hdr: bytearray
    record_size: int
    record_align: int
    data: dict[int, bytes] = field(default_factory=dict)

    def record(self, uid: int) -> bytes:
        """The message's data, exactly ``record_size`` bytes."""
        raw = self.data.get(uid, b"")
        if len(raw) == self.record_size:
            return raw
        return raw[: self.record_size].ljust(self.record_size, b"\0")

    def resize_records(self, size: int) -> None:
        """Set ``record_size``; shrinking truncates the stored data, growing zero-extends."""
        if size < self.record_size:
            self.data = {uid: raw[:size] for uid, raw in self.data.items()}
        self.record_size = size

    def clear(self) -> None:
        """Zero the header and every message's data (an EXT_RESET without preserve_data)."""
        self.hdr[:] = bytes(len(self.hdr))
        self.data.clear()


class IndexState:
    """A mutable index map: header, extensions, keywords and messages in UID order."""

    def __init__(self, header: bytes | None = None) -> None:
        if header is None:
            # mail_index_header_init(): an empty index.
            empty = bytearray(BASE_HEADER_SIZE)
            empty[0], empty[1] = 7, 3
            struct.pack_into("<HI", empty, 2, BASE_HEADER_SIZE, BASE_HEADER_SIZE)
            empty[12] = 1
            struct.pack_into("<I", empty, _OFF_NEXT_UID, 1)
            struct.pack_into("<I", empty, _OFF_FIRST_RECENT_UID, 1)
            header = bytes(empty)
        self.header = bytearray(header)
        self.extensions: list[Extension] = []
        self.keywords: list[str] = []
        self.flags: dict[int, int] = {}
        self._uids: list[int] = []
        self._dead = 0

    # -- header fields ------------------------------------------------------------------------
    def _u32(self, offset: int) -> int:
        return int(struct.unpack_from("<I", self.header, offset)[0])

    @property
    def indexid(self) -> int:
        return self._u32(_OFF_INDEXID)

    @property
    def next_uid(self) -> int:
        return self._u32(_OFF_NEXT_UID)

    @next_uid.setter
    def next_uid(self, value: int) -> None:
        struct.pack_into("<I", self.header, _OFF_NEXT_UID, value)

    @property
    def log_position(self) -> tuple[int, int]:
        """``(log_file_seq, log_file_head_offset)``: the index holds every record before it."""
        return self._u32(_OFF_LOG_FILE_SEQ), self._u32(_OFF_HEAD_OFFSET)

    def update_header(self, offset: int, data: bytes) -> bool:
        """A HEADER_UPDATE; False (nothing done) when it reaches past the base header."""
        if offset + len(data) > len(self.header):
            return False
        tail = self.header[_OFF_TAIL_OFFSET : _OFF_TAIL_OFFSET + 4]
        next_uid = self.next_uid
        self.header[offset : offset + len(data)] = data
        self.header[_OFF_TAIL_OFFSET : _OFF_TAIL_OFFSET + 4] = tail
        self.next_uid = max(self.next_uid, next_uid)
        return True

    # -- extensions ---------------------------------------------------------------------------
    def find_extension(self, name: str) -> Extension | None:
        for ext in self.extensions:
            if ext.name == name:
                return ext
        return None

    # -- messages -----------------------------------------------------------------------------
    def append(self, uid: int, flags: int) -> None:
        self.flags[uid] = flags
        self._uids.append(uid)

    def expunge(self, uids: list[int]) -> None:
        for uid in uids:
            if self.flags.pop(uid, None) is None:
                continue
            self._dead += 1
            for ext in self.extensions:
                ext.data.pop(uid, None)
        if self._dead > 64 and self._dead * 2 > len(self._uids):
            self._uids = [uid for uid in self._uids if uid in self.flags]
            self._dead = 0

    def uids_in(self, uid1: int, uid2: int) -> list[int]:
        """The existing messages with ``uid1 <= uid <= uid2``, ascending."""
        lo = bisect.bisect_left(self._uids, uid1)
        hi = bisect.bisect_right(self._uids, uid2)
        return [uid for uid in self._uids[lo:hi] if uid in self.flags]

    # -- result -------------------------------------------------------------------------------
    def result(self, warnings: list[str]) -> MailIndex:
        """The replayed index as a frozen :class:`MailIndex`."""
        keywords_ext = self.find_extension(KEYWORDS)
        with_records = [e for e in self.extensions if e.record_size > 0]
        count = len(self.keywords)
        records = []
        for uid, flags in self.flags.items():
            names: tuple[str, ...] = ()
            if keywords_ext is not None and uid in keywords_ext.data:
                mask = keywords_ext.record(uid)
                names = tuple(
                    self.keywords[i] for i in range(min(count, len(mask) * 8))
                    if mask[i // 8] & (1 << (i % 8))
                )
            records.append(
                IndexRecord(
                    uid=uid,
                    flags=flags & IMAP_FLAGS_MASK,
                    keywords=names,
                    extensions={e.name: e.record(uid) for e in with_records},
                    dirty=bool(flags & FLAG_DIRTY),
                )
            )
        return MailIndex(
            uid_validity=self._u32(_OFF_UID_VALIDITY),
            next_uid=self.next_uid,
            first_recent_uid=self._u32(_OFF_FIRST_RECENT_UID),
            records=tuple(records),
            keywords=tuple(self.keywords),
            header_extensions={e.name: bytes(e.hdr) for e in self.extensions},
            warnings=tuple(warnings),
        )
