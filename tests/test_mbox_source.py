"""The mbox source driver: layout and names, subscriptions, the index, bounded memory."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
from pathlib import Path

import pytest

from mailstore.driver import Capability, open_source
from mailstore.errors import Kind, MailstoreError
from mailstore.index.model import IndexRecord, MailIndex
from mailstore.location import parse_location
from mailstore.mbox.layout import MboxLayout
from mailstore.mbox.parser import CHUNK_SIZE, RawMessage, iter_raw_messages
from mailstore.mbox.source import MboxSource
from mailstore.mbox.sync import sync_messages
from mailstore.userdb import User

FROM = b"From a@b Mon Jan  1 00:00:00 2024\n"


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _source(location: str) -> MboxSource:
    source = open_source(parse_location(location), User("u", home="/nonexistent"))
    assert isinstance(source, MboxSource)
    return source


def test_registered_with_capabilities(tmp_path: Path) -> None:
    source = _source(f"mbox:{tmp_path}")
    assert source.capabilities == Capability.HAVE_UIDS | Capability.SUBSCRIPTIONS
    assert not source.capabilities & Capability.FILE_PER_MSG


def test_listing(tmp_path: Path) -> None:
    msg = FROM + b"S: x\n\nx\n"
    _tree(tmp_path, {
        "inbox": msg, "Archive": msg, "Empty": b"", "Lists/dovecot": msg, "Lists/deep/er": msg,
        "Entw&APw-rfe": msg, ".imap/INBOX/dovecot.index.log": b"",
        "Lists/.imap/dovecot/dovecot.index.log": b"", "Archive.lock": b"", ".lock": msg,
        ".subscriptions": b"Archive\nLists/dovecot\nEntw&APw-rfe\n", ".hidden": msg,
    })
    (tmp_path / "Only" / "Dirs").mkdir(parents=True)
    source = _source(f"mbox:{tmp_path}")
    names = [f.name for f in source.list_folders()]
    assert names == [("INBOX",), (".hidden",), (".lock",), ("Archive",), ("Empty",),
                     ("Entwürfe",), ("Lists", "deep", "er"), ("Lists", "dovecot")]
    assert all(f.separator == "/" for f in source.list_folders())
    assert source.subscriptions() == [("Archive",), ("Lists", "dovecot"), ("Entwürfe",)]
    empty = next(f for f in source.list_folders() if f.name == ("Empty",))
    assert list(source.iter_messages(empty)) == []


def test_inbox_elsewhere_and_utf8_names(tmp_path: Path) -> None:
    msg = FROM + b"\nx\n"
    _tree(tmp_path, {"spool/u": msg, "mail/inbox": msg, "mail/Entwürfe": msg})
    source = _source(f"mbox:{tmp_path}/mail:INBOX={tmp_path}/spool/u:UTF-8")
    folders = source.list_folders()
    assert [f.name for f in folders] == [("INBOX",), ("Entwürfe",)]
    assert folders[0].handle == f"{tmp_path}/spool/u"


def test_no_inbox_file_no_inbox(tmp_path: Path) -> None:
    _tree(tmp_path, {"Other": FROM + b"\nx\n"})
    assert [f.name for f in _source(f"mbox:{tmp_path}").list_folders()] == [("Other",)]


def test_root_errors(tmp_path: Path) -> None:
    with pytest.raises(MailstoreError) as err:
        _source(f"mbox:{tmp_path}/missing").list_folders()
    assert err.value.kind is Kind.NOTFOUND
    (tmp_path / "file").write_bytes(FROM)
    with pytest.raises(MailstoreError) as err:
        _source(f"mbox:{tmp_path}/file").list_folders()
    assert err.value.kind is Kind.PARAMS


@pytest.mark.parametrize(("location", "name", "expected"), [
    ("mbox:/m", ("INBOX",), "/m/.imap/INBOX"),
    ("mbox:/m", ("Entwürfe",), "/m/.imap/Entw&APw-rfe"),
    ("mbox:/m", ("Lists", "dovecot"), "/m/Lists/.imap/dovecot"),
    ("mbox:/m:INDEX=/i", ("Lists", "dovecot"), "/i/Lists/.imap/dovecot"),
    ("mbox:/m:INDEX=MEMORY", ("INBOX",), None),
])
def test_index_dir(location: str, name: tuple[str, ...], expected: str | None) -> None:
    assert MboxLayout(parse_location(location)).index_dir(name) == expected


def _record(uid: int, flags: int, keywords: tuple[str, ...], offset: int | None = None,
            *, dirty: bool = True) -> IndexRecord:
    ext = {"mbox": struct.pack("<Q", offset)} if offset is not None else {}
    return IndexRecord(uid=uid, flags=flags, keywords=keywords, extensions=ext, dirty=dirty)


def _index(records: list[IndexRecord], next_uid: int, first_recent: int) -> MailIndex:
    return MailIndex(uid_validity=7, next_uid=next_uid, first_recent_uid=first_recent,
                     records=tuple(records), keywords=("$Later", "Idx"), header_extensions={})


def _raws(data: bytes) -> list[RawMessage]:
    return list(iter_raw_messages(io.BytesIO(data), len(data), "mem"))


def test_dirty_index_flags_win() -> None:
    data = (FROM + b"X-IMAPbase: 7 0000000003\nX-UID: 1\nStatus: R\n\n1\n\n"
            + FROM + b"X-UID: 2\nX-Keywords: $Later\n\n2\n\n"
            + FROM + b"X-UID: 3\n\n3\n\n" + FROM + b"\n4\n")
    index = _index([_record(1, 0x02, ("Idx",)), _record(3, 0x08, ())], next_uid=4,
                   first_recent=3)
    mails = list(sync_messages(_raws(data), index))
    assert [(m.uid, sorted(m.flags), m.keywords, m.recent) for m in mails] == [
        (1, ["\\Flagged"], ("Idx",), False),  # the dirty record wins over Status: R
        (4, [], ("$Later",), True),  # X-UID 2 is below the index's next UID but not in it:
        (5, [], (), True),           # renumbered, and so is every later message
        (6, [], (), True),
    ]


FILE_EDITED = (FROM + b"X-IMAPbase: 7 0000000004 $Later Idx\nX-UID: 1\nStatus: RO\n"
               b"X-Keywords: $Later\n\n1\n\n"
               + FROM + b"X-UID: 2\nStatus: O\nX-Status: AF\n\n2\n\n"
               + FROM + b"X-UID: 3\nStatus: O\nX-Keywords: Idx\n\n3\n")


def test_file_flags_win_over_a_clean_record() -> None:
    """Non-dirty records are what Dovecot last read from the file: the file is newer."""
    index = _index([_record(1, 0x02, ("Idx",), dirty=False), _record(2, 0x08, (), dirty=False),
                    _record(3, 0x10, ("$Later",), dirty=True)], next_uid=4, first_recent=4)
    mails = list(sync_messages(_raws(FILE_EDITED), index))
    assert [(m.uid, sorted(m.flags), m.keywords) for m in mails] == [
        (1, ["\\Seen"], ("$Later",)),
        (2, ["\\Answered", "\\Flagged"], ()),
        (3, ["\\Draft"], ("$Later",)),  # dirty: flags and keywords from the index
    ]


def test_index_match_by_offset_without_x_uid() -> None:
    data = FROM + b"\n1\n\n" + FROM + b"\n2\n"
    raws = _raws(data)
    index = _index([_record(8, 0x08, ("Idx",), 0), _record(9, 0x01, (), raws[1].sep_offset)],
                   next_uid=10, first_recent=10)
    mails = list(sync_messages(raws, index))
    assert [(m.uid, sorted(m.flags), m.keywords, m.recent) for m in mails] == [
        (8, ["\\Seen"], ("Idx",), False), (9, ["\\Answered"], (), False)]


def test_large_mbox_in_bounded_memory(tmp_path: Path) -> None:
    """A 50 MB+ mbox is listed and read with memory far below its size."""
    path = tmp_path / "inbox"
    body = (b"From the body, not a From_ line\n" + (b"x" * 70 + b"\n") * 50) * 4
    with open(path, "wb") as f:
        f.writelines(FROM + b"Subject: %d\nX-UID: %d\nStatus: RO\n\n" % (i, i + 1) + body + b"\n"
                     for i in range(3600))
    size = os.path.getsize(path)
    assert size > 50_000_000
    source = _source(f"mbox:{tmp_path}")
    (folder,) = source.list_folders()
    tracemalloc.start()
    try:
        count = 0
        total = 0
        for meta in source.iter_messages(folder):
            count += 1
            if count % 700 == 0:
                total += len(source.read_message(folder, meta))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 3600 and total > 0
    assert peak < 4 * CHUNK_SIZE + 4_000_000 < size // 5
