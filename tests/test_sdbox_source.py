"""The sdbox source on hand-built trees: layout paths, listing, messages, warnings, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from corpus import tree_fingerprint
from test_index_replay import (
    append,
    expunge_guid,
    flag_update,
    header_update,
    keyword_update,
    log_header,
    transaction,
    uid_validity,
)
from test_sdbox_file import dbox, message

from mailstore.dbox.layout import DboxLayout
from mailstore.dbox.sdbox import SdboxSource
from mailstore.driver import Capability, Folder, open_source
from mailstore.errors import Kind, MailstoreError
from mailstore.location import parse_location
from mailstore.userdb import User

USER = User("u", home="/home/u")


def _source(location: str, *overrides: str) -> SdboxSource:
    source = open_source(parse_location(location, list(overrides)), USER)
    assert isinstance(source, SdboxSource)
    return source


def _layout(location: str, *overrides: str) -> DboxLayout:
    return DboxLayout(parse_location(location, list(overrides)))


# -- layout ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("location", "name", "mailbox", "index", "alt"), [
    ("sdbox:/r", ("INBOX",), "/r/mailboxes/INBOX/dbox-Mails", "/r/mailboxes/INBOX/dbox-Mails",
     None),
    ("sdbox:/r", ("Entwürfe", "a b"), "/r/mailboxes/Entw&APw-rfe/a b/dbox-Mails",
     "/r/mailboxes/Entw&APw-rfe/a b/dbox-Mails", None),
    ("sdbox:/r:UTF-8", ("Entwürfe",), "/r/mailboxes/Entwürfe/dbox-Mails",
     "/r/mailboxes/Entwürfe/dbox-Mails", None),
    ("sdbox:/r:INDEX=/i", ("Foo", "Bar"), "/r/mailboxes/Foo/Bar/dbox-Mails",
     "/i/mailboxes/Foo/Bar", None),
    ("sdbox:/r:INDEX=/i:FULLDIRNAME=dbox-Mails", ("Foo",), "/r/mailboxes/Foo/dbox-Mails",
     "/i/mailboxes/Foo/dbox-Mails", None),
    ("sdbox:/r:INDEX=MEMORY", ("Foo",), "/r/mailboxes/Foo/dbox-Mails", None, None),
    ("sdbox:/r:ALT=/a", ("Foo",), "/r/mailboxes/Foo/dbox-Mails", "/r/mailboxes/Foo/dbox-Mails",
     "/a/mailboxes/Foo/dbox-Mails"),
    ("sdbox:/r:INBOX=/in:ALT=/a", ("INBOX",), "/in", "/in", "/a/mailboxes/INBOX/dbox-Mails"),
    ("sdbox:/r:MAILBOXDIR=boxes:DIRNAME=m", ("x",), "/r/boxes/x/m", "/r/boxes/x/m", None),
])
def test_paths(location: str, name: tuple[str, ...], mailbox: str, index: str | None,
               alt: str | None) -> None:
    layout = _layout(location)
    assert layout.mailbox_dir(name) == mailbox
    assert layout.index_dir(name) == index
    assert layout.alt_dir(name) == alt


@pytest.mark.parametrize(("location", "path"), [
    ("sdbox:/r", "/r/subscriptions"),
    ("sdbox:/r:CONTROL=/c", "/c/subscriptions"),
])
def test_subscriptions_path(location: str, path: str) -> None:
    assert _layout(location).subscriptions_path() == path


def test_only_fs_layout() -> None:
    with pytest.raises(MailstoreError) as e:
        _layout("sdbox:/r:LAYOUT=index")
    assert e.value.kind is Kind.PARAMS


# -- building trees -----------------------------------------------------------------------------
def put_message(directory: Path, uid: int, body: bytes = b"", *, received: int = 0x5A000000,
                guid: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    body = body or f"Subject: {uid}\n\nbody {uid}\n".encode()
    meta = (f"G{guid or f'guid-{uid}'}\n" f"R{received:x}\n" f"V{len(body) + 3:x}\n").encode()
    path = directory / f"u.{uid}"
    path.write_bytes(dbox(message(body, meta)))
    return path


def put_log(directory: Path, *records: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dovecot.index.log").write_bytes(log_header() + b"".join(records))


def box(root: Path, *components: str) -> Path:
    return root.joinpath("mailboxes", *components, "dbox-Mails")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "sdbox"
    inbox = box(root, "INBOX")
    for uid in (1, 2, 3):
        put_message(inbox, uid, received=1600000000 + uid)
    put_log(inbox, transaction(uid_validity(77), append((1, 0x08), (2, 0), (3, 0))),
            transaction(flag_update(2, 2, add=0x02), keyword_update("$Later", (1, 2)),
                        header_update(48, (3).to_bytes(4, "little"))))
    put_message(box(root, "Foo", "Bar"), 5)
    put_log(box(root, "Foo", "Bar"), transaction(append((5, 0x10))))
    put_message(box(root, "Entw&APw-rfe"), 1)
    put_log(box(root, "Entw&APw-rfe"), transaction(append((1, 0))))
    (root / "mailboxes" / "Empty" / "dbox-Mails").mkdir(parents=True)
    (root / "dovecot.list.index.log").write_bytes(b"x")
    (root / "subscriptions").write_bytes(b"V\t2\n\nINBOX\nFoo\tBar\nEntw&APw-rfe\n")
    return root


def test_listing_and_capabilities(tree: Path) -> None:
    source = _source(f"sdbox:{tree}")
    assert source.capabilities == (Capability.FILE_PER_MSG | Capability.HAVE_UIDS
                                   | Capability.HAVE_GUIDS | Capability.FLAGS_IN_INDEX
                                   | Capability.SUBSCRIPTIONS)
    folders = source.list_folders()
    assert [f.name for f in folders] == [("INBOX",), ("Empty",), ("Entwürfe",), ("Foo", "Bar")]
    assert {f.separator for f in folders} == {"/"}
    assert folders[0].handle == str(box(tree, "INBOX"))
    assert source.subscriptions() == [("INBOX",), ("Foo", "Bar"), ("Entwürfe",)]


def test_messages_flags_keywords_recent(tree: Path) -> None:
    source = _source(f"sdbox:{tree}")
    inbox = source.list_folders()[0]
    metas = list(source.iter_messages(inbox))
    assert [(m.source_key, m.uid, m.position) for m in metas] == [("u.1", 1, 0), ("u.2", 2, 1),
                                                                  ("u.3", 3, 2)]
    assert [sorted(m.flags) for m in metas] == [["\\Seen"], ["\\Flagged"], []]
    assert [m.keywords for m in metas] == [("$Later",), ("$Later",), ()]
    assert [m.recent for m in metas] == [False, False, True]
    assert [m.received_date for m in metas] == [1600000001, 1600000002, 1600000003]
    assert metas[0].guid == "guid-1" and metas[0].vsize == metas[0].size + 3
    assert metas[0].save_date == int(os.stat(metas[0].handle).st_ctime)
    assert source.read_message(inbox, metas[1]) == b"Subject: 2\n\nbody 2\n"
    assert source.folder_warnings(inbox) == []


def test_index_and_files_disagree(tree: Path) -> None:
    inbox = box(tree, "INBOX")
    put_log(inbox, transaction(append((1, 0), (2, 0), (3, 0), (4, 0x08))),
            transaction(expunge_guid(2)))
    # u.4 is indexed but has no file
    put_message(inbox, 9)  # not synced yet (uid >= next_uid)
    put_message(inbox, 12)
    put_message(inbox, 2)  # still there, though the index expunged it
    (inbox / "u.x").write_bytes(b"junk")  # not a message file name
    source = _source(f"sdbox:{tree}")
    folder = source.list_folders()[0]
    metas = list(source.iter_messages(folder))
    assert [(m.uid, m.recent, sorted(m.flags)) for m in metas] == [
        (1, True, []), (3, True, []), (9, True, []), (12, True, [])]
    assert source.folder_warnings(folder) == [
        f"1 messages in the index have no file in {inbox} (expunged?), left out: u.4",
        "1 files the index has expunged were left out: u.2",
        ("2 files the index does not list yet were imported without flags or keywords: "
        "u.9, u.12"),
    ]


def test_missing_index_imports_every_file(tree: Path) -> None:
    inbox = box(tree, "INBOX")
    (inbox / "dovecot.index.log").unlink()
    source = _source(f"sdbox:{tree}")
    folder = source.list_folders()[0]
    metas = list(source.iter_messages(folder))
    assert [(m.uid, m.flags, m.keywords, m.recent) for m in metas] == [
        (1, frozenset(), (), True), (2, frozenset(), (), True), (3, frozenset(), (), True)]
    assert source.folder_warnings(folder) == [
        f"index dovecot.index(.log) missing in {inbox}: flags and keywords cannot be recovered"]
    assert folder.guid is None


@pytest.mark.parametrize(("log", "expected"), [
    pytest.param(log_header(seq=2, prev_seq=1, prev_offset=40) + transaction(append((1, 0))),
                 "unreadable", id="no-reset-log"),
    pytest.param(b"\x01\x03", "unreadable", id="cut-header"),
])
def test_unreadable_index(tree: Path, log: bytes, expected: str) -> None:
    (box(tree, "INBOX") / "dovecot.index.log").write_bytes(log)
    source = _source(f"sdbox:{tree}")
    folder = source.list_folders()[0]
    assert len(list(source.iter_messages(folder))) == 3
    [warning] = source.folder_warnings(folder)
    assert expected in warning and "flags and keywords cannot be recovered" in warning


def test_torn_log_tail_keeps_what_came_before(tree: Path) -> None:
    path = box(tree, "INBOX") / "dovecot.index.log"
    path.write_bytes(path.read_bytes() + transaction(flag_update(3, 3, add=0x04))[:-5])
    source = _source(f"sdbox:{tree}")
    folder = source.list_folders()[0]
    metas = list(source.iter_messages(folder))
    assert [sorted(m.flags) for m in metas] == [["\\Seen"], ["\\Flagged"], []]
    [warning] = source.folder_warnings(folder)
    assert "dovecot.index.log" in warning and "later changes are lost" in warning


def test_index_in_memory(tree: Path) -> None:
    source = _source(f"sdbox:{tree}:INDEX=MEMORY")
    folder = source.list_folders()[0]
    assert all(not m.flags for m in source.iter_messages(folder))
    assert source.folder_warnings(folder) == [
        "mail_index_path=MEMORY: flags and keywords are not read"]


def test_corrupt_message_file_is_listed_then_fails_to_read(tree: Path) -> None:
    victim = box(tree, "INBOX") / "u.2"
    victim.write_bytes(victim.read_bytes()[:40])
    source = _source(f"sdbox:{tree}")
    folder = source.list_folders()[0]
    metas = list(source.iter_messages(folder))
    assert [m.uid for m in metas] == [1, 2, 3]
    assert metas[1].received_date == int(victim.stat().st_mtime)
    with pytest.raises(MailstoreError) as e:
        source.read_message(folder, metas[1])
    assert e.value.kind is Kind.INVALIDDATA and str(victim) in str(e.value)
    assert source.read_message(folder, metas[2]).startswith(b"Subject: 3")


def test_external_attachments_are_refused(tree: Path) -> None:
    path = box(tree, "INBOX") / "u.1"
    path.write_bytes(dbox(message(b"x", b"X0 10 B1 ref\n")))
    source = _source(f"sdbox:{tree}")
    folder = source.list_folders()[0]
    meta = next(iter(source.iter_messages(folder)))
    with pytest.raises(MailstoreError) as e:
        source.read_message(folder, meta)
    assert e.value.kind is Kind.INVALIDDATA and "attachments" in str(e.value)


def test_alternate_storage(tree: Path, tmp_path: Path) -> None:
    alt = tmp_path / "alt"
    inbox = box(tree, "INBOX")
    os.replace(inbox / "u.2", _mkdir(box(alt, "INBOX")) / "u.2")
    put_message(box(alt, "INBOX"), 1, b"Subject: alt copy\n\n")  # primary wins
    source = _source(f"sdbox:{tree}:ALT={alt}")
    folder = source.list_folders()[0]
    metas = list(source.iter_messages(folder))
    assert [m.handle for m in metas] == [str(inbox / "u.1"), str(box(alt, "INBOX") / "u.2"),
                                         str(inbox / "u.3")]
    # moved back to primary storage after listing (doveadm altmove -r): still found
    os.replace(box(alt, "INBOX") / "u.2", inbox / "u.2")
    assert source.read_message(folder, metas[1]) == b"Subject: 2\n\nbody 2\n"
    os.unlink(inbox / "u.2")
    with pytest.raises(MailstoreError) as e:
        source.read_message(folder, metas[1])
    assert e.value.kind is Kind.NOTFOUND


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_listing_from_the_index_dir(tree: Path, tmp_path: Path) -> None:
    """mailbox_list_iter_from_index_dir: names come from the index tree; a directory there is
    selectable with a dovecot.index.log or when the mailbox exists in the mail root."""
    index = tmp_path / "index"
    _mkdir(index / "mailboxes" / "INBOX")  # no log, but the mail dir exists: selectable
    put_log(index / "mailboxes" / "Foo" / "Bar", transaction(append((5, 0x02))))
    put_log(index / "mailboxes" / "OnlyIndex", transaction(append((1, 0))))
    _mkdir(index / "mailboxes" / "Ghost")  # neither: \NoSelect
    source = _source(f"sdbox:{tree}", f"mail_index_path={index}",
                     "mailbox_list_iter_from_index_dir=yes")
    folders = source.list_folders()
    assert [f.name for f in folders] == [("INBOX",), ("Foo", "Bar"), ("OnlyIndex",)]
    bar = list(source.iter_messages(folders[1]))
    assert [(m.uid, sorted(m.flags)) for m in bar] == [(5, ["\\Flagged"])]
    assert list(source.iter_messages(folders[2])) == []
    assert "have no file" in source.folder_warnings(folders[2])[0]


def test_inbox_path(tree: Path, tmp_path: Path) -> None:
    inbox = _mkdir(tmp_path / "inbox")
    put_message(inbox, 4)
    put_log(inbox, transaction(append((4, 0x01))))
    source = _source(f"sdbox:{tree}:INBOX={inbox}")
    folders = source.list_folders()
    assert folders[0] == Folder(("INBOX",), "/", str(inbox), None)
    assert [(m.uid, sorted(m.flags)) for m in source.iter_messages(folders[0])] == [
        (4, ["\\Answered"])]


def test_missing_root_is_notfound(tmp_path: Path) -> None:
    with pytest.raises(MailstoreError) as e:
        _source(f"sdbox:{tmp_path}/nothing").list_folders()
    assert e.value.kind is Kind.NOTFOUND


def test_reading_writes_nothing(tree: Path) -> None:
    before = tree_fingerprint(tree)
    for directory, _dirs, _files in os.walk(tree):
        os.chmod(directory, 0o555)
    try:
        source = _source(f"sdbox:{tree}")
        for folder in source.list_folders():
            for meta in source.iter_messages(folder):
                source.read_message(folder, meta)
            source.folder_warnings(folder)
        source.subscriptions()
    finally:
        for directory, _dirs, _files in os.walk(tree):
            os.chmod(directory, 0o755)
    assert tree_fingerprint(tree) == before
