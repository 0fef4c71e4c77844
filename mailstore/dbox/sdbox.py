r"""Reading sdbox as an import source, strictly read-only; registered as ``sdbox``.

One message per file, ``<mailbox dir>/u.<uid>`` (or the same name in alternate storage); flags,
keywords and the UID list live only in the mailbox index, which :mod:`mailstore.index` replays
without Dovecot.  What :meth:`SdboxSource.iter_messages` yields per message::

    MessageMeta(source_key="u.7",               # the file name: the UID, see below
                position=0, uid=7,
                flags=frozenset({"\\Seen"}), keywords=("$Later",),   # from the index
                received_date=1514764800,        # R metadata (0 when missing, as Dovecot)
                save_date=1700000000,            # the file's ctime (sdbox keeps no save date)
                size=321,                        # the message size in the dbox header
                vsize=328,                       # V metadata, None when missing
                guid="1514764800.M1P2.host,S=321,W=328",   # G metadata, None when missing
                handle="/home/u/sdbox/mailboxes/INBOX/dbox-Mails/u.7",
                recent=False)                    # uid >= the index's first_recent_uid

Order and what is included (checked against ``doveadm fetch`` on 2.3.19):

* the index's messages, in UID order; one whose file is gone (in primary and alternate
  storage) is left out with a warning, as Dovecot's resync drops it;
* then ``u.*`` files with a UID at or above the index's next_uid, which the index has not seen
  yet: Dovecot shows them only after ``doveadm force-resync``, we import them right away,
  without flags, ``\Recent``, with a warning;
* ``u.*`` files with a lower UID that the index does not list were expunged: left out, with a
  warning (importing them would resurrect deleted mail);
* without a usable index (missing, ``INDEX=MEMORY``, or unreadable) every ``u.*`` file in UID
  order, without flags or keywords, and :meth:`SdboxSource.folder_warnings` says so.  Dovecot
  itself then shows an *empty* mailbox (and writes a fresh empty index into the source) until
  ``doveadm force-resync`` rebuilds it from the files, without flags.

``source_key`` is the file name ``u.<uid>``: the UID, stable for as long as the mailbox's
UIDVALIDITY is, and independent of whether the index could be read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mailstore.dbox.file import DboxFile
from mailstore.dbox.layout import DboxLayout
from mailstore.driver import Capability, Folder, MailSource, MessageMeta
from mailstore.errors import Kind, MailstoreError
from mailstore.index import MailIndex, read_index, system_flags
from mailstore.maildir.subscriptions import read_subscriptions
from mailstore.sourcedir import scan_dir

if TYPE_CHECKING:
    from mailstore.location import MailLocation
    from mailstore.userdb import User

__all__ = ["SdboxSource", "scan_uid_files"]

_PREFIX = "u."
_SHOWN = 10


def _normalize(name: tuple[str, ...]) -> tuple[str, ...]:
    if name and name[0].upper() == "INBOX":
        return ("INBOX",) + tuple(name[1:])
    return tuple(name)


def _uid_of(filename: str) -> int | None:
    """The UID of a ``u.<uid>`` name (decimal, no sign, not 0), None for anything else."""
    digits = filename[len(_PREFIX):]
    if not filename.startswith(_PREFIX) or not digits.isascii() or not digits.isdigit():
        return None
    uid = int(digits)
    return uid if 0 < uid < 2**32 else None


def scan_uid_files(*directories: str | None) -> dict[int, str]:
    """``uid -> path`` of the ``u.*`` files in the directories; the first directory wins."""
    found: dict[int, str] = {}
    for directory in directories:
        entries = None if directory is None else scan_dir(directory)
        if entries is None:
            continue
        for entry in entries:
            uid = _uid_of(entry.name)
            if uid is not None and uid not in found:
                found[uid] = entry.path
    return found


def _uids(uids: list[int]) -> str:
    shown = ", ".join(f"u.{uid}" for uid in uids[:_SHOWN])
    return shown + (f" and {len(uids) - _SHOWN} more" if len(uids) > _SHOWN else "")


class SdboxSource(MailSource):
    """An sdbox mail location opened read-only for ``user``."""

    capabilities = (
        Capability.FILE_PER_MSG
        | Capability.HAVE_UIDS
        | Capability.HAVE_GUIDS
        | Capability.FLAGS_IN_INDEX
        | Capability.SUBSCRIPTIONS
    )

    def __init__(self, location: MailLocation, user: User) -> None:
        self.location = location
        self.user = user
        self.layout = DboxLayout(location)
        self.separator = self.layout.separator
        self._warnings: dict[tuple[str, ...], list[str]] = {}

    # -- folders ------------------------------------------------------------------------------
    def list_folders(self) -> list[Folder]:
        """Selectable mailboxes, INBOX first, then sorted by name components."""
        root = self.layout.index_root if self.layout.iter_from_index else self.layout.root
        if root is None or not os.path.isdir(root):
            raise MailstoreError(
                Kind.NOTFOUND,
                f"mail location {self.location.driver}:{self.location.path}: "
                f"directory {root} does not exist",
            )
        folders = []
        for box in self.layout.list_mailboxes():
            index = self._index(box.name)
            folders.append(Folder(box.name, self.separator, box.path, self._mailbox_guid(index)))
        return folders

    @staticmethod
    def _mailbox_guid(index: MailIndex | None) -> str | None:
        hdr = index.header_extensions.get("dbox-hdr", b"") if index is not None else b""
        guid = hdr[4:20]
        return guid.hex() if len(guid) == 16 and any(guid) else None

    def _index(self, name: tuple[str, ...]) -> MailIndex | None:
        directory = self.layout.index_dir(name)
        if directory is None:
            return None
        try:
            return read_index(directory, strict=False)
        except MailstoreError as e:
            if e.kind in (Kind.NOTFOUND, Kind.INVALIDDATA):
                return None
            raise

    # -- messages -----------------------------------------------------------------------------
    def iter_messages(self, folder: Folder) -> Iterator[MessageMeta]:
        """The folder's messages (see the module docstring for order and what is included)."""
        name = _normalize(folder.name)
        warnings: list[str] = []
        self._warnings[name] = warnings
        primary = folder.handle or self.layout.mailbox_dir(name)
        files = scan_uid_files(primary, self.layout.alt_dir(name))
        index = self._read_index(name, warnings)

        position = 0
        if index is not None:
            missing: list[int] = []
            for record in index.records:
                path = files.pop(record.uid, None)
                if path is None:
                    missing.append(record.uid)
                    continue
                meta = self._meta(path, position, record.uid, system_flags(record.flags),
                                  record.keywords, record.uid >= index.first_recent_uid,
                                  warnings)
                if meta is not None:
                    yield meta
                    position += 1
            if missing:
                warnings.append(f"{len(missing)} messages in the index have no file in "
                                f"{primary} (expunged?), left out: {_uids(missing)}")
            expunged = sorted(uid for uid in files if uid < index.next_uid)
            for uid in expunged:
                del files[uid]
            if expunged:
                warnings.append(f"{len(expunged)} files the index has expunged were left out: "
                                f"{_uids(expunged)}")
            if files:
                warnings.append(f"{len(files)} files the index does not list yet were imported "
                                f"without flags or keywords: {_uids(sorted(files))}")
        for uid in sorted(files):
            meta = self._meta(files[uid], position, uid, frozenset(), (), True, warnings)
            if meta is not None:
                yield meta
                position += 1

    def _read_index(self, name: tuple[str, ...], warnings: list[str]) -> MailIndex | None:
        directory = self.layout.index_dir(name)
        if directory is None:
            warnings.append("mail_index_path=MEMORY: flags and keywords are not read")
            return None
        try:
            index = read_index(directory, strict=False)
        except MailstoreError as e:
            if e.kind is Kind.NOTFOUND:
                warnings.append(f"index dovecot.index(.log) missing in {directory}: "
                                "flags and keywords cannot be recovered")
                return None
            if e.kind is Kind.INVALIDDATA:
                warnings.append(f"index in {directory} unreadable ({e}): "
                                "flags and keywords cannot be recovered")
                return None
            raise
        warnings.extend(index.warnings)
        return index

    def _meta(self, path: str, position: int, uid: int, flags: frozenset[str],
              keywords: tuple[str, ...], recent: bool, warnings: list[str]) -> MessageMeta | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            warnings.append(f"{path} vanished while listing: left out")
            return None
        except OSError as e:
            raise MailstoreError(Kind.INVALIDDATA, f"cannot stat {path}: {e.strerror}") from e
        received, size, vsize, guid = int(st.st_mtime), st.st_size, None, None
        try:
            with DboxFile.open(path) as dbox:
                message = dbox.message_at(dbox.header.size)
            received, size, vsize, guid = (message.received_date, message.size,
                                           message.vsize, message.guid)
        except MailstoreError as e:
            if e.kind is not Kind.INVALIDDATA:
                raise
            # Listed anyway: read_message raises the same error, so the message is
            # dead-lettered with its reason while the rest of the mailbox goes on.
        return MessageMeta(
            source_key=f"{_PREFIX}{uid}",
            position=position,
            uid=uid,
            flags=flags,
            keywords=keywords,
            received_date=received,
            save_date=int(st.st_ctime),
            size=size,
            vsize=vsize,
            guid=guid,
            handle=path,
            recent=recent,
        )

    def folder_warnings(self, folder: Folder) -> list[str]:
        """What the last :meth:`iter_messages` of ``folder`` could not recover."""
        return list(self._warnings.get(_normalize(folder.name), []))

    def read_message(self, folder: Folder, meta: MessageMeta) -> bytes:
        """The message bytes of ``u.<uid>``, looked up again in primary and alternate storage
        if it moved meanwhile (``doveadm altmove``)."""
        name = _normalize(folder.name)
        candidates = [meta.handle]
        for directory in (self.layout.mailbox_dir(name), self.layout.alt_dir(name)):
            if directory is not None and meta.uid is not None:
                path = os.path.join(directory, f"{_PREFIX}{meta.uid}")
                if path not in candidates:
                    candidates.append(path)
        error: MailstoreError | None = None
        for path in candidates:
            try:
                with DboxFile.open(path) as dbox:
                    message = dbox.message_at(dbox.header.size)
                    if message.ext_refs is not None:
                        raise MailstoreError(
                            Kind.INVALIDDATA,
                            f"{path}: the message keeps attachments outside the file "
                            "(X metadata, mail_attachment_dir), which is not supported",
                        )
                    return dbox.read_body(message)
            except MailstoreError as e:
                if e.kind is not Kind.NOTFOUND:
                    raise
                error = error or e
        assert error is not None
        raise error

    def subscriptions(self) -> list[tuple[str, ...]]:
        """Subscribed mailbox names as UTF-8 component tuples."""
        return read_subscriptions(
            self.layout.subscriptions_path(), self.separator, self.layout.decode_component
        )
