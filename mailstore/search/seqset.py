"""IMAP message sets (``1:10,*``) as Dovecot 2.3.19's ``imap_seq_set_parse`` reads them.

>>> parse_seqset("5:3,*,1,")
((1, 1), (3, 5), (4294967295, 4294967295))

A set is a tuple of sorted, merged ``(first, last)`` ranges.  ``*`` is :data:`STAR`
(2**32-1).  Quirks kept from Dovecot: numbers wrap modulo 2**32 (``4294967297`` is 1, and a
number that wraps to 0 is invalid), a literal ``4294967295`` becomes 4294967294, ``n:m`` may
be given either way round, and a trailing comma is accepted.  An empty string is an empty set.
"""

from __future__ import annotations

__all__ = ["STAR", "parse_seqset", "seqset_contains"]

STAR = 0xFFFFFFFF

SeqSet = tuple[tuple[int, int], ...]


def parse_seqset(text: str) -> SeqSet | None:
    """The ranges of ``text``, or None when Dovecot would say "Invalid messageset"."""
    ranges: list[tuple[int, int]] = []
    pos = 0
    while pos < len(text):
        first, pos = _number(text, pos)
        last = first
        if text.startswith(":", pos):
            last, pos = _number(text, pos + 1)
        if first is None or last is None:
            return None
        ranges.append((min(first, last), max(first, last)))
        if text.startswith(",", pos):
            pos += 1
        elif pos < len(text):
            return None
    return _merge(ranges)


def _number(text: str, pos: int) -> tuple[int | None, int]:
    if text.startswith("*", pos):
        return STAR, pos + 1
    num = 0
    while pos < len(text) and "0" <= text[pos] <= "9":
        num = (num * 10 + ord(text[pos]) - ord("0")) & 0xFFFFFFFF
        pos += 1
    if num == STAR:
        num -= 1
    return (num or None), pos


def _merge(ranges: list[tuple[int, int]]) -> SeqSet:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


def seqset_contains(ranges: SeqSet, number: int) -> bool:
    """Whether ``number`` is in one of the ranges."""
    return any(first <= number <= last for first, last in ranges)
