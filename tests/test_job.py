"""The job spec: user selection, job identity (what makes a re-run a resume), status."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from mailstore.errors import Kind, MailstoreError
from pipeline.cli import run
from pipeline.job import ImportArgs, job_id_for, prepare_job, resolve_users


@pytest.fixture
def userdb(tmp_path: Path) -> str:
    lines = [f"{name}::1000:1000::{tmp_path / 'home' / name}::" for name in
             ("alice", "alfred", "bob", "carol@example.org")]
    path = tmp_path / "users"
    path.write_text("\n".join(lines) + "\n")
    return f"passwd-file:{path}"


def _args(userdb: str, **kw: object) -> ImportArgs:
    base = ImportArgs(source="maildir:/snap/%u", parent="", query=("ALL",), userdb=userdb)
    return replace(base, **kw)  # type: ignore[arg-type]


USER_SELECTIONS = [
    ({"user": "bob"}, ["bob"]),
    ({"user": "al*"}, ["alice", "alfred"]),
    ({"user": "al?ce"}, ["alice"]),
    ({"user": "*@example.org"}, ["carol@example.org"]),
    ({"all_users": True}, ["alice", "alfred", "bob", "carol@example.org"]),
]


@pytest.mark.parametrize(("selection", "names"), USER_SELECTIONS)
def test_user_selection(userdb: str, selection: dict[str, object], names: list[str]) -> None:
    assert [u.name for u in resolve_users(_args(userdb, **selection))] == names


def test_user_file_in_file_order(userdb: str, tmp_path: Path) -> None:
    listing = tmp_path / "list"
    listing.write_text("bob\n\nalice\n")
    assert [u.name for u in resolve_users(_args(userdb, user_file=str(listing)))] == [
        "bob", "alice"]


@pytest.mark.parametrize(("selection", "kind"), [
    ({"user": "nobody-here"}, Kind.NOUSER),
    ({"user": "zz*"}, Kind.NOUSER),
    ({}, Kind.PARAMS),
    ({"user": "bob", "all_users": True}, Kind.PARAMS),
])
def test_user_selection_errors(userdb: str, selection: dict[str, object], kind: Kind) -> None:
    with pytest.raises(MailstoreError) as e:
        resolve_users(_args(userdb, **selection))
    assert e.value.kind == kind


def test_masks_need_a_userdb() -> None:
    with pytest.raises(MailstoreError, match="--userdb"):
        resolve_users(_args(None, user="a*"))  # type: ignore[arg-type]


def test_job_identity(userdb: str) -> None:
    base = _args(userdb, user="bob")
    same = job_id_for(base, "ALL")
    # How a job runs does not change what it is: a re-run with another runner resumes it.
    for how in ({"runner": "portable"}, {"progress": "none"}, {"report": "/tmp/r.json"},
                {"state_dir": "/elsewhere"}, {"settings": ("imapc_password=x",)}):
        assert job_id_for(replace(base, **how), "ALL") == same, how  # type: ignore[arg-type]
    for what in ({"parent": "P"}, {"source": "maildir:/other"}, {"subscribe": True},
                 {"user": "alice"}, {"dest": "maildir:~/Mail"}, {"settings": ("a=b",)}):
        assert job_id_for(replace(base, **what), "ALL") != same, what  # type: ignore[arg-type]
    assert job_id_for(base, "SEEN") != same


def test_resume_keeps_the_epoch_and_hides_secrets(userdb: str, tmp_path: Path) -> None:
    args = _args(userdb, user="bob", state_dir=str(tmp_path / "state"), query=("SINCE", "30d"),
                 settings=("imapc_password=hunter2",))
    first = prepare_job(args)
    second = prepare_job(args)
    assert not first.resumed and second.resumed
    assert first.ctx.epoch == second.ctx.epoch
    assert first.ctx.query == second.ctx.query
    document = (Path(first.ctx.job_dir) / "job.json").read_text()
    assert "hunter2" not in document and "imapc_password=<hidden>" in document


def test_status_of_a_job(userdb: str, tmp_path: Path) -> None:
    job = prepare_job(_args(userdb, user="bob", state_dir=str(tmp_path / "state")))
    out = io.StringIO()
    assert run(["status", job.ctx.job_dir], out=out, err=io.StringIO()) == 0
    status = json.loads(out.getvalue())
    assert status["job"] == job.ctx.job_id
    assert status["users"] == 1 and status["users_complete"] == 0 and not status["complete"]
    err = io.StringIO()
    assert run(["status", str(tmp_path / "nothing")], out=io.StringIO(), err=err) == 68
    assert "no mailbeam job" in err.getvalue()
