"""Stage orchestration: one Beam pipeline per stage, run in order.

Each stage starts from the user tasks and finds its own pending partitions
from the previous stage's checkpoints, so any stage can be killed and re-run:

1. ``list``   users → ListFolders → ListMessages       → messages/
2. ``select`` listed folders → SelectMessages          → selected/
3. ``write``  selected chunks → WriteToMailbox         → destination + ledger/
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult

from transforms.list_messages import ListFolders, ListMessages
from transforms.select import SelectMessages
from transforms.state import JobContext, UserTask, listing_marker, selection_marker
from transforms.write_mailbox import WriteToMailbox

__all__ = ["STAGES", "not_yet_listed", "run_stages"]

log = logging.getLogger("mailbeam")


class not_yet_listed:  # a predicate used as beam.Filter, named as what it asks
    """True for a user whose listing has no marker yet, or has folders to retry."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def __call__(self, task: UserTask) -> bool:
        marker = listing_marker(self._ctx, task.key)
        return marker is None or bool(marker["failed"])


class _PendingFoldersFn(beam.DoFn):
    """Listed folders of a user not selected yet, or whose selection had failures to retry."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def process(self, task: UserTask) -> Iterator[tuple[UserTask, str]]:
        marker = listing_marker(self._ctx, task.key)
        if marker is None:
            return
        for fkey in marker["folders"]:
            done = selection_marker(self._ctx, task.key, fkey)
            if done is None or done["failed"]:
                yield task, fkey


class _PendingChunksFn(beam.DoFn):
    """Selected chunks of a listed user; ``(task, "")`` for a user with none, so that the
    write stage still creates its INBOX and marks it."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def process(self, task: UserTask) -> Iterator[tuple[UserTask, str]]:
        marker = listing_marker(self._ctx, task.key)
        if marker is None:
            return
        chunks: list[str] = []
        for fkey in marker["folders"]:
            done = selection_marker(self._ctx, task.key, fkey)
            if done is None:
                return
            chunks.extend(c["name"] for c in done["chunks"])
        for chunk in chunks:
            yield task, chunk
        if not chunks:
            yield task, ""


def _list_stage(ctx: JobContext, users: beam.PCollection) -> None:
    _ = (
        users
        | "SkipUsersListed" >> beam.Filter(not_yet_listed(ctx))
        | "ListFolders" >> ListFolders(ctx)
        | "ListMessages" >> ListMessages(ctx)
    )


def _select_stage(ctx: JobContext, users: beam.PCollection) -> None:
    _ = (
        users
        | "PendingFolders" >> beam.ParDo(_PendingFoldersFn(ctx))
        | "SelectMessages" >> SelectMessages(ctx)
    )


def _write_stage(ctx: JobContext, users: beam.PCollection) -> None:
    _ = (
        users
        | "PendingChunks" >> beam.ParDo(_PendingChunksFn(ctx))
        | "WriteToMailbox" >> WriteToMailbox(ctx)
    )


STAGES: dict[str, Callable[[JobContext, beam.PCollection], None]] = {
    "list": _list_stage,
    "select": _select_stage,
    "write": _write_stage,
}


def run_stages(
    ctx: JobContext,
    tasks: Sequence[UserTask],
    options: PipelineOptions,
    stages: Sequence[str] = ("list", "select", "write"),
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, PipelineResult]:
    """Run the named stages in order, each as its own Beam pipeline; their results by name."""
    results: dict[str, PipelineResult] = {}
    for name in stages:
        if on_stage is not None:
            on_stage(name)
        log.info("stage %s: %d user(s)", name, len(tasks))
        pipeline = beam.Pipeline(options=options)
        users = pipeline | "Users" >> beam.Create(list(tasks), reshuffle=len(tasks) > 1)
        STAGES[name](ctx, users)
        result = pipeline.run()
        result.wait_until_finish()
        results[name] = result
    return results
