"""Stage 3: write selected messages into the destination mailboxes, exactly once.

``chunks | WriteToMailbox(ctx)`` takes ``(UserTask, chunk_name)`` for each
selected chunk and returns ``user_key`` for every user whose chunks all landed
(after subscribing its imported mailboxes with ``-s``).

Per chunk: messages the ledger already holds are skipped (an optimisation);
the rest are saved in batches through the destination driver.  A Maildir's
writes are idempotent per ``save_id`` (the guarantee); for a destination whose
saves are not (IMAP), an intent naming the batch's save_ids is recorded before
the save and, when a resume finds one without its ledger entry, the destination
is asked which of those messages it already holds (:meth:`present`).  Once a
batch is durable, one ledger file
``ledger/<user>/<chunk>-<first position>-n<count>.avro`` records it.
Messages that cannot be read or written go to ``deadletter/<user>/write-<chunk>.avro``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

import schemas
from mailstore.driver import MailDestination, SaveRequest, SaveResult
from mailstore.errors import Kind, MailstoreError
from transforms.deadletters import DeadLetters
from transforms.sources import SourceCache, folder_of, meta_of, open_user_destination
from transforms.state import (
    JobContext,
    UserTask,
    glob_paths,
    listing_marker,
    now_ms,
    selection_marker,
)

__all__ = ["BATCH_BYTES", "BATCH_MESSAGES", "WriteToMailbox", "not_yet_written"]

#: A durable batch: at most this many messages or bytes between two ledger appends.
BATCH_MESSAGES = 250
BATCH_BYTES = 32 << 20


def ledger_ids(ctx: JobContext, user_key: str, chunk: str) -> set[str]:
    """save_ids the ledger holds for one chunk."""
    ids: set[str] = set()
    for path in glob_paths(ctx.path("ledger", user_key, f"{chunk}-*.avro")):
        ids.update(r["save_id"] for r in schemas.read_records(path))
    return ids


class not_yet_written:
    """True for a user whose write stage has no completion marker; counts the others."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._skipped = Metrics.counter("mailbeam", "users_already_written")

    def __call__(self, element: tuple[UserTask, str]) -> bool:
        task, _ = element
        if schemas.exists(self._ctx.path("written", f"{task.key}._SUCCESS")):
            self._skipped.inc()
            return False
        return True


class _WriteChunkFn(beam.DoFn):
    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._written = Metrics.counter("mailbeam", "messages_written")
        self._existed = Metrics.counter("mailbeam", "messages_already_present")
        self._skipped = Metrics.counter("mailbeam", "messages_in_ledger")
        self._failed = Metrics.counter("mailbeam", "messages_failed")
        self._bytes = Metrics.counter("mailbeam", "bytes_written")

    def setup(self) -> None:
        self._sources = SourceCache(self._ctx)
        self._dests: dict[str, MailDestination] = {}
        self._created: set[tuple[str, tuple[str, ...]]] = set()

    def teardown(self) -> None:
        self._sources.close()
        for dest in self._dests.values():
            dest.close()

    def _dest(self, task: UserTask) -> MailDestination:
        if task.key not in self._dests:
            dest = open_user_destination(self._ctx, task)
            # Like Dovecot opening a user's storage: the user's INBOX always exists.
            dest.create_mailbox(("INBOX",))
            self._dests[task.key] = dest
        return self._dests[task.key]

    def process(self, element: tuple[UserTask, str]) -> Iterator[tuple[str, Any]]:
        task, chunk = element
        ctx = self._ctx
        records = []
        if chunk:
            records = list(schemas.read_records(ctx.path("selected", task.key, f"{chunk}.avro")))
        if not records:
            # Nothing selected for this user: like doveadm, the destination is never opened.
            yield task.key, (task, None, 0)
            return
        mailbox = tuple(records[0]["dest_mailbox"])
        done = ledger_ids(ctx, task.key, chunk)
        todo = [r for r in records if r["save_id"] not in done]
        self._skipped.inc(len(records) - len(todo))
        dead = DeadLetters(ctx, task, "write", chunk)
        try:
            dest = self._dest(task)
            if (task.key, mailbox) not in self._created:
                dest.validate_name(mailbox)
                dest.create_mailbox(mailbox)
                self._created.add((task.key, mailbox))
        except (MailstoreError, OSError) as e:
            self._fail_all(dead, e, todo)
            yield task.key, (task, mailbox, len(todo))
            return
        try:
            todo = self._resolve_intents(task, dest, mailbox, chunk, todo)
        except (MailstoreError, OSError) as e:
            self._fail_all(dead, e, todo)
            yield task.key, (task, mailbox, len(todo))
            return
        for batch in _batches(todo):
            self._write_batch(task, dest, mailbox, chunk, batch, dead)
        dead.flush()
        yield task.key, (task, mailbox, len(dead.records))

    def _fail_all(
        self, dead: DeadLetters, exc: BaseException, records: list[dict[str, Any]]
    ) -> None:
        """The whole chunk failed for one reason (mailbox not creatable, destination down)."""
        for r in records:
            dead.add(exc, mailbox=r["source_mailbox"], source_key=r["source_key"],
                     save_id=r["save_id"], location=r["handle"])
        self._failed.inc(len(records))
        dead.flush()

    def _requests(
        self, task: UserTask, batch: list[dict[str, Any]], dead: DeadLetters | None
    ) -> tuple[list[SaveRequest], dict[str, dict[str, Any]]]:
        """Save requests for the records whose body can be read (failures dead-lettered)."""
        requests: list[SaveRequest] = []
        by_id: dict[str, dict[str, Any]] = {}
        for r in batch:
            try:
                body = r["body"]
                if body is None:
                    body = self._sources.get(task).read_message(folder_of(r), meta_of(r))
            except (MailstoreError, OSError) as e:
                if dead is not None:
                    dead.add(e, mailbox=r["source_mailbox"], source_key=r["source_key"],
                             save_id=r["save_id"], location=r["handle"])
                    self._failed.inc()
                continue
            by_id[r["save_id"]] = r
            requests.append(
                SaveRequest(
                    save_id=r["save_id"],
                    ordinal=r["position"],
                    body=body,
                    flags=frozenset(r["flags"]),
                    keywords=tuple(r["keywords"]),
                    received_date=r["received_date"],
                )
            )
        return requests, by_id

    def _resolve_intents(
        self,
        task: UserTask,
        dest: MailDestination,
        mailbox: tuple[str, ...],
        chunk: str,
        todo: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Settle batches a crash left between intent and ledger: what the destination already
        holds goes into the ledger as ``existed``; the rest is returned to be saved."""
        intents = glob_paths(self._ctx.path("intents", task.key, f"{chunk}-*.json"))
        if not intents:
            return todo
        maybe = set().union(*(json.loads(schemas.read_text(p)) for p in intents))
        requests, by_id = self._requests(task, [r for r in todo if r["save_id"] in maybe], None)
        present = dest.present(mailbox, requests) if requests else set()
        existed = [SaveResult(sid, "existed") for sid in sorted(present)]
        self._commit(task, mailbox, chunk, existed, by_id, None)
        FileSystems.delete(intents)
        return [r for r in todo if r["save_id"] not in present]

    def _write_batch(
        self,
        task: UserTask,
        dest: MailDestination,
        mailbox: tuple[str, ...],
        chunk: str,
        batch: list[dict[str, Any]],
        dead: DeadLetters,
    ) -> None:
        requests, by_id = self._requests(task, batch, dead)
        if not requests:
            return
        intent = ""
        if not dest.idempotent:
            # Recorded before the save: a crash between save and ledger is settled on resume.
            first = min(req.ordinal for req in requests)
            intent = self._ctx.path("intents", task.key, f"{chunk}-{first:08d}.json")
            schemas.write_text(intent, json.dumps([req.save_id for req in requests]))
        try:
            results = dest.save_batch(mailbox, requests)
        except (MailstoreError, OSError) as e:
            for req in requests:
                r = by_id[req.save_id]
                dead.add(e, mailbox=r["source_mailbox"], source_key=r["source_key"],
                         save_id=r["save_id"], location=r["handle"])
            self._failed.inc(len(requests))
            return
        self._commit(task, mailbox, chunk, results, by_id, dead)
        if intent:
            FileSystems.delete([intent])

    def _commit(
        self,
        task: UserTask,
        mailbox: tuple[str, ...],
        chunk: str,
        results: list[SaveResult],
        by_id: dict[str, dict[str, Any]],
        dead: DeadLetters | None,
    ) -> None:
        """Append one ledger file for the durable results; dead-letter the failed ones."""
        entries = []
        stamp = now_ms()
        for res in results:
            r = by_id[res.save_id]
            if res.status in ("written", "existed"):
                entries.append({
                    "job": self._ctx.job_id, "dest_user": task.user.name,
                    "dest_mailbox": list(mailbox), "source_mailbox": r["source_mailbox"],
                    "source_key": r["source_key"], "save_id": r["save_id"],
                    "status": res.status, "dest_name": res.dest_name, "size": r["size"],
                    "committed_at": stamp,
                })
                if res.status == "written":
                    self._written.inc()
                    self._bytes.inc(r["size"])
                else:
                    self._existed.inc()
            elif dead is not None:
                dead.add(_save_failure(res.reason), mailbox=r["source_mailbox"],
                         source_key=r["source_key"], save_id=r["save_id"], location=r["handle"])
                self._failed.inc()
        if entries:
            first = min(by_id[e["save_id"]]["position"] for e in entries)
            name = f"{chunk}-{first:08d}-n{len(entries)}.avro"
            schemas.write_records(self._ctx.path("ledger", task.key, name), "ledger", entries)


def _save_failure(reason: str) -> MailstoreError:
    """A failed SaveResult as an error: the driver's reason, a data error unless temporary."""
    return MailstoreError(Kind.TEMP if "temporar" in reason.lower() else Kind.INVALIDDATA, reason)


def _batches(records: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for r in records:
        if batch and (len(batch) >= BATCH_MESSAGES or size + r["size"] > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(r)
        size += r["size"]
    if batch:
        yield batch


class _FinishUserFn(beam.DoFn):
    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def _earlier_failures(self, task: UserTask) -> int:
        """Folders or messages the listing or selection could not handle (retried next run)."""
        marker = listing_marker(self._ctx, task.key)
        if marker is None:
            return 1
        failed = len(marker["failed"])
        for fkey in marker["folders"]:
            done = selection_marker(self._ctx, task.key, fkey)
            failed += 1 if done is None else done["failed"]
        return failed

    def process(self, element: tuple[str, Any]) -> Iterator[str]:
        user_key, items = element
        items = list(items)
        task: UserTask = items[0][0]
        mailboxes = sorted({mailbox for _, mailbox, _ in items if mailbox is not None})
        failed = sum(n for _, _, n in items) + self._earlier_failures(task)
        if self._ctx.subscribe and mailboxes:
            with open_user_destination(self._ctx, task) as dest:
                dest.subscribe(mailboxes)
        if not failed:
            schemas.write_text(self._ctx.path("written", f"{user_key}._SUCCESS"), "")
            yield user_key


class WriteToMailbox(beam.PTransform):
    """``(UserTask, chunk_name)`` → keys of users whose selected messages all landed."""

    def __init__(self, ctx: JobContext) -> None:
        super().__init__()
        self._ctx = ctx

    def expand(self, chunks: beam.PCollection) -> beam.PCollection:
        return (
            chunks
            | "SkipUsersWritten" >> beam.Filter(not_yet_written(self._ctx))
            | "SaveChunks" >> beam.ParDo(_WriteChunkFn(self._ctx))
            | "GroupChunksByUser" >> beam.GroupByKey()
            | "SubscribeAndMarkUsers" >> beam.ParDo(_FinishUserFn(self._ctx))
        )
