"""Search dates as doveadm 2.3.19 parses and compares them (``mail_parse_human_timestamp``).

>>> parse_search_date("30", now=1_700_000_000)          # a bare integer is a Unix timestamp
SearchDate(time=30, utc=True)
>>> parse_search_date("2 weeks", now=1_700_000_000)     # an interval: now minus it
SearchDate(time=1698790400, utc=True)
>>> parse_search_date("11-mar-2024", now=0)            # IMAP date: UTC midnight, a calendar day
SearchDate(time=1710115200, utc=False)

The forms, tried in this order (observed on Dovecot 2.3.19.1, see tests/test_search_dates.py):

1. ``YYYY-MM-DD``, exactly 10 characters: ``mktime()`` of local midnight with ``tm_isdst = 0``
   (standard time even in summer), *not* UTC.  Out-of-range fields are normalised, not
   rejected: ``2024-13-01`` is 2025-01-01, ``2024-02-30`` is 2024-03-01.
2. IMAP ``d-Mon-yyyy``: one optional leading space, a 1-2 digit day, a case-insensitive month
   name, a 4-digit year; UTC midnight, *not* UTC.  An impossible day (``31-Feb-2024``,
   ``0-Jan-2024``) is accepted as the end of time, or as -2**31 when the year is <= 2000.
3. An integer (optional ``-``, no ``+``, 64-bit): a Unix timestamp, UTC.
4. An interval, ``Dovecot settings_get_time``: digits, optional spaces, a unit that is a
   case-insensitive prefix of secs/seconds, mins/minutes, hours, days, weeks (or of msecs,
   mseconds, millisecs, milliseconds when the value divides by 1000), at most 2**32-1
   seconds; ``now - interval``, UTC.

A result of exactly -1 is doveadm's error value and is rejected like any invalid text.

Comparison (``index-search.c``): ``BEFORE`` is ``date < t``, ``SINCE`` ``date >= t``, ``ON``
``t <= date < t + 86400``.  For a non-UTC value the message time is first moved by its zone
offset -- the local zone of this process for received and save dates (``TZ`` decides, as it
does for the Dovecot server), the ``Date:`` header's own zone for sent dates -- so that
comparing with a UTC midnight compares calendar days.  With 2.3's ISO form under a zone east
of UTC this is off by the zone offset (``on 2024-03-11`` in Europe/Berlin covers 23:00 to
23:00 local time); that is what doveadm does, so it is what we do.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from mailstore.errors import Kind, MailstoreError

__all__ = [
    "DAY",
    "DateOp",
    "SearchDate",
    "date_matches",
    "local_offset",
    "parse_interval",
    "parse_search_date",
]

DAY = 86400
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INT_MIN = -(2**31)
_UINT_MAX = 2**32 - 1
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# unit word -> seconds; a unit is any prefix of one of these (first match wins, as in Dovecot)
_UNITS: tuple[tuple[str, int], ...] = (
    ("secs", 1),
    ("seconds", 1),
    ("mins", 60),
    ("minutes", 60),
    ("hours", 3600),
    ("days", DAY),
    ("weeks", 7 * DAY),
)
_MSEC_UNITS = ("msecs", "mseconds", "millisecs", "milliseconds")


class DateOp(enum.Enum):
    """How a search date compares with a message date."""

    BEFORE = "BEFORE"
    ON = "ON"
    SINCE = "SINCE"


@dataclass(frozen=True)
class SearchDate:
    """A parsed date value: ``time`` in Unix seconds; ``utc`` False compares calendar days."""

    time: int
    utc: bool


def _invalid(text: str) -> MailstoreError:
    return MailstoreError(
        Kind.PARAMS, f"invalid date {text!r} (doveadm: Invalid search date parameter: {text})"
    )


def _is_digits(text: str) -> bool:
    return bool(text) and all("0" <= c <= "9" for c in text)


def parse_search_date(text: str, now: float) -> SearchDate:
    """Parse a date value of BEFORE/ON/SINCE and friends; ``now`` is the clock for intervals.

    Raises ``MailstoreError(PARAMS)`` naming the text when doveadm would reject it.
    """
    result = _parse(text, int(now))
    if result is None or result.time == -1:
        raise _invalid(text)
    return result


def _parse(text: str, now: int) -> SearchDate | None:
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        y, m, d = text[0:4], text[5:7], text[8:10]
        if _is_digits(y) and _is_digits(m) and _is_digits(d):
            return SearchDate(_local_midnight(int(y), int(m), int(d)), utc=False)
    imap = _parse_imap_date(text)
    if imap is not None:
        return SearchDate(imap, utc=False)
    stamp = _parse_int64(text)
    if stamp is not None:
        return SearchDate(stamp, utc=True)
    try:
        seconds = parse_interval(text)
    except ValueError:
        return None
    return SearchDate(now - seconds, utc=True)


def _local_midnight(year: int, month: int, day: int) -> int:
    """C ``mktime()`` of ``{tm_year, tm_mon, tm_mday}`` with every other field 0; -1 on error."""
    try:
        return int(time.mktime((year, month, day, 0, 0, 0, 0, 0, 0)))
    except (OverflowError, ValueError):
        return -1


def _parse_imap_date(text: str) -> int | None:
    """Port of ``imap_parse_date()``: the time, or None when ``text`` is not an IMAP date."""
    s = text.removeprefix(" ")
    if len(s) >= 2 and _is_digits(s[0]) and s[1] == "-":
        day, s = int(s[0]), s[2:]
    elif len(s) >= 3 and _is_digits(s[:2]) and s[2] == "-":
        day, s = int(s[:2]), s[3:]
    else:
        return None
    month_name = s[:3]
    if not month_name.isascii() or month_name.upper() not in _MONTHS or s[3:4] != "-":
        return None
    month = _MONTHS.index(month_name.upper()) + 1
    year_text = s[4:]
    if len(year_text) != 4 or not _is_digits(year_text):
        return None
    year = int(year_text)
    if 1 <= day <= _days_in_month(year, month):
        return _days_from_civil(year, month, day) * DAY
    # utc_mktime() refuses a date timegm() had to normalise; imap_mktime() then clamps
    return _INT_MIN if year <= 2000 else _INT64_MAX


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year, including 0)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _parse_int64(text: str) -> int | None:
    """Port of ``str_to_intmax()``: optional ``-``, digits, nothing else, within 64 bits."""
    digits = text.removeprefix("-")
    if not _is_digits(digits):
        return None
    value = -int(digits) if text.startswith("-") else int(digits)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def parse_interval(text: str) -> int:
    """Seconds in a Dovecot time interval (``30d``, ``2 weeks``, ``1000ms``); ValueError if bad.

    A port of 2.3's ``settings_get_time()``: digits, optional spaces, then a unit that is a
    case-insensitive prefix of a unit word.  No unit is allowed only for ``0``.
    """
    pos = 0
    while pos < len(text) and "0" <= text[pos] <= "9":
        pos += 1
    if pos == 0:
        raise ValueError(f"Invalid time interval: {text}")
    num = int(text[:pos])
    if num > 2**64 - 1:
        raise ValueError(f"Invalid time interval: {text}")
    unit = text[pos:].lstrip(" ")
    if not unit:
        if num != 0:
            raise ValueError(f"Time interval '{text}' is missing units")
        return 0
    multiply = _unit_seconds(unit)
    if multiply is None:
        low = unit.lower()
        if low[0] == "m" and any(word.startswith(low) for word in _MSEC_UNITS):
            if num % 1000 != 0:
                raise ValueError(f"Milliseconds not supported for this setting: {text}")
            num //= 1000
            multiply = 1
        else:
            raise ValueError(f"Invalid time interval: {text}")
    if num > _UINT_MAX // multiply:
        raise ValueError(f"Time interval is too large: {text}")
    return num * multiply


def _unit_seconds(unit: str) -> int | None:
    low = unit.lower()
    for word, seconds in _UNITS:
        if word.startswith(low):
            return seconds
    return None


def local_offset(when: int) -> int:
    """This process's UTC offset at ``when``, in seconds, truncated to whole minutes as in C."""
    try:
        gmtoff = time.localtime(when).tm_gmtoff
    except (OverflowError, OSError, ValueError):
        return 0
    minutes = abs(gmtoff) // 60
    return (minutes if gmtoff >= 0 else -minutes) * 60


def date_matches(op: DateOp, value: SearchDate, date: int, offset: int) -> bool:
    """Whether a message ``date`` (Unix seconds) satisfies ``op value``.

    ``offset`` (seconds east of UTC) is the message's zone offset, used only when the value
    is not UTC: the local offset for received and save dates, the ``Date:`` zone for sent dates.
    """
    if not value.utc:
        date += offset
    if op is DateOp.BEFORE:
        return date < value.time
    if op is DateOp.SINCE:
        return date >= value.time
    return value.time <= date < value.time + DAY
