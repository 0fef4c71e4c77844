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

import abc
import enum
from dataclasses import dataclass
from typing import ClassVar

from mailstore.errors import Kind, MailstoreError
from mailstore.search.glob import is_glob, mailbox_name_matches
from mailstore.search.message import MessageView
from mailstore.search.seqset import STAR, SeqSet, seqset_contains

__all__ = [
    "FLAG_KEYS",
    "All",
    "And",
    "FlagKey",
    "GuidKey",
    "KeywordKey",
    "MailboxGuidKey",
    "MailboxKey",
    "Need",
    "Node",
    "Not",
    "Or",
    "RecentKey",
    "SeqSetKey",
    "UidSetKey",
    "XMailboxKey",
    "quote_word",
]


class Need(enum.IntEnum):
    """What a query must read about a message, cheapest first."""

    MAILBOX = 0  # the mailbox name alone
    METADATA = 1  # flags, keywords, received/save dates, UIDs, GUIDs: what a listing gives
    SIZE = 2  # metadata, plus the text when the source does not know the virtual size
    HEADERS = 3  # the header block
    BODY = 4  # the whole message


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


class Node(abc.ABC):
    """Base of all query nodes."""

    #: What evaluating this node itself reads (lists take the maximum of their children).
    NEED: ClassVar[Need] = Need.METADATA

    @abc.abstractmethod
    def matches(self, msg: MessageView) -> bool:
        """Whether the message matches this node."""

    def matches_mailbox(self, vname: str, separator: str) -> bool | None:
        """Three-valued: the default is "cannot tell from the name alone"."""
        return None

    def need(self) -> Need:
        return self.NEED

    @abc.abstractmethod
    def words(self, quote: bool = False) -> tuple[str, ...]:
        """Argv words that parse back to this node; ``quote`` quotes values for display."""

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
class _List(Node):
    """A list of search keys (And, Or): needs what its items need."""

    items: tuple[Node, ...]

    def need(self) -> Need:
        return max((item.need() for item in self.items), default=Need.MAILBOX)

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True)
class And(_List):
    """Implicit AND of a list (the top level, or ``( … )``)."""

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

    def words(self, quote: bool = False) -> tuple[str, ...]:
        out: list[str] = []
        for item in self.items:
            out.extend(_grouped(item, quote) if isinstance(item, Or) else item.words(quote))
        return tuple(out)


@dataclass(frozen=True)
class Or(_List):
    """A list that contained ``OR``: any item matches."""

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


@dataclass(frozen=True)
class XMailboxKey(Node):
    """``X-MAILBOX name``: the mUTF-7 ``text`` decoded to ``pattern``, always matched as a glob.

    Without ``*``/``%`` a glob is still not an exact name: the leading INBOX component
    ignores case (``x-mailbox inbox.sub`` finds ``INBOX.sub``; ``mailbox inbox.sub`` does not).
    """

    NEED: ClassVar[Need] = Need.MAILBOX

    text: str
    pattern: str

    def matches(self, msg: MessageView) -> bool:
        return glob_matches(self.pattern, msg.vname, msg.separator)

    def matches_mailbox(self, vname: str, separator: str) -> bool | None:
        return glob_matches(self.pattern, vname, separator)

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("X-MAILBOX", _value(self.text, quote))


@dataclass(frozen=True)
class MailboxGuidKey(Node):
    """``MAILBOX-GUID g``: the mailbox GUID equals ``g`` (lower-case hex, compared exactly).

    A mailbox without a recorded GUID never matches: Dovecot would give it a new, random one.
    """

    guid: str

    def matches(self, msg: MessageView) -> bool:
        return msg.mailbox_guid is not None and msg.mailbox_guid == self.guid

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("MAILBOX-GUID", _value(self.guid, quote))


@dataclass(frozen=True)
class RecentKey(Node):
    """``RECENT`` (``is_set``) and ``OLD``: ``\\Recent`` as the first ``doveadm import`` sees it.

    Observed on 2.3.19.1 with a fresh copy of a Maildir (no index): doveadm never drops
    ``\\Recent`` (only an IMAP session does), and Dovecot building the index marks recent
    exactly the files ``dovecot-uidlist`` does not list -- every message when there is no
    uidlist, in ``new/`` and ``cur/`` alike -- and a second search of the same copy sees the
    same.  :attr:`MessageView.recent` carries that; ``NEW`` is ``RECENT UNSEEN``.
    """

    is_set: bool

    def matches(self, msg: MessageView) -> bool:
        return msg.recent == self.is_set

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("RECENT" if self.is_set else "OLD",)


@dataclass(frozen=True)
class GuidKey(Node):
    """``GUID g`` / ``X-GUID g``: the message GUID equals ``g`` exactly (case-sensitive)."""

    guid: str

    def matches(self, msg: MessageView) -> bool:
        return msg.guid is not None and msg.guid == self.guid

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("GUID", _value(self.guid, quote))


@dataclass(frozen=True)
class SeqSetKey(Node):
    """A message sequence set (``1:10,*``), numbered per mailbox from 1 in UID order.

    ``*`` is the last message, and a range ending in ``*`` always includes it (``9:*`` in a
    mailbox of 7 is message 7).  doveadm 2.3.19 goes on to overwrite the set with what it
    found in the first mailbox it searched, so its later mailboxes see that mailbox's
    numbers (``doveadm search '*'`` finds only the last message of the first mailbox listed);
    every mailbox here is searched the way doveadm searches its first one.
    """

    text: str
    ranges: SeqSet

    def matches(self, msg: MessageView) -> bool:
        seq = msg.position + 1
        if seqset_contains(self.ranges, seq):
            return True
        if not self.ranges or self.ranges[-1][1] != STAR:
            return False
        if msg.mailbox_count < seq:
            raise MailstoreError(
                Kind.INVALIDDATA,
                f"message {msg.guid or msg.position} in {msg.vname!r}: the mailbox's "
                f"message count is needed for {self.text!r}",
            )
        return seq == msg.mailbox_count

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return (_value(self.text, quote),)


@dataclass(frozen=True)
class UidSetKey(Node):
    """``UID set``: the message UID is in the set.

    As in doveadm 2.3.19 (which never maps ``*`` to the highest UID), ``*`` is 2**32-1: ``n:*``
    is every UID from n on, and ``UID *`` alone matches nothing.
    """

    text: str
    ranges: SeqSet

    def matches(self, msg: MessageView) -> bool:
        return msg.uid is not None and seqset_contains(self.ranges, msg.uid)

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("UID", _value(self.text, quote))


def glob_matches(pattern: str, vname: str, separator: str) -> bool:
    """IMAP glob match, also when ``pattern`` has no wildcard (X-MAILBOX)."""
    if is_glob(pattern):
        return mailbox_name_matches(pattern, vname, separator)
    if _inbox_first(pattern, separator) and _inbox_first(vname, separator):
        return pattern[5:] == vname[5:]
    return pattern == vname


def _inbox_first(name: str, separator: str) -> bool:
    return _ascii_lower(name[:5]) == "inbox" and (len(name) == 5 or name[5:6] == separator)


def _grouped(node: Node, quote: bool) -> tuple[str, ...]:
    return ("(", *node.words(quote), ")")


def _value(value: str, quote: bool) -> str:
    return quote_word(value) if quote else value


def _ascii_lower(text: str) -> str:
    # str.lower() folds some non-ASCII letters onto ASCII ones (KELVIN SIGN -> "k").
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
