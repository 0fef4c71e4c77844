"""A source that renumbers a mailbox after it was listed (IMAP UIDVALIDITY changed) has that
mailbox listed again on the next run, with a warning in the report, instead of failing every
resume on the same stale keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from corpus import make_corpus

from mailstore.driver import Capability, Folder, MessageMeta, register_source
from mailstore.errors import Kind
from mailstore.imap.client import ImapError
from mailstore.maildir import MaildirSource
from mailstore.search import parse_query
from mailstore.userdb import User
from pipeline.report import build_report
from pipeline.stages import run_stages
from transforms.state import JobContext, UserTask


class _RenumberedArchive(MaildirSource):
    """Reads bodies in the selection stage (like imapc) and, while ``RENUMBERED`` exists next to
    the Maildir, reports that ``Archive`` changed its UIDVALIDITY since the listing."""

    capabilities = MaildirSource.capabilities & ~Capability.FILE_PER_MSG

    def read_message(self, folder: Folder, meta: MessageMeta) -> bytes:
        if folder.name == ("Archive",) and (Path(self.location.path).parent / "RENUMBERED").exists():
            raise ImapError(Kind.TEMP, "mailbox Archive: UIDVALIDITY changed (1 -> 2)",
                            code="UIDVALIDITY")
        return super().read_message(folder, meta)


@pytest.fixture
def renumbering() -> Iterator[None]:
    register_source("maildir", _RenumberedArchive)
    try:
        yield
    finally:
        register_source("maildir", MaildirSource)


def test_renumbered_mailbox_is_listed_again(tmp_path: Path, renumbering: None) -> None:
    corpus = make_corpus(tmp_path / "src", ["alice"], seed=8)
    total = sum(f["count"] for f in corpus["alice"]["folders"].values())
    flag = corpus["alice"]["maildir"].parent / "RENUMBERED"
    flag.write_text("")
    ctx = JobContext(
        job_id="relist", job_dir=str(tmp_path / "job"),
        source_location=f"maildir:{tmp_path}/src/%u/Maildir", source_settings=(),
        dest_location="maildir:~/Maildir", parent="", query=parse_query(["ALL"]),
        epoch=1_700_000_000, subscribe=False,
    )
    user = User("alice", home=str(tmp_path / "home"))
    task = UserTask(user, user)
    options = PipelineOptions(["--runner=FnApiRunner"])

    run_stages(ctx, [task], options)
    archive = corpus["alice"]["folders"]["Archive"]["count"]
    stored = list((tmp_path / "home" / "Maildir").rglob("*.mailbeam,*"))
    assert len(stored) == total - archive, "the other mailboxes go on"
    report, _ = build_report(ctx, [task])
    (warning,) = report["users"][0]["warnings"]
    assert warning["mailbox"] == ["Archive"] and "listed again" in warning["warnings"][0]
    assert not report["users"][0]["complete"]
    marker = json.loads((tmp_path / "job" / "messages" / task.key / "_SUCCESS").read_text())
    assert len(marker["failed"]) == 1

    flag.unlink()
    run_stages(ctx, [task], options)
    stored = list((tmp_path / "home" / "Maildir").rglob("*.mailbeam,*"))
    assert len(stored) == total
    report, _ = build_report(ctx, [task])
    assert report["users"][0]["complete"] and report["exit_code"] == 0
