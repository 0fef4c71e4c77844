"""End-to-end over IMAP: ``mailbeam import … imapc: …`` against ``doveadm import … imapc: …``.

The source is a Dovecot user whose home Maildir holds the generated corpus, read over IMAP by
both tools. ``doveadm import`` (2.3) gets the imapc settings as ``-o imapc_…=…``; mailbeam as
``-p imapc_…=…`` with the password from a file, the environment or (discouraged) the command
line. Both destinations must look the same to Dovecot (names, order, flags, keywords, dates,
bytes), the source's flags must not change (no ``\\Seen``), a second mailbeam run writes
nothing, and the password appears nowhere in mailbeam's output, report or state directory.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from corpus import make_corpus, tree_fingerprint
from dovecot import DovecotServer
from mailbeam_cli import mailbeam

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

SECRET = "E2e-Imapc-Secret-90210"
_ids = itertools.count()


def _source_flags(dovecot: DovecotServer, user: str) -> str:
    return dovecot.doveadm("-f", "tab", "fetch", "-u", user, "mailbox uid flags", "ALL").stdout.decode()


def _files_containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if needle in path.read_bytes():
                hits.append(str(path))
    return hits


SCENARIOS = [
    pytest.param("file", "", ["ALL"], False, id="file-root-all"),
    pytest.param("env", "Restored", ["mailbox", "Archive*"], True, id="env-parent-glob-subscribe"),
    pytest.param("argv", "", ["SEEN", "OR", "KEYWORD", "$Junk"], False, id="argv-root-flags"),
]


@pytest.mark.parametrize(("secret_from", "parent", "query", "subscribe"), SCENARIOS)
def test_same_as_doveadm_import_over_imap(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    secret_from: str, parent: str, query: list[str], subscribe: bool,
) -> None:
    n = next(_ids)
    source = dovecot.add_user(f"imapsrc{n}", password=SECRET)
    corpus = make_corpus(tmp_path / "corpus", [source.name], seed=40 + n)
    shutil.copytree(corpus[source.name]["maildir"], source.maildir, copy_function=shutil.copy2)
    dovecot.give_to(source.name, source.maildir)
    flags_before = _source_flags(dovecot, source.name)

    ref = dovecot.add_user(f"imapref{n}")
    imapc = ["imapc_host=127.0.0.1", f"imapc_port={dovecot.imap_port}",
             f"imapc_user={source.name}"]
    overrides = [w for s in [*imapc, f"imapc_password={SECRET}"] for w in ("-o", s)]
    args = ["import", "-u", ref.name, *(["-s"] if subscribe else []), "imapc:", parent, *query]
    dovecot.doveadm(*overrides, *args)
    expected = dovecot.snapshot(ref.name)
    assert expected["mailboxes"], "the scenario must select something"

    settings = [w for s in imapc for w in ("-p", s)]
    monkeypatch.delenv("MAILBEAM_IMAPC_PASSWORD", raising=False)
    if secret_from == "file":
        (tmp_path / "pw").write_text(SECRET + "\n")
        settings += ["-p", f"imapc_password_file={tmp_path / 'pw'}"]
    elif secret_from == "env":
        monkeypatch.setenv("MAILBEAM_IMAPC_PASSWORD", SECRET)
    else:
        settings += ["-p", f"imapc_password={SECRET}"]
    user = dovecot.add_user(f"imapmb{n}")
    state = tmp_path / "state"
    report = tmp_path / "report.json"

    def run() -> Any:
        return mailbeam(
            "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user.name,
            "--state-dir", str(state), "--progress", "none", "--report", str(report),
            *(["-s"] if subscribe else []), *settings, "imapc:", parent, *query,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    written = tree_fingerprint(user.maildir)
    second = run()
    assert second.returncode == 0, second.stderr
    assert "already complete" in second.stderr
    assert tree_fingerprint(user.maildir) == written, "the second run wrote something"

    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"]
    assert got["listed"] == expected["listed"]
    assert got["subscriptions"] == expected["subscriptions"]
    assert _source_flags(dovecot, source.name) == flags_before, "the source's flags changed"

    for proc in (first, second):
        assert SECRET not in proc.stdout and SECRET not in proc.stderr
    assert report.exists() and SECRET.encode() not in report.read_bytes()
    assert _files_containing(state, SECRET.encode()) == []


def test_wrong_password_fails_the_user_with_77(dovecot: DovecotServer, tmp_path: Path) -> None:
    source = dovecot.add_user(f"imapsrc{next(_ids)}", password=SECRET)
    user = dovecot.add_user(f"imapmb{next(_ids)}")
    wrong = "Wrong-Imapc-Pass-1"
    result = mailbeam(
        "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user.name,
        "--state-dir", str(tmp_path / "state"), "--progress", "none",
        "-p", "imapc_host=127.0.0.1", "-p", f"imapc_port={dovecot.imap_port}",
        "-p", f"imapc_user={source.name}", "-p", f"imapc_password={wrong}", "imapc:", "", "ALL",
    )
    assert result.returncode == 77, result.stderr
    assert "AUTHENTICATIONFAILED" in result.stderr or "login" in result.stderr.lower()
    assert wrong not in result.stdout + result.stderr
    assert _files_containing(tmp_path / "state", wrong.encode()) == []
