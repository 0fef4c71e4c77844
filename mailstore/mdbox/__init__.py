"""The mdbox driver (Dovecot's multi-dbox), read-only, registered as ``mdbox``.

Split by concept like Dovecot's ``index/dbox-multi``: :mod:`.layout` (where mailboxes, indexes,
the map and the ``m.*`` files are), :mod:`.map` (the map index: map_uid -> file, offset, size,
refcount), :mod:`.mailbox` (a mailbox index: uid -> map_uid, flags, keywords), :mod:`.storage`
(reading a message out of an ``m.*`` file) and the driver :mod:`.source`.  The index files are
replayed by :mod:`mailstore.index`, the dbox message format is :mod:`mailstore.dbox.file`.
"""

from __future__ import annotations

from mailstore.driver import register_source
from mailstore.mdbox.source import MdboxSource

__all__ = ["MdboxSource"]

register_source("mdbox", MdboxSource)
