"""What a run tells its operator: report.json, manifest.parquet, progress with ETA, status."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from corpus import make_corpus

import schemas
from mailstore.search import parse_query
from pipeline.cli import run
from pipeline.progress import ProgressMonitor, snapshot
from transforms.state import JobContext


@pytest.fixture
def job(tmp_path: Path) -> dict[str, object]:
    corpus = make_corpus(tmp_path / "src", ["alice", "bob"], seed=4)
    lines = []
    for name in ("alice", "bob"):
        home = tmp_path / "home" / name
        home.mkdir(parents=True)
        lines.append(f"{name}::{os.getuid()}:{os.getgid()}::{home}::")
    (tmp_path / "users").write_text("\n".join(lines) + "\n")
    args = ["import", "--userdb", f"passwd-file:{tmp_path / 'users'}", "-A",
            "--state-dir", str(tmp_path / "state"), "--progress", "none",
            "--report", str(tmp_path / "out" / "report.json"),
            f"maildir:{tmp_path}/src/%u/Maildir", "Restored", "ALL"]
    total = {u: sum(f["count"] for f in corpus[u]["folders"].values()) for u in corpus}
    return {"args": args, "total": total, "tmp": tmp_path}


def test_report_and_manifest_describe_the_destination(job: dict[str, object]) -> None:
    tmp, total = Path(str(job["tmp"])), job["total"]
    assert isinstance(total, dict)
    err = io.StringIO()
    assert run(job["args"], out=io.StringIO(), err=err) == 0, err.getvalue()  # type: ignore[arg-type]
    report = json.loads((tmp / "out" / "report.json").read_text())
    job_dir = Path(report["state"])
    assert json.loads((job_dir / "report.json").read_text()) == report
    assert report["exit_code"] == 0
    assert report["totals"]["users_complete"] == 2
    assert {u["user"]: u["written"] for u in report["users"]} == total
    assert report["totals"]["written_this_run"] == sum(total.values())
    alice = next(u for u in report["users"] if u["user"] == "alice")
    inbox = next(m for m in alice["mailboxes"] if m["name"] == ["Restored", "INBOX"])
    inbox_dir = tmp / "home/alice/Maildir/.Restored.INBOX"
    assert inbox["written"] == len(list(inbox_dir.rglob("*,S=*")))

    table = pq.read_table(job_dir / "manifest.parquet")
    assert table.num_rows == sum(total.values())
    rows = table.to_pylist()
    assert {r["status"] for r in rows} == {"written"}
    for user in ("alice", "bob"):
        stored = {p.name for p in (tmp / "home" / user / "Maildir").rglob("*,S=*")}
        named = {r["dest_name"].split("/", 1)[1] for r in rows if r["dest_user"] == user}
        assert named == stored

    # The same command again: complete, nothing written now, the manifest unchanged.
    err = io.StringIO()
    assert run(job["args"], out=io.StringIO(), err=err) == 0  # type: ignore[arg-type]
    assert "already complete" in err.getvalue()
    again = json.loads((tmp / "out" / "report.json").read_text())
    assert again["totals"]["written_this_run"] == 0
    assert pq.read_table(job_dir / "manifest.parquet").num_rows == sum(total.values())


def _ctx(job_dir: Path) -> JobContext:
    return JobContext("j", str(job_dir), "maildir:/x", (), "maildir:~/M", "", parse_query(["ALL"]),
                      0, False)


def test_snapshot_counts_from_names_and_markers(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    schemas.write_text(ctx.path("selected", "u1", "f.done"), json.dumps(
        {"chunks": [{"name": "f-0", "count": 500, "bytes": 10}, {"name": "f-1", "count": 100,
                                                                  "bytes": 5}], "failed": 0}))
    schemas.write_records(ctx.path("ledger", "u1", "f-0-00000000-n250.avro"), "ledger", [])
    schemas.write_records(ctx.path("ledger", "u1", "f-0-00000250-n250.avro"), "ledger", [])
    schemas.write_text(ctx.path("messages", "u1", "_SUCCESS"), "{}")
    snap = snapshot(ctx)
    assert (snap.selected, snap.selected_bytes, snap.committed, snap.users_listed,
            snap.users_written) == (600, 15, 500, 1, 0)


def test_progress_log_lines_carry_rate_and_eta(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ctx = _ctx(tmp_path)
    schemas.write_text(ctx.path("selected", "u1", "f.done"), json.dumps(
        {"chunks": [{"name": "f-0", "count": 1000, "bytes": 1}], "failed": 0}))
    monitor = ProgressMonitor(ctx, "log")
    monitor.stage = "write"
    monitor._show(snapshot(ctx), rate=0.0)
    schemas.write_records(ctx.path("ledger", "u1", "f-0-00000000-n400.avro"), "ledger", [])
    monitor._show(snapshot(ctx), rate=100.0)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("mailbeam: write: 0/1000 messages written")
    assert "ETA --" in lines[0]
    assert "400/1000 messages written" in lines[1] and "100 msg/s" in lines[1]
    assert "ETA 0:00:06" in lines[1]


def test_dry_run_counts_per_mailbox_and_writes_nothing(job: dict[str, object]) -> None:
    tmp, total = Path(str(job["tmp"])), job["total"]
    assert isinstance(total, dict)
    args = [a for a in job["args"] if a != "ALL"] + ["SEEN"]  # type: ignore[attr-defined]
    out = io.StringIO()
    assert run(["import", "--dry-run", *args[1:]], out=out, err=io.StringIO()) == 0
    rows = [line.split("\t") for line in out.getvalue().splitlines()]
    assert {r[0] for r in rows} == {"alice", "bob"}
    assert all(r[2].endswith(" messages") and r[3].endswith(" bytes") for r in rows)
    assert ["alice", "Restored/INBOX"] in [r[:2] for r in rows]
    assert 0 < sum(int(r[2].split()[0]) for r in rows) < sum(total.values())
    assert not (tmp / "state").exists()
    assert not list((tmp / "home").rglob("Maildir")), "a dry run must not touch the destination"
