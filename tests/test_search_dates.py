"""Tables for search dates, intervals and sizes, each row as doveadm 2.3.19.1 parsed it.

Rows marked [obs] were run through ``doveadm search since|before|larger|smaller VALUE`` on a
small Maildir (see test_search_match.py for the live differential test).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.search import SearchDate, parse_interval, parse_search_date, parse_size
from mailstore.search.dates import DateOp, date_matches, local_offset

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
DAY = 86400
MAR11 = 1710115200  # 2024-03-11T00:00:00Z
JUL02 = 1719878400  # 2024-07-02T00:00:00Z
INT64_MAX = 2**63 - 1


@pytest.fixture
def tz(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run with TZ set to the parametrized zone (the "server's" local zone)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


# (text, expected) -- independent of the local zone
ACCEPT = [
    # IMAP date: UTC midnight, compared as a calendar day
    ("11-Mar-2024", SearchDate(MAR11, False)),
    ("11-mar-2024", SearchDate(MAR11, False)),
    ("11-MAR-2024", SearchDate(MAR11, False)),
    ("2-Jul-2024", SearchDate(JUL02, False)),  # [obs]
    (" 2-Jul-2024", SearchDate(JUL02, False)),  # [obs] one leading space
    ("02-jul-2024", SearchDate(JUL02, False)),  # [obs]
    ("29-Feb-2024", SearchDate(1709164800, False)),
    ("1-Jan-1970", SearchDate(0, False)),
    ("1-Jan-0000", SearchDate(-62167219200, False)),
    ("31-Feb-2024", SearchDate(INT64_MAX, False)),  # [obs] impossible day: end of time
    ("0-Jan-2024", SearchDate(INT64_MAX, False)),  # [obs]
    ("29-Feb-2023", SearchDate(INT64_MAX, False)),
    ("31-Feb-1999", SearchDate(-(2**31), False)),  # [obs] ... or -2**31 up to year 2000
    ("30-Feb-2000", SearchDate(-(2**31), False)),
    # integers are Unix timestamps, UTC
    ("30", SearchDate(30, True)),  # [obs] 1970, not 30 days
    ("0", SearchDate(0, True)),
    ("00", SearchDate(0, True)),
    ("1710115200", SearchDate(MAR11, True)),
    ("-5", SearchDate(-5, True)),
    ("-2", SearchDate(-2, True)),
    ("9223372036854775807", SearchDate(INT64_MAX, True)),  # [obs]
    ("-9223372036854775808", SearchDate(-(2**63), True)),
    # intervals: now minus it, UTC
    ("30d", SearchDate(NOW - 30 * DAY, True)),  # [obs]
    ("30 d", SearchDate(NOW - 30 * DAY, True)),  # [obs]
    ("30 days", SearchDate(NOW - 30 * DAY, True)),  # [obs]
    ("30   DaY", SearchDate(NOW - 30 * DAY, True)),
    ("1week", SearchDate(NOW - 7 * DAY, True)),  # [obs]
    ("2weeks", SearchDate(NOW - 14 * DAY, True)),  # [obs]
    ("3 W", SearchDate(NOW - 21 * DAY, True)),  # [obs]
    ("5s", SearchDate(NOW - 5, True)),
    ("5 sec", SearchDate(NOW - 5, True)),
    ("5seconds", SearchDate(NOW - 5, True)),
    ("2m", SearchDate(NOW - 120, True)),
    ("2 mins", SearchDate(NOW - 120, True)),
    ("2minute", SearchDate(NOW - 120, True)),
    ("3h", SearchDate(NOW - 3 * 3600, True)),
    ("3 HOURS", SearchDate(NOW - 3 * 3600, True)),
    ("1000ms", SearchDate(NOW - 1, True)),  # [obs]
    ("2000 msecs", SearchDate(NOW - 2, True)),
    ("3000milliseconds", SearchDate(NOW - 3, True)),
    ("4000 mil", SearchDate(NOW - 4, True)),
    ("0s", SearchDate(NOW, True)),  # [obs]
    ("0 ", SearchDate(NOW, True)),  # [obs] 0 needs no unit, and a space is not an integer
    ("4294967295s", SearchDate(NOW - 4294967295, True)),  # [obs] the largest interval
    ("71582788m", SearchDate(NOW - 71582788 * 60, True)),  # [obs]
]


@pytest.mark.parametrize(("text", "expected"), ACCEPT, ids=[repr(r[0]) for r in ACCEPT])
def test_accept(text: str, expected: SearchDate) -> None:
    assert parse_search_date(text, now=NOW) == expected


# (text, zone, expected time): YYYY-MM-DD is 2.3's mktime() of local *standard-time* midnight
ISO = [
    ("2024-03-11", "UTC", MAR11),
    ("2024-03-11", "Europe/Berlin", MAR11 - 3600),
    ("2024-07-02", "Europe/Berlin", JUL02 - 3600),  # tm_isdst = 0: CET, not CEST
    ("2024-03-11", "America/New_York", MAR11 + 5 * 3600),  # EST although DST began on 03-10
    ("2024-13-01", "UTC", 1735689600),  # [obs] normalised to 2025-01-01
    ("2024-02-30", "UTC", 1709251200),  # [obs] 2024-03-01
    ("2024-00-00", "UTC", 1701302400),  # [obs] 2023-11-30
    ("0000-01-01", "UTC", -62167219200),  # [obs]
    ("1969-12-31", "UTC", -DAY),
]


@pytest.mark.parametrize(
    ("text", "tz", "expected"), ISO, ids=[f"{r[0]}@{r[1]}" for r in ISO], indirect=["tz"]
)
def test_iso_date_is_local_midnight(text: str, tz: str, expected: int) -> None:
    assert parse_search_date(text, now=NOW) == SearchDate(expected, False)


REJECT = [
    "",  # [obs]
    "abc",  # [obs]
    "2024-1-01",  # [obs]
    "2024-03-1",
    "2024/03/11",
    "2024-03-11 ",
    "2-July-2024",  # [obs]
    "2-Jul-24",  # [obs]
    "002-Jul-2024",  # [obs]
    "  2-Jul-2024",
    "2-Jul-2024 ",
    "2 Jul 2024",
    "2-Jux-2024",
    "-1",  # doveadm's error value (a shell user cannot reach it: getopt eats it)
    "+5",  # [obs] no plus sign
    " 5d",  # [obs]
    "5d ",  # [obs]
    "30dx",  # [obs]
    "1.5d",  # [obs]
    "1 y",  # [obs]
    "5",  # not an error: see test_accept; kept out of here
    "5 ",  # a number needs a unit unless it is 0
    "1500ms",  # [obs] milliseconds must divide by 1000
    "2 mil",  # [obs]
    "4294967296s",  # [obs] more than 2**32-1 seconds
    "71582789m",  # [obs]
    "9223372036854775808",  # [obs]
    "٣٠d",  # Arabic-Indic digits
    "３０",  # fullwidth digits
]
REJECT.remove("5")


@pytest.mark.parametrize("text", REJECT, ids=[repr(t) for t in REJECT])
def test_reject(text: str) -> None:
    with pytest.raises(MailstoreError) as info:
        parse_search_date(text, now=NOW)
    assert info.value.kind is Kind.PARAMS
    assert str(info.value) == (
        f"invalid date {text!r} (doveadm: Invalid search date parameter: {text})"
    )


def test_interval_resulting_in_minus_one_is_rejected() -> None:
    with pytest.raises(MailstoreError):
        parse_search_date("101s", now=100)
    assert parse_search_date("100s", now=100.9) == SearchDate(0, True)


INTERVALS = [
    ("0", 0),
    ("1s", 1),
    ("1m", 60),
    ("1mi", 60),
    ("1h", 3600),
    ("1d", DAY),
    ("1w", 7 * DAY),
    ("7000ms", 7),
    ("7000mseconds", 7),
    ("7000millisecs", 7),
]


@pytest.mark.parametrize(("text", "seconds"), INTERVALS)
def test_parse_interval(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "s", "1x", "1 s s", "1msx", "1001ms", "-1s", "1d1h"])
def test_parse_interval_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


SIZES = [
    ("0", 0),
    ("162", 162),
    ("10 ", 10),  # [obs]
    ("1B", 1),  # [obs]
    ("10b", 10),  # [obs]
    ("10k", 10240),  # [obs]
    ("10K", 10240),
    ("10kB", 10240),  # [obs]
    ("10KiB", 10240),  # [obs]
    ("1kib", 1024),  # [obs]
    ("1ki", 1024),  # [obs]
    ("1 MB", 1024**2),  # [obs]
    ("1Mi", 1024**2),  # [obs]
    ("2G", 2 * 1024**3),
    ("1T", 1024**4),  # [obs]
    ("16777215T", 16777215 * 1024**4),  # [obs]
    ("18446744073709551615", 2**64 - 1),  # [obs]
]


@pytest.mark.parametrize(("text", "size"), SIZES, ids=[repr(r[0]) for r in SIZES])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


SIZE_REJECT = [
    ("", "Invalid size: "),  # [obs]
    ("abc", "Invalid size: abc"),  # [obs]
    (" 10", "Invalid size:  10"),  # [obs]
    ("+5", "Invalid size: +5"),  # [obs]
    ("-5", "Invalid size: -5"),
    ("1.5k", "Invalid size: 1.5k"),  # [obs]
    ("1e3", "Invalid size: 1e3"),  # [obs]
    ("1kk", "Invalid size: 1kk"),  # [obs]
    ("1bB", "Invalid size: 1bB"),  # [obs] no i/B after B
    ("1KBi", "Invalid size: 1KBi"),  # [obs] i comes before B
    ("1 k B", "Invalid size: 1 k B"),
    ("18446744073709551616", "Invalid size: 18446744073709551616"),  # [obs]
    ("16777216T", "Size is too large: 16777216T"),  # [obs]
]


@pytest.mark.parametrize(("text", "reason"), SIZE_REJECT, ids=[repr(r[0]) for r in SIZE_REJECT])
def test_parse_size_rejects(text: str, reason: str) -> None:
    with pytest.raises(MailstoreError) as info:
        parse_size(text)
    assert info.value.kind is Kind.PARAMS
    assert str(info.value) == f"invalid size {text!r} (doveadm: {reason})"


# (op, value, message date, message zone offset, expected)
COMPARE = [
    (DateOp.BEFORE, SearchDate(100, True), 99, 0, True),
    (DateOp.BEFORE, SearchDate(100, True), 100, 0, False),
    (DateOp.SINCE, SearchDate(100, True), 100, 0, True),
    (DateOp.SINCE, SearchDate(100, True), 99, 0, False),
    (DateOp.ON, SearchDate(100, True), 100, 0, True),  # ON a timestamp: the next 24 hours
    (DateOp.ON, SearchDate(100, True), 100 + DAY - 1, 0, True),
    (DateOp.ON, SearchDate(100, True), 100 + DAY, 0, False),
    (DateOp.ON, SearchDate(100, True), 99, 0, False),
    # UTC values ignore the offset
    (DateOp.SINCE, SearchDate(MAR11, True), MAR11 - 1, 7200, False),
    # calendar days: the message time moves by its offset first
    (DateOp.ON, SearchDate(MAR11, False), MAR11 - 1800, 3600, True),  # 00:30 +0100
    (DateOp.ON, SearchDate(MAR11, False), MAR11 + DAY - 1800, 3600, False),  # 00:30 next day
    (DateOp.ON, SearchDate(MAR11, False), MAR11 + 1800, -3600, False),  # 23:30 -0100 day before
    (DateOp.BEFORE, SearchDate(MAR11, False), MAR11 + 1800, -3600, True),
    (DateOp.SINCE, SearchDate(MAR11, False), MAR11 - 1, 1, True),
    (DateOp.SINCE, SearchDate(INT64_MAX, False), 2**40, 0, False),  # 31-Feb-2024
    (DateOp.BEFORE, SearchDate(INT64_MAX, False), 2**40, 0, True),
    (DateOp.ON, SearchDate(INT64_MAX, False), 2**40, 0, False),
    (DateOp.SINCE, SearchDate(-(2**31), False), 0, 0, True),  # 31-Feb-1999
]


@pytest.mark.parametrize(("op", "value", "date", "offset", "expected"), COMPARE)
def test_date_matches(
    op: DateOp, value: SearchDate, date: int, offset: int, expected: bool
) -> None:
    assert date_matches(op, value, date, offset) is expected


@pytest.mark.parametrize(
    ("tz", "when", "offset"),
    [
        ("UTC", MAR11, 0),
        ("Europe/Berlin", MAR11, 3600),
        ("Europe/Berlin", JUL02, 7200),
        ("America/New_York", MAR11, -4 * 3600),
        ("Asia/Kolkata", MAR11, 5 * 3600 + 1800),
        ("Europe/Amsterdam", -1262304000, 1140),  # 1930: +00:19:32, truncated to minutes
    ],
    indirect=["tz"],
)
def test_local_offset(tz: str, when: int, offset: int) -> None:
    assert local_offset(when) == offset
