"""Parse doveadm search query words into a tree of :mod:`mailstore.search.nodes`.

Grammar (doveadm-search-query(7), ``mail-search-build.c``):

* every argv word is one token; ``(`` and ``)`` must be words of their own;
* keys are case-insensitive, values are taken as given;
* items of a list are ANDed; ``NOT`` negates the next key or group;
* ``OR`` turns the *enclosing list* into an OR list.  Once a list has become
  an OR list, every later item must also be introduced by ``OR``: ``A B OR C``
  is OR(A, B, C), while ``A OR B C`` and IMAP's prefix ``OR A B`` are errors.

Keys (doveadm's human register over the IMAP one, as in 2.3.19): ALL, flag keys,
RECENT/OLD/NEW, KEYWORD/UNKEYWORD, MAILBOX, X-MAILBOX (mUTF-7, always a glob),
MAILBOX-GUID, GUID/X-GUID, sequence sets (any word starting with a digit or ``*``),
UID, BEFORE/ON/SINCE with SENT…/SAVED…/X-SAVED… variants, SAVEDATESUPPORTED,
OLDER/YOUNGER, LARGER/SMALLER, FROM/TO/CC/BCC/SUBJECT/HEADER, BODY/TEXT.  Keys that
mean nothing to a one-shot import are refused with the reason
(:data:`UNSUPPORTED_KEYS`); 2.3.19 has no X-BODY-FAST/X-TEXT-FAST, so neither do we.
Relative dates are resolved against a clock read once, at parse time.

The tree is normalised: single-item lists collapse, nested lists of the same
kind are flattened and ``NOT NOT x`` is ``x``.  Every error is
``MailstoreError(Kind.PARAMS, …)`` naming the offending word and, where doveadm
has one, its own message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from mailstore.errors import Kind, MailstoreError
from mailstore.mutf7 import decode_mutf7
from mailstore.search.dates import DateOp, parse_search_date
from mailstore.search.messagekeys import (
    ADDRESS_FIELDS,
    BodyKey,
    DateKey,
    HeaderKey,
    IntervalKey,
    SaveDateSupportedKey,
    SizeKey,
)
from mailstore.search.nodes import (
    FLAG_KEYS,
    All,
    And,
    FlagKey,
    GuidKey,
    KeywordKey,
    MailboxGuidKey,
    MailboxKey,
    Node,
    Not,
    Or,
    RecentKey,
    SeqSetKey,
    UidSetKey,
    XMailboxKey,
)
from mailstore.search.seqset import parse_seqset
from mailstore.search.sizes import parse_size

__all__ = ["UNSUPPORTED_KEYS", "parse_words"]

#: Keys doveadm 2.3.19 accepts that make no sense for a one-shot import, and why.
UNSUPPORTED_KEYS: dict[str, str] = {
    "MODSEQ": "modification sequences live in the source's index, which an import neither "
    "reads nor carries over",
    "FUZZY": "fuzzy matching needs a full-text search index",
    "INTHREAD": "it needs the whole mailbox threaded first",
    "MIMEPART": "MIME part searches (SEARCH=MIMEPART) are an IMAP session feature",
    "X-REAL-UID": "it names UIDs in the backend mailboxes of a virtual mailbox, and an import "
    "source has no virtual mailboxes",
    "$": "SEARCHRES ($) is the saved result of an earlier SEARCH in the same IMAP session",
    "OLDESTONLY": "it stops the search at the first message that does not match (an "
    "optimisation for doveadm expunge), which needs each mailbox searched in order",
}

#: BEFORE/ON/SINCE with their SENT, SAVED and X-SAVED variants -> (comparison, date field).
_DATE_KEYS: dict[str, tuple[DateOp, str]] = {
    f"{prefix}{op.value}": (op, field)
    for prefix, field in (
        ("", "received"),
        ("SENT", "sent"),
        ("SAVED", "saved"),
        ("X-SAVED", "saved"),
    )
    for op in DateOp
}

# IMAP atom-specials (RFC 3501) that may not appear in a keyword, besides CTL and 8-bit.
_KEYWORD_SPECIALS = frozenset('(){ %*"\\]')


def parse_words(words: Sequence[str], now: float | None = None) -> Node:
    """The normalised tree for ``words``; raises MailstoreError(PARAMS) when invalid.

    ``now`` (Unix seconds, default: the clock, read once) resolves intervals such as
    ``SINCE 30d`` and ``OLDER 3600``, as doveadm resolves them when it parses the query.
    """
    if not words:
        raise MailstoreError(Kind.PARAMS, "empty search query")
    return _Parser(list(words), time.time() if now is None else now).parse()


class _ListState:
    """Per-item scratch: whether ``OR`` introduced the item being parsed."""

    __slots__ = ("saw_or",)

    def __init__(self) -> None:
        self.saw_or = False


class _Parser:
    def __init__(self, words: list[str], now: float) -> None:
        self.words = words
        self.pos = 0
        self.now = int(now)

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
        if key in ("RECENT", "OLD"):
            return RecentKey(key == "RECENT")
        if key == "NEW":
            return And((RecentKey(True), FlagKey("\\Seen", False)))
        if key in ("KEYWORD", "UNKEYWORD"):
            keyword = self._value(key)
            _check_keyword(keyword)
            return KeywordKey(keyword, key == "KEYWORD")
        if key == "MAILBOX":
            return MailboxKey(self._utf8_value(key))
        if key in UNSUPPORTED_KEYS:
            raise self._error(
                f"search key {key!r} is not supported by mailbeam import: {UNSUPPORTED_KEYS[key]}"
            )
        if key in _DATE_KEYS:
            op, field = _DATE_KEYS[key]
            text = self._value(key)
            try:
                value = parse_search_date(text, self.now)
            except MailstoreError as e:
                raise self._error(f"{key}: {e}") from e
            return DateKey(op, field, text, value)
        parse = _VALUE_KEYS.get(key)
        if parse is not None:
            return parse(self, key)
        if word[:1].isdigit() or word.startswith("*"):
            ranges = parse_seqset(word)
            if ranges is None:
                raise self._error(
                    f"invalid message sequence set {word!r} (doveadm: Invalid messageset)"
                )
            return SeqSetKey(word, ranges)
        raise self._error(f"unknown search key {key!r} (doveadm: Unknown argument {key})")

    def _uid(self, key: str) -> Node:
        text = self._value(key)
        if text == "$":
            raise self._error(
                f"search key 'UID $' is not supported by mailbeam import: {UNSUPPORTED_KEYS['$']}"
            )
        ranges = parse_seqset(text)
        if ranges is None:
            raise self._error(f"invalid UID set {text!r} (doveadm: Invalid UID messageset)")
        return UidSetKey(text, ranges)

    def _interval(self, key: str) -> Node:
        text = self._value(key)
        # str_to_uint32(): digits only, and 0 is refused too
        seconds = int(text) if text.isascii() and text.isdigit() else 0
        if not 0 < seconds < 2**32:
            raise self._error(
                f"invalid interval {text!r} for {key}: a positive number of seconds "
                "(doveadm: Invalid search interval parameter)"
            )
        return IntervalKey(key == "OLDER", seconds, self.now - seconds)

    def _size(self, key: str) -> Node:
        text = self._value(key)
        try:
            size = parse_size(text)
        except MailstoreError as e:
            raise self._error(f"{key}: {e}") from e
        return SizeKey(key == "LARGER", text, size)

    def _guid(self, key: str) -> Node:
        return GuidKey(self._value(key))

    def _mailbox_guid(self, key: str) -> Node:
        return MailboxGuidKey(self._value(key))

    def _x_mailbox(self, key: str) -> Node:
        text = self._value(key)
        try:
            name = decode_mutf7(text)
        except MailstoreError as e:
            raise self._error(f"{key} name {text!r} is not mUTF-7 ({e})") from e
        return XMailboxKey(text, name)

    def _savedatesupported(self, key: str) -> Node:
        return SaveDateSupportedKey()

    def _header(self, key: str) -> Node:
        if key == "HEADER":
            field = self._utf8_value(key)
            return HeaderKey(key, field, self._utf8_value(f"HEADER {field}"))
        return HeaderKey(key, key.lower(), self._utf8_value(key))

    def _body(self, key: str) -> Node:
        return BodyKey(key == "TEXT", self._utf8_value(key))

    def _utf8_value(self, key: str) -> str:
        value = self._value(key)
        _check_utf8(value, key)
        return value

    def _value(self, key: str) -> str:
        value = self._next()
        if value is None:
            raise self._error(f"missing value for {key}")
        return value


_VALUE_KEYS: dict[str, Callable[[_Parser, str], Node]] = {
    "UID": _Parser._uid,
    "OLDER": _Parser._interval,
    "YOUNGER": _Parser._interval,
    "LARGER": _Parser._size,
    "SMALLER": _Parser._size,
    "GUID": _Parser._guid,
    "X-GUID": _Parser._guid,
    "MAILBOX-GUID": _Parser._mailbox_guid,
    "X-MAILBOX": _Parser._x_mailbox,
    "SAVEDATESUPPORTED": _Parser._savedatesupported,
    **{key: _Parser._header for key in (*ADDRESS_FIELDS, "SUBJECT", "HEADER")},
    "BODY": _Parser._body,
    "TEXT": _Parser._body,
}


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
        raise MailstoreError(Kind.PARAMS, f"{key} value {value!r} is not valid UTF-8") from None
