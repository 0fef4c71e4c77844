"""String matching for the search keys that read the message: what doveadm 2.3.19 (no FTS) selects.

Parse a message once with :meth:`ParsedMessage.from_bytes`, then ask any number of keys::

    >>> msg = ParsedMessage.from_bytes(b"From: Alice Smith <a@example.com>\\n"
    ...     b"Subject:  Re:   Gr=?utf-8?q?=C3=BC=C3=9Fe?=\\n\\nHallo!\\n")
    >>> match_address(msg, "from", '"alice smith" <a@'), match_address(msg, "from", "Smith <")
    (True, False)
    >>> match_subject(msg, "re: grüsse"), match_subject(msg, "RE: GRÜßE"), match_body(msg, "HALLO")
    (False, True, True)

Every match is a substring test after both sides went through :func:`casemap`, Dovecot's
``i;unicode-casemap`` (``uni_utf8_to_decomposed_titlecase``).  What the needle is compared
against, verified with ``doveadm search`` [obs] and ``src/lib-mail`` [code]:

* Headers are unfolded (CRLF dropped, a TAB that starts a continuation becomes a space) and
  RFC 2047 decoded *anywhere* in the value, also inside quotes and words; whitespace between two
  encoded-words is dropped; a broken or unknown-encoding word stays as it is.  A word in a charset
  iconv does not know is appended *without* case mapping (``=?x-unknown?q?Hello?=`` is not found
  by ``hello``, nor by ``Hello``: the needle is mapped, the text is not).
* FROM/TO/CC/BCC: each header is parsed into addresses and written back the way
  ``message_address_write`` does: ``Alice <a@example.com>``, ``"Alice Smith" <a@example.com>``
  (a display name with anything but atext is quoted), ``<a@example.com>`` without a name,
  ``", "`` between addresses, ``Team: <a@x>, <b@y>;`` for groups, and ``MISSING_MAILBOX`` /
  ``MISSING_DOMAIN`` / ``SYNTAX_ERROR`` for what is missing or broken.  Encoded-words in a name
  are decoded after the rendering, so they are never quoted.
* SUBJECT: runs of SP/TAB become one space, leading ones vanish, one trailing space stays;
  ``Re:`` is not stripped.  HEADER compares the unfolded value as is.  An empty needle only asks
  whether the header exists.
* BODY: only parts whose Content-Type is ``text/*`` or ``message/*`` (or missing), decoded from
  QP/base64 and from their charset (unknown charsets as UTF-8); HTML is searched raw, tags
  included; multipart preambles and epilogues, non-text attachments, parts with an invalid
  Content-Type or an unknown Content-Transfer-Encoding are skipped; a message/rfc822 part is
  searched as a message.  TEXT adds every part's header block (``Name: value``, names included).
* No string search spans two MIME parts or two header lines.
"""

from __future__ import annotations

import calendar
import codecs
import datetime as _dt
import email.message
import email.utils
import re
import unicodedata
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import compat32

__all__ = [
    "ParsedMessage",
    "casemap",
    "match_address",
    "match_body",
    "match_header",
    "match_subject",
    "match_text",
    "sent_date",
]
_LWSP = b" \t"
_REPLACEMENT = "\ufffd"
_UINT32 = 1 << 32


# --- i;unicode-casemap -------------------------------------------------------------------------


def _has_title_field(ch: str) -> bool:
    """Whether UnicodeData.txt gives ``ch`` a simple titlecase mapping (field 14, even to itself).

    unicodemap.pl only records decompositions for characters without one.  Field 14 is set
    exactly for characters with a simple upper- or titlecase mapping; Python's full mappings
    agree wherever they are one character long (ß, ŉ, ǰ, ﬁ have none; ǅ maps to itself).
    """
    upper, title = ch.upper(), ch.title()
    return (len(upper) == 1 and upper != ch) or (len(title) == 1 and title != ch)


def _casemap_char(code: int) -> str:
    ch = chr(code)
    title = ch.title()
    mapped = title if len(title) == 1 else ch  # only the simple (one-character) mapping
    code = ord(mapped)
    if 0xAC00 <= code <= 0xD7A3:  # Hangul syllable: algorithmic decomposition
        index = code - 0xAC00
        lead, vowel, tail = 0x1100 + index // 588, 0x1161 + index % 588 // 28, index % 28
        return chr(lead) + chr(vowel) + (chr(0x11A7 + tail) if tail else "")
    if _has_title_field(mapped):
        return mapped
    parts = [int(p, 16) for p in unicodedata.decomposition(mapped).split() if p[0] != "<"]
    if len(parts) == 1:
        return chr(parts[0])
    if parts and code <= 0xFFFF:  # one level only; multi-character ones only in the BMP
        return "".join(map(chr, parts))
    return mapped


class _CaseMapTable(dict[int, str]):
    """A ``str.translate`` table filled on first use of each character."""

    def __missing__(self, code: int) -> str:
        self[code] = value = _casemap_char(code)
        return value


_CASEMAP = _CaseMapTable()


def casemap(text: str) -> str:
    """``text`` as Dovecot's ``i;unicode-casemap`` normaliser leaves it: per character the simple
    titlecase mapping, then one level of canonical *or compatibility* decomposition.

    Not ``str.casefold`` nor NFKD: ``ß`` stays (``straße`` does not find ``STRASSE``), ``ı``
    becomes ``I``, ``İ`` becomes ``I`` + U+0307 (so ``istanbul`` misses ``İstanbul``), ``ς``, ``σ``
    and ``Σ`` are all ``Σ``, ``ﬁ`` becomes lowercase ``fi`` (``fi`` does not find it), and ``ǖ``
    becomes ``Ü`` + U+0304 (``ü`` does not find it) [obs].
    """
    if text.isascii():
        return text.upper()
    return text.translate(_CASEMAP)


def _utf8(data: bytes) -> str:
    """Bytes as UTF-8, a run of invalid bytes becoming one U+FFFD (uni_utf8_get_valid_data)."""
    text = data.decode("utf-8", "replace")
    return re.sub("\ufffd{2,}", _REPLACEMENT, text) if _REPLACEMENT in text else text


def _codec(charset: str) -> str | None:
    """The Python codec for a MIME charset, or None where iconv would fail too."""
    try:
        info = codecs.lookup(charset.strip())
    except (LookupError, ValueError):
        return None
    name = info.name
    if not getattr(info, "_is_text_encoding", True) or name in _NOT_CHARSETS:
        return None
    return name


_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "mbcs", "oem"}
)


def _is_utf8_name(charset: str) -> bool:
    return charset.lower() in ("us-ascii", "ascii", "utf-8", "utf8")


def _decode_charset(data: bytes, charset: str | None) -> str | None:
    """``data`` converted to text, or None when ``charset`` is unknown."""
    if charset is None or _is_utf8_name(charset):
        return _utf8(data)
    codec = _codec(charset)
    if codec is None:
        return None
    try:
        text = data.decode(codec, "replace")
    except (LookupError, ValueError, TypeError):  # a stateful codec that gave up
        return None
    return re.sub("\ufffd{2,}", _REPLACEMENT, text) if _REPLACEMENT in text else text


# --- RFC 822 tokens (rfc822-parser.c) ----------------------------------------------------------

_ATEXT = bytes(
    2 if c >= 0x80 or chr(c).isalnum() else 1 if chr(c) in "!#$%&'*+-^_`{|}~" else
    4 if chr(c) in "/=?" else 0
    for c in range(256)
)  # fmt: skip


class _Tokens:
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
        if self.pos >= self.end or not _ATEXT[self.data[self.pos]]:
            return -1
        return self._run(out, _ATEXT_BYTES)

    def dot_atom(self, out: bytearray) -> int:
        while True:
            if self.pos >= self.end or not _ATEXT[self.data[self.pos]]:
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
            if not _ATEXT[c] and c not in b'".':
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


_ATEXT_BYTES = bytes(c for c in range(256) if _ATEXT[c])
_ATEXT_DOT_BYTES = _ATEXT_BYTES + b"."
_TOKEN_BYTES = bytes(c for c in range(256) if _ATEXT[c] & 3) + b"."


# --- addresses (message-address.c, FILL_MISSING, non-strict dots) ------------------------------


class _Addr:
    __slots__ = ("domain", "invalid", "mailbox", "name", "route")

    def __init__(self) -> None:
        self.name: bytes | None = None
        self.route: bytes | None = None
        self.mailbox: bytes | None = None
        self.domain: bytes | None = None
        self.invalid = False


class _AddressParser:
    """``message_address_parse(..., MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING)``."""

    def __init__(self, value: bytes) -> None:
        self.p = _Tokens(value, keep_comments=True)
        self.addrs: list[_Addr] = []
        self.addr = _Addr()
        self.str = bytearray()

    def parse(self) -> list[_Addr]:
        p = self.p
        if p.skip_lwsp() <= 0:
            return []
        while True:  # parse_address_list
            start = p.pos
            ret = self._group()
            if ret < 0:
                p.pos = start
                ret = self._mailbox()
            if ret == 0:
                break
            if p.pos >= p.end or p.cur() != 0x2C:
                break
            p.pos += 1
            ret = p.skip_lwsp()
            if ret <= 0:
                if ret < 0:
                    self._add_fixed()
                break
        return self.addrs

    def _add(self) -> None:
        self.addrs.append(self.addr)
        self.addr = _Addr()

    def _add_fixed(self) -> None:
        a = self.addr
        if a.mailbox is None:
            a.mailbox, a.invalid = b"MISSING_MAILBOX", True
        if not a.domain:
            a.domain, a.invalid = b"MISSING_DOMAIN", True
        self._add()

    def _local_part(self) -> int:
        p, out = self.p, self.str
        out.clear()
        if p.cur() == 0x22:
            ret = p.quoted_string(out)
        else:  # parse_nonstrict_dot_atom
            ret = -1
            while True:
                while p.cur() == 0x2E:
                    out += b"."
                    p.pos += 1
                    if p.pos == p.end:
                        return self._set_mailbox(0)
                    ret = 1
                if p.cur() == 0x40:
                    break
                ret = p.atom(out)
                if not (ret > 0 and p.cur() == 0x2E):
                    break
        if ret < 0:
            return -1
        return self._set_mailbox(ret)

    def _set_mailbox(self, ret: int) -> int:
        self.addr.mailbox = bytes(self.str)
        return ret

    def _domain(self) -> int:
        self.str.clear()
        ret = self.p.domain(self.str)
        if ret < 0:
            return -1
        self.addr.domain = bytes(self.str)
        return ret

    def _angle_addr(self) -> int:
        p, a = self.p, self.addr
        p.pos += 1  # the '<'
        if p.skip_lwsp() <= 0:
            return -1
        if p.cur() == 0x40:
            if self._domain_list() > 0 and p.cur() == 0x3A:
                p.pos += 1
            else:
                a.route = b"INVALID_ROUTE"
                if p.pos >= p.end:
                    return -1
            if p.skip_lwsp() <= 0:
                return -1
        if p.cur() != 0x3E:
            if self._local_part() <= 0:
                return -1
            if p.cur() == 0x40 and self._domain() <= 0:
                return -1
        if p.cur() != 0x3E:
            return -1
        p.pos += 1
        return p.skip_lwsp()

    def _domain_list(self) -> int:
        p, out = self.p, self.str
        out.clear()
        while True:
            if p.pos >= p.end:
                return 0
            if p.cur() != 0x40:
                break
            if out:
                out += b","
            out += b"@"
            ret = p.domain(out)
            if ret <= 0:
                return ret
            while p.skip_lwsp() > 0 and p.cur() == 0x2C:
                p.pos += 1
        self.addr.route = bytes(out)
        return 1

    def _name_addr(self) -> int:
        p = self.p
        self.str.clear()
        if p.phrase(self.str) <= 0 or p.cur() != 0x3C:
            return -1
        self.addr.name = bytes(self.str) or None
        if self._angle_addr() < 0:
            self.addr.domain, self.addr.invalid = b"SYNTAX_ERROR", True
        return 1 if p.pos < p.end else 0

    def _addr_spec(self) -> int:
        p, a = self.p, self.addr
        ret2 = -2
        assert p.last_comment is not None
        p.last_comment.clear()
        quoted = p.cur() == 0x22
        ret = self._local_part()
        if ret <= 0:
            a.invalid = True
        if ret != 0 and p.pos < p.end and p.cur() == 0x40:
            ret2 = self._domain()
            if ret2 <= 0:
                ret = ret2
        if p.last_comment:
            a.name = bytes(p.last_comment)
        elif ret2 == -2:
            self.str += b" "
            size = len(self.str)
            p.phrase(self.str)
            if len(self.str) != size:
                a.mailbox, a.name = None, bytes(self.str)
            elif not quoted:
                a.domain = b""
            a.invalid, ret = True, -1
        return ret

    def _mailbox(self) -> int:
        p, a = self.p, self.addr
        start = p.pos
        ret = self._name_addr()
        if ret < 0:
            p.pos = start
            ret = self._addr_spec()
            if a.invalid and a.name is None and a.mailbox is not None and a.domain is None:
                a.name, a.mailbox = a.mailbox, None
        if ret < 0:
            a.invalid = True
        self._add_fixed()
        return ret

    def _group(self) -> int:
        p = self.p
        self.str.clear()
        if p.phrase(self.str) <= 0 or p.cur() != 0x3A:
            return -1
        p.pos += 1
        ret = p.skip_lwsp()
        self.addr.mailbox = bytes(self.str)
        self._add()
        if ret > 0 and p.cur() != 0x3B:
            while True:
                self._mailbox()
                if p.pos >= p.end or p.cur() != 0x2C:
                    break
                p.pos += 1
                if p.skip_lwsp() <= 0:
                    ret = -1
                    break
        if ret >= 0:
            if p.pos >= p.end or p.cur() != 0x3B:
                ret = -1
            else:
                p.pos += 1
                ret = p.skip_lwsp()
        self._add()  # the end-of-group marker: every field None
        return 0 if ret == 0 else 1


def _maybe_quote(text: bytes, escape_dot: bool) -> bytes:
    if all(_ATEXT[c] or (c == 0x2E and not escape_dot) for c in text):
        return text
    return b'"' + re.sub(rb"([\"\\'])", rb"\\\1", text) + b'"'


def _render_addresses(value: bytes) -> bytes:
    """The header value as ``message_address_write`` writes its parsed address list."""
    addrs = _AddressParser(value).parse()
    if not addrs:
        return b""
    if addrs[0].mailbox is None and addrs[0].domain is None:
        return b"<>"
    out = bytearray()
    first, in_group = True, False
    for a in addrs:
        if not first:
            out += b", "
        first = False
        if a.domain is None:  # group start (mailbox = its name) or end (all None)
            if not in_group:
                name = a.mailbox or b""
                if not name:
                    out += b'""'
                else:
                    out += name if b"=?" in name else _maybe_quote(name, True)
                out += b": "
                first = True
            else:
                del out[-2 if out.endswith(b", ") else -1 :]
                out += b";"
            in_group = not in_group
            continue
        mailbox = a.mailbox or b""
        if a.name is not None:
            out += a.name if b"=?" in a.name else _maybe_quote(a.name, True)
        if a.route is not None or mailbox or a.domain:
            if a.name:
                out += b" "
            out += b"<"
            if a.route is not None:
                out += a.route + b":"
            out += _maybe_quote(mailbox, False) if mailbox else b'""'
            if a.domain:
                out += b"@" + a.domain
            out += b">"
    return bytes(out)


# --- header values (message-header-decode.c, message-header-parser.c) --------------------------


def _hex_decode(text: bytes) -> bytes:
    """``=XX`` as a byte; a broken ``=`` stays as it is."""
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes.fromhex(m.group(1).decode()), text)


def _q_decode(text: bytes) -> bytes:
    """RFC 2047 Q: ``_`` is a space, then ``=XX`` bytes (quoted_printable_q_decode)."""
    return _hex_decode(text.replace(b"_", b" "))


def _b64_decode(text: bytes) -> bytes:
    """Base64 up to the first byte outside the alphabet (whitespace skipped), or padding."""
    m = re.match(rb"[A-Za-z0-9+/\r\n\t ]*", text)
    chars = re.sub(rb"[\r\n\t ]", b"", m.group() if m else b"")
    chars = chars[: len(chars) - (len(chars) % 4 == 1)]  # a lone sextet makes no byte
    return codecs.decode(chars + b"=" * (-len(chars) % 4), "base64") if chars else b""


def _decode_words(value: bytes) -> str:
    """RFC 2047-decode and case-map a header value the way message_header_decode_utf8 does."""
    out: list[str] = []
    start = pos = 0
    size = len(value)
    while pos + 1 < size:
        if value[pos] != 0x3D or value[pos + 1] != 0x3F:  # "=?"
            pos += 1
            continue
        if pos != start and value[start:pos].strip(b" \t\r\n"):
            out.append(casemap(_utf8(value[start:pos])))
        pos += 2
        marks = [i for i, c in enumerate(value[pos:], pos) if c == 0x3F][:3]
        if len(marks) < 3 or value[marks[2] + 1 : marks[2] + 2] != b"=":
            start = pos - 2
            continue
        charset = value[pos : marks[0]].decode("latin-1")
        encoding, text = value[marks[0] + 1 : marks[0] + 2].upper(), value[marks[1] + 1 : marks[2]]
        if encoding not in (b"Q", b"B"):
            start = pos - 2
            continue
        decoded = _q_decode(text) if encoding == b"Q" else _b64_decode(text)
        pos = start = marks[2] + 2
        if decoded:
            converted = _decode_charset(decoded, charset)
            # a charset iconv does not know: the bytes as UTF-8, *not* case-mapped [obs]
            out.append(_utf8(decoded) if converted is None else casemap(converted))
    if start != size:
        out.append(casemap(_utf8(value[start:])))
    return "".join(out)


class _Header:
    __slots__ = ("middle", "name", "value")

    def __init__(self, name: bytes, middle: bytes, value: bytes) -> None:
        self.name, self.middle, self.value = name, middle, value

    def is_named(self, field: str) -> bool:
        return self.name.lower() == field.encode("utf-8", "surrogateescape").lower()


def _split_header(data: bytes) -> tuple[list[_Header], int]:
    """The header lines of ``data`` (continuations joined as with CLEAN_ONELINE) and the offset
    of the body: just after the first empty line, or the end when there is none."""
    headers: list[_Header] = []
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
                headers.append(_Header(b"", b"", line))
            else:
                name = line[:colon].rstrip(_LWSP)
                skip = 1 if line[colon + 1 : colon + 2] in (b" ", b"\t") else 0
                middle = line[len(name) : colon + 1 + skip]
                headers.append(_Header(name, middle, line[colon + 1 + skip :]))
    return headers, size


def _unfold(value: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"", re.sub(rb"\r?\n\t", b" ", value))


# --- MIME parts --------------------------------------------------------------------------------


class _Part:
    """One MIME part: its header lines, and either a body or child parts."""

    __slots__ = ("body", "children", "headers")

    def __init__(self, headers: list[_Header], body: bytes, children: list[_Part]) -> None:
        self.headers, self.body, self.children = headers, body, children

    def last(self, field: str) -> _Header | None:
        found = [h for h in self.headers if h.is_named(field)]
        return found[-1] if found else None

    def first(self, field: str) -> _Header | None:
        return next((h for h in self.headers if h.is_named(field)), None)

    def walk(self) -> list[_Part]:
        return [self, *(p for child in self.children for p in child.walk())]


def _content_type(header: _Header | None) -> str | None:
    """``type/subtype`` lower-cased as rfc822_parse_content_type accepts it; "" if invalid,
    None without a header."""
    if header is None:
        return None
    p = _Tokens(header.value)
    out = bytearray()
    if p.skip_lwsp() <= 0 or p.mime_token(out) <= 0 or not out or p.cur() != 0x2F:
        return ""
    p.pos += 1
    if p.skip_lwsp() <= 0:
        return ""
    size = len(out)
    if p.mime_token(out) < 0 or len(out) == size or (p.pos < p.end and p.cur() != 0x3B):
        return ""
    return (bytes(out[:size]) + b"/" + bytes(out[size:])).decode("latin-1").lower()


def _param(header: _Header | None, name: str) -> str | None:
    if header is None or not _content_type(header):
        return None
    carrier = email.message.Message()
    carrier["Content-Type"] = header.value.decode("latin-1")
    value = carrier.get_param(name)
    if isinstance(value, tuple):
        return email.utils.collapse_rfc2231_value(value)
    return value if isinstance(value, str) else None


def _part_from_bytes(data: bytes) -> _Part:
    headers, offset = _split_header(data)
    return _with_structure(_Part(headers, data[offset:], []))


def _with_structure(part: _Part) -> _Part:
    """Attach the children of a multipart or message/rfc822 part parsed from raw bytes."""
    header = part.first("Content-Type")
    ctype = _content_type(header)
    if ctype == "message/rfc822":
        part.children = [_part_from_bytes(part.body)]
    elif ctype and ctype.startswith("multipart/") and header is not None:
        carrier = BytesParser(policy=compat32).parsebytes(
            b"Content-Type: " + header.value + b"\n\n" + part.body
        )
        if carrier.is_multipart():
            part.children = [_part_from_email(m) for m in _messages(carrier.get_payload())]
    return part


def _part_from_email(msg: email.message.Message) -> _Part:
    """A part the email package split off; its header lines lose their exact spacing."""
    headers = [
        _Header(name.encode("ascii", "surrogateescape"), b": ",
                _unfold(str(value).encode("ascii", "surrogateescape")))
        for name, value in msg.raw_items()
    ]  # fmt: skip
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return _Part(headers, str(payload).encode("ascii", "surrogateescape"), [])
    ctype = msg.get_content_type()
    if ctype.startswith("message/") and ctype != "message/rfc822":
        # Dovecot parses only message/rfc822 further; message/delivery-status and the like
        # are searched as text.
        return _Part(headers, b"\n".join(m.as_bytes() for m in _messages(payload)), [])
    return _Part(headers, b"", [_part_from_email(m) for m in _messages(payload)])


def _messages(payload: object) -> list[email.message.Message]:
    if not isinstance(payload, list):
        return []
    return [m for m in payload if isinstance(m, email.message.Message)]


def _cte(header: _Header | None) -> str | None:
    """The transfer encoding as message_decoder_parse_cte sees it; None when unknown."""
    if header is None:
        return "7bit"
    p = _Tokens(header.value)
    out = bytearray()
    p.skip_lwsp()
    if p.mime_token(out) == 1 and p.cur() != 0x3B:
        return None
    value = out.decode("latin-1").lower()
    return value if value in ("7bit", "8bit", "binary", "base64", "quoted-printable") else None


def _qp_body(data: bytes) -> bytes:
    out = []
    for line in data.splitlines(keepends=True):
        text = line.rstrip(b"\r\n")
        newline = len(text) != len(line)
        text = text.rstrip(_LWSP)
        soft = text.endswith(b"=")
        out.append(_hex_decode(text[:-1] if soft else text))
        if newline and not soft:
            out.append(b"\n")
    return b"".join(out)


def _body_text(part: _Part) -> str | None:
    """The decoded, case-mapped body of a leaf that message_search_msg searches, else None."""
    if part.children:
        return None
    ctype = _content_type(part.last("Content-Type"))
    if ctype is not None and not ctype.startswith(("text/", "message/")):
        return None
    cte = _cte(part.last("Content-Transfer-Encoding"))
    if cte is None:
        return None
    data = part.body
    if cte == "quoted-printable":
        data = _qp_body(data)
    elif cte == "base64":
        data = _b64_decode(data)
    charset = _param(part.first("Content-Type"), "charset")
    text = _decode_charset(data, charset)
    return casemap(_utf8(data) if text is None else text)


# --- Date: (message-date.c) --------------------------------------------------------------------

_MONTHS = (b"jan", b"feb", b"mar", b"apr", b"may", b"jun",
           b"jul", b"aug", b"sep", b"oct", b"nov", b"dec")  # fmt: skip


def _zone_minutes(zone: bytes) -> int:
    """parse_timezone(), quirks included: unknown zones are 0, military letters are taken the
    right way round (A = +0100), and a lower-case letter is offset from ``'A'`` as it is."""
    if len(zone) == 5 and zone[:1] in (b"+", b"-"):
        if not zone[1:].isdigit():
            return 0
        minutes = int(zone[1:3]) * 60 + int(zone[3:5])
        return minutes if zone[:1] == b"+" else -minutes
    if len(zone) == 1:
        raw = zone[0]
        upper = raw - 32 if 0x61 <= raw <= 0x7A else raw
        if upper < 0x4A:  # < 'J'
            return (raw - 0x41 + 1) * 60
        if upper == 0x4A:
            return 0
        if upper <= 0x4D:  # <= 'M'
            return (raw - 0x41) * 60
        return (0x4D - raw) * 60 if upper < 0x5A else 0
    if len(zone) == 2 and zone.upper() == b"UT":
        return 0
    if len(zone) == 3 and zone[2:] == b"T":
        base = {b"E": -300, b"C": -360, b"M": -420, b"P": -480}.get(zone[:1].upper())
        kind = zone[1:2].upper()
        if base is not None and kind in (b"D", b"S"):
            return base + (60 if kind == b"D" else 0)
    return 0


def _parse_date(value: bytes) -> tuple[int, int] | None:
    """message_date_parse(): (UTC seconds, zone minutes), or None when invalid."""
    p = _Tokens(value)

    def token() -> tuple[int, bytes]:
        out = bytearray()
        ret = 0 if p.pos >= p.end else p.atom(out)
        return (-1 if ret < 0 else int(bool(out))), bytes(out)

    def number(text: bytes, sizes: tuple[int, ...]) -> int | None:
        return int(text) if len(text) in sizes and text.isdigit() else None

    p.skip_lwsp()
    ret, tok = token()
    if ret <= 0:
        return None
    if len(tok) == 3:  # a weekday, which must be followed by ","
        if p.cur() != 0x2C:
            return None
        p.pos += 1
        p.skip_lwsp()
        ret, tok = token()
        if ret <= 0:
            return None
    day = number(tok, (1, 2))
    ret, tok = token()
    if day is None or ret <= 0 or len(tok) < 3 or tok[:3].lower() not in _MONTHS:
        return None
    month = _MONTHS.index(tok[:3].lower()) + 1
    ret, tok = token()
    year = number(tok, (2, 4)) if ret > 0 else None
    if year is None or (len(tok) == 4 and year < 1900):
        return None
    if len(tok) == 2:
        year += 2000 if year < 70 else 1900
    ret, tok = token()
    hour = number(tok, (1, 2)) if ret > 0 else None
    if hour is None or p.cur() not in b":.":
        return None
    p.pos += 1
    p.skip_lwsp()
    ret, tok = token()
    minute = number(tok, (2,)) if ret >= 0 else None
    second = 0
    if minute is None:
        return None
    if p.pos < p.end and p.cur() in b":.":
        p.pos += 1
        p.skip_lwsp()
        ret, tok = token()
        second = number(tok, (2,)) if ret > 0 else None  # type: ignore[assignment]
        if second is None:
            return None
    ret, tok = token()
    if ret < 0:
        return None
    zone = _zone_minutes(tok) if ret > 0 else 0
    try:
        stamp = _dt.datetime(year, month, day, hour, minute, 59 if second == 60 else second)
    except ValueError:
        return None
    seconds = calendar.timegm(stamp.timetuple())
    if seconds == -1:  # utc_mktime's error value
        return None
    return seconds - zone * 60, zone


# --- the API -----------------------------------------------------------------------------------


class ParsedMessage:
    """One message split into header lines and MIME parts, parsed once and searched many times.

    The top-level header block is split here byte for byte as Dovecot's header parser does (a
    line without ``:`` is a header with an empty name, the body starts after the first empty
    line); the MIME structure below it comes from the standard ``email`` package (compat32,
    bytes in, surrogate-escaped), and only where a part is multipart or message/rfc822.
    Decoded texts are computed on first use and kept.  Nothing here raises on malformed input.
    """

    __slots__ = ("_data", "_offset", "_texts", "headers")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.headers, self._offset = _split_header(data)
        self._texts: dict[bool, list[str]] = {}

    @classmethod
    def from_bytes(cls, data: bytes) -> ParsedMessage:
        """Parse the exact message bytes (LF or CRLF line ends)."""
        return cls(bytes(data))

    def values(self, field: str) -> list[bytes]:
        """The unfolded raw values of every top-level header named ``field`` (any case)."""
        return [h.value for h in self.headers if h.is_named(field)]

    def part_texts(self, with_headers: bool) -> list[str]:
        """Per MIME part, the case-mapped text BODY (or TEXT, ``with_headers``) searches."""
        if with_headers not in self._texts:
            root = _Part(self.headers, self._data[self._offset :], [])
            texts = []
            for part in _safe_structure(root).walk():
                body = _body_text(part) or ""
                if with_headers:
                    head = "".join(
                        casemap(_utf8(h.name)) + _utf8(h.middle) + _decode_words(h.value) + "\r\n"
                        for h in part.headers
                    )
                    texts.append(head + "\r\n" + body)
                elif body:
                    texts.append(body)
            self._texts[with_headers] = texts
        return self._texts[with_headers]


def _safe_structure(root: _Part) -> _Part:
    try:
        return _with_structure(root)
    except Exception:  # noqa: BLE001 - the email package on hostile input; search the top level
        root.children = []
        return root


def _header_match(
    msg: ParsedMessage, field: str, needle: str, render: Callable[[bytes], bytes] | None = None
) -> bool:
    values = msg.values(field)
    if not needle:
        return bool(values)
    wanted = casemap(needle)
    return any(wanted in _decode_words(render(v) if render else v) for v in values)


def _compress_lwsp(value: bytes) -> bytes:
    """compress_lwsp(): runs of SP/TAB become one space; leading ones are dropped."""
    return re.sub(rb"[ \t]+", b" ", value).lstrip(b" ")


def match_address(msg: ParsedMessage, field: str, needle: str) -> bool:
    """FROM/TO/CC/BCC (``field`` in any case): ``needle`` in an address header as Dovecot
    re-renders it (see the module docstring); an empty needle asks whether the header exists."""
    return _header_match(msg, field, needle, _render_addresses)


def match_subject(msg: ParsedMessage, needle: str) -> bool:
    """SUBJECT: ``needle`` in a Subject header with SP/TAB runs folded to one space."""
    return _header_match(msg, "subject", needle, _compress_lwsp)


def match_header(msg: ParsedMessage, field: str, needle: str) -> bool:
    """HEADER field needle: ``needle`` in any ``field`` header, decoded but otherwise as is;
    an empty needle matches when the header exists, even with an empty value."""
    return _header_match(msg, field, needle)


def match_body(msg: ParsedMessage, needle: str) -> bool:
    """BODY: ``needle`` in the decoded text parts (see the module docstring); '' matches all."""
    wanted = casemap(needle)
    return not needle or any(wanted in text for text in msg.part_texts(with_headers=False))


def match_text(msg: ParsedMessage, needle: str) -> bool:
    """TEXT: like BODY, plus each part's header lines as ``Name: value``; '' matches all."""
    wanted = casemap(needle)
    return not needle or any(wanted in text for text in msg.part_texts(with_headers=True))


def sent_date(msg: ParsedMessage) -> tuple[int, int] | None:
    """The first Date: header as (Unix seconds, zone offset in seconds east of UTC).

    Parsed like Dovecot's message_date_parse: ``[Day,] d Mon [yy]yy h:mm[:ss] [zone]`` with
    ``.`` also accepted between the time fields, two-digit years 70-99 = 19xx and 00-69 = 20xx,
    numeric zones, UT/GMT/EST/EDT/CST/CDT/MST/MDT/PST/PDT, military letters, and any other zone
    (or none) as +0000.  The seconds are wrapped to 32 bits unsigned, as Dovecot's cache field
    holds them: 1 Jan 1960 is seen as 2096-02-06 [obs].

    None when the header is missing or invalid (no comma after a three-letter weekday, a
    weekday spelled out, 30 Feb, 25:00...).  doveadm then uses 1970-01-01 00:00:00 +0000 for
    SENTBEFORE/SENTON/SENTSINCE [obs: ``sentbefore 1971-01-01`` and ``senton 1-Jan-1970``
    select such messages, ``sentsince`` any later date does not], so the caller must use
    ``(0, 0)`` for None; it must not fall back to the received date.
    """
    values = msg.values("date")
    parsed = _parse_date(values[0]) if values else None
    if parsed is None:
        return None
    seconds, zone = parsed
    return seconds % _UINT32, zone * 60
