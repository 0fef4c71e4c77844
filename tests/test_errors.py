"""Errors a user can act on: one clear line naming what and where, doveadm's exit code,
and nothing half-written that a re-run cannot finish."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import make_corpus
from mailbeam_cli import MAILBEAM

from pipeline.cli import run


@pytest.fixture
def userdb(tmp_path: Path) -> Path:
    home = tmp_path / "home" / "alice"
    home.mkdir(parents=True)
    path = tmp_path / "users"
    path.write_text(f"alice::{os.getuid()}:{os.getgid()}::{home}::\n")
    return path


def _run(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    code = run(list(args), out=io.StringIO(), err=err)
    return code, err.getvalue()


BAD_INVOCATIONS = [
    # (arguments after the userdb/state options, exit code, text the message must contain)
    (["-u", "nosuch", "maildir:/tmp", "", "ALL"], 67, "user 'nosuch' not found"),
    (["-u", "alice", "maildir", "", "ALL"], 64, "mail_driver:mail_path"),
    (["-u", "alice", "maildir:/x:LAYOUT=weird", "", "ALL"], 64, "weird"),
    (["-u", "alice", "nosuchdriver:/x", "", "ALL"], 64, "nosuchdriver"),
    (["-u", "alice", "maildir:/x", "", "SEEN", "OR"], 64, "OR"),
    (["-u", "alice", "maildir:/x", "", "FOO"], 64, "FOO"),
    (["-u", "alice", "maildir:/x", "", "SEEN", "OR", "FLAGGED", "DRAFT"], 64, "parenthesis"),
    (["-u", "alice", "maildir:/x", ""], 64, "missing search query"),
    (["-u", "alice", "maildir:/x", "", "SINCE"], 64, "missing value for SINCE"),
    (["-u", "alice", "maildir:/x", "", "since", "2024-1-01"], 64, "invalid date '2024-1-01'"),
    (["-u", "alice", "maildir:/x", "", "larger", "10x"], 64, "invalid size '10x'"),
    (["-u", "alice", "maildir:/x", "", "modseq", "5"], 64, "'MODSEQ' is not supported"),
    (["-u", "alice", "maildir:/x", "", "(", "seen"], 64, "missing ')'"),
    (["-u", "alice", "maildir:/x", "", "seen", ")"], 64, "unexpected ')'"),
    (["-u", "alice", "maildir:/x", "", "uid", "$"], 64, "SEARCHRES"),
    (["-u", "alice", "maildir:/x", "", "header", "x"], 64, "missing value for HEADER"),
    (["-u", "alice", "maildir:/x", "", "1:x"], 64, "invalid message sequence set"),
    (["-u", "alice", "maildir:/x", "", "OR", "seen", "flagged"], 64, "parenthesis"),
    (["-A", "-u", "alice", "maildir:/x", "", "ALL"], 64, "not allowed with"),
    (["maildir:/x", "", "ALL"], 64, "-u USER, -A or -F"),
    (["-u", "alice", "--dest", "mbox:~/mail", "maildir:/x", "", "ALL"], 64, "mbox"),
    (["-u", "alice", "--dedupe", "bogus", "maildir:/x", "", "ALL"], 64, "bogus"),
]


@pytest.mark.parametrize(("args", "code", "text"), BAD_INVOCATIONS)
def test_invalid_invocations_fail_before_any_work(
    tmp_path: Path, userdb: Path, args: list[str], code: int, text: str
) -> None:
    state = tmp_path / "state"
    got, err = _run("import", "--userdb", f"passwd-file:{userdb}", "--state-dir", str(state),
                    *args)
    assert got == code, err
    assert text in err
    assert len(err.strip().splitlines()) == 1, err
    assert not state.exists(), "a rejected command must leave no state behind"


def test_missing_source_names_the_path_and_exits_68(tmp_path: Path, userdb: Path) -> None:
    code, err = _run("import", "--userdb", f"passwd-file:{userdb}", "-u", "alice",
                     "--state-dir", str(tmp_path / "state"), "--progress", "none",
                     f"maildir:{tmp_path}/gone/%u", "", "ALL")
    assert code == 68
    assert f"{tmp_path}/gone/alice does not exist" in err
    assert not (tmp_path / "home" / "alice" / "Maildir").exists()


def test_password_settings_never_reach_state_or_output(
    tmp_path: Path, userdb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-Pa55"
    # run() moves the password into the environment for its workers; restore it afterwards.
    monkeypatch.setenv("MAILBEAM_IMAPC_PASSWORD", "")
    code, err = _run("import", "--userdb", f"passwd-file:{userdb}", "-u", "alice",
                     "--state-dir", str(tmp_path / "state"), "--progress", "none",
                     "-p", f"imapc_password={secret}", f"maildir:{tmp_path}/gone", "", "ALL")
    assert code == 68
    assert secret not in err
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def _without_root_powers() -> list[str]:
    """As root, drop the capabilities that bypass file permissions (so chmod means something)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to test permission errors as root"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def _mailbeam_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([*_without_root_powers(), *MAILBEAM, *args], check=False,
                          capture_output=True,
                          text=True, env=env, timeout=300)


def test_unreadable_message_is_dead_lettered_and_the_rest_imported(
    tmp_path: Path, userdb: Path
) -> None:
    corpus = make_corpus(tmp_path / "src", ["alice"], seed=1)
    inbox = corpus["alice"]["folders"]["INBOX"]
    maildir = corpus["alice"]["maildir"]
    victim = maildir / inbox["messages"][1]["file"]
    victim.chmod(0)
    total = sum(f["count"] for f in corpus["alice"]["folders"].values())
    state = tmp_path / "state"
    result = _mailbeam_unprivileged(
        "import", "--userdb", f"passwd-file:{userdb}", "-u", "alice", "--state-dir", str(state),
        "--progress", "none", f"maildir:{maildir}", "", "ALL")
    assert result.returncode == 65, result.stderr
    assert str(victim) in result.stderr and "Permission denied" in result.stderr
    report = json.loads(next(state.glob("*/report.json")).read_text())
    assert report["totals"]["failed"] == 1
    assert report["totals"]["written"] == total - 1
    dead = report["users"][0]["dead_letters"][0]
    assert dead["location"] == str(victim) and dead["source_mailbox"] == ["INBOX"]

    # Fixed by the administrator: the same command finishes the job, nothing twice.
    victim.chmod(0o644)
    again = _mailbeam_unprivileged(
        "import", "--userdb", f"passwd-file:{userdb}", "-u", "alice", "--state-dir", str(state),
        "--progress", "none", f"maildir:{maildir}", "", "ALL")
    assert again.returncode == 0, again.stderr
    report = json.loads(next(state.glob("*/report.json")).read_text())
    assert report["totals"]["failed"] == 0
    assert report["totals"]["written"] == total
    assert report["totals"]["written_this_run"] == 1
    stored = list((tmp_path / "home" / "alice" / "Maildir").rglob("*.mailbeam,*"))
    assert len(stored) == total


def test_unreadable_userdb_exits_77_naming_it(tmp_path: Path, userdb: Path) -> None:
    userdb.chmod(0)
    result = _mailbeam_unprivileged(
        "import", "--userdb", f"passwd-file:{userdb}", "-u", "alice",
        "--state-dir", str(tmp_path / "state"), "maildir:/x", "", "ALL")
    assert result.returncode == 77, result.stderr
    assert str(userdb) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_unwritable_destination_exits_77_naming_it(tmp_path: Path, userdb: Path) -> None:
    corpus = make_corpus(tmp_path / "src", ["alice"], seed=2)
    home = tmp_path / "home" / "alice"
    home.chmod(0o555)
    result = _mailbeam_unprivileged(
        "import", "--userdb", f"passwd-file:{userdb}", "-u", "alice",
        "--state-dir", str(tmp_path / "state"), "--progress", "none",
        f"maildir:{corpus['alice']['maildir']}", "", "ALL")
    home.chmod(0o755)
    assert result.returncode == 77, result.stderr
    assert str(home / "Maildir") in result.stderr
    failures = [line for line in result.stderr.splitlines() if "failed" in line and "user" in line]
    assert len(failures) <= len(corpus["alice"]["folders"]), result.stderr


def test_mailstore_does_not_import_beam() -> None:
    code = (
        "import sys, pkgutil, importlib, mailstore\n"
        "for m in pkgutil.walk_packages(mailstore.__path__, 'mailstore.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert 'apache_beam' not in sys.modules, 'mailstore imported apache_beam'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
