"""A Dovecot-free reader of Dovecot's index files (``dovecot.index`` + ``dovecot.index.log``).

Used by the sdbox and mdbox drivers to recover flags, keywords, UIDs and extension data (mdbox
``map_uid``, map-index ``map``/``ref``) without Dovecot, strictly read-only.  Split like
``lib-index``: :mod:`.indexfile` (the base file), :mod:`.logfile` (log header and record
framing), :mod:`.replay` (applying records), :mod:`.state` (the index map while replaying),
:mod:`.reader` (which files to read from where) and :mod:`.model` (the frozen result)::

    index = read_index("/home/u/sdbox/mailboxes/INBOX/dbox-Mails")
    index.uid_validity, index.next_uid, index.first_recent_uid     # 1700000000, 8, 8
    rec = index.records[0]                                          # UID order, no expunged
    rec.uid, system_flags(rec.flags), rec.keywords                  # 1, {"\\\\Seen"}, ("$Later",)
    index.header_extensions["dbox-hdr"][4:20]                       # the mailbox GUID

    map_index = read_index("/home/u/mdbox/storage", "dovecot.map.index")
    map_index.records[0].extensions["map"]                          # u32 file_id, offset, size
"""

from __future__ import annotations

from mailstore.index.model import (
    FLAG_ANSWERED,
    FLAG_DELETED,
    FLAG_DIRTY,
    FLAG_DRAFT,
    FLAG_FLAGGED,
    FLAG_SEEN,
    IndexRecord,
    MailIndex,
    system_flags,
)
from mailstore.index.reader import read_index

__all__ = [
    "FLAG_ANSWERED",
    "FLAG_DELETED",
    "FLAG_DIRTY",
    "FLAG_DRAFT",
    "FLAG_FLAGGED",
    "FLAG_SEEN",
    "IndexRecord",
    "MailIndex",
    "read_index",
    "system_flags",
]
