"""The mbox ``From_`` line: when a ``From `` line starts a message, and its date.

A port of Dovecot's ``mbox_from_parse()`` (``src/lib-mail/mbox-from.c``, 2.3.19.1), quirks
included, because a line it rejects is message content and not a message boundary::

    parse_from_line(b"a@b Tue Jan  2 11:00:00 2024 +0300\\n")
    == FromLine(sender=b"a@b", received=1704182400, tz_minutes=180)   # 08:00Z

``data`` is what follows ``From `` -- the line *and whatever comes after it in the file*, as
Dovecot parses its read buffer (the only place that matters is the minimum-length check).

* Sender: up to the first space, or a ``"quoted"`` string (then up to the next space); CR or LF
  in it rejects the line.  Any number of spaces follow.
* Date, asctime-like: ``Www Mmm [ ]d hh:mm[:ss] [TZNAME ]yyyy[ ±hhmm]``.  The weekday is
  skipped unchecked (any 4 bytes); months are case-insensitive (``???`` = January); day 0 is
  day 1.  A word before the year is a zone *name* and ignored -- also a numeric one
  (``+0300 2024`` is read as local time).
* Or the alternate form ``Www, d Mmm yyyy hh:mm[:ss][ ±hhmm]``.
* A numeric zone after the year makes the time exact, and the date must then be valid (``Feb 30``
  rejects the whole line); Dovecot adds the zone's minutes as *seconds* (``+0530`` = 5 h 30 s),
  and so do we.  Without one, the time is server-local (``mktime``, which normalises).
"""

from __future__ import annotations

import calendar
import datetime
import time
from dataclasses import dataclass

__all__ = ["FromLine", "is_from_line", "parse_from_line"]

_MONTHS = (b"jan", b"feb", b"mar", b"apr", b"may", b"jun",
           b"jul", b"aug", b"sep", b"oct", b"nov", b"dec")
_CR, _LF, _SP, _QUOTE, _BACKSLASH = 13, 10, 32, 34, 92


@dataclass(frozen=True)
class FromLine:
    """A valid From_ line: envelope ``sender``, ``received`` Unix time, zone if numeric."""

    sender: bytes
    received: int
    tz_minutes: int | None


def _at(data: bytes, i: int) -> int:
    """The byte at ``i``, or -1 past the end (never matches a digit, space or name)."""
    return data[i] if 0 <= i < len(data) else -1


def _digit(data: bytes, i: int) -> int | None:
    c = _at(data, i)
    return c - 48 if 48 <= c <= 57 else None


def _digits(data: bytes, i: int, n: int) -> int | None:
    value = 0
    for k in range(n):
        d = _digit(data, i + k)
        if d is None:
            return None
        value = value * 10 + d
    return value


def _month(data: bytes, i: int) -> int | None:
    word = data[i : i + 3].lower()
    if word in _MONTHS:
        month = _MONTHS.index(word)
    elif data[i : i + 3] == b"???":
        month = 0
    else:
        return None
    return month if _at(data, i + 3) == _SP else None


def _utc_mktime(year: int, month: int, day: int, hour: int, minute: int, sec: int) -> int | None:
    """Dovecot's ``utc_mktime``: a date timegm() would have to normalise is invalid."""
    try:
        datetime.datetime(year, month + 1, day, hour, minute, min(sec, 59))
    except ValueError:
        return None
    return calendar.timegm((year, month + 1, day, hour, minute, min(sec, 59), 0, 0, 0))


def _local_mktime(year: int, month: int, day: int, hour: int, minute: int, sec: int) -> int:
    try:
        return int(time.mktime((year, month + 1, day, hour, minute, sec, 0, 0, -1)))
    except (OverflowError, ValueError):
        return -1


def parse_from_line(data: bytes) -> FromLine | None:
    """Parse what follows ``From `` on a From_ line; None if Dovecot would not accept it."""
    n = len(data)
    i = 0
    if i < n and data[i] == _QUOTE:
        esc = False
        i += 1
        while i < n and (data[i] != _QUOTE or esc):
            if data[i] in (_CR, _LF):
                return None
            esc = data[i] == _BACKSLASH
            i += 1
        i += 1
    while i < n and data[i] != _SP:
        if data[i] in (_CR, _LF):
            return None
        i += 1
    sender = data[: min(i, n)]
    while i < n and data[i] == _SP:
        i += 1
    if i + 29 - 3 - 5 > n:
        return None
    i += 4  # the weekday, unchecked

    month = _month(data, i)
    if month is None:
        alt = True
        i += 1
        day = _digit(data, i)
        if day is None:
            return None
        i += 1
        more = _digit(data, i)
        if more is not None:
            day = day * 10 + more
            i += 1
        if _at(data, i) != _SP:
            return None
        i += 1
        month = _month(data, i)
        if month is None:
            return None
        i += 4
        year = _digits(data, i, 4)
        if year is None:
            return None
        i += 5
    else:
        alt = False
        i += 4
        if _at(data, i) == _SP:
            i += 1
        if _at(data, i + 1) == _SP:
            day = _digit(data, i)
            if day is None:
                return None
            i += 2
        else:
            day = _digits(data, i, 2)
            if day is None or _at(data, i + 2) != _SP:
                return None
            i += 3
        year = 0
    day = day or 1

    hour = _digits(data, i, 2)
    if hour is None or _at(data, i + 2) != ord(":"):
        return None
    i += 3
    minute = _digits(data, i, 2)
    if minute is None:
        return None
    i += 2
    sec = 0
    if _at(data, i) == ord(":"):
        i += 1
        seconds = _digits(data, i, 2)
        if seconds is None:
            return None
        sec = seconds
        i += 2
        if not alt:
            if _at(data, i) != _SP:
                return None
            i += 1
    elif not alt:
        if _at(data, i) != _SP:
            return None
        i += 1

    if not alt and _digits(data, i, 4) is None:
        # a zone name (or a numeric zone before the year): skipped
        while i < n and data[i] != _SP:
            if data[i] in (_CR, _LF):
                return None
            i += 1
        if i + 5 > n:
            return None
        i += 1
    if not alt:
        parsed_year = _digits(data, i, 4)
        if parsed_year is None:
            return None
        year = parsed_year
        i += 4

    tz_secs: int | None = None
    sign = _at(data, i + 1)
    if i < n and data[i] == _SP and sign in (ord("+"), ord("-")):
        hh = _digits(data, i + 2, 2)
        mm = _digits(data, i + 4, 2)
        if hh is not None and mm is not None:
            tz_secs = hh * 3600 + mm  # sic: Dovecot adds the minutes as seconds
            if sign == ord("-"):
                tz_secs = -tz_secs

    if tz_secs is not None:
        utc = _utc_mktime(year, month, day, hour, minute, sec)
        if utc is None:
            return None
        return FromLine(sender, utc - tz_secs, int(tz_secs / 60))
    return FromLine(sender, _local_mktime(year, month, day, hour, minute, sec), None)


def is_from_line(line: bytes) -> bool:
    """Whether ``line`` (starting at ``From ``, with what follows it) is a valid From_ line."""
    return line.startswith(b"From ") and parse_from_line(line[5:]) is not None
