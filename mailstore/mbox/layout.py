"""mbox folder layout: which files are mailboxes, their names, and where Dovecot's index is.

Mirrors Dovecot 2.3's fs mailbox list with the mbox storage's rules (``mbox-storage.c``,
``mailbox-list-fs-iter.c``).  Separator ``/``; names are mUTF-7 on disk unless ``UTF-8``::

    mbox:~/mail[:INBOX=<path>][:INDEX=<dir>|MEMORY]
    ~/mail/inbox                 INBOX (the default INBOX= for an explicit mbox location in 2.3)
    ~/mail/Archive               Archive        (a file: a mailbox, even when empty)
    ~/mail/Lists/                Lists          (a directory: \\NoSelect, listed only via children)
    ~/mail/Lists/dovecot         Lists/dovecot
    ~/mail/Entw&APw-rfe          Entwürfe
    ~/mail/.imap/INBOX/          index of INBOX;  ~/mail/Lists/.imap/dovecot/  of Lists/dovecot
    ~/mail/.subscriptions        subscriptions (v1 with "/" or v2)

Never mailboxes: ``.`` and ``..``, ``.imap`` anywhere, names ending in ``.lock`` (longer than
``.lock`` itself), ``.subscriptions`` in the root, and the INBOX file itself.  Dovecot looks
for ``/var/mail/%u`` only when it *autodetects* the location (an empty ``mail_location``);
``doveadm import`` always names one, so INBOX is ``<root>/inbox`` unless ``INBOX=`` says
otherwise, and there is no INBOX when that file does not exist.  A root-level entry spelled
``inbox`` in any case is never listed as another mailbox.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailstore.errors import Kind, MailstoreError
from mailstore.mutf7 import decode_mutf7, encode_mutf7

if TYPE_CHECKING:
    from mailstore.location import MailLocation

__all__ = ["INDEX_DIR_NAME", "SUBSCRIPTIONS_FILE", "MboxBox", "MboxLayout"]

INDEX_DIR_NAME = ".imap"
SUBSCRIPTIONS_FILE = ".subscriptions"


@dataclass(frozen=True)
class MboxBox:
    """A selectable mailbox: its UTF-8 name components and its file."""

    name: tuple[str, ...]
    path: str


def _is_internal(name: str) -> bool:
    return name == INDEX_DIR_NAME or (len(name) > 5 and name.endswith(".lock"))


class MboxLayout:
    """Names, files and index directories of an mbox location."""

    separator = "/"

    def __init__(self, location: MailLocation) -> None:
        self.location = location
        self.root = os.path.abspath(location.path)
        self.utf8 = bool(location.utf8)
        inbox = location.inbox_path
        self.inbox_path = os.path.abspath(inbox) if inbox else os.path.join(self.root, "inbox")
        index = location.index_path
        self.memory_index = index == "MEMORY"
        self.index_root = os.path.abspath(index) if index and index != "MEMORY" else None
        control = location.control_path
        self.control_root = os.path.abspath(control) if control else None

    def check_root(self) -> None:
        """Raise NOTFOUND (missing) or PARAMS (a file) for a root Dovecot would refuse."""
        where = f"mail location {self.location.driver}:{self.location.path}"
        try:
            info = os.stat(self.root)
        except FileNotFoundError:
            message = f"{where}: directory {self.root} does not exist"
            raise MailstoreError(Kind.NOTFOUND, message) from None
        except OSError as e:
            raise MailstoreError(Kind.PERM, f"{where}: cannot stat {self.root}: {e.strerror}") from e
        if not stat.S_ISDIR(info.st_mode):
            raise MailstoreError(Kind.PARAMS, f"{where}: mbox root directory can't be a file")

    def decode_component(self, stored: str) -> str:
        """One on-disk name component as UTF-8 (kept as it is when not valid mUTF-7)."""
        if self.utf8:
            return stored
        try:
            return decode_mutf7(stored)
        except MailstoreError:
            return stored

    def encode_component(self, component: str) -> str:
        return component if self.utf8 else encode_mutf7(component)

    def _storage(self, name: tuple[str, ...]) -> list[str]:
        return [self.encode_component(c) for c in name]

    def mailbox_path(self, name: tuple[str, ...]) -> str:
        """The mbox file of a mailbox."""
        if len(name) == 1 and name[0].upper() == "INBOX":
            return self.inbox_path
        return os.path.join(self.root, *self._storage(name))

    def index_dir(self, name: tuple[str, ...]) -> str | None:
        """Where Dovecot keeps the mailbox's ``dovecot.index*`` (None with ``INDEX=MEMORY``)."""
        if self.memory_index:
            return None
        base = self.index_root or self.root
        parts = ["INBOX"] if len(name) == 1 and name[0].upper() == "INBOX" else self._storage(name)
        return os.path.join(base, *parts[:-1], INDEX_DIR_NAME, parts[-1])

    def subscriptions_path(self) -> str:
        return os.path.join(self.control_root or self.root, SUBSCRIPTIONS_FILE)

    def list_mailboxes(self) -> list[MboxBox]:
        """Every selectable mailbox: INBOX first (if its file exists), then by name."""
        boxes: list[MboxBox] = []
        if os.path.isfile(self.inbox_path):
            boxes.append(MboxBox(("INBOX",), self.inbox_path))
        stack: list[tuple[str, tuple[str, ...]]] = [(self.root, ())]
        while stack:
            directory, parent = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except PermissionError as e:
                if not parent:
                    raise MailstoreError(Kind.PERM, f"cannot list {directory}: {e.strerror}") from e
                continue
            except OSError:
                continue
            for entry in entries:
                if _is_internal(entry.name):
                    continue
                if not parent and (entry.name == SUBSCRIPTIONS_FILE
                                   or entry.name.upper() == "INBOX"):
                    continue
                path = os.path.join(directory, entry.name)
                if os.path.abspath(path) == self.inbox_path:
                    continue
                name = parent + (self.decode_component(entry.name),)
                try:
                    if entry.is_dir(follow_symlinks=True):
                        stack.append((path, name))
                    elif entry.is_file(follow_symlinks=True):
                        boxes.append(MboxBox(name, path))
                except OSError:
                    continue
        return sorted(boxes, key=lambda b: (b.name != ("INBOX",), b.name))
