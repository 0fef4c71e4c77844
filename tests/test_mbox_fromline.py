"""The From_ line rules of Dovecot's mbox_from_parse(): rows it accepts and rows it rejects."""

from __future__ import annotations

import calendar
import time

import pytest

from mailstore.mbox.fromline import is_from_line, parse_from_line


def _utc(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0))


def _local(*fields: int) -> int:
    return int(time.mktime(time.struct_time((*fields, 0, 0, -1))))


ACCEPT = [
    (b"a@b Tue Jan  2 11:00:00 2024 +0300\n", _utc(2024, 1, 2, 8, 0, 0), b"a@b"),
    (b"a@b Thu Nov 29 22:33:52 2001\n", _local(2001, 11, 29, 22, 33, 52), b"a@b"),
    (b"a@b  Wed Jul 13 17:53:42 2016\n", _local(2016, 7, 13, 17, 53, 42), b"a@b"),  # Dovecot's
    (b"a@b Mon Jan 1 00:00 2024\n", _local(2024, 1, 1, 0, 0, 0), b"a@b"),  # no secs, no pad
    (b"a@b Mon Jan 01 00:00:00 PST 2024\n", _local(2024, 1, 1, 0, 0, 0), b"a@b"),  # zone name
    (b"a@b Mon Jan  1 00:00:00 +0100 2024\n", _local(2024, 1, 1, 0, 0, 0), b"a@b"),  # = a name
    (b'"x y"@b Mon Jan  1 00:00:00 2024\n', _local(2024, 1, 1, 0, 0, 0), b'"x y"@b'),
    (b'"x \\" y"@b Mon Jan  1 00:00:00 2024\n', _local(2024, 1, 1, 0, 0, 0), b'"x \\" y"@b'),
    (b"a@b Thu, 9 Nov 2002 22:33:52\n", _local(2002, 11, 9, 22, 33, 52), b"a@b"),
    (b"a@b Thu, 19 Nov 2002 22:33:52 -0100\n", _utc(2002, 11, 19, 23, 33, 52), b"a@b"),
    (b"a@b Thu, 9 Nov 2002 22:33\n", _local(2002, 11, 9, 22, 33, 0), b"a@b"),
    (b"a@b Xyz jAN  1 00:00:00 2024 +0000\n", _utc(2024, 1, 1, 0, 0, 0), b"a@b"),  # weekday
    (b"a@b Mon Jan  0 00:00:00 2024 +0000\n", _utc(2024, 1, 1, 0, 0, 0), b"a@b"),  # day 0 = 1
    (b"a@b Mon ??? 5 00:00:00 2024 +0000\n", _utc(2024, 1, 5, 0, 0, 0), b"a@b"),  # ??? = Jan
    (b"a@b Mon Jun  3 04:05:06 2013 +0530\n", _utc(2013, 6, 3, 4, 5, 6) - 5 * 3600 - 30, b"a@b"),
    (b"a@b Sat Dec 31 23:59:60 2016 +0000\n", _utc(2016, 12, 31, 23, 59, 59), b"a@b"),  # leap
    (b"MAILER-DAEMON Fri Jul  8 12:08:34 2011\n", _local(2011, 7, 8, 12, 8, 34), b"MAILER-DAEMON"),
    (b"a@b Mon Feb 30 00:00:00 2024\n", _local(2024, 2, 30, 0, 0, 0), b"a@b"),  # mktime normalises
]

REJECT = [
    b"not-a-valid-from-line\n",
    b"here on it is body, isn't it?\n",
    b"a@b Mon Foo  1 00:00:00 2024\n",
    b"a@b Mon Jan  1 0:00:00 2024 and more\n",
    b"a@b Mon Jan  1 00:00:00\nnext line 2024\n",
    b"a@b Mon Feb 30 00:00:00 2024 +0000\n",  # invalid date with a numeric zone
    b"a@b Mon Jan  1 24:00:00 2024 +0000\n",
    b"a@b Mon Jan  1 00:00:00 20x4 trailing\n",
    b'"unterminated\nMon Jan  1 00:00:00 2024\n',
    b"a@b Mon Jan 1 00:00 2024",  # 20 bytes and nothing after: too short for Dovecot
    b"a@b Thu, x Nov 2002 22:33:52\n",
    b"a@b Mon Jan  1 00:00:0x 2024\n",
    b"a@b Mon Jan  1 00:00:00PST 2024\n",
    b"a@b\n",
    b"",
]


@pytest.mark.parametrize(("line", "received", "sender"), ACCEPT)
def test_accepts(line: bytes, received: int, sender: bytes) -> None:
    parsed = parse_from_line(line)
    assert parsed is not None
    assert parsed.received == received
    assert parsed.sender == sender
    assert is_from_line(b"From " + line)


@pytest.mark.parametrize("line", REJECT)
def test_rejects(line: bytes) -> None:
    assert parse_from_line(line) is None
    assert not is_from_line(b"From " + line)


def test_zone_minutes() -> None:
    parsed = parse_from_line(b"a@b Tue Jan  2 11:00:00 2024 -0300\n")
    assert parsed is not None and parsed.tz_minutes == -180
    local = parse_from_line(b"a@b Tue Jan  2 11:00:00 2024\n")
    assert local is not None and local.tz_minutes is None
