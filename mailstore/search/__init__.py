"""The doveadm search query language, without Beam.

>>> q = parse_query(["mailbox", "INBOX", "(", "seen", "OR", "flagged", ")"])
>>> str(q)
'MAILBOX INBOX ( SEEN OR FLAGGED )'
>>> q.exact_mailboxes(), q.needs().name
(('INBOX',), 'METADATA')

See :mod:`mailstore.search.parser` for the grammar and
:mod:`mailstore.search.nodes` for the tree.
"""

from mailstore.search.glob import is_glob, mailbox_name_matches
from mailstore.search.message import MessageView
from mailstore.search.nodes import (
    All,
    And,
    FlagKey,
    KeywordKey,
    MailboxKey,
    Need,
    Node,
    Not,
    Or,
)
from mailstore.search.query import Query, parse_query

__all__ = [
    "All",
    "And",
    "FlagKey",
    "KeywordKey",
    "MailboxKey",
    "MessageView",
    "Need",
    "Node",
    "Not",
    "Or",
    "Query",
    "is_glob",
    "mailbox_name_matches",
    "parse_query",
]
