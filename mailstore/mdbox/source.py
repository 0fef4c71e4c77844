r"""Reading an mdbox as an import source, strictly read-only.

Nothing is created, locked or written in the mail root, the index directory or alternate
storage: index files are replayed in memory (:mod:`mailstore.index`), ``m.*`` files are opened
for reading only.  Per mailbox, records come from its own index in UID order; each record's
``mdbox`` extension names a map_uid, the map index (:mod:`.map`) says where that message's
bytes are, and the ``m.*`` file (:mod:`.storage`) holds them with their metadata.  What
:meth:`MdboxSource.iter_messages` yields per message::

    MessageMeta(source_key="1795891353:4",          # <mailbox uid_validity>:<uid>
                position=3, uid=4,
                flags=frozenset({"\\Seen"}), keywords=("$Junk",),   # from the mailbox index
                received_date=1346989571,           # metadata R (0 if none; the save date
                                                    # if the metadata cannot be read)
                save_date=1795891360,               # the index's mdbox save_date (None if 0)
                size=376, vsize=383,                # the dbox message header's size, metadata V
                guid="1340864996.M921869P52709.host",   # metadata G, else the index's guid
                handle="m.1:16:481:12",             # m.<file_id>:<offset>:<size>:<map_uid>
                recent=False)                       # uid >= the index's first_recent_uid

``source_key`` is ``<uid_validity>:<uid>``, like IMAP's: unique within the mailbox (a copy
inside one mailbox shares its map_uid and GUID with the original but has its own uid) and
stable as long as the mailbox index is not rebuilt.  The ``handle`` lets :meth:`read_message`
go straight to the bytes, in another process too; if ``doveadm purge`` moved the message
meanwhile (its old ``m.*`` file is gone), the map is read again to find it by map_uid.

What is never imported: a record whose map entry has refcount 0 (expunged everywhere and not
yet purged -- its bytes are still in ``m.*``; a stale mailbox record must not resurrect it),
reported by :meth:`folder_warnings`.  A record whose map_uid is missing from the map (purged
or lost) is listed with a ``m.0`` handle that :meth:`read_message` refuses (INVALIDDATA), so
it ends as a dead letter instead of vanishing silently.  Without the map index, nothing is
read (NOTFOUND) -- unless there is no ``m.*`` file either, i.e. the mdbox never stored a
message; without a mailbox's index, that mailbox fails (NOTFOUND) and the others go on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mailstore.driver import Capability, Folder, MailSource, MessageMeta
from mailstore.errors import Kind, MailstoreError
from mailstore.maildir.subscriptions import read_subscriptions
from mailstore.mdbox.layout import MdboxLayout
from mailstore.mdbox.mailbox import MailboxMessage, MdboxMailbox, read_mailbox
from mailstore.mdbox.map import MapEntry, MdboxMap, read_map
from mailstore.mdbox.storage import Handle, Storage

if TYPE_CHECKING:
    from mailstore.location import MailLocation
    from mailstore.userdb import User

__all__ = ["MdboxSource"]


class MdboxSource(MailSource):
    """An mdbox (``mdbox:<root>[:INDEX=…][:ALT=…]``) opened read-only for ``user``."""

    capabilities = (
        Capability.HAVE_UIDS
        | Capability.HAVE_GUIDS
        | Capability.FLAGS_IN_INDEX
        | Capability.SUBSCRIPTIONS
    )

    def __init__(self, location: MailLocation, user: User) -> None:
        self.location = location
        self.user = user
        self.layout = MdboxLayout(location)
        self.separator = self.layout.separator
        self._storage = Storage(self.layout)
        self._map: MdboxMap | None = None
        self._warnings: dict[tuple[str, ...], list[str]] = {}

    # -- the map -------------------------------------------------------------------------------
    def _check_root(self) -> None:
        if not os.path.isdir(self.layout.root):
            raise MailstoreError(
                Kind.NOTFOUND,
                f"mail location mdbox:{self.location.path}: "
                f"directory {self.layout.root} does not exist",
            )

    def _load_map(self, *, refresh: bool = False) -> MdboxMap:
        if self._map is None or refresh:
            self._check_root()
            self._map = self._read_map()
        return self._map

    def _read_map(self) -> MdboxMap:
        try:
            return read_map(self.layout.map_index_dir)
        except MailstoreError as e:
            # No map and no m.* file: an mdbox that never stored a message (nothing to
            # resurrect). With m.* files, the map is what tells live mail from expunged.
            if e.kind is not Kind.NOTFOUND or self.layout.has_message_files():
                raise
            return MdboxMap(uid_validity=0, entries={})

    def _read_mailbox(self, index_dir: str, shown: str) -> MdboxMailbox:
        return read_mailbox(index_dir, shown)

    # -- MailSource ----------------------------------------------------------------------------
    def list_folders(self) -> list[Folder]:
        """Selectable mailboxes, INBOX first, then sorted by name components.

        Fails (NOTFOUND) without the map index, before any mailbox is listed.  A mailbox whose
        own index is unreadable is still listed (without GUID): reading it fails on its own.
        """
        self._load_map()
        folders = []
        for box in self.layout.list_mailboxes():
            index_dir = self.layout.index_dir(box.name)
            try:
                guid = self._read_mailbox(index_dir, self.separator.join(box.name)).guid
            except MailstoreError:
                guid = None
            folders.append(Folder(box.name, self.separator, index_dir, guid))
        return folders

    def iter_messages(self, folder: Folder) -> Iterator[MessageMeta]:
        """The folder's live messages in UID order (see the module docstring)."""
        name = _normalize(folder.name)
        warnings: list[str] = []
        self._warnings[name] = warnings
        mdmap = self._load_map()
        box = self._read_mailbox(folder.handle or self.layout.index_dir(name), folder.vname)
        _check_map_uid_validity(folder.vname, box, mdmap)
        warnings.extend(box.warnings)
        warnings.extend(mdmap.warnings)
        position = 0
        try:
            for message in box.messages:
                entry = mdmap.get(message.map_uid) if message.map_uid else None
                if entry is not None and entry.refcount == 0:
                    warnings.append(
                        f"uid {message.uid}: map_uid {message.map_uid} has refcount 0 "
                        "(expunged, not purged); not imported"
                    )
                    continue
                yield self._meta(box, message, entry, position, warnings)
                position += 1
        finally:
            self._storage.close()

    def _meta(
        self,
        box: MdboxMailbox,
        message: MailboxMessage,
        entry: MapEntry | None,
        position: int,
        warnings: list[str],
    ) -> MessageMeta:
        received = message.save_date or 0
        size = 0
        vsize: int | None = None
        guid = message.guid128
        if entry is None:
            handle = Handle(0, 0, 0, message.map_uid)
            warnings.append(
                f"uid {message.uid}: map_uid {message.map_uid} is not in the map index "
                "(purged or lost); reported as a dead letter"
            )
        else:
            handle = Handle(entry.file_id, entry.offset, entry.size, entry.map_uid)
            try:
                stored = self._storage.read_metadata(handle)
            except MailstoreError as e:
                # Listed anyway: read_message fails the same way and dead-letters it.
                warnings.append(f"uid {message.uid}: cannot read its metadata: {e}")
            else:
                size, vsize, received = stored.size, stored.vsize, stored.received_date
                guid = stored.guid or guid
        return MessageMeta(
            source_key=f"{box.uid_validity}:{message.uid}",
            position=position,
            uid=message.uid,
            flags=message.flags,
            keywords=message.keywords,
            received_date=received,
            save_date=message.save_date,
            size=size,
            vsize=vsize,
            guid=guid,
            handle=handle.format(),
            recent=message.uid >= box.first_recent_uid,
        )

    def read_message(self, folder: Folder, meta: MessageMeta) -> bytes:
        """The message's exact bytes from its ``m.*`` file.

        Raises INVALIDDATA naming the file and offset when the record there is truncated or
        malformed, or when the message's map_uid is not in the map; NOTFOUND when its file is
        gone and the map no longer knows a live copy of it.
        """
        handle = Handle.parse(meta.handle)
        if handle.file_id == 0:
            refreshed = self._load_map(refresh=True).get(handle.map_uid)
            if refreshed is None or refreshed.refcount == 0:
                raise MailstoreError(
                    Kind.INVALIDDATA,
                    f"mailbox {folder.vname} uid {meta.uid}: map_uid {handle.map_uid} is not "
                    f"in {self.layout.map_index_dir}/dovecot.map.index (purged or lost)",
                )
            handle = Handle(refreshed.file_id, refreshed.offset, refreshed.size, handle.map_uid)
        try:
            return self._storage.read_body(handle)
        except MailstoreError as e:
            if e.kind is not Kind.NOTFOUND:
                raise
            # The file is gone: a purge moved the message. Ask the map where it is now.
            moved = self._load_map(refresh=True).get(handle.map_uid)
            if moved is None or moved.refcount == 0 or moved.file_id == handle.file_id:
                raise
            return self._storage.read_body(
                Handle(moved.file_id, moved.offset, moved.size, moved.map_uid)
            )

    def folder_warnings(self, folder: Folder) -> list[str]:
        return list(self._warnings.get(_normalize(folder.name), []))

    def subscriptions(self) -> list[tuple[str, ...]]:
        """Subscribed mailbox names as UTF-8 component tuples."""
        return read_subscriptions(
            self.layout.subscriptions_path(), self.separator, self.layout.decode_component
        )

    def close(self) -> None:
        self._storage.close()


def _normalize(name: tuple[str, ...]) -> tuple[str, ...]:
    if name and name[0].upper() == "INBOX":
        return ("INBOX",) + tuple(name[1:])
    return tuple(name)


def _check_map_uid_validity(shown: str, box: MdboxMailbox, mdmap: MdboxMap) -> None:
    """A mailbox's map_uids mean something only for the map it was written against."""
    if box.messages and box.map_uid_validity and box.map_uid_validity != mdmap.uid_validity:
        raise MailstoreError(
            Kind.INVALIDDATA,
            f"mailbox {shown}: its index refers to map_uid_validity {box.map_uid_validity}, "
            f"but the map index has {mdmap.uid_validity} (the map was rebuilt or replaced): "
            "its map_uids cannot be resolved",
        )
