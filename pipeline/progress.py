"""Progress with ETA, read from the checkpoints while the stages run.

Works the same whichever runner (and however many worker processes) does the
writing: a background thread counts what the ledger holds (the message count
is part of each ledger file's name) against what the selection stage chose,
and shows it as a bar on a terminal or as log lines elsewhere.  ``mailbeam
status`` uses :func:`snapshot` for the same numbers from outside.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Self

import schemas
from transforms.state import JobContext, glob_paths

__all__ = ["PROGRESS_MODES", "ProgressMonitor", "Snapshot", "snapshot"]

PROGRESS_MODES = ("auto", "bar", "log", "none")
_COUNT = re.compile(r"-n(\d+)\.avro$")


@dataclass(frozen=True)
class Snapshot:
    users_listed: int
    users_written: int
    selected: int
    selected_bytes: int
    committed: int


def snapshot(ctx: JobContext) -> Snapshot:
    """Counts from the state directory, cheap enough to poll (names and small JSON only)."""
    selected = selected_bytes = 0
    for path in glob_paths(ctx.path("selected", "*", "*.done")):
        for chunk in json.loads(schemas.read_text(path))["chunks"]:
            selected += chunk["count"]
            selected_bytes += chunk["bytes"]
    committed = 0
    for path in glob_paths(ctx.path("ledger", "*", "*.avro")):
        m = _COUNT.search(path)
        committed += int(m.group(1)) if m else 0
    return Snapshot(
        users_listed=len(glob_paths(ctx.path("messages", "*", "_SUCCESS"))),
        users_written=len(glob_paths(ctx.path("written", "*._SUCCESS"))),
        selected=selected,
        selected_bytes=selected_bytes,
        committed=committed,
    )


def _eta(done: int, total: int, rate: float) -> str:
    if rate <= 0 or total <= done:
        return "--"
    secs = int((total - done) / rate)
    return f"{secs // 3600:d}:{secs // 60 % 60:02d}:{secs % 60:02d}"


class ProgressMonitor:
    """Polls :func:`snapshot` in a thread while a stage runs; a context manager."""

    def __init__(self, ctx: JobContext, mode: str = "auto", interval: float = 1.0) -> None:
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self._ctx = ctx
        self._mode = mode
        self._interval = interval if mode == "bar" else max(interval, 10.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stage = ""
        self._bar: Any = None

    def __enter__(self) -> Self:
        if self._mode != "none":
            self._thread = threading.Thread(target=self._run, name="mailbeam-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.close()

    def _run(self) -> None:
        start = time.monotonic()
        first: int | None = None
        while not self._stop.wait(self._interval):
            try:
                snap = snapshot(self._ctx)
            except OSError:
                continue
            if first is None:
                first = snap.committed
            rate = (snap.committed - first) / max(time.monotonic() - start, 1e-6)
            self._show(snap, rate)

    def _show(self, snap: Snapshot, rate: float) -> None:
        if self._mode == "bar":
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(unit="msg", file=sys.stderr, dynamic_ncols=True)
            self._bar.total = snap.selected or None
            self._bar.n = snap.committed
            self._bar.set_description(f"mailbeam {self.stage}")
            self._bar.refresh()
        else:
            print(
                f"mailbeam: {self.stage}: {snap.committed}/{snap.selected} messages written, "
                f"{snap.users_written} users complete, {rate:.0f} msg/s, "
                f"ETA {_eta(snap.committed, snap.selected, rate)}",
                file=sys.stderr,
                flush=True,
            )
