"""The dbox file format shared by sdbox (``u.<uid>``) and mdbox (``m.<file_id>``), read-only.

Mirrors ``lib-storage/index/dbox-common/dbox-file.[ch]`` (reference dovecot.md §5.2)::

    "2 M1e C65a1b2c3\\n"                               file header: version 2, M = message
                                                       header size (hex), C = creation time
    "\\x01\\x02N " <8 bytes> " " <16 hex digits> "\\n"   message header (M bytes, LF last)
    <message bytes, exactly that many>
    "\\n\\x01\\x03\\n"                                  metadata magic
    "G<guid>\\nR<hex received time>\\nV<hex vsize>\\n..." one key character + value per line
    "\\n"                                               an empty line ends the metadata

sdbox files hold one message, mdbox files many (each starting at a map-index offset).
Unknown metadata keys are kept in :attr:`DboxMessage.metadata` and otherwise ignored.  A file
that is cut short or malformed raises ``MailstoreError(INVALIDDATA)`` naming the file and offset::

    with DboxFile.open(path) as f:
        msg = f.message_at(f.header.size)        # DboxMessage(offset=..., size=..., metadata={...})
        msg.received_date, msg.guid, msg.vsize   # from R, G, V
        body = f.read_body(msg)
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Self

from mailstore.errors import Kind, MailstoreError

__all__ = [
    "MAGIC_POST",
    "MAGIC_PRE",
    "DboxFile",
    "DboxFileHeader",
    "DboxMessage",
    "parse_metadata",
]

MAGIC_PRE = b"\x01\x02"
MAGIC_POST = b"\n\x01\x03\n"
_MIN_MSG_HEADER = 30  # sizeof(struct dbox_message_header): magic, type, uid, size, LF
_SIZE_AT = 13  # message_size_hex[16] starts after magic(2) type space oldv1_uid_hex[8] space
_MAX_HEADER_LINE = 4096
_CHUNK = 8192
# Magic bytes of the formats Dovecot's zlib/mail_compress plugin writes whole files in.
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"Dovecot-LZ4")


def _corrupt(path: str, offset: int, why: str) -> MailstoreError:
    return MailstoreError(Kind.INVALIDDATA, f"{path}: corrupt dbox file at offset {offset}: {why}")


@dataclass(frozen=True)
class DboxFileHeader:
    """The file header line: ``version``, message header size, creation time, its own size."""

    version: int
    msg_header_size: int
    create_time: int | None
    size: int


@dataclass(frozen=True)
class DboxMessage:
    """One message in a dbox file: where it is and its metadata (key character -> value)."""

    offset: int  # the message header's offset in the file
    body_offset: int
    size: int  # message_size_hex: the stored message bytes
    end: int  # offset after the metadata block
    metadata: Mapping[str, str] = field(default_factory=dict)

    def _hex(self, key: str) -> int | None:
        value = self.metadata.get(key)
        if value is None:
            return None
        try:
            return int(value, 16)
        except ValueError:
            return None

    @property
    def guid(self) -> str | None:
        """``G``: the message GUID (any string), None when missing."""
        return self.metadata.get("G") or None

    @property
    def received_date(self) -> int:
        """``R``: received time as Unix seconds; 0 when missing, as Dovecot reports it."""
        return self._hex("R") or 0

    @property
    def vsize(self) -> int | None:
        """``V``: size with CRLF line endings, None when missing."""
        return self._hex("V")

    @property
    def physical_size(self) -> int:
        """``Z`` when present (it differs from the header size, e.g. compressed), else the size."""
        z = self._hex("Z")
        return self.size if z is None else z

    @property
    def orig_mailbox(self) -> str | None:
        """``B``: the mailbox the message was saved to (mdbox)."""
        return self.metadata.get("B")

    @property
    def ext_refs(self) -> str | None:
        """``X``: external attachment references; the body is then not all in this file."""
        return self.metadata.get("X")


def parse_metadata(lines: list[bytes]) -> dict[str, str]:
    """``<key><value>`` lines into a dict; the first occurrence of a key wins (as in Dovecot)."""
    meta: dict[str, str] = {}
    for line in lines:
        if line:
            key = chr(line[0])
            meta.setdefault(key, line[1:].decode("utf-8", "surrogateescape"))
    return meta


def _parse_header_line(path: str, line: bytes) -> tuple[int, int, int | None]:
    """``dbox_file_parse_header``: version, M (message header size), C (creation time)."""
    if len(line) < 2 or not line[:1].isdigit() or line[1:2] != b" " or line[:1] not in b"12":
        raise _corrupt(path, 0, "invalid dbox version")
    version = line[0] - ord("0")
    msg_header_size = 0
    create: int | None = None
    for word in line[2:].split(b" "):
        if not word:
            continue
        key, value = chr(word[0]), word[1:].decode("ascii", "replace")
        try:
            if key == "M":
                msg_header_size = int(value, 16)
            elif key == "C":
                create = int(value, 16)
        except ValueError:
            raise _corrupt(path, 0, f"invalid header field {key}{value}") from None
    if msg_header_size == 0:
        raise _corrupt(path, 0, "missing message header size")
    if version != 2:
        raise _corrupt(path, 0, f"dbox version {version} files are not supported")
    return version, msg_header_size, create


class DboxFile:
    """An open dbox file (read-only).  Use :meth:`open` as a context manager."""

    def __init__(self, path: str, stream: BinaryIO) -> None:
        self.path = path
        self._f = stream
        self.file_size = os.fstat(stream.fileno()).st_size
        first = stream.readline(_MAX_HEADER_LINE)
        if first.startswith(_COMPRESSED):
            raise _corrupt(path, 0, "compressed file (mail_compress/zlib plugin): not supported")
        if not first.endswith(b"\n"):
            raise _corrupt(path, len(first), "file header line is cut short")
        version, msg_header_size, create = _parse_header_line(path, first[:-1])
        if msg_header_size < _MIN_MSG_HEADER:
            raise _corrupt(path, 0, f"message header size {msg_header_size} is too small")
        self.header = DboxFileHeader(version, msg_header_size, create, len(first))

    @classmethod
    def open(cls, path: str) -> DboxFile:
        """Open ``path`` for reading; NOTFOUND if it is gone, INVALIDDATA if unreadable."""
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed by close()/__exit__
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                raise MailstoreError(Kind.NOTFOUND, f"{path}: {e.strerror}") from e
            kind = Kind.PERM if e.errno in (errno.EACCES, errno.EPERM) else Kind.INVALIDDATA
            raise MailstoreError(kind, f"cannot read {path}: {e.strerror}") from e
        try:
            return cls(path, stream)
        except BaseException:
            stream.close()
            raise

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_at(self, offset: int, size: int) -> bytes:
        self._f.seek(offset)
        return self._f.read(size)

    def message_at(self, offset: int) -> DboxMessage:
        """Parse the message (header and metadata) that starts at ``offset``."""
        hsize = self.header.msg_header_size
        head = self._read_at(offset, hsize)
        if len(head) < hsize:
            raise _corrupt(self.path, offset,
                           f"EOF reading msg header (got {len(head)}/{hsize} bytes)")
        if head[:2] != MAGIC_PRE:
            raise _corrupt(self.path, offset, "msg header has bad magic value")
        if head[-1:] != b"\n":
            raise _corrupt(self.path, offset, "msg header doesn't end with LF")
        try:
            size = int(head[_SIZE_AT : _SIZE_AT + 16], 16)
        except ValueError:
            raise _corrupt(self.path, offset, "msg header has an invalid size") from None
        body_offset = offset + hsize
        meta_offset = body_offset + size
        if meta_offset > self.file_size:
            raise _corrupt(self.path, offset, f"message of {size} bytes runs past the end of "
                           f"the file ({self.file_size} bytes)")
        lines, end = self._metadata_at(meta_offset)
        return DboxMessage(offset, body_offset, size, end, parse_metadata(lines))

    def _metadata_at(self, offset: int) -> tuple[list[bytes], int]:
        magic = self._read_at(offset, len(MAGIC_POST))
        if magic != MAGIC_POST:
            raise _corrupt(self.path, offset, "metadata header has bad magic value")
        pos = offset + len(MAGIC_POST)
        buf = b""
        lines: list[bytes] = []
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                chunk = self._f.read(_CHUNK)
                if not chunk:
                    raise _corrupt(self.path, pos + len(buf), "missing end-of-metadata line")
                buf += chunk
                continue
            line, buf = buf[:nl], buf[nl + 1 :]
            pos += nl + 1
            if not line or line[:1] == b" ":
                return lines, pos
            lines.append(line)

    def read_body(self, message: DboxMessage) -> bytes:
        """The message's stored bytes (exactly ``message.size``)."""
        body = self._read_at(message.body_offset, message.size)
        if len(body) != message.size:
            raise _corrupt(self.path, message.body_offset + len(body),
                           f"message body cut short ({len(body)}/{message.size} bytes)")
        return body

    def iter_messages(self) -> Iterator[DboxMessage]:
        """Every message from the first one to the end of the file, in file order."""
        offset = self.header.size
        while offset < self.file_size:
            message = self.message_at(offset)
            yield message
            offset = message.end
