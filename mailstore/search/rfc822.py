"""RFC 822 tokens: a cursor over a header value, ported from Dovecot's ``rfc822-parser.c``.

Shared by the address parser (:mod:`mailstore.search.addresses`), the ``Date:`` parser
(:mod:`mailstore.search.sentdate`) and the Content-Type / Content-Transfer-Encoding readers
(:mod:`mailstore.search.mimetext`).
"""

from __future__ import annotations

__all__ = ["ATEXT", "Tokens"]

#: Per byte, non-zero for atext (8-bit bytes included): 2 for letters, digits and 8-bit bytes,
#: 4 for ``/=?`` (atext, but not in a MIME token), 1 for the other atext specials.
ATEXT = bytes(
    2 if c >= 0x80 or chr(c).isalnum() else 1 if chr(c) in "!#$%&'*+-^_`{|}~" else
    4 if chr(c) in "/=?" else 0
    for c in range(256)
)  # fmt: skip


class Tokens:
    """A cursor over a header value, ported from Dovecot's rfc822_parser_context.

    Methods return -1 on a syntax error, 0 at the end of the input, 1 when more follows;
    ``cur`` is the byte at the cursor, 0 at the end (C reads the terminating NUL there).
    """

    def __init__(self, data: bytes, keep_comments: bool = False) -> None:
        self.data, self.pos, self.end = data, 0, len(data)
        self.last_comment: bytearray | None = bytearray() if keep_comments else None
        self.nul = "\ufffd".encode() if keep_comments else None

    def cur(self) -> int:
        return self.data[self.pos] if self.pos < self.end else 0

    def skip_comment(self) -> int:
        data, out = self.data, self.last_comment
        if out is not None:
            out.clear()
        self.pos += 1
        start, level = self.pos, 1
        while self.pos < self.end:
            c = data[self.pos]
            if c == 0 and out is not None and self.nul:
                out += data[start : self.pos] + self.nul
                start = self.pos + 1
            elif c == 0x28:
                level += 1
            elif c == 0x29:
                level -= 1
                if level == 0:
                    if out is not None:
                        out += data[start : self.pos]
                    self.pos += 1
                    return 1 if self.pos < self.end else 0
            elif c == 0x0A and out is not None:
                out += data[start : self.pos - 1 if data[self.pos - 1] == 0x0D else self.pos]
                start = self.pos + 1
            elif c == 0x5C:
                self.pos += 1
                if self.pos >= self.end:
                    return -1
                if data[self.pos] in b"\r\n\0":
                    self.pos -= 1
                else:
                    if out is not None:
                        out += data[start : self.pos - 1]
                    start = self.pos
            self.pos += 1
        return -1

    def skip_lwsp(self) -> int:
        while self.pos < self.end:
            c = self.data[self.pos]
            if c in b" \t\r\n":
                self.pos += 1
            elif c != 0x28:
                break
            elif self.skip_comment() < 0:
                return -1
        return 1 if self.pos < self.end else 0

    def _run(self, out: bytearray, accept: bytes) -> int:
        start = self.pos
        while self.pos < self.end and self.data[self.pos] in accept:
            self.pos += 1
        out += self.data[start : self.pos]
        return self.skip_lwsp() if self.pos < self.end else 0

    def atom(self, out: bytearray) -> int:
        if self.pos >= self.end or not ATEXT[self.data[self.pos]]:
            return -1
        return self._run(out, _ATEXT_BYTES)

    def dot_atom(self, out: bytearray) -> int:
        while True:
            if self.pos >= self.end or not ATEXT[self.data[self.pos]]:
                return -1
            ret = self._run(out, _ATEXT_BYTES)
            if ret <= 0:
                return ret
            if self.data[self.pos] != 0x2E:
                return 1
            self.pos += 1
            out += b"."
            if self.skip_lwsp() <= 0:
                return -1

    def mime_token(self, out: bytearray) -> int:
        return self._run(out, _TOKEN_BYTES)

    def _quoted(self, out: bytearray, close: int) -> int:
        """The body of a quoted-string (close '"') or domain-literal (close ']')."""
        data = self.data
        literal = close == 0x5D
        start = self.pos if literal else self.pos + 1
        self.pos += 1
        while self.pos < self.end:
            c = data[self.pos]
            if c == 0 and self.nul:
                out += data[start : self.pos] + self.nul
                start = self.pos + 1
            elif c == close:
                out += data[start : self.pos + 1 if literal else self.pos]
                self.pos += 1
                return self.skip_lwsp()
            elif c == 0x5B and literal:
                return -1
            elif c == 0x0A:
                out += data[start : self.pos - 1 if data[self.pos - 1] == 0x0D else self.pos]
                start = self.pos + 1
            elif c == 0x5C:
                self.pos += 1
                if self.pos >= self.end:
                    return -1
                if data[self.pos] in b"\r\n\0":
                    if literal:
                        out += data[start : self.pos]
                        start = self.pos
                    self.pos -= 1
                elif not literal:
                    out += data[start : self.pos - 1]
                    start = self.pos
            self.pos += 1
        return -1

    def quoted_string(self, out: bytearray) -> int:
        return self._quoted(out, 0x22)

    def phrase(self, out: bytearray) -> int:
        if self.pos >= self.end:
            return 0
        if self.data[self.pos] == 0x2E:
            return -1
        while True:
            if self.data[self.pos] == 0x22:
                ret = self.quoted_string(out)
            else:
                ret = self._run(out, _ATEXT_DOT_BYTES)
            if ret <= 0:
                return ret
            c = self.data[self.pos]
            if not ATEXT[c] and c not in b'".':
                break
            out += b" "
        return self.skip_lwsp()

    def domain(self, out: bytearray) -> int:
        self.pos += 1  # the '@'
        if self.skip_lwsp() <= 0:
            return -1
        if self.data[self.pos] == 0x5B:
            return self._quoted(out, 0x5D)
        return self.dot_atom(out)


_ATEXT_BYTES = bytes(c for c in range(256) if ATEXT[c])
_ATEXT_DOT_BYTES = _ATEXT_BYTES + b"."
_TOKEN_BYTES = bytes(c for c in range(256) if ATEXT[c] & 3) + b"."
