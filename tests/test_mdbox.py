"""The mdbox driver without Dovecot: hand-built map and mailbox records over real ``m.*`` files.

The index files themselves are replayed by :mod:`mailstore.index` (tested on its own); here the
replayed values are built by hand (:class:`MailIndex`, :class:`MdboxMap`) and the source reads
them through a subclass, while the ``m.*`` files, directories and subscriptions are real files.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mailstore.driver import Capability, Folder, open_source
from mailstore.errors import Kind, MailstoreError
from mailstore.index import IndexRecord, MailIndex
from mailstore.location import parse_location
from mailstore.mdbox import MdboxSource
from mailstore.mdbox.layout import MdboxLayout
from mailstore.mdbox.mailbox import MdboxMailbox, mailbox_from_index, read_mailbox
from mailstore.mdbox.map import MapEntry, MdboxMap, map_from_index, read_map
from mailstore.mdbox.storage import Handle
from mailstore.userdb import User

MAP_VALIDITY = 1795891353
USER = User("u")


# -- building blocks -----------------------------------------------------------------------------

def dbox_message(body: bytes, meta: Mapping[str, str]) -> bytes:
    """One dbox message record as Dovecot writes it into an m.* file."""
    header = b"\x01\x02N " + b" " * 8 + b" " + f"{len(body):016X}".encode() + b"\n"
    assert len(header) == 0x1E
    lines = b"".join(f"{k}{v}\n".encode() for k, v in meta.items())
    return header + body + b"\n\x01\x03\n" + lines + b"\n"


def write_m_file(path: Path, messages: list[tuple[bytes, Mapping[str, str]]]) -> list[tuple[int, int]]:
    """Write an m.* file; return each message's (offset, size) as the map records them."""
    data = b"2 M1e C6b0b2099\n"
    spans = []
    for body, meta in messages:
        record = dbox_message(body, meta)
        spans.append((len(data), len(record)))
        data += record
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return spans


def mailbox_index(
    records: list[tuple[int, int, int]],
    *,
    first_recent_uid: int = 1,
    map_uid_validity: int = MAP_VALIDITY,
    keywords: Mapping[int, tuple[str, ...]] | None = None,
) -> MailIndex:
    """A replayed mailbox index: ``records`` are (uid, flags, map_uid)."""
    guid = bytes.fromhex("b62e931d99200b6b5f55000083ecc375")
    rows = tuple(
        IndexRecord(
            uid=uid,
            flags=flags,
            keywords=(keywords or {}).get(uid, ()),
            extensions={
                "mdbox": struct.pack("<II", map_uid, 1795891400 + uid),
                "guid": bytes(16),
            },
        )
        for uid, flags, map_uid in records
    )
    return MailIndex(
        uid_validity=1700000000,
        next_uid=max((r[0] for r in records), default=0) + 1,
        first_recent_uid=first_recent_uid,
        records=rows,
        keywords=("$Junk", "$Later"),
        header_extensions={"mdbox-hdr": struct.pack("<I16sB3x", map_uid_validity, guid, 0)},
    )


def map_index(entries: list[tuple[int, int, int, int, int | None]]) -> MailIndex:
    """A replayed map index: ``entries`` are (map_uid, file_id, offset, size, refcount)."""
    rows = []
    for map_uid, file_id, offset, size, ref in entries:
        ext = {"map": struct.pack("<III", file_id, offset, size)}
        if ref is not None:
            ext["ref"] = struct.pack("<H", ref)
        rows.append(IndexRecord(uid=map_uid, flags=0, keywords=(), extensions=ext))
    return MailIndex(
        uid_validity=MAP_VALIDITY,
        next_uid=len(rows) + 1,
        first_recent_uid=1,
        records=tuple(rows),
        keywords=(),
        header_extensions={"map": struct.pack("<II", 1, 0)},
    )


class HandBuiltMdbox(MdboxSource):
    """An mdbox whose replayed indexes are given; everything else is read from disk."""

    def __init__(self, root: Path, mdmap: MailIndex, boxes: Mapping[str, MailIndex],
                 extra: str = "") -> None:
        super().__init__(parse_location(f"mdbox:{root}{extra}"), USER)
        self.map_index = mdmap
        self.boxes = dict(boxes)
        for name in boxes:
            os.makedirs(self.layout.mailbox_dir(tuple(name.split("/"))), exist_ok=True)

    def _read_map(self) -> MdboxMap:
        return map_from_index(self.map_index)

    def _read_mailbox(self, index_dir: str, shown: str) -> MdboxMailbox:
        if shown not in self.boxes:
            return read_mailbox(index_dir, shown)  # the real thing: NOTFOUND
        return mailbox_from_index(self.boxes[shown])


BODIES = [b"Subject: one\n\nfirst\n", b"Subject: two\n\nsecond\n", b"Subject: three\n\n3\n",
          b"Subject: four\n\nfour\n"]


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, list[tuple[int, int]]]:
    """m.1 with four messages (received 0x10, 0x20, ...; GUIDs g0..g3; the third without R/G)."""
    metas: list[dict[str, str]] = [
        {"G": "g0", "R": "10", "V": "30"},
        {"G": "g1", "R": "20"},
        {"V": "16"},
        {"G": "g3", "R": "40", "Bold/box": ""},
    ]
    spans = write_m_file(tmp_path / "mdbox" / "storage" / "m.1", list(zip(BODIES, metas)))
    return tmp_path / "mdbox", spans


def _by_folder(source: MdboxSource) -> dict[str, list[Any]]:
    return {f.vname: list(source.iter_messages(f)) for f in source.list_folders()}


# -- Handle ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("m.1:16:481:12", Handle(1, 16, 481, 12)),
    ("m.4294967295:0:0:1", Handle(4294967295, 0, 0, 1)),
    ("m.0:0:0:7", Handle(0, 0, 0, 7)),
])
def test_handle_round_trip(text: str, expected: Handle) -> None:
    assert Handle.parse(text) == expected
    assert expected.format() == text


@pytest.mark.parametrize("text", ["", "m.1:16:481", "u.1:16:481:12", "m.1:16:481:12:3",
                                  "m.-1:16:481:12", "/home/u/Maildir/cur/x", "m.1: 16:481:12"])
def test_handle_rejects(text: str) -> None:
    with pytest.raises(MailstoreError) as e:
        Handle.parse(text)
    assert e.value.kind is Kind.INVALIDDATA


# -- map and mailbox records ------------------------------------------------------------------------

@pytest.mark.parametrize(("entries", "expected"), [
    ([(1, 1, 16, 481, 1)], {1: MapEntry(1, 1, 16, 481, 1)}),
    ([(1, 1, 16, 481, 2)], {1: MapEntry(1, 1, 16, 481, 2)}),          # a copy
    ([(7, 3, 900, 0, 0)], {7: MapEntry(7, 3, 900, 0, 0)}),            # expunged, not purged
    ([(7, 3, 900, 10, None)], {7: MapEntry(7, 3, 900, 10, 0)}),       # no ref data: 0
    ([(7, 0, 0, 0, 1)], {}),                                          # file_id 0: no location
], ids=["live", "copied", "refcount-0", "no-ref", "no-location"])
def test_map_entries(entries: list[tuple[int, int, int, int, int | None]],
                     expected: dict[int, MapEntry]) -> None:
    mdmap = map_from_index(map_index(entries))
    assert dict(mdmap.entries) == expected
    assert mdmap.uid_validity == MAP_VALIDITY


def test_map_record_without_map_extension_has_no_location() -> None:
    index = map_index([(1, 1, 16, 481, 1)])
    bare = IndexRecord(uid=2, flags=0, keywords=(), extensions={"ref": b"\x01\x00"})
    index = MailIndex(index.uid_validity, 3, 1, index.records + (bare,), (), {})
    assert set(map_from_index(index).entries) == {1}


def test_mailbox_records_decode() -> None:
    index = mailbox_index([(1, 0x08, 5), (3, 0x25, 9)], first_recent_uid=3,
                          keywords={3: ("$Later",)})
    box = mailbox_from_index(index)
    assert box.map_uid_validity == MAP_VALIDITY
    assert box.guid == "b62e931d99200b6b5f55000083ecc375"
    assert [(m.uid, m.map_uid, m.save_date, sorted(m.flags), m.keywords, m.guid128)
            for m in box.messages] == [
        (1, 5, 1795891401, ["\\Seen"], (), None),
        (3, 9, 1795891403, ["\\Answered", "\\Deleted"], ("$Later",), None),
    ]


def test_mailbox_record_without_mdbox_extension_has_map_uid_0() -> None:
    index = MailIndex(1, 2, 1, (IndexRecord(1, 0, (), {}),), (), {})
    box = mailbox_from_index(index)
    assert box.messages[0].map_uid == 0
    assert box.map_uid_validity is None and box.guid is None


# -- missing index files --------------------------------------------------------------------------

def test_missing_map_index_is_notfound_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(MailstoreError) as e:
        read_map(str(tmp_path))
    assert e.value.kind is Kind.NOTFOUND
    assert f"{tmp_path}/dovecot.map.index" in str(e.value)


def test_missing_mailbox_index_is_notfound_naming_the_mailbox(tmp_path: Path) -> None:
    with pytest.raises(MailstoreError) as e:
        read_mailbox(str(tmp_path), "Foo/Bar")
    assert e.value.kind is Kind.NOTFOUND
    assert "Foo/Bar" in str(e.value) and str(tmp_path) in str(e.value)


def test_source_without_map_fails_list_and_iter(tmp_path: Path) -> None:
    root = tmp_path / "mdbox"
    (root / "mailboxes" / "INBOX" / "dbox-Mails").mkdir(parents=True)
    (root / "storage").mkdir()
    write_m_file(root / "storage" / "m.1", [(BODIES[0], {"G": "g"})])
    source = open_source(parse_location(f"mdbox:{root}"), USER)
    for call in (source.list_folders,
                 lambda: list(source.iter_messages(Folder(("INBOX",), "/", "")))):
        with pytest.raises(MailstoreError) as e:
            call()
        assert e.value.kind is Kind.NOTFOUND
        assert f"{root}/storage/dovecot.map.index" in str(e.value)


@pytest.mark.parametrize(("m_file", "fails"), [
    (None, False),                       # never stored a message: nothing to resurrect
    ("mdbox/storage/m.1", True),
    ("alt/storage/m.4", True),
], ids=["no-m-files", "m-file", "m-file-in-alt"])
def test_missing_map_is_fatal_only_with_message_files(tmp_path: Path, m_file: str | None,
                                                      fails: bool) -> None:
    root = tmp_path / "mdbox"
    (root / "mailboxes" / "INBOX" / "dbox-Mails").mkdir(parents=True)
    if m_file is not None:
        write_m_file(tmp_path / m_file, [(BODIES[0], {"G": "g"})])
    source = open_source(parse_location(f"mdbox:{root}:ALT={tmp_path}/alt"), USER)
    if fails:
        with pytest.raises(MailstoreError) as e:
            source.list_folders()
        assert e.value.kind is Kind.NOTFOUND
    else:
        assert [f.name for f in source.list_folders()] == [("INBOX",)]


def test_missing_root_is_notfound(tmp_path: Path) -> None:
    source = open_source(parse_location(f"mdbox:{tmp_path}/nothing"), USER)
    with pytest.raises(MailstoreError) as e:
        source.list_folders()
    assert e.value.kind is Kind.NOTFOUND


# -- the source -------------------------------------------------------------------------------------

def test_capabilities() -> None:
    caps = MdboxSource.capabilities
    assert caps & Capability.HAVE_UIDS and caps & Capability.HAVE_GUIDS
    assert caps & Capability.FLAGS_IN_INDEX and caps & Capability.SUBSCRIPTIONS
    assert not caps & Capability.FILE_PER_MSG


def test_messages_in_uid_order_with_metadata(store: tuple[Path, list[tuple[int, int]]]) -> None:
    root, spans = store
    mdmap = map_index([(10 + i, 1, off, size, 1) for i, (off, size) in enumerate(spans)])
    inbox = mailbox_index([(2, 0x08, 10), (5, 0x02, 11), (9, 0, 12)], first_recent_uid=5,
                          keywords={5: ("$Junk",)})
    source = HandBuiltMdbox(root, mdmap, {"INBOX": inbox})
    (folder,) = source.list_folders()
    assert folder.name == ("INBOX",) and folder.guid == "b62e931d99200b6b5f55000083ecc375"
    metas = list(source.iter_messages(folder))
    assert [(m.position, m.uid, m.source_key, sorted(m.flags), m.keywords, m.recent)
            for m in metas] == [
        (0, 2, "1700000000:2", ["\\Seen"], (), False),
        (1, 5, "1700000000:5", ["\\Flagged"], ("$Junk",), True),
        (2, 9, "1700000000:9", [], (), True),
    ]
    assert [(m.received_date, m.guid, m.size, m.vsize, m.save_date) for m in metas] == [
        (0x10, "g0", len(BODIES[0]), 0x30, 1795891402),
        (0x20, "g1", len(BODIES[1]), None, 1795891405),
        (0, None, len(BODIES[2]), 0x16, 1795891409),      # no R, no G (and no index guid)
    ]
    assert [m.handle for m in metas] == [f"m.1:{off}:{size}:{10 + i}"
                                         for i, (off, size) in enumerate(spans[:3])]
    assert [source.read_message(folder, m) for m in metas] == BODIES[:3]
    assert source.folder_warnings(folder) == []


@pytest.mark.parametrize(("refcount", "listed"), [(1, True), (2, True), (0, False)])
def test_refcount_0_is_never_imported(store: tuple[Path, list[tuple[int, int]]],
                                      refcount: int, listed: bool) -> None:
    """A stale mailbox record pointing at an expunged (refcount 0) map entry is skipped."""
    root, spans = store
    mdmap = map_index([(10, 1, *spans[0], 1), (11, 1, *spans[1], refcount)])
    source = HandBuiltMdbox(root, mdmap, {"INBOX": mailbox_index([(1, 0, 10), (2, 0, 11)])})
    (folder,) = source.list_folders()
    metas = list(source.iter_messages(folder))
    assert [m.uid for m in metas] == ([1, 2] if listed else [1])
    assert [m.position for m in metas] == list(range(len(metas)))
    warnings = source.folder_warnings(folder)
    assert bool(warnings) is not listed
    if not listed:
        assert "uid 2" in warnings[0] and "refcount 0" in warnings[0]


def test_copies_share_a_map_uid_but_not_a_source_key(
    store: tuple[Path, list[tuple[int, int]]]
) -> None:
    root, spans = store
    mdmap = map_index([(10, 1, *spans[0], 3)])
    boxes = {"INBOX": mailbox_index([(1, 0, 10), (2, 0x08, 10)]),
             "Archive": mailbox_index([(7, 0, 10)])}
    got = _by_folder(HandBuiltMdbox(root, mdmap, boxes))
    assert [m.source_key for m in got["INBOX"]] == ["1700000000:1", "1700000000:2"]
    assert {m.handle for ms in got.values() for m in ms} == {f"m.1:{spans[0][0]}:{spans[0][1]}:10"}


@pytest.mark.parametrize("map_uid", [0, 99], ids=["no-map-uid", "purged-or-lost"])
def test_unlocatable_message_is_listed_and_fails_to_read(
    store: tuple[Path, list[tuple[int, int]]], map_uid: int
) -> None:
    root, spans = store
    mdmap = map_index([(10, 1, *spans[0], 1)])
    source = HandBuiltMdbox(root, mdmap, {"INBOX": mailbox_index([(1, 0, 10), (2, 0, map_uid)])})
    (folder,) = source.list_folders()
    first, lost = list(source.iter_messages(folder))
    assert lost.handle == f"m.0:0:0:{map_uid}"
    assert source.read_message(folder, first) == BODIES[0]
    with pytest.raises(MailstoreError) as e:
        source.read_message(folder, lost)
    assert e.value.kind is Kind.INVALIDDATA and f"map_uid {map_uid}" in str(e.value)
    assert any("not in the map index" in w for w in source.folder_warnings(folder))


def test_map_uid_validity_mismatch_fails_the_mailbox(
    store: tuple[Path, list[tuple[int, int]]]
) -> None:
    root, spans = store
    mdmap = map_index([(10, 1, *spans[0], 1)])
    boxes = {"INBOX": mailbox_index([(1, 0, 10)], map_uid_validity=MAP_VALIDITY + 1),
             "Other": mailbox_index([(1, 0, 10)])}
    source = HandBuiltMdbox(root, mdmap, boxes)
    inbox, other = source.list_folders()
    with pytest.raises(MailstoreError) as e:
        list(source.iter_messages(inbox))
    assert e.value.kind is Kind.INVALIDDATA and "map_uid_validity" in str(e.value)
    assert [m.uid for m in source.iter_messages(other)] == [1]


def test_missing_mailbox_index_fails_only_that_mailbox(
    store: tuple[Path, list[tuple[int, int]]]
) -> None:
    root, spans = store
    mdmap = map_index([(10, 1, *spans[0], 1)])
    source = HandBuiltMdbox(root, mdmap, {"INBOX": mailbox_index([(1, 0, 10)])})
    (root / "mailboxes" / "Gone" / "dbox-Mails").mkdir(parents=True)
    folders = {f.vname: f for f in source.list_folders()}
    assert folders["Gone"].guid is None
    with pytest.raises(MailstoreError) as e:
        list(source.iter_messages(folders["Gone"]))
    assert e.value.kind is Kind.NOTFOUND and "mailbox Gone" in str(e.value)
    assert [m.uid for m in source.iter_messages(folders["INBOX"])] == [1]


@pytest.mark.parametrize("cut", [1, 5, 20, 40], ids=["metadata-end", "metadata", "body", "header"])
def test_truncated_message_fails_naming_file_and_offset(
    store: tuple[Path, list[tuple[int, int]]], cut: int
) -> None:
    root, spans = store
    m_file = root / "storage" / "m.1"
    os.truncate(m_file, m_file.stat().st_size - cut)
    mdmap = map_index([(10 + i, 1, off, size, 1) for i, (off, size) in enumerate(spans)])
    source = HandBuiltMdbox(root, mdmap, {"INBOX": mailbox_index([(1, 0, 10), (2, 0, 13)])})
    (folder,) = source.list_folders()
    good, cut_short = list(source.iter_messages(folder))
    assert source.read_message(folder, good) == BODIES[0]
    with pytest.raises(MailstoreError) as e:
        source.read_message(folder, cut_short)
    assert e.value.kind is Kind.INVALIDDATA
    assert str(m_file) in str(e.value) and f"offset {spans[3][0]}" in str(e.value)
    assert any("uid 2" in w for w in source.folder_warnings(folder))


def test_file_in_alt_storage(tmp_path: Path) -> None:
    root, alt = tmp_path / "mdbox", tmp_path / "alt"
    spans = write_m_file(alt / "storage" / "m.3", [(BODIES[1], {"G": "alt", "R": "5"})])
    mdmap = map_index([(1, 3, *spans[0], 1)])
    source = HandBuiltMdbox(root, mdmap, {"INBOX": mailbox_index([(1, 0, 1)])}, f":ALT={alt}")
    (folder,) = source.list_folders()
    (meta,) = source.iter_messages(folder)
    assert (meta.guid, meta.received_date) == ("alt", 5)
    assert source.read_message(folder, meta) == BODIES[1]


def test_missing_m_file_is_notfound(tmp_path: Path) -> None:
    root = tmp_path / "mdbox"
    mdmap = map_index([(1, 8, 16, 100, 1)])
    source = HandBuiltMdbox(root, mdmap, {"INBOX": mailbox_index([(1, 0, 1)])})
    (folder,) = source.list_folders()
    (meta,) = source.iter_messages(folder)
    with pytest.raises(MailstoreError) as e:
        source.read_message(folder, meta)
    assert e.value.kind is Kind.NOTFOUND and "m.8" in str(e.value)


def test_message_moved_by_purge_is_found_through_the_map(
    store: tuple[Path, list[tuple[int, int]]]
) -> None:
    """Listed before ``doveadm purge`` rewrote m.1 into m.2: read where the map says now."""
    root, spans = store
    source = HandBuiltMdbox(root, map_index([(10, 1, *spans[1], 1)]),
                            {"INBOX": mailbox_index([(1, 0, 10)])})
    (folder,) = source.list_folders()
    (meta,) = source.iter_messages(folder)
    new_spans = write_m_file(root / "storage" / "m.2", [(BODIES[1], {"G": "g1", "R": "20"})])
    (root / "storage" / "m.1").unlink()
    source.map_index = map_index([(10, 2, *new_spans[0], 1)])
    assert source.read_message(folder, meta) == BODIES[1]


def test_message_appended_after_the_file_was_opened(tmp_path: Path) -> None:
    root = tmp_path / "mdbox"
    m_file = root / "storage" / "m.1"
    spans = write_m_file(m_file, [(BODIES[0], {"G": "a"})])
    source = HandBuiltMdbox(root, map_index([(1, 1, *spans[0], 1)]),
                            {"INBOX": mailbox_index([(1, 0, 1)])})
    (folder,) = source.list_folders()
    (first,) = source.iter_messages(folder)
    assert source.read_message(folder, first) == BODIES[0]      # m.1 is now open
    both = write_m_file(m_file, [(BODIES[0], {"G": "a"}), (BODIES[2], {"G": "b"})])
    source.map_index = map_index([(1, 1, *both[0], 1), (2, 1, *both[1], 1)])
    source.boxes["INBOX"] = mailbox_index([(1, 0, 1), (2, 0, 2)])
    second = list(source.iter_messages(folder))[1]
    assert source.read_message(folder, second) == BODIES[2]


def test_external_attachments_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "mdbox"
    spans = write_m_file(root / "storage" / "m.1", [(BODIES[0], {"G": "a", "X": "0 10 - ref"})])
    source = HandBuiltMdbox(root, map_index([(1, 1, *spans[0], 1)]),
                            {"INBOX": mailbox_index([(1, 0, 1)])})
    (folder,) = source.list_folders()
    (meta,) = source.iter_messages(folder)
    with pytest.raises(MailstoreError) as e:
        source.read_message(folder, meta)
    assert e.value.kind is Kind.INVALIDDATA and "X metadata" in str(e.value)


# -- layout -----------------------------------------------------------------------------------------

def _mkdirs(root: Path, *paths: str) -> None:
    for rel in paths:
        (root / rel).mkdir(parents=True, exist_ok=True)


@pytest.mark.parametrize(("extra", "index_of"), [
    ("", lambda root, ix, rel: root / "mailboxes" / rel / "dbox-Mails"),
    (":INDEX={ix}", lambda root, ix, rel: ix / "mailboxes" / rel),
    (":INDEX=MEMORY", lambda root, ix, rel: root / "mailboxes" / rel / "dbox-Mails"),
], ids=["default", "INDEX=", "INDEX=MEMORY"])
def test_listing_and_index_dirs(tmp_path: Path, extra: str, index_of: Any) -> None:
    root, ix = tmp_path / "mdbox", tmp_path / "ix"
    _mkdirs(root / "mailboxes", "INBOX/dbox-Mails", "Archive/dbox-Mails",
            "Archive/2024/dbox-Mails", "Entw&APw-rfe/dbox-Mails", "Lonely/Child/dbox-Mails",
            "&2D3c5g- Boxes/dbox-Mails", "Empty/dbox-Mails")
    layout = MdboxLayout(parse_location(f"mdbox:{root}{extra.format(ix=ix)}"))
    boxes = layout.list_mailboxes()
    assert [b.name for b in boxes] == [
        ("INBOX",), ("Archive",), ("Archive", "2024"), ("Empty",), ("Entwürfe",),
        ("Lonely", "Child"), ("📦 Boxes",),
    ]
    assert layout.index_dir(("Entwürfe",)) == str(index_of(root, ix, "Entw&APw-rfe"))
    assert layout.index_dir(("Archive", "2024")) == str(index_of(root, ix, "Archive/2024"))
    map_dir = ix / "storage" if extra == ":INDEX={ix}" else root / "storage"
    assert layout.map_index_dir == str(map_dir)


@pytest.mark.parametrize("extra", [":LAYOUT=index", ":LAYOUT=maildir++"])
def test_unsupported_locations_are_refused(tmp_path: Path, extra: str) -> None:
    with pytest.raises(MailstoreError) as e:
        MdboxLayout(parse_location(f"mdbox:{tmp_path}{extra}"))
    assert e.value.kind is Kind.PARAMS


def test_other_directory_names(tmp_path: Path) -> None:
    root = tmp_path / "mdbox"
    _mkdirs(root / "boxes", "INBOX/box", "Foo/box", "Foo/Bar", "box/box")
    layout = MdboxLayout(parse_location(f"mdbox:{root}:MAILBOXDIR=boxes:DIRNAME=box"))
    assert [b.name for b in layout.list_mailboxes()] == [("INBOX",), ("Foo",)]
    assert layout.index_dir(("Foo",)) == f"{root}/boxes/Foo/box"


@pytest.mark.parametrize(("extra", "expected"), [
    ("", ["{root}/storage/m.7"]),
    (":ALT={alt}", ["{root}/storage/m.7", "{alt}/storage/m.7"]),
    (":INDEX={alt}", ["{root}/storage/m.7"]),
])
def test_m_file_paths(tmp_path: Path, extra: str, expected: list[str]) -> None:
    root, alt = tmp_path / "mdbox", tmp_path / "alt"
    layout = MdboxLayout(parse_location(f"mdbox:{root}{extra.format(alt=alt)}"))
    assert layout.message_file_paths(7) == [e.format(root=root, alt=alt) for e in expected]


def test_subscriptions_are_decoded(store: tuple[Path, list[tuple[int, int]]]) -> None:
    root, _ = store
    (root / "subscriptions").write_bytes(b"V\t2\n\nINBOX\nEntw&APw-rfe\nArchive\t2024\n")
    source = HandBuiltMdbox(root, map_index([]), {"INBOX": mailbox_index([])})
    assert source.subscriptions() == [("INBOX",), ("Entwürfe",), ("Archive", "2024")]


def test_reading_creates_nothing(store: tuple[Path, list[tuple[int, int]]]) -> None:
    root, spans = store
    mdmap = map_index([(10 + i, 1, off, size, 1) for i, (off, size) in enumerate(spans)])
    source = HandBuiltMdbox(root, mdmap, {"INBOX": mailbox_index([(1, 0, 10), (2, 0, 11)])})
    before = sorted((p, p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*"))
    for folder in source.list_folders():
        for meta in source.iter_messages(folder):
            source.read_message(folder, meta)
    source.subscriptions()
    source.close()
    after = sorted((p, p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*"))
    assert after == before
