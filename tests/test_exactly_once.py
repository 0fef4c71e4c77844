"""Exactly once with a destination whose saves are not idempotent (like IMAP APPEND).

A fake destination, subclassing the Maildir one, forgets its deterministic names (so saving a
save_id twice would store it twice, as APPEND does) and answers :meth:`present` by looking.
A crash between the save and the ledger must not duplicate on resume: the intent recorded
before the save makes the resumed run ask the destination first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from corpus import make_corpus

from mailstore.driver import SaveRequest, SaveResult, register_destination
from mailstore.maildir import MaildirDestination
from mailstore.search import parse_query
from mailstore.userdb import User
from pipeline.stages import run_stages
from transforms.state import JobContext, UserTask


class _PowerLoss(RuntimeError):
    """Stands for the process dying between the save and the ledger append."""


class _Appending(MaildirDestination):
    """Saves like APPEND: a new file each time, whatever the save_id."""

    idempotent = False
    crash_after: ClassVar[int | None] = None  # crash (after saving) in this batch number
    batches: ClassVar[int] = 0

    def save_batch(self, name: tuple[str, ...], requests: list[SaveRequest]) -> list[SaveResult]:
        fresh = [SaveRequest(f"{r.save_id}x{os.urandom(3).hex()}", r.ordinal, r.body, r.flags,
                             r.keywords, r.received_date) for r in requests]
        results = super().save_batch(name, fresh)
        _Appending.batches += 1
        if _Appending.batches == _Appending.crash_after:
            raise _PowerLoss("power loss after the save, before the ledger")
        return [SaveResult(r.save_id, res.status, res.dest_name)
                for r, res in zip(requests, results, strict=True)]

    def present(self, name: tuple[str, ...], requests: list[SaveRequest]) -> set[str]:
        mailbox = self.layout.mailbox_dir(name)
        stored = [f for sub in ("cur", "new") for f in os.listdir(os.path.join(mailbox, sub))]
        return {r.save_id for r in requests if any(f"P{r.save_id}x" in f for f in stored)}


@pytest.fixture
def appending() -> Iterator[None]:
    _Appending.batches = 0
    register_destination("maildir", _Appending)
    try:
        yield
    finally:
        register_destination("maildir", MaildirDestination)


def test_crash_between_save_and_ledger_does_not_duplicate(tmp_path: Path, appending: None) -> None:
    corpus = make_corpus(tmp_path / "src", ["alice"], seed=6, messages_per_folder=300)
    total = sum(f["count"] for f in corpus["alice"]["folders"].values())
    ctx = JobContext(
        job_id="once", job_dir=str(tmp_path / "job"),
        source_location=f"maildir:{tmp_path}/src/%u/Maildir", source_settings=(),
        dest_location="maildir:~/Maildir", parent="", query=parse_query(["ALL"]),
        epoch=1_700_000_000, subscribe=False,
    )
    user = User("alice", home=str(tmp_path / "home"))
    task = UserTask(user, user)
    options = PipelineOptions(["--runner=FnApiRunner"])
    _Appending.crash_after = 3
    with pytest.raises(Exception, match="power loss"):
        run_stages(ctx, [task], options)
    intents = list((tmp_path / "job" / "intents").rglob("*.json"))
    assert len(intents) == 1, "the interrupted batch left its intent"

    _Appending.crash_after = None
    run_stages(ctx, [task], options)
    stored = list((tmp_path / "home" / "Maildir").rglob("*.mailbeam,*"))
    assert len(stored) == total, "nothing lost, nothing twice"
    assert not list((tmp_path / "job" / "intents").rglob("*.json"))
    assert (tmp_path / "job" / "written" / f"{task.key}._SUCCESS").exists()
