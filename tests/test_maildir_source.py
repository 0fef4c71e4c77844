"""MaildirSource: listing, UID order, metadata, reading, and leaving the source untouched."""

from __future__ import annotations

import hashlib
import os

import pytest

from mailstore.driver import Capability, Folder, MessageMeta
from mailstore.errors import Kind, MailstoreError
from mailstore.location import MailLocation
from mailstore.maildir.source import MaildirSource
from mailstore.userdb import User

USER = User("alice")


def _loc(path, **settings) -> MailLocation:
    return MailLocation("maildir", str(path), tuple(sorted(settings.items())))


def _put(directory, name, body=b"x\n", mtime=None):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(body)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _maildir(path):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


@pytest.fixture
def inbox(tmp_path):
    root = tmp_path / "Maildir"
    _maildir(root)
    return root


def _inbox_folder(source) -> Folder:
    return source.list_folders()[0]


def test_capabilities(inbox):
    caps = MaildirSource(_loc(inbox), USER).capabilities
    assert Capability.FILE_PER_MSG in caps and Capability.SUBSCRIPTIONS in caps
    assert Capability.HAVE_UIDS in caps and Capability.HAVE_GUIDS in caps
    assert Capability.FLAGS_IN_INDEX not in caps


def test_missing_root(tmp_path):
    source = MaildirSource(_loc(tmp_path / "x"), USER)
    with pytest.raises(MailstoreError) as err:
        source.list_folders()
    assert err.value.kind is Kind.NOTFOUND
    assert str(err.value) == (
        f"mail location maildir:{tmp_path}/x: directory {tmp_path}/x does not exist"
    )


def test_order_without_uidlist(inbox):
    names = ["1000.M20P1.h", "1000.M3P1.h", "999.M99P1.h", "1000.M3P1.g:2,S"]
    for i, name in enumerate(names):
        _put(inbox / ("cur" if ":" in name else "new"), name, mtime=100 + i)
    _put(inbox / "tmp", "1.M1P1.h")  # tmp/ is ignored
    _put(inbox / "new", ".hidden")  # dotfiles are ignored
    source = MaildirSource(_loc(inbox), USER)
    metas = list(source.iter_messages(_inbox_folder(source)))
    assert [m.source_key for m in metas] == [
        "999.M99P1.h",
        "1000.M3P1.g",
        "1000.M3P1.h",
        "1000.M20P1.h",
    ]
    assert [m.position for m in metas] == [0, 1, 2, 3]
    assert [m.uid for m in metas] == [1, 2, 3, 4]  # what Dovecot assigns on its first sync


def test_order_with_uidlist(inbox):
    # UIDs disagree with file name order; old-style record with :2, flags; a lingering record.
    _put(inbox / "cur", "3.M1P1.h:2,S")
    _put(inbox / "cur", "1.M1P1.h,S=2:2,")
    _put(inbox / "new", "2.M1P1.h")
    _put(inbox / "new", "0.M5P1.h")  # not in the uidlist: comes after listed ones
    _put(inbox / "new", "0.M4P1.h")
    (inbox / "dovecot-uidlist").write_text(
        "3 V1 N20 G71e6280da7170b6be528000083ecc375\n"
        "4 :3.M1P1.h\n"
        "7 Gguid-of-2 :2.M1P1.h\n"
        "8 :gone.M1P1.h\n"
        "9 :1.M1P1.h,S=2:2,RS\n"
    )
    source = MaildirSource(_loc(inbox), USER)
    metas = list(source.iter_messages(_inbox_folder(source)))
    assert [(m.source_key, m.uid) for m in metas] == [
        ("3.M1P1.h", 4),
        ("2.M1P1.h", 7),
        ("1.M1P1.h,S=2", 9),
        ("0.M4P1.h", 20),  # unlisted files continue from the header's N20
        ("0.M5P1.h", 21),
    ]
    assert [m.guid for m in metas] == [
        "3.M1P1.h",
        "guid-of-2",
        "1.M1P1.h,S=2",
        "0.M4P1.h",
        "0.M5P1.h",
    ]


# (uidlist text, UIDs of the files 1000.M1.a, 1000.M2.b, 999.M5.z, 1000.M3.n, 1000.M10.d,
# 1001.M0.c in UID order) -- each row observed with ``doveadm fetch 'uid guid' all`` on 2.3.19
UNLISTED_UIDS = [
    pytest.param(
        "3 V123 N10 G0123456789abcdef0123456789abcdef\n1 :1000.M1.a\n2 :1000.M2.b\n",
        [("1000.M1.a", 1), ("1000.M2.b", 2), ("999.M5.z", 10), ("1000.M3.n", 11),
         ("1000.M10.d", 12), ("1001.M0.c", 13)],
        id="header-N-ahead",
    ),
    pytest.param(
        "3 V123 N2 G0123456789abcdef0123456789abcdef\n1 :1000.M1.a\n5 :1000.M2.b\n",
        [("1000.M1.a", 1), ("1000.M2.b", 5), ("999.M5.z", 6), ("1000.M3.n", 7),
         ("1000.M10.d", 8), ("1001.M0.c", 9)],
        id="stale-header-N",
    ),
    pytest.param(
        "3 V123 N2 G0123456789abcdef0123456789abcdef\n1 :1000.M1.a\n5 :1000.M2.gone\n",
        [("1000.M1.a", 1), ("999.M5.z", 6), ("1000.M2.b", 7), ("1000.M3.n", 8),
         ("1000.M10.d", 9), ("1001.M0.c", 10)],
        id="lingering-record-counts",
    ),
    pytest.param(
        "3 V123 N3 G0123456789abcdef0123456789abcdef\n",
        [("999.M5.z", 3), ("1000.M1.a", 4), ("1000.M2.b", 5), ("1000.M3.n", 6),
         ("1000.M10.d", 7), ("1001.M0.c", 8)],
        id="no-records",
    ),
    pytest.param(
        "1 123 7\n2 1000.M1.a:2,S\n",
        [("1000.M1.a", 2), ("999.M5.z", 7), ("1000.M2.b", 8), ("1000.M3.n", 9),
         ("1000.M10.d", 10), ("1001.M0.c", 11)],
        id="version-1",
    ),
    pytest.param(
        None,
        [("999.M5.z", 1), ("1000.M1.a", 2), ("1000.M2.b", 3), ("1000.M3.n", 4),
         ("1000.M10.d", 5), ("1001.M0.c", 6)],
        id="no-uidlist",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("uidlist", "expected"), UNLISTED_UIDS)
def test_uids_of_unlisted_files(inbox, uidlist, expected):
    for name in ["1000.M1.a", "1000.M2.b", "999.M5.z", "1001.M0.c", "1000.M10.d"]:
        _put(inbox / "cur", f"{name}:2,S")
    _put(inbox / "new", "1000.M3.n")
    if uidlist is not None:
        (inbox / "dovecot-uidlist").write_text(uidlist)
    source = MaildirSource(_loc(inbox), USER)
    metas = list(source.iter_messages(_inbox_folder(source)))
    assert [(m.source_key, m.uid) for m in metas] == expected
    assert [m.position for m in metas] == list(range(len(expected)))
    # \Recent for doveadm: exactly the files the uidlist lacks
    text = uidlist or ""
    unlisted = [uid for key, uid in expected if f":{key}" not in text and f" {key}" not in text]
    assert [m.uid for m in metas if m.recent] == unlisted


def test_uidlist_in_control_dir(tmp_path):
    root, ctl = tmp_path / "M", tmp_path / "ctl"
    _maildir(root / ".Foo")
    _maildir(root)
    _put(root / ".Foo" / "cur", "2.M1P1.h:2,a")
    _put(root / ".Foo" / "cur", "1.M1P1.h")
    _put(ctl / ".Foo", "dovecot-uidlist", b"3 V1 N3\n1 :2.M1P1.h\n2 :1.M1P1.h\n")
    _put(ctl / ".Foo", "dovecot-keywords", b"0 $Junk\n")
    (root / ".Foo" / "dovecot-uidlist").write_text("3 V1 N3\n1 :1.M1P1.h\n")  # not used
    source = MaildirSource(_loc(root, mail_control_path=str(ctl)), USER)
    foo = next(f for f in source.list_folders() if f.name == ("Foo",))
    metas = list(source.iter_messages(foo))
    assert [(m.source_key, m.uid, m.keywords) for m in metas] == [
        ("2.M1P1.h", 1, ("$Junk",)),
        ("1.M1P1.h", 2, ()),
    ]


def test_metadata(inbox):
    _put(inbox, "dovecot-keywords", b"0 $Junk\n2 work\n")
    path = _put(inbox / "new", "5.M1P1.h,S=7,W=9:2,FTac", b"abc\n", mtime=1234567890)
    _put(inbox / "cur", "6.M1P1.h:2,P", b"hello\n", mtime=1234567891)
    source = MaildirSource(_loc(inbox), USER)
    first, second = source.iter_messages(_inbox_folder(source))
    assert first.flags == {"\\Flagged", "\\Deleted"}  # flags are read in new/ too
    assert first.keywords == ("$Junk", "work")
    assert (first.size, first.vsize) == (7, 9)  # S= and W= win over stat
    assert first.received_date == 1234567890
    assert first.save_date == int(os.stat(path).st_ctime)
    assert first.handle == path
    assert second.flags == frozenset() and second.keywords == ()
    assert (second.size, second.vsize) == (6, None)


def test_duplicate_base_in_cur_and_new(inbox):
    _put(inbox / "cur", "1.M1P1.h:2,S", b"a")
    _put(inbox / "new", "1.M1P1.h", b"b")
    source = MaildirSource(_loc(inbox), USER)
    keys = [m.source_key for m in source.iter_messages(_inbox_folder(source))]
    assert len(keys) == 2 and len(set(keys)) == 2


def test_read_message_exact_bytes(inbox):
    body = b"From: a\r\nSubject: b\r\n\r\nbare\rcr\nlf\x00nul"
    _put(inbox / "cur", "1.M1P1.h:2,S", body)
    source = MaildirSource(_loc(inbox), USER)
    folder = _inbox_folder(source)
    (meta,) = source.iter_messages(folder)
    assert source.read_message(folder, meta) == body


def test_read_message_after_flag_change(inbox):
    _put(inbox / "new", "1.M1P1.h", b"body")
    source = MaildirSource(_loc(inbox), USER)
    folder = _inbox_folder(source)
    (meta,) = source.iter_messages(folder)
    os.rename(inbox / "new" / "1.M1P1.h", inbox / "cur" / "1.M1P1.h:2,RS")
    assert source.read_message(folder, meta) == b"body"


def test_read_message_vanished(inbox):
    _put(inbox / "new", "1.M1P1.h", b"body")
    source = MaildirSource(_loc(inbox), USER)
    folder = _inbox_folder(source)
    (meta,) = source.iter_messages(folder)
    os.unlink(inbox / "new" / "1.M1P1.h")
    with pytest.raises(MailstoreError) as err:
        source.read_message(folder, meta)
    assert err.value.kind is Kind.NOTFOUND
    assert "1.M1P1.h" in str(err.value) and "No such file" in str(err.value)


def test_read_message_unreadable(inbox):
    os.makedirs(inbox / "new" / "1.M1P1.h")  # a directory where a file was
    source = MaildirSource(_loc(inbox), USER)
    folder = _inbox_folder(source)
    meta = MessageMeta(
        "1.M1P1.h", 0, None, frozenset(), (), 0, 0, 0, None, None, str(inbox / "new" / "1.M1P1.h")
    )
    with pytest.raises(MailstoreError) as err:
        source.read_message(folder, meta)
    assert err.value.kind is Kind.INVALIDDATA
    assert "Is a directory" in str(err.value)


def test_subscriptions(inbox):
    (inbox / "subscriptions").write_bytes(b"V\t2\n\nINBOX\nEntw&APw-rfe\tx\n")
    source = MaildirSource(_loc(inbox), USER)
    assert source.subscriptions() == [("INBOX",), ("Entwürfe", "x")]


def test_fs_layout_source(tmp_path):
    root = tmp_path / "M"
    _maildir(root)
    _maildir(root / "Foo" / "Bar")
    _put(root / "Foo" / "Bar" / "cur", "1.M1P1.h:2,S")
    source = MaildirSource(_loc(root, mailbox_list_layout="fs"), USER)
    folders = source.list_folders()
    assert [(f.name, f.vname) for f in folders] == [
        (("INBOX",), "INBOX"),
        (("Foo", "Bar"), "Foo/Bar"),
    ]
    (meta,) = source.iter_messages(folders[1])
    assert meta.flags == {"\\Seen"}


def _tree_state(root) -> dict[str, tuple]:
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = None
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            state[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    st = os.stat(root)
    state["."] = (st.st_mode, st.st_mtime_ns)
    return state


def test_source_left_untouched(tmp_path):
    root = tmp_path / "M"
    _maildir(root)
    _maildir(root / ".Foo.Bar")
    _maildir(root / ".Entw&APw-rfe")
    _put(root / "cur", "1.M1P1.h:2,Sa", b"one", mtime=1000)
    _put(root / "new", "2.M1P1.h", b"two", mtime=2000)
    _put(root / ".Foo.Bar" / "cur", "3.M1P1.h:2,", b"three", mtime=3000)
    _put(root / ".Entw&APw-rfe" / "new", "4.M1P1.h", b"four", mtime=4000)
    _put(root, "dovecot-keywords", b"0 $Junk\n")
    _put(root, "dovecot-uidlist", b"3 V1 N2\n1 :1.M1P1.h\n")
    _put(root, "subscriptions", b"V\t2\n\nFoo\tBar\n")
    before = _tree_state(root)
    source = MaildirSource(_loc(root), USER)
    with source:
        for folder in source.list_folders():
            for meta in source.iter_messages(folder):
                source.read_message(folder, meta)
        source.subscriptions()
    assert _tree_state(root) == before
