"""``dovecot-keywords``: the per-mailbox table of keyword letters ``a``-``z``.

Mirrors Dovecot's ``maildir-keywords.c``.  The file holds lines ``<idx> <name>`` with idx 0-25;
letter = ``chr(ord("a") + idx)``.  Reading follows Dovecot's rules: a line without a space, an
index that is not a plain decimal below 26, or an empty name is ignored; a name already seen
(ASCII case-insensitively, like Dovecot's ``strcase`` hash) is ignored; a later line for the same
index replaces the earlier one.  A letter without a name reads as ``unknown-<idx>``, the name
Dovecot makes up for it.

Writing (:func:`merge_keywords`) keeps every existing letter, gives new names the lowest free
indexes and replaces the file via ``dovecot-keywords.lock`` + rename while holding the mailbox's
``dovecot-uidlist.lock``, as Dovecot does.  Names beyond the 26 letters cannot be stored in file
names (Dovecot keeps them in its index only) and come back as *refused*.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from mailstore.errors import Kind, MailstoreError
from mailstore.maildir.lock import DotLock

__all__ = [
    "KEYWORDS_FILENAME",
    "MAX_KEYWORDS",
    "UIDLIST_LOCK_TARGET",
    "KeywordMerge",
    "format_keywords",
    "is_valid_keyword",
    "keywords_for_letters",
    "letter_for_index",
    "merge_keywords",
    "parse_keywords",
    "read_keywords",
]

KEYWORDS_FILENAME = "dovecot-keywords"
#: The file whose dotlock guards keyword (and uidlist) changes.
UIDLIST_LOCK_TARGET = "dovecot-uidlist"
MAX_KEYWORDS = 26
_ATOM_SPECIALS = set('(){%*"\\]')


def _fold(name: str) -> str:
    """ASCII-only lower case (Dovecot's strcasecmp), leaving other characters alone."""
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def letter_for_index(idx: int) -> str:
    if not 0 <= idx < MAX_KEYWORDS:
        raise ValueError(f"keyword index out of range: {idx}")
    return chr(ord("a") + idx)


def parse_keywords(text: str) -> dict[int, str]:
    """Parse ``dovecot-keywords`` contents into ``{index: name}``, skipping bad lines."""
    table: dict[int, str] = {}
    for line in text.split("\n"):
        idx_text, space, name = line.partition(" ")
        if not space or not name:
            continue
        if not idx_text.isascii() or not idx_text.isdigit():
            continue
        idx = int(idx_text)
        if idx >= MAX_KEYWORDS:
            continue
        folded = _fold(name)
        if any(_fold(other) == folded for i, other in table.items() if i != idx):
            continue
        table[idx] = name
    return table


def read_keywords(control_dir: str) -> dict[int, str]:
    """The ``{index: name}`` table of ``control_dir/dovecot-keywords``; ``{}`` if there is none."""
    path = os.path.join(control_dir, KEYWORDS_FILENAME)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as e:
        raise MailstoreError(Kind.INVALIDDATA, f"cannot read {path}: {e.strerror}") from e
    return parse_keywords(data.decode("utf-8", "surrogateescape"))


def format_keywords(table: dict[int, str]) -> bytes:
    """The file contents for a table, in index order (Dovecot's ``%u %s\\n`` lines)."""
    text = "".join(f"{idx} {table[idx]}\n" for idx in sorted(table))
    return text.encode("utf-8", "surrogateescape")


def keywords_for_letters(letters: str, table: dict[int, str]) -> tuple[str, ...]:
    """Keyword names for file-name letters; a letter with no name becomes ``unknown-<idx>``."""
    names: list[str] = []
    for char in letters:
        idx = ord(char) - ord("a")
        name = table.get(idx, f"unknown-{idx}")
        if name not in names:
            names.append(name)
    return tuple(names)


def is_valid_keyword(name: str) -> bool:
    """Whether Dovecot accepts ``name`` as a keyword: a non-empty IMAP atom."""
    if not name:
        return False
    for char in name:
        code = ord(char)
        if code <= 0x20 or code == 0x7F or char in _ATOM_SPECIALS:
            return False
    return True


@dataclass(frozen=True)
class KeywordMerge:
    """Outcome of :func:`merge_keywords`: ``letters`` maps each stored name (as asked) to its
    letter; ``refused`` lists names that are not valid keywords or found no free letter."""

    letters: dict[str, str] = field(default_factory=dict)
    refused: tuple[str, ...] = ()
    changed: bool = False


def _assign(table: dict[int, str], names: Iterable[str]) -> tuple[dict[str, str], list[str], bool]:
    by_fold = {_fold(name): idx for idx, name in table.items()}
    letters: dict[str, str] = {}
    refused: list[str] = []
    changed = False
    for name in names:
        if name in letters or name in refused:
            continue
        if not is_valid_keyword(name):
            refused.append(name)
            continue
        idx = by_fold.get(_fold(name))
        if idx is None:
            free = [i for i in range(MAX_KEYWORDS) if i not in table]
            if not free:
                refused.append(name)
                continue
            idx = free[0]
            table[idx] = name
            by_fold[_fold(name)] = idx
            changed = True
        letters[name] = letter_for_index(idx)
    return letters, refused, changed


def merge_keywords(
    control_dir: str,
    names: Iterable[str],
    *,
    uid: int | None = None,
    gid: int | None = None,
    lock_timeout: float = 122.0,
) -> KeywordMerge:
    """Give every name in ``names`` a letter in ``control_dir/dovecot-keywords``.

    Existing names keep their letters (matched ASCII case-insensitively, as Dovecot does); new
    ones take the lowest free index.  The file is rewritten only if something was added, under
    ``dovecot-uidlist.lock``, via ``dovecot-keywords.lock`` + rename; its mtime is made to grow,
    because Dovecot re-reads the file only when its mtime changes.  ``uid``/``gid`` own the new
    file when running as root.
    """
    wanted = list(names)
    table = read_keywords(control_dir)
    letters, refused, changed = _assign(dict(table), wanted)
    if not changed:
        return KeywordMerge(letters, tuple(refused), False)
    path = os.path.join(control_dir, KEYWORDS_FILENAME)
    with DotLock(os.path.join(control_dir, UIDLIST_LOCK_TARGET), timeout=lock_timeout):
        # Re-read under the lock: another writer may have added names meanwhile.
        table = read_keywords(control_dir)
        try:
            old_mtime: float | None = os.stat(path).st_mtime
        except FileNotFoundError:
            old_mtime = None
        letters, refused, changed = _assign(table, wanted)
        if changed:
            with DotLock(path, timeout=lock_timeout, stale_timeout=0.0, uid=uid, gid=gid) as kw:
                kw.replace(format_keywords(table))
            if old_mtime is not None and os.stat(path).st_mtime <= old_mtime:
                bumped = int(old_mtime) + 1
                os.utime(path, (bumped, bumped))
    return KeywordMerge(letters, tuple(refused), changed)
