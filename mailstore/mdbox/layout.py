"""Where an mdbox keeps what: the dbox mailbox tree plus the shared storage and its map.

Mailbox directories, their names and listing are dbox's (:class:`mailstore.dbox.layout.
DboxLayout`: fs layout, ``mailboxes/<name>/dbox-Mails``, mUTF-7 names, ``\\NoSelect`` parents
without ``dbox-Mails``, ``INDEX=``, ``CONTROL=``, ``ITERINDEX``).  An mdbox mailbox directory
holds only index files; the mail is in the storage directory (``mdbox-map.c``)::

    <root>/mailboxes/INBOX/dbox-Mails/dovecot.index*       INBOX (indexes only, no mail)
    <root>/storage/m.<file_id>                             the messages of every mailbox
    <root>/storage/dovecot.map.index*                      map_uid -> (file_id, offset, size)
    <alt>/storage/m.<file_id>                              mail_alt_path: m.* files moved there
    <INDEX>/mailboxes/Foo/dovecot.index*                   with INDEX=<dir> (no dbox-Mails)
    <INDEX>/storage/dovecot.map.index*                     the map moves with INDEX= too

(both ``INDEX=`` placements observed on 2.3.19).  ``INDEX=MEMORY`` tells Dovecot to ignore the
index files on disk; a reader cannot (an mdbox without its indexes cannot tell live mail from
expunged), so here they are read from their default place, which is what a read-only import
of a snapshot wants.
"""

from __future__ import annotations

import os

from mailstore.dbox.layout import DboxLayout
from mailstore.sourcedir import scan_dir

__all__ = ["MAP_INDEX_PREFIX", "MdboxLayout"]

#: The map index's file prefix inside the storage directory.
MAP_INDEX_PREFIX = "dovecot.map.index"
_STORAGE_DIR = "storage"
_MESSAGE_FILE_PREFIX = "m."


class MdboxLayout(DboxLayout):
    """The paths of one mdbox location (already expanded for its user)."""

    def index_dir(self, name: tuple[str, ...]) -> str:
        """Where the mailbox's ``dovecot.index*`` files are (also with ``INDEX=MEMORY``)."""
        return super().index_dir(name) or self.mailbox_dir(name)

    @property
    def storage_dir(self) -> str:
        """``<root>/storage``: the ``m.*`` files."""
        return os.path.join(self.root, _STORAGE_DIR)

    @property
    def alt_storage_dir(self) -> str | None:
        """``<alt>/storage`` when alternate storage is configured."""
        return os.path.join(self.alt_root, _STORAGE_DIR) if self.alt_root else None

    @property
    def map_index_dir(self) -> str:
        """Where ``dovecot.map.index*`` is: the storage directory, or under ``INDEX=``."""
        return os.path.join(self.index_root or self.root, _STORAGE_DIR)

    def message_file_paths(self, file_id: int) -> list[str]:
        """Candidate paths of ``m.<file_id>``, primary storage first, as Dovecot opens them."""
        name = f"{_MESSAGE_FILE_PREFIX}{file_id}"
        paths = [os.path.join(self.storage_dir, name)]
        if self.alt_storage_dir is not None:
            paths.append(os.path.join(self.alt_storage_dir, name))
        return paths

    def has_message_files(self) -> bool:
        """Whether any ``m.*`` file exists in primary or alternate storage."""
        for directory in (self.storage_dir, self.alt_storage_dir):
            entries = None if directory is None else scan_dir(directory)
            if entries and any(e.name.startswith(_MESSAGE_FILE_PREFIX) for e in entries):
                return True
        return False
