"""End-to-end: ``mailbeam import`` from sdbox written by Dovecot, against ``doveadm import``.

The source is made by Dovecot itself (``dovecot_source``: imported from a corpus Maildir, then
flags and keywords changed afterwards, so some live only in the index log).  ``doveadm import``
writes into its source, so it always reads a copy; mailbeam reads the original, which must stay
byte-for-byte and mtime-for-mtime unchanged.  Both destinations are compared through what
Dovecot shows (``DovecotServer.snapshot``): names, order, flags and keywords, dates, bytes.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from corpus import make_corpus, tree_fingerprint
from dovecot import DovecotServer, SnapshotMessage
from dovecot_sources import DovecotSource, dovecot_source
from mailbeam_cli import mailbeam

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

_ids = itertools.count()


def _user(dovecot: DovecotServer, role: str) -> Any:
    return dovecot.add_user(f"sdbox-{role}{next(_ids)}")


def _location(home: Path, separate_index: bool) -> str:
    location = f"sdbox:{home}/sdbox"
    return location + (f":INDEX={home}/index" if separate_index else "")


def _source(dovecot: DovecotServer, tmp_path: Path, separate_index: bool,
            seed: int = 7) -> DovecotSource:
    corpus = make_corpus(tmp_path / "corpus", ["owner"], seed=seed)
    return dovecot_source(dovecot, "sdbox", corpus["owner"]["maildir"],
                          separate_index=separate_index)


def _copy_home(dovecot: DovecotServer, source: DovecotSource, user: str) -> Path:
    """A copy of the source user's home (mail root and index dir) that Dovecot may write to."""
    return dovecot.copy_for(user, source.user.home)


def _reference(dovecot: DovecotServer, source: DovecotSource, *, separate_index: bool,
               extra: str = "", prepare: Any = None) -> dict[str, Any]:
    ref = _user(dovecot, "ref")
    home = _copy_home(dovecot, source, ref.name)
    if prepare is not None:
        prepare(home)
        dovecot.give_to(ref.name, home)
    dovecot.import_(ref.name, _location(home, separate_index) + extra, "", "ALL")
    return dovecot.snapshot(ref.name)


def _mailbeam(dovecot: DovecotServer, user: str, location: str, state: Path,
              *extra: str) -> Any:
    return mailbeam(
        "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user,
        "--state-dir", str(state), "--progress", "none", *extra, location, "", "ALL",
    )


def _report(state: Path) -> dict[str, Any]:
    return json.loads(next(state.glob("*/report.json")).read_text())


@pytest.mark.parametrize("separate_index", [False, True], ids=["index-in-mailbox", "INDEX="])
def test_same_as_doveadm_import(dovecot: DovecotServer, tmp_path: Path,
                                separate_index: bool) -> None:
    source = _source(dovecot, tmp_path, separate_index)
    before = tree_fingerprint(source.user.home)
    expected = _reference(dovecot, source, separate_index=separate_index)
    assert expected["mailboxes"]["INBOX"], "the scenario must import something"
    # the flags changed after the import are there: \Flagged $Later on INBOX 1:2
    assert "$Later" in expected["mailboxes"]["INBOX"][0].flags

    user = _user(dovecot, "mb")
    state = tmp_path / "state"
    first = _mailbeam(dovecot, user.name, source.location, state)
    assert first.returncode == 0, first.stderr
    assert tree_fingerprint(source.user.home) == before, "the source was modified"
    written = tree_fingerprint(user.maildir)
    second = _mailbeam(dovecot, user.name, source.location, state)
    assert second.returncode == 0, second.stderr
    assert "already complete" in second.stderr
    assert tree_fingerprint(user.maildir) == written, "the second run wrote something"

    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"]
    assert got["listed"] == expected["listed"]
    assert tree_fingerprint(source.user.home) == before
    assert not any(u["warnings"] for u in _report(state)["users"])


def test_seed_recipe_lists_from_the_index_dir(dovecot: DovecotServer, tmp_path: Path) -> None:
    """``-p mail_index_path=… -p mailbox_list_iter_from_index_dir=yes``, parent ``""``."""
    source = _source(dovecot, tmp_path, True, seed=8)
    index = source.index
    assert index is not None
    before = tree_fingerprint(source.user.home)
    expected = _reference(dovecot, source, separate_index=True, extra=":ITERINDEX")
    user = _user(dovecot, "mb")
    result = _mailbeam(dovecot, user.name, f"sdbox:{source.root}", tmp_path / "state",
                       "-p", f"mail_index_path={index}",
                       "-p", "mailbox_list_iter_from_index_dir=yes")
    assert result.returncode == 0, result.stderr
    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"]
    assert got["listed"] == expected["listed"]
    assert tree_fingerprint(source.user.home) == before


def _drop_index(mailbox_dir: Path) -> None:
    for path in mailbox_dir.glob("dovecot.index*"):
        path.unlink()


def test_mailbox_without_index_is_imported_without_flags(dovecot: DovecotServer,
                                                         tmp_path: Path) -> None:
    """Archive's index files are gone.  Dovecot then shows Archive *empty* (and writes a new
    index into it) until ``doveadm force-resync`` rebuilds it from the u.* files without
    flags; mailbeam imports what the resynced Dovecot would, and says what was lost."""
    source = _source(dovecot, tmp_path, False, seed=9)
    broken_home = tmp_path / "broken"
    shutil.copytree(source.user.home, broken_home, symlinks=True, copy_function=shutil.copy2)
    _drop_index(broken_home / "sdbox/mailboxes/Archive/dbox-Mails")
    before = tree_fingerprint(broken_home)

    plain = _reference(dovecot, source, separate_index=False,
                       prepare=lambda home: _drop_index(home / "sdbox/mailboxes/Archive/dbox-Mails"))
    assert "Archive" not in plain["mailboxes"], "doveadm import sees an empty Archive"

    def drop_and_resync(home: Path) -> None:
        _drop_index(home / "sdbox/mailboxes/Archive/dbox-Mails")
        dovecot.give_to(source.user.name, home)
        dovecot.doveadm("-o", f"mail_location={_location(home, False)}", "force-resync",
                        "-u", source.user.name, "Archive")

    expected = _reference(dovecot, source, separate_index=False, prepare=drop_and_resync)
    assert all(m.flags == () for m in expected["mailboxes"]["Archive"])

    user = _user(dovecot, "mb")
    state = tmp_path / "state"
    result = _mailbeam(dovecot, user.name, _location(broken_home, False), state)
    assert result.returncode == 0, result.stderr
    assert tree_fingerprint(broken_home) == before, "the source was modified"
    assert dovecot.snapshot(user.name)["mailboxes"] == expected["mailboxes"]
    warnings = _report(state)["users"][0]["warnings"]
    assert [w["mailbox"] for w in warnings] == [["Archive"]]
    assert warnings[0]["warnings"] == [
        (f"index dovecot.index(.log) missing in {broken_home}/sdbox/mailboxes/Archive/dbox-Mails:"
        " flags and keywords cannot be recovered")
    ]


def test_truncated_message_file_is_dead_lettered(dovecot: DovecotServer, tmp_path: Path) -> None:
    source = _source(dovecot, tmp_path, False, seed=10)
    broken_home = tmp_path / "broken"
    shutil.copytree(source.user.home, broken_home, symlinks=True, copy_function=shutil.copy2)
    victim = broken_home / "sdbox/mailboxes/INBOX/dbox-Mails/u.3"
    with open(victim, "r+b") as f:
        f.truncate(os.path.getsize(victim) // 2)
    before = tree_fingerprint(broken_home)
    expected = _reference(dovecot, source, separate_index=False)
    lost: SnapshotMessage = expected["mailboxes"]["INBOX"].pop(2)
    assert lost is not None

    user = _user(dovecot, "mb")
    state = tmp_path / "state"
    result = _mailbeam(dovecot, user.name, _location(broken_home, False), state)
    assert result.returncode == 65, result.stderr
    assert tree_fingerprint(broken_home) == before
    assert dovecot.snapshot(user.name)["mailboxes"] == expected["mailboxes"]
    dead = _report(state)["users"][0]["dead_letters"]
    assert len(dead) == 1
    assert dead[0]["source_key"] == "u.3"
    assert dead[0]["kind"] == "invaliddata"
    assert str(victim) in dead[0]["reason"]
