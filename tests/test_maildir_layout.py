"""Maildir++ and fs layouts: listing a built tree, mapping names both ways, validating names."""

from __future__ import annotations

import os

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.location import MailLocation
from mailstore.maildir.layout import FsLayout, MaildirPlusPlusLayout, layout_for, normalize_name


def _loc(path, **settings) -> MailLocation:
    return MailLocation("maildir", str(path), tuple(sorted(settings.items())))


def _mkdirs(root, *paths):
    for p in paths:
        os.makedirs(os.path.join(root, p), exist_ok=True)


def _maildir(root, path=""):
    _mkdirs(root, *(os.path.join(path, s) for s in ("cur", "new", "tmp")))


@pytest.fixture
def plusplus_tree(tmp_path):
    root = tmp_path / "Maildir"
    _maildir(root)
    for d in (".Foo", ".Foo.Bar", ".Only.Child", ".INBOX.sub", ".Entw&APw-rfe", ".Entw&APw-rfe.x"):
        _maildir(root, d)
    _mkdirs(root, ".NoCur", "..DOVECOT-TRASHED/cur", ".a..b/cur", ".INBOX/cur", ".trailing./cur")
    (root / ".afile").write_text("not a dir")
    (root / "maildirfolder").write_text("")  # stray file Dovecot 2.3 may leave in the root
    (root / "dovecot-uidlist").write_text("")
    return root


def test_plusplus_listing(plusplus_tree):
    layout = layout_for(_loc(plusplus_tree))
    assert isinstance(layout, MaildirPlusPlusLayout) and layout.separator == "."
    boxes = layout.list_mailboxes()
    assert [b.name for b in boxes] == [
        ("INBOX",),
        ("Entwürfe",),
        ("Entwürfe", "x"),
        ("Foo",),
        ("Foo", "Bar"),
        ("INBOX", "sub"),
        ("NoCur",),  # selectable: Dovecot creates cur/ on open
        ("Only", "Child"),  # its parent Only is \NonExistent: not listed
    ]
    assert boxes[0].path == str(plusplus_tree)
    assert boxes[1].path == str(plusplus_tree / ".Entw&APw-rfe")


def test_plusplus_utf8_names(tmp_path):
    root = tmp_path / "M"
    _maildir(root)
    _maildir(root, ".Entwürfe")
    _maildir(root, ".Entw&APw-rfe")
    names = [b.name for b in layout_for(_loc(root, mailbox_list_utf8="yes")).list_mailboxes()]
    assert names == [("INBOX",), ("Entw&APw-rfe",), ("Entwürfe",)]


def test_plusplus_invalid_mutf7_is_kept_raw(tmp_path):
    root = tmp_path / "M"
    _maildir(root)
    _maildir(root, ".Bad&Name")
    names = [b.name for b in layout_for(_loc(root)).list_mailboxes()]
    assert names == [("INBOX",), ("Bad&Name",)]


MAP_ROWS = [
    # name, Maildir++ directory (relative), fs directory (relative)
    (("INBOX",), "", ""),
    (("inbox",), "", ""),
    (("Foo",), ".Foo", "Foo"),
    (("Foo", "Bar"), ".Foo.Bar", "Foo/Bar"),
    (("INBOX", "sub"), ".INBOX.sub", "INBOX/sub"),
    (("Inbox", "sub"), ".INBOX.sub", "INBOX/sub"),
    (("Entwürfe", "Ä&B"), ".Entw&APw-rfe.&AMQ-&-B", "Entw&APw-rfe/&AMQ-&-B"),
]


@pytest.mark.parametrize(("name", "plus", "fs"), MAP_ROWS)
def test_name_to_directory(tmp_path, name, plus, fs):
    pp = layout_for(_loc(tmp_path))
    assert pp.mailbox_dir(name) == os.path.normpath(os.path.join(tmp_path, plus))
    fsl = layout_for(_loc(tmp_path, mailbox_list_layout="fs"))
    assert fsl.mailbox_dir(name) == os.path.normpath(os.path.join(tmp_path, fs))
    if plus:
        assert pp.name_for_dir(plus) == normalize_name(name)


@pytest.mark.parametrize(
    ("dirname", "name"),
    [
        (".Foo", ("Foo",)),
        (".Foo.Bar", ("Foo", "Bar")),
        (".inbox.x", ("INBOX", "x")),
        ("Foo", None),
        (".", None),
        ("..", None),
        ("..DOVECOT-TRASHED", None),
        (".a..b", None),
        (".INBOX", None),
        (".x.", None),
    ],
)
def test_plusplus_dir_to_name(tmp_path, dirname, name):
    assert MaildirPlusPlusLayout(_loc(tmp_path)).name_for_dir(dirname) == name


def test_control_path_mapping(tmp_path):
    ctl = tmp_path / "ctl"
    pp = layout_for(_loc(tmp_path / "M", mail_control_path=str(ctl)))
    assert pp.control_dir(("INBOX",)) == str(ctl)
    assert pp.control_dir(("Foo", "Bar")) == str(ctl / ".Foo.Bar")
    assert pp.subscriptions_path() == str(ctl / "subscriptions")
    fsl = layout_for(_loc(tmp_path / "M", mail_control_path=str(ctl), mailbox_list_layout="fs"))
    assert fsl.control_dir(("Foo", "Bar")) == str(ctl / "Foo" / "Bar")
    plain = layout_for(_loc(tmp_path / "M"))
    assert plain.control_dir(("Foo",)) == str(tmp_path / "M" / ".Foo")
    assert plain.subscriptions_path() == str(tmp_path / "M" / "subscriptions")


@pytest.fixture
def fs_tree(tmp_path):
    root = tmp_path / "Maildir"
    _maildir(root)
    for d in ("Foo", "Foo/Bar", "x/y_z", "a.b", "Entw&APw-rfe", ".hidden"):
        _maildir(root, d)
    _mkdirs(root, "x", "empty/deeper", "cur/notme/cur")
    (root / "afile").write_text("")
    return root


def test_fs_listing(fs_tree):
    layout = layout_for(_loc(fs_tree, mailbox_list_layout="fs"))
    assert isinstance(layout, FsLayout) and layout.separator == "/"
    names = [b.name for b in layout.list_mailboxes()]
    assert names == [
        ("INBOX",),
        (".hidden",),
        ("Entwürfe",),
        ("Foo",),
        ("Foo", "Bar"),
        ("a.b",),
        ("x", "y_z"),  # x has no cur/: \NoSelect, not listed; cur/new/tmp are never folders
    ]


def test_fs_directory_name(tmp_path):
    root = tmp_path / "M"
    for d in ("INBOX/mail", "Foo/mail", "Foo/Bar/mail"):
        _maildir(root, d)
    _mkdirs(root, "NoMail/sub")
    layout = layout_for(_loc(root, mailbox_list_layout="fs", mailbox_directory_name="mail"))
    boxes = layout.list_mailboxes()
    assert [b.name for b in boxes] == [("INBOX",), ("Foo",), ("Foo", "Bar")]
    assert boxes[0].path == str(root / "INBOX" / "mail")
    assert boxes[2].path == str(root / "Foo" / "Bar" / "mail")


@pytest.mark.parametrize("dirname", ["a/b", "..", "cur"])
def test_fs_directory_name_must_be_simple(tmp_path, dirname):
    with pytest.raises(MailstoreError) as err:
        layout_for(_loc(tmp_path, mailbox_list_layout="fs", mailbox_directory_name=dirname))
    assert err.value.kind is Kind.PARAMS


def test_index_layout_refused(tmp_path):
    with pytest.raises(MailstoreError) as err:
        layout_for(_loc(tmp_path, mailbox_list_layout="index"))
    assert err.value.kind is Kind.PARAMS


VALID = [("INBOX",), ("Foo", "Bar"), ("Entwürfe",), ("a b",), ("INBOX", "x")]
INVALID_BOTH = [(), ("",), ("a", ""), ("a/b",), ("~home",), ("x" * 300,)]
INVALID_PLUSPLUS = [("a.b",), ("Foo", "v1.2")]
INVALID_FS = [("cur",), ("x", "tmp"), ("..",), (".",), ("a", "new")]


@pytest.mark.parametrize("name", VALID)
def test_valid_names(tmp_path, name):
    layout_for(_loc(tmp_path)).validate_name(name)
    layout_for(_loc(tmp_path, mailbox_list_layout="fs")).validate_name(name)


@pytest.mark.parametrize(
    ("name", "layout"),
    [(n, "maildir++") for n in INVALID_BOTH + INVALID_PLUSPLUS]
    + [(n, "fs") for n in INVALID_BOTH + INVALID_FS],
)
def test_invalid_names(tmp_path, name, layout):
    with pytest.raises(MailstoreError) as err:
        layout_for(_loc(tmp_path, mailbox_list_layout=layout)).validate_name(name)
    assert err.value.kind is Kind.PARAMS


def test_plusplus_dot_message_matches_dovecot(tmp_path):
    with pytest.raises(MailstoreError, match=r"a\.b: Character not allowed in mailbox name: '\.'"):
        layout_for(_loc(tmp_path)).validate_name(("a.b",))


def test_fs_allows_dot(tmp_path):
    layout_for(_loc(tmp_path, mailbox_list_layout="fs")).validate_name(("a.b",))
