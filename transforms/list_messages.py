"""Stage 1: list each user's source folders and their messages into ``messages/``.

``users | ListFolders(ctx)`` gives ``user_to_folders``: ``(UserTask, Folder)``
for every source folder the query's mailbox terms can match, skipping folders
whose checkpoint exists.  ``user_to_folders | ListMessages(ctx)`` writes one
``messages/<user>/<folder>.avro`` file per folder (``mailbeam.v1.Message``
records without body, in UID order) and marks each user with
``messages/<user>/_SUCCESS`` naming the folders listed and those that failed
(a failed folder does not stop its user; a re-run retries it); it returns the
user keys it marked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

import schemas
from mailstore.driver import Folder
from mailstore.errors import Kind, MailstoreError
from mailstore.names import dest_mailbox_name
from transforms.deadletters import DeadLetters
from transforms.sources import DestinationCache, SourceCache, open_user_source
from transforms.state import JobContext, UserTask, safe_key

__all__ = ["ListFolders", "ListMessages", "folder_key", "save_id_for"]


def folder_key(folder: Folder) -> str:
    return safe_key("\x00".join(folder.name))


def save_id_for(ctx: JobContext, mailbox: tuple[str, ...] | list[str], source_key: str) -> str:
    """The deterministic idempotency key of a message in its destination mailbox."""
    text = "\x00".join([ctx.job_id, *mailbox, "\x01", source_key])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


class _ListFoldersFn(beam.DoFn):
    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._folders = Metrics.counter("mailbeam", "folders_listed")
        self._skipped = Metrics.counter("mailbeam", "folders_already_listed")

    def process(self, task: UserTask) -> Iterator[tuple[UserTask, Folder]]:
        ctx = self._ctx
        dead = DeadLetters(ctx, task, "list", "folders")
        try:
            with open_user_source(ctx, task) as source:
                folders = [
                    f
                    for f in source.list_folders()
                    if ctx.query.matches_mailbox(f.vname, f.separator)
                ]
                exact = ctx.query.exact_mailboxes()
                if exact is not None:
                    _check_exact(exact, folders)
        except MailstoreError as e:
            dead.add(e, location=ctx.source_location)
            dead.flush()
            return
        dead.flush()
        user_dir = ctx.path("messages", task.key)
        if not folders:
            schemas.write_text(f"{user_dir}/_SUCCESS", json.dumps({"folders": [], "failed": []}))
        for folder in folders:
            if schemas.exists(f"{user_dir}/{folder_key(folder)}.avro"):
                self._skipped.inc()
                yield task, folder  # still reported, so the user can be marked
                continue
            self._folders.inc()
            yield task, folder


def _check_exact(names: tuple[str, ...], folders: list[Folder]) -> None:
    """doveadm 2.3 opens plain ``MAILBOX`` names directly and fails when one is missing."""
    for name in names:
        if not any(f.vname == name or (f.is_inbox and name.upper() == "INBOX") for f in folders):
            raise MailstoreError(
                Kind.NOTFOUND, f"Mailbox {name}: Mailbox sync failed: Mailbox doesn't exist"
            )


class _ListMessagesFn(beam.DoFn):
    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._messages = Metrics.counter("mailbeam", "messages_listed")

    def setup(self) -> None:
        self._sources = SourceCache(self._ctx)
        # The destination's separator decides the names (doveadm's ``_`` rule); an IMAP server
        # tells it only once logged in, so each user's destination is asked.
        self._dests = DestinationCache(self._ctx)

    def teardown(self) -> None:
        self._sources.close()
        self._dests.close()

    def process(self, element: tuple[UserTask, Folder]) -> Iterator[tuple[str, tuple[str, bool]]]:
        task, folder = element
        ctx = self._ctx
        fkey = folder_key(folder)
        path = ctx.path("messages", task.key, f"{fkey}.avro")
        if not schemas.exists(path):
            dead = DeadLetters(ctx, task, "list", fkey)
            try:
                records = list(self._records(task, folder))
            except (MailstoreError, OSError) as e:
                dead.add(e, mailbox=folder.name, location=folder.handle)
                dead.flush()
                yield task.key, (fkey, False)
                return
            for record in records:
                record["mailbox_count"] = len(records)
            warnings = self._sources.get(task).folder_warnings(folder)
            warnings_path = ctx.path("messages", task.key, f"{fkey}.warnings.json")
            if warnings or schemas.exists(warnings_path):
                schemas.write_text(warnings_path, json.dumps(
                    {"mailbox": list(folder.name), "warnings": warnings}, ensure_ascii=False))
            schemas.write_records(path, "message", records)
            dead.flush()
            self._messages.inc(len(records))
        yield task.key, (fkey, True)

    def _records(self, task: UserTask, folder: Folder) -> Iterator[dict[str, Any]]:
        ctx = self._ctx
        separator = self._dests.get(task).separator
        dest = dest_mailbox_name(folder.name, ctx.parent, separator)
        for meta in self._sources.get(task).iter_messages(folder):
            yield {
                "job": ctx.job_id,
                "dest_user": task.user.name,
                "source_user": task.source_user.name,
                "source_mailbox": list(folder.name),
                "source_separator": folder.separator,
                "folder_handle": folder.handle,
                "mailbox_guid": folder.guid,
                "dest_mailbox": list(dest),
                "source_key": meta.source_key,
                "position": meta.position,
                "mailbox_count": 0,
                "uid": meta.uid,
                "recent": meta.recent,
                "flags": sorted(meta.flags),
                "keywords": list(meta.keywords),
                "received_date": meta.received_date,
                "save_date": meta.save_date,
                "size": meta.size,
                "vsize": meta.vsize,
                "guid": meta.guid,
                "handle": meta.handle,
                "save_id": save_id_for(ctx, folder.name, meta.source_key),
                "body": None,
            }


class _MarkListedFn(beam.DoFn):
    """Writes ``_SUCCESS`` for a user: the folders listed and the ones to retry."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    def process(self, element: tuple[str, Any]) -> Iterator[str]:
        user_key, items = element
        results = dict(items)
        marker = {
            "folders": sorted(k for k, ok in results.items() if ok),
            "failed": sorted(k for k, ok in results.items() if not ok),
        }
        schemas.write_text(self._ctx.path("messages", user_key, "_SUCCESS"), json.dumps(marker))
        yield user_key


class ListFolders(beam.PTransform):
    """``UserTask`` → ``(UserTask, Folder)`` for every folder the query may select."""

    def __init__(self, ctx: JobContext) -> None:
        super().__init__()
        self._ctx = ctx

    def expand(self, users: beam.PCollection) -> beam.PCollection:
        return users | "ListSourceFolders" >> beam.ParDo(_ListFoldersFn(self._ctx))


class ListMessages(beam.PTransform):
    """``(UserTask, Folder)`` → checkpoint files; returns the keys of users fully listed."""

    def __init__(self, ctx: JobContext) -> None:
        super().__init__()
        self._ctx = ctx

    def expand(self, user_to_folders: beam.PCollection) -> beam.PCollection:
        return (
            user_to_folders
            | "WriteFolderCheckpoints" >> beam.ParDo(_ListMessagesFn(self._ctx))
            | "GroupFoldersByUser" >> beam.GroupByKey()
            | "MarkUsersListed" >> beam.ParDo(_MarkListedFn(self._ctx))
        )
