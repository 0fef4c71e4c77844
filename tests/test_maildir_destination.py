"""MaildirDestination: deterministic names, idempotency, placement, keywords, dates, ownership."""

from __future__ import annotations

import os

import pytest

from mailstore.driver import SaveRequest
from mailstore.errors import Kind, MailstoreError
from mailstore.location import MailLocation
from mailstore.maildir.destination import MaildirDestination, message_stem
from mailstore.maildir.filename import filename_sort_key
from mailstore.maildir.source import MaildirSource
from mailstore.userdb import User

EPOCH = 1700000000
USER = User("alice")


def _loc(path, **settings) -> MailLocation:
    return MailLocation("maildir", str(path), tuple(sorted(settings.items())))


def _req(save_id, ordinal, body=b"Subject: x\n\nbody\n", flags=(), keywords=(), date=1600000000):
    return SaveRequest(save_id, ordinal, body, frozenset(flags), tuple(keywords), date)


def _files(path):
    return sorted(
        os.path.relpath(os.path.join(d, f), path)
        for sub in ("cur", "new", "tmp")
        for d, _, fs in os.walk(os.path.join(path, sub))
        for f in fs
    )


@pytest.fixture
def dest(tmp_path):
    d = MaildirDestination(_loc(tmp_path / "Maildir"), USER, EPOCH)
    d.create_mailbox(("INBOX",))
    return d


def test_separator_follows_layout(tmp_path):
    assert MaildirDestination(_loc(tmp_path), USER, EPOCH).separator == "."
    assert (
        MaildirDestination(_loc(tmp_path, mailbox_list_layout="fs"), USER, EPOCH).separator == "/"
    )


def test_create_mailbox_plusplus(tmp_path):
    root = tmp_path / "Maildir"
    d = MaildirDestination(_loc(root), USER, EPOCH)
    assert d.create_mailbox(("INBOX",)) is True
    assert d.create_mailbox(("inbox",)) is False
    assert d.create_mailbox(("A", "B")) is True
    assert d.create_mailbox(("A", "B")) is False
    assert d.create_mailbox(("Entwürfe",)) is True
    for sub in ("cur", "new", "tmp"):
        assert (root / sub).is_dir() and (root / ".A.B" / sub).is_dir()
    assert (root / ".A.B" / "maildirfolder").read_bytes() == b""
    assert not (root / "maildirfolder").exists()
    assert not (root / ".A").exists()  # parents are not mailboxes in Maildir++
    assert (root / ".Entw&APw-rfe" / "cur").is_dir()


def test_create_mailbox_fs(tmp_path):
    root = tmp_path / "Maildir"
    d = MaildirDestination(_loc(root, mailbox_list_layout="fs"), USER, EPOCH)
    assert d.create_mailbox(("A", "B")) is True
    assert (root / "A" / "B" / "cur").is_dir()
    assert not (root / "A" / "cur").exists()  # A is \NoSelect
    assert not (root / "A" / "B" / "maildirfolder").exists()
    assert d.create_mailbox(("A", "B")) is False


@pytest.mark.parametrize(
    ("layout", "name", "message"),
    [
        ("maildir++", ("a.b",), "Character not allowed in mailbox name: '.'"),
        ("maildir++", ("x", ""), "empty hierarchy level"),
        ("fs", ("a/b",), "Character not allowed in mailbox name: '/'"),
        ("fs", ("tmp",), "reserved"),
    ],
)
def test_invalid_names_rejected(tmp_path, layout, name, message):
    d = MaildirDestination(_loc(tmp_path, mailbox_list_layout=layout), USER, EPOCH)
    with pytest.raises(MailstoreError, match=message) as err:
        d.create_mailbox(name)
    assert err.value.kind is Kind.PARAMS
    assert not any(tmp_path.iterdir())


def test_names_and_placement(dest, tmp_path):
    root = tmp_path / "Maildir"
    results = dest.save_batch(
        ("INBOX",),
        [
            _req("plain", 0, b"a\n"),
            _req("seen", 1, b"b\r\n", flags={"\\Seen", "\\Recent"}),
            _req("kw", 2, b"c\nd\n", keywords=["$Junk"]),
            _req("all", 3, flags={"\\Draft", "\\Deleted", "\\Answered", "\\Flagged", "\\Seen"}),
        ],
    )
    assert [r.status for r in results] == ["written"] * 4
    assert [r.dest_name for r in results] == [
        f"new/{EPOCH}.M0Pplain.mailbeam,S=2,W=3",
        f"cur/{EPOCH}.M1Pseen.mailbeam,S=2,W=3:2,S",
        f"cur/{EPOCH}.M2Pkw.mailbeam,S=4,W=6:2,a",
        f"cur/{EPOCH}.M3Pall.mailbeam,S=17,W=20:2,DFRST",
    ]
    assert _files(root) == sorted(r.dest_name for r in results)  # tmp/ is empty again
    assert (root / results[0].dest_name).read_bytes() == b"a\n"
    # CRLF is stored as LF, as Dovecot stores what it saves.
    assert (root / results[1].dest_name).read_bytes() == b"b\n"


def test_save_twice_is_idempotent(dest, tmp_path):
    batch = [_req("m1", 0, flags={"\\Seen"}), _req("m2", 1), _req("m3", 2, keywords=["k"])]
    first = dest.save_batch(("INBOX",), batch)
    second = dest.save_batch(("INBOX",), batch)
    assert [r.status for r in first] == ["written"] * 3
    assert [r.status for r in second] == ["existed"] * 3
    assert [r.dest_name for r in second] == [r.dest_name for r in first]
    assert len(_files(tmp_path / "Maildir")) == 3


def test_existing_name_with_other_flags_counts(dest, tmp_path):
    (result,) = dest.save_batch(("INBOX",), [_req("m1", 0)])
    root = tmp_path / "Maildir"
    os.rename(
        root / result.dest_name, root / "cur" / (os.path.basename(result.dest_name) + ":2,RS")
    )
    (again,) = dest.save_batch(("INBOX",), [_req("m1", 0)])
    assert again.status == "existed"
    assert len(_files(root)) == 1


def test_final_name_appearing_meanwhile_is_success(dest, tmp_path):
    req = _req("m1", 0)
    stem = message_stem(EPOCH, 0, "m1") + ",S=17,W=20"
    root = tmp_path / "Maildir"

    class Racing(MaildirDestination):
        def _rename(self, mailbox_dir, pending, results):
            (root / "new" / stem).write_bytes(req.body)  # another worker won the race
            super()._rename(mailbox_dir, pending, results)

    racing = Racing(_loc(root), USER, EPOCH)
    (result,) = racing.save_batch(("INBOX",), [req])
    assert result.status == "existed"
    assert _files(root) == [f"new/{stem}"]


def test_mtime_is_received_date(dest, tmp_path):
    results = dest.save_batch(
        ("INBOX",), [_req("a", 0, date=1234567890), _req("b", 1, flags={"\\Seen"}, date=86400)]
    )
    root = tmp_path / "Maildir"
    assert os.stat(root / results[0].dest_name).st_mtime == 1234567890
    assert os.stat(root / results[1].dest_name).st_mtime == 86400


def test_keywords_merge_with_existing_file(dest, tmp_path):
    root = tmp_path / "Maildir"
    (root / "dovecot-keywords").write_bytes(b"0 $Junk\n2 old\n")
    results = dest.save_batch(
        ("INBOX",),
        [_req("a", 0, keywords=["new", "$junk"]), _req("b", 1, keywords=["old", "other"])],
    )
    assert results[0].dest_name.endswith(":2,ab")
    assert results[1].dest_name.endswith(":2,cd")
    assert (root / "dovecot-keywords").read_bytes() == b"0 $Junk\n1 new\n2 old\n3 other\n"
    source = MaildirSource(_loc(root), USER)
    metas = list(source.iter_messages(source.list_folders()[0]))
    assert [m.keywords for m in metas] == [("$Junk", "new"), ("old", "other")]


def test_keywords_beyond_26_refused(dest, tmp_path):
    root = tmp_path / "Maildir"
    (root / "dovecot-keywords").write_text("".join(f"{i} k{i}\n" for i in range(26)))
    (result,) = dest.save_batch(("INBOX",), [_req("a", 0, keywords=["k1", "extra"])])
    assert result.status == "written"
    assert result.refused_keywords == ("extra",)
    assert result.dest_name.endswith(":2,b")


def test_only_refused_keywords_goes_to_new(dest, tmp_path):
    (result,) = dest.save_batch(("INBOX",), [_req("a", 0, keywords=["bad word"])])
    assert result.dest_name.startswith("new/") and ":" not in result.dest_name
    assert result.refused_keywords == ("bad word",)


def test_bad_save_id_fails_alone(dest, tmp_path):
    results = dest.save_batch(("INBOX",), [_req("bad/id", 0), _req("good", 1)])
    assert [r.status for r in results] == ["failed", "written"]
    assert "save id" in results[0].reason


def test_rename_failure_removes_tmp(dest, tmp_path, monkeypatch):
    real_link = os.link

    def link(src, dst, *a, **k):
        if "Pbad" in dst:
            raise OSError(28, "No space left on device")
        return real_link(src, dst, *a, **k)

    monkeypatch.setattr(os, "link", link)
    results = dest.save_batch(("INBOX",), [_req("bad", 0), _req("good", 1)])
    assert [r.status for r in results] == ["failed", "written"]
    assert "No space left" in results[0].reason
    assert os.listdir(tmp_path / "Maildir" / "tmp") == []


def test_missing_mailbox(tmp_path):
    d = MaildirDestination(_loc(tmp_path / "M"), USER, EPOCH)
    with pytest.raises(MailstoreError) as err:
        d.save_batch(("Nope",), [_req("a", 0)])
    assert err.value.kind is Kind.NOTFOUND


def test_names_sort_in_ordinal_order(dest):
    ordinals = [0, 1, 2, 9, 10, 11, 99, 100, 12345]
    results = dest.save_batch(("INBOX",), [_req(f"id{o}", o) for o in reversed(ordinals)])
    names = [os.path.basename(r.dest_name) for r in results]
    assert sorted(names, key=filename_sort_key) == list(reversed(names))


def test_round_trip_through_source(dest, tmp_path):
    batch = [
        _req("a", 0, b"one\n", flags={"\\Seen", "\\Answered"}, keywords=["$Label1"], date=1000),
        _req("b", 1, b"two\r\n", date=2000),
    ]
    dest.save_batch(("INBOX",), batch)
    source = MaildirSource(_loc(tmp_path / "Maildir"), USER)
    folder = source.list_folders()[0]
    metas = list(source.iter_messages(folder))
    assert [(m.flags, m.keywords, m.received_date) for m in metas] == [
        ({"\\Seen", "\\Answered"}, ("$Label1",), 1000),
        (frozenset(), (), 2000),
    ]
    assert [source.read_message(folder, m) for m in metas] == [b"one\n", b"two\n"]  # stored as LF


def test_subscribe(tmp_path):
    root = tmp_path / "M"
    d = MaildirDestination(_loc(root), USER, EPOCH)
    d.subscribe([("INBOX",), ("Entwürfe", "x")])
    d.subscribe([("Entwürfe", "x"), ("Other",)])
    assert (root / "subscriptions").read_bytes() == b"V\t2\n\nINBOX\nEntw&APw-rfe\tx\nOther\n"


def test_subscribe_control_dir(tmp_path):
    d = MaildirDestination(_loc(tmp_path / "M", mail_control_path=str(tmp_path / "c")), USER, EPOCH)
    d.subscribe([("A",)])
    assert (tmp_path / "c" / "subscriptions").read_bytes() == b"V\t2\n\nA\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_chown_when_root(tmp_path):
    root = tmp_path / "M"
    d = MaildirDestination(_loc(root), User("bob", uid=12345, gid=23456), EPOCH)
    d.create_mailbox(("INBOX",))
    d.create_mailbox(("Box",))
    d.subscribe([("Box",)])
    (result,) = d.save_batch(("Box",), [_req("a", 0, keywords=["k"])])
    for path in (
        root,
        root / "cur",
        root / ".Box",
        root / ".Box" / "tmp",
        root / ".Box" / "maildirfolder",
        root / ".Box" / "dovecot-keywords",
        root / ".Box" / result.dest_name,
        root / "subscriptions",
    ):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (12345, 23456), path


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_ownership_repaired_after_a_kill_between_mkdir_and_chown(tmp_path):
    """A run killed right after mkdir left root-owned mailbox directories: the re-run gives them
    to the user, or Dovecot (running as the user) could not open the mailbox."""
    root = tmp_path / "M"
    for sub in ("cur", "new", "tmp"):
        (root / ".Box" / sub).mkdir(parents=True)
    d = MaildirDestination(_loc(root), User("bob", uid=12345, gid=23456), EPOCH)
    assert d.create_mailbox(("Box",)) is False
    for path in (root / ".Box", root / ".Box" / "cur", root / ".Box" / "maildirfolder"):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (12345, 23456), path
