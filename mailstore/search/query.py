"""A parsed search query: :class:`Query` and :func:`parse_query`.

A ``Query`` is a frozen dataclass around the normalised tree, so it pickles
and can be shipped to Beam workers.  The pipeline uses it in three places:
:meth:`Query.exact_mailboxes` and :meth:`Query.matches_mailbox` decide which
folders to list, :meth:`Query.needs` what to read per message, and
:meth:`Query.matches` the final verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailstore.search.glob import is_glob
from mailstore.search.message import MessageView
from mailstore.search.nodes import And, MailboxKey, Need, Node, Not, XMailboxKey
from mailstore.search.parser import parse_words

__all__ = ["Query", "parse_query"]


@dataclass(frozen=True)
class Query:
    """A doveadm search query; ``root`` is the normalised tree."""

    root: Node

    def matches(self, msg: MessageView) -> bool:
        """Whether the message matches."""
        return self.root.matches(msg)

    def matches_mailbox(self, vname: str, separator: str) -> bool:
        """Whether any message in mailbox ``vname`` could match.

        Only MAILBOX terms are decided; every other term counts as unknown,
        so this is False only when the name alone rules the mailbox out.
        """
        return self.root.matches_mailbox(vname, separator) is not False

    def exact_mailboxes(self) -> tuple[str, ...] | None:
        """The mailbox names to open directly instead of listing, or None to list all.

        doveadm's rule: collect the ``MAILBOX`` keys of the top-level AND
        (looking into ``( … )`` groups, not into OR lists or NOT); if there
        is at least one and none is negated or a glob, those names.  An
        ``X-MAILBOX`` there is always a glob.
        """
        names: list[str] = []
        if not _collect_exact(self.root, names) or not names:
            return None
        return tuple(dict.fromkeys(names))

    def needs(self) -> Need:
        """The most expensive data that evaluating the query reads."""
        return self.root.need()

    def words(self) -> tuple[str, ...]:
        """Argv words that parse back to this query."""
        return self.root.words()

    def __str__(self) -> str:
        return " ".join(self.root.words(quote=True))


def parse_query(words: Sequence[str], now: float | None = None) -> Query:
    """Parse doveadm search query words (one token per argv word, never split further).

    ``now`` (Unix seconds; default the clock, read once here) is the moment that
    relative dates (``SINCE 30d``, ``YOUNGER 3600``) count back from, as doveadm
    fixes it when it parses the query; the Query then holds only absolute times.
    Raises MailstoreError(Kind.PARAMS) with a one-line reason for any invalid,
    unknown or unsupported key.
    """
    if isinstance(words, str):
        raise TypeError("parse_query takes a sequence of words, not a string")
    return Query(parse_words(words, now))


def _collect_exact(node: Node, names: list[str]) -> bool:
    """Add the AND-spine's MAILBOX names; False if one is negated or a glob."""
    if isinstance(node, XMailboxKey):
        return False
    if isinstance(node, MailboxKey):
        if is_glob(node.pattern):
            return False
        names.append(node.pattern)
        return True
    if isinstance(node, Not):
        return not isinstance(node.item, MailboxKey | XMailboxKey)
    if isinstance(node, And):
        return all(_collect_exact(item, names) for item in node.items)
    return True
