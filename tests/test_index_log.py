"""Transaction log framing: the size encoding, where reading stops, which records are invalid."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from test_index_replay import (
    EXTERNAL,
    append,
    encode_size,
    expunge_guid,
    ext_intro,
    flag_update,
    keyword_update,
    log_header,
    record,
    transaction,
)

from mailstore.errors import Kind, MailstoreError
from mailstore.index.logfile import LogFile, decode_size, read_log, read_records


@pytest.mark.parametrize(("raw", "size"), [
    (bytes.fromhex("80808089"), 36),  # reference §2.2, seen on disk
    (bytes.fromhex("80808082"), 8),
    (bytes.fromhex("80808180"), 512),
    (bytes.fromhex("81808080"), 1 << 23),
    (bytes.fromhex("00808089"), 0),  # a byte without its high bit: unfinished
    (bytes.fromhex("80800089"), 0),
    (bytes(4), 0),  # zero-filled tail
    (b"\x80\x80\x89", 0),
])
def test_decode_size(raw: bytes, size: int) -> None:
    assert decode_size(raw) == size


@pytest.mark.parametrize("size", [8, 12, 36, 1020, 4096, 1 << 20])
def test_size_round_trip(size: int) -> None:
    assert decode_size(encode_size(size)) == size


def _log(tmp_path: Path, data: bytes) -> LogFile:
    path = tmp_path / "dovecot.index.log"
    path.write_bytes(data)
    log = read_log(str(path))
    assert log is not None
    return log


def test_header_fields(tmp_path: Path) -> None:
    log = _log(tmp_path, log_header(seq=7, prev_seq=6, prev_offset=1234))
    h = log.header
    assert (h.major, h.minor, h.hdr_size, h.file_seq, h.prev_file_seq, h.prev_file_offset,
            h.compat_flags) == (1, 3, 40, 7, 6, 1234, 1)
    assert log.usable()
    assert read_log(str(tmp_path / "absent")) is None


@pytest.mark.parametrize("patch", [
    pytest.param((0, b"\x02"), id="major-2"),
    pytest.param((32, b"\x00"), id="big-endian"),
    pytest.param((4, bytes(4)), id="indexid-0-corrupted"),
])
def test_unusable_headers(tmp_path: Path, patch: tuple[int, bytes]) -> None:
    data = bytearray(log_header())
    offset, value = patch
    data[offset : offset + len(value)] = value
    assert not _log(tmp_path, bytes(data)).usable()


def test_short_header_is_invaliddata(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_bytes(b"\x01\x03\x28\x00")
    with pytest.raises(MailstoreError) as e:
        read_log(str(tmp_path / "x.log"))
    assert e.value.kind is Kind.INVALIDDATA and "x.log" in str(e.value)


GOOD = transaction(append((1, 0)), flag_update(1, 1, add=8))


@pytest.mark.parametrize(("tail", "why"), [
    pytest.param(b"", None, id="clean-end"),
    pytest.param(b"\x80\x80", "stray bytes", id="stray-bytes"),
    pytest.param(bytes(16), "zero-filled", id="zero-tail"),
    pytest.param(encode_size(4) + bytes(4), "too small", id="size-below-8"),
    pytest.param(record(0x2, struct.pack("<IB3x", 2, 0))[:-4], "runs past the end", id="partial"),
    pytest.param(transaction(append((2, 0)))[:-1], "runs past the end", id="torn-transaction"),
    pytest.param(transaction(append((2, 0)), flag_update(2, 2))[:-12], "transaction of",
                 id="boundary-past-end"),
    pytest.param(encode_size(8) + struct.pack("<I", 0x4), "empty record", id="empty-payload"),
    pytest.param(record(0x1 | EXTERNAL, struct.pack("<II", 1, 1)), "protection",
                 id="expunge-without-prot"),
    pytest.param(record(0x2000 | EXTERNAL, struct.pack("<I16s", 1, bytes(16))), "protection",
                 id="expunge-guid-without-prot"),
    pytest.param(record(0x2, b"\x01\x00\x00\x00"), "append record size", id="append-size"),
    pytest.param(expunge_guid(0), "uid 0", id="expunge-guid-uid-0"),
    pytest.param(record(0x4, struct.pack("<IIBBBx", 3, 2, 1, 0, 0)), "invalid UID range",
                 id="flag-range-reversed"),
    pytest.param(record(0x4, struct.pack("<IIBBBx", 0, 2, 1, 0, 0)), "invalid UID range",
                 id="flag-range-zero"),
    pytest.param(record(0x400, struct.pack("<BxH", 0, 0) + struct.pack("<II", 1, 1)),
                 "empty keyword", id="keyword-empty-name"),
    pytest.param(record(0x400, struct.pack("<BxH", 0, 50) + b"abcd"), "keyword update",
                 id="keyword-name-overrun"),
    pytest.param(keyword_update("k"), "no UID ranges", id="keyword-without-ranges"),
    pytest.param(record(0x40, struct.pack("<IIIHHHH", 0xFFFFFFFF, 0, 0, 4, 4, 0, 90)),
                 "name_size too large", id="intro-name-overrun"),
])
def test_where_reading_stops(tmp_path: Path, tail: bytes, why: str | None) -> None:
    log = _log(tmp_path, log_header() + GOOD + tail)
    records, end, problem = read_records(log, 40)
    assert [r.kind for r in records] == [0x80000, 0x2, 0x4]
    assert end == 40 + len(GOOD)
    if why is None:
        assert problem is None
    else:
        assert problem is not None and why in problem


def test_record_fields(tmp_path: Path) -> None:
    log = _log(tmp_path, log_header() + GOOD + ext_intro("x", 0, 4, 4))
    records, _, problem = read_records(log, 40)
    assert problem is None
    boundary, app, flags, intro = records
    assert boundary.external and app.external and not flags.external
    assert (app.offset, app.payload) == (40 + 12, struct.pack("<IB3x", 1, 0))
    assert intro.kind == 0x40
