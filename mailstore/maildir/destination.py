"""Writing into a Maildir as an import destination: idempotent, durable, Dovecot-readable.

Bodies are stored with LF line endings, as Dovecot stores what it saves (``mail_save_crlf=no``),
so what Dovecot serves afterwards is what ``doveadm import`` would have written.

Every message gets a deterministic name from the job ``epoch``, its ``ordinal`` in the
destination mailbox and its ``save_id``::

    <epoch>.M<ordinal>P<save_id>.mailbeam,S=<size>,W=<vsize>          in new/  (no flags)
    <epoch>.M<ordinal>P<save_id>.mailbeam,S=<size>,W=<vsize>:2,RSa     in cur/  (flags/keywords)

Dovecot numbers new files by leading seconds, then ``M<usecs>``, then name
(``maildir_filename_sort_cmp``), so UIDs follow the ordinals whatever order files land in
within one sync.  A ``save_id`` whose name stem already exists in ``new/`` or ``cur/`` is
``existed`` and not written again.

Per batch, in this order: write every body under ``tmp/`` and set its mtime (the received date,
Dovecot's INTERNALDATE); make them durable with one ``syncfs()`` (or ``fsync`` each when the
libc has none); merge keywords into ``dovecot-keywords`` (before any file that uses their letters
appears); link each file to its final name (an existing final name is success); fsync ``new/``
and ``cur/``.  A failing message has its tmp file removed and comes back ``failed``; the others
go on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailstore.driver import MailDestination, SaveRequest, SaveResult
from mailstore.errors import Kind, MailstoreError
from mailstore.maildir.filename import base_name, build_filename, vsize_of
from mailstore.maildir.keywords import KeywordMerge, merge_keywords
from mailstore.maildir.layout import MaildirPlusPlusLayout, layout_for, normalize_name
from mailstore.maildir.subscriptions import merge_subscriptions

if TYPE_CHECKING:
    from mailstore.location import MailLocation
    from mailstore.userdb import User

__all__ = ["MaildirDestination", "message_stem"]

_SAVE_ID = re.compile(r"[A-Za-z0-9_-]+\Z")
_DIR_MODE = 0o700
_FILE_MODE = 0o600


def message_stem(epoch: int, ordinal: int, save_id: str) -> str:
    """The deterministic part of a saved message's name (before ``,S=``)."""
    if not _SAVE_ID.match(save_id):
        raise MailstoreError(
            Kind.PARAMS, f"save id {save_id!r} is not usable in a Maildir file name"
        )
    if ordinal < 0 or epoch < 0:
        raise MailstoreError(Kind.PARAMS, f"negative epoch or ordinal for save id {save_id}")
    return f"{epoch}.M{ordinal}P{save_id}.mailbeam"


def _stem_of(filename: str) -> str:
    return base_name(filename).split(",", 1)[0]


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        func = libc.syncfs
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int]
    func.restype = ctypes.c_int
    return func  # type: ignore[no-any-return]


@dataclass
class _Pending:
    request: SaveRequest
    stem: str
    filename: str = ""
    subdir: str = ""
    tmp_path: str = ""
    refused: tuple[str, ...] = ()


class MaildirDestination(MailDestination):
    """A user's Maildir (Maildir++ or fs layout) opened for import.

    ``epoch`` is the job's fixed creation time: it starts every file name, so re-runs of the
    same job produce the same names.
    """

    idempotent = True  # a save_id's file name is deterministic: "already there" is success

    def __init__(self, location: MailLocation, user: User, epoch: int) -> None:
        self.location = location
        self.user = user
        self.epoch = int(epoch)
        self.layout = layout_for(location)
        self.separator = location.separator
        self._syncfs: Callable[[int], int] | None = None
        self._syncfs_loaded = False

    def __getstate__(self) -> dict[str, object]:
        # The ctypes handle does not pickle; it is looked up again after unpickling.
        state = dict(self.__dict__)
        state["_syncfs"], state["_syncfs_loaded"] = None, False
        return state

    # -- ownership and directories --------------------------------------------------------------
    def _owner(self) -> tuple[int | None, int | None]:
        if os.geteuid() != 0:
            return None, None
        return self.user.uid, self.user.gid

    def _chown(self, path: str) -> None:
        uid, gid = self._owner()
        if uid is not None or gid is not None:
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)

    def _own(self, path: str) -> None:
        """Give a directory of the mailbox back to the user if a run was killed between its
        mkdir and its chown (Dovecot, running as the user, could not read it otherwise)."""
        uid, gid = self._owner()
        if uid is None and gid is None:
            return
        st = os.stat(path)
        if (uid is not None and st.st_uid != uid) or (gid is not None and st.st_gid != gid):
            self._chown(path)

    def _makedirs(self, path: str) -> bool:
        """Create ``path`` and missing parents (owned by the user); True if it was created."""
        if os.path.isdir(path):
            return False
        parent = os.path.dirname(path)
        if parent and parent != path:
            self._makedirs(parent)
        try:
            os.mkdir(path, _DIR_MODE)
        except FileExistsError:
            return False
        self._chown(path)
        if parent:
            _fsync_dir(parent)
        return True

    # -- MailDestination ---------------------------------------------------------------------------
    def validate_name(self, name: tuple[str, ...]) -> None:
        """Raise MailstoreError(PARAMS) naming the mailbox if the layout cannot hold it."""
        self.layout.validate_name(normalize_name(name))

    def create_mailbox(self, name: tuple[str, ...]) -> bool:
        """Create the mailbox directories; False if the mailbox already existed."""
        name = normalize_name(name)
        self.validate_name(name)
        path = self.layout.mailbox_dir(name)
        is_inbox = name == ("INBOX",)
        existed = os.path.isdir(os.path.join(path, "cur") if is_inbox else path)
        try:
            self._makedirs(path)
            self._own(path)
            for sub in ("cur", "new", "tmp"):
                self._makedirs(os.path.join(path, sub))
                self._own(os.path.join(path, sub))
            if isinstance(self.layout, MaildirPlusPlusLayout) and not is_inbox:
                marker = os.path.join(path, "maildirfolder")
                if not os.path.exists(marker):
                    os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, _FILE_MODE))
                self._own(marker)
        except OSError as e:
            raise _os_error(f"Couldn't create mailbox {self._shown(name)}", e) from e
        return not existed

    def subscribe(self, names: Iterable[tuple[str, ...]]) -> None:
        """Merge the names into the subscriptions file (control dir if set, else the root)."""
        stored = []
        for name in names:
            name = normalize_name(name)
            self.validate_name(name)
            stored.append(self.layout.storage_components(name))
        if not stored:
            return
        path = self.layout.subscriptions_path()
        uid, gid = self._owner()
        try:
            self._makedirs(os.path.dirname(path))
        except OSError as e:
            raise _os_error(f"cannot create {os.path.dirname(path)}", e) from e
        merge_subscriptions(path, stored, self.layout.separator, uid=uid, gid=gid)

    def save_batch(self, name: tuple[str, ...], requests: list[SaveRequest]) -> list[SaveResult]:
        """Save ``requests`` into mailbox ``name`` (see the module docstring for the order)."""
        name = normalize_name(name)
        self.validate_name(name)
        mailbox_dir = self.layout.mailbox_dir(name)
        if not os.path.isdir(mailbox_dir):
            raise MailstoreError(
                Kind.NOTFOUND, f"Mailbox {self._shown(name)} doesn't exist ({mailbox_dir})"
            )
        try:
            for sub in ("cur", "new", "tmp"):
                self._makedirs(os.path.join(mailbox_dir, sub))
            existing = {
                _stem_of(f): f"{sub}/{f}"
                for sub in ("new", "cur")
                for f in os.listdir(os.path.join(mailbox_dir, sub))
                if not f.startswith(".")
            }
        except OSError as e:
            raise _os_error(f"cannot open mailbox {self._shown(name)}", e) from e

        results: dict[str, SaveResult] = {}
        pending: list[_Pending] = []
        queued: set[str] = set()
        for req in requests:
            if req.save_id in results or req.save_id in queued:
                continue
            try:
                stem = message_stem(self.epoch, req.ordinal, req.save_id)
            except MailstoreError as e:
                results[req.save_id] = SaveResult(req.save_id, "failed", reason=str(e))
                continue
            if stem in existing:
                results[req.save_id] = SaveResult(req.save_id, "existed", dest_name=existing[stem])
                continue
            pending.append(_Pending(req, stem))
            queued.add(req.save_id)

        pending = self._write_tmp(mailbox_dir, pending, results)
        pending = self._sync(mailbox_dir, pending, results)
        pending = self._place_keywords(name, pending, results)
        self._rename(mailbox_dir, pending, results)
        return [results[r.save_id] for r in requests]

    # -- the steps of save_batch --------------------------------------------------------------
    def _write_tmp(
        self, mailbox_dir: str, pending: list[_Pending], results: dict[str, SaveResult]
    ) -> list[_Pending]:
        kept: list[_Pending] = []
        syncfs = self._get_syncfs()
        for p in pending:
            req = p.request
            # Stored with LF line endings, as Dovecot saves (mail_save_crlf=no).
            body = req.body.replace(b"\r\n", b"\n")
            p.stem = f"{p.stem},S={len(body)},W={vsize_of(body)}"
            p.tmp_path = os.path.join(
                mailbox_dir, "tmp", f"{p.stem}.{os.getpid()}.{secrets.token_hex(4)}"
            )
            try:
                fd = os.open(p.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
                try:
                    view = memoryview(body)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.utime(fd, (req.received_date, req.received_date))
                    uid, gid = self._owner()
                    if uid is not None or gid is not None:
                        os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
                    if syncfs is None:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                self._fail(p, results, f"cannot write {p.tmp_path}: {e.strerror}")
                continue
            kept.append(p)
        return kept

    def _sync(
        self, mailbox_dir: str, pending: list[_Pending], results: dict[str, SaveResult]
    ) -> list[_Pending]:
        syncfs = self._get_syncfs()
        if not pending or syncfs is None:
            return pending
        try:
            fd = os.open(os.path.join(mailbox_dir, "tmp"), os.O_RDONLY | os.O_DIRECTORY)
            try:
                if syncfs(fd) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            finally:
                os.close(fd)
        except OSError as e:
            for p in pending:
                self._fail(p, results, f"syncfs({mailbox_dir}/tmp) failed: {e.strerror}")
            return []
        return pending

    def _place_keywords(
        self, name: tuple[str, ...], pending: list[_Pending], results: dict[str, SaveResult]
    ) -> list[_Pending]:
        wanted: list[str] = []
        for p in pending:
            wanted.extend(k for k in p.request.keywords if k not in wanted)
        merge = KeywordMerge()
        error = ""
        if wanted:
            control_dir = self.layout.control_dir(name)
            uid, gid = self._owner()
            try:
                self._makedirs(control_dir)
                merge = merge_keywords(control_dir, wanted, uid=uid, gid=gid)
            except (MailstoreError, OSError) as e:
                error = f"cannot update keywords in {control_dir}: {e}"
        kept: list[_Pending] = []
        for p in pending:
            req = p.request
            if req.keywords and error:
                self._fail(p, results, error)
                continue
            letters = [merge.letters[k] for k in req.keywords if k in merge.letters]
            p.refused = tuple(k for k in req.keywords if k not in merge.letters)
            p.filename = build_filename(p.stem, req.flags, letters, bare=True)
            p.subdir = "new" if p.filename == p.stem else "cur"
            kept.append(p)
        return kept

    def _rename(
        self, mailbox_dir: str, pending: list[_Pending], results: dict[str, SaveResult]
    ) -> None:
        placed: list[_Pending] = []
        for p in pending:
            final = os.path.join(mailbox_dir, p.subdir, p.filename)
            status = "written"
            try:
                try:
                    os.link(p.tmp_path, final)
                except FileExistsError:
                    status = "existed"
                except OSError as e:
                    if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                        raise
                    if os.path.exists(final):
                        status = "existed"
                    else:
                        os.rename(p.tmp_path, final)
                if os.path.exists(p.tmp_path):
                    os.unlink(p.tmp_path)
            except OSError as e:
                self._fail(p, results, f"cannot rename {p.tmp_path} to {final}: {e.strerror}")
                continue
            results[p.request.save_id] = SaveResult(
                p.request.save_id,
                status,
                dest_name=f"{p.subdir}/{p.filename}",
                refused_keywords=p.refused,
            )
            placed.append(p)
        for sub in sorted({p.subdir for p in placed}):
            directory = os.path.join(mailbox_dir, sub)
            try:
                _fsync_dir(directory)
            except OSError as e:
                for p in placed:
                    if p.subdir == sub:
                        results[p.request.save_id] = SaveResult(
                            p.request.save_id,
                            "failed",
                            dest_name=f"{p.subdir}/{p.filename}",
                            reason=f"fsync({directory}) failed: {e.strerror}",
                        )

    # -- helpers ----------------------------------------------------------------------------------
    def _get_syncfs(self) -> Callable[[int], int] | None:
        if not self._syncfs_loaded:
            self._syncfs = _load_syncfs()
            self._syncfs_loaded = True
        return self._syncfs

    @staticmethod
    def _fail(p: _Pending, results: dict[str, SaveResult], reason: str) -> None:
        if p.tmp_path:
            try:
                os.unlink(p.tmp_path)
            except OSError:
                pass
        results[p.request.save_id] = SaveResult(p.request.save_id, "failed", reason=reason)

    def _shown(self, name: tuple[str, ...]) -> str:
        return self.separator.join(name)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_error(what: str, e: OSError) -> MailstoreError:
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        kind = Kind.PERM
    elif e.errno in (errno.ENOENT, errno.ENOTDIR):
        kind = Kind.NOTFOUND
    else:
        kind = Kind.TEMP
    where = f" ({e.filename})" if e.filename else ""
    return MailstoreError(kind, f"{what}: {e.strerror}{where}")
