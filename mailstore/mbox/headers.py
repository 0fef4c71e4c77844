"""mbox metadata headers: reading them, and hiding them from the message as Dovecot does.

Dovecot keeps a message's IMAP state in headers of the message itself (``Status``,
``X-Status``, ``X-Keywords``, ``X-UID``, ``X-IMAPbase``/``X-IMAP``, ``Content-Length``) and
hides them from clients and copies with a header filter (``mbox_hide_headers`` through
``i_stream_create_header_filter(HEADER_FILTER_EXCLUDE | HEADER_FILTER_NO_CR)``).  The filter
re-emits every other header line as the header parser split it, so::

    hide_metadata(b"Subject: x\\r\\nStatus: RO\\r\\nX-UID: 3\\r\\n\\r\\nbody\\r\\n")
    == b"Subject: x\\n\\nbody\\r\\n"    # header lines lose their CR; the body is untouched

Header lines follow Dovecot's ``message_parse_header_next()``: a line ends at LF (a CR right
before it is dropped); a line starting with SP or TAB continues the previous header and shares
its fate; the name is what precedes the first ``:`` minus trailing blanks, compared without
case; an empty line (LF or CRLF) ends the header; a last line without LF is kept without one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "HIDDEN_HEADERS",
    "HeaderLine",
    "header_name",
    "hide_metadata",
    "iter_header_lines",
]

#: Headers Dovecot hides from every reader of an mbox message (``mbox_hide_headers``).
HIDDEN_HEADERS = frozenset(
    {b"content-length", b"status", b"x-imap", b"x-imapbase", b"x-keywords", b"x-status", b"x-uid"}
)
_LWSP = (0x20, 0x09)


@dataclass(frozen=True)
class HeaderLine:
    """One physical line of the header block.

    ``start``/``end`` delimit the line in the buffer with its line ending; ``text`` is the
    line without CR LF; ``continued`` says it continues the previous header; ``eoh`` marks the
    empty line that ends the header; ``newline`` is False for a last line without LF.
    """

    start: int
    end: int
    text: bytes
    continued: bool
    eoh: bool
    newline: bool
    crlf: bool


def header_name(text: bytes) -> bytes | None:
    """The header name of a (non-continued) line, lower-cased; None without a ``:``."""
    colon = -1
    for i, c in enumerate(text):
        if c == 0x3A:
            colon = i
            break
    if colon < 0:
        return None
    return text[:colon].rstrip(b" \t").lower()


def iter_header_lines(data: bytes, start: int = 0, end: int | None = None) -> Iterator[HeaderLine]:
    """The header lines of ``data[start:end]``, up to and including the end-of-header line."""
    stop = len(data) if end is None else end
    pos = start
    continued = False
    while pos < stop:
        lf = data.find(b"\n", pos, stop)
        if lf < 0:
            yield HeaderLine(pos, stop, data[pos:stop], continued, False, False, False)
            return
        crlf = lf > pos and data[lf - 1] == 0x0D
        text = data[pos : lf - 1 if crlf else lf]
        if not text and not continued:
            yield HeaderLine(pos, lf + 1, text, False, True, True, crlf)
            return
        yield HeaderLine(pos, lf + 1, text, continued, False, True, crlf)
        continued = lf + 1 < stop and data[lf + 1] in _LWSP
        pos = lf + 1


def hide_metadata(message: bytes) -> bytes:
    """The message as Dovecot shows it: metadata headers removed, header lines ending in LF."""
    out: list[bytes] = []
    body_start = len(message)
    hidden = False
    for line in iter_header_lines(message):
        if line.eoh:
            out.append(b"\n")
            body_start = line.end
            break
        if not line.continued:
            hidden = header_name(line.text) in HIDDEN_HEADERS
        if not hidden:
            out.append(line.text + b"\n" if line.newline else line.text)
        body_start = line.end
    out.append(message[body_start:])
    return b"".join(out)
