"""The ``mailbeam`` command line.

``run(argv)`` parses and validates into :class:`pipeline.job.ImportArgs`, runs
the stages and returns the exit code (doveadm's sysexits); tests call it
without a shell.  ``main()`` is the console script.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NoReturn

from mailstore.errors import Kind, MailstoreError

__all__ = ["main", "run"]

log = logging.getLogger("mailbeam")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    top = _Parser(prog="mailbeam", description="doveadm import as a resumable Beam pipeline")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    imp = sub.add_parser("import", help="import mail (doveadm import semantics)")
    who = imp.add_mutually_exclusive_group()
    who.add_argument("-u", dest="user", metavar="USER", help="destination user or */? mask")
    who.add_argument("-A", dest="all_users", action="store_true", help="all users in --userdb")
    who.add_argument("-F", dest="user_file", metavar="USERFILE", help="users, one per line")
    imp.add_argument("-U", dest="source_user", metavar="SOURCE_USER",
                     help="user whose name and home expand the source location")
    imp.add_argument("-s", dest="subscribe", action="store_true",
                     help="subscribe the imported mailboxes")
    imp.add_argument("-p", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                     help="source storage setting (Dovecot 2.4 names), repeatable")
    imp.add_argument("--userdb", metavar="passwd-file:PATH")
    imp.add_argument("--dest", default=None, metavar="LOCATION",
                     help="destination location template (default maildir:~/Maildir)")
    imp.add_argument("--dest-master-user", metavar="NAME",
                     help="log in to an IMAP destination as USER*NAME (master user)")
    imp.add_argument("--dest-password-file", metavar="PATH",
                     help="IMAP destination password file (else $MAILBEAM_DEST_PASSWORD)")
    imp.add_argument("--dest-insecure", action="store_true",
                     help="IMAP destination: allow plaintext and unverified TLS (tests only)")
    imp.add_argument("--dest-ca-file", metavar="PATH",
                     help="IMAP destination: CA certificates to verify the server with")
    imp.add_argument("--state-dir", default=None, metavar="DIR",
                     help="checkpoint directory, local path or Beam FileSystems URI")
    imp.add_argument("--runner", default="direct",
                     help="direct (default), multiprocess, portable, or a Beam runner name")
    imp.add_argument("--runner-option", dest="runner_options", action="append", default=[],
                     metavar="KEY=VALUE", help="Beam pipeline option, repeatable")
    imp.add_argument("--dry-run", action="store_true",
                     help="show what the query selects per mailbox; write nothing")
    imp.add_argument("--dedupe", default="none", metavar="MODE",
                     help="none: like doveadm, identical messages are imported each time")
    imp.add_argument("--report", metavar="FILE", help="also write report.json here")
    imp.add_argument("--progress", default="auto", choices=["auto", "bar", "log", "none"])
    imp.add_argument("source", metavar="SOURCE_LOCATION")
    imp.add_argument("parent", metavar="DEST_PARENT")
    imp.add_argument("query", nargs=argparse.REMAINDER, metavar="SEARCH_QUERY")

    st = sub.add_parser("status", help="progress of a running or stopped job")
    st.add_argument("state", metavar="STATE", help="the job's state directory (<state-dir>/<job>)")
    return top


def _quiet_logging() -> None:
    # Importing Beam logs an apitools warning through the root logger; keep it off the screen.
    logging.getLogger().setLevel(logging.ERROR)
    import apache_beam  # noqa: F401

    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", force=True)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)


def _import_args(ns: argparse.Namespace) -> Any:
    from pipeline.job import DEFAULT_DEST, DEFAULT_STATE_DIR, ImportArgs

    query = tuple(ns.query)
    if query and query[0] == "--":
        query = query[1:]
    settings = []
    for item in ns.settings:
        key, _, value = item.partition("=")
        if key == "imapc_password":
            # Workers get it from the environment, never inside the pipeline or its state.
            os.environ["MAILBEAM_IMAPC_PASSWORD"] = value
            print("mailbeam: warning: -p imapc_password is visible to other users in the "
                  "process list; prefer -p imapc_password_file=PATH or MAILBEAM_IMAPC_PASSWORD",
                  file=sys.stderr)
            continue
        settings.append(item)
    return ImportArgs(
        source=ns.source,
        parent=ns.parent,
        query=query,
        user=ns.user,
        all_users=ns.all_users,
        user_file=ns.user_file,
        source_user=ns.source_user,
        subscribe=ns.subscribe,
        settings=tuple(settings),
        userdb=ns.userdb,
        dest=ns.dest or DEFAULT_DEST,
        dest_master_user=ns.dest_master_user,
        dest_password_file=os.path.abspath(ns.dest_password_file)
        if ns.dest_password_file else None,
        dest_insecure=ns.dest_insecure,
        dest_ca_file=os.path.abspath(ns.dest_ca_file) if ns.dest_ca_file else None,
        state_dir=ns.state_dir or DEFAULT_STATE_DIR,
        runner=ns.runner,
        runner_options=tuple(ns.runner_options),
        dry_run=ns.dry_run,
        dedupe=ns.dedupe,
        report=ns.report,
        progress=ns.progress,
    )


def _print_summary(report: dict[str, Any], out: Any) -> None:
    t = report["totals"]
    print(
        f"mailbeam: job {report['job']}: {t.get('users_complete', 0)}/{t['users']} users complete, "
        f"{t.get('selected', 0)} messages selected, {t.get('written_this_run', 0)} written now, "
        f"{t.get('written', 0) + t.get('already_present', 0)} in place, "
        f"{t.get('failed', 0)} failed",
        file=out,
    )
    # One line per distinct failure: a whole mailbox failing for one reason is one line.
    groups: dict[tuple[str, str, str, str], int] = {}
    for user in report["users"]:
        for dead in user["dead_letters"]:
            where = "/".join(dead["source_mailbox"])
            key = (user["user"], dead["stage"], where, dead["reason"])
            groups[key] = groups.get(key, 0) + 1
    for user in report["users"]:
        for entry in user.get("warnings", []):
            for text in entry["warnings"]:
                print(f"mailbeam: user {user['user']}: warning for mailbox "
                      f"{'/'.join(entry['mailbox'])}: {text}", file=out)
    for shown, ((user_name, stage, where, reason), count) in enumerate(groups.items()):
        if shown == 20:
            print(f"mailbeam: {len(groups) - 20} more failures: see report.json", file=out)
            break
        what = f"{count} message{'s' if count > 1 else ''}" if count else ""
        box = f" in mailbox {where}" if where else ""
        print(f"mailbeam: user {user_name}: {stage} failed{box}"
              f"{': ' + what if count > 1 else ''}: {reason}", file=out)


def _dry_run(args: Any, out: Any) -> int:
    import schemas
    from pipeline.job import prepare_job
    from pipeline.stages import run_stages
    from runners.profiles import runner_options
    from transforms.state import glob_paths

    tmp = tempfile.mkdtemp(prefix="mailbeam-dry-run-")
    try:
        job = prepare_job(replace(args, state_dir=tmp))
        with runner_options(args.runner, args.runner_options) as options:
            run_stages(job.ctx, job.tasks, options, stages=("list", "select"))
        for task in job.tasks:
            boxes: dict[tuple[str, ...], list[int]] = {}
            for path in glob_paths(job.ctx.path("selected", task.key, "*.avro")):
                for r in schemas.read_records(path):
                    box = boxes.setdefault(tuple(r["dest_mailbox"]), [0, 0])
                    box[0] += 1
                    box[1] += r["size"]
            for name, (count, size) in sorted(boxes.items()):
                print(f"{task.user.name}\t{'/'.join(name)}\t{count} messages\t{size} bytes",
                      file=out)
        from pipeline.report import build_report

        report, _ = build_report(job.ctx, job.tasks)
        return int(report["exit_code"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _import(args: Any, out: Any, err: Any) -> int:
    import schemas
    from pipeline.job import prepare_job
    from pipeline.progress import ProgressMonitor
    from pipeline.report import build_report, write_report
    from pipeline.stages import run_stages
    from runners.profiles import runner_options

    if args.dry_run:
        return _dry_run(args, out)
    started = int(time.time() * 1000)
    job = prepare_job(args)
    ctx = job.ctx
    complete = all(
        schemas.exists(ctx.path("written", f"{t.key}._SUCCESS")) for t in job.tasks
    )
    if complete:
        print(f"mailbeam: job {ctx.job_id} is already complete: nothing to copy "
              f"(state {ctx.job_dir})", file=err)
    else:
        if job.resumed:
            print(f"mailbeam: resuming job {ctx.job_id} from {ctx.job_dir}", file=err)
        with (
            runner_options(args.runner, args.runner_options) as options,
            ProgressMonitor(ctx, args.progress) as monitor,
        ):

            def on_stage(name: str) -> None:
                monitor.stage = name

            run_stages(ctx, job.tasks, options, on_stage=on_stage)
    report, manifest = build_report(ctx, job.tasks, started)
    write_report(ctx, report, manifest, args.report)
    _print_summary(report, err)
    print(f"mailbeam: report {ctx.path('report.json')}", file=err)
    return int(report["exit_code"])


def _status(state: str, out: Any) -> int:
    import schemas
    from pipeline.progress import snapshot
    from transforms.state import JobContext

    job_file = os.path.join(state, "job.json")
    if not schemas.exists(job_file):
        raise MailstoreError(Kind.NOTFOUND, f"no mailbeam job at {state} (no job.json)")
    doc = json.loads(schemas.read_text(job_file))
    ctx = JobContext(doc["job"], state, doc["source"], (), doc["dest"], doc["parent"],
                     None, doc["epoch"], doc["subscribe"])  # type: ignore[arg-type]
    snap = snapshot(ctx)
    result = {
        "job": doc["job"],
        "users": len(doc["users"]),
        "users_listed": snap.users_listed,
        "users_complete": snap.users_written,
        "messages_selected": snap.selected,
        "bytes_selected": snap.selected_bytes,
        "messages_committed": snap.committed,
        "complete": snap.users_written == len(doc["users"]),
    }
    print(json.dumps(result, indent=2), file=out)
    return 0


def run(argv: Sequence[str] | None = None, out: Any = None, err: Any = None) -> int:
    """Run the command line ``argv`` (without the program name); returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        ns = _parser().parse_args(list(argv) if argv is not None else None)
    except _UsageError as e:
        print(f"mailbeam: {e}", file=err)
        return 64
    _quiet_logging()
    try:
        if ns.command == "status":
            return _status(ns.state, out)
        return _import(_import_args(ns), out, err)
    except MailstoreError as e:
        print(f"mailbeam: {e}", file=err)
        return e.exit_code
    except KeyboardInterrupt:
        print("mailbeam: interrupted; run the same command again to resume", file=err)
        return 75


def main() -> None:
    sys.exit(run())
