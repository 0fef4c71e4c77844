"""End-to-end: ``mailbeam import`` against the real ``doveadm import`` on the same source.

Each scenario imports a generated corpus once with ``doveadm import`` (into a reference user)
and once with ``mailbeam import`` (into another user), then compares what Dovecot itself sees
in both destinations: mailbox names, message order, flags, keywords, received dates, exact
bytes, subscriptions.  The source must be unchanged (names, bytes, mtimes), and a second
``mailbeam`` run must write nothing.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from corpus import make_corpus, tree_fingerprint
from dovecot import DovecotServer
from mailbeam_cli import mailbeam

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

_ids = itertools.count()


def _user(dovecot: DovecotServer, role: str) -> Any:
    return dovecot.add_user(f"e2e-{role}{next(_ids)}")


def reference(dovecot: DovecotServer, maildir: Path, parent: str, query: list[str],
              subscribe: bool = False, layout: str = "") -> dict[str, Any]:
    """What Dovecot shows after ``doveadm import`` of ``maildir`` into a fresh user."""
    ref = _user(dovecot, "ref")
    copy = dovecot.copy_for(ref.name, maildir)
    dovecot.import_(ref.name, f"maildir:{copy}{layout}", parent, *query, subscribe=subscribe)
    return dovecot.snapshot(ref.name)


def run_mailbeam(dovecot: DovecotServer, user: str, maildir: Path, parent: str,
                 query: list[str], state: Path, *extra: str, layout: str = "") -> Any:
    return mailbeam(
        "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user,
        "--state-dir", str(state), "--progress", "none", *extra,
        f"maildir:{maildir}{layout}", parent, *query,
    )


SCENARIOS = [
    pytest.param("", ["ALL"], False, id="root-all"),
    pytest.param("Restored", ["ALL"], True, id="parent-all-subscribe"),
    pytest.param("", ["mailbox", "Archive*"], True, id="root-mailbox-glob"),
    pytest.param("Recovered", ["mailbox", "INBOX", "(", "SEEN", "OR", "FLAGGED", ")"], False,
                 id="parent-mailbox-flags"),
    pytest.param("R", ["NOT", "mailbox", "Entwürfe", "UNDELETED", "KEYWORD", "$junk"], True,
                 id="parent-not-mailbox-keyword"),
    pytest.param("", ["BODY", "köln", "SEEN"], False, id="root-body-seen"),
    pytest.param("Sel", ["SINCE", "2005-01-01", "LARGER", "300", "NOT", "FROM", "sender1"], True,
                 id="parent-date-size-from"),
    pytest.param("", ["(", "mailbox", "INBOX", "2:4", ")", "OR", "(", "mailbox", "Archive*",
                      "SUBJECT", "2", ")"], False, id="root-seqset-or-subject"),
]


@pytest.mark.parametrize(("parent", "query", "subscribe"), SCENARIOS)
def test_same_as_doveadm_import(dovecot: DovecotServer, tmp_path: Path, parent: str,
                                query: list[str], subscribe: bool) -> None:
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=len(query))
    maildir = corpus["owner"]["maildir"]
    expected = reference(dovecot, maildir, parent, query, subscribe)
    assert expected["mailboxes"], "the scenario must select something"

    user = _user(dovecot, "mb")
    before = tree_fingerprint(maildir)
    extra = ["-s"] if subscribe else []
    first = run_mailbeam(dovecot, user.name, maildir, parent, query, tmp_path / "state", *extra)
    assert first.returncode == 0, first.stderr
    assert tree_fingerprint(maildir) == before, "the source was modified"

    written = tree_fingerprint(user.maildir)
    second = run_mailbeam(dovecot, user.name, maildir, parent, query, tmp_path / "state", *extra)
    assert second.returncode == 0, second.stderr
    assert "already complete" in second.stderr
    assert tree_fingerprint(user.maildir) == written, "the second run wrote something"

    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"]
    assert got["listed"] == expected["listed"]
    assert got["subscriptions"] == expected["subscriptions"]
    assert tree_fingerprint(maildir) == before


@pytest.mark.parametrize("style", ["2.3", "2.4"])
def test_fs_layout_source_into_maildirpp(dovecot: DovecotServer, tmp_path: Path,
                                         style: str) -> None:
    """An fs-layout source (``/`` separator) with a ``.`` in a name: doveadm's ``_`` rule.

    The layout is given 2.3-style (``:LAYOUT=fs``) or 2.4-style (``-p mailbox_list_layout=fs``).
    """
    root = tmp_path / "fs" / "Maildir"
    for rel in ["", "Work", "Work/2024", "a.b", "x/y_z"]:
        for sub in ("cur", "new", "tmp"):
            (root / rel / sub).mkdir(parents=True, exist_ok=True)
    # "x" has no cur/ of its own: a \NoSelect parent
    for i, rel in enumerate(["", "Work", "Work/2024", "a.b", "x/y_z", "Work"]):
        name = root / rel / "cur" / f"{1600000000 + i}.M{i}P1.host:2,S"
        name.write_bytes(f"Subject: m{i}\n\nbody {i}\n".encode())
    expected = reference(dovecot, root, "", ["ALL"], layout=":LAYOUT=fs")
    user = _user(dovecot, "mb")
    if style == "2.3":
        result = run_mailbeam(dovecot, user.name, root, "", ["ALL"], tmp_path / "state",
                              layout=":LAYOUT=fs")
    else:
        result = run_mailbeam(dovecot, user.name, root, "", ["ALL"], tmp_path / "state",
                              "-p", "mailbox_list_layout=fs")
    assert result.returncode == 0, result.stderr
    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"]
    assert "a_b" in got["mailboxes"] and "x.y_z" in got["mailboxes"]


def test_source_user_expands_the_source_location(dovecot: DovecotServer, tmp_path: Path) -> None:
    """``-U restore maildir:~/Maildir``: the home of the source user, written for the -u user."""
    source = _user(dovecot, "restore")
    corpus = make_corpus(tmp_path / "snap", ["x"], seed=17)
    shutil.copytree(corpus["x"]["maildir"], source.maildir, copy_function=shutil.copy2)
    ref = _user(dovecot, "ref")
    dovecot.import_(ref.name, f"maildir:{dovecot.copy_for(ref.name, source.maildir)}", "", "ALL")
    user = _user(dovecot, "mb")
    result = mailbeam(
        "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user.name,
        "-U", source.name, "--state-dir", str(tmp_path / "state"), "--progress", "none",
        "maildir:~/Maildir", "", "ALL",
    )
    assert result.returncode == 0, result.stderr
    assert dovecot.snapshot(user.name)["mailboxes"] == dovecot.snapshot(ref.name)["mailboxes"]


def test_several_users_from_a_user_file(dovecot: DovecotServer, tmp_path: Path) -> None:
    users = [_user(dovecot, "multi") for _ in range(3)]
    corpus = make_corpus(tmp_path / "snap", [u.name for u in users], seed=5)
    user_file = tmp_path / "users.txt"
    user_file.write_text("".join(f"{u.name}\n" for u in users))
    result = mailbeam(
        "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-F", str(user_file),
        "--state-dir", str(tmp_path / "state"), "--progress", "none", "-s",
        f"maildir:{tmp_path / 'snap'}/%u/Maildir", "", "ALL",
    )
    assert result.returncode == 0, result.stderr
    for u in users:
        expected = reference(dovecot, corpus[u.name]["maildir"], "", ["ALL"], subscribe=True)
        got = dovecot.snapshot(u.name)
        assert got["mailboxes"] == expected["mailboxes"], u.name
        assert got["subscriptions"] == expected["subscriptions"], u.name
    report = json.loads(next((tmp_path / "state").glob("*/report.json")).read_text())
    assert report["totals"]["users_complete"] == 3
    assert report["exit_code"] == 0


def test_appends_to_existing_mailbox_and_keeps_its_keywords(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    """An existing destination INBOX with its own keywords is appended to, never rewritten."""
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=11)
    maildir = corpus["owner"]["maildir"]
    seed_msg = tmp_path / "seed"
    for sub in ("cur", "new", "tmp"):
        (seed_msg / sub).mkdir(parents=True)
    (seed_msg / "cur" / "1500000000.M1P1.host:2,Sa").write_bytes(b"Subject: old\n\nold\n")
    (seed_msg / "dovecot-keywords").write_text("0 $Old\n")

    ref = _user(dovecot, "ref")
    mb = _user(dovecot, "mb")
    for u in (ref, mb):
        dovecot.import_(u.name, f"maildir:{dovecot.copy_for(u.name, seed_msg)}", "", "ALL")
    dovecot.import_(ref.name, f"maildir:{dovecot.copy_for(ref.name, maildir)}", "", "ALL")
    result = run_mailbeam(dovecot, mb.name, maildir, "", ["ALL"], tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert dovecot.snapshot(mb.name)["mailboxes"] == dovecot.snapshot(ref.name)["mailboxes"]


@pytest.mark.parametrize("runner", ["portable", "multiprocess"])
def test_separate_worker_processes_give_the_same_result(
    dovecot: DovecotServer, tmp_path: Path, runner: str
) -> None:
    """Beam's PortableRunner (external worker pool) and FnApiRunner's multi_processing mode run
    the DoFns in other processes: nothing may rely on state shared with the launching process."""
    users = [_user(dovecot, runner[:4]) for _ in range(2)]
    corpus = make_corpus(tmp_path / "snap", [u.name for u in users], seed=13)
    user_file = tmp_path / "users.txt"
    user_file.write_text("".join(f"{u.name}\n" for u in users))
    result = mailbeam(
        "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-F", str(user_file),
        "--runner", runner, "--state-dir", str(tmp_path / "state"), "--progress", "none", "-s",
        f"maildir:{tmp_path / 'snap'}/%u/Maildir", "Restored", "ALL",
    )
    assert result.returncode == 0, result.stderr
    for u in users:
        expected = reference(dovecot, corpus[u.name]["maildir"], "Restored", ["ALL"],
                             subscribe=True)
        got = dovecot.snapshot(u.name)
        assert got["mailboxes"] == expected["mailboxes"], u.name
        assert got["subscriptions"] == expected["subscriptions"], u.name
