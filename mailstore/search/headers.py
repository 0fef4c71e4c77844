"""A header block split into lines as Dovecot's header parser does (``message-header-parser.c``).

>>> headers, body = split_header(b"Subject: a\\n\\tb\\nno colon\\n\\nbody\\n")
>>> [(h.name, h.middle, h.value) for h in headers], body
([(b'Subject', b': ', b'a b'), (b'', b'', b'no colon')], 24)
"""

from __future__ import annotations

import re

__all__ = ["Header", "split_header", "unfold"]

_LWSP = b" \t"


class Header:
    """One header line: ``name``, what lies between it and the value (``": "``), the value
    with continuation lines joined."""

    __slots__ = ("middle", "name", "value")

    def __init__(self, name: bytes, middle: bytes, value: bytes) -> None:
        self.name, self.middle, self.value = name, middle, value

    def is_named(self, field: str) -> bool:
        return self.name.lower() == field.encode("utf-8", "surrogateescape").lower()


def split_header(data: bytes) -> tuple[list[Header], int]:
    """The header lines of ``data`` (continuations joined as with CLEAN_ONELINE) and the offset
    of the body: just after the first empty line, or the end when there is none."""
    headers: list[Header] = []
    pos, size = 0, len(data)
    while pos < size:
        nl = data.find(b"\n", pos)
        end = size if nl < 0 else nl
        line = data[pos : end - 1] if end > pos and data[end - 1] == 0x0D else data[pos:end]
        pos = end + 1
        if not line and nl >= 0:
            return headers, pos
        if headers and line[:1] in (b" ", b"\t"):
            last = headers[-1]
            last.value += (b" " + line[1:]) if line[:1] == b"\t" else line
        else:
            colon = line.find(b":")
            if colon < 0:
                headers.append(Header(b"", b"", line))
            else:
                name = line[:colon].rstrip(_LWSP)
                skip = 1 if line[colon + 1 : colon + 2] in (b" ", b"\t") else 0
                middle = line[len(name) : colon + 1 + skip]
                headers.append(Header(name, middle, line[colon + 1 + skip :]))
    return headers, size


def unfold(value: bytes) -> bytes:
    """A folded value on one line, a TAB that starts a continuation becoming a space."""
    return re.sub(rb"\r?\n", b"", re.sub(rb"\r?\n\t", b" ", value))
