"""Recognising a message we APPENDed before, without trusting UIDs: its fingerprint.

A crash (or a lost connection) between APPEND and the ledger leaves the destination not knowing
which messages of a batch arrived.  IMAP has no client-chosen message ids, so a saved message is
recognised by what the server reports about it::

    Fingerprint(message_id="<a@example.org>",   # "" when the message has none
                size=1234,                       # RFC822.SIZE: the size with CRLF line endings
                internaldate=1609459200,         # INTERNALDATE as Unix seconds
                head="9f86d0…")                  # SHA-256 of the first 1024 bytes (CRLF)

Two identical source messages have one fingerprint: :func:`claim` counts them as a multiset,
so one copy found marks one request present, not both.

What we send is :func:`wire_body` (bare LF becomes CRLF, as RFC 3501 wants; CRLF and bare CR
are kept), so the server's RFC822.SIZE and ``BODY[]<0.1024>`` equal ours for a server that
stores what it gets and for Dovecot, which stores LF but reports and serves CRLF (and serves NUL
as 0x80, which :func:`head_digest` folds).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from imapclient.datetime_util import format_criteria_date

if TYPE_CHECKING:
    from imapclient import IMAPClient

    from mailstore.driver import SaveRequest

__all__ = [
    "HEAD_BYTES",
    "Fingerprint",
    "claim",
    "head_digest",
    "message_id",
    "request_fingerprint",
    "search_token",
    "stored_fingerprints",
    "wire_body",
]

#: How much of the body the fingerprint hashes (fetched as ``BODY.PEEK[]<0.1024>``).
HEAD_BYTES = 1024

_BARE_LF = re.compile(rb"(?<!\r)\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(rb"(?im)^message-id[ \t]*:(?P<value>.*(?:\r?\n[ \t].*)*)")
_SEARCHABLE = re.compile(r"[\x21-\x7e]+")
_SEARCH_GROUP = 40
_FETCH_KEYS = ["RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]",
               f"BODY.PEEK[]<0.{HEAD_BYTES}>"]


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a stored message (see the module docstring)."""

    message_id: str
    size: int
    internaldate: int
    head: str


def wire_body(body: bytes) -> bytes:
    """The bytes we APPEND: every bare LF as CRLF; CRLF, bare CR and the final line kept."""
    return _BARE_LF.sub(b"\r\n", body)


def head_digest(data: bytes) -> str:
    """SHA-256 of the first :data:`HEAD_BYTES` of a message as the server serves them."""
    return hashlib.sha256(data[:HEAD_BYTES].replace(b"\x00", b"\x80")).hexdigest()


def message_id(message: bytes) -> str:
    """The first Message-ID header's value, unfolded and trimmed; ``""`` when there is none.

    ``message`` is a whole message or only its header section; bytes that are not ASCII are
    kept as Latin-1 characters so both sides of a comparison decode alike.
    """
    end = _HEADER_END.search(message)
    header = message[: end.start() + 1] if end else message
    found = _MESSAGE_ID.search(header)
    if found is None:
        return ""
    return " ".join(found["value"].decode("latin-1").split())


def search_token(mid: str) -> str | None:
    """What to give ``SEARCH HEADER Message-ID``: the part inside ``<>`` (a substring search),
    or None when it is not plain printable ASCII without quotes or backslashes."""
    inner = mid[mid.find("<") + 1 : mid.rfind(">")] if "<" in mid and ">" in mid else mid
    if not _SEARCHABLE.fullmatch(inner) or '"' in inner or "\\" in inner:
        return None
    return inner


def claim(
    wanted: Iterable[tuple[str, Fingerprint]], found: Iterable[Fingerprint]
) -> set[str]:
    """The save ids in ``wanted`` (in order) that ``found`` accounts for, copy for copy.

    ``found`` holds one fingerprint per stored message; each stored copy marks at most one
    request, the earliest in ``wanted`` order (the order the requests were saved in).
    """
    available = Counter(found)
    present: set[str] = set()
    for save_id, fp in wanted:
        if save_id in present:
            continue
        if available[fp] > 0:
            available[fp] -= 1
            present.add(save_id)
    return present


def request_fingerprint(req: SaveRequest) -> Fingerprint:
    """The fingerprint ``req`` will have once APPENDed."""
    body = wire_body(req.body)
    return Fingerprint(message_id(body), len(body), int(req.received_date), head_digest(body))


def stored_fingerprints(
    client: IMAPClient, wanted: list[Fingerprint], since_uid: int
) -> dict[int, Fingerprint]:
    """UID → fingerprint of the selected mailbox's messages (UID >= ``since_uid``) that might
    be one of ``wanted``: SEARCH HEADER Message-ID for those with a searchable one, else by
    INTERNALDATE day window and exact RFC822.SIZE; then one FETCH of the candidates."""
    searches: list[str] = []
    tokens = sorted({t for fp in wanted if (t := search_token(fp.message_id)) is not None})
    for at in range(0, len(tokens), _SEARCH_GROUP):
        keys = [f'HEADER Message-ID "{token}"' for token in tokens[at : at + _SEARCH_GROUP]]
        searches.append("OR " * (len(keys) - 1) + " ".join(keys))
    for size, day in sorted({(fp.size, _day(fp.internaldate)) for fp in wanted
                             if search_token(fp.message_id) is None}):
        since = format_criteria_date(day - timedelta(days=1)).decode()
        before = format_criteria_date(day + timedelta(days=2)).decode()
        searches.append(f"SINCE {since} BEFORE {before} LARGER {max(size - 1, 0)} "
                        f"SMALLER {size + 1}")
    uids: set[int] = set()
    window = f"UID {since_uid}:* " if since_uid > 1 else ""
    for criteria in searches:
        # The search text is built here, quoted by search_token's rules: imapclient would pass
        # a token such as "a(b)@c" unquoted.
        found = client.search((window + criteria).encode("ascii"))
        uids.update(u for u in found if u >= since_uid)
    if not uids:
        return {}
    rows = client.fetch(sorted(uids), _FETCH_KEYS)
    return {uid: _fingerprint_of(row) for uid, row in rows.items()}


def _day(unix: int) -> date:
    return datetime.fromtimestamp(unix, UTC).date()


def _fingerprint_of(row: dict[bytes, Any]) -> Fingerprint:
    header = head = b""
    for key, value in row.items():
        if key.startswith(b"BODY[HEADER.FIELDS"):
            header = value or b""
        elif key.startswith(b"BODY[]"):
            head = value or b""
    stamp = row.get(b"INTERNALDATE")
    internaldate = int(stamp.timestamp()) if isinstance(stamp, datetime) else -1
    return Fingerprint(message_id(header), int(row.get(b"RFC822.SIZE", -1)), internaldate,
                       head_digest(head))
