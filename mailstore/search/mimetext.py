"""The text a message's MIME parts offer to BODY and TEXT, and RFC 2047 header decoding.

What Dovecot's ``message-decoder.c``, ``message-header-decode.c`` and ``charset-utf8.c`` do for
a search: the MIME structure is walked (Content-Type as ``rfc822_parse_content_type`` accepts
it; multipart and message/rfc822 split by the standard ``email`` package), each searched leaf is
decoded from quoted-printable or base64 and from its charset, and the text is case-mapped with
:func:`~mailstore.search.casemap.casemap` (but for an encoded-word in a charset iconv does not
know).  See :mod:`mailstore.search.text` for the rules.

    >>> decode_words(b"Gr=?utf-8?q?=C3=BC=C3=9Fe?= =?x-unknown?q?Hello?=") == "GRU\\u0308ßEHello"
    True
"""

from __future__ import annotations

import codecs
import email.message
import email.utils
import re
from email.parser import BytesParser
from email.policy import compat32

from mailstore.search.casemap import casemap
from mailstore.search.headers import Header, split_header, unfold
from mailstore.search.rfc822 import Tokens

__all__ = ["decode_words", "part_texts"]

_LWSP = b" \t"
_REPLACEMENT = "\ufffd"


# --- charsets (charset-utf8.c) -----------------------------------------------------------------


def _one_replacement(text: str) -> str:
    """``text`` with each run of U+FFFD (one per undecodable byte) made a single U+FFFD."""
    return re.sub("\ufffd{2,}", _REPLACEMENT, text) if _REPLACEMENT in text else text


def _utf8(data: bytes) -> str:
    """Bytes as UTF-8, a run of invalid bytes becoming one U+FFFD (uni_utf8_get_valid_data)."""
    return _one_replacement(data.decode("utf-8", "replace"))


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
    return _one_replacement(text)


# --- transfer encodings and encoded-words (quoted-printable.c, message-header-decode.c) --------


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


def decode_words(value: bytes) -> str:
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


# --- MIME parts (message-parser.c, message-decoder.c) ------------------------------------------


class _Part:
    """One MIME part: its header lines, and either a body or child parts."""

    __slots__ = ("body", "children", "headers")

    def __init__(self, headers: list[Header], body: bytes, children: list[_Part]) -> None:
        self.headers, self.body, self.children = headers, body, children

    def last(self, field: str) -> Header | None:
        found = [h for h in self.headers if h.is_named(field)]
        return found[-1] if found else None

    def first(self, field: str) -> Header | None:
        return next((h for h in self.headers if h.is_named(field)), None)

    def walk(self) -> list[_Part]:
        return [self, *(p for child in self.children for p in child.walk())]


def _content_type(header: Header | None) -> str | None:
    """``type/subtype`` lower-cased as rfc822_parse_content_type accepts it; "" if invalid,
    None without a header."""
    if header is None:
        return None
    p = Tokens(header.value)
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


def _param(header: Header | None, name: str) -> str | None:
    if header is None or not _content_type(header):
        return None
    carrier = email.message.Message()
    carrier["Content-Type"] = header.value.decode("latin-1")
    value = carrier.get_param(name)
    if isinstance(value, tuple):
        return email.utils.collapse_rfc2231_value(value)
    return value if isinstance(value, str) else None


def _part_from_bytes(data: bytes) -> _Part:
    headers, offset = split_header(data)
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
        Header(name.encode("ascii", "surrogateescape"), b": ",
               unfold(str(value).encode("ascii", "surrogateescape")))
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


def _cte(header: Header | None) -> str | None:
    """The transfer encoding as message_decoder_parse_cte sees it; None when unknown."""
    if header is None:
        return "7bit"
    p = Tokens(header.value)
    out = bytearray()
    p.skip_lwsp()
    if p.mime_token(out) == 1 and p.cur() != 0x3B:
        return None
    value = out.decode("latin-1").lower()
    return value if value in ("7bit", "8bit", "binary", "base64", "quoted-printable") else None


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


def _safe_structure(root: _Part) -> _Part:
    try:
        return _with_structure(root)
    except Exception:  # noqa: BLE001 - the email package on hostile input; search the top level
        root.children = []
        return root


def part_texts(headers: list[Header], body: bytes, with_headers: bool) -> list[str]:
    """Per MIME part of the message with top-level ``headers`` and ``body``, the case-mapped
    text BODY (or TEXT, ``with_headers``) searches."""
    root = _Part(headers, body, [])
    texts = []
    for part in _safe_structure(root).walk():
        text = _body_text(part) or ""
        if with_headers:
            head = "".join(
                casemap(_utf8(h.name)) + _utf8(h.middle) + decode_words(h.value) + "\r\n"
                for h in part.headers
            )
            texts.append(head + "\r\n" + text)
        elif text:
            texts.append(text)
    return texts
