"""The dbox file format: header, message header, body, metadata; what must be rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailstore.dbox.file import DboxFile, parse_metadata
from mailstore.errors import Kind, MailstoreError

BODY = b"Subject: hi\n\nhello\n"


def message(body: bytes = BODY, meta: bytes = b"G0123abc\nR5a000000\nV14\n") -> bytes:
    head = b"\x01\x02N " + b" " * 8 + b" " + b"%016X" % len(body) + b"\n"
    assert len(head) == 30
    return head + body + b"\n\x01\x03\n" + meta + b"\n"


def dbox(*messages: bytes, header: bytes = b"2 M1e C65a1b2c3\n") -> bytes:
    return header + b"".join(messages)


def _open(tmp_path: Path, data: bytes) -> DboxFile:
    path = tmp_path / "u.1"
    path.write_bytes(data)
    return DboxFile.open(str(path))


def test_single_message(tmp_path: Path) -> None:
    with _open(tmp_path, dbox(message())) as f:
        assert (f.header.version, f.header.msg_header_size, f.header.create_time) == (
            2, 30, 0x65A1B2C3)
        msg = f.message_at(f.header.size)
        assert (msg.guid, msg.received_date, msg.vsize, msg.size) == ("0123abc", 0x5A000000,
                                                                      20, len(BODY))
        assert msg.physical_size == len(BODY) and msg.ext_refs is None
        assert f.read_body(msg) == BODY
        assert msg.end == f.file_size


def test_several_messages_and_unknown_keys(tmp_path: Path) -> None:
    second = message(b"x", b"Bmailbox/name\nQunknown\nR1\nR2\n")
    with _open(tmp_path, dbox(message(), second)) as f:
        msgs = list(f.iter_messages())
        assert [f.read_body(m) for m in msgs] == [BODY, b"x"]
        assert msgs[1].orig_mailbox == "mailbox/name"
        assert msgs[1].metadata["Q"] == "unknown"
        assert msgs[1].received_date == 1  # the first occurrence wins, as in Dovecot
        assert msgs[1].guid is None and msgs[1].vsize is None


def test_metadata_ends_at_a_space_line(tmp_path: Path) -> None:
    data = dbox(message(meta=b"R10\n")[:-1] + b" padding\n")
    with _open(tmp_path, data) as f:
        assert f.message_at(f.header.size).received_date == 16


def test_larger_message_header_from_the_file_header(tmp_path: Path) -> None:
    head = b"\x01\x02N " + b" " * 8 + b" " + b"%016X" % 3 + b"  future\n"
    data = b"2 M%x C1\n" % len(head) + head + b"abc" + b"\n\x01\x03\nR2\n\n"
    with _open(tmp_path, data) as f:
        msg = f.message_at(f.header.size)
        assert f.read_body(msg) == b"abc" and msg.received_date == 2


@pytest.mark.parametrize(("data", "why"), [
    pytest.param(b"", "cut short", id="empty"),
    pytest.param(b"2 M1e C1", "cut short", id="header-without-lf"),
    pytest.param(b"3 M1e C1\n", "invalid dbox version", id="version-3"),
    pytest.param(b"1 M1e C1\n", "version 1", id="version-1"),
    pytest.param(b"2 C1\n", "missing message header size", id="no-M"),
    pytest.param(b"2 Mzz\n", "invalid header field", id="bad-M"),
    pytest.param(b"2 M4\n", "too small", id="tiny-M"),
    pytest.param(b"\x1f\x8b\x08\x00rest", "compressed", id="gzip"),
    pytest.param(b"BZh91AY", "compressed", id="bzip2"),
])
def test_bad_file_headers(tmp_path: Path, data: bytes, why: str) -> None:
    with pytest.raises(MailstoreError) as e:
        _open(tmp_path, data)
    assert e.value.kind is Kind.INVALIDDATA
    assert str(tmp_path / "u.1") in str(e.value) and why in str(e.value)


FULL = dbox(message())


@pytest.mark.parametrize(("data", "why"), [
    pytest.param(FULL[:30], "EOF reading msg header", id="cut-in-msg-header"),
    pytest.param(FULL[:60], "runs past the end", id="cut-in-body"),
    pytest.param(FULL[:-12], "metadata", id="cut-in-metadata"),
    pytest.param(FULL[:-1], "missing end-of-metadata line", id="no-end-line"),
    pytest.param(FULL.replace(b"\x01\x02N", b"\x01\x09N"), "bad magic", id="bad-pre-magic"),
    pytest.param(FULL.replace(b"\n\x01\x03\n", b"\n\x01\x04\n"), "bad magic",
                 id="bad-post-magic"),
    pytest.param(FULL.replace(b"%016X" % len(BODY), b"%016X" % (len(BODY) - 2)), "bad magic",
                 id="size-too-small"),
    pytest.param(FULL.replace(b"%016X" % len(BODY), b"00000000000000ZZ"), "invalid size",
                 id="size-not-hex"),
])
def test_corrupt_messages_name_file_and_offset(tmp_path: Path, data: bytes, why: str) -> None:
    with _open(tmp_path, data) as f, pytest.raises(MailstoreError) as e:
        f.message_at(f.header.size)
    assert e.value.kind is Kind.INVALIDDATA
    assert str(tmp_path / "u.1") in str(e.value) and why in str(e.value)
    assert "offset" in str(e.value)


def test_missing_file_is_notfound(tmp_path: Path) -> None:
    with pytest.raises(MailstoreError) as e:
        DboxFile.open(str(tmp_path / "u.404"))
    assert e.value.kind is Kind.NOTFOUND


def test_parse_metadata() -> None:
    assert parse_metadata([b"Gabc", b"R1f", b"", b"X1 2 3 ref", b"Gdup"]) == {
        "G": "abc", "R": "1f", "X": "1 2 3 ref"}
