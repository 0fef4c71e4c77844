"""LARGER/SMALLER values as doveadm 2.3.19 parses them (``settings_get_size``).

>>> parse_size("10k"), parse_size("1 MB"), parse_size("10KiB"), parse_size("162")
(10240, 1048576, 10240, 162)

Digits, optional spaces, then an optional unit ``B``, ``K``, ``M``, ``G`` or ``T`` (any case);
after K/M/G/T an optional ``i`` and then an optional ``B``.  Multipliers are binary.  No sign,
no leading space, no fraction; at most 2**64-1 octets.
"""

from __future__ import annotations

from mailstore.errors import Kind, MailstoreError

__all__ = ["parse_size"]

_MULTIPLIERS = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_MAX = 2**64 - 1


def parse_size(text: str) -> int:
    """Octets in a size value; ``MailstoreError(PARAMS)`` with doveadm's reason if invalid."""
    pos = 0
    while pos < len(text) and "0" <= text[pos] <= "9":
        pos += 1
    if pos == 0 or int(text[:pos]) > _MAX:
        raise _invalid(text, "Invalid size")
    num = int(text[:pos])
    rest = text[pos:].lstrip(" ")
    multiply = _MULTIPLIERS.get(rest[:1].upper(), 1) if rest else 1
    if rest and rest[:1].upper() in _MULTIPLIERS:
        rest = rest[1:]
    if multiply > 1:
        if rest[:1] in ("i", "I"):
            rest = rest[1:]
        if rest[:1] in ("b", "B"):
            rest = rest[1:]
    if rest:
        raise _invalid(text, "Invalid size")
    if num > _MAX // multiply:
        raise _invalid(text, "Size is too large")
    return num * multiply


def _invalid(text: str, reason: str) -> MailstoreError:
    return MailstoreError(Kind.PARAMS, f"invalid size {text!r} (doveadm: {reason}: {text})")
