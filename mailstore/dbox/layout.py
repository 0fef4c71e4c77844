"""Where a dbox mailbox keeps its files, and which mailboxes exist (fs layout, ``/`` separator).

Mirrors ``mailbox-list-fs.c`` (``fs_list_get_path``) and ``mailbox-list-fs-iter.c`` with the
dbox settings (``mailbox_root_directory_name = mailboxes``, ``mailbox_directory_name =
dbox-Mails``).  Names are tuples of UTF-8 components; on disk each component is modified
UTF-7 unless the location says ``UTF-8``::

    <root>/mailboxes/INBOX/dbox-Mails/u.1          mailbox_dir(("INBOX",))
    <root>/mailboxes/Foo/Bar/dbox-Mails/            mailbox_dir(("Foo", "Bar"))
    <root>/mailboxes/Foo/                           Foo is \\NoSelect without dbox-Mails/
    <INDEX>/mailboxes/Foo/Bar/dovecot.index.log     index_dir(...) with mail_index_path
    <ALT>/mailboxes/Foo/Bar/dbox-Mails/u.7          alt_dir(...) with mail_alt_path
    <INBOX path>/u.1                                with mail_inbox_path (not in alt storage)
    <CONTROL or root>/subscriptions

Listing walks ``<root>/mailboxes``; with ``mailbox_list_iter_from_index_dir=yes`` it walks
``<INDEX>/mailboxes`` instead, and a directory there is selectable when it holds
``dovecot.index.log`` or the mailbox's ``dbox-Mails`` exists in the mail root
(``index_storage_mailbox_exists_full``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailstore.errors import Kind, MailstoreError
from mailstore.mutf7 import decode_mutf7, encode_mutf7

if TYPE_CHECKING:
    from mailstore.location import MailLocation

__all__ = ["DboxLayout", "DboxMailbox"]

_YES = ("yes", "y", "1")
_NO = ("no", "n", "0")


@dataclass(frozen=True)
class DboxMailbox:
    """A selectable mailbox: its name and the directory holding its message files."""

    name: tuple[str, ...]
    path: str


def _is_inbox(name: tuple[str, ...]) -> bool:
    return len(name) == 1 and name[0].upper() == "INBOX"


def _normalize(name: tuple[str, ...]) -> tuple[str, ...]:
    if name and name[0].upper() == "INBOX":
        return ("INBOX",) + tuple(name[1:])
    return tuple(name)


class DboxLayout:
    """Paths of one dbox location (sdbox or mdbox mailboxes; fs layout only)."""

    separator = "/"

    def __init__(self, location: MailLocation) -> None:
        layout = location.layout
        if layout != "fs":
            raise MailstoreError(
                Kind.PARAMS,
                f"mail location {location.driver}:{location.path}: layout {layout!r} is not "
                "supported for dbox (names live only in dovecot.list.index)",
            )
        self.location = location
        self.root = os.path.abspath(location.path)
        self.utf8 = location.utf8
        self.mailbox_root_name = location.get("mailbox_root_directory_name", "mailboxes") or ""
        self.dirname = location.directory_name or "dbox-Mails"
        legacy = (location.get("mailbox_directory_name_legacy") or "yes").lower()
        self._index_uses_dirname = legacy in _NO
        index = location.index_path
        self.index_in_memory = index == "MEMORY"
        self.index_root = os.path.abspath(index) if index and index != "MEMORY" else None
        alt = location.alt_path
        self.alt_root = os.path.abspath(alt) if alt else None
        inbox = location.inbox_path
        self.inbox_path = os.path.abspath(inbox) if inbox else None
        control = location.control_path
        self.control_root = os.path.abspath(control) if control else None
        iter_index = (location.get("mailbox_list_iter_from_index_dir") or "no").lower()
        self.iter_from_index = iter_index in _YES and self.index_root is not None

    # -- names <-> components ----------------------------------------------------------------
    def encode_component(self, component: str) -> str:
        return component if self.utf8 else encode_mutf7(component)

    def decode_component(self, stored: str) -> str:
        """An on-disk component as UTF-8; a name that is not valid mUTF-7 is kept as it is."""
        if self.utf8:
            return stored
        try:
            return decode_mutf7(stored)
        except MailstoreError:
            return stored

    def _storage(self, name: tuple[str, ...]) -> list[str]:
        name = _normalize(name)
        return [c if i == 0 and c == "INBOX" else self.encode_component(c)
                for i, c in enumerate(name)]

    def _under(self, root: str, name: tuple[str, ...]) -> str:
        parts = [self.mailbox_root_name] if self.mailbox_root_name else []
        return os.path.join(root, *parts, *self._storage(name))

    # -- paths --------------------------------------------------------------------------------
    def mailbox_dir(self, name: tuple[str, ...]) -> str:
        """The directory holding the message files (sdbox ``u.*``) and, by default, the index."""
        if _is_inbox(name) and self.inbox_path:
            return self.inbox_path
        return os.path.join(self._under(self.root, name), self.dirname)

    def alt_dir(self, name: tuple[str, ...]) -> str | None:
        """The same mailbox's directory in alternate storage, None without ``mail_alt_path``."""
        if self.alt_root is None:
            return None
        return os.path.join(self._under(self.alt_root, name), self.dirname)

    def index_dir(self, name: tuple[str, ...]) -> str | None:
        """Where ``dovecot.index*`` live; None with ``mail_index_path=MEMORY``."""
        if self.index_in_memory:
            return None
        if self.index_root is None:
            return self.mailbox_dir(name)
        path = self._under(self.index_root, name)
        return os.path.join(path, self.dirname) if self._index_uses_dirname else path

    def subscriptions_path(self) -> str:
        """``subscriptions`` in the control directory if set, else in the mail root."""
        return os.path.join(self.control_root or self.root, "subscriptions")

    # -- listing ------------------------------------------------------------------------------
    def list_mailboxes(self) -> list[DboxMailbox]:
        """Every selectable mailbox, INBOX first, then by name components."""
        base = self.index_root if self.iter_from_index else self.root
        assert base is not None
        top = os.path.join(base, self.mailbox_root_name) if self.mailbox_root_name else base
        boxes: list[DboxMailbox] = []
        if self.inbox_path and os.path.isdir(self.inbox_path):
            boxes.append(DboxMailbox(("INBOX",), self.inbox_path))
        stack: list[tuple[str, tuple[str, ...]]] = [(top, ())]
        while stack:
            directory, parent = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue  # Dovecot ignores missing and unreadable directories here
            for entry in entries:
                if entry.name in (".", "..", self.dirname):
                    continue
                try:
                    if not entry.is_dir(follow_symlinks=True):
                        continue
                except OSError:
                    continue
                name = _normalize(parent + (self.decode_component(entry.name),))
                stack.append((entry.path, name))
                if _is_inbox(name) and self.inbox_path:
                    continue  # INBOX lives at mail_inbox_path, listed above
                if self._selectable(entry.path, name):
                    boxes.append(DboxMailbox(name, self.mailbox_dir(name)))
        return sorted(boxes, key=lambda b: (not _is_inbox(b.name), b.name))

    def _selectable(self, listed_dir: str, name: tuple[str, ...]) -> bool:
        if not self.iter_from_index:
            return os.path.exists(os.path.join(listed_dir, self.dirname))
        index = self.index_dir(name)
        if index is not None and os.path.exists(os.path.join(index, "dovecot.index.log")):
            return True
        return os.path.exists(self.mailbox_dir(name))
