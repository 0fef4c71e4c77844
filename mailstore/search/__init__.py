"""The doveadm search query language, without Beam.

>>> q = parse_query(["mailbox", "INBOX", "(", "seen", "OR", "flagged", ")"])
>>> str(q)
'MAILBOX INBOX ( SEEN OR FLAGGED )'
>>> q.exact_mailboxes(), q.needs().name
(('INBOX',), 'METADATA')

See :mod:`mailstore.search.parser` for the grammar and
:mod:`mailstore.search.nodes` for the tree.
"""

from mailstore.search.dates import DateOp, SearchDate, parse_interval, parse_search_date
from mailstore.search.glob import is_glob, mailbox_name_matches
from mailstore.search.message import MessageView
from mailstore.search.messagekeys import (
    BodyKey,
    DateKey,
    HeaderKey,
    IntervalKey,
    SaveDateSupportedKey,
    SizeKey,
)
from mailstore.search.nodes import (
    All,
    And,
    FlagKey,
    GuidKey,
    KeywordKey,
    MailboxGuidKey,
    MailboxKey,
    Need,
    Node,
    Not,
    Or,
    RecentKey,
    SeqSetKey,
    UidSetKey,
    XMailboxKey,
)
from mailstore.search.query import Query, parse_query
from mailstore.search.sizes import parse_size

__all__ = [
    "All",
    "And",
    "BodyKey",
    "DateKey",
    "DateOp",
    "FlagKey",
    "GuidKey",
    "HeaderKey",
    "IntervalKey",
    "KeywordKey",
    "MailboxGuidKey",
    "MailboxKey",
    "MessageView",
    "Need",
    "Node",
    "Not",
    "Or",
    "Query",
    "RecentKey",
    "SaveDateSupportedKey",
    "SearchDate",
    "SeqSetKey",
    "SizeKey",
    "UidSetKey",
    "XMailboxKey",
    "is_glob",
    "mailbox_name_matches",
    "parse_interval",
    "parse_query",
    "parse_search_date",
    "parse_size",
]
