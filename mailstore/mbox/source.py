r"""Reading mbox files as an import source, strictly read-only.

No lock, no dotlock, no ``.imap`` index is created or touched; Dovecot's index is read when it
is there (:mod:`.sync` says why).  What :meth:`MboxSource.iter_messages` yields per message::

    MessageMeta(source_key="1122",          # byte offset of its From_ line in the file
                position=2, uid=3,          # X-UID / the index, else as Dovecot assigns
                flags=frozenset({"\\Seen"}), keywords=("$Later",),
                received_date=1416498026,   # from the From_ line
                save_date=None,
                size=419, vsize=None,       # bytes as Dovecot shows them (metadata hidden)
                guid=None,
                handle="/home/u/mail/Archive:1166:541",   # file:header offset:raw length
                recent=True)

**source_key** is the From_ line's byte offset.  It is unique in the file and always there,
and it is stable as long as the file does not change -- what a backup or snapshot is; a file
rewritten between two runs of one job (by Dovecot, or mail delivered to it) would need a fresh
job.  ``UIDVALIDITY:X-UID`` was the alternative, but X-UIDs are missing from mboxes no IMAP
server wrote, and broken ones are renumbered on every read.

:meth:`MboxSource.read_message` reads ``length`` bytes at the header offset and hides the
metadata headers; a file that ends early or no longer has a From_ line there is INVALIDDATA.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mailstore.driver import Capability, Folder, MailSource, MessageMeta
from mailstore.errors import Kind, MailstoreError
from mailstore.maildir.subscriptions import read_subscriptions
from mailstore.mbox.headers import hide_metadata
from mailstore.mbox.layout import MboxLayout
from mailstore.mbox.parser import iter_raw_messages
from mailstore.mbox.sync import sync_messages

if TYPE_CHECKING:
    from mailstore.index.model import MailIndex
    from mailstore.location import MailLocation
    from mailstore.userdb import User

__all__ = ["MboxSource", "format_handle", "parse_handle"]


def format_handle(path: str, offset: int, length: int) -> str:
    """``<path>:<offset>:<length>``: where a message's bytes (after its From_ line) are."""
    return f"{path}:{offset}:{length}"


def parse_handle(handle: str) -> tuple[str, int, int]:
    """The inverse of :func:`format_handle` (the path may itself contain colons)."""
    path, offset, length = handle.rsplit(":", 2)
    return path, int(offset), int(length)


def _error_kind(e: OSError) -> Kind:
    if e.errno == errno.ENOENT:
        return Kind.NOTFOUND
    if e.errno in (errno.EACCES, errno.EPERM):
        return Kind.PERM
    return Kind.INVALIDDATA


def _has_index(directory: str) -> bool:
    return any(os.path.isfile(os.path.join(directory, name))
               for name in ("dovecot.index", "dovecot.index.log"))


class MboxSource(MailSource):
    """mbox files under a mail directory, opened read-only for ``user``."""

    capabilities = Capability.HAVE_UIDS | Capability.SUBSCRIPTIONS

    def __init__(self, location: MailLocation, user: User) -> None:
        self.location = location
        self.user = user
        self.layout = MboxLayout(location)
        self.separator = MboxLayout.separator
        self._warnings: dict[tuple[str, ...], list[str]] = {}

    def list_folders(self) -> list[Folder]:
        """Selectable mailboxes (mbox files), INBOX first, then by name."""
        self.layout.check_root()
        return [Folder(box.name, self.separator, box.path) for box in self.layout.list_mailboxes()]

    def folder_warnings(self, folder: Folder) -> list[str]:
        return list(self._warnings.get(folder.name, []))

    def _read_index(self, folder: Folder) -> MailIndex | None:
        directory = self.layout.index_dir(folder.name)
        if directory is None or not _has_index(directory):
            return None
        try:
            from mailstore.index import read_index
        except ImportError:
            self._warnings[folder.name].append(
                f"index {directory} not read (no index reader): flags kept only there are lost")
            return None
        try:
            index = read_index(directory, strict=False)
        except (MailstoreError, OSError, ValueError) as e:
            self._warnings[folder.name].append(
                f"index {directory} unreadable ({e}): flags kept only there are lost")
            return None
        self._warnings[folder.name].extend(f"index {directory}: {w}" for w in index.warnings)
        return index

    def iter_messages(self, folder: Folder) -> Iterator[MessageMeta]:
        """The folder's messages in file (= UID) order, ``position`` from 0."""
        self._warnings[folder.name] = []
        path = folder.handle or self.layout.mailbox_path(folder.name)
        index = self._read_index(folder)
        try:
            f = open(path, "rb")  # noqa: SIM115 -- closed below, across the generator
        except OSError as e:
            raise MailstoreError(_error_kind(e), f"cannot open mbox {path}: {e.strerror}") from e
        with f:
            size = os.fstat(f.fileno()).st_size
            raws = iter_raw_messages(f, size, path)
            for position, mail in enumerate(sync_messages(raws, index)):
                raw = mail.raw
                yield MessageMeta(
                    source_key=str(raw.from_offset),
                    position=position,
                    uid=mail.uid,
                    flags=mail.flags,
                    keywords=mail.keywords,
                    received_date=raw.received,
                    save_date=None,
                    size=raw.size,
                    vsize=None,
                    guid=None,
                    handle=format_handle(path, raw.hdr_offset, raw.end - raw.hdr_offset),
                    recent=mail.recent,
                )

    def read_message(self, folder: Folder, meta: MessageMeta) -> bytes:
        """The message as Dovecot shows it (metadata headers hidden, header lines LF-ended)."""
        path, offset, length = parse_handle(meta.handle)
        from_offset = int(meta.source_key)
        try:
            with open(path, "rb") as f:
                f.seek(from_offset)
                head = f.read(5)
                f.seek(offset)
                data = f.read(length)
        except OSError as e:
            raise MailstoreError(
                _error_kind(e), f"cannot read message at {path}:{offset}: {e.strerror}"
            ) from e
        if head != b"From " or len(data) != length:
            raise MailstoreError(
                Kind.INVALIDDATA,
                f"mbox {path} changed or truncated: no message of {length} bytes at offset "
                f"{offset} (From_ line at {from_offset})",
            )
        return hide_metadata(data)

    def subscriptions(self) -> list[tuple[str, ...]]:
        """Subscribed mailbox names from ``.subscriptions`` (v1 or v2), UTF-8 components."""
        return read_subscriptions(
            self.layout.subscriptions_path(), self.separator, self.layout.decode_component
        )
