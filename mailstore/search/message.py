"""What the search matcher sees of one message: :class:`MessageView`.

Everything but the message text is plain data taken from a
:class:`~mailstore.driver.MessageMeta` and its :class:`~mailstore.driver.Folder`.
The text is fetched lazily through ``loader`` (a callable returning the exact
message bytes), at most once, and only when a query's :meth:`Query.needs`
says headers or body are required.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mailstore.driver import Folder, MessageMeta
from mailstore.errors import Kind, MailstoreError

__all__ = ["MessageView"]


@dataclass
class MessageView:
    """One message as the matcher sees it.

    ``vname`` is the mailbox name with ``separator`` between components;
    ``flags`` holds IMAP system flags (``"\\Seen"``); ``keywords`` the
    keyword names; dates are Unix seconds; ``size`` is the physical size and
    ``vsize`` the CRLF size when known; ``position`` is the 0-based place in
    the mailbox's UID order (sequence number minus one).
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
    loader: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)
    _text: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_meta(
        cls,
        folder: Folder,
        meta: MessageMeta,
        loader: Callable[[], bytes] | None = None,
    ) -> MessageView:
        """The view of ``meta`` in ``folder``; ``loader`` reads the message bytes on demand."""
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

    def header_bytes(self) -> bytes:
        """The header block, up to and including the empty line that ends it."""
        text = self.message_bytes()
        return text[: _body_offset(text)]

    def body_bytes(self) -> bytes:
        """Everything after the header block."""
        text = self.message_bytes()
        return text[_body_offset(text) :]


def _body_offset(text: bytes) -> int:
    if text.startswith(b"\n"):
        return 1
    if text.startswith(b"\r\n"):
        return 2
    lf = text.find(b"\n\n")
    crlf = text.find(b"\r\n\r\n")
    candidates = [i + 2 for i in (lf,) if i >= 0] + [i + 4 for i in (crlf,) if i >= 0]
    return min(candidates) if candidates else len(text)
