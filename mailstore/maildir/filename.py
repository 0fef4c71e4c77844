"""Maildir file names: base name, ``,S=``/``,W=`` sizes, ``:2,`` flags, and UID order.

Mirrors Dovecot's ``maildir-filename.c`` and ``maildir-filename-flags.c``.  A name is::

    <base>[:2,<flags>[,<more>]]          e.g. 1795886322.M223279P16578.vm,S=154,W=162:2,FRa

* the **base name** runs up to the first ``:`` and is the message's identity (the flags part
  changes by rename on every flag update);
* ``,S=<size>`` / ``,W=<vsize>`` inside the base give the physical and virtual (CRLF) size;
* the flags part follows the *last* ``:`` when it reads ``:2,``: ``D F R S T`` are system flags,
  ``a``-``z`` keyword letters (names in ``dovecot-keywords``), anything else (``P``) is kept
  when a name is rebuilt but means nothing to IMAP; a second ``,`` section is kept untouched;
* :func:`maildir_filename_sort_cmp` is the order in which Dovecot hands out UIDs to new files.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FLAG_LETTERS",
    "INFO_SEP",
    "LETTER_FOR_FLAG",
    "MaildirFilename",
    "base_name",
    "build_filename",
    "filename_sort_key",
    "flags_suffix",
    "get_size",
    "maildir_filename_sort_cmp",
    "parse_filename",
    "vsize_of",
]

#: Separates the base name from the info part (compile-time ``MAILDIR_INFO_SEP`` in Dovecot).
INFO_SEP = ":"

#: Maildir flag letters and the IMAP system flags they stand for.
FLAG_LETTERS: dict[str, str] = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
LETTER_FOR_FLAG: dict[str, str] = {flag: letter for letter, flag in FLAG_LETTERS.items()}

_KEYWORD_FIRST = "a"
_KEYWORD_LAST = "z"


@dataclass(frozen=True)
class MaildirFilename:
    """One parsed Maildir file name.

    ``flags`` holds IMAP system flags; ``keyword_letters`` the ``a``-``z`` letters in ASCII order;
    ``other_letters`` flag characters without IMAP meaning (``P``, unknown ones) in file order;
    ``extra`` a second ``,``-separated flag section after the flags, kept verbatim (without its
    leading comma); ``has_info`` whether a ``:2,`` part was present at all.
    """

    name: str
    base: str
    size: int | None
    vsize: int | None
    flags: frozenset[str]
    keyword_letters: str
    other_letters: str
    extra: str
    has_info: bool

    @property
    def keyword_indexes(self) -> tuple[int, ...]:
        """The keyword letters as ``dovecot-keywords`` indexes (``a`` = 0)."""
        return tuple(ord(c) - ord(_KEYWORD_FIRST) for c in self.keyword_letters)


def base_name(name: str) -> str:
    """The base name: everything up to the first ``:`` (Dovecot's ``maildir_filename_base_cmp``)."""
    return name.split(INFO_SEP, 1)[0]


def get_size(name: str, kind: str) -> int | None:
    """The ``,S=`` (``kind="S"``) or ``,W=`` value of ``name``, or None.

    Like ``maildir_filename_get_size``: only the first ``,<kind>=`` counts, and it must be
    followed by digits ending at ``,``, ``:`` or the end of the name.  Unlike Dovecot, an empty
    digit run (``,S=:``) is rejected instead of read as 0, so a broken name never claims size 0.
    """
    marker = f",{kind}="
    start = name.find(marker)
    if start < 0:
        return None
    pos = start + len(marker)
    end = pos
    while end < len(name) and "0" <= name[end] <= "9":
        end += 1
    if end == pos:
        return None
    if end < len(name) and name[end] not in (INFO_SEP, ","):
        return None
    return int(name[pos:end])


def parse_filename(name: str) -> MaildirFilename:
    """Split a Maildir file name into base, sizes and flags (never raises)."""
    base = base_name(name)
    flags: set[str] = set()
    keywords: set[str] = set()
    other: list[str] = []
    extra = ""
    info_at = name.rfind(INFO_SEP)
    has_info = info_at >= 0 and name[info_at + 1 : info_at + 3] == "2,"
    if has_info:
        letters = name[info_at + 3 :]
        letters, comma, rest = letters.partition(",")
        if comma:
            extra = rest
        for char in letters:
            if char in FLAG_LETTERS:
                flags.add(FLAG_LETTERS[char])
            elif _KEYWORD_FIRST <= char <= _KEYWORD_LAST:
                keywords.add(char)
            elif char not in other:
                other.append(char)
    return MaildirFilename(
        name=name,
        base=base,
        size=get_size(base, "S"),
        vsize=get_size(base, "W"),
        flags=frozenset(flags),
        keyword_letters="".join(sorted(keywords)),
        other_letters="".join(other),
        extra=extra,
        has_info=has_info,
    )


def flags_suffix(
    flags: Iterable[str], keyword_letters: Iterable[str] = (), other_letters: str = ""
) -> str:
    """The ``:2,<letters>`` suffix for the flags, letters in ASCII order (``:2,DTa``).

    Flags that have no Maildir letter (``\\Recent``, unknown) are left out.  The suffix is
    always returned, even when empty (``:2,``): callers decide whether a bare name is wanted.
    """
    letters = {LETTER_FOR_FLAG[f] for f in flags if f in LETTER_FOR_FLAG}
    for char in keyword_letters:
        if not (_KEYWORD_FIRST <= char <= _KEYWORD_LAST):
            raise ValueError(f"not a keyword letter: {char!r}")
        letters.add(char)
    letters.update(c for c in other_letters if c not in (",", INFO_SEP, "/"))
    return f"{INFO_SEP}2," + "".join(sorted(letters))


def build_filename(
    base: str, flags: Iterable[str] = (), keyword_letters: Iterable[str] = (), *, bare: bool = False
) -> str:
    """``base`` plus its flags suffix; with ``bare=True`` and nothing to say, just ``base``."""
    if INFO_SEP in base or "/" in base:
        raise ValueError(f"not a Maildir base name: {base!r}")
    suffix = flags_suffix(flags, keyword_letters)
    if bare and suffix == f"{INFO_SEP}2,":
        return base
    return base + suffix


def vsize_of(body: bytes) -> int:
    """The virtual size: the size once every LF not preceded by CR becomes CRLF."""
    return len(body) + body.count(b"\n") - body.count(b"\r\n")


def _leading_secs(name: bytes) -> tuple[int, int]:
    pos = 0
    while pos < len(name) and 0x30 <= name[pos] <= 0x39:
        pos += 1
    return (int(name[:pos]) if pos else 0), pos


def _usecs(rest: bytes) -> int | None:
    # After the seconds comes ".<uniqueness>.<host>": the first M in the uniqueness part
    # starts the microseconds (maildir_fname_get_usecs).
    if not rest.startswith(b"."):
        return None
    pos = 1
    while pos < len(rest) and rest[pos] not in b".:":
        char = rest[pos]
        pos += 1
        if char == ord("M"):
            usecs = 0
            while pos < len(rest) and 0x30 <= rest[pos] <= 0x39:
                usecs = usecs * 10 + rest[pos] - 0x30
                pos += 1
            return usecs
    return None


def _base_cmp(a: bytes, b: bytes) -> int:
    a = a.split(b":", 1)[0]
    b = b.split(b":", 1)[0]
    return (a > b) - (a < b)


def maildir_filename_sort_cmp(name1: str, name2: str) -> int:
    """Compare two file names the way Dovecot orders new files for UID assignment.

    Leading decimal seconds first, then the ``M<usecs>`` digits of the uniqueness part when both
    names have one, then the rest of the base names byte by byte (unsigned; Dovecot compares
    ``char``, signed on x86, which only differs for non-ASCII names).  Negative, 0 or positive.
    """
    raw1, raw2 = os.fsencode(name1), os.fsencode(name2)
    secs1, at1 = _leading_secs(raw1)
    secs2, at2 = _leading_secs(raw2)
    if secs1 != secs2:
        return -1 if secs1 < secs2 else 1
    rest1, rest2 = raw1[at1:], raw2[at2:]
    usecs1, usecs2 = _usecs(rest1), _usecs(rest2)
    if usecs1 is not None and usecs2 is not None and usecs1 != usecs2:
        return -1 if usecs1 < usecs2 else 1
    return _base_cmp(rest1, rest2)


#: ``sorted(names, key=filename_sort_key)`` sorts in :func:`maildir_filename_sort_cmp` order.
filename_sort_key: Callable[[str], Any] = functools.cmp_to_key(maildir_filename_sort_cmp)
