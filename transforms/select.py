"""Stage 2: select messages with the query and checkpoint them into ``selected/``.

``folders | SelectMessages(ctx)`` takes ``(UserTask, folder_key)`` for each
listed folder not yet selected and returns ``(user_key, folder_key)`` for each
folder it finished.  Inside:

* ``ReadMessageCheckpoint`` → ``(UserTask, record)``, ``mailbeam.v1.Message`` dicts;
* :class:`FilterByQuery` keeps the records the query selects, deciding from
  metadata first and opening a body only when the query needs one (then once: a
  body it opened stays on the record for the sink);
* :class:`ReadBodies` fills ``body`` for sources that cannot be re-read cheaply
  (no ``FILE_PER_MSG`` capability); a Maildir body is read once, by the sink;
* ``WriteSelectedChunks`` writes chunk files of at most :data:`CHUNK_SIZE`
  records as they come (no shuffle of bodies), then ``selected/<user>/<folder>.done``
  names the chunks, together with the folder's dead letters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

import schemas
from mailstore.driver import Capability
from mailstore.errors import MailstoreError
from mailstore.search import MessageView, Need
from transforms.deadletters import DeadLetters
from transforms.sources import SourceCache, folder_of, meta_of
from transforms.state import JobContext, UserTask, glob_paths, listing_marker

__all__ = [
    "CHUNK_SIZE",
    "FilterByQuery",
    "ReadBodies",
    "SelectMessages",
]

#: Records per selected chunk: the unit the sink writes and the ledger commits.
CHUNK_SIZE = 500

DEAD = "dead"


class _ReadCheckpointFn(beam.DoFn):
    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def process(self, element: tuple[UserTask, str]) -> Iterator[tuple[UserTask, str, Any]]:
        task, fkey = element
        for record in schemas.read_records(self._ctx.path("messages", task.key, f"{fkey}.avro")):
            yield task, fkey, record


class _FilterByQueryFn(beam.DoFn):
    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._kept = Metrics.counter("mailbeam", "messages_selected")
        self._dropped = Metrics.counter("mailbeam", "messages_not_selected")
        self._opened = Metrics.counter("mailbeam", "bodies_opened_by_filter")

    def setup(self) -> None:
        self._sources = SourceCache(self._ctx)
        self._need = self._ctx.query.needs()

    def teardown(self) -> None:
        self._sources.close()

    def process(self, element: tuple[UserTask, str, dict[str, Any]]) -> Iterator[Any]:
        task, fkey, record = element
        folder = folder_of(record)
        meta = meta_of(record)
        loaded: list[bytes] = []

        def load() -> bytes:
            if not loaded:
                self._opened.inc()
                body = record["body"] or self._sources.get(task).read_message(folder, meta)
                loaded.append(body)
            return loaded[0]

        view = MessageView.from_meta(
            folder,
            meta,
            loader=load if self._need > Need.METADATA else None,
            mailbox_count=record["mailbox_count"],
        )
        try:
            matched = self._ctx.query.matches(view)
        except (MailstoreError, OSError) as e:
            yield pvalue.TaggedOutput(DEAD, (task, fkey, record, e))
            return
        if not matched:
            self._dropped.inc()
            return
        self._kept.inc()
        if loaded and record["body"] is None:
            # Read once: the body the filter opened travels on, so no later stage re-reads it.
            record = {**record, "body": loaded[0]}
        yield task, fkey, record


class _ReadBodiesFn(beam.DoFn):
    """Reads bodies in batches of a folder (one IMAP FETCH for many messages), flushed when a
    batch is full and at the end of each bundle."""

    BATCH_MESSAGES = 200
    BATCH_BYTES = 16 << 20

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._read = Metrics.counter("mailbeam", "bodies_checkpointed")

    def setup(self) -> None:
        self._sources = SourceCache(self._ctx)

    def teardown(self) -> None:
        self._sources.close()

    def start_bundle(self) -> None:
        self._pending: dict[tuple[str, str], list[tuple[UserTask, str, dict[str, Any]]]] = {}
        self._sizes: dict[tuple[str, str], int] = {}

    def process(self, element: tuple[UserTask, str, dict[str, Any]]) -> Iterator[Any]:
        task, fkey, record = element
        source = self._sources.get(task)
        if record["body"] is not None or source.capabilities & Capability.FILE_PER_MSG:
            yield element
            return
        key = (task.key, fkey)
        self._pending.setdefault(key, []).append(element)
        self._sizes[key] = self._sizes.get(key, 0) + record["size"]
        if len(self._pending[key]) >= self.BATCH_MESSAGES or self._sizes[key] >= self.BATCH_BYTES:
            yield from self._flush(key)

    def finish_bundle(self) -> Iterator[Any]:
        for key in list(self._pending):
            for out in self._flush(key):
                if isinstance(out, pvalue.TaggedOutput):
                    yield pvalue.TaggedOutput(out.tag, _windowed(out.value))
                else:
                    yield _windowed(out)

    def _flush(self, key: tuple[str, str]) -> Iterator[Any]:
        batch = self._pending.pop(key)
        self._sizes.pop(key, None)
        task, fkey, first = batch[0]
        source = self._sources.get(task)
        folder = folder_of(first)
        try:
            bodies = source.read_messages(folder, [meta_of(r) for _, _, r in batch])
        except (MailstoreError, OSError):
            bodies = {}  # the batch failed as a whole: each message below says why
        for _, _, record in batch:
            body = bodies.get(record["source_key"])
            if body is None:
                try:
                    body = source.read_message(folder, meta_of(record))
                except (MailstoreError, OSError) as e:
                    yield pvalue.TaggedOutput(DEAD, (task, fkey, record, e))
                    continue
            self._read.inc()
            yield task, fkey, {**record, "body": body}


def _windowed(value: Any) -> WindowedValue:
    """An output of ``finish_bundle`` (in the global window, as everything here)."""
    return WindowedValue(value, MIN_TIMESTAMP, (GlobalWindow(),))


class FilterByQuery(beam.PTransform):
    """``(UserTask, folder_key, record)`` → what the query selects; failures tagged ``dead``."""

    def __init__(self, ctx: JobContext) -> None:
        super().__init__()
        self._ctx = ctx

    def expand(self, records: beam.PCollection) -> Any:
        return records | beam.ParDo(_FilterByQueryFn(self._ctx)).with_outputs(DEAD, main="main")


class ReadBodies(beam.PTransform):
    """Fills ``body`` where the source cannot be re-read later; failures tagged ``dead``."""

    def __init__(self, ctx: JobContext) -> None:
        super().__init__()
        self._ctx = ctx

    def expand(self, records: beam.PCollection) -> Any:
        return records | beam.ParDo(_ReadBodiesFn(self._ctx)).with_outputs(DEAD, main="main")


class _WriteChunksFn(beam.DoFn):
    """Writes selected records as they come, a chunk file per :data:`CHUNK_SIZE` records of a
    folder (and at the end of each bundle), so bodies never wait in a shuffle.

    A chunk's name carries the bundle's own token: a retried bundle writes new files and the
    folder's marker lists only the chunks that were reported, so a file left by a failed
    attempt is never read.
    """

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def start_bundle(self) -> None:
        self._token = uuid.uuid4().hex[:8]
        self._buffers: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def process(self, element: tuple[UserTask, str, dict[str, Any]]) -> Iterator[Any]:
        task, fkey, record = element
        buffer = self._buffers.setdefault((task.key, fkey), [])
        buffer.append(record)
        if len(buffer) >= CHUNK_SIZE:
            yield self._flush(task.key, fkey)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for user_key, fkey in list(self._buffers):
            if self._buffers[(user_key, fkey)]:
                yield _windowed(self._flush(user_key, fkey))

    def _flush(self, user_key: str, fkey: str) -> tuple[tuple[str, str], tuple[str, Any]]:
        records = sorted(self._buffers.pop((user_key, fkey)), key=lambda r: r["position"])
        chunk = f"{fkey}-{records[0]['position']:08d}-{self._token}"
        schemas.write_records(self._ctx.path("selected", user_key, f"{chunk}.avro"), "message",
                              records)
        size = sum(r["size"] for r in records)
        return (user_key, fkey), ("chunk", {"name": chunk, "count": len(records), "bytes": size})


class _MarkSelectedFn(beam.DoFn):
    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def process(self, element: tuple[tuple[str, str], Any]) -> Iterator[tuple[str, str]]:
        (user_key, fkey), items = element
        task: UserTask | None = None
        chunks: list[dict[str, Any]] = []
        failures: list[tuple[dict[str, Any], BaseException]] = []
        for kind, value in items:
            if kind == "task":
                task = value
            elif kind == "chunk":
                chunks.append(value)
            else:
                failures.append(value)
        assert task is not None, f"folder {fkey} of {user_key} reached the marker without its task"
        stale = [exc for _, exc in failures if is_stale_listing(exc)]
        if stale:
            self._relist(task, fkey, failures[0][0]["source_mailbox"], stale[0])
            return
        dead = DeadLetters(self._ctx, task, "select", fkey)
        for record, exc in failures:
            dead.add(
                exc,
                mailbox=record["source_mailbox"],
                source_key=record["source_key"],
                save_id=record["save_id"],
                location=record["handle"],
            )
        dead.flush()
        chunks.sort(key=lambda c: c["name"])
        path = self._ctx.path("selected", user_key, f"{fkey}.done")
        schemas.write_text(path, json.dumps({"chunks": chunks, "failed": len(failures)}))
        yield user_key, fkey

    def _relist(self, task: UserTask, fkey: str, mailbox: list[str], exc: BaseException) -> None:
        """The source renumbered the mailbox since it was listed (IMAP UIDVALIDITY changed):
        drop its listing and selection, and have the next run list it again."""
        ctx = self._ctx
        stale = [ctx.path("messages", task.key, f"{fkey}.avro"), *glob_paths(
            ctx.path("selected", task.key, f"{fkey}-*.avro"))]
        FileSystems.delete([p for p in stale if schemas.exists(p)])
        marker = listing_marker(ctx, task.key) or {"folders": [], "failed": []}
        marker = {
            "folders": [k for k in marker["folders"] if k != fkey],
            "failed": sorted({*marker["failed"], fkey}),
        }
        schemas.write_text(ctx.path("messages", task.key, "_SUCCESS"), json.dumps(marker))
        note = (f"{exc}; the mailbox is listed again on the next run, and messages already "
                "imported from it may be imported again (their UIDs changed)")
        schemas.write_text(ctx.path("messages", task.key, f"{fkey}.warnings.json"),
                           json.dumps({"mailbox": mailbox, "warnings": [note]}, ensure_ascii=False))


def is_stale_listing(exc: BaseException) -> bool:
    """An error saying the source renumbered a mailbox since it was listed."""
    return getattr(exc, "code", None) == "UIDVALIDITY"


class SelectMessages(beam.PTransform):
    """``(UserTask, folder_key)`` → ``(user_key, folder_key)`` once the folder's selection is
    checkpointed."""

    def __init__(self, ctx: JobContext) -> None:
        super().__init__()
        self._ctx = ctx

    def expand(self, folders: beam.PCollection) -> beam.PCollection:
        ctx = self._ctx
        records = folders | "ReadMessageCheckpoint" >> beam.ParDo(_ReadCheckpointFn(ctx))
        filtered = records | "FilterByQuery" >> FilterByQuery(ctx)
        bodies = filtered.main | "ReadBodies" >> ReadBodies(ctx)
        chunks = bodies.main | "WriteSelectedChunks" >> beam.ParDo(_WriteChunksFn(ctx))
        dead = (
            (filtered[DEAD], bodies[DEAD])
            | "FlattenFailures" >> beam.Flatten()
            | "KeyFailures" >> beam.MapTuple(
                lambda task, fkey, rec, exc: ((task.key, fkey), ("dead", (rec, exc)))
            )
        )
        tasks = folders | "KeyFolders" >> beam.MapTuple(
            lambda task, fkey: ((task.key, fkey), ("task", task))
        )
        return (
            (tasks, chunks, dead)
            | "FlattenFolderParts" >> beam.Flatten()
            | "GroupByFolder" >> beam.GroupByKey()
            | "MarkFoldersSelected" >> beam.ParDo(_MarkSelectedFn(ctx))
        )
