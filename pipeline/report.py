"""The job's report: ``report.json`` (machine-readable summary) and ``manifest.parquet``.

Built from the checkpoints alone, so it is the same whoever ran which part:
the ledger says what is in the destination, the dead letters what is not and
why.  A dead letter whose message the ledger holds was retried successfully
and no longer counts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

import schemas
from mailstore.errors import Kind, exit_code_for, worst_exit_code
from transforms.state import JobContext, UserTask, glob_paths

__all__ = ["MANIFEST_SCHEMA", "build_report", "write_report"]

MANIFEST_SCHEMA = pa.schema([
    ("dest_user", pa.string()),
    ("dest_mailbox", pa.list_(pa.string())),
    ("source_mailbox", pa.list_(pa.string())),
    ("source_key", pa.string()),
    ("save_id", pa.string()),
    ("status", pa.string()),
    ("dest_name", pa.string()),
    ("size", pa.int64()),
    ("committed_at", pa.timestamp("ms", tz="UTC")),
])


def _records(pattern: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in glob_paths(pattern):
        rows.extend(schemas.read_records(path))
    return rows


def _selected(ctx: JobContext, task: UserTask) -> tuple[int, int]:
    count = size = 0
    for path in glob_paths(ctx.path("selected", task.key, "*.done")):
        for chunk in json.loads(schemas.read_text(path))["chunks"]:
            count += chunk["count"]
            size += chunk["bytes"]
    return count, size


def _exit_code(dead: dict[str, Any]) -> int:
    """A failed message is a data error (65) unless the cause was temporary or a permission;
    a failed user or mailbox exits as its error kind does (e.g. 68 for a missing source)."""
    kind = Kind(dead["kind"])
    if dead["save_id"] and kind not in (Kind.TEMP, Kind.PERM):
        return exit_code_for(Kind.INVALIDDATA)
    return exit_code_for(kind)


def build_report(
    ctx: JobContext, tasks: Sequence[UserTask], run_started_ms: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The report document and the manifest rows (ledger entries)."""
    users = []
    manifest: list[dict[str, Any]] = []
    codes: list[int] = []
    totals: dict[str, int] = defaultdict(int)
    for task in tasks:
        ledger = _records(ctx.path("ledger", task.key, "*.avro"))
        manifest.extend(ledger)
        in_ledger = {r["save_id"] for r in ledger}
        dead = [
            r for r in _records(ctx.path("deadletter", task.key, "*.avro"))
            if not r["save_id"] or r["save_id"] not in in_ledger
        ]
        codes.extend(_exit_code(r) for r in dead)
        mailboxes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in ledger:
            box = mailboxes["\x1f".join(r["dest_mailbox"])]
            box[r["status"]] += 1
            if r["status"] == "written" and r["committed_at"] >= run_started_ms:
                box["written_this_run"] += 1
        warnings = [
            json.loads(schemas.read_text(path))
            for path in glob_paths(ctx.path("messages", task.key, "*.warnings.json"))
        ]
        selected, selected_bytes = _selected(ctx, task)
        listed = schemas.exists(ctx.path("messages", task.key, "_SUCCESS"))
        done = schemas.exists(ctx.path("written", f"{task.key}._SUCCESS"))
        entry: dict[str, Any] = {
            "user": task.user.name,
            "source_user": task.source_user.name,
            "complete": done,
            "listed": listed,
            "selected": selected,
            "selected_bytes": selected_bytes,
            "written": sum(b["written"] for b in mailboxes.values()),
            "written_this_run": sum(b["written_this_run"] for b in mailboxes.values()),
            "already_present": sum(b["existed"] for b in mailboxes.values()),
            "failed": len(dead),
            "warnings": [w for w in warnings if w["warnings"]],
            "mailboxes": [
                {"name": name.split("\x1f"), **{k: v for k, v in counts.items()}}
                for name, counts in sorted(mailboxes.items())
            ],
            "dead_letters": [
                {k: r[k] for k in ("stage", "source_mailbox", "source_key", "location", "kind",
                                   "reason")}
                for r in dead
            ],
        }
        for key in ("selected", "selected_bytes", "written", "written_this_run",
                    "already_present", "failed"):
            totals[key] += entry[key]
        totals["users_complete"] += int(done)
        users.append(entry)
    report = {
        "job": ctx.job_id,
        "state": ctx.job_dir,
        "users": users,
        "totals": {"users": len(tasks), **totals},
        "exit_code": worst_exit_code(codes),
    }
    return report, manifest


def write_report(
    ctx: JobContext, report: dict[str, Any], manifest: list[dict[str, Any]],
    extra_path: str | None = None,
) -> None:
    text = json.dumps(report, indent=2, ensure_ascii=False)
    schemas.write_text(ctx.path("report.json"), text)
    if extra_path:
        schemas.write_text(extra_path, text)
    rows = {name: [r[name] for r in manifest] for name in MANIFEST_SCHEMA.names}
    table = pa.Table.from_pydict(rows, schema=MANIFEST_SCHEMA)
    with FileSystems.create(ctx.path("manifest.parquet.tmp")) as f:
        pq.write_table(table, f)
    FileSystems.rename([ctx.path("manifest.parquet.tmp")], [ctx.path("manifest.parquet")])
