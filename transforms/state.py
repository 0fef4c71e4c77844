"""What every stage shares: the job context, a user's task, and where checkpoints live.

State directory of one job (``<state-dir>/<job-id>/``)::

    job.json                                  the job spec (no secrets), epoch, users
    messages/<user>/_FOLDERS.json             folder keys the listing found
    messages/<user>/<folder>.avro             mailbeam.v1.Message records, no body
    messages/<user>/<folder>.warnings.json    what the source could not recover (reported)
    messages/<user>/_SUCCESS                  listing done: {"folders": [...], "failed": [...]}
    selected/<user>/<folder>-<n>.avro         selected records, chunk n (body when needed)
    selected/<user>/<folder>.done             {"chunks": [{name, count, bytes}], "failed": n}
    intents/<user>/<chunk>-<first>.json       save_ids of a batch being saved (non-idempotent sinks)
    ledger/<user>/<chunk>-<k>.avro            mailbeam.v1.LedgerEntry, one file per durable batch
    deadletter/<user>/<stage>-<part>.avro     mailbeam.v1.DeadLetter, rewritten per attempt
    written/<user>._SUCCESS                   every chunk of this user written (and subscribed)
    report.json, manifest.parquet

``<user>`` and ``<folder>`` are filesystem-safe keys (:func:`safe_key`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apache_beam.io.filesystems import FileSystems

import schemas
from mailstore.userdb import User

if TYPE_CHECKING:
    from mailstore.search import Query

__all__ = ["JobContext", "UserTask", "glob_paths", "now_ms", "safe_key", "user_dir"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def safe_key(text: str) -> str:
    """A filesystem-safe, collision-free key for a user or folder name."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    readable = _UNSAFE.sub("_", text)[:40].lstrip(".") or "_"
    return f"{readable}-{digest}"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class JobContext:
    """Everything a stage's DoFns need about the job; picklable, no secrets inside."""

    job_id: str
    job_dir: str
    source_location: str
    source_settings: tuple[str, ...]
    dest_location: str
    parent: str
    query: Query
    epoch: int
    subscribe: bool
    #: Destination options as KEY=VALUE (master_user, password_file, insecure, ca_file); the
    #: password itself is never here: it is read from its file or the environment by the worker.
    dest_settings: tuple[str, ...] = ()

    def path(self, *parts: str) -> str:
        return FileSystems.join(self.job_dir, *parts)


@dataclass(frozen=True)
class UserTask:
    """One destination user of the job and the user whose source is read for it."""

    user: User
    source_user: User

    @property
    def key(self) -> str:
        return safe_key(self.user.name)


def user_dir(ctx: JobContext, area: str, task: UserTask) -> str:
    return ctx.path(area, task.key)


def glob_paths(pattern: str) -> list[str]:
    """Paths matching a FileSystems glob (empty when nothing matches)."""
    result: list[Any] = FileSystems.match([pattern])[0].metadata_list
    return sorted(m.path for m in result)


def read_json(path: str) -> Any:
    """A JSON marker's content, or None when it does not exist."""
    if not schemas.exists(path):
        return None
    return json.loads(schemas.read_text(path))


def listing_marker(ctx: JobContext, user_key: str) -> dict[str, list[str]] | None:
    """``{"folders": [listed folder keys], "failed": [folder keys to retry]}`` or None."""
    marker: dict[str, list[str]] | None = read_json(ctx.path("messages", user_key, "_SUCCESS"))
    return marker


def selection_marker(ctx: JobContext, user_key: str, fkey: str) -> dict[str, Any] | None:
    """``{"chunks": [{"name", "count", "bytes"}], "failed": n}`` or None."""
    marker: dict[str, Any] | None = read_json(ctx.path("selected", user_key, f"{fkey}.done"))
    return marker
