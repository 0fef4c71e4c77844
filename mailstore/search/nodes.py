"""The search query tree: one frozen dataclass per key family.

Every node answers three questions:

* ``matches(msg)`` -- does this message match (two-valued);
* ``matches_mailbox(vname, separator)`` -- knowing only the mailbox name,
  does it match: ``True``/``False``, or ``None`` when that needs the message
  (three-valued, used to skip whole mailboxes);
* ``need()`` -- the most expensive data evaluation reads (:class:`Need`).

``words()`` renders the node back into argv words that parse to the same
tree; ``str()`` of a :class:`~mailstore.search.query.Query` joins them.
Nodes hold only strings, booleans and tuples so that a query pickles.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from mailstore.search.glob import mailbox_name_matches
from mailstore.search.message import MessageView

__all__ = [
    "FLAG_KEYS",
    "All",
    "And",
    "FlagKey",
    "KeywordKey",
    "MailboxKey",
    "Need",
    "Node",
    "Not",
    "Or",
    "quote_word",
]


class Need(enum.IntEnum):
    """What a query must read about a message, cheapest first."""

    MAILBOX = 0  # the mailbox name alone
    METADATA = 1  # flags, keywords, dates, sizes, UIDs: what a listing gives
    HEADERS = 2  # the header block
    BODY = 3  # the whole message


#: Flag key -> (IMAP system flag, whether the key wants it set).
FLAG_KEYS: dict[str, tuple[str, bool]] = {
    "ANSWERED": ("\\Answered", True),
    "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True),
    "UNDELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", True),
    "UNDRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", True),
    "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True),
    "UNSEEN": ("\\Seen", False),
}
_FLAG_KEY_NAMES = {value: key for key, value in FLAG_KEYS.items()}

_ATOM_SPECIALS = frozenset('(){ %*"\\]')


def quote_word(value: str) -> str:
    """``value`` as it would be typed: bare when it is a plain atom, else double-quoted."""
    if value and not any(c in _ATOM_SPECIALS or c == "'" or ord(c) < 0x21 for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class Node:
    """Base of all query nodes."""

    #: What evaluating this node itself reads (lists take the maximum of their children).
    NEED: ClassVar[Need] = Need.METADATA

    def matches(self, msg: MessageView) -> bool:
        raise NotImplementedError

    def matches_mailbox(self, vname: str, separator: str) -> bool | None:
        """Three-valued: the default is "cannot tell from the name alone"."""
        return None

    def need(self) -> Need:
        return self.NEED

    def words(self, quote: bool = False) -> tuple[str, ...]:
        """Argv words that parse back to this node; ``quote`` quotes values for display."""
        raise NotImplementedError

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True)
class All(Node):
    """``ALL``: every message."""

    NEED: ClassVar[Need] = Need.MAILBOX

    def matches(self, msg: MessageView) -> bool:
        return True

    def matches_mailbox(self, vname: str, separator: str) -> bool | None:
        return True

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("ALL",)


@dataclass(frozen=True)
class And(Node):
    """Implicit AND of a list (the top level, or ``( … )``)."""

    items: tuple[Node, ...]

    def matches(self, msg: MessageView) -> bool:
        return all(item.matches(msg) for item in self.items)

    def matches_mailbox(self, vname: str, separator: str) -> bool | None:
        result: bool | None = True
        for item in self.items:
            value = item.matches_mailbox(vname, separator)
            if value is False:
                return False
            if value is None:
                result = None
        return result

    def need(self) -> Need:
        return max((item.need() for item in self.items), default=Need.MAILBOX)

    def children(self) -> tuple[Node, ...]:
        return self.items

    def words(self, quote: bool = False) -> tuple[str, ...]:
        out: list[str] = []
        for item in self.items:
            out.extend(_grouped(item, quote) if isinstance(item, Or) else item.words(quote))
        return tuple(out)


@dataclass(frozen=True)
class Or(Node):
    """A list that contained ``OR``: any item matches."""

    items: tuple[Node, ...]

    def matches(self, msg: MessageView) -> bool:
        return any(item.matches(msg) for item in self.items)

    def matches_mailbox(self, vname: str, separator: str) -> bool | None:
        result: bool | None = False
        for item in self.items:
            value = item.matches_mailbox(vname, separator)
            if value is True:
                return True
            if value is None:
                result = None
        return result

    def need(self) -> Need:
        return max((item.need() for item in self.items), default=Need.MAILBOX)

    def children(self) -> tuple[Node, ...]:
        return self.items

    def words(self, quote: bool = False) -> tuple[str, ...]:
        out: list[str] = []
        for i, item in enumerate(self.items):
            if i:
                out.append("OR")
            out.extend(_grouped(item, quote) if isinstance(item, And) else item.words(quote))
        return tuple(out)


@dataclass(frozen=True)
class Not(Node):
    """``NOT key``."""

    item: Node

    def matches(self, msg: MessageView) -> bool:
        return not self.item.matches(msg)

    def matches_mailbox(self, vname: str, separator: str) -> bool | None:
        value = self.item.matches_mailbox(vname, separator)
        return None if value is None else not value

    def need(self) -> Need:
        return self.item.need()

    def children(self) -> tuple[Node, ...]:
        return (self.item,)

    def words(self, quote: bool = False) -> tuple[str, ...]:
        inner = self.item
        grouped = isinstance(inner, And | Or)
        return ("NOT", *(_grouped(inner, quote) if grouped else inner.words(quote)))


@dataclass(frozen=True)
class MailboxKey(Node):
    """``MAILBOX name``: exact name (INBOX case-insensitive) or ``*``/``%`` glob."""

    NEED: ClassVar[Need] = Need.MAILBOX

    pattern: str

    def matches(self, msg: MessageView) -> bool:
        return mailbox_name_matches(self.pattern, msg.vname, msg.separator)

    def matches_mailbox(self, vname: str, separator: str) -> bool | None:
        return mailbox_name_matches(self.pattern, vname, separator)

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("MAILBOX", _value(self.pattern, quote))


@dataclass(frozen=True)
class FlagKey(Node):
    """``SEEN``/``UNSEEN`` and the other system-flag keys: ``flag`` set (or not)."""

    flag: str  # "\\Seen", "\\Answered", ...
    is_set: bool

    def matches(self, msg: MessageView) -> bool:
        return (self.flag in msg.flags) == self.is_set

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return (_FLAG_KEY_NAMES[(self.flag, self.is_set)],)


@dataclass(frozen=True)
class KeywordKey(Node):
    """``KEYWORD kw`` / ``UNKEYWORD kw``; names compare ASCII case-insensitively."""

    keyword: str
    is_set: bool

    def matches(self, msg: MessageView) -> bool:
        wanted = _ascii_lower(self.keyword)
        present = any(_ascii_lower(kw) == wanted for kw in msg.keywords)
        return present == self.is_set

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("KEYWORD" if self.is_set else "UNKEYWORD", _value(self.keyword, quote))


def _grouped(node: Node, quote: bool) -> tuple[str, ...]:
    return ("(", *node.words(quote), ")")


def _value(value: str, quote: bool) -> str:
    return quote_word(value) if quote else value


def _ascii_lower(text: str) -> str:
    # str.lower() folds some non-ASCII letters onto ASCII ones (KELVIN SIGN -> "k").
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
