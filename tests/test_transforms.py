"""TestPipeline tests of the stage transforms against a generated Maildir corpus (no Dovecot).

Every pipeline runs on ``FnApiRunner`` (the default runner would try to download Prism first),
with ``Create(..., reshuffle=False)``.  What is asserted is what a user of the job directory would
check: the elements a transform hands on, the checkpoint files it leaves, and that running it
again changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to, is_empty
from corpus import FOLDERS, make_corpus, tree_fingerprint

import schemas
from mailstore.driver import SYSTEM_FLAGS, Capability, Folder, MessageMeta, register_source
from mailstore.errors import Kind, MailstoreError
from mailstore.maildir import MaildirSource
from mailstore.search import parse_query
from mailstore.userdb import User
from pipeline.stages import not_yet_listed, run_stages
from transforms.list_messages import ListFolders, ListMessages, folder_key
from transforms.select import DEAD, FilterByQuery, ReadBodies, SelectMessages
from transforms.state import JobContext, UserTask, glob_paths
from transforms.write_mailbox import WriteToMailbox, not_yet_written

EPOCH = 1_700_000_000


# --- helpers ---------------------------------------------------------------------------------


def _pipeline() -> test_pipeline.TestPipeline:
    return test_pipeline.TestPipeline(runner="FnApiRunner")


def _options() -> PipelineOptions:
    return PipelineOptions(["--runner=FnApiRunner"])


def _ctx(tmp: Path, query: Sequence[str] = ("ALL",)) -> JobContext:
    return JobContext(
        job_id="job-test",
        job_dir=str(tmp / "job"),
        source_location=f"maildir:{tmp}/src/%u/Maildir",
        source_settings=(),
        dest_location="maildir:~/Maildir",
        parent="",
        query=parse_query(list(query)),
        epoch=EPOCH,
        subscribe=False,
    )


def _task(tmp: Path, name: str) -> UserTask:
    user = User(name, uid=None, gid=None, home=str(tmp / "home" / name))
    return UserTask(user=user, source_user=user)


def _fkey(vname: str) -> str:
    """The folder key of a corpus folder ('.'-separated UTF-8 name)."""
    return folder_key(Folder(name=tuple(vname.split(".")), separator=".", handle=""))


def _base(manifest_file: str) -> str:
    """The Maildir base name of a manifest ``file`` entry (``cur/<base>:2,FS``)."""
    return Path(manifest_file).name.split(":", 1)[0]


def _files(directory: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (inode, mtime_ns): a rewrite (temp + rename) changes the inode."""
    result = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            st = path.stat()
            result[str(path.relative_to(directory))] = (st.st_ino, st.st_mtime_ns)
    return result


def _records(path: Path | str) -> list[dict[str, Any]]:
    return list(schemas.read_records(str(path)))


def _seen(message: dict[str, Any]) -> bool:
    return "\\Seen" in message["flags"]


def _list_pipeline(
    ctx: JobContext,
    tasks: list[UserTask],
    folders: set[tuple[str, str]],
    marked: set[str],
) -> None:
    """Run ListFolders + ListMessages; assert the (user, folder vname) pairs and marked users."""
    with _pipeline() as p:
        users = p | "Users" >> beam.Create(tasks, reshuffle=False)
        user_to_folders = users | "ListFolders" >> ListFolders(ctx)
        listed_users = user_to_folders | "ListMessages" >> ListMessages(ctx)
        names = user_to_folders | "FolderNames" >> beam.MapTuple(
            lambda task, folder: (task.user.name, folder.vname)
        )
        assert_that(names, equal_to(sorted(folders)), label="AssertFolders")
        assert_that(listed_users, equal_to(sorted(marked)), label="AssertUsersMarked")


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Any]:
    return make_corpus(tmp_path / "src", ["alice", "bob"], seed=7)


# --- 1. ListFolders + ListMessages -------------------------------------------------------------


def test_list_folders_and_messages_checkpoint_the_corpus(
    tmp_path: Path, corpus: dict[str, Any]
) -> None:
    ctx = _ctx(tmp_path)
    tasks = [_task(tmp_path, "alice"), _task(tmp_path, "bob")]
    expected_folders = [(u, vname) for u in ("alice", "bob") for vname in FOLDERS]

    with _pipeline() as p:
        users = p | "Users" >> beam.Create(tasks, reshuffle=False)
        user_to_folders = users | "ListFolders" >> ListFolders(ctx)
        listed_users = user_to_folders | "ListMessages" >> ListMessages(ctx)
        names = user_to_folders | "FolderNames" >> beam.MapTuple(
            lambda task, folder: (task.user.name, folder.vname)
        )
        assert_that(names, equal_to(expected_folders), label="AssertCorpusFolders")
        assert_that(listed_users, equal_to([t.key for t in tasks]), label="AssertUsersMarked")

    for task in tasks:
        user_dir = tmp_path / "job" / "messages" / task.key
        folders = corpus[task.user.name]["folders"]
        assert (user_dir / "_SUCCESS").is_file()
        listed = json.loads((user_dir / "_SUCCESS").read_text())
        assert listed == {"folders": sorted(_fkey(v) for v in FOLDERS), "failed": []}
        assert sorted(p.name for p in user_dir.glob("*.avro")) == sorted(
            f"{_fkey(v)}.avro" for v in FOLDERS
        )
        for vname, folder in folders.items():
            records = _records(user_dir / f"{_fkey(vname)}.avro")
            messages = folder["messages"]
            assert [r["position"] for r in records] == list(range(folder["count"])), vname
            assert [r["source_key"] for r in records] == [_base(m["file"]) for m in messages]
            for r, m in zip(records, messages, strict=True):
                where = f"{task.user.name}/{vname}/{m['file']}"
                assert r["body"] is None, where
                assert r["handle"].endswith(m["file"]), where
                assert set(r["flags"]) <= set(SYSTEM_FLAGS), where
                assert sorted(r["flags"] + r["keywords"]) == list(m["flags"]), where
                assert r["size"] == m["size"], where
                assert r["received_date"] == int(m["received"].timestamp()), where
                assert r["source_mailbox"] == vname.split("."), where
                assert r["dest_mailbox"] == vname.split("."), where
                assert (r["job"], r["dest_user"], r["source_user"]) == (
                    "job-test",
                    task.user.name,
                    task.user.name,
                )
            assert len({r["save_id"] for r in records}) == len(records), vname
    assert not (tmp_path / "job" / "deadletter").exists()


def test_listing_again_rewrites_no_checkpoint_and_still_marks(
    tmp_path: Path, corpus: dict[str, Any]
) -> None:
    ctx = _ctx(tmp_path)
    tasks = [_task(tmp_path, "alice")]
    everything = {("alice", v) for v in FOLDERS}
    _list_pipeline(ctx, tasks, everything, {tasks[0].key})
    messages = tmp_path / "job" / "messages" / tasks[0].key
    before = {k: v for k, v in _files(messages).items() if k.endswith(".avro")}
    assert len(before) == len(FOLDERS)

    # Lose the user's marker, as a kill between the last checkpoint and the marker would.
    (messages / "_SUCCESS").unlink()
    _list_pipeline(ctx, tasks, everything, {tasks[0].key})

    after = {k: v for k, v in _files(messages).items() if k.endswith(".avro")}
    assert after == before
    assert (messages / "_SUCCESS").is_file()
    assert not glob_paths(f"{messages}/*.tmp-*")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (["MAILBOX", "Archive*"], {"Archive", "Archive.2024", "Archive.2024.Q1"}),
        (["MAILBOX", "Archive"], {"Archive"}),
        (["MAILBOX", "inbox", "SEEN"], {"INBOX"}),
        (
            ["NOT", "MAILBOX", "Archive*"],
            set(FOLDERS) - {"Archive", "Archive.2024", "Archive.2024.Q1"},
        ),
        (["MAILBOX", "Empty", "OR", "MAILBOX", "*Child"], {"Empty", "Lonely.Child"}),
    ],
    ids=["glob", "exact", "inbox-any-case", "not-glob", "or"],
)
def test_mailbox_terms_prune_the_listing(
    tmp_path: Path, corpus: dict[str, Any], query: list[str], expected: set[str]
) -> None:
    ctx = _ctx(tmp_path, query)
    task = _task(tmp_path, "alice")
    _list_pipeline(ctx, [task], {("alice", v) for v in expected}, {task.key})
    messages = tmp_path / "job" / "messages" / task.key
    assert sorted(p.name for p in messages.glob("*.avro")) == sorted(
        f"{_fkey(v)}.avro" for v in expected
    )
    assert json.loads((messages / "_SUCCESS").read_text()) == {
        "folders": sorted(_fkey(v) for v in expected), "failed": []}


def test_missing_exact_mailbox_is_a_dead_letter(tmp_path: Path, corpus: dict[str, Any]) -> None:
    ctx = _ctx(tmp_path, ["MAILBOX", "Nope"])
    task = _task(tmp_path, "alice")
    _list_pipeline(ctx, [task], set(), set())
    (dead,) = _records(tmp_path / "job" / "deadletter" / task.key / "list-folders.avro")
    assert dead["kind"] == Kind.NOTFOUND.value
    assert "Mailbox Nope" in dead["reason"]
    assert not (tmp_path / "job" / "messages" / task.key / "_SUCCESS").exists()


# --- 2. A missing source ----------------------------------------------------------------------


def test_missing_source_is_a_dead_letter_and_spares_other_users(
    tmp_path: Path, corpus: dict[str, Any]
) -> None:
    ctx = _ctx(tmp_path)
    alice, ghost = _task(tmp_path, "alice"), _task(tmp_path, "ghost")
    _list_pipeline(ctx, [ghost, alice], {("alice", v) for v in FOLDERS}, {alice.key})

    job = tmp_path / "job"
    (dead,) = _records(job / "deadletter" / ghost.key / "list-folders.avro")
    assert dead["kind"] == Kind.NOTFOUND.value
    assert dead["stage"] == "list"
    assert dead["dest_user"] == "ghost"
    assert str(tmp_path / "src" / "ghost" / "Maildir") in dead["reason"]
    assert not (job / "messages" / ghost.key / "_SUCCESS").exists()
    assert (job / "messages" / alice.key / "_SUCCESS").is_file()
    assert not (job / "deadletter" / alice.key).exists()

    # Once the source appears, a re-run lists the user and clears the stale failure.
    make_corpus(tmp_path / "src", ["ghost"], seed=7)
    _list_pipeline(ctx, [ghost], {("ghost", v) for v in FOLDERS}, {ghost.key})
    assert _records(job / "deadletter" / ghost.key / "list-folders.avro") == []


# --- 3. SelectMessages / FilterByQuery --------------------------------------------------------


def _listed(tmp: Path, ctx: JobContext, tasks: list[UserTask]) -> list[tuple[UserTask, str]]:
    """Run the list stage; return ``(UserTask, folder_key)`` for every corpus folder."""
    run_stages(ctx, tasks, _options(), stages=("list",))
    return [(t, _fkey(v)) for t in tasks for v in FOLDERS]


def _select(ctx: JobContext, folders: list[tuple[UserTask, str]]) -> None:
    with _pipeline() as p:
        done = (
            p
            | "Folders" >> beam.Create(folders, reshuffle=False)
            | "SelectMessages" >> SelectMessages(ctx)
        )
        assert_that(done, equal_to([(t.key, f) for t, f in folders]), label="AssertFoldersSelected")


def test_select_seen_checkpoints_only_seen_messages(tmp_path: Path, corpus: dict[str, Any]) -> None:
    ctx = _ctx(tmp_path, ["SEEN"])
    tasks = [_task(tmp_path, "alice"), _task(tmp_path, "bob")]
    _select(ctx, _listed(tmp_path, ctx, tasks))

    for task in tasks:
        selected = tmp_path / "job" / "selected" / task.key
        nothing_selected = []
        for vname, folder in corpus[task.user.name]["folders"].items():
            fkey = _fkey(vname)
            seen = [(pos, _base(m["file"])) for pos, m in enumerate(folder["messages"]) if _seen(m)]
            done = json.loads((selected / f"{fkey}.done").read_text())
            assert done["failed"] == 0
            if not seen:
                nothing_selected.append(vname)
                assert done["chunks"] == [], vname
                assert not list(selected.glob(f"{fkey}-*.avro")), vname
                continue
            (chunk,) = done["chunks"]
            assert chunk["name"].startswith(f"{fkey}-00000")
            records = _records(selected / f"{chunk['name']}.avro")
            assert [(r["position"], r["source_key"]) for r in records] == seen, vname
            assert all("\\Seen" in r["flags"] for r in records)
            assert all(r["body"] is None for r in records), "Maildir bodies are read by the sink"
            assert chunk["count"] == len(seen)
            assert chunk["bytes"] == sum(r["size"] for r in records)
        assert "Empty" in nothing_selected
    assert not (tmp_path / "job" / "deadletter").exists()


def test_select_splits_a_large_folder_into_position_chunks(tmp_path: Path) -> None:
    # 1,100 messages in INBOX, every third one unseen: chunks of selected records in order
    inbox = tmp_path / "src" / "carol" / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (inbox / sub).mkdir(parents=True)
    for n in range(1100):
        flags = "" if n % 3 == 0 else "S"
        body = f"Subject: m{n}\n\nbody {n}\n".encode()
        (inbox / "cur" / f"{1_600_000_000 + n}.M{n}P1.host,S={len(body)}:2,{flags}").write_bytes(
            body
        )
    ctx = _ctx(tmp_path, ["SEEN"])
    task = _task(tmp_path, "carol")
    run_stages(ctx, [task], _options(), stages=("list",))
    _select(ctx, [(task, _fkey("INBOX"))])

    selected = tmp_path / "job" / "selected" / task.key
    done = json.loads((selected / f"{_fkey('INBOX')}.done").read_text())
    # 733 selected records: a chunk of 500 (CHUNK_SIZE) and the rest, named by first position.
    assert [c["count"] for c in done["chunks"]] == [500, 233]
    assert all(c["name"].startswith(f"{_fkey('INBOX')}-") for c in done["chunks"])
    positions = []
    for chunk in done["chunks"]:
        records = _records(selected / f"{chunk['name']}.avro")
        assert chunk["count"] == len(records)
        chunk_positions = [r["position"] for r in records]
        assert chunk_positions == sorted(chunk_positions)
        positions += chunk_positions
    assert positions == [n for n in range(1100) if n % 3 != 0]


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        (["KEYWORD", "$Junk"], lambda m: "$Junk" in m["flags"]),
        (["UNSEEN", "NOT", "FLAGGED"], lambda m: not {"\\Seen", "\\Flagged"} & set(m["flags"])),
        (["ALL"], lambda m: True),
        (["NOT", "ALL"], lambda m: False),
    ],
    ids=["keyword", "unseen-unflagged", "all", "none"],
)
def test_filter_by_query_keeps_what_the_query_selects(
    tmp_path: Path, corpus: dict[str, Any], query: list[str], wanted: Any
) -> None:
    ctx = _ctx(tmp_path, query)
    task = _task(tmp_path, "alice")
    run_stages(_ctx(tmp_path), [task], _options(), stages=("list",))
    records = [
        (task, _fkey(vname), r)
        for vname in ("INBOX", "Archive")
        for r in _records(tmp_path / "job" / "messages" / task.key / f"{_fkey(vname)}.avro")
    ]
    expected = [
        (_fkey(vname), _base(m["file"]))
        for vname in ("INBOX", "Archive")
        for m in corpus["alice"]["folders"][vname]["messages"]
        if wanted(m)
    ]

    with _pipeline() as p:
        filtered = (
            p
            | "Records" >> beam.Create(records, reshuffle=False)
            | "FilterByQuery" >> FilterByQuery(ctx)
        )
        kept = filtered.main | "KeptKeys" >> beam.MapTuple(
            lambda _task, fkey, r: (fkey, r["source_key"])
        )
        assert_that(kept, equal_to(expected), label="AssertSelected")
        assert_that(filtered[DEAD], is_empty(), label="AssertNoFailure")


# --- 4. ReadBodies ----------------------------------------------------------------------------


class _NoFilePerMsgMaildir(MaildirSource):
    """A Maildir source that claims its bodies are not cheap to re-read (like mbox or imapc)."""

    capabilities = MaildirSource.capabilities & ~Capability.FILE_PER_MSG


@pytest.fixture
def source_without_file_per_msg() -> Iterator[None]:
    """Register the fake as the ``maildir`` source driver for one test, then restore it.

    ``parse_location`` rejects driver names outside ``DRIVERS``, so the fake cannot get a name
    of its own; ``mailstore.maildir`` registers :class:`MaildirSource`, which is put back.
    """
    register_source("maildir", _NoFilePerMsgMaildir)
    try:
        yield
    finally:
        register_source("maildir", MaildirSource)


def test_read_bodies_leaves_file_per_msg_sources_alone(
    tmp_path: Path, corpus: dict[str, Any]
) -> None:
    ctx = _ctx(tmp_path)
    task = _task(tmp_path, "alice")
    _listed(tmp_path, ctx, [task])
    records = _records(tmp_path / "job" / "messages" / task.key / f"{_fkey('INBOX')}.avro")
    with _pipeline() as p:
        read = (
            p
            | "Records" >> beam.Create([(task, "f", r) for r in records], reshuffle=False)
            | "ReadBodies" >> ReadBodies(ctx)
        )
        bodies = read.main | "Bodies" >> beam.MapTuple(lambda _t, _f, r: r["body"])
        assert_that(bodies, equal_to([None] * len(records)), label="AssertNoBodyRead")
        assert_that(read[DEAD], is_empty(), label="AssertNoFailure")


def test_read_bodies_checkpoints_exact_bytes_and_dead_letters_unreadable_files(
    tmp_path: Path, corpus: dict[str, Any], source_without_file_per_msg: None
) -> None:
    ctx = _ctx(tmp_path)
    task = _task(tmp_path, "alice")
    folders = _listed(tmp_path, ctx, [task])
    inbox = corpus["alice"]["folders"]["INBOX"]
    gone = inbox["messages"][3]
    (corpus["alice"]["maildir"] / gone["file"]).unlink()
    _select(ctx, folders)

    job = tmp_path / "job"
    selected = job / "selected" / task.key
    for vname, folder in corpus["alice"]["folders"].items():
        fkey = _fkey(vname)
        done = json.loads((selected / f"{fkey}.done").read_text())
        records = [r for c in done["chunks"] for r in _records(selected / f"{c['name']}.avro")]
        expected = [m for m in folder["messages"] if m is not gone]
        assert [r["source_key"] for r in records] == [_base(m["file"]) for m in expected]
        for r, m in zip(records, expected, strict=True):
            assert hashlib.sha256(r["body"]).hexdigest() == m["sha256"], m["file"]
            assert len(r["body"]) == m["size"]
        assert done["failed"] == (1 if vname == "INBOX" else 0)

    (dead,) = _records(job / "deadletter" / task.key / f"select-{_fkey('INBOX')}.avro")
    assert dead["kind"] == Kind.NOTFOUND.value
    assert dead["stage"] == "select"
    assert dead["source_key"] == _base(gone["file"])
    assert dead["source_mailbox"] == ["INBOX"]
    assert gone["file"] in dead["location"]
    assert _base(gone["file"]) in dead["reason"]
    assert sorted(p.name for p in (job / "deadletter" / task.key).iterdir()) == [
        f"select-{_fkey('INBOX')}.avro"
    ]


def test_fake_driver_fixture_restores_the_maildir_source(tmp_path: Path) -> None:
    # Runs after the test above in file order: the real driver is back.
    from mailstore.driver import open_source
    from mailstore.location import parse_location

    source = open_source(parse_location(f"maildir:{tmp_path}"), User("x"))
    assert type(source) is MaildirSource
    assert source.capabilities & Capability.FILE_PER_MSG


# --- 5. WriteToMailbox ------------------------------------------------------------------------


def _chunks(ctx: JobContext, task: UserTask) -> list[tuple[UserTask, str]]:
    result = []
    for path in glob_paths(ctx.path("selected", task.key, "*.done")):
        result += [(task, c["name"]) for c in json.loads(schemas.read_text(path))["chunks"]]
    return result


def _write(ctx: JobContext, chunks: list[tuple[UserTask, str]], marked: list[str]) -> Any:
    with _pipeline() as p:
        users = (
            p
            | "Chunks" >> beam.Create(chunks, reshuffle=False)
            | "WriteToMailbox" >> WriteToMailbox(ctx)
        )
        assert_that(users, equal_to(marked), label="AssertUsersWritten")
    return p.result


def _counter(result: Any, name: str) -> int:
    query = result.metrics().query(MetricsFilter().with_namespace("mailbeam").with_name(name))
    return sum(c.committed for c in query["counters"])


def _ledger(job: Path, task: UserTask) -> list[dict[str, Any]]:
    return [r for p in sorted((job / "ledger" / task.key).glob("*.avro")) for r in _records(p)]


def _dest_messages(home: Path, folder_dir: str) -> list[Path]:
    mailbox = home / "Maildir" / folder_dir
    return sorted(p for sub in ("cur", "new") for p in (mailbox / sub).glob("*"))


def test_write_to_mailbox_lands_every_selected_message_once(
    tmp_path: Path, corpus: dict[str, Any]
) -> None:
    ctx = _ctx(tmp_path, ["SEEN"])
    tasks = [_task(tmp_path, "alice"), _task(tmp_path, "bob")]
    run_stages(ctx, tasks, _options(), stages=("list", "select"))
    job = tmp_path / "job"
    chunks = [c for t in tasks for c in _chunks(ctx, t)]

    result = _write(ctx, chunks, [t.key for t in tasks])

    total = 0
    for task in tasks:
        home = tmp_path / "home" / task.user.name
        selected_ids = set()
        for vname, folder in corpus[task.user.name]["folders"].items():
            seen = [m for m in folder["messages"] if _seen(m)]
            files = _dest_messages(home, folder["dir"])
            assert len(files) == len(seen), vname
            assert sorted(hashlib.sha256(f.read_bytes()).hexdigest() for f in files) == sorted(
                m["sha256_lf"] for m in seen
            ), vname
            done = json.loads((job / "selected" / task.key / f"{_fkey(vname)}.done").read_text())
            for c in done["chunks"]:
                selected_ids |= {
                    r["save_id"]
                    for r in _records(job / "selected" / task.key / f"{c['name']}.avro")
                }
            total += len(seen)
        ledger = _ledger(job, task)
        assert {r["save_id"] for r in ledger} == selected_ids
        assert len(ledger) == len(selected_ids), "one ledger entry per message"
        assert {r["status"] for r in ledger} == {"written"}
        assert all((home / "Maildir").rglob(r["dest_name"]) for r in ledger[:3])
        assert (job / "written" / f"{task.key}._SUCCESS").is_file()
    assert _counter(result, "messages_written") == total
    assert not (job / "deadletter").exists()

    homes = tree_fingerprint(tmp_path / "home")
    ledgers = _files(job / "ledger")

    # Again, as is: the user is complete and skipped.
    result = _write(ctx, chunks, [])
    assert _counter(result, "users_already_written") > 0
    assert tree_fingerprint(tmp_path / "home") == homes
    assert _files(job / "ledger") == ledgers

    # Without the completion markers: the ledger says everything is there.
    for task in tasks:
        (job / "written" / f"{task.key}._SUCCESS").unlink()
    result = _write(ctx, chunks, [t.key for t in tasks])
    assert _counter(result, "messages_in_ledger") == total
    assert _counter(result, "messages_written") == 0
    assert tree_fingerprint(tmp_path / "home") == homes
    assert _files(job / "ledger") == ledgers

    # Without markers and ledger: the deterministic names make every save an "existed".
    for task in tasks:
        (job / "written" / f"{task.key}._SUCCESS").unlink()
        for path in (job / "ledger" / task.key).glob("*.avro"):
            path.unlink()
    result = _write(ctx, chunks, [t.key for t in tasks])
    assert _counter(result, "messages_written") == 0
    assert _counter(result, "messages_already_present") == total
    assert tree_fingerprint(tmp_path / "home") == homes
    for task in tasks:
        ledger = _ledger(job, task)
        assert {r["status"] for r in ledger} == {"existed"}
        assert len(ledger) == sum(
            1 for f in corpus[task.user.name]["folders"].values() for m in f["messages"] if _seen(m)
        )
        assert (job / "written" / f"{task.key}._SUCCESS").is_file()


def test_write_stage_run_twice_through_run_stages_writes_nothing_new(
    tmp_path: Path, corpus: dict[str, Any]
) -> None:
    ctx = _ctx(tmp_path, ["NOT", "MAILBOX", "Archive*"])
    tasks = [_task(tmp_path, "bob")]
    run_stages(ctx, tasks, _options())
    home = tmp_path / "home" / "bob"
    folders = corpus["bob"]["folders"]
    for vname in set(FOLDERS) - {"Archive", "Archive.2024", "Archive.2024.Q1", "Empty"}:
        assert len(_dest_messages(home, folders[vname]["dir"])) == folders[vname]["count"]
    assert not (home / "Maildir" / ".Archive").exists()
    before = tree_fingerprint(tmp_path / "home")
    job_before = _files(tmp_path / "job")

    run_stages(ctx, tasks, _options())
    assert tree_fingerprint(tmp_path / "home") == before
    job_after = _files(tmp_path / "job")
    checkpoints = [k for k in job_before if not k.endswith("_SUCCESS")]
    assert {k: job_after[k] for k in checkpoints} == {k: job_before[k] for k in checkpoints}


def test_user_with_nothing_selected_is_marked_written(
    tmp_path: Path, corpus: dict[str, Any]
) -> None:
    ctx = _ctx(tmp_path, ["MAILBOX", "Empty"])
    task = _task(tmp_path, "alice")
    run_stages(ctx, [task], _options())
    assert (tmp_path / "job" / "selected" / task.key / f"{_fkey('Empty')}.done").is_file()
    assert (tmp_path / "job" / "written" / f"{task.key}._SUCCESS").is_file()
    assert not (Path(task.user.home or "") / "Maildir").exists(), "doveadm opens no destination"


# --- 6. Skip predicates -----------------------------------------------------------------------


def test_skip_predicates_drop_completed_users(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    done, todo = _task(tmp_path, "done"), _task(tmp_path, "todo")
    schemas.write_text(ctx.path("messages", done.key, "_SUCCESS"),
                       json.dumps({"folders": [], "failed": []}))
    schemas.write_text(ctx.path("written", f"{done.key}._SUCCESS"), "")
    chunks = [(done, "c1"), (done, "c2"), (todo, "c1")]

    with _pipeline() as p:
        users = p | "Users" >> beam.Create([done, todo], reshuffle=False)
        to_list = users | "SkipUsersListed" >> beam.Filter(not_yet_listed(ctx))
        to_write = (
            p
            | "Chunks" >> beam.Create(chunks, reshuffle=False)
            | "SkipUsersWritten" >> beam.Filter(not_yet_written(ctx))
        )
        assert_that(
            to_list | "ListNames" >> beam.Map(lambda t: t.user.name),
            equal_to(["todo"]),
            label="AssertListSkipsDone",
        )
        assert_that(
            to_write | "WriteNames" >> beam.MapTuple(lambda t, c: (t.user.name, c)),
            equal_to([("todo", "c1")]),
            label="AssertWriteSkipsDone",
        )
    assert _counter(p.result, "users_already_written") > 0


def test_list_stage_skips_a_listed_user(tmp_path: Path, corpus: dict[str, Any]) -> None:
    ctx = _ctx(tmp_path)
    task = _task(tmp_path, "alice")
    run_stages(ctx, [task], _options(), stages=("list",))
    messages = tmp_path / "job" / "messages" / task.key
    before = _files(messages)
    run_stages(ctx, [task], _options(), stages=("list",))
    assert _files(messages) == before, "a listed user is not listed again, not even its marker"


# --- 7. A failed folder does not stop its user, and a re-run retries it ------------------------


class _BrokenArchiveMaildir(MaildirSource):
    """Fails to list ``Archive`` while a ``BROKEN`` file sits next to the user's Maildir."""

    def iter_messages(self, folder: Folder) -> Iterator[MessageMeta]:
        broken = Path(self.location.path).parent / "BROKEN"
        if folder.name == ("Archive",) and broken.exists():
            raise MailstoreError(Kind.TEMP, f"cannot list {folder.handle}: I/O error")
        yield from super().iter_messages(folder)


def test_failed_folder_spares_its_user_and_is_retried(
    tmp_path: Path, corpus: dict[str, Any]
) -> None:
    ctx = _ctx(tmp_path)
    task = _task(tmp_path, "alice")
    broken = corpus["alice"]["maildir"].parent / "BROKEN"
    broken.write_text("")
    register_source("maildir", _BrokenArchiveMaildir)
    try:
        run_stages(ctx, [task], _options())
        home = Path(task.user.home or "")
        total = sum(f["count"] for f in corpus["alice"]["folders"].values())
        archive = corpus["alice"]["folders"]["Archive"]["count"]
        assert len(list(home.rglob("*.mailbeam,*"))) == total - archive
        assert not (tmp_path / "job" / "written" / f"{task.key}._SUCCESS").exists()
        dead_path = tmp_path / "job" / "deadletter" / task.key / f"list-{_fkey('Archive')}.avro"
        dead = _records(dead_path)
        assert [d["kind"] for d in dead] == ["temp"]

        broken.unlink()
        run_stages(ctx, [task], _options())
        assert len(list(home.rglob("*.mailbeam,*"))) == total
        assert (tmp_path / "job" / "written" / f"{task.key}._SUCCESS").is_file()
        assert _records(
            tmp_path / "job" / "deadletter" / task.key / f"list-{_fkey('Archive')}.avro") == []
    finally:
        register_source("maildir", MaildirSource)
