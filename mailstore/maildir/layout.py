"""Maildir folder layouts: listing mailboxes and mapping names to directories, both ways.

Mirrors Dovecot's ``mailbox-list-maildir*.c`` (Maildir++) and ``mailbox-list-fs*.c`` (fs).
Names are tuples of UTF-8 components (``("INBOX",)``, ``("Archive", "2024")``); on disk each
component is modified UTF-7 unless the location says ``UTF-8``.

Maildir++ (separator ``.``)::

    ~/Maildir/{cur,new,tmp}              INBOX
    ~/Maildir/.Foo/                      Foo          (selectable even without cur/)
    ~/Maildir/.Foo.Bar/                  Foo.Bar      (Foo without .Foo: \\NonExistent, unlisted)
    ~/Maildir/.INBOX.sub/                INBOX.sub
    ~/Maildir/.Entw&APw-rfe/             Entwürfe
    ~/Maildir/..DOVECOT-TRASHED/         ignored

fs (separator ``/``)::

    ~/Maildir/{cur,new,tmp}              INBOX
    ~/Maildir/Foo/Bar/{cur,new,tmp}      Foo/Bar      (a directory without cur/ is \\NoSelect)
    ~/Maildir/Foo/Bar/<dirname>/cur      Foo/Bar      with mailbox_directory_name=<dirname>

``cur``, ``new`` and ``tmp`` (and the directory name) are never folders.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailstore.errors import Kind, MailstoreError
from mailstore.mutf7 import decode_mutf7, encode_mutf7

if TYPE_CHECKING:
    from mailstore.location import MailLocation

__all__ = [
    "INTERNAL_NAMES",
    "TRASH_DIR_NAME",
    "FsLayout",
    "MailboxDir",
    "MaildirLayout",
    "MaildirPlusPlusLayout",
    "layout_for",
    "normalize_name",
]

TRASH_DIR_NAME = ".DOVECOT-TRASHED"
#: Directory names inside a Maildir that are never mailboxes.
INTERNAL_NAMES = frozenset({"cur", "new", "tmp"})
_MAX_COMPONENT_BYTES = 255


@dataclass(frozen=True)
class MailboxDir:
    """A selectable mailbox: its name and the directory holding ``cur/ new/ tmp/``."""

    name: tuple[str, ...]
    path: str


def normalize_name(name: tuple[str, ...]) -> tuple[str, ...]:
    """Spell a leading ``INBOX`` component (any case) as ``INBOX``, as Dovecot does."""
    if name and name[0].upper() == "INBOX":
        return ("INBOX",) + tuple(name[1:])
    return tuple(name)


def _is_inbox(name: tuple[str, ...]) -> bool:
    return len(name) == 1 and name[0].upper() == "INBOX"


def _is_dir(path: str) -> bool:
    return os.path.isdir(path)


class MaildirLayout(abc.ABC):
    """What both layouts share; subclasses say how a name becomes a directory."""

    separator = "."

    def __init__(self, location: MailLocation) -> None:
        self.location = location
        self.root = os.path.abspath(location.path)
        self.utf8 = bool(location.utf8)
        control = location.control_path
        self.control_root = os.path.abspath(control) if control else None
        inbox = location.inbox_path
        self.inbox_path = os.path.abspath(inbox) if inbox else None

    # -- component encoding ---------------------------------------------------------------
    def encode_component(self, component: str) -> str:
        """One UTF-8 name component as it is spelled on disk."""
        return component if self.utf8 else encode_mutf7(component)

    def decode_component(self, stored: str) -> str:
        """One on-disk component as UTF-8; a name that is not valid mUTF-7 is kept as it is."""
        if self.utf8:
            return stored
        try:
            return decode_mutf7(stored)
        except MailstoreError:
            return stored

    # -- names -> directories ---------------------------------------------------------------
    def storage_components(self, name: tuple[str, ...]) -> tuple[str, ...]:
        """The on-disk spelling of each component (``INBOX`` stays ``INBOX``)."""
        name = normalize_name(name)
        return tuple(
            c if i == 0 and c == "INBOX" else self.encode_component(c) for i, c in enumerate(name)
        )

    @abc.abstractmethod
    def mailbox_dir(self, name: tuple[str, ...]) -> str:
        """The directory holding the mailbox's ``cur/ new/ tmp/``."""

    @abc.abstractmethod
    def control_dir(self, name: tuple[str, ...]) -> str:
        """Where ``dovecot-uidlist`` and ``dovecot-keywords`` live for the mailbox."""

    def subscriptions_path(self) -> str:
        """The subscriptions file: under the control path if set, else the root."""
        return os.path.join(self.control_root or self.root, "subscriptions")

    def validate_name(self, name: tuple[str, ...]) -> None:
        """Raise MailstoreError(PARAMS) if this layout cannot store a mailbox of that name."""
        shown = self.separator.join(name)
        if not name:
            raise MailstoreError(Kind.PARAMS, "Invalid mailbox name: empty name")
        for index, component in enumerate(name):
            if component == "":
                raise MailstoreError(
                    Kind.PARAMS, f"Invalid mailbox name {shown!r}: empty hierarchy level"
                )
            for bad in ("/", self.separator):
                if bad in component:
                    raise MailstoreError(
                        Kind.PARAMS,
                        f"Couldn't create mailbox {shown}: "
                        f"Character not allowed in mailbox name: {bad!r}",
                    )
            if "\0" in component:
                raise MailstoreError(Kind.PARAMS, f"Invalid mailbox name {shown!r}: NUL")
            if index == 0 and component.startswith("~"):
                raise MailstoreError(
                    Kind.PARAMS, f"Invalid mailbox name {shown!r}: must not start with '~'"
                )
            stored = self.encode_component(component)
            if len(os.fsencode(stored)) > _MAX_COMPONENT_BYTES - 1:
                raise MailstoreError(Kind.PARAMS, f"Invalid mailbox name {shown!r}: too long")

    # -- listing ------------------------------------------------------------------------------
    @abc.abstractmethod
    def list_mailboxes(self) -> list[MailboxDir]:
        """Every selectable mailbox, INBOX first, then by name."""

    def _inbox_entry(self) -> list[MailboxDir]:
        path = self.mailbox_dir(("INBOX",))
        return [MailboxDir(("INBOX",), path)] if _is_dir(path) else []

    @staticmethod
    def _sorted(boxes: list[MailboxDir]) -> list[MailboxDir]:
        return sorted(boxes, key=lambda b: (not _is_inbox(b.name), b.name))


class MaildirPlusPlusLayout(MaildirLayout):
    """Maildir++: INBOX is the root, other mailboxes are ``.<storage.name>`` directories."""

    separator = "."

    def _dir_name(self, name: tuple[str, ...]) -> str:
        return "." + ".".join(self.storage_components(name))

    def mailbox_dir(self, name: tuple[str, ...]) -> str:
        if _is_inbox(name):
            return self.inbox_path or self.root
        return os.path.join(self.root, self._dir_name(name))

    def control_dir(self, name: tuple[str, ...]) -> str:
        if self.control_root is None:
            return self.mailbox_dir(name)
        if _is_inbox(name):
            return self.control_root
        return os.path.join(self.control_root, self._dir_name(name))

    def name_for_dir(self, dirname: str) -> tuple[str, ...] | None:
        """The mailbox name of a ``.<storage name>`` directory entry, None if it is none."""
        if not dirname.startswith(".") or dirname in (".", ".."):
            return None
        if dirname[1:] == TRASH_DIR_NAME or dirname.startswith(".."):
            return None
        parts = dirname[1:].split(".")
        if any(p == "" for p in parts):
            return None
        name = normalize_name(tuple(self.decode_component(p) for p in parts))
        if _is_inbox(name):
            return None  # INBOX is the root; a ".INBOX" directory only parents .INBOX.x
        return name

    def list_mailboxes(self) -> list[MailboxDir]:
        boxes = self._inbox_entry()
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = self.name_for_dir(entry.name)
                if name is None:
                    continue
                try:
                    if not entry.is_dir(follow_symlinks=True):
                        continue
                except OSError:
                    continue
                boxes.append(MailboxDir(name, os.path.join(self.root, entry.name)))
        return self._sorted(boxes)


class FsLayout(MaildirLayout):
    """fs layout: ``Foo/Bar/{cur,new,tmp}`` below the root, separator ``/``."""

    separator = "/"

    def __init__(self, location: MailLocation) -> None:
        super().__init__(location)
        dirname = location.directory_name or ""
        if dirname and ("/" in dirname or dirname in (".", "..") or dirname in INTERNAL_NAMES):
            raise MailstoreError(
                Kind.PARAMS,
                f"mail location {location.driver}:{location.path}: "
                f"unsupported mailbox directory name {dirname!r}",
            )
        self.dirname = dirname

    def _plain_dir(self, name: tuple[str, ...]) -> str:
        return os.path.join(self.root, *self.storage_components(name))

    def mailbox_dir(self, name: tuple[str, ...]) -> str:
        if _is_inbox(name):
            if self.inbox_path:
                return self.inbox_path
            if not self.dirname:
                return self.root
        path = self._plain_dir(name)
        return os.path.join(path, self.dirname) if self.dirname else path

    def control_dir(self, name: tuple[str, ...]) -> str:
        if self.control_root is None:
            return self.mailbox_dir(name)
        if _is_inbox(name) and not self.dirname and not self.inbox_path:
            return self.control_root
        return os.path.join(self.control_root, *self.storage_components(name))

    def validate_name(self, name: tuple[str, ...]) -> None:
        super().validate_name(name)
        shown = "/".join(name)
        for component in name:
            stored = self.encode_component(component)
            if stored in (".", "..") or stored in INTERNAL_NAMES or stored == self.dirname:
                raise MailstoreError(
                    Kind.PARAMS, f"Invalid mailbox name {shown!r}: {component!r} is reserved"
                )

    def _selectable(self, path: str) -> bool:
        inner = os.path.join(path, self.dirname) if self.dirname else path
        return _is_dir(os.path.join(inner, "cur"))

    def list_mailboxes(self) -> list[MailboxDir]:
        boxes = self._inbox_entry()
        skip = set(INTERNAL_NAMES)
        if self.dirname:
            skip.add(self.dirname)
        stack: list[tuple[str, tuple[str, ...]]] = [(self.root, ())]
        while stack:
            directory, parent = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                if entry.name in skip or entry.name in (".", ".."):
                    continue
                try:
                    if not entry.is_dir(follow_symlinks=True):
                        continue
                except OSError:
                    continue
                name = normalize_name(parent + (self.decode_component(entry.name),))
                path = os.path.join(directory, entry.name)
                stack.append((path, name))
                if _is_inbox(name):
                    continue  # INBOX is listed once, from its own path
                if self._selectable(path):
                    inner = os.path.join(path, self.dirname) if self.dirname else path
                    boxes.append(MailboxDir(name, inner))
        return self._sorted(boxes)


def layout_for(location: MailLocation) -> MaildirLayout:
    """The layout object for a Maildir location (``maildir++`` or ``fs``)."""
    layout = (location.layout or "maildir++").lower()
    if layout == "maildir++":
        return MaildirPlusPlusLayout(location)
    if layout == "fs":
        return FsLayout(location)
    raise MailstoreError(
        Kind.PARAMS,
        f"mail location {location.driver}:{location.path}: layout {layout!r} is not supported "
        "by the maildir driver (names live only in dovecot.list.index)",
    )
