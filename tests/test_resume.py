"""Kill-and-resume: SIGKILL ``mailbeam import`` at several points, run it again, compare.

Whatever the moment of the kill (while listing, between stages, in the middle of the sink),
re-running the same command must finish the job with exactly what ``doveadm import`` gives:
nothing missing, nothing twice.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from corpus import make_corpus, tree_fingerprint
from dovecot import DovecotServer
from mailbeam_cli import mailbeam, mailbeam_popen

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

_ids = itertools.count()


def _any(pattern: str) -> Callable[[Path], bool]:
    return lambda state: any(state.glob(pattern))


KILL_POINTS = [
    pytest.param(_any("*/job.json"), id="after-job-created"),
    pytest.param(_any("*/messages/*/*.avro"), id="during-listing"),
    pytest.param(_any("*/selected/*/*.avro"), id="during-selection"),
    pytest.param(_any("*/ledger/*/*.avro"), id="mid-sink"),
]


def _kill_when(args: list[str], ready: Callable[[Path], bool], state: Path) -> int:
    proc = mailbeam_popen(*args)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if state.exists() and ready(state):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.communicate()
    return proc.returncode


@pytest.mark.parametrize("ready", KILL_POINTS)
def test_killed_import_resumes_to_the_same_result(
    dovecot: DovecotServer, tmp_path: Path, ready: Callable[[Path], bool]
) -> None:
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=3, messages_per_folder=120)
    maildir = corpus["owner"]["maildir"]
    ref = dovecot.add_user(f"resref{next(_ids)}")
    dovecot.import_(ref.name, f"maildir:{dovecot.copy_for(ref.name, maildir)}", "Restored",
                    "ALL", subscribe=True)
    expected = dovecot.snapshot(ref.name)

    user = dovecot.add_user(f"resmb{next(_ids)}")
    state = tmp_path / "state"
    args = ["import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user.name, "-s",
            "--state-dir", str(state), "--progress", "none", f"maildir:{maildir}", "Restored",
            "ALL"]
    before = tree_fingerprint(maildir)
    code = _kill_when(args, ready, state)
    assert code == -signal.SIGKILL, "the import finished before the kill point was reached"

    result = mailbeam(*args)
    assert result.returncode == 0, result.stderr
    assert "resuming job" in result.stderr
    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"]
    assert got["subscriptions"] == expected["subscriptions"]
    assert tree_fingerprint(maildir) == before


def test_repeated_kills_at_random_moments(dovecot: DovecotServer, tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=9, messages_per_folder=150)
    maildir = corpus["owner"]["maildir"]
    ref = dovecot.add_user(f"resref{next(_ids)}")
    dovecot.import_(ref.name, f"maildir:{dovecot.copy_for(ref.name, maildir)}", "", "ALL")
    expected = dovecot.snapshot(ref.name)

    user = dovecot.add_user(f"resmb{next(_ids)}")
    state = tmp_path / "state"
    args = ["import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user.name,
            "--state-dir", str(state), "--progress", "none", f"maildir:{maildir}", "", "ALL"]
    for delay in (0.8, 1.3, 1.9, 2.6):
        proc = mailbeam_popen(*args)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    result = mailbeam(*args)
    assert result.returncode == 0, result.stderr
    assert dovecot.snapshot(user.name)["mailboxes"] == expected["mailboxes"]
