"""Dovecot's ``i;unicode-casemap`` comparator normaliser (``uni_utf8_to_decomposed_titlecase``).

Every string search in :mod:`mailstore.search.text` compares needle and text after both went
through :func:`casemap`::

    >>> casemap("Straße"), casemap("ärger") == "A\\u0308RGER"
    ('STRAßE', True)
"""

from __future__ import annotations

import unicodedata

__all__ = ["casemap"]


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
