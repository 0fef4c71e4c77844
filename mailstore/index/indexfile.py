"""The base index file ``dovecot.index``: header, extension area and message records.

Mirrors ``lib-index/mail-index-map-read.c`` and ``mail-index-map-hdr.c`` (reference
dovecot-index.md §1).  :func:`read_index_file` returns the file as an :class:`IndexState`
ready for log replay, None when the file does not exist, and raises
``MailstoreError(INVALIDDATA)`` naming the file and offset when it is unusable or corrupt::

    state = read_index_file("/m/dbox-Mails/dovecot.index")
    state.log_position == (3, 1240)        # replay the log from file seq 3, offset 1240
"""

from __future__ import annotations

import errno
import struct

from mailstore.errors import Kind, MailstoreError
from mailstore.index.state import BASE_HEADER_SIZE, KEYWORDS, Extension, IndexState

__all__ = ["parse_index", "read_index_file"]

_EXT_HEADER = struct.Struct("<IIHHHH")  # hdr_size, reset_id, record_offset/size/align, name_size


def _pad8(value: int) -> int:
    return (value + 7) & ~7


def _corrupt(path: str, offset: int, why: str) -> MailstoreError:
    return MailstoreError(Kind.INVALIDDATA, f"{path}: corrupt index at offset {offset}: {why}")


def _parse_keywords(path: str, offset: int, hdr: bytes) -> list[str]:
    """``mail_index_map_parse_keywords``: ``u32 count; count x {u32, u32 name_offset}; names``."""
    if len(hdr) < 4:
        return []
    (count,) = struct.unpack_from("<I", hdr)
    names_start = 4 + 8 * count
    if names_start > len(hdr):
        raise _corrupt(path, offset, f"keywords header lists {count} keywords past its end")
    names = []
    for i in range(count):
        (name_offset,) = struct.unpack_from("<I", hdr, 8 + 8 * i)
        start = names_start + name_offset
        end = hdr.find(b"\0", start)
        if start >= len(hdr) or end < 0 or end == start:
            raise _corrupt(path, offset, f"keyword {i} name is outside the keywords header")
        names.append(hdr[start:end].decode("utf-8", "surrogateescape"))
    return names


def parse_index(path: str, data: bytes) -> IndexState:
    """Parse the bytes of an index file (``path`` only names it in errors)."""
    if len(data) < 8:
        raise _corrupt(path, len(data), "file shorter than its header")
    major, _minor, base_size, header_size, record_size = struct.unpack_from("<BBHII", data)
    if major != 7:
        raise _corrupt(path, 0, f"major version {major} (expected 7)")
    if len(data) < 13 or data[12] & 1 == 0:
        raise _corrupt(path, 12, "not a little-endian index (compat_flags)")
    if base_size < BASE_HEADER_SIZE // 2 or header_size < base_size:
        raise _corrupt(path, 2, f"header sizes {base_size}/{header_size} are invalid")
    if header_size > len(data):
        raise _corrupt(path, len(data), f"file ends inside its {header_size}-byte header")
    if record_size < 8:
        raise _corrupt(path, 8, f"record size {record_size} is below 8")
    header = bytearray(data[:base_size].ljust(BASE_HEADER_SIZE, b"\0"))
    struct.pack_into("<H", header, 2, max(base_size, BASE_HEADER_SIZE))
    state = IndexState(bytes(header))

    offsets: list[tuple[Extension, int]] = []
    pos = _pad8(base_size)
    while pos < header_size:
        if pos + _EXT_HEADER.size > header_size:
            raise _corrupt(path, pos, "extension header runs past the header area")
        hdr_size, reset_id, rec_off, rec_size, rec_align, name_size = _EXT_HEADER.unpack_from(
            data, pos
        )
        name_end = pos + _EXT_HEADER.size + name_size
        data_start = pos + _pad8(_EXT_HEADER.size + name_size)
        if name_size == 0 or data_start + hdr_size > header_size:
            raise _corrupt(path, pos, "extension name or header runs past the header area")
        if rec_size and rec_off + rec_size > record_size:
            raise _corrupt(path, pos, "extension record data lies outside the record")
        name = data[pos + _EXT_HEADER.size : name_end].decode("ascii", "replace")
        ext = Extension(name, reset_id, bytearray(data[data_start : data_start + hdr_size]),
                        rec_size, rec_align)
        if state.find_extension(name) is not None:
            raise _corrupt(path, pos, f"extension {name!r} appears twice")
        state.extensions.append(ext)
        offsets.append((ext, rec_off))
        if name == KEYWORDS:
            state.keywords = _parse_keywords(path, data_start, bytes(ext.hdr))
        pos = data_start + _pad8(hdr_size)

    (count,) = struct.unpack_from("<I", header, 32)
    end = header_size + count * record_size
    if end > len(data):
        raise _corrupt(path, len(data), f"file ends inside its {count} message records")
    prev = 0
    with_data = [(ext, off) for ext, off in offsets if ext.record_size]
    for rec in range(header_size, end, record_size):
        uid, flags = struct.unpack_from("<IB", data, rec)
        if uid <= prev:
            raise _corrupt(path, rec, f"record uid {uid} after uid {prev}")
        if uid >= state.next_uid:
            raise _corrupt(path, rec, f"record uid {uid} >= next_uid {state.next_uid}")
        prev = uid
        state.append(uid, flags)
        for ext, off in with_data:
            raw = data[rec + off : rec + off + ext.record_size]
            if any(raw):
                ext.data[uid] = raw
    return state


def read_index_file(path: str) -> IndexState | None:
    """Read and parse ``path``; None when it does not exist."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        kind = Kind.PERM if e.errno in (errno.EACCES, errno.EPERM) else Kind.INVALIDDATA
        raise MailstoreError(kind, f"cannot read {path}: {e.strerror}") from e
    return parse_index(path, data)
