"""The end-to-end harness itself: private Dovecot, corpus, `doveadm import`, snapshots."""

from __future__ import annotations

import imaplib
import itertools
from pathlib import Path
from typing import Any

import pytest
from corpus import filename_sort_key, make_corpus, tree_fingerprint
from dovecot import DovecotServer, SnapshotMessage, parse_fetch_output

_names = (f"harness{i}" for i in itertools.count())


def _expected(folders: dict[str, Any], parent: str) -> dict[str, list[SnapshotMessage]]:
    """What Dovecot should show after importing a corpus user (CRLF stored as LF)."""
    prefix = f"{parent}." if parent else ""
    return {
        prefix + name: [
            SnapshotMessage(m["flags"], m["received"], m["size_lf"], m["sha256_lf"])
            for m in folder["messages"]
        ]
        for name, folder in folders.items()
        if folder["count"]
    }


def _with_ancestors(names: list[str]) -> list[str]:
    out: set[str] = set()
    for name in names:
        parts = name.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(out)


def test_corpus_covers_the_awkward_cases(tmp_path: Path) -> None:
    manifest = make_corpus(tmp_path, ["a", "b"])
    folders = manifest["a"]["folders"]
    maildir = manifest["a"]["maildir"]
    assert (maildir / ".Entw&APw-rfe" / "cur").is_dir()
    assert (maildir / ".&ZeVnLIqe-").is_dir()
    assert (maildir / ".&2D3c5g- Boxes").is_dir()
    assert (maildir / ".Lonely.Child").is_dir() and not (maildir / ".Lonely").exists()
    assert folders["Empty"]["count"] == 0
    files = [m["file"] for f in folders.values() for m in f["messages"]]
    letters = {name.partition(":2,")[2].rstrip("abcz") for name in files if ":2," in name}
    assert len({"".join(sorted(x)) for x in letters}) == 32
    assert any(f.startswith("new/") and ":2,S" in f for f in files)
    assert any(f.startswith("new/") and ":2," not in f for f in files)
    keywords = {
        kw
        for f in folders.values()
        for m in f["messages"]
        for kw in m["flags"]
        if not kw.startswith("\\")
    }
    assert keywords >= {"$Junk", "$Forwarded", "project-x"}
    assert len({tuple(sorted(f["keywords"].items())) for f in folders.values()}) > 2
    for name, folder in folders.items():
        bases = [m["file"].split("/")[1].partition(":")[0] for m in folder["messages"]]
        in_name_order = bases == sorted(bases, key=filename_sort_key)
        assert in_name_order != folder["uidlist"], name
        assert (maildir / folder["dir"] / "dovecot-uidlist").exists() == folder["uidlist"]
    inbox = folders["INBOX"]["messages"]
    assert len({m["sha256"] for m in inbox}) == len(inbox) - 1
    assert sum(m["size"] != m["size_lf"] for f in folders.values() for m in f["messages"]) == 1
    received = [m["received"] for m in folders["Archive"]["messages"]]
    assert received != sorted(received)
    assert (maildir / "subscriptions").read_bytes().startswith(b"V\t2\n\n")
    assert make_corpus(tmp_path / "again", ["a"])["a"]["folders"] == folders  # deterministic


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (b"", {}),
        (
            (
                b"mailbox: A\nuid: 2\nflags: \\Recent $Junk \\Seen\ndate.received.unixtime: 0\n"
                b"text:\nx\r\n\f\nmailbox: A\nuid: 3\nflags: \ndate.received.unixtime: 1\n"
                b"text:\ny"
            ),
            {"A": [(2, (("$Junk", "\\Seen"), 0, b"x\r\n")), (3, ((), 1, b"y"))]},
        ),
    ],
)
def test_parse_fetch_output(output: bytes, expected: dict[str, Any]) -> None:
    got = parse_fetch_output(output)
    assert {
        box: [(uid, (m.flags, int(m.received.timestamp()), m.size)) for uid, m in rows]
        for box, rows in got.items()
    } == {
        box: [(uid, (flags, ts, len(text))) for uid, (flags, ts, text) in rows]
        for box, rows in expected.items()
    }


def test_parse_fetch_output_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_fetch_output(b"uid: 1\n")


@pytest.mark.dovecot
def test_imap_login(dovecot: DovecotServer) -> None:
    user = dovecot.add_user(next(_names), password="s3cret")
    imap = imaplib.IMAP4("127.0.0.1", dovecot.imap_port)
    try:
        assert imap.login(user.name, "s3cret")[0] == "OK"
        assert imap.select("INBOX")[0] == "OK"
    finally:
        imap.logout()


@pytest.mark.dovecot
def test_doveadm_import_snapshot(dovecot: DovecotServer, tmp_path: Path) -> None:
    src_user, dst_user = dovecot.add_user(next(_names)), dovecot.add_user(next(_names))
    manifest = make_corpus(tmp_path, [src_user.name])[src_user.name]
    folders = manifest["folders"]

    dovecot.import_(
        dst_user.name, f"maildir:{dovecot.copy_for(dst_user.name, manifest['maildir'])}", ""
    )
    dovecot.import_(
        dst_user.name,
        f"maildir:{dovecot.copy_for(dst_user.name, manifest['maildir'])}",
        "Restored",
        "ALL",
        subscribe=True,
    )

    snap = dovecot.snapshot(dst_user.name)
    expected = {**_expected(folders, ""), **_expected(folders, "Restored")}
    assert snap["mailboxes"] == dict(sorted(expected.items()))
    assert "Empty" not in snap["mailboxes"] and "Restored.INBOX" in snap["mailboxes"]
    assert snap["listed"] == _with_ancestors(list(expected))
    assert "Restored" in snap["listed"] and "Restored.Lonely" in snap["listed"]
    assert snap["subscriptions"] == sorted(n for n in expected if n.startswith("Restored."))
    counts = {name: len(msgs) for name, msgs in snap["mailboxes"].items()}
    assert counts["INBOX"] == counts["Restored.INBOX"] == folders["INBOX"]["count"]
    assert counts["Restored.Entwürfe"] == folders["Entwürfe"]["count"]


@pytest.mark.dovecot
def test_import_from_copy_leaves_source_unchanged(dovecot: DovecotServer, tmp_path: Path) -> None:
    user = dovecot.add_user(next(_names))
    maildir = make_corpus(tmp_path, [user.name])[user.name]["maildir"]
    before = tree_fingerprint(maildir)
    copy = dovecot.copy_for(user.name, maildir)
    assert tree_fingerprint(copy) == before

    dovecot.import_(user.name, f"maildir:{copy}", "")

    assert tree_fingerprint(maildir) == before
    assert tree_fingerprint(copy) != before  # doveadm writes into its source: hence the copy
