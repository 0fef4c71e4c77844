"""End-to-end: ``mailbeam import`` from an mdbox Dovecot wrote, against ``doveadm import``.

The source is made by Dovecot itself (tests/dovecot_sources.py): a corpus imported into mdbox,
flags and keywords changed afterwards (so some live only in the index log), and two messages
expunged but not purged (their bytes stay in ``storage/m.*`` with refcount 0).  The reference
is ``doveadm import`` from a *copy* of the source user's home (doveadm writes into its source);
mailbeam reads the original, which must stay byte-for-byte unchanged.  Both destinations are
compared as Dovecot sees them: names, order, flags, keywords, received dates, exact bytes.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from corpus import make_corpus, tree_fingerprint
from dovecot import DovecotServer
from dovecot_sources import DovecotSource, dovecot_source
from mailbeam_cli import mailbeam

from mailstore.driver import open_source
from mailstore.location import parse_location
from mailstore.userdb import User

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

_ids = itertools.count()
# dovecot_sources expunges (without purging) INBOX uid 5 and Archive uid 2.
_EXPUNGED = {"INBOX": 4, "Archive": 1}  # 0-based positions in the corpus folder


def _user(dovecot: DovecotServer, role: str) -> Any:
    return dovecot.add_user(f"mdbox-{role}{next(_ids)}")


def _copy_location(dovecot: DovecotServer, source: DovecotSource, owner: str) -> str:
    """The source's location string pointing at a fresh copy of the source user's home."""
    copy = dovecot.copy_for(owner, source.user.home)
    return source.location.replace(str(source.user.home), str(copy))


def _reference(dovecot: DovecotServer, source: DovecotSource) -> dict[str, Any]:
    ref = _user(dovecot, "ref")
    dovecot.import_(ref.name, _copy_location(dovecot, source, ref.name), "", "ALL")
    return dovecot.snapshot(ref.name)


def _mailbeam(dovecot: DovecotServer, user: str, location: str, state: Path) -> Any:
    return mailbeam(
        "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user,
        "--state-dir", str(state), "--progress", "none", location, "", "ALL",
    )


def _report(state: Path) -> dict[str, Any]:
    return json.loads(next(state.glob("*/report.json")).read_text())


def _source(dovecot: DovecotServer, tmp_path: Path, separate_index: bool,
            seed: int) -> tuple[dict[str, Any], DovecotSource]:
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=seed)["owner"]
    return corpus, dovecot_source(dovecot, "mdbox", corpus["maildir"],
                                  separate_index=separate_index)


@pytest.mark.parametrize("separate_index", [False, True], ids=["index-in-root", "INDEX="])
def test_same_as_doveadm_import(dovecot: DovecotServer, tmp_path: Path,
                                separate_index: bool) -> None:
    corpus, source = _source(dovecot, tmp_path, separate_index, seed=21)
    expected = _reference(dovecot, source)
    assert expected["mailboxes"]

    user = _user(dovecot, "mb")
    before = tree_fingerprint(source.user.home)
    first = _mailbeam(dovecot, user.name, source.location, tmp_path / "state")
    assert first.returncode == 0, first.stderr
    assert tree_fingerprint(source.user.home) == before, "the source was modified"

    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"]
    assert got["listed"] == expected["listed"]

    # The expunged-but-unpurged messages stay gone (their bytes are still in m.*).
    for name, position in _EXPUNGED.items():
        folder = corpus["folders"][name]["messages"]
        wanted = collections.Counter(m["sha256_lf"] for m in folder)
        wanted[folder[position]["sha256_lf"]] -= 1
        assert collections.Counter(m.sha256 for m in got["mailboxes"][name]) == +wanted, name

    written = tree_fingerprint(user.maildir)
    second = _mailbeam(dovecot, user.name, source.location, tmp_path / "state")
    assert second.returncode == 0, second.stderr
    assert "already complete" in second.stderr
    assert tree_fingerprint(user.maildir) == written, "the second run wrote something"
    assert tree_fingerprint(source.user.home) == before


@pytest.mark.parametrize("query", [
    ["KEYWORD", "$Later"],
    ["mailbox", "Archive*", "UNSEEN"],
    ["SINCE", "2010-01-01", "LARGER", "300"],
    ["SMALLER", "400", "NOT", "FLAGGED"],
    ["BODY", "köln", "OR", "SUBJECT", "2"],
    ["RECENT"],
    ["OLD"],
], ids=["keyword", "mailbox-unseen", "since-larger", "smaller-not-flagged", "body-or-subject",
        "recent", "old"])
def test_queries_select_what_doveadm_selects(dovecot: DovecotServer, tmp_path: Path,
                                             query: list[str]) -> None:
    """Metadata from the index (flags, keywords) and from m.* (R, V) drive the selection."""
    _, source = _source(dovecot, tmp_path, False, seed=27)
    ref = _user(dovecot, "ref")
    dovecot.import_(ref.name, _copy_location(dovecot, source, ref.name), "Q", *query)
    expected = dovecot.snapshot(ref.name)
    # Dovecot's own sessions on the source left first_recent_uid at 1: all is \Recent, none OLD.
    assert bool(expected["mailboxes"]) is (query != ["OLD"])
    user = _user(dovecot, "mb")
    result = mailbeam(
        "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user.name,
        "--state-dir", str(tmp_path / "state"), "--progress", "none", source.location, "Q",
        *query,
    )
    assert result.returncode == 0, result.stderr
    got = dovecot.snapshot(user.name)["mailboxes"]
    # (With nothing selected, mailbeam still creates the destination INBOX; doveadm does not.)
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected["mailboxes"].items()
                                                   if v}


@pytest.mark.parametrize("separate_index", [False, True], ids=["index-in-root", "INDEX="])
def test_missing_map_index_fails_the_user_with_68(dovecot: DovecotServer, tmp_path: Path,
                                                  separate_index: bool) -> None:
    _, source = _source(dovecot, tmp_path, separate_index, seed=22)
    home = tmp_path / "home"
    shutil.copytree(source.user.home, home, symlinks=True)
    location = source.location.replace(str(source.user.home), str(home))
    storage = (home / "index" if separate_index else home / "mdbox") / "storage"
    removed = sorted(storage.glob("dovecot.map.index*"))
    assert removed, "Dovecot wrote no map index?"
    for path in removed:
        path.unlink()
    assert list((home / "mdbox" / "storage").glob("m.*")), "the m.* files stay"

    user = _user(dovecot, "mb")
    before = tree_fingerprint(home)
    result = _mailbeam(dovecot, user.name, location, tmp_path / "state")
    assert result.returncode == 68, result.stderr
    assert f"{storage}/dovecot.map.index" in result.stderr
    assert not dovecot.snapshot(user.name)["mailboxes"].get("INBOX")
    assert tree_fingerprint(home) == before


def test_truncated_message_is_a_dead_letter_and_the_rest_is_imported(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    _, source = _source(dovecot, tmp_path, False, seed=23)
    expected = _reference(dovecot, source)
    home = tmp_path / "home"
    shutil.copytree(source.user.home, home, symlinks=True)
    location = source.location.replace(str(source.user.home), str(home))

    # Which live message is last in its m.* file (the one truncation cuts)?
    reader = open_source(parse_location(location), User("x"))
    last: tuple[int, str, int, str] | None = None
    for folder in reader.list_folders():
        for meta in reader.iter_messages(folder):
            file_name, offset = meta.handle.split(":")[:2]
            key = (int(offset), file_name, meta.position, folder.vname)
            if last is None or key > last:
                last = key
    reader.close()
    assert last is not None
    offset, file_name, position, mailbox = last
    m_file = home / "mdbox" / "storage" / file_name
    os.truncate(m_file, m_file.stat().st_size - 40)

    user = _user(dovecot, "mb")
    before = tree_fingerprint(home)
    result = _mailbeam(dovecot, user.name, location, tmp_path / "state")
    assert result.returncode == 65, result.stderr
    assert f"{m_file}" in result.stderr and f"offset {offset}" in result.stderr, result.stderr
    dead = _report(tmp_path / "state")["users"][0]["dead_letters"]
    assert [d["source_mailbox"] for d in dead] == [mailbox.split("/")]

    got = dovecot.snapshot(user.name)
    want = {name: list(msgs) for name, msgs in expected["mailboxes"].items()}
    del want[mailbox][position]
    assert {k: v for k, v in got["mailboxes"].items() if v} == {k: v for k, v in want.items() if v}
    assert tree_fingerprint(home) == before


def test_alt_storage_copies_purge_and_subscriptions(dovecot: DovecotServer,
                                                    tmp_path: Path) -> None:
    """Copies sharing a map_uid, a purge (the map rewritten, m.* files replaced), an expunge
    after it, messages moved to alternate storage, subscriptions: all as doveadm sees them."""
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=24)["owner"]
    owner = _user(dovecot, "alt")
    location = f"mdbox:{owner.home}/mdbox:ALT={owner.home}/alt"
    source = DovecotSource(owner, location, owner.home / "mdbox", None)
    # Base index files written and logs rotated (.log.2) along the way, as on a busy server.
    busy = ("-o", "mail_index_rewrite_max_log_bytes=1", "-o", "mail_index_rewrite_min_log_bytes=1",
            "-o", "mail_index_log_rotate_min_size=1", "-o", "mail_index_log_rotate_max_size=1",
            "-o", f"mail_location={location}")

    def adm(command: str, *args: str) -> None:
        dovecot.doveadm(*busy, *command.split(), "-u", owner.name, *args)

    adm("import", f"maildir:{dovecot.copy_for(owner.name, corpus['maildir'])}", "", "ALL")
    adm("copy", "Archive", "mailbox", "INBOX", "1:2")  # ref 2
    adm("expunge", "mailbox", "INBOX", "1")  # ref 1: still in Archive
    adm("expunge", "mailbox", "Archive/2024", "3")  # ref 0
    adm("purge")  # live messages copied into another m.* file, the map updated
    adm("flags add", "\\Seen $Later", "mailbox", "Archive", "1:3")
    adm("expunge", "mailbox", "INBOX", "3")  # ref 0, not purged
    adm("altmove", "mailbox", "Archive*")
    adm("mailbox subscribe", "INBOX", "Entwürfe", "Archive/2024")
    dovecot.give_to(owner.name, owner.home)
    assert list((owner.home / "alt" / "storage").glob("m.*")), "altmove moved nothing"
    inbox_index = owner.home / "mdbox" / "mailboxes" / "INBOX" / "dbox-Mails"
    assert (inbox_index / "dovecot.index").exists()
    assert (inbox_index / "dovecot.index.log.2").exists()

    ref = _user(dovecot, "ref")
    dovecot.import_(ref.name, _copy_location(dovecot, source, ref.name), "", "ALL",
                    subscribe=True)
    expected = dovecot.snapshot(ref.name)

    user = _user(dovecot, "mb")
    before = tree_fingerprint(owner.home)
    result = mailbeam(
        "import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user.name,
        "--state-dir", str(tmp_path / "state"), "--progress", "none", "-s", location, "", "ALL",
    )
    assert result.returncode == 0, result.stderr
    assert tree_fingerprint(owner.home) == before
    got = dovecot.snapshot(user.name)
    assert got == expected
    inbox = corpus["folders"]["INBOX"]["messages"]
    assert len(got["mailboxes"]["INBOX"]) == len(inbox) - 2
    assert len(got["mailboxes"]["Archive"]) == len(corpus["folders"]["Archive"]["messages"]) + 2


def test_missing_mailbox_index_fails_that_mailbox_only(dovecot: DovecotServer,
                                                       tmp_path: Path) -> None:
    _, source = _source(dovecot, tmp_path, False, seed=25)
    expected = _reference(dovecot, source)
    home = tmp_path / "home"
    shutil.copytree(source.user.home, home, symlinks=True)
    location = source.location.replace(str(source.user.home), str(home))
    box_dir = home / "mdbox" / "mailboxes" / "Entw&APw-rfe" / "dbox-Mails"
    for path in box_dir.glob("dovecot.index*"):
        path.unlink()

    user = _user(dovecot, "mb")
    result = _mailbeam(dovecot, user.name, location, tmp_path / "state")
    assert result.returncode == 68, result.stderr
    assert "Entwürfe" in result.stderr and str(box_dir) in result.stderr, result.stderr
    got = dovecot.snapshot(user.name)
    del expected["mailboxes"]["Entwürfe"]
    assert got["mailboxes"] == expected["mailboxes"]


def test_stale_mailbox_index_does_not_resurrect_expunged_mail(dovecot: DovecotServer,
                                                              tmp_path: Path) -> None:
    """A mailbox index restored from before an expunge still lists the message, whose map
    entry now has refcount 0 (bytes still in m.*): Dovecot reads it again, mailbeam does not."""
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=26)["owner"]
    owner = _user(dovecot, "stale")
    location = f"mdbox:{owner.home}/mdbox"
    source = DovecotSource(owner, location, owner.home / "mdbox", None)
    dovecot.doveadm("-o", f"mail_location={location}", "import", "-u", owner.name,
                    f"maildir:{dovecot.copy_for(owner.name, corpus['maildir'])}", "", "ALL")
    inbox_dir = owner.home / "mdbox" / "mailboxes" / "INBOX" / "dbox-Mails"
    saved = {p.name: p.read_bytes() for p in inbox_dir.glob("dovecot.index*")}
    source.doveadm(dovecot, "expunge", "mailbox", "INBOX", "2")
    for path in inbox_dir.glob("dovecot.index*"):
        path.unlink()
    for name, data in saved.items():
        (inbox_dir / name).write_bytes(data)
    dovecot.give_to(owner.name, owner.home)

    expected = _reference(dovecot, source)
    user = _user(dovecot, "mb")
    result = _mailbeam(dovecot, user.name, location, tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert "uid 2: map_uid" in result.stderr and "refcount 0" in result.stderr, result.stderr
    got = dovecot.snapshot(user.name)
    # doveadm (2.3.19) imports the stale record's message again [obs]; mailbeam leaves it out.
    assert len(expected["mailboxes"]["INBOX"]) == len(corpus["folders"]["INBOX"]["messages"])
    del expected["mailboxes"]["INBOX"][1]
    assert got["mailboxes"] == expected["mailboxes"]
