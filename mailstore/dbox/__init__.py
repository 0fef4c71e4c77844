"""The dbox formats: the shared file format and the sdbox driver, registered as ``sdbox``.

Split by concept like Dovecot's ``index/dbox-common`` and ``index/dbox-single``:
:mod:`.file` (the dbox file format, used by sdbox ``u.*`` and mdbox ``m.*`` files),
:mod:`.layout` (mailbox directories, index/alt/control paths, listing) and :mod:`.sdbox`
(the read-only source).  Flags and keywords come from the index, replayed by
:mod:`mailstore.index`.
"""

from __future__ import annotations

from mailstore.dbox.sdbox import SdboxSource
from mailstore.driver import register_source

__all__ = ["SdboxSource"]

register_source("sdbox", SdboxSource)
