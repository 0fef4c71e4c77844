"""Applying transaction log records to an :class:`IndexState`.

Mirrors ``lib-index/mail-index-sync-update.c`` (``mail_index_sync_record_real``),
``mail-index-sync-ext.c`` and ``mail-index-sync-keywords.c`` as the reference describes
(dovecot-index.md §3 step 5-6).  Like Dovecot, a record whose contents do not fit the current
state ("Append with UID 3, but next_uid = 5") is skipped and the replay goes on; the
:class:`Replayer` collects a message for each in ``warnings``.
"""

from __future__ import annotations

import struct

from mailstore.index.logfile import (
    EXT_ATOMIC_INC,
    EXT_HDR_UPDATE,
    EXT_HDR_UPDATE32,
    EXT_INTRO,
    EXT_REC_UPDATE,
    EXT_RESET,
    T_APPEND,
    T_ATTRIBUTE_UPDATE,
    T_BOUNDARY,
    T_EXPUNGE,
    T_EXPUNGE_GUID,
    T_FLAG_UPDATE,
    T_HEADER_UPDATE,
    T_INDEX_DELETED,
    T_INDEX_UNDELETED,
    T_KEYWORD_RESET,
    T_KEYWORD_UPDATE,
    T_MODSEQ_UPDATE,
    LogRecord,
)
from mailstore.index.state import (
    KEYWORDS,
    Extension,
    IndexState,
    keywords_header,
    keywords_record_size,
)

__all__ = ["Replayer"]

_NO_EXT = -1
_INTRO = struct.Struct("<IIIHHHH")  # ext_id, reset_id, hdr_size, record_size/align, flags, name
_NO_SHRINK = 0x1
_NO_ID = 0xFFFFFFFF


class _Corrupt(Exception):
    """A record Dovecot would skip with "mail_index_sync_set_corrupted"."""


def _pad4(value: int) -> int:
    return (value + 3) & ~3


class Replayer:
    """Applies records to ``state`` in log order; ``where`` names the file in warnings."""

    def __init__(self, state: IndexState) -> None:
        self.state = state
        self.warnings: list[str] = []
        self._ext: Extension | None = None
        self._ignore = True
        self._rec_size = 0

    def apply(self, where: str, record: LogRecord) -> None:
        """Apply one record; a corrupt one is skipped (and noted), as Dovecot does."""
        try:
            self._apply(record)
        except _Corrupt as e:
            self.warnings.append(f"{where}: record at offset {record.offset} skipped: {e}")

    def _apply(self, rec: LogRecord) -> None:
        kind, data = rec.kind, rec.payload
        if kind == T_APPEND:
            for pos in range(0, len(data), 8):
                uid, flags = struct.unpack_from("<IB", data, pos)
                if uid < self.state.next_uid:
                    raise _Corrupt(f"append with uid {uid}, but next_uid = {self.state.next_uid}")
                self.state.append(uid, flags)
                self.state.next_uid = uid + 1
        elif kind == T_FLAG_UPDATE:
            for pos in range(0, len(data) - 11, 12):
                uid1, uid2, add, remove = struct.unpack_from("<IIBB", data, pos)
                flags = self.state.flags
                for uid in self.state.uids_in(uid1, uid2):
                    flags[uid] = (flags[uid] & ~remove & 0xFF) | add
        elif kind == T_EXPUNGE:
            if rec.external:
                for pos in range(0, len(data) - 7, 8):
                    self.state.expunge(self.state.uids_in(*struct.unpack_from("<II", data, pos)))
        elif kind == T_EXPUNGE_GUID:
            if rec.external:
                uids = [struct.unpack_from("<I", data, pos)[0] for pos in range(0, len(data), 20)]
                self.state.expunge(uids)
        elif kind == T_HEADER_UPDATE:
            self._header_update(data)
        elif kind == EXT_INTRO:
            self._intros(data)
        elif kind == EXT_RESET:
            self._ext_reset(data)
        elif kind in (EXT_HDR_UPDATE, EXT_HDR_UPDATE32):
            self._ext_hdr_update(data, wide=kind == EXT_HDR_UPDATE32)
        elif kind == EXT_REC_UPDATE:
            self._ext_rec_update(data)
        elif kind == EXT_ATOMIC_INC:
            self._ext_atomic_inc(data)
        elif kind == T_KEYWORD_UPDATE:
            self._keyword_update(data)
        elif kind == T_KEYWORD_RESET:
            ext = self.state.find_extension(KEYWORDS)
            if ext is not None:
                for pos in range(0, len(data) - 7, 8):
                    for uid in self.state.uids_in(*struct.unpack_from("<II", data, pos)):
                        ext.data.pop(uid, None)
        elif kind not in (T_MODSEQ_UPDATE, T_INDEX_DELETED, T_INDEX_UNDELETED, T_BOUNDARY,
                          T_ATTRIBUTE_UPDATE):
            raise _Corrupt(f"unknown transaction record type 0x{kind:x}")

    # -- header -------------------------------------------------------------------------------
    def _header_update(self, data: bytes) -> None:
        pos = 0
        while pos + 4 <= len(data):
            offset, size = struct.unpack_from("<HH", data, pos)
            if pos + 4 + size > len(data) or not self.state.update_header(
                offset, data[pos + 4 : pos + 4 + size]
            ):
                raise _Corrupt(f"header update outside range: {offset} + {size}")
            pos = _pad4(pos + 4 + size)

    # -- extensions ---------------------------------------------------------------------------
    def _intros(self, data: bytes) -> None:
        pos = 0
        while pos + _INTRO.size <= len(data):
            ext_id, reset_id, hdr_size, rec_size, rec_align, flags, name_size = _INTRO.unpack_from(
                data, pos
            )
            name = data[pos + _INTRO.size : pos + _INTRO.size + name_size].decode(
                "ascii", "replace"
            )
            self._intro(ext_id, reset_id, hdr_size, rec_size, rec_align, flags, name)
            pos = _pad4(pos + _INTRO.size + name_size)

    def _intro(self, ext_id: int, reset_id: int, hdr_size: int, rec_size: int, rec_align: int,
               flags: int, name: str, *, internal: bool = False) -> None:
        self._ext, self._ignore, self._rec_size = None, True, 0
        exts = self.state.extensions
        if ext_id != _NO_ID:
            if ext_id >= len(exts):
                raise _Corrupt(f"extension introduction for unknown id {ext_id}")
            ext: Extension | None = exts[ext_id]
        elif not name:
            raise _Corrupt("extension introduction without id or name")
        else:
            ext = self.state.find_extension(name)
        if ext is not None:
            name = ext.name
        if name == KEYWORDS and not internal:
            raise _Corrupt("extension introduction for keywords")
        if rec_size and (rec_align == 0 or rec_size % rec_align):
            raise _Corrupt(f"broken extension introduction for {name!r}")
        self._rec_size = rec_size
        if ext is None:
            ext = Extension(name, reset_id, bytearray(hdr_size), rec_size, rec_align)
            exts.append(ext)
            # Dovecot leaves no current extension after creating one internally (keywords).
            self._ext, self._ignore = (None if internal else ext), False
            return
        self._ext = ext
        if reset_id != ext.reset_id:
            return  # a transaction that had not seen the reset: ignored except for resets
        no_shrink = bool(flags & _NO_SHRINK)
        if hdr_size > len(ext.hdr) or (hdr_size < len(ext.hdr) and not no_shrink):
            ext.hdr[:] = ext.hdr[:hdr_size].ljust(hdr_size, b"\0")
        if rec_align > ext.record_align or (rec_align < ext.record_align and not no_shrink):
            ext.record_align = rec_align
        if rec_size > ext.record_size or (rec_size < ext.record_size and not no_shrink):
            ext.resize_records(rec_size)
        self._ignore = False

    def _ext_reset(self, data: bytes) -> None:
        if self._ext is None:
            raise _Corrupt("extension reset without intro prefix")
        if len(data) < 4:
            raise _Corrupt("ext reset: invalid record size")
        self._ext.reset_id = struct.unpack_from("<I", data)[0]
        preserve = len(data) > 4 and data[4] != 0
        if not preserve:
            self._ext.clear()

    def _ext_hdr_update(self, data: bytes, *, wide: bool) -> None:
        if self._ext is None:
            raise _Corrupt("extension header update without intro prefix")
        head = struct.Struct("<II" if wide else "<HH")
        pos = 0
        while pos < len(data):
            if pos + head.size > len(data):
                raise _Corrupt("ext hdr update: invalid record size")
            offset, size = head.unpack_from(data, pos)
            start = pos + head.size
            if start + size > len(data):
                raise _Corrupt("ext hdr update: invalid record size")
            if not self._ignore:
                if offset + size > len(self._ext.hdr):
                    raise _Corrupt("extension header update points outside header size")
                self._ext.hdr[offset : offset + size] = data[start : start + size]
            pos = _pad4(start + size)

    def _ext_rec_update(self, data: bytes) -> None:
        if self._ext is None:
            raise _Corrupt("extension record updated without intro prefix")
        if self._ignore:
            return
        ext, size = self._ext, self._rec_size
        stride = _pad4(4 + size)
        for pos in range(0, len(data), stride):
            if pos + stride > len(data):
                raise _Corrupt("ext rec update: invalid record size")
            (uid,) = struct.unpack_from("<I", data, pos)
            if uid == 0 or uid >= self.state.next_uid:
                raise _Corrupt(f"extension record update for invalid uid={uid}")
            if uid in self.state.flags:
                ext.data[uid] = bytes(data[pos + 4 : pos + 4 + min(size, ext.record_size)])

    def _ext_atomic_inc(self, data: bytes) -> None:
        if self._ext is None:
            raise _Corrupt("extension record updated without intro prefix")
        if self._ignore:
            return
        ext, size = self._ext, self._rec_size
        if size not in (1, 2, 4, 8):
            raise _Corrupt(f"extension record inc with invalid size={size}")
        for pos in range(0, len(data) - 7, 8):
            uid, diff = struct.unpack_from("<Ii", data, pos)
            if uid == 0 or uid >= self.state.next_uid:
                raise _Corrupt(f"extension record inc for invalid uid={uid}")
            if uid not in self.state.flags:
                continue
            raw = ext.record(uid)
            value = int.from_bytes(raw[:size], "little") + diff
            if value < 0 or value >= 1 << (8 * size):
                raise _Corrupt(f"extension record inc out of range (uid={uid}, diff={diff})")
            ext.data[uid] = value.to_bytes(size, "little") + raw[size:]

    # -- keywords -----------------------------------------------------------------------------
    def _keyword_update(self, data: bytes) -> None:
        modify, name_size = data[0], struct.unpack_from("<H", data, 2)[0]
        name = data[4 : 4 + name_size].decode("utf-8", "surrogateescape")
        state = self.state
        if name in state.keywords:
            index = state.keywords.index(name)
        else:
            self._add_keyword(name)
            index = len(state.keywords) - 1
        ext = state.find_extension(KEYWORDS)
        assert ext is not None
        if index // 8 >= ext.record_size:
            if modify == 1:
                return
            self._register_keywords(ext, len(ext.hdr), len(state.keywords))
        byte, bit = index // 8, 1 << (index % 8)
        for pos in range(_pad4(4 + name_size), len(data) - 7, 8):
            for uid in state.uids_in(*struct.unpack_from("<II", data, pos)):
                mask = bytearray(ext.record(uid))
                if modify == 0:
                    mask[byte] |= bit
                else:
                    mask[byte] &= ~bit & 0xFF
                ext.data[uid] = bytes(mask)

    def _add_keyword(self, name: str) -> None:
        """``keywords_header_add``: append the name, growing the extension when needed."""
        state = self.state
        state.keywords.append(name)
        buf = keywords_header(state.keywords)
        ext = state.find_extension(KEYWORDS)
        if ext is None or len(buf) > len(ext.hdr) or ext.record_size * 8 < len(state.keywords):
            self._register_keywords(ext, len(buf) + 128, len(state.keywords))
            ext = state.find_extension(KEYWORDS)
            assert ext is not None
        ext.hdr[: len(buf)] = buf

    def _register_keywords(self, ext: Extension | None, hdr_size: int, count: int) -> None:
        """``keywords_ext_register``: an internal intro (it changes the current ext, as in Dovecot)."""
        ext_id = _NO_ID if ext is None else self.state.extensions.index(ext)
        self._intro(ext_id, 0 if ext is None else ext.reset_id, hdr_size,
                    keywords_record_size(count), 1, 0, KEYWORDS, internal=True)
