"""The Maildir driver (Maildir++ and fs layouts), registered as ``maildir``.

Split by concept like Dovecot's ``index/maildir``: :mod:`.filename` (names, flags, UID order),
:mod:`.keywords` (``dovecot-keywords``), :mod:`.uidlist` (``dovecot-uidlist``), :mod:`.lock`
(dotlocks), :mod:`.layout` (folder listing and names), :mod:`.subscriptions`, and the driver
halves :mod:`.source` (read-only) and :mod:`.destination` (idempotent writes).
"""

from __future__ import annotations

from mailstore.driver import register_destination, register_source
from mailstore.maildir.destination import MaildirDestination
from mailstore.maildir.source import MaildirSource

__all__ = ["MaildirDestination", "MaildirSource"]

register_source("maildir", MaildirSource)
register_destination("maildir", MaildirDestination)
