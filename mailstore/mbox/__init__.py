"""The mbox driver (read-only source), registered as ``mbox``.

Split by concept like Dovecot's ``index/mbox``: :mod:`.fromline` (``mbox-from.c``),
:mod:`.headers` (metadata headers and how they are hidden), :mod:`.parser` (message boundaries,
``istream-raw-mbox.c``), :mod:`.sync` (UIDs, flags, keywords, \\Recent and the index,
``mbox-sync*.c``), :mod:`.layout` (folder listing and names) and the driver :mod:`.source`.
"""

from __future__ import annotations

from mailstore.driver import register_source
from mailstore.mbox.source import MboxSource

__all__ = ["MboxSource"]

register_source("mbox", MboxSource)
