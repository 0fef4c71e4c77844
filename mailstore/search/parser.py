"""Parse doveadm search query words into a tree of :mod:`mailstore.search.nodes`.

Grammar (doveadm-search-query(7), ``mail-search-build.c``):

* every argv word is one token; ``(`` and ``)`` must be words of their own;
* keys are case-insensitive, values are taken as given;
* items of a list are ANDed; ``NOT`` negates the next key or group;
* ``OR`` turns the *enclosing list* into an OR list.  Once a list has become
  an OR list, every later item must also be introduced by ``OR``: ``A B OR C``
  is OR(A, B, C), while ``A OR B C`` and IMAP's prefix ``OR A B`` are errors.

The tree is normalised: single-item lists collapse, nested lists of the same
kind are flattened and ``NOT NOT x`` is ``x``.  Every error is
``MailstoreError(Kind.PARAMS, …)`` naming the offending word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailstore.errors import Kind, MailstoreError
from mailstore.search.nodes import (
    FLAG_KEYS,
    All,
    And,
    FlagKey,
    KeywordKey,
    MailboxKey,
    Node,
    Not,
    Or,
)

__all__ = ["UNSUPPORTED_KEYS", "parse_words"]

#: Keys doveadm knows that this implementation does not evaluate yet.
UNSUPPORTED_KEYS = frozenset(
    {
        "UID", "RECENT", "NEW", "OLD",
        "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE",
        "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE",
        "X-SAVEDBEFORE", "X-SAVEDON", "X-SAVEDSINCE", "SAVEDATESUPPORTED",
        "OLDER", "YOUNGER", "LARGER", "SMALLER",
        "FROM", "TO", "CC", "BCC", "SUBJECT", "HEADER", "BODY", "TEXT",
        "X-BODY-FAST", "X-TEXT-FAST",
        "MAILBOX-GUID", "X-MAILBOX", "GUID", "X-GUID", "X-REAL-UID",
        "OLDESTONLY", "MODSEQ", "FUZZY", "MIMEPART", "INTHREAD",
    }
)  # fmt: skip

# An IMAP sequence set: numbers or "*", "n:m" ranges, comma-separated.
_SEQ_SET = re.compile(r"(?:\d+|\*)(?::(?:\d+|\*))?(?:,(?:\d+|\*)(?::(?:\d+|\*))?)*")

# IMAP atom-specials (RFC 3501) that may not appear in a keyword, besides CTL and 8-bit.
_KEYWORD_SPECIALS = frozenset('(){ %*"\\]')


def parse_words(words: Sequence[str]) -> Node:
    """The normalised tree for ``words``; raises MailstoreError(PARAMS) when invalid."""
    if not words:
        raise MailstoreError(Kind.PARAMS, "empty search query")
    return _Parser(list(words)).parse()


class _ListState:
    """Per-item scratch: whether ``OR`` introduced the item being parsed."""

    __slots__ = ("saw_or",)

    def __init__(self) -> None:
        self.saw_or = False


class _Parser:
    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.pos = 0

    def parse(self) -> Node:
        return self._parse_list(opener=None)

    def _error(self, message: str) -> MailstoreError:
        return MailstoreError(Kind.PARAMS, message)

    def _next(self) -> str | None:
        if self.pos >= len(self.words):
            return None
        word = self.words[self.pos]
        self.pos += 1
        return word

    def _parse_list(self, opener: int | None) -> Node:
        """Items up to the matching ``)`` (or the end when ``opener`` is None)."""
        items: list[Node] = []
        is_or: bool | None = None  # None: no item yet decided the list type
        while True:
            if self.pos >= len(self.words):
                if opener is not None:
                    raise self._error(f"missing ')' for '(' at word {opener + 1}")
                break
            word = self.words[self.pos]
            if word == ")":
                if opener is None:
                    raise self._error(f"unexpected ')' at word {self.pos + 1}")
                self.pos += 1
                break
            start = self.pos
            state = _ListState()
            item = self._parse_key(state)
            if is_or is None or (is_or is False and state.saw_or):
                is_or = state.saw_or
            elif is_or != state.saw_or:
                raise self._error(
                    f"Use parenthesis when mixing ANDs and ORs (at {self.words[start]!r}, "
                    f"word {start + 1})"
                )
            items.append(item)
        if not items:
            if opener is None:
                raise self._error("empty search query")
            raise self._error(f"No search parameters inside list: '( )' at word {opener + 1}")
        return _make_list(items, bool(is_or))

    def _parse_key(self, state: _ListState) -> Node:
        index = self.pos
        word = self._next()
        if word is None or word == ")":
            raise self._error("missing search key at end of query")
        if word == "(":
            return self._parse_list(opener=index)
        key = word.upper()
        if key == "NOT":
            if self.pos >= len(self.words) or self.words[self.pos] == ")":
                raise self._error(f"missing search key after NOT at word {index + 1}")
            return _negate(self._parse_key(state))
        if key == "OR":
            if self.pos >= len(self.words) or self.words[self.pos] == ")":
                raise self._error(f"missing search key after OR at word {index + 1}")
            state.saw_or = True
            return self._parse_key(state)
        if key == "ALL":
            return All()
        if key in FLAG_KEYS:
            flag, is_set = FLAG_KEYS[key]
            return FlagKey(flag, is_set)
        if key in ("KEYWORD", "UNKEYWORD"):
            keyword = self._value(key)
            _check_keyword(keyword)
            return KeywordKey(keyword, key == "KEYWORD")
        if key == "MAILBOX":
            name = self._value(key)
            _check_utf8(name, key)
            return MailboxKey(name)
        if key in UNSUPPORTED_KEYS:
            raise self._error(f"search key {key!r} is not supported yet")
        if word[:1].isdigit() or word.startswith("*"):
            if not _SEQ_SET.fullmatch(word):
                raise self._error(f"invalid message sequence set {word!r}")
            raise self._error(f"search key {word!r} (sequence set) is not supported yet")
        raise self._error(f"unknown search key {key!r} (doveadm: Unknown argument {key})")

    def _value(self, key: str) -> str:
        value = self._next()
        if value is None:
            raise self._error(f"missing value for {key}")
        return value


def _make_list(items: list[Node], is_or: bool) -> Node:
    kind: type[And | Or] = Or if is_or else And
    flat: list[Node] = []
    for item in items:
        if isinstance(item, kind):
            flat.extend(item.items)
        else:
            flat.append(item)
    if len(flat) == 1:
        return flat[0]
    return kind(tuple(flat))


def _negate(node: Node) -> Node:
    return node.item if isinstance(node, Not) else Not(node)


def _check_keyword(keyword: str) -> None:
    if not keyword:
        raise MailstoreError(Kind.PARAMS, "Empty keywords not allowed (KEYWORD '')")
    for ch in keyword:
        if ch in _KEYWORD_SPECIALS or ord(ch) <= 0x20 or ord(ch) >= 0x7F:
            raise MailstoreError(
                Kind.PARAMS, f"Invalid characters in keyword {keyword!r} (not an IMAP atom)"
            )


def _check_utf8(value: str, key: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MailstoreError(Kind.PARAMS, f"{key} name {value!r} is not valid UTF-8") from None
