"""Pushdown: mailbox terms prune the listing; metadata terms are decided without opening a
body; a query that needs bodies opens each candidate once, and the sink does not open it again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from corpus import make_corpus

from mailstore.driver import Folder, MessageMeta, register_source
from mailstore.maildir import MaildirSource
from mailstore.search import parse_query
from mailstore.userdb import User
from pipeline.stages import run_stages
from transforms.state import JobContext, UserTask


class _CountingMaildir(MaildirSource):
    """Counts which mailboxes are listed and which message files are opened."""

    listed: ClassVar[list[str]] = []
    opened: ClassVar[list[str]] = []

    def iter_messages(self, folder: Folder) -> Iterator[MessageMeta]:
        _CountingMaildir.listed.append(folder.vname)
        yield from super().iter_messages(folder)

    def read_message(self, folder: Folder, meta: MessageMeta) -> bytes:
        _CountingMaildir.opened.append(meta.handle)
        return super().read_message(folder, meta)


@pytest.fixture
def counting() -> Iterator[type[_CountingMaildir]]:
    _CountingMaildir.listed.clear()
    _CountingMaildir.opened.clear()
    register_source("maildir", _CountingMaildir)
    try:
        yield _CountingMaildir
    finally:
        register_source("maildir", MaildirSource)


def _run(tmp: Path, words: list[str], stages: tuple[str, ...]) -> tuple[JobContext, UserTask]:
    ctx = JobContext(
        job_id="pushdown", job_dir=str(tmp / "job"),
        source_location=f"maildir:{tmp}/src/%u/Maildir", source_settings=(),
        dest_location="maildir:~/Maildir", parent="", query=parse_query(words),
        epoch=1_700_000_000, subscribe=False,
    )
    task = UserTask(User("alice", home=str(tmp / "home")), User("alice", home=str(tmp / "home")))
    run_stages(ctx, [task], PipelineOptions(["--runner=FnApiRunner"]), stages=stages)
    return ctx, task


def _recent_inbox(tmp: Path) -> dict[str, Any]:
    corpus = make_corpus(tmp / "src", ["alice"], seed=21, messages_per_folder=12)
    inbox = corpus["alice"]["folders"]["INBOX"]
    # Half of INBOX arrived within the last 30 days (mtime = received date).
    for i, message in enumerate(inbox["messages"]):
        if i % 2 == 0:
            path = corpus["alice"]["maildir"] / message["file"]
            now = int(time.time()) - 86400 * (i + 1)
            os.utime(path, (now, now))
    return corpus


def test_metadata_query_opens_no_body_and_lists_only_its_mailbox(
    tmp_path: Path, counting: type[_CountingMaildir]
) -> None:
    _recent_inbox(tmp_path)
    _run(tmp_path, ["mailbox", "INBOX", "SEEN", "SINCE", "30d"], ("list", "select"))
    assert counting.listed == ["INBOX"], "mailbox terms must prune the listing"
    assert counting.opened == [], "flag and date terms are decided from metadata"


def test_body_query_opens_each_candidate_once_across_all_stages(
    tmp_path: Path, counting: type[_CountingMaildir]
) -> None:
    corpus = _recent_inbox(tmp_path)
    _run(tmp_path, ["mailbox", "INBOX", "SEEN", "BODY", "KÖLN"], ("list", "select", "write"))
    inbox = corpus["alice"]["folders"]["INBOX"]
    seen = [m for m in inbox["messages"] if "\\Seen" in m["flags"]]
    assert seen and len(seen) < len(inbox["messages"])
    # Unseen messages are ruled out before their body is read; each seen one is read once,
    # by the filter, and written from the selection checkpoint without a second read.
    assert sorted(counting.opened) == sorted(
        str(corpus["alice"]["maildir"] / m["file"]) for m in seen)
    maildir = corpus["alice"]["maildir"]
    matching = [m for m in seen if "köln" in (maildir / m["file"]).read_text().lower()]
    assert 0 < len(matching) < len(seen)
    written = list((tmp_path / "home" / "Maildir").rglob("*.mailbeam,*"))
    assert len(written) == len(matching)
