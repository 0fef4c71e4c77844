"""Dead-letter records: what could not be listed, read or written, with the reason.

Each partition of a stage owns one dead-letter file with a deterministic name
(``deadletter/<user>/<stage>-<part>.avro``), rewritten on every attempt: the
directory always describes the latest attempt of each partition, so a re-run
that succeeds leaves no stale failure behind (an empty file replaces it).
"""

from __future__ import annotations

from typing import Any

import schemas
from mailstore.errors import Kind, MailstoreError
from transforms.state import JobContext, UserTask, now_ms

__all__ = ["DeadLetters", "error_kind"]


def error_kind(exc: BaseException) -> str:
    """The mailstore kind of an exception (OS errors mapped like Dovecot does)."""
    if isinstance(exc, MailstoreError):
        return exc.kind.value
    if isinstance(exc, PermissionError):
        return Kind.PERM.value
    if isinstance(exc, FileNotFoundError):
        return Kind.NOTFOUND.value
    if isinstance(exc, OSError):
        return Kind.TEMP.value
    return Kind.INVALIDDATA.value


class DeadLetters:
    """Collects one partition's dead letters and writes them as one file."""

    def __init__(self, ctx: JobContext, task: UserTask, stage: str, part: str) -> None:
        self._ctx = ctx
        self._task = task
        self._path = ctx.path("deadletter", task.key, f"{stage}-{part}.avro")
        self._stage = stage
        self.records: list[dict[str, Any]] = []

    def add(
        self,
        exc: BaseException,
        *,
        mailbox: tuple[str, ...] | list[str] = (),
        source_key: str = "",
        save_id: str = "",
        location: str = "",
    ) -> None:
        self.records.append(
            {
                "job": self._ctx.job_id,
                "dest_user": self._task.user.name,
                "stage": self._stage,
                "source_mailbox": list(mailbox),
                "source_key": source_key,
                "save_id": save_id,
                "location": location,
                "kind": error_kind(exc),
                "reason": str(exc) or type(exc).__name__,
                "failed_at": now_ms(),
            }
        )

    def flush(self) -> None:
        """Write the partition's file; an empty one clears failures of earlier attempts."""
        if self.records or schemas.exists(self._path):
            schemas.write_records(self._path, "deadletter", self.records)
