"""Users: Dovecot passwd-file userdbs, system users, and ``-F`` user lists.

* :class:`User` -- one user as the rest of mailbeam sees it::

      User(name="alice@example.org", uid=1000, gid=1000, home="/home/alice",
           extra=(("mail", "maildir:~/Maildir"),))

  ``username`` / ``domain`` split ``name`` at the first ``@`` (Dovecot's
  ``%n`` / ``%d``).
* :class:`PasswdFile` -- a Dovecot passwd-file
  (``user:password:uid:gid:gecos:home:shell:extra_fields``), with
  :meth:`~PasswdFile.lookup` (``-u``), :meth:`~PasswdFile.users` (``-A``)
  and :meth:`~PasswdFile.match` (``-u`` with ``*``/``?`` masks).
* :func:`system_user` -- a user from the system password database.
* :func:`read_user_file` -- the names in a ``-F`` file.

Failures are :class:`~mailstore.errors.MailstoreError`: NOUSER for an unknown
user, NOTFOUND / PERM for a missing / unreadable file, INVALIDDATA for a
malformed line (naming the file and line number).
"""

from __future__ import annotations

import grp
import pwd
import re
from dataclasses import dataclass

from mailstore.errors import Kind, MailstoreError

__all__ = ["PasswdFile", "User", "mask_to_regex", "read_user_file", "system_user"]


@dataclass(frozen=True)
class User:
    """One mail user.

    ``name`` is the full login name (``%u``); ``uid``/``gid`` are numeric ids
    or None when the userdb gives none; ``home`` is the home directory or
    None; ``extra`` holds the remaining userdb fields as ``(key, value)``
    pairs in file order, with any ``userdb_`` prefix removed.
    """

    name: str
    uid: int | None = None
    gid: int | None = None
    home: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def username(self) -> str:
        """The part of ``name`` before the first ``@`` (Dovecot's ``%n``)."""
        return self.name.split("@", 1)[0]

    @property
    def domain(self) -> str:
        """The part of ``name`` after the first ``@``, or ``""`` (Dovecot's ``%d``)."""
        _, sep, domain = self.name.partition("@")
        return domain if sep else ""


def _read_text(path: str, what: str) -> str:
    """Read a UTF-8 text file, mapping OS errors onto error kinds that name ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError as e:
        raise MailstoreError(Kind.NOTFOUND, f"{what} {path} does not exist") from e
    except PermissionError as e:
        raise MailstoreError(Kind.PERM, f"{what} {path}: permission denied") from e
    except IsADirectoryError as e:
        raise MailstoreError(Kind.PARAMS, f"{what} {path} is a directory") from e
    except UnicodeDecodeError as e:
        raise MailstoreError(Kind.INVALIDDATA, f"{what} {path} is not valid UTF-8: {e}") from e
    except OSError as e:
        raise MailstoreError(Kind.TEMP, f"{what} {path}: {e.strerror or e}") from e


def _parse_id(value: str, kind: str, where: str) -> int | None:
    """A uid/gid field: empty -> None, digits -> int, a name -> looked up in the system db."""
    if value == "":
        return None
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        if kind == "uid":
            return pwd.getpwnam(value).pw_uid
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise MailstoreError(
            Kind.INVALIDDATA, f"{where}: {kind} {value!r} is neither a number nor a known name"
        ) from None


def _parse_line(line: str, where: str) -> User:
    """Parse one non-blank, non-comment passwd-file line."""
    fields = line.split(":")
    # Fields 8+ are the extra fields; they may themselves contain ':'.
    if len(fields) > 8:
        fields[7:] = [":".join(fields[7:])]
    fields += [""] * (8 - len(fields))
    name, _password, uid_text, gid_text, _gecos, home, _shell, extra_text = fields
    if name == "":
        raise MailstoreError(Kind.INVALIDDATA, f"{where}: empty user name")
    uid = _parse_id(uid_text, "uid", where)
    gid = _parse_id(gid_text, "gid", where)
    home_value: str | None = home or None

    extra: list[tuple[str, str]] = []
    for item in extra_text.split():
        key, _, value = item.partition("=")
        key = key.removeprefix("userdb_")
        if key == "":
            raise MailstoreError(Kind.INVALIDDATA, f"{where}: extra field {item!r} has no name")
        if key == "home":
            home_value = value or None
        elif key == "uid":
            uid = _parse_id(value, "uid", where)
        elif key == "gid":
            gid = _parse_id(value, "gid", where)
        extra.append((key, value))
    return User(name=name, uid=uid, gid=gid, home=home_value, extra=tuple(extra))


def mask_to_regex(mask: str) -> re.Pattern[str]:
    """Compile a doveadm ``-u`` mask: ``*`` is any run, ``?`` any one character.

    Nothing else is special (``[`` and ``\\`` match themselves), and the
    match is case-insensitive over the whole name, as doveadm's
    ``wildcard_match_icase()``.
    """
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in mask]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


class PasswdFile:
    """A Dovecot passwd-file userdb, read once when constructed.

    ``path`` is the file.  Blank lines and lines starting with ``#`` are
    skipped; missing trailing fields are fine; an empty uid or gid means
    none; extra fields (``key=value`` separated by spaces, ``userdb_``
    prefix optional) named ``home``, ``uid`` or ``gid`` override the fixed
    fields.  When a user appears twice the first line wins, as in Dovecot.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        text = _read_text(path, "passwd-file")
        self._users: dict[str, User] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if line == "" or line.startswith("#"):
                continue
            user = _parse_line(line, f"passwd-file {path} line {number}")
            self._users.setdefault(user.name, user)

    def __repr__(self) -> str:
        return f"PasswdFile({self.path!r})"

    def lookup(self, name: str) -> User:
        """The user called exactly ``name``; MailstoreError(NOUSER) if there is none."""
        try:
            return self._users[name]
        except KeyError:
            raise MailstoreError(
                Kind.NOUSER, f"user {name!r} not found in passwd-file {self.path}"
            ) from None

    def users(self) -> list[User]:
        """Every user, in file order (what ``-A`` iterates)."""
        return list(self._users.values())

    def match(self, mask: str) -> list[User]:
        """The users a doveadm ``-u`` argument selects, in file order.

        A mask with ``*`` or ``?`` selects every user whose name matches it
        (case-insensitively; possibly none).  A mask without wildcards is a
        plain :meth:`lookup` and raises NOUSER when the user is missing.
        """
        if "*" not in mask and "?" not in mask:
            return [self.lookup(mask)]
        pattern = mask_to_regex(mask)
        return [user for user in self._users.values() if pattern.fullmatch(user.name)]


def system_user(name: str) -> User:
    """The user ``name`` from the system password database (``pwd``), with uid, gid and home.

    Raises MailstoreError(NOUSER) when the system has no such user.
    """
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise MailstoreError(Kind.NOUSER, f"user {name!r} not found in the system userdb") from None
    return User(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir or None)


def read_user_file(path: str) -> list[str]:
    """The user names in a ``-F`` file: one per line, stripped, blank lines skipped."""
    text = _read_text(path, "user file")
    return [line.strip() for line in text.splitlines() if line.strip()]
