"""The closed vocabulary of mailstore errors and their doveadm exit codes.

Mirrors Dovecot's ``enum mail_error`` and doveadm's sysexits mapping: every
failure the core raises is a :class:`MailstoreError` with a :class:`Kind`;
callers map kinds to exit codes with :func:`exit_code_for`, and when several
failures happened, :func:`worst_exit_code` lets a temporary failure win.
"""

from __future__ import annotations

import enum

__all__ = ["Kind", "MailstoreError", "exit_code_for", "worst_exit_code"]


class Kind(enum.Enum):
    """What went wrong, independent of where."""

    PARAMS = "params"  # bad command line, location string or query: EX_USAGE
    INVALIDDATA = "invaliddata"  # unreadable or malformed data: EX_DATAERR
    NOUSER = "nouser"  # unknown user: EX_NOUSER
    NOTFOUND = "notfound"  # missing mailbox, path or file: EX_NOHOST (doveadm's choice)
    EXISTS = "exists"  # already exists (usually success for create)
    TEMP = "temp"  # temporary failure, retry later: EX_TEMPFAIL
    PERM = "perm"  # permission denied: EX_NOPERM


_EXIT_CODES = {
    Kind.PARAMS: 64,
    Kind.INVALIDDATA: 65,
    Kind.NOUSER: 67,
    Kind.NOTFOUND: 68,
    Kind.EXISTS: 65,
    Kind.TEMP: 75,
    Kind.PERM: 77,
}


class MailstoreError(Exception):
    """A failure with a kind; ``str()`` is one line naming what and where."""

    def __init__(self, kind: Kind, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __reduce__(self) -> tuple[type[MailstoreError], tuple[Kind, str]]:
        # Errors travel between Beam workers pickled; keep the kind.
        return (type(self), (self.kind, str(self)))

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.kind)


def exit_code_for(kind: Kind) -> int:
    """The doveadm (sysexits) exit code for an error kind."""
    return _EXIT_CODES[kind]


def worst_exit_code(codes: list[int] | tuple[int, ...] | set[int]) -> int:
    """Combine exit codes the way doveadm does: 75 (tempfail) wins, else the first non-zero."""
    nonzero = [c for c in codes if c]
    if not nonzero:
        return 0
    if 75 in nonzero:
        return 75
    return nonzero[0]
