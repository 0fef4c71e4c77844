"""The ``Date:`` header as Dovecot's ``message_date_parse`` reads it (``message-date.c``).

>>> parse_date(b"Sun, 10 Mar 2024 23:30:00 -0100")
(1710117000, -60)
>>> parse_date(b"Sunday, 10 Mar 2024 23:30:00 -0100") is None
True
"""

from __future__ import annotations

import calendar
import datetime as _dt

from mailstore.search.rfc822 import Tokens

__all__ = ["parse_date"]

_MONTHS = (b"jan", b"feb", b"mar", b"apr", b"may", b"jun",
           b"jul", b"aug", b"sep", b"oct", b"nov", b"dec")  # fmt: skip


def _zone_minutes(zone: bytes) -> int:
    """parse_timezone(), quirks included: unknown zones are 0, military letters are taken the
    right way round (A = +0100), and a lower-case letter is offset from ``'A'`` as it is."""
    if len(zone) == 5 and zone[:1] in (b"+", b"-"):
        if not zone[1:].isdigit():
            return 0
        minutes = int(zone[1:3]) * 60 + int(zone[3:5])
        return minutes if zone[:1] == b"+" else -minutes
    if len(zone) == 1:
        raw = zone[0]
        upper = raw - 32 if 0x61 <= raw <= 0x7A else raw
        if upper < 0x4A:  # < 'J'
            return (raw - 0x41 + 1) * 60
        if upper == 0x4A:
            return 0
        if upper <= 0x4D:  # <= 'M'
            return (raw - 0x41) * 60
        return (0x4D - raw) * 60 if upper < 0x5A else 0
    if len(zone) == 2 and zone.upper() == b"UT":
        return 0
    if len(zone) == 3 and zone[2:] == b"T":
        base = {b"E": -300, b"C": -360, b"M": -420, b"P": -480}.get(zone[:1].upper())
        kind = zone[1:2].upper()
        if base is not None and kind in (b"D", b"S"):
            return base + (60 if kind == b"D" else 0)
    return 0


def parse_date(value: bytes) -> tuple[int, int] | None:
    """message_date_parse(): (UTC seconds, zone minutes), or None when invalid."""
    p = Tokens(value)

    def token() -> tuple[int, bytes]:
        out = bytearray()
        ret = 0 if p.pos >= p.end else p.atom(out)
        return (-1 if ret < 0 else int(bool(out))), bytes(out)

    def number(text: bytes, sizes: tuple[int, ...]) -> int | None:
        return int(text) if len(text) in sizes and text.isdigit() else None

    p.skip_lwsp()
    ret, tok = token()
    if ret <= 0:
        return None
    if len(tok) == 3:  # a weekday, which must be followed by ","
        if p.cur() != 0x2C:
            return None
        p.pos += 1
        p.skip_lwsp()
        ret, tok = token()
        if ret <= 0:
            return None
    day = number(tok, (1, 2))
    ret, tok = token()
    if day is None or ret <= 0 or len(tok) < 3 or tok[:3].lower() not in _MONTHS:
        return None
    month = _MONTHS.index(tok[:3].lower()) + 1
    ret, tok = token()
    year = number(tok, (2, 4)) if ret > 0 else None
    if year is None or (len(tok) == 4 and year < 1900):
        return None
    if len(tok) == 2:
        year += 2000 if year < 70 else 1900
    ret, tok = token()
    hour = number(tok, (1, 2)) if ret > 0 else None
    if hour is None or p.cur() not in b":.":
        return None
    p.pos += 1
    p.skip_lwsp()
    ret, tok = token()
    minute = number(tok, (2,)) if ret >= 0 else None
    second = 0
    if minute is None:
        return None
    if p.pos < p.end and p.cur() in b":.":
        p.pos += 1
        p.skip_lwsp()
        ret, tok = token()
        second = number(tok, (2,)) if ret > 0 else None  # type: ignore[assignment]
        if second is None:
            return None
    ret, tok = token()
    if ret < 0:
        return None
    zone = _zone_minutes(tok) if ret > 0 else 0
    try:
        stamp = _dt.datetime(year, month, day, hour, minute, 59 if second == 60 else second)
    except ValueError:
        return None
    seconds = calendar.timegm(stamp.timetuple())
    if seconds == -1:  # utc_mktime's error value
        return None
    return seconds - zone * 60, zone
