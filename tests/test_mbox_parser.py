"""mbox parsing as Dovecot does it: boundaries, Content-Length, CRLF, metadata headers, UIDs.

Each row is an mbox file and, per message, what Dovecot shows (``doveadm fetch text``), its
UID, flags, keywords and whether it is \\Recent.  The tricky rows were checked against
``doveadm import`` in tests/test_mbox_e2e.py.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.location import parse_location
from mailstore.mbox.headers import hide_metadata, iter_header_lines
from mailstore.mbox.parser import iter_raw_messages
from mailstore.mbox.source import MboxSource, format_handle, parse_handle
from mailstore.mbox.sync import sync_messages
from mailstore.userdb import User

F1 = b"From a@b Mon Jan  1 00:00:00 2024\n"
F2 = b"From c@d Tue Jan  2 00:00:00 2024\n"
F3 = b"From e@f Wed Jan  3 00:00:00 2024\n"
SEEN, ANSWERED, FLAGGED, DRAFT, DELETED = "\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted"


def _m(shown: bytes, uid: int, flags: tuple[str, ...] = (), keywords: tuple[str, ...] = (),
       recent: bool = True) -> dict[str, Any]:
    return {"shown": shown, "uid": uid, "flags": frozenset(flags), "keywords": keywords,
            "recent": recent}


ROWS = [
    pytest.param(b"", [], id="empty-file"),
    pytest.param(F1 + b"S: 1\n\nb1\n", [_m(b"S: 1\n\nb1", 1)], id="final-lf-is-separator"),
    pytest.param(F1 + b"S: 1\n\nno newline", [_m(b"S: 1\n\nno newline", 1)],
                 id="no-final-newline"),
    pytest.param(F1 + b"S: 1\n\nb1\n\n" + F2 + b"S: 2\n\nb2\n",
                 [_m(b"S: 1\n\nb1\n", 1), _m(b"S: 2\n\nb2", 2)], id="two-messages"),
    pytest.param(F1 + b"S: 1\n\nFrom here on\n>From x\n\nFrom nobody\n",
                 [_m(b"S: 1\n\nFrom here on\n>From x\n\nFrom nobody", 1)],
                 id="invalid-from-in-body-is-content"),
    pytest.param(F1 + b"S: 1\n\nx\n" + F2 + b"y\n",
                 [_m(b"S: 1\n\nx", 1), _m(b"y", 2)], id="valid-from-in-body-splits"),
    pytest.param(F1 + b"S: 1\nContent-Length: 37\n\nx\n" + F2 + b"y\n",
                 [_m(b"S: 1\n\nx\n" + F2 + b"y", 1)], id="content-length-valid-to-eof"),
    pytest.param(F1 + b"S: 1\nContent-Length: 38\n\nx\n" + F2 + b"y\n\n" + F3 + b"S: 3\n\nz\n",
                 [_m(b"S: 1\n\nx\n" + F2 + b"y\n", 1), _m(b"S: 3\n\nz", 2)],
                 id="content-length-valid-before-from"),
    pytest.param(F1 + b"S: 1\nContent-Length: 99\n\nx\n\n" + F2 + b"S: 2\n\ny\n",
                 [_m(b"S: 1\n\nx\n", 1), _m(b"S: 2\n\ny", 2)], id="content-length-too-long"),
    pytest.param(F1 + b"S: 1\nContent-Length: 1\n\nxyz\n\n" + F2 + b"S: 2\n\ny\n",
                 [_m(b"S: 1\n\nxyz\n", 1), _m(b"S: 2\n\ny", 2)], id="content-length-too-short"),
    pytest.param(F1 + b"S: 1\nContent-Length: 2x\n\nxyz\n",
                 [_m(b"S: 1\n\nxyz", 1)], id="content-length-malformed"),
    pytest.param(F1.replace(b"\n", b"\r\n") + b"S: 1\r\nX-UID: 1\r\n\r\nb\r\n\r\n"
                 + F2.replace(b"\n", b"\r\n") + b"S: 2\r\n\r\nc\r\n",
                 [_m(b"S: 1\n\nb\r\n", 1), _m(b"S: 2\n\nc", 2)], id="crlf-mbox"),
    pytest.param(F1 + b"S: 1\n\n" + F2 + b"S: 2\n\nb\n",
                 [_m(b"S: 1\n", 1), _m(b"S: 2\n\nb", 2)], id="empty-line-is-the-separator"),
    pytest.param(F1 + b"S: 1\n" + F2 + b"S: 2\n\nb\n",
                 [_m(b"S: 1", 1), _m(b"S: 2\n\nb", 2)], id="from-line-inside-the-header"),
    pytest.param(F1 + F2 + b"S: 2\n\nb\n", [_m(F2 + b"S: 2\n\nb", 1)],
                 id="own-header-may-start-with-from"),
    pytest.param(F1 + b"Subject: x\nStatus: RO\nX-Status: AFTD\nx-uid: 1\nX-Other: y\n\tmore\n"
                 b"X-Keywords: \n\tcontinued\nContent-Length: 4\nX-IMAPbase: 1 2\n\nbody\n",
                 [_m(b"Subject: x\nX-Other: y\n\tmore\n\nbody", 3,
                     (SEEN, ANSWERED, FLAGGED, DRAFT, DELETED), recent=False)],
                 id="metadata-headers-hidden"),
    pytest.param(F1 + b"X-IMAPbase: 1700000000 0000000010 $Later Work\nX-UID: 5\n"
                 b"X-Keywords: $Later Work\n\nm1\n\n"
                 + F2 + b"X-UID: 4\nX-Keywords: Work Unknown\n\nm2\n\n"
                 + F3 + b"X-UID: 11\nX-Keywords: Work Work\nX-Keywords: $Later\n\nm3\n",
                 [_m(b"\nm1\n", 5, (), ("$Later", "Work")), _m(b"\nm2\n", 11),
                  _m(b"\nm3", 12, (), ("Work",))], id="x-imapbase-keywords-and-x-uid"),
    pytest.param(F1 + b"X-UID: 1\nX-Keywords: $Later\n\nm1\n\n" + F2 + b"X-UID: 1\n\nm2\n\n"
                 + F3 + b"X-UID: 3\n\nm3\n",
                 [_m(b"\nm1\n", 1), _m(b"\nm2\n", 2), _m(b"\nm3", 3)],
                 id="x-uid-without-x-imapbase"),
    pytest.param(F1 + b"X-UID: 3\nX-IMAPbase: 9 0000000004\n\nm1\n\n" + F2
                 + b"X-UID: 2\n\nm2\n\n" + F3 + b"X-UID: 4\nX-UID: 9\n\nm3\n",
                 [_m(b"\nm1\n", 5), _m(b"\nm2\n", 6), _m(b"\nm3", 7)],
                 id="x-uid-before-x-imapbase-and-not-growing"),
    pytest.param(F1 + b"Subject: internal\nX-IMAP: 17 0000000003 Foo\nStatus: RO\n\ntext\n\n"
                 + F2 + b"X-UID: 2\nX-Keywords: Foo\n\nreal\n",
                 [_m(b"\nreal", 2, (), ("Foo",))], id="x-imap-pseudo-message"),
    pytest.param(F1 + b"Status:\n\n1\n\n" + F2 + b"Status: O\n\n2\n\n" + F3 + b"Status: R\n\n3\n",
                 [_m(b"\n1\n", 1, recent=False), _m(b"\n2\n", 2, recent=False),
                  _m(b"\n3", 3, (SEEN,))], id="recent-after-the-last-old"),
]


def _write(tmp_path: Path, data: bytes) -> MboxSource:
    root = tmp_path / "mail"
    root.mkdir()
    (root / "inbox").write_bytes(data)
    return MboxSource(parse_location(f"mbox:{root}"), User("u"))


@pytest.mark.parametrize(("data", "expected"), ROWS)
def test_messages(tmp_path: Path, data: bytes, expected: list[dict[str, Any]]) -> None:
    source = _write(tmp_path, data)
    (folder,) = source.list_folders()
    metas = list(source.iter_messages(folder))
    got = [_m(source.read_message(folder, m), m.uid or 0, tuple(m.flags), m.keywords, m.recent)
           for m in metas]
    assert got == expected
    for meta, row in zip(metas, got, strict=True):
        assert meta.size == len(row["shown"])
        assert data[int(meta.source_key) :].startswith(b"From ")
    assert [m.position for m in metas] == list(range(len(metas)))


def test_not_an_mbox(tmp_path: Path) -> None:
    source = _write(tmp_path, b"Subject: no From_ line\n\nbody\n")
    (folder,) = source.list_folders()
    with pytest.raises(MailstoreError) as err:
        list(source.iter_messages(folder))
    assert err.value.kind is Kind.INVALIDDATA and "inbox" in str(err.value)


def test_truncated_file(tmp_path: Path) -> None:
    source = _write(tmp_path, F1 + b"S: 1\n\n" + b"x" * 100 + b"\n")
    (folder,) = source.list_folders()
    (meta,) = source.iter_messages(folder)
    path, offset, length = parse_handle(meta.handle)
    with open(path, "r+b") as f:
        f.truncate(offset + length - 10)
    with pytest.raises(MailstoreError) as err:
        source.read_message(folder, meta)
    assert err.value.kind is Kind.INVALIDDATA
    assert path in str(err.value) and str(offset) in str(err.value)


def test_handle_with_colons() -> None:
    assert parse_handle(format_handle("/a:b/c::d", 12, 34)) == ("/a:b/c::d", 12, 34)


HIDE = [
    (b"A: 1\r\nStatus: RO\r\n\r\nb\r\n", b"A: 1\n\nb\r\n"),
    (b"STATUS : R\nA: 1\n", b"A: 1\n"),
    (b"Status-Foo: 1\nXStatus: 2\n\n", b"Status-Foo: 1\nXStatus: 2\n\n"),
    (b" Status: continued first line\n\n", b" Status: continued first line\n\n"),
    (b"no colon line\nX-UID: 3\n  cont\nB: 2", b"no colon line\nB: 2"),
    (b"A: 1\n \n\nbody", b"A: 1\n \n\nbody"),
    (b"A: 1\r\r\n\r\n", b"A: 1\r\n\n"),
    (b"\nStatus: body, not header\n", b"\nStatus: body, not header\n"),
]


@pytest.mark.parametrize(("raw", "shown"), HIDE)
def test_hide_metadata(raw: bytes, shown: bytes) -> None:
    assert hide_metadata(raw) == shown


def test_header_lines() -> None:
    lines = list(iter_header_lines(b"A: 1\r\n\tx\nB: 2\n\nbody"))
    assert [(ln.text, ln.continued, ln.eoh, ln.crlf) for ln in lines] == [
        (b"A: 1", False, False, True), (b"\tx", True, False, False),
        (b"B: 2", False, False, False), (b"", False, True, False)]


def test_parse_stream_offsets() -> None:
    data = F1 + b"S: 1\n\nb1\n\n" + F2 + b"S: 2\n\nb2\n"
    first, second = iter_raw_messages(io.BytesIO(data), len(data), "mem")
    assert (first.from_offset, first.sep_offset, first.hdr_offset) == (0, 0, len(F1))
    assert data[first.end : second.from_offset] == b"\n"
    assert second.sep_offset == first.end
    assert data[second.hdr_offset : second.end] == b"S: 2\n\nb2"
    mails = list(sync_messages([first, second], None))
    assert [m.uid for m in mails] == [1, 2]
