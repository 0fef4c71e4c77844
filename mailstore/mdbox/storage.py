"""The ``m.*`` files: finding a map entry's message and reading it, read-only.

Mirrors ``dbox-multi/mdbox-file.c``: ``m.<file_id>`` is opened in primary storage first, then in
alternate storage (``mail_alt_path``).  The bytes at a map entry's offset are one dbox message
(header, body, metadata), parsed by :mod:`mailstore.dbox.file`.  A message is addressed by a
:class:`Handle`, which travels in checkpoint records as ``"m.<file_id>:<offset>:<size>:<map_uid>"``
(``size`` is the map's record size, header and metadata included; ``m.0`` means "no location
known")::

    Handle.parse("m.1:16:481:12") == Handle(file_id=1, offset=16, size=481, map_uid=12)

A message whose bytes are cut short or malformed raises ``MailstoreError(INVALIDDATA)`` naming
the file and offset; a file missing from both storages raises ``NOTFOUND``.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

from mailstore.dbox.file import DboxFile, DboxMessage
from mailstore.errors import Kind, MailstoreError
from mailstore.mdbox.layout import MdboxLayout

__all__ = ["Handle", "Storage", "StoredMessage"]

_HANDLE = re.compile(r"m\.(\d+):(\d+):(\d+):(\d+)")
#: Open m.* files kept per source; enough for a mailbox whose mail spans a few files.
_MAX_OPEN_FILES = 8


@dataclass(frozen=True)
class Handle:
    """Where one message is: ``m.<file_id>`` at ``offset``, ``size`` bytes (0 = to EOF)."""

    file_id: int
    offset: int
    size: int
    map_uid: int

    def format(self) -> str:
        return f"m.{self.file_id}:{self.offset}:{self.size}:{self.map_uid}"

    @classmethod
    def parse(cls, text: str) -> Handle:
        match = _HANDLE.fullmatch(text)
        if match is None:
            raise MailstoreError(Kind.INVALIDDATA, f"not an mdbox message handle: {text!r}")
        file_id, offset, size, map_uid = (int(g) for g in match.groups())
        return cls(file_id, offset, size, map_uid)


@dataclass(frozen=True)
class StoredMessage:
    """What the ``m.*`` file says about a message: its size (the dbox header's), received
    date (``R``, 0 when missing), GUID (``G``) and virtual size (``V``)."""

    size: int
    received_date: int
    guid: str | None
    vsize: int | None


class Storage:
    """Reads messages from the ``m.*`` files of one mdbox, keeping a few files open."""

    def __init__(self, layout: MdboxLayout) -> None:
        self.layout = layout
        self._open: OrderedDict[int, DboxFile] = OrderedDict()

    def _file(self, file_id: int, *, fresh: bool = False) -> DboxFile:
        cached = self._open.pop(file_id, None)
        if cached is not None:
            if not fresh:
                self._open[file_id] = cached
                return cached
            cached.close()
        paths = self.layout.message_file_paths(file_id)
        for path in paths:
            try:
                opened = DboxFile.open(path)
            except MailstoreError as e:
                if e.kind is Kind.NOTFOUND:
                    continue
                raise
            self._open[file_id] = opened
            while len(self._open) > _MAX_OPEN_FILES:
                self._open.popitem(last=False)[1].close()
            return opened
        raise MailstoreError(
            Kind.NOTFOUND, f"m.{file_id} not found (looked in {', '.join(paths)})"
        )

    def _message(self, handle: Handle) -> tuple[DboxFile, DboxMessage]:
        if handle.file_id == 0:
            raise MailstoreError(
                Kind.INVALIDDATA, f"map_uid {handle.map_uid} has no location in the map index"
            )
        dbox = self._file(handle.file_id)
        end = handle.offset + handle.size if handle.size else dbox.file_size
        if end > dbox.file_size:
            # Opened before Dovecot appended this message? Look at the file as it is now.
            dbox = self._file(handle.file_id, fresh=True)
            end = handle.offset + handle.size if handle.size else dbox.file_size
        if end > dbox.file_size:
            raise MailstoreError(
                Kind.INVALIDDATA,
                f"{dbox.path}: message at offset {handle.offset} is cut short: the map says it "
                f"ends at {end}, the file ends at {dbox.file_size}",
            )
        message = dbox.message_at(handle.offset)
        if message.end > end:
            raise MailstoreError(
                Kind.INVALIDDATA,
                f"{dbox.path}: message at offset {handle.offset} runs to {message.end}, past "
                f"the end of its map record ({end})",
            )
        if message.ext_refs:
            raise MailstoreError(
                Kind.INVALIDDATA,
                f"{dbox.path}: message at offset {handle.offset} keeps attachments outside the "
                "file (X metadata, single-instance attachment storage): not supported",
            )
        return dbox, message

    def read_metadata(self, handle: Handle) -> StoredMessage:
        """The message's size, received date, GUID and vsize, without reading its body."""
        _, message = self._message(handle)
        return StoredMessage(message.size, message.received_date, message.guid, message.vsize)

    def read_body(self, handle: Handle) -> bytes:
        """The message's exact stored bytes."""
        dbox, message = self._message(handle)
        return dbox.read_body(message)

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()
