"""The index reader on hand-built ``dovecot.index``/``.log`` bytes: replay, chaining, edge cases.

The builders below write the byte layouts of reference dovecot-index.md §1-2; other test
modules import them.  Real files written by Dovecot are in ``test_index_dovecot.py``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.index import read_index, system_flags

EXTERNAL = 0x10000000
INDEXID = 0x65000001
NO_ID = 0xFFFFFFFF


def pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def encode_size(size: int) -> bytes:
    v = size >> 2
    return bytes([0x80 | (v >> 21) & 0x7F, 0x80 | (v >> 14) & 0x7F, 0x80 | (v >> 7) & 0x7F,
                  0x80 | v & 0x7F])


def record(rtype: int, payload: bytes) -> bytes:
    payload = pad4(payload)
    return encode_size(8 + len(payload)) + struct.pack("<I", rtype) + payload


def log_header(seq: int = 1, prev_seq: int = 0, prev_offset: int = 0,
               indexid: int = INDEXID) -> bytes:
    return struct.pack("<BBHIIIIIQB3xI", 1, 3, 40, indexid, seq, prev_seq, prev_offset,
                       1700000000, 1, 1, 0)


def append(*messages: tuple[int, int]) -> bytes:
    return record(0x2 | EXTERNAL, b"".join(struct.pack("<IB3x", u, f) for u, f in messages))


def flag_update(uid1: int, uid2: int, add: int = 0, remove: int = 0,
                external: bool = False) -> bytes:
    return record(0x4 | (EXTERNAL if external else 0),
                  struct.pack("<IIBBBx", uid1, uid2, add, remove, 0))


def expunge_guid(*uids: int, external: bool = True) -> bytes:
    body = b"".join(struct.pack("<I16s", u, bytes(16)) for u in uids)
    return record(0xED90 | (EXTERNAL if external else 0), body)


def expunge(uid1: int, uid2: int, external: bool = True) -> bytes:
    return record(0xCD91 | (EXTERNAL if external else 0), struct.pack("<II", uid1, uid2))


def header_update(offset: int, data: bytes) -> bytes:
    return record(0x20, struct.pack("<HH", offset, len(data)) + data)


def uid_validity(value: int) -> bytes:
    return header_update(24, struct.pack("<I", value))


def keyword_update(name: str, *ranges: tuple[int, int], remove: bool = False) -> bytes:
    raw = name.encode()
    head = pad4(struct.pack("<BxH", 1 if remove else 0, len(raw)) + raw)
    return record(0x400, head + b"".join(struct.pack("<II", a, b) for a, b in ranges))


def keyword_reset(*ranges: tuple[int, int]) -> bytes:
    return record(0x800, b"".join(struct.pack("<II", a, b) for a, b in ranges))


def ext_intro(name: str, hdr_size: int, rec_size: int, rec_align: int, *,
              ext_id: int = NO_ID, reset_id: int = 0, flags: int = 0) -> bytes:
    raw = name.encode() if ext_id == NO_ID else b""
    body = struct.pack("<IIIHHHH", ext_id, reset_id, hdr_size, rec_size, rec_align, flags,
                       len(raw)) + raw
    return record(0x40, body)


def ext_reset(new_reset_id: int, preserve: bool = False) -> bytes:
    return record(0x80, struct.pack("<IB3x", new_reset_id, int(preserve)))


def ext_hdr_update(offset: int, data: bytes) -> bytes:
    return record(0x100, struct.pack("<HH", offset, len(data)) + data)


def ext_rec_update(*updates: tuple[int, bytes]) -> bytes:
    return record(0x200, b"".join(pad4(struct.pack("<I", u) + d) for u, d in updates))


def ext_atomic_inc(*incs: tuple[int, int]) -> bytes:
    return record(0x1000, b"".join(struct.pack("<Ii", u, d) for u, d in incs))


def boundary(size: int) -> bytes:
    return record(0x80000 | EXTERNAL, struct.pack("<I", size))


def transaction(*records: bytes) -> bytes:
    """Records preceded by a BOUNDARY giving the transaction's total size."""
    body = b"".join(records)
    return boundary(12 + len(body)) + body


def index_file(messages: list[tuple[int, int]], *, next_uid: int, log_seq: int,
               head_offset: int, uid_validity: int = 1234, first_recent: int = 1,
               keywords: list[str] | None = None,
               masks: dict[int, bytes] | None = None) -> bytes:
    """A ``dovecot.index`` with an optional ``keywords`` extension (record bytes per uid)."""
    exts = b""
    record_size = 8
    kw_offset = 0
    if keywords is not None:
        names = b"".join(k.encode() + b"\0" for k in keywords)
        recs = b"".join(struct.pack("<II", 0, sum(len(k) + 1 for k in keywords[:i]))
                        for i in range(len(keywords)))
        data = pad4(struct.pack("<I", len(keywords)) + recs + names)
        kw_offset, kw_size = 5, 2
        record_size = 8
        exts += struct.pack("<IIHHHH", len(data), 0, kw_offset, kw_size, 1, 8) + b"keywords"
        exts += data + b"\0" * (-len(data) % 8)
    header_size = 120 + len(exts)
    head = bytearray(120)
    struct.pack_into("<BBHII", head, 0, 7, 3, 120, header_size, record_size)
    head[12] = 1
    struct.pack_into("<IIIII", head, 16, INDEXID, 0, uid_validity, next_uid, len(messages))
    struct.pack_into("<I", head, 48, first_recent)
    struct.pack_into("<III", head, 60, log_seq, head_offset, head_offset)
    recs = b""
    for uid, flags in messages:
        rec = bytearray(struct.pack("<IB3x", uid, flags))
        if masks and uid in masks:
            rec[kw_offset : kw_offset + 2] = masks[uid]
        recs += bytes(rec)
    return bytes(head) + exts + recs


def write(directory: Path, **files: bytes) -> Path:
    """Write ``name=bytes`` files (``log`` -> dovecot.index.log, ``log2``, ``index``)."""
    names = {"index": "dovecot.index", "log": "dovecot.index.log", "log2": "dovecot.index.log.2"}
    directory.mkdir(parents=True, exist_ok=True)
    for key, data in files.items():
        (directory / names[key]).write_bytes(data)
    return directory


def summary(directory: Path, **kw: object) -> list[tuple[int, set[str], tuple[str, ...]]]:
    index = read_index(str(directory), **kw)  # type: ignore[arg-type]
    return [(r.uid, set(system_flags(r.flags)), r.keywords) for r in index.records]


BASE_LOG = log_header() + transaction(uid_validity(1234), append((1, 0x08), (2, 0), (3, 0x02)))


# -- log only -----------------------------------------------------------------------------------
def test_log_only_index(tmp_path: Path) -> None:
    d = write(tmp_path, log=BASE_LOG + transaction(flag_update(2, 3, add=0x01, remove=0x02)))
    index = read_index(str(d))
    assert (index.uid_validity, index.next_uid, index.first_recent_uid) == (1234, 4, 1)
    assert summary(d) == [(1, {"\\Seen"}, ()), (2, {"\\Answered"}, ()), (3, {"\\Answered"}, ())]
    assert index.warnings == ()


CASES = [
    pytest.param([expunge_guid(2)], [1, 3], id="external-expunge-guid"),
    pytest.param([expunge_guid(2, external=False)], [1, 2, 3], id="expunge-request-ignored"),
    pytest.param([expunge(1, 2)], [3], id="external-expunge-range"),
    pytest.param([expunge(1, 2, external=False)], [1, 2, 3], id="expunge-range-request"),
    pytest.param([expunge_guid(9)], [1, 2, 3], id="expunge-unknown-uid"),
    pytest.param([append((4, 0)), expunge_guid(1, 4)], [2, 3], id="append-then-expunge"),
]


@pytest.mark.parametrize(("records", "uids"), CASES)
def test_expunges(tmp_path: Path, records: list[bytes], uids: list[int]) -> None:
    d = write(tmp_path, log=BASE_LOG + transaction(*records))
    assert [uid for uid, _, _ in summary(d)] == uids


def test_flags_mask_keeps_imap_bits_only(tmp_path: Path) -> None:
    d = write(tmp_path, log=log_header() + transaction(append((1, 0xFF))))
    assert read_index(str(d)).records[0].flags == 0x1F
    assert read_index(str(d)).records[0].dirty
    assert system_flags(0x1F) == {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"}


def test_header_update_never_lowers_next_uid(tmp_path: Path) -> None:
    d = write(tmp_path, log=BASE_LOG + transaction(
        header_update(28, struct.pack("<I", 2)), header_update(48, struct.pack("<I", 3))))
    index = read_index(str(d))
    assert (index.next_uid, index.first_recent_uid) == (4, 3)


# -- keywords -----------------------------------------------------------------------------------
def test_keywords_add_remove_and_order(tmp_path: Path) -> None:
    d = write(tmp_path, log=BASE_LOG + transaction(
        keyword_update("$Later", (1, 2)),
        keyword_update("$Junk", (2, 3)),
        keyword_update("$Later", (2, 2), remove=True),
        keyword_update("unused", (1, 1), remove=True),  # a remove still adds the name
    ))
    index = read_index(str(d))
    assert index.keywords == ("$Later", "$Junk", "unused")
    assert summary(d) == [(1, {"\\Seen"}, ("$Later",)), (2, set(), ("$Junk",)),
                          (3, {"\\Flagged"}, ("$Junk",))]
    assert index.header_extensions["keywords"][:4] == struct.pack("<I", 3)


def test_keyword_reset(tmp_path: Path) -> None:
    d = write(tmp_path, log=BASE_LOG + transaction(
        keyword_update("a", (1, 3)), keyword_update("b", (1, 3)), keyword_reset((2, 3))))
    assert [kw for _, _, kw in summary(d)] == [("a", "b"), (), ()]


def test_forty_keywords_grow_the_record(tmp_path: Path) -> None:
    names = [f"kw{i}" for i in range(44)]
    d = write(tmp_path, log=BASE_LOG + transaction(*(keyword_update(n, (2, 2)) for n in names)))
    index = read_index(str(d))
    assert index.records[1].keywords == tuple(names)
    assert len(index.records[1].extensions["keywords"]) == 7  # reference §1.4: 41-48 -> 7


def test_keyword_created_extension_shifts_ext_ids(tmp_path: Path) -> None:
    """``keywords`` takes the next ext_id; a later intro by id counts it (reference §6.2)."""
    d = write(tmp_path, log=BASE_LOG + transaction(
        ext_intro("first", 0, 4, 4), ext_rec_update((1, b"AAAA")),
        keyword_update("k", (1, 1)),
        ext_intro("", 0, 4, 4, ext_id=0), ext_rec_update((2, b"BBBB")),
    ))
    index = read_index(str(d))
    assert list(index.header_extensions) == ["first", "keywords"]
    assert [r.extensions["first"] for r in index.records] == [b"AAAA", b"BBBB", bytes(4)]


# -- extensions ---------------------------------------------------------------------------------
def test_extension_records_reset_and_atomic_inc(tmp_path: Path) -> None:
    d = write(tmp_path, log=BASE_LOG + transaction(
        ext_intro("ref", 0, 2, 2), ext_rec_update((1, b"\x01\x00"), (2, b"\x01\x00")),
        ext_atomic_inc((1, 1), (2, -1), (3, -1)),  # uid 3 would go below zero: skipped
        ext_intro("map", 8, 12, 4), ext_hdr_update(0, b"\x07\x00\x00\x00"),
        ext_rec_update((3, b"\x01\x00\x00\x00\x10\x00\x00\x00\x20\x00\x00\x00")),
    ))
    index = read_index(str(d))
    assert [r.extensions["ref"] for r in index.records] == [b"\x02\x00", b"\x00\x00", b"\0\0"]
    assert index.records[2].extensions["map"] == bytes.fromhex("010000001000000020000000")
    assert index.header_extensions["map"] == b"\x07\x00\x00\x00" + bytes(4)
    assert any("uid=3" in w or "uid 3" in w or "(uid=3" in w for w in index.warnings)


def test_stale_reset_id_ignores_updates_but_reset_applies(tmp_path: Path) -> None:
    d = write(tmp_path, log=BASE_LOG + transaction(
        ext_intro("x", 4, 4, 4), ext_rec_update((1, b"1111")), ext_hdr_update(0, b"hhhh"),
        ext_intro("x", 4, 4, 4, reset_id=5), ext_rec_update((2, b"2222")),  # stale: ignored
        ext_reset(5),  # applies: clears data, reset_id = 5
        ext_intro("x", 4, 4, 4, reset_id=5), ext_rec_update((3, b"3333")),
    ))
    index = read_index(str(d))
    assert [r.extensions["x"] for r in index.records] == [bytes(4), bytes(4), b"3333"]
    assert index.header_extensions["x"] == bytes(4)


def test_extension_grows_and_shrinks(tmp_path: Path) -> None:
    d = write(tmp_path, log=BASE_LOG + transaction(
        ext_intro("x", 0, 4, 4), ext_rec_update((1, b"abcd")),
        ext_intro("x", 0, 8, 4), ext_rec_update((2, b"12345678")),
        ext_intro("x", 0, 2, 2, flags=1),  # NO_SHRINK: stays 8
    ))
    assert [r.extensions["x"] for r in read_index(str(d)).records] == [
        b"abcd\0\0\0\0", b"12345678", bytes(8)]
    d2 = write(tmp_path / "shrink", log=BASE_LOG + transaction(
        ext_intro("x", 0, 4, 4), ext_rec_update((1, b"abcd")), ext_intro("x", 0, 2, 2)))
    assert read_index(str(d2)).records[0].extensions["x"] == b"ab"


@pytest.mark.parametrize("bad", [
    pytest.param(append((2, 0)), id="append-below-next-uid"),
    pytest.param(ext_intro("keywords", 0, 2, 1), id="intro-for-keywords"),
    pytest.param(ext_intro("", 0, 4, 4, ext_id=7), id="intro-unknown-id"),
    pytest.param(ext_rec_update((1, b"xxxx")), id="rec-update-without-intro"),
    pytest.param(header_update(118, b"abcd"), id="header-update-out-of-range"),
    pytest.param(record(0x4000000, b"\0\0\0\0"), id="unknown-type"),
])
def test_corrupt_records_are_skipped_like_dovecot(tmp_path: Path, bad: bytes) -> None:
    d = write(tmp_path, log=BASE_LOG + transaction(bad, flag_update(1, 1, add=0x04)))
    index = read_index(str(d))
    assert [r.uid for r in index.records] == [1, 2, 3]
    assert index.records[0].flags == 0x0C  # the record after the bad one still applies
    assert len(index.warnings) == 1 and "dovecot.index.log: record at offset" in index.warnings[0]


# -- base file + log ----------------------------------------------------------------------------
def test_base_file_plus_log_tail(tmp_path: Path) -> None:
    tail = transaction(flag_update(1, 1, remove=0x08), keyword_update("$Junk", (2, 2)),
                       append((7, 0x10)))
    log = BASE_LOG + tail
    base = index_file([(1, 0x08), (2, 0), (5, 0x02)], next_uid=6, log_seq=1,
                      head_offset=len(BASE_LOG), keywords=["old"], masks={5: b"\x01\x00"})
    d = write(tmp_path, index=base, log=log)
    index = read_index(str(d))
    assert summary(d) == [(1, set(), ()), (2, set(), ("$Junk",)), (5, {"\\Flagged"}, ("old",)),
                          (7, {"\\Draft"}, ())]
    assert index.keywords == ("old", "$Junk")
    assert index.next_uid == 8


def test_dirty_bit_through_base_file_and_log(tmp_path: Path) -> None:
    """MAIL_INDEX_MAIL_FLAG_DIRTY (0x80) comes from the record byte and FLAG_UPDATEs.

    What mbox sync writes (``mbox_sync_update_index``): ``mail_index_update_flags`` with
    MODIFY_REPLACE logs ``add = flags, remove = ~flags & 0x1f`` -- so a replace never clears
    DIRTY -- and MODIFY_ADD/REMOVE of 0x80 alone when only the dirty state changed.
    """
    base = index_file([(1, 0x88), (2, 0x08), (3, 0x82), (5, 0x01)], next_uid=6, log_seq=1,
                      head_offset=len(BASE_LOG))
    tail = transaction(
        flag_update(1, 1, remove=0x80, external=True),             # undirtied, flags kept
        flag_update(2, 2, add=0x82, remove=0x1D, external=True),   # replace, now dirty
        flag_update(3, 3, add=0x01, remove=0x1E, external=True),   # replace: still dirty
        append((7, 0x88)),                                         # appended dirty
        flag_update(5, 5, add=0x80),                               # added alone
        flag_update(5, 5, remove=0x80),                            # and removed again
    )
    d = write(tmp_path, index=base, log=BASE_LOG + tail)
    got = [(r.uid, r.flags, r.dirty) for r in read_index(str(d)).records]
    assert got == [(1, 0x08, False), (2, 0x02, True), (3, 0x01, True), (5, 0x01, False),
                   (7, 0x08, True)]
    # the base file alone (its head offset at the end of the log): the record bytes' bit
    d2 = write(tmp_path / "base-only", index=base, log=BASE_LOG)
    got = [(r.uid, r.flags, r.dirty) for r in read_index(str(d2)).records]
    assert got == [(1, 0x08, True), (2, 0x08, False), (3, 0x02, True), (5, 0x01, False)]


def test_base_file_without_log_is_used_with_a_warning(tmp_path: Path) -> None:
    base = index_file([(1, 0x08)], next_uid=2, log_seq=3, head_offset=500)
    index = read_index(str(write(tmp_path, index=base)))
    assert [r.uid for r in index.records] == [1]
    assert "dovecot.index.log missing" in index.warnings[0]


def test_rotation_log2_then_log(tmp_path: Path) -> None:
    log2 = BASE_LOG + transaction(flag_update(1, 1, add=0x02))
    log = log_header(seq=2, prev_seq=1, prev_offset=len(log2)) + transaction(
        flag_update(2, 2, add=0x10))
    base = index_file([(1, 0x08), (2, 0), (3, 0x02)], next_uid=4, log_seq=1,
                      head_offset=len(BASE_LOG))
    d = write(tmp_path, index=base, log=log, log2=log2)
    assert summary(d) == [(1, {"\\Seen", "\\Flagged"}, ()), (2, {"\\Draft"}, ()),
                          (3, {"\\Flagged"}, ())]
    # without the base file: replay from .log.2 (prev_file_seq 0) through .log
    (d / "dovecot.index").unlink()
    assert summary(d) == [(1, {"\\Seen", "\\Flagged"}, ()), (2, {"\\Draft"}, ()),
                          (3, {"\\Flagged"}, ())]


def test_index_pointing_at_the_end_of_a_rotated_file(tmp_path: Path) -> None:
    """The index is synced to the end of seq 1 whose file is gone; seq 2 continues it."""
    log = log_header(seq=2, prev_seq=1, prev_offset=len(BASE_LOG)) + transaction(
        flag_update(3, 3, remove=0x02))
    base = index_file([(1, 0x08), (2, 0), (3, 0x02)], next_uid=4, log_seq=1,
                      head_offset=len(BASE_LOG))
    assert summary(write(tmp_path, index=base, log=log))[2] == (3, set(), ())


def test_newer_reset_log_discards_the_base_file(tmp_path: Path) -> None:
    base = index_file([(1, 0x08), (2, 0)], next_uid=3, log_seq=1, head_offset=40)
    log = log_header(seq=2) + transaction(uid_validity(99), append((5, 0x04)))
    index = read_index(str(write(tmp_path, index=base, log=log)))
    assert (index.uid_validity, [r.uid for r in index.records]) == (99, [5])


def test_log_of_another_index_is_ignored(tmp_path: Path) -> None:
    base = index_file([(1, 0x08)], next_uid=2, log_seq=1, head_offset=40)
    log = log_header(indexid=42) + transaction(flag_update(1, 1, add=0x02))
    index = read_index(str(write(tmp_path, index=base, log=log)))
    assert index.records[0].flags == 0x08
    assert any("indexid 42" in w for w in index.warnings)


# -- errors ---------------------------------------------------------------------------------------
def test_nothing_there_is_notfound(tmp_path: Path) -> None:
    with pytest.raises(MailstoreError) as e:
        read_index(str(tmp_path))
    assert e.value.kind is Kind.NOTFOUND
    assert "dovecot.index(.log) missing in" in str(e.value)


@pytest.mark.parametrize("cut", [3, 8, 13])
def test_truncated_log_is_invaliddata_naming_file_and_offset(tmp_path: Path, cut: int) -> None:
    tail = transaction(flag_update(1, 1, add=0x02))
    d = write(tmp_path, log=BASE_LOG + tail[:-cut])
    with pytest.raises(MailstoreError) as e:
        read_index(str(d))
    assert e.value.kind is Kind.INVALIDDATA
    assert f"{d}/dovecot.index.log" in str(e.value)
    assert f"offset {len(BASE_LOG)}" in str(e.value)
    # non-strict: the whole torn transaction is left out (as Dovecot 2.4 does), with a warning
    index = read_index(str(d), strict=False)
    assert index.records[0].flags == 0x08
    assert f"offset {len(BASE_LOG)}" in index.warnings[0]


def test_truncated_log_header(tmp_path: Path) -> None:
    d = write(tmp_path, log=log_header()[:20])
    with pytest.raises(MailstoreError) as e:
        read_index(str(d))
    assert e.value.kind is Kind.INVALIDDATA and "dovecot.index.log" in str(e.value)


def test_log_without_reset_and_without_index_cannot_be_replayed(tmp_path: Path) -> None:
    d = write(tmp_path, log=log_header(seq=3, prev_seq=2, prev_offset=99) + transaction(
        append((1, 0))))
    with pytest.raises(MailstoreError) as e:
        read_index(str(d))
    assert e.value.kind is Kind.INVALIDDATA and "no reset log" in str(e.value)


def test_missing_middle_log_file(tmp_path: Path) -> None:
    log2 = BASE_LOG
    log = log_header(seq=3, prev_seq=2, prev_offset=64) + transaction(append((4, 0)))
    d = write(tmp_path, log=log, log2=log2)
    with pytest.raises(MailstoreError) as e:
        read_index(str(d))
    assert "missing log file between seq 1 and 3" in str(e.value)
    assert [r.uid for r in read_index(str(d), strict=False).records] == [1, 2, 3]


@pytest.mark.parametrize(("mutate", "message"), [
    pytest.param(lambda b: b[:100], "file ends inside its", id="cut-header"),
    pytest.param(lambda b: b[:-3], "message records", id="cut-records"),
    pytest.param(lambda b: b"\x06" + b[1:], "major version 6", id="major"),
])
def test_corrupt_base_file_falls_back_to_a_reset_log(tmp_path: Path, mutate: object,
                                                     message: str) -> None:
    base = index_file([(1, 0x08), (2, 0), (3, 0x02)], next_uid=4, log_seq=1,
                      head_offset=len(BASE_LOG))
    broken = mutate(base)  # type: ignore[operator]
    d = write(tmp_path, index=broken, log=BASE_LOG)
    index = read_index(str(d))
    assert [r.uid for r in index.records] == [1, 2, 3]
    assert message in index.warnings[0] and "rebuilt from the transaction log" in index.warnings[0]
    (d / "dovecot.index.log").write_bytes(log_header(seq=2, prev_seq=1, prev_offset=40))
    with pytest.raises(MailstoreError) as e:
        read_index(str(d))
    assert e.value.kind is Kind.INVALIDDATA
    assert f"{d}/dovecot.index: corrupt index at offset" in str(e.value)


def test_reader_writes_nothing(tmp_path: Path) -> None:
    d = write(tmp_path, log=BASE_LOG)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in d.iterdir()}
    d.chmod(0o555)
    try:
        read_index(str(d))
    finally:
        d.chmod(0o755)
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in d.iterdir()} == before
