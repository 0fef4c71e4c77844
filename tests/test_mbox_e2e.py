"""End-to-end: ``mailbeam import`` from mbox sources against the real ``doveadm import``.

Each test imports one mbox tree twice: with ``doveadm import`` from a *copy* (Dovecot writes
index files into its source) into a reference user, and with ``mailbeam import`` from the tree
itself into another user; then compares what Dovecot sees in both (names, order, flags with
keywords, received dates, exact bytes).  The tree must be unchanged afterwards, and a second
mailbeam run must write nothing.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from corpus import make_corpus, tree_fingerprint
from dovecot import DovecotServer
from dovecot_sources import dovecot_source
from mailbeam_cli import mailbeam

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

_ids = itertools.count()


def _location(root: Path) -> str:
    return f"mbox:{root}:INBOX={root}/inbox"


def _compare(dovecot: DovecotServer, root: Path, state: Path,
             query: tuple[str, ...] = ("ALL",)) -> dict[str, Any]:
    """Import ``root`` both ways, check everything, return the reference snapshot."""
    ref = dovecot.add_user(f"mboxref{next(_ids)}")
    copy = dovecot.copy_for(ref.name, root)
    dovecot.import_(ref.name, _location(copy), "", *query)
    expected = dovecot.snapshot(ref.name)

    user = dovecot.add_user(f"mboxmb{next(_ids)}")
    before = tree_fingerprint(root)
    args = ["import", "--userdb", f"passwd-file:{dovecot.passwd_file}", "-u", user.name,
            "--state-dir", str(state), "--progress", "none", _location(root), "", *query]
    first = mailbeam(*args)
    assert first.returncode == 0, first.stderr
    assert tree_fingerprint(root) == before, "the source was modified"
    written = tree_fingerprint(user.maildir)
    second = mailbeam(*args)
    assert second.returncode == 0, second.stderr
    assert tree_fingerprint(user.maildir) == written, "the second run wrote something"

    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"]
    assert got["listed"] == expected["listed"]
    assert tree_fingerprint(root) == before
    return expected


def test_dovecot_written_mbox(dovecot: DovecotServer, tmp_path: Path) -> None:
    """A corpus that Dovecot wrote as mbox, flags and keywords changed afterwards."""
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=23)
    source = dovecot_source(dovecot, "mbox", corpus["owner"]["maildir"])
    expected = _compare(dovecot, source.root, tmp_path / "state")
    assert {"INBOX", "Archive", "Lonely.Child", "Entwürfe"} <= set(expected["mailboxes"])
    inbox = expected["mailboxes"]["INBOX"]
    assert "\\Flagged" in inbox[0].flags and "$Later" in inbox[0].flags


@pytest.mark.parametrize("append", [False, True], ids=["unchanged", "mail-appended-later"])
def test_flags_kept_only_in_the_index(dovecot: DovecotServer, tmp_path: Path,
                                      append: bool) -> None:
    """Flag changes Dovecot could not write into the mbox file live only in the index.

    The file is read-only to Dovecot, so ``doveadm flags`` records the changes in
    ``.imap/INBOX/dovecot.index.log`` only (as lazy writes do until a write sync); with
    ``append``, a message is then delivered to the file behind Dovecot's back, so the file no
    longer matches the index and Dovecot resyncs it.
    """
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=29)
    source = dovecot_source(dovecot, "mbox", corpus["owner"]["maildir"])
    inbox = source.root / "inbox"
    inbox.chmod(0o444)
    source.doveadm(dovecot, "flags add", "\\Seen $Later", "mailbox", "INBOX", "3:5")
    source.doveadm(dovecot, "flags remove", "\\Flagged", "mailbox", "INBOX", "1")
    inbox.chmod(0o600)
    if append:
        with open(inbox, "ab") as f:
            f.write(b"\nFrom late@example.org Mon Jan  1 00:00:00 2024\nSubject: late\n\nhi\n")
    assert b"\\Seen" not in inbox.read_bytes()
    expected = _compare(dovecot, source.root, tmp_path / "state")
    assert "\\Seen" in expected["mailboxes"]["INBOX"][2].flags


def _message(subject: str, body: bytes = b"body\n", headers: bytes = b"") -> bytes:
    return b"Subject: " + subject.encode() + b"\n" + headers + b"\n" + body


HANDMADE = {
    # a From line in a body that is not a valid From_ line stays content; >From stays
    "inbox": (
        b"From a@example.org Tue Jan  2 11:00:00 2024 +0300\n"
        + _message("one", b"From here on it is body\n>From quoted\n\nFrom nobody\n")
        + b"\nFrom b@example.org Wed Feb  7 09:08:07 2018\n"
        + _message("two", b"last\n")
    ),
    # Content-Length protects a valid From_ line in the body; a wrong one is ignored
    "content-length": (
        b"From a@b Sat Mar  2 01:02:03 2019\n"
        + _message("cl-valid", b"x\n\nFrom c@d Sat Mar  2 01:02:03 2019\ny\n",
                   b"Content-Length: 39\n")
        + b"\nFrom a@b Sun Mar  3 01:02:03 2019\n"
        + _message("cl-too-long", b"short\n", b"Content-Length: 999\n")
        + b"\nFrom a@b Mon Mar  4 01:02:03 2019\n"
        + _message("cl-too-short", b"0123456789\n", b"Content-Length: 3\n")
    ),
    # CRLF throughout, and a message without final newline
    "crlf": (
        b"From a@b Thu, 9 Nov 2002 22:33:52\r\nSubject: crlf\r\nX-Status: F\r\n\r\nline\r\n"
        b"\r\nFrom a@b Fri Nov 10 22:33 2002\r\nSubject: crlf2\r\n\r\nend"
    ),
    "empty": b"",
    "no-final-newline": b"From a@b Mon Jun  3 04:05:06 2013\nSubject: nonl\n\nno newline",
    # metadata headers, keywords declared in X-IMAPbase, X-UID rules, zones
    "metadata": (
        b"From a@b Mon Jun  3 04:05:06 2013 +0530\n"
        b"Subject: m1\nX-IMAPbase: 1700000000 0000000010 $Later Work\nX-UID: 5\n"
        b"Status: RO\nX-Status: AF\nX-Keywords: $Later\nContent-Length: 3\n\nm1\n"
        b"\nFrom a@b Tue Jun  4 04:05:06 PDT 2013\n"
        b"Subject: m2\nX-UID: 4\nStatus: O\nX-Keywords: Work Unknown\n\nm2 broken uid\n"
        b"\nFrom a@b Wed Jun  5 04:05:06 2013 -0800\n"
        b"Subject: m3\nx-uid: 7\nstatus: R\nX-Status: TD\nX-Keywords: Work  $Later\n"
        b"\tcontinued-value\n\nm3\n"
        b"\nFrom \"quoted sender\"@b Thu Jun  6 04:05:06 2013\n"
        b"Subject: m4\nX-UID: 99\nX-Keywords: Work\nX-IMAPbase: 1 0000000001\n\nm4\n"
    ),
    "pseudo": (
        b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\nSubject: DON'T DELETE THIS MESSAGE"
        b" -- FOLDER INTERNAL DATA\nX-IMAP: 1700000000 0000000003 Foo\nStatus: RO\n\n"
        b"This text is part of the internal format of your mail folder.\n"
        b"\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: real\nX-UID: 2\nX-Keywords: Foo\n\nreal\n"
    ),
    "Entw&APw-rfe": b"From a@b Mon Jan  1 00:00:00 2024\nSubject: draft\n\nd\n",
    "Lists/dovecot": b"From a@b Mon Jan  1 00:00:00 2024\nSubject: nested\n\nn\n",
}


def test_handmade_mbox_files(dovecot: DovecotServer, tmp_path: Path) -> None:
    root = tmp_path / "mail"
    for rel, data in HANDMADE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / ".subscriptions").write_bytes(b"V\t2\n\nLists\tdovecot\n")
    (root / "inbox.lock").write_bytes(b"")
    expected = _compare(dovecot, root, tmp_path / "state")
    assert len(expected["mailboxes"]["content-length"]) == 3
    assert len(expected["mailboxes"]["INBOX"]) == 2
    assert "Lists.dovecot" in expected["mailboxes"]


def test_recent_query(dovecot: DovecotServer, tmp_path: Path) -> None:
    """RECENT on a fresh copy: messages after the last one with ``Status: O`` [obs 2.3.19]."""
    root = tmp_path / "mail"
    root.mkdir()
    head = b"From a@b Mon Jan  1 00:00:00 2024\n"
    (root / "inbox").write_bytes(head + b"Subject: 1\nStatus:\n\n1\n\n" + head
                                 + b"Subject: 2\nStatus: O\n\n2\n\n" + head
                                 + b"Subject: 3\nStatus: R\n\n3\n\n" + head + b"Subject: 4\n\n4\n")
    (root / "Old").write_bytes(head + b"Subject: old\nStatus: RO\n\nold\n")
    expected = _compare(dovecot, root, tmp_path / "state", ("RECENT",))
    assert [len(v) for v in expected["mailboxes"].values()] == [2]


def _set_header(data: bytes, uid: int, name: bytes, value: bytes, *, pad: bool = False) -> bytes:
    """``data`` with the ``name:`` line of the message whose ``X-UID`` is ``uid`` replaced, or
    added after X-UID (Dovecot writes Status, X-Status and X-Keywords after X-UID); ``pad``
    fills the new value with spaces to the old one's length."""
    start = data.index(b"\nX-UID: %d\n" % uid)
    end = data.index(b"\n\n", start)
    line = data.find(b"\n" + name + b": ", start, end) + 1
    if line == 0:
        line = line_end = start + len(b"\nX-UID: %d\n" % uid)
        value += b"\n"
    else:
        line_end = data.index(b"\n", line)
        if pad:
            value = value.ljust(line_end - line - len(name) - 2)
    return data[:line] + name + b": " + value + data[line_end:]


@pytest.mark.parametrize("same_stat", [False, True], ids=["file-changed", "same-size-and-mtime"])
def test_file_edited_after_dovecot_synced(dovecot: DovecotServer, tmp_path: Path,
                                          same_stat: bool) -> None:
    """Another MUA rewrote Status/X-Status/X-Keywords after Dovecot's last sync.

    The index still has the old flags, but only message 2's record is DIRTY (changed by
    ``doveadm flags`` on a read-only file).  Dovecot's sync prefers the file's headers except
    for dirty records (``mbox_sync_update_flags``).  With the file's size and mtime unchanged
    ``doveadm import`` still reads it: the GUID of the first message forces a full resync.
    """
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=31)
    source = dovecot_source(dovecot, "mbox", corpus["owner"]["maildir"], change_flags=False)
    inbox = source.root / "inbox"
    inbox.chmod(0o444)
    source.doveadm(dovecot, "flags add", "\\Flagged $Later", "mailbox", "INBOX", "2")
    inbox.chmod(0o600)
    data = inbox.read_bytes()
    st = inbox.stat()
    if same_stat:
        edited = _set_header(data, 4, b"X-Status", b"A", pad=True)
        edited = _set_header(edited, 2, b"X-Keywords", b"$Junk", pad=True)
    else:
        edited = _set_header(data, 1, b"X-Status", b"AF")
        edited = _set_header(edited, 4, b"Status", b"R")
        edited = _set_header(edited, 4, b"X-Status", b"D")
        edited = _set_header(edited, 5, b"X-Keywords", b"$Forwarded")
        edited = _set_header(edited, 2, b"X-Status", b"D")
        edited = _set_header(edited, 2, b"X-Keywords", b"")
    assert (len(edited) == len(data)) == same_stat
    inbox.write_bytes(edited)
    if same_stat:
        os.utime(inbox, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        os.utime(inbox, (st.st_atime + 5, st.st_mtime + 5))

    expected = _compare(dovecot, source.root, tmp_path / "state")
    flags = [set(m.flags) - {"\\Recent"} for m in expected["mailboxes"]["INBOX"][:5]]
    # message 2 is dirty: the index's flags and keywords, whatever its headers say now
    assert {"\\Flagged", "$Later"} <= flags[1] and "\\Deleted" not in flags[1]
    if same_stat:
        assert "\\Answered" in flags[3] and "\\Draft" not in flags[3]
    else:
        assert {"\\Answered", "\\Flagged"} <= flags[0]
        assert flags[3] == {"\\Seen", "\\Deleted"}
        assert "project-x" not in flags[4] and "$Forwarded" in flags[4]
