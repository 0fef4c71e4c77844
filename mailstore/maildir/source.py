"""Reading a Maildir as an import source, strictly read-only.

Nothing is created, renamed, touched or locked in the source: no ``mailbox.Maildir``, no
uidlist lock, no index.  Metadata comes from the file names, ``stat()``, ``dovecot-uidlist`` and
``dovecot-keywords``.  What :meth:`MaildirSource.iter_messages` yields per message::

    MessageMeta(source_key="1795886322.M223279P16578.vm,S=154,W=162",   # the base name
                position=0, uid=1,                  # from the uidlist, else as Dovecot assigns
                flags=frozenset({"\\\\Seen"}), keywords=("$Junk",),
                received_date=1795886322,           # int(st_mtime)
                save_date=1795886330,               # int(st_ctime)
                size=154, vsize=162,                # S= (else st_size), W= (else None)
                guid="1795886322.M223279P16578.vm,S=154,W=162",   # uidlist G, else the base
                handle="/home/u/Maildir/cur/1795886322.M223279P16578.vm,S=154,W=162:2,Sa")

Order: files the uidlist lists, by UID; then the others in ``maildir_filename_sort_cmp`` order,
which is the order in which Dovecot numbers them when it syncs the mailbox.  Those get the UIDs
Dovecot would give them: counting up from the effective next UID, max(header ``N``, last record's
UID + 1) -- the header is not rewritten on append, and a lingering record of an expunged file
still counts -- or from 1 without a usable uidlist (checked with ``doveadm fetch uid`` on 2.3.19).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailstore.driver import Capability, Folder, MailSource, MessageMeta
from mailstore.errors import Kind, MailstoreError
from mailstore.maildir.filename import filename_sort_key, parse_filename
from mailstore.maildir.keywords import keywords_for_letters, read_keywords
from mailstore.maildir.layout import layout_for, normalize_name
from mailstore.maildir.subscriptions import read_subscriptions
from mailstore.maildir.uidlist import Uidlist, read_uidlist
from mailstore.sourcedir import scan_dir

if TYPE_CHECKING:
    from mailstore.location import MailLocation
    from mailstore.userdb import User

__all__ = ["MaildirSource"]

_MESSAGE_DIRS = ("cur", "new")


@dataclass(frozen=True)
class _File:
    subdir: str
    name: str
    path: str
    st: os.stat_result


def _scan(mailbox_dir: str) -> list[_File]:
    files: list[_File] = []
    for subdir in _MESSAGE_DIRS:
        directory = os.path.join(mailbox_dir, subdir)
        entries = scan_dir(directory)
        if entries is None:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                info = entry.stat(follow_symlinks=True)
            except OSError:
                continue  # vanished (flag change by rename, expunge) or dangling symlink
            if not stat.S_ISREG(info.st_mode):
                continue
            files.append(_File(subdir, entry.name, os.path.join(directory, entry.name), info))
    return files


def _next_uid(uidlist: Uidlist | None) -> int:
    """The UID Dovecot gives the first file the uidlist lacks: max(N, last record + 1)."""
    if uidlist is None:
        return 1
    last_uid = uidlist.records[-1].uid if uidlist.records else 0
    return max(uidlist.next_uid, last_uid + 1)


class MaildirSource(MailSource):
    """A Maildir (Maildir++ or fs layout) opened read-only for ``user``."""

    capabilities = (
        Capability.FILE_PER_MSG
        | Capability.HAVE_UIDS
        | Capability.HAVE_GUIDS
        | Capability.SUBSCRIPTIONS
    )

    def __init__(self, location: MailLocation, user: User) -> None:
        self.location = location
        self.user = user
        self.layout = layout_for(location)
        self.separator = location.separator

    def _check_root(self) -> None:
        root = self.layout.root
        if not os.path.isdir(root):
            raise MailstoreError(
                Kind.NOTFOUND,
                f"mail location {self.location.driver}:{self.location.path}: "
                f"directory {root} does not exist",
            )

    def list_folders(self) -> list[Folder]:
        """Selectable mailboxes, INBOX first, then sorted by name components."""
        self._check_root()
        try:
            boxes = self.layout.list_mailboxes()
        except PermissionError as e:
            raise MailstoreError(Kind.PERM, f"cannot list {self.layout.root}: {e.strerror}") from e
        folders = []
        for box in boxes:
            uidlist = read_uidlist(self.layout.control_dir(normalize_name(box.name)))
            guid = uidlist.mailbox_guid if uidlist is not None else None
            folders.append(Folder(box.name, self.separator, box.path, guid))
        return folders

    def iter_messages(self, folder: Folder) -> Iterator[MessageMeta]:
        """The folder's messages in UID order (see the module docstring)."""
        name = normalize_name(folder.name)
        mailbox_dir = folder.handle or self.layout.mailbox_dir(name)
        control_dir = self.layout.control_dir(name)
        uidlist = read_uidlist(control_dir)
        table = read_keywords(control_dir)
        records = uidlist.by_base() if uidlist is not None else {}

        seen: set[str] = set()
        listed: list[tuple[int, str, _File]] = []
        unlisted: list[tuple[str, _File]] = []
        for file in _scan(mailbox_dir):
            parsed = parse_filename(file.name)
            key = parsed.base
            if key in seen:
                # The same base name in cur/ and new/: Dovecot renames one of them and imports
                # both; we keep both under distinct, stable keys.
                key = f"{file.subdir}/{file.name}"
            seen.add(key)
            rec = records.get(parsed.base)
            if rec is not None and key == parsed.base:
                listed.append((rec.uid, key, file))
            else:
                unlisted.append((key, file))
        listed.sort(key=lambda item: item[0])
        unlisted.sort(key=lambda item: filename_sort_key(item[1].name))

        # Dovecot builds a missing index from dovecot-uidlist and trusts its records as seen:
        # only the files it lacks -- numbered from the effective next UID on -- are \Recent
        # when doveadm first opens a copy (all of them without a uidlist) [obs 2.3.19].
        position = 0
        for uid, key, file in listed:
            yield self._meta(key, position, uid, file, table, records[key].guid, recent=False)
            position += 1
        next_uid = _next_uid(uidlist)
        for key, file in unlisted:
            yield self._meta(key, position, next_uid, file, table, None, recent=True)
            position += 1
            next_uid += 1

    @staticmethod
    def _meta(
        key: str,
        position: int,
        uid: int,
        file: _File,
        table: dict[int, str],
        guid: str | None,
        *,
        recent: bool,
    ) -> MessageMeta:
        parsed = parse_filename(file.name)
        return MessageMeta(
            source_key=key,
            position=position,
            uid=uid,
            flags=parsed.flags,
            keywords=keywords_for_letters(parsed.keyword_letters, table),
            received_date=int(file.st.st_mtime),
            save_date=int(file.st.st_ctime),
            size=parsed.size if parsed.size is not None else file.st.st_size,
            vsize=parsed.vsize,
            guid=guid or parsed.base,
            handle=file.path,
            recent=recent,
        )

    def read_message(self, folder: Folder, meta: MessageMeta) -> bytes:
        """The file's exact bytes; found again by base name if its flags changed meanwhile."""
        try:
            return self._read(meta.handle)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise MailstoreError(
                Kind.INVALIDDATA, f"cannot read message {meta.handle}: {e.strerror}"
            ) from e
        base = parse_filename(os.path.basename(meta.handle)).base
        mailbox_dir = os.path.dirname(os.path.dirname(meta.handle))
        for subdir in _MESSAGE_DIRS:
            directory = os.path.join(mailbox_dir, subdir)
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                if parse_filename(name).base == base and not name.startswith("."):
                    path = os.path.join(directory, name)
                    try:
                        return self._read(path)
                    except FileNotFoundError:
                        continue
                    except OSError as e:
                        raise MailstoreError(
                            Kind.INVALIDDATA, f"cannot read message {path}: {e.strerror}"
                        ) from e
        raise MailstoreError(
            Kind.NOTFOUND,
            f"cannot read message {meta.handle}: {os.strerror(errno.ENOENT)} "
            f"(no file with base name {base} in {mailbox_dir}/cur or new)",
        )

    @staticmethod
    def _read(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def subscriptions(self) -> list[tuple[str, ...]]:
        """Subscribed mailbox names as UTF-8 component tuples."""
        return read_subscriptions(
            self.layout.subscriptions_path(),
            self.layout.separator,
            self.layout.decode_component,
        )
