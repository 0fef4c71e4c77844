"""Benchmark the filter stage alone: messages/s for a metadata query and a body query.

Generates the same 20,000-message Maildir as ``bench_import.py``, lists it once (stage 1),
then times the selection stage (FilterByQuery and its checkpoint) for each query against
``doveadm search`` of the same query on a copy of the same source, and reports how many
message bodies the filter opened.  A metadata-only query must open none.

    .venv/bin/python bench/bench_filter.py [--messages 20000] [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from bench_import import generate_source, warm
from dovecot import DovecotServer

from mailstore.search import parse_query
from mailstore.userdb import User
from pipeline.stages import run_stages
from transforms.state import JobContext, UserTask

QUERIES = [["SINCE", "365d", "SEEN"], ["BODY", "invoice"]]


def _ctx(job_dir: Path, source: Path, words: list[str]) -> JobContext:
    return JobContext(
        job_id="bench-filter", job_dir=str(job_dir), source_location=f"maildir:{source}",
        source_settings=(), dest_location="maildir:~/Maildir", parent="",
        query=parse_query(words), epoch=int(time.time()), subscribe=False,
    )


def _counter(result: object, name: str) -> int:
    query = result.metrics().query(MetricsFilter().with_name(name))  # type: ignore[attr-defined]
    return sum(c.committed or 0 for c in query["counters"])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--folders", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="mailbeam-bench-filter-", dir="/tmp"))
    base.chmod(0o755)
    options = PipelineOptions(["--runner=FnApiRunner"])
    rows = []
    try:
        src = generate_source(base / "src" / "Maildir", args.messages, args.folders, args.seed)
        warm(src.files)
        task = UserTask(User("bench", home=str(base / "home")), User("bench"))
        listed = base / "listed"
        run_stages(_ctx(listed, src.maildir, ["ALL"]), [task], options, stages=("list",))
        with DovecotServer() as server:
            user = server.add_user("bench-search")
            copy = server.copy_for(user.name, src.maildir)
            location = f"mail_location=maildir:{copy}"
            server.doveadm("-o", location, "search", "-u", user.name, "ALL")  # index it once
            for words in QUERIES:
                job = base / ("job-" + "-".join(words))
                shutil.copytree(listed, job)
                t0 = time.perf_counter()
                result = run_stages(_ctx(job, src.maildir, words), [task], options,
                                    stages=("select",))["select"]
                seconds = time.perf_counter() - t0
                t0 = time.perf_counter()
                found = server.doveadm("-o", location, "search", "-u", user.name, *words)
                doveadm_seconds = time.perf_counter() - t0
                rows.append({
                    "query": " ".join(words),
                    "messages": src.messages,
                    "selected": _counter(result, "messages_selected"),
                    "doveadm_selected": len(found.stdout.splitlines()),
                    "bodies_opened": _counter(result, "bodies_opened_by_filter"),
                    "filter_seconds": round(seconds, 3),
                    "filter_msgs_per_s": round(src.messages / seconds),
                    "doveadm_search_seconds": round(doveadm_seconds, 3),
                })
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"{'query':<20} {'selected':>9} {'doveadm':>8} {'opened':>7} {'filter s':>9} "
          f"{'msg/s':>8} {'doveadm search s':>17}")
    for r in rows:
        print(f"{r['query']:<20} {r['selected']:>9} {r['doveadm_selected']:>8} "
              f"{r['bodies_opened']:>7} {r['filter_seconds']:>9} {r['filter_msgs_per_s']:>8} "
              f"{r['doveadm_search_seconds']:>17}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    mismatch = [r for r in rows if r["selected"] != r["doveadm_selected"]]
    metadata_opened = rows[0]["bodies_opened"]
    if mismatch or metadata_opened:
        print(f"FAILED: selections differ {mismatch} or metadata query opened {metadata_opened}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
