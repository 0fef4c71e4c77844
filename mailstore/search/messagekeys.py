"""Query nodes that read a message's dates, size, headers or body.

The tree's plumbing (lists, NOT, mailbox and flag keys) is in :mod:`mailstore.search.nodes`;
these are the keys whose :meth:`~mailstore.search.nodes.Node.need` goes beyond the mailbox
listing: SENT* dates and header keys need the header block, BODY/TEXT the whole text, and
LARGER/SMALLER the text only when the source does not record the virtual size.  Date values
are resolved when the query is parsed (see :mod:`mailstore.search.dates`), so a node holds
plain numbers and pickles.  Header and body matching is delegated to
:mod:`mailstore.search.text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mailstore.search.dates import DateOp, SearchDate, date_matches, local_offset
from mailstore.search.message import MessageView, text_module
from mailstore.search.nodes import Need, Node, quote_word

__all__ = [
    "ADDRESS_FIELDS",
    "BodyKey",
    "DateKey",
    "HeaderKey",
    "IntervalKey",
    "SaveDateSupportedKey",
    "SizeKey",
]

#: Header keys matched against the parsed address list.
ADDRESS_FIELDS = ("FROM", "TO", "CC", "BCC")

_PREFIX = {"received": "", "sent": "SENT", "saved": "SAVED"}


@dataclass(frozen=True)
class DateKey(Node):
    """BEFORE/ON/SINCE (``field`` "received"), SENT… ("sent") and SAVED… ("saved").

    ``text`` is the value as given, ``value`` what it parsed to.  A message without a valid
    ``Date:`` header has sent date 0 in zone +0000, as in Dovecot (so ``SENTBEFORE`` matches
    it); a source without save dates uses the received date.
    """

    op: DateOp
    field: str
    text: str
    value: SearchDate

    def matches(self, msg: MessageView) -> bool:
        if self.field == "sent":
            date, offset = msg.sent_date() or (0, 0)
        else:
            saved = msg.save_date if self.field == "saved" else None
            date = msg.received_date if saved is None else saved
            offset = 0 if self.value.utc else local_offset(date)
        return date_matches(self.op, self.value, date, offset)

    def need(self) -> Need:
        return Need.HEADERS if self.field == "sent" else Need.METADATA

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return (_PREFIX[self.field] + self.op.value, _value(self.text, quote))


@dataclass(frozen=True)
class IntervalKey(Node):
    """``OLDER n`` (``older``) / ``YOUNGER n``: received date against the parse time minus n.

    OLDER is ``date <= now - n``, YOUNGER ``date >= now - n``; ``time`` is ``now - n``.
    """

    older: bool
    seconds: int
    time: int

    def matches(self, msg: MessageView) -> bool:
        if self.older:
            return msg.received_date <= self.time
        return msg.received_date >= self.time

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("OLDER" if self.older else "YOUNGER", str(self.seconds))


@dataclass(frozen=True)
class SaveDateSupportedKey(Node):
    """``SAVEDATESUPPORTED``: the source records a save date (a Maildir always does: ctime)."""

    def matches(self, msg: MessageView) -> bool:
        return msg.save_date is not None

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("SAVEDATESUPPORTED",)


@dataclass(frozen=True)
class SizeKey(Node):
    """``LARGER n`` (``larger``) / ``SMALLER n``: strictly, against the virtual (CRLF) size."""

    NEED: ClassVar[Need] = Need.SIZE

    larger: bool
    text: str
    size: int

    def matches(self, msg: MessageView) -> bool:
        vsize = msg.virtual_size()
        return vsize > self.size if self.larger else vsize < self.size

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("LARGER" if self.larger else "SMALLER", _value(self.text, quote))


@dataclass(frozen=True)
class HeaderKey(Node):
    """FROM/TO/CC/BCC/SUBJECT ``s`` (``key`` is that word) or ``HEADER field s`` (key "HEADER").

    An empty needle only asks that the header exists, for every header key (Dovecot).
    """

    NEED: ClassVar[Need] = Need.HEADERS

    key: str
    field: str
    needle: str

    def matches(self, msg: MessageView) -> bool:
        text = text_module()
        parsed = msg.parsed()
        if not self.needle:
            return bool(text.match_header(parsed, self.field, ""))
        if self.key in ADDRESS_FIELDS:
            return bool(text.match_address(parsed, self.key.lower(), self.needle))
        if self.key == "SUBJECT":
            return bool(text.match_subject(parsed, self.needle))
        return bool(text.match_header(parsed, self.field, self.needle))

    def words(self, quote: bool = False) -> tuple[str, ...]:
        if self.key == "HEADER":
            return ("HEADER", _value(self.field, quote), _value(self.needle, quote))
        return (self.key, _value(self.needle, quote))


@dataclass(frozen=True)
class BodyKey(Node):
    """``BODY s`` (the body only) or ``TEXT s`` (``text``: header block and body)."""

    NEED: ClassVar[Need] = Need.BODY

    text: bool
    needle: str

    def matches(self, msg: MessageView) -> bool:
        module = text_module()
        if self.text:
            return bool(module.match_text(msg.parsed(), self.needle))
        return bool(module.match_body(msg.parsed(), self.needle))

    def words(self, quote: bool = False) -> tuple[str, ...]:
        return ("TEXT" if self.text else "BODY", _value(self.needle, quote))


def _value(value: str, quote: bool) -> str:
    return quote_word(value) if quote else value
