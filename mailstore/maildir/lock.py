"""Dovecot-style dotlocks: ``<file>.lock`` created with ``O_CREAT|O_EXCL``.

Dovecot (``lib/file-dotlock.c``) guards ``dovecot-uidlist``, ``dovecot-keywords`` and
``subscriptions`` with a ``.lock`` file next to them.  A lock older than ``stale_timeout``
seconds (by mtime), or one naming a dead process on this host, is stale and gets overridden;
otherwise we retry until ``timeout`` and then fail with a temporary error.  The lock is always
removed on exit.  In *replace* mode the lock file itself becomes the new file: write the new
contents with :meth:`DotLock.replace`, which renames ``<file>.lock`` over ``<file>`` and so
releases the lock atomically (Dovecot's ``file_dotlock_replace``)::

    with DotLock("/m/.Foo/dovecot-uidlist"):          # plain lock
        ...
    with DotLock("/m/subscriptions") as lock:        # replace the file under its lock
        lock.replace(b"V\\t2\\n\\nFoo\\n")
"""

from __future__ import annotations

import errno
import os
import socket
import time
from typing import Self

from mailstore.errors import Kind, MailstoreError

__all__ = ["DEFAULT_STALE_TIMEOUT", "DEFAULT_TIMEOUT", "DotLock"]

#: Seconds after which an untouched lock is considered stale (Dovecot's uidlist/keywords value).
DEFAULT_STALE_TIMEOUT = 120.0
#: Seconds to keep retrying before giving up.
DEFAULT_TIMEOUT = 122.0
_RETRY_INTERVAL = 0.05


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DotLock:
    """A dotlock on ``path`` (the lock file is ``path + ".lock"``).

    ``uid``/``gid``, when given and we run as root, become the owner of a file written through
    :meth:`replace`.  ``mode`` is the permission of the lock (and so of a replaced file).
    """

    def __init__(
        self,
        path: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        stale_timeout: float = DEFAULT_STALE_TIMEOUT,
        mode: int = 0o600,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        self.path = path
        self.lock_path = path + ".lock"
        self.timeout = timeout
        self.stale_timeout = stale_timeout
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self._fd: int | None = None
        self._ino: tuple[int, int] | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _is_stale(self) -> bool:
        try:
            st = os.stat(self.lock_path)
        except FileNotFoundError:
            return False
        if time.time() - st.st_mtime > self.stale_timeout:
            return True
        try:
            with open(self.lock_path, "rb") as f:
                content = f.read(256).decode("ascii", "replace").strip()
        except OSError:
            return False
        pid, _, host = content.partition(":")
        if pid.isdigit() and host == socket.gethostname():
            return not _pid_alive(int(pid))
        return False

    def _override_stale(self) -> None:
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            pass

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout``; raises MailstoreError(TEMP) on timeout."""
        if self._fd is not None:
            raise RuntimeError(f"dotlock {self.lock_path} already held")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.mode)
            except FileExistsError:
                if self._is_stale():
                    self._override_stale()
                    continue
                if time.monotonic() >= deadline:
                    raise MailstoreError(
                        Kind.TEMP, f"Timeout waiting for lock {self.lock_path}"
                    ) from None
                time.sleep(_RETRY_INTERVAL)
                continue
            except FileNotFoundError as e:
                raise MailstoreError(
                    Kind.NOTFOUND, f"cannot create lock {self.lock_path}: {e.strerror}"
                ) from e
            except PermissionError as e:
                raise MailstoreError(
                    Kind.PERM, f"cannot create lock {self.lock_path}: {e.strerror}"
                ) from e
            break
        try:
            os.write(fd, f"{os.getpid()}:{socket.gethostname()}".encode())
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            self._override_stale()
            raise
        self._fd = fd
        self._ino = (st.st_dev, st.st_ino)

    def _still_ours(self) -> bool:
        try:
            st = os.stat(self.lock_path)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == self._ino

    def release(self) -> None:
        """Remove the lock if we still own it (someone may have overridden it as stale)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._still_ours():
                os.unlink(self.lock_path)
        finally:
            os.close(fd)

    def replace(self, data: bytes) -> None:
        """Make ``data`` the new contents of ``path`` and release the lock.

        Writes into the lock file, fsyncs it, sets the owner when root, and renames it over
        ``path``.  The target is never seen half-written.
        """
        if self._fd is None:
            raise RuntimeError(f"dotlock {self.lock_path} not held")
        fd = self._fd
        if not self._still_ours():
            self.release()
            raise MailstoreError(Kind.TEMP, f"lock {self.lock_path} was overridden as stale")
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if os.geteuid() == 0 and (self.uid is not None or self.gid is not None):
                os.fchown(
                    fd, -1 if self.uid is None else self.uid, -1 if self.gid is None else self.gid
                )
            os.fsync(fd)
            os.rename(self.lock_path, self.path)
        except OSError as e:
            self.release()
            kind = Kind.PERM if e.errno in (errno.EACCES, errno.EPERM) else Kind.TEMP
            raise MailstoreError(kind, f"cannot replace {self.path}: {e.strerror}") from e
        self._fd = None
        os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
