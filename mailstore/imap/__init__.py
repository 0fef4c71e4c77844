"""The IMAP drivers: :mod:`.client` (one logged-in connection with bounded retries, shared by
both halves), :mod:`.source` (``imapc:`` source, registered as ``imapc``) and the destination.
"""

from __future__ import annotations

from mailstore.driver import register_source
from mailstore.imap.client import ImapEndpoint, ImapError, ImapSession
from mailstore.imap.source import ImapcSource

__all__ = ["ImapEndpoint", "ImapError", "ImapSession", "ImapcSource"]

register_source("imapc", ImapcSource)

# The destination half registers itself as "imap" and "imaps".
import mailstore.imap.destination  # noqa: F401
