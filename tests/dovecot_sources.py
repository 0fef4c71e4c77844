"""Sources in Dovecot's own formats, written by Dovecot itself for the tests.

``dovecot_source(server, fmt, maildir)`` makes a fresh user whose mail lives in ``fmt``
(``mbox``, ``sdbox`` or ``mdbox``), fills it with ``doveadm import`` from a copy of a corpus
Maildir, then changes flags and keywords afterwards with ``doveadm flags`` (so some of them sit
only in the index log) and, for mdbox, expunges a few messages without purging them (their
bytes stay in ``storage/m.*`` with refcount 0).  It returns the user and the mail location
string that reads that storage, for ``doveadm import`` and ``mailbeam import`` alike.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from dovecot import DovecotServer, DovecotUser

__all__ = ["FORMATS", "DovecotSource", "dovecot_source"]

FORMATS = ("mbox", "sdbox", "mdbox")
_ids = itertools.count()


@dataclass(frozen=True)
class DovecotSource:
    user: DovecotUser
    location: str  # e.g. "sdbox:/tmp/.../home/src-sdbox0/sdbox:INDEX=/tmp/.../index"
    root: Path  # the storage's root directory (mbox: the mail dir)
    index: Path | None  # a separate index directory, when asked for

    def doveadm(self, server: DovecotServer, command: str, *args: str) -> str:
        """``doveadm -o mail_location=<this storage> COMMAND -u USER ARGS``; ``command`` may be
        two words (``"flags add"``, ``"mailbox status"``)."""
        proc = server.doveadm("-o", f"mail_location={self.location}", *command.split(),
                              "-u", self.user.name, *args)
        return proc.stdout.decode(errors="replace")


def _location(fmt: str, home: Path, index: Path | None) -> tuple[str, Path]:
    if fmt == "mbox":
        root = home / "mail"
        location = f"mbox:{root}:INBOX={root}/inbox"
    elif fmt in ("sdbox", "mdbox"):
        root = home / fmt
        location = f"{fmt}:{root}"
    else:
        raise ValueError(f"unknown format {fmt!r}")
    if index is not None:
        location += f":INDEX={index}"
    return location, root


def dovecot_source(server: DovecotServer, fmt: str, maildir: Path, *,
                   separate_index: bool = False, change_flags: bool = True) -> DovecotSource:
    """A user whose mail Dovecot wrote in ``fmt`` from ``maildir`` (see the module doc)."""
    user = server.add_user(f"src-{fmt}{next(_ids)}")
    index = user.home / "index" if separate_index else None
    location, root = _location(fmt, user.home, index)
    source = DovecotSource(user, location, root, index)
    copy = server.copy_for(user.name, maildir)
    # An mbox mailbox is a file and cannot have children: doveadm imports everything else and
    # exits 65 for "Archive/2024" under "Archive" (reference §1.5 Q5).
    imported = server.doveadm("-o", f"mail_location={location}", "import", "-u", user.name,
                              f"maildir:{copy}", "", "ALL", check=fmt != "mbox")
    assert imported.returncode in (0, 65), imported.stderr
    if change_flags:
        source.doveadm(server, "flags add", "\\Flagged $Later", "mailbox", "INBOX", "1:2")
        source.doveadm(server, "flags remove", "\\Seen", "mailbox", "INBOX", "3:4")
        source.doveadm(server, "flags add", "\\Answered project-y", "mailbox", "Archive*", "1")
    if fmt == "mdbox":
        source.doveadm(server, "expunge", "mailbox", "INBOX", "5")
        source.doveadm(server, "expunge", "mailbox", "Archive", "2")
    server.give_to(user.name, user.home)
    return source
