"""What the search matcher sees of one message: :class:`MessageView`.

Everything but the message text is plain data taken from a
:class:`~mailstore.driver.MessageMeta` and its :class:`~mailstore.driver.Folder`,
plus two facts about the whole mailbox (``mailbox_count`` for ``*`` in sequence
sets, ``mailbox_guid`` for MAILBOX-GUID).  The text is fetched lazily through
``loader`` (a callable returning the exact message bytes), at most once, and
only when a key needs it: header and body keys always, LARGER/SMALLER only when
``vsize`` is unknown (:attr:`~mailstore.search.nodes.Need.SIZE`).

Header and body parsing is :mod:`mailstore.search.text`'s job; :meth:`MessageView.parsed`
keeps its ``ParsedMessage`` so that several keys share one parse.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailstore.driver import Folder, MessageMeta
from mailstore.errors import Kind, MailstoreError

__all__ = ["MessageView", "text_module", "virtual_size"]


def text_module() -> Any:
    """:mod:`mailstore.search.text`, imported on first use (header and body matching)."""
    return importlib.import_module("mailstore.search.text")


def virtual_size(data: bytes) -> int:
    """RFC822.SIZE: the size with every bare LF counted as CRLF."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


@dataclass
class MessageView:
    """One message as the matcher sees it.

    ``vname`` is the mailbox name with ``separator`` between components;
    ``flags`` holds IMAP system flags (``"\\Seen"``); ``keywords`` the
    keyword names; dates are Unix seconds (``save_date`` None when the source
    has none: the received date stands in, as in Dovecot); ``size`` is the
    physical size and ``vsize`` the CRLF size when known (else computed from
    the text on demand); ``uid`` the IMAP UID; ``position`` the 0-based place in
    the mailbox's UID order (sequence number minus one); ``mailbox_count`` the
    number of messages in the mailbox (0: unknown); ``mailbox_guid`` the
    mailbox's 32-hex GUID when the source records one; ``recent`` whether
    the first ``doveadm import`` of the source would see ``\\Recent``.
    """

    vname: str
    separator: str
    flags: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    received_date: int = 0
    save_date: int | None = None
    size: int = 0
    vsize: int | None = None
    guid: str | None = None
    uid: int | None = None
    position: int = 0
    mailbox_count: int = 0
    mailbox_guid: str | None = None
    recent: bool = True
    loader: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)
    _text: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _parsed: Any = field(default=None, init=False, repr=False, compare=False)
    _sent: tuple[tuple[int, int] | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def from_meta(
        cls,
        folder: Folder,
        meta: MessageMeta,
        loader: Callable[[], bytes] | None = None,
        *,
        mailbox_count: int = 0,
        mailbox_guid: str | None = None,
    ) -> MessageView:
        """The view of ``meta`` in ``folder``; ``loader`` reads the message bytes on demand.

        ``mailbox_count`` is the folder's number of messages (needed for ``*`` in a
        sequence set); ``mailbox_guid`` its GUID when known (else ``folder.guid``).
        """
        return cls(
            vname=folder.vname,
            separator=folder.separator,
            flags=meta.flags,
            keywords=meta.keywords,
            received_date=meta.received_date,
            save_date=meta.save_date,
            size=meta.size,
            vsize=meta.vsize,
            guid=meta.guid,
            uid=meta.uid,
            position=meta.position,
            mailbox_count=mailbox_count,
            mailbox_guid=mailbox_guid if mailbox_guid is not None else folder.guid,
            recent=meta.recent,
            loader=loader,
        )

    def message_bytes(self) -> bytes:
        """The whole message, loaded once; MailstoreError(INVALIDDATA) without a loader."""
        if self._text is None:
            if self.loader is None:
                raise MailstoreError(
                    Kind.INVALIDDATA,
                    f"message {self.guid or self.position} in {self.vname!r}: text not available",
                )
            self._text = self.loader()
        return self._text

    def virtual_size(self) -> int:
        """``vsize``, or computed from the text (bare LFs count two) when the source lacks it."""
        if self.vsize is None:
            self.vsize = virtual_size(self.message_bytes())
        return self.vsize

    def parsed(self) -> Any:
        """The ``mailstore.search.text.ParsedMessage`` of the text, parsed once."""
        if self._parsed is None:
            self._parsed = text_module().ParsedMessage.from_bytes(self.message_bytes())
        return self._parsed

    def sent_date(self) -> tuple[int, int] | None:
        """The ``Date:`` header as (Unix seconds, zone offset in seconds); None if absent/invalid."""
        if self._sent is None:
            self._sent = (text_module().sent_date(self.parsed()),)
        return self._sent[0]
