"""Listing a directory of a source store: read-only, errors as mailstore kinds.

Every driver that scans message files (Maildir ``cur/``/``new/``, sdbox ``u.*``, mdbox
``storage/m.*``) lists directories the same way: a missing directory is simply empty, a
permission problem is ``PERM`` and anything else ``INVALIDDATA``, naming the directory.
"""

from __future__ import annotations

import errno
import os

from mailstore.errors import Kind, MailstoreError

__all__ = ["scan_dir"]


def scan_dir(directory: str) -> list[os.DirEntry[str]] | None:
    """The entries of ``directory``, or None when it does not exist (or is not a directory)."""
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise MailstoreError(
            Kind.PERM if e.errno in (errno.EACCES, errno.EPERM) else Kind.INVALIDDATA,
            f"cannot list {directory}: {e.strerror}",
        ) from e
