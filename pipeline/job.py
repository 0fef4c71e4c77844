"""The job: validated import arguments, the users it runs for, and its state directory.

``ImportArgs`` is what the command line says; :func:`prepare_job` validates it
(location strings, query, users) before any work starts and returns a
:class:`Job` -- the Beam-facing :class:`transforms.state.JobContext`, the user
tasks, and where the job's state lives.  Same arguments → same job id → a re-run
resumes from the job's checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

from apache_beam.io.filesystems import FileSystems

import schemas
from mailstore.errors import Kind, MailstoreError
from mailstore.location import parse_location
from mailstore.search import parse_query
from mailstore.userdb import PasswdFile, User, read_user_file, system_user
from transforms.state import JobContext, UserTask

__all__ = ["DEFAULT_DEST", "DEFAULT_STATE_DIR", "ImportArgs", "Job", "job_id_for", "prepare_job"]

DEFAULT_DEST = "maildir:~/Maildir"
DEFAULT_STATE_DIR = "mailbeam-state"


@dataclass(frozen=True)
class ImportArgs:
    """``mailbeam import`` as the user typed it (see DESIGN.md for the contract)."""

    source: str
    parent: str
    query: tuple[str, ...]
    user: str | None = None
    all_users: bool = False
    user_file: str | None = None
    source_user: str | None = None
    subscribe: bool = False
    settings: tuple[str, ...] = ()
    userdb: str | None = None
    dest: str = DEFAULT_DEST
    dest_master_user: str | None = None
    dest_password_file: str | None = None
    dest_insecure: bool = False
    dest_ca_file: str | None = None
    state_dir: str = DEFAULT_STATE_DIR
    runner: str = "direct"
    runner_options: tuple[str, ...] = ()
    dry_run: bool = False
    dedupe: str = "none"
    report: str | None = None
    progress: str = "auto"


@dataclass(frozen=True)
class Job:
    ctx: JobContext
    tasks: tuple[UserTask, ...]
    args: ImportArgs
    resumed: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _is_secret(setting: str) -> bool:
    return "password" in setting.partition("=")[0].lower()


def job_id_for(args: ImportArgs, query_text: str) -> str:
    """A stable id from what the job does (never from secrets or how it runs)."""
    spec = {
        "source": args.source,
        "settings": [s for s in args.settings if not _is_secret(s)],
        "parent": args.parent,
        "query": query_text,
        "users": [args.user, args.all_users, args.user_file],
        "source_user": args.source_user,
        "subscribe": args.subscribe,
        "userdb": args.userdb,
        "dest": args.dest,
        "dest_master_user": args.dest_master_user,
        "dedupe": args.dedupe,
    }
    blob = json.dumps(spec, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def _userdb(spec: str | None) -> PasswdFile | None:
    if spec is None:
        return None
    driver, sep, path = spec.partition(":")
    if driver != "passwd-file" or not sep or not path:
        raise MailstoreError(
            Kind.PARAMS, f"--userdb {spec!r}: expected passwd-file:PATH (the only supported userdb)"
        )
    return PasswdFile(os.path.abspath(path))


def _lookup(name: str, userdb: PasswdFile | None) -> User:
    return userdb.lookup(name) if userdb is not None else system_user(name)


def resolve_users(args: ImportArgs) -> list[User]:
    """The destination users, in userdb (or file) order."""
    chosen = [args.user is not None, args.all_users, args.user_file is not None]
    if sum(chosen) != 1:
        raise MailstoreError(Kind.PARAMS, "exactly one of -u USER, -A or -F USERFILE is required")
    userdb = _userdb(args.userdb)
    if args.all_users or (args.user is not None and any(c in args.user for c in "*?")):
        if userdb is None:
            raise MailstoreError(
                Kind.PARAMS, "-A and user masks need --userdb passwd-file:PATH to iterate users"
            )
        users = userdb.users() if args.all_users else userdb.match(args.user or "")
        if not users:
            raise MailstoreError(Kind.NOUSER, f"no user in {args.userdb} matches {args.user!r}")
        return users
    if args.user is not None:
        return [_lookup(args.user, userdb)]
    assert args.user_file is not None
    return [_lookup(name, userdb) for name in read_user_file(args.user_file)]


def prepare_job(args: ImportArgs) -> Job:
    """Validate everything and open (or resume) the job's state; raises MailstoreError."""
    if not args.query:
        raise MailstoreError(Kind.PARAMS, "missing search query (use ALL to import everything)")
    query = parse_query(list(args.query))
    parse_location(args.source, args.settings)
    _check_destination(args)
    if args.dedupe != "none":
        raise MailstoreError(
            Kind.PARAMS, f"--dedupe {args.dedupe!r}: only 'none' (doveadm's behaviour) exists"
        )
    users = resolve_users(args)
    userdb = _userdb(args.userdb)
    source_user = _lookup(args.source_user, userdb) if args.source_user else None
    tasks = tuple(UserTask(user=u, source_user=source_user or u) for u in users)

    job_id = job_id_for(args, str(query))
    state_dir = args.state_dir
    if FileSystems.get_scheme(state_dir) is None:
        state_dir = os.path.abspath(state_dir)
    job_dir = FileSystems.join(state_dir, job_id)
    job_file = FileSystems.join(job_dir, "job.json")
    resumed = schemas.exists(job_file)
    if resumed:
        epoch = int(json.loads(schemas.read_text(job_file))["epoch"])
    else:
        epoch = int(time.time())
        document = _job_document(args, job_id, epoch, users)
        schemas.write_text(job_file, json.dumps(document, indent=2))
    # Relative dates (SINCE 30d, YOUNGER 3600) count from the job's creation, so a resumed
    # job selects exactly what its first run would have.
    query = parse_query(list(args.query), now=float(epoch))
    ctx = JobContext(
        job_id=job_id,
        job_dir=job_dir,
        source_location=args.source,
        source_settings=args.settings,
        dest_location=args.dest,
        parent=args.parent,
        query=query,
        epoch=epoch,
        subscribe=args.subscribe,
        dest_settings=_dest_settings(args),
    )
    return Job(ctx=ctx, tasks=tasks, args=args, resumed=resumed)


def _dest_settings(args: ImportArgs) -> tuple[str, ...]:
    """The destination options the workers need (never a password: only where it lives)."""
    settings = []
    if args.dest_master_user:
        settings.append(f"master_user={args.dest_master_user}")
    if args.dest_password_file:
        settings.append(f"password_file={args.dest_password_file}")
    if args.dest_insecure:
        settings.append("insecure=yes")
    if args.dest_ca_file:
        settings.append(f"ca_file={args.dest_ca_file}")
    return tuple(settings)


def _check_destination(args: ImportArgs) -> None:
    if args.dest.startswith(("imap://", "imaps://")):
        from mailstore.location import parse_destination

        parse_destination(args.dest, master_user=args.dest_master_user,
                          password_file=args.dest_password_file, insecure=args.dest_insecure,
                          ca_file=args.dest_ca_file)
        if args.dest_password_file:
            try:
                with open(args.dest_password_file, "rb"):
                    pass
            except OSError as e:
                kind = Kind.PERM if isinstance(e, PermissionError) else Kind.NOTFOUND
                raise MailstoreError(
                    kind, f"--dest-password-file {args.dest_password_file}: {e.strerror}"
                ) from e
        elif not os.environ.get("MAILBEAM_DEST_PASSWORD"):
            raise MailstoreError(
                Kind.PARAMS,
                f"--dest {args.dest}: give the password with --dest-password-file PATH or "
                "MAILBEAM_DEST_PASSWORD",
            )
        return
    dest = parse_location(args.dest)
    if dest.driver != "maildir":
        raise MailstoreError(
            Kind.PARAMS, f"--dest {args.dest!r}: destination driver {dest.driver!r} not supported"
        )


def _job_document(args: ImportArgs, job_id: str, epoch: int, users: list[User]) -> dict:
    settings = [
        f"{s.partition('=')[0]}=<hidden>" if _is_secret(s) else s for s in args.settings
    ]
    return {
        "job": job_id,
        "epoch": epoch,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
        "source": args.source,
        "settings": settings,
        "dest": args.dest,
        "parent": args.parent,
        "query": list(args.query),
        "users": [u.name for u in users],
        "source_user": args.source_user,
        "subscribe": args.subscribe,
    }
