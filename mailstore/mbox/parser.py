"""Splitting an mbox file into messages, streaming, by byte offset.

Mirrors Dovecot's ``istream-raw-mbox.c`` and the header pass of ``mbox-sync-parse.c``.  The
file is read in chunks and never held whole; each message is reported by offsets::

    RawMessage(from_offset=0,        # where its "From " line starts (0 for the first message)
               sep_offset=0,         # Dovecot's from_offset: the separator before that line
               hdr_offset=45,        # first byte after the From_ line
               body_offset=312,      # first byte after the empty line (== end without one)
               end=520,              # end of the message bytes (separator excluded)
               received=1704182400, sender=b"a@b",
               meta=((b"x-uid", b"3"), (b"status", b"RO")),   # metadata headers, in order
               size=470)             # the size Dovecot reports: metadata headers hidden

Rules: the file must begin with a valid From_ line (an empty file has no messages).  A message
ends at the first ``\\n`` (``\\r\\n``) followed by a valid From_ line (:mod:`.fromline`) --
also inside the header, never at the message's own From_ line -- or at the end of the file,
whose final LF (CRLF) is a separator too.  A valid ``Content-Length`` wins: when
``body_offset + Content-Length`` is exactly where another valid From_ line starts (after its
LF or CRLF) or where only a final LF/CRLF is left, the message ends there, even past From_
lines in its body.  Nothing is unescaped (``>From`` stays).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from mailstore.errors import Kind, MailstoreError
from mailstore.mbox.fromline import parse_from_line
from mailstore.mbox.headers import HIDDEN_HEADERS, header_name, hide_metadata

__all__ = ["CHUNK_SIZE", "RawMessage", "iter_raw_messages"]

#: How much of the file is read at a time.
CHUNK_SIZE = 1 << 20
# What mbox_from_parse() gets to see after "From " (Dovecot hands it its read buffer).
_LOOKAHEAD = 1 << 12
# Longest prefix of a header line kept for its name and value.
_LINE_CAP = 1 << 16
_SEP = b"\nFrom "


@dataclass(frozen=True)
class RawMessage:
    """One message's place in the file and its metadata headers (see the module docstring)."""

    from_offset: int
    sep_offset: int
    hdr_offset: int
    body_offset: int
    end: int
    received: int
    sender: bytes
    meta: tuple[tuple[bytes, bytes], ...]
    size: int


class _Window:
    """Reads of a seekable binary file through one cached chunk."""

    def __init__(self, f: BinaryIO, size: int, name: str) -> None:
        self.f = f
        self.size = size
        self.name = name
        self._start = 0
        self._data = b""

    def _fill(self, pos: int, n: int) -> None:
        self.f.seek(pos)
        self._data = self.f.read(max(n, CHUNK_SIZE))
        self._start = pos
        if len(self._data) < min(n, self.size - pos):
            raise MailstoreError(
                Kind.INVALIDDATA, f"mbox file {self.name} shrank while reading at {pos}"
            )

    def read(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``pos`` (fewer only at the end of the file)."""
        end = min(pos + n, self.size)
        if not (self._start <= pos and end <= self._start + len(self._data)):
            self._fill(pos, n)
        return self._data[pos - self._start : end - self._start]

    def view(self, pos: int) -> tuple[bytes, int]:
        """The cached chunk holding ``pos`` and where ``pos`` is in it: at least
        :data:`_LOOKAHEAD` bytes from ``pos`` on unless the file ends sooner."""
        want = min(_LOOKAHEAD, self.size - pos)
        if not (self._start <= pos and pos + want <= self._start + len(self._data)):
            self._fill(pos, want)
        return self._data, pos - self._start

    def byte(self, pos: int) -> int:
        return self.read(pos, 1)[0] if 0 <= pos < self.size else -1

    def is_from(self, pos: int) -> bool:
        """Whether a valid From_ line starts at ``pos``."""
        if self.read(pos, 5) != b"From ":
            return False
        return parse_from_line(self.read(pos + 5, _LOOKAHEAD)) is not None

    def line_end(self, pos: int) -> int:
        """The offset just past the LF ending the line at ``pos`` (the file size without)."""
        while pos < self.size:
            data, i = self.view(pos)
            lf = data.find(b"\n", i)
            if lf >= 0:
                return pos + (lf - i) + 1
            pos += len(data) - i
        return self.size

    def find_separator(self, start: int) -> int | None:
        """The offset of the first ``\\n`` at or after ``start`` followed by a valid From_ line."""
        pos = start
        while pos < self.size:
            data, i = self.view(pos)
            hit = data.find(_SEP, i)
            if hit >= 0:
                if self.is_from(pos + (hit - i) + 1):
                    return pos + (hit - i)
                pos += hit - i + 1
                continue
            if pos + len(data) - i >= self.size:
                return None
            pos += max(len(data) - i - len(_SEP) + 1, 1)
        return None

    def valid_next(self, pos: int) -> bool:
        """``istream_raw_mbox_is_valid_from()``: may a Content-Length end a message at ``pos``?"""
        left = self.size - pos
        if left < 0:
            return False
        head = self.read(pos, 7)
        if head[:left] in (b"\n", b"\r\n") and left <= 2:
            return True
        if left > 31 and head[:6] == _SEP:
            return self.is_from(pos + 1)
        if left > 32 and head == b"\r" + _SEP:
            return self.is_from(pos + 2)
        return False


def _separator_start(win: _Window, lf: int, floor: int) -> int:
    """Where a separator whose LF is at ``lf`` starts (its CR belongs to it too)."""
    return lf - 1 if lf - 1 >= floor and win.byte(lf - 1) == 0x0D else lf


class _Header(NamedTuple):
    """What the header pass found: the metadata headers, where the body starts, the size of the
    header as Dovecot shows it, the message end when a From_ line interrupts the header (else
    None, and ``next_from`` is that From_ line), and whether an empty line ended it."""

    meta: list[tuple[bytes, bytes]]
    body_offset: int
    shown: int
    end: int | None
    next_from: int
    eoh: bool


def _parse_header(win: _Window, hdr_offset: int) -> _Header:
    """Read the header that starts at ``hdr_offset``."""
    meta: list[tuple[bytes, bytes]] = []
    shown = 0
    pos = hdr_offset
    current: tuple[bytes, list[bytes]] | None = None
    hidden = False
    prev_crlf = False
    while pos < win.size:
        if pos > hdr_offset and win.is_from(pos):
            if current is not None:
                meta.append((current[0], b"".join(current[1])))
            return _Header(meta, pos, shown, _separator_start(win, pos - 1, hdr_offset), pos, False)
        end = win.line_end(pos)
        raw = win.read(pos, min(end - pos, _LINE_CAP))
        newline = raw.endswith(b"\n")
        crlf = newline and raw.endswith(b"\r\n")
        text = raw[: -2 if crlf else -1] if newline else raw
        length = (end - pos) - (2 if crlf else 1 if newline else 0)
        continued = pos > hdr_offset and win.byte(pos) in (0x20, 0x09)
        if length == 0 and newline and not continued:
            if current is not None:
                meta.append((current[0], b"".join(current[1])))
            return _Header(meta, end, shown + 1, None, end, True)
        if not continued:
            if current is not None:
                meta.append((current[0], b"".join(current[1])))
                current = None
            name = header_name(text)
            hidden = name in HIDDEN_HEADERS
            if hidden and name is not None:
                value = text[text.index(b":") + 1 :]
                current = (name, [value[1:] if value[:1] in (b" ", b"\t") else value])
        elif current is not None:
            current[1].append((b"\r\n" if prev_crlf else b"\n") + text)
        if not hidden:
            shown += length + (1 if newline else 0)
        prev_crlf = crlf
        pos = end
    if current is not None:
        meta.append((current[0], b"".join(current[1])))
    return _Header(meta, win.size, shown, None, win.size, False)


def _content_length(meta: list[tuple[bytes, bytes]]) -> int | None:
    """The first well-formed Content-Length (digits, then only blanks), as Dovecot takes it."""
    for name, value in meta:
        if name != b"content-length":
            continue
        digits = len(value) - len(value.lstrip(b"0123456789"))
        if value[digits:].strip(b" \t\n") == b"":
            return int(value[:digits] or b"0")
    return None


def _eof_end(win: _Window, floor: int) -> int:
    end = win.size
    if end > floor and win.byte(end - 1) == 0x0A:
        end -= 1
        if end > floor and win.byte(end - 1) == 0x0D:
            end -= 1
    return end


def iter_raw_messages(f: BinaryIO, size: int, name: str) -> Iterator[RawMessage]:
    """The messages of the mbox file ``f`` (``size`` bytes, ``name`` for errors), in order."""
    win = _Window(f, size, name)
    if size == 0:
        return
    if not win.is_from(0):
        raise MailstoreError(
            Kind.INVALIDDATA, f"mbox file {name} doesn't begin with a valid 'From ' line"
        )
    from_offset, sep_offset = 0, 0
    while True:
        head = parse_from_line(win.read(from_offset + 5, _LOOKAHEAD))
        assert head is not None
        hdr_offset = win.line_end(from_offset)
        hdr = _parse_header(win, hdr_offset)
        body_offset, end = hdr.body_offset, hdr.end
        if end is not None:
            next_from = hdr.next_from
        else:
            length = _content_length(hdr.meta) if hdr.eoh else None
            if length is not None and win.valid_next(body_offset + length):
                end = body_offset + length
            else:
                lf = win.find_separator(max(body_offset - 1, hdr_offset))
                end = _eof_end(win, hdr_offset) if lf is None else _separator_start(
                    win, lf, hdr_offset)
            next_from = end + (2 if win.byte(end) == 0x0D else 1)
        if end < body_offset:
            size_shown = len(hide_metadata(win.read(hdr_offset, end - hdr_offset)))
        else:
            size_shown = hdr.shown + (end - body_offset)
        yield RawMessage(from_offset, sep_offset, hdr_offset, min(body_offset, end), end,
                         head.received, head.sender, tuple(hdr.meta), size_shown)
        if next_from >= size or not win.is_from(next_from):
            return
        from_offset, sep_offset = next_from, end
