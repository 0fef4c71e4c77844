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

This module is the API; the work is done in :mod:`~mailstore.search.casemap`,
:mod:`~mailstore.search.headers` (header lines), :mod:`~mailstore.search.addresses`,
:mod:`~mailstore.search.mimetext` (RFC 2047, MIME parts, transfer encodings and charsets) and
:mod:`~mailstore.search.sentdate`, on the tokenizer in :mod:`~mailstore.search.rfc822`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mailstore.search.addresses import render_addresses as _render_addresses
from mailstore.search.casemap import casemap
from mailstore.search.headers import split_header
from mailstore.search.mimetext import decode_words, part_texts
from mailstore.search.sentdate import parse_date

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
_UINT32 = 1 << 32


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
        self.headers, self._offset = split_header(data)
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
            body = self._data[self._offset :]
            self._texts[with_headers] = part_texts(self.headers, body, with_headers)
        return self._texts[with_headers]


def _header_match(
    msg: ParsedMessage, field: str, needle: str, render: Callable[[bytes], bytes] | None = None
) -> bool:
    values = msg.values(field)
    if not needle:
        return bool(values)
    wanted = casemap(needle)
    return any(wanted in decode_words(render(v) if render else v) for v in values)


def _part_match(msg: ParsedMessage, needle: str, with_headers: bool) -> bool:
    """BODY (or TEXT, ``with_headers``): ``needle`` in one part's text; '' matches all."""
    wanted = casemap(needle)
    return not needle or any(wanted in text for text in msg.part_texts(with_headers))


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
    return _part_match(msg, needle, with_headers=False)


def match_text(msg: ParsedMessage, needle: str) -> bool:
    """TEXT: like BODY, plus each part's header lines as ``Name: value``; '' matches all."""
    return _part_match(msg, needle, with_headers=True)


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
    parsed = parse_date(values[0]) if values else None
    if parsed is None:
        return None
    seconds, zone = parsed
    return seconds % _UINT32, zone * 60
