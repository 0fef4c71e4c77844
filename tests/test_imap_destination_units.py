"""Tables for the IMAP destination's pure parts: ``parse_destination``, fingerprints, the
multiset claim, APPENDUID, keywords and chunks (no server)."""

from __future__ import annotations

import pytest

from mailstore.driver import SaveRequest
from mailstore.errors import Kind, MailstoreError
from mailstore.imap.append import CHUNK_MESSAGES, appenduid, chunks, is_keyword, prepare
from mailstore.imap.destination import PASSWORD_ENV, endpoint_for
from mailstore.imap.fingerprint import Fingerprint, claim, message_id, search_token, wire_body
from mailstore.location import (
    MailLocation,
    expand_location,
    format_location,
    parse_destination,
    parse_location,
)
from mailstore.userdb import User

# -- parse_destination -----------------------------------------------------------------------------

DEFAULTS = {"master_user": None, "password_file": None, "insecure": False, "ca_file": None}

ACCEPT = [
    # (url, options, driver, host, settings)
    ("imap://mail.example.org", {}, "imap", "mail.example.org",
     {"imap_port": "143", "imap_ssl": "starttls", "imap_ssl_verify": "yes"}),
    ("imaps://mail.example.org", {}, "imaps", "mail.example.org",
     {"imap_port": "993", "imap_ssl": "imaps", "imap_ssl_verify": "yes"}),
    ("IMAP://Mail.Example.org:1143/", {}, "imap", "Mail.Example.org",
     {"imap_port": "1143", "imap_ssl": "starttls", "imap_ssl_verify": "yes"}),
    ("imap://127.0.0.1:10143", {"insecure": True}, "imap", "127.0.0.1",
     {"imap_port": "10143", "imap_ssl": "no", "imap_ssl_verify": "no"}),
    ("imaps://[::1]:9993", {"insecure": True}, "imaps", "::1",
     {"imap_port": "9993", "imap_ssl": "imaps", "imap_ssl_verify": "no"}),
    ("imaps://h", {"master_user": "archiver", "password_file": "/run/pw", "ca_file": "/ca.pem"},
     "imaps", "h",
     {"imap_port": "993", "imap_ssl": "imaps", "imap_ssl_verify": "yes",
      "imap_master_user": "archiver", "imap_password_file": "/run/pw",
      "imap_ssl_ca_file": "/ca.pem"}),
]

REJECT = [
    "imap://user@host",
    "imap://user:secret@host",
    "imap://host/INBOX",
    "imap://host?x=1",
    "imap://",
    "imap://host:0",
    "imap://host:65536",
    "imap://host:abc",
    "imaps://ho st",
    "imapx://host",  # not IMAP: parse_location's "unknown mail driver"
]


@pytest.mark.parametrize(("url", "options", "driver", "host", "settings"), ACCEPT)
def test_parse_destination_accepts(url: str, options: dict[str, object], driver: str,
                                   host: str, settings: dict[str, str]) -> None:
    loc = parse_destination(url, **{**DEFAULTS, **options})  # type: ignore[arg-type]
    assert loc == MailLocation(driver, host, tuple(sorted(settings.items())))
    # The pipeline expands every destination per user: nothing here changes.
    assert expand_location(loc, User("u", home="/home/u")) == loc


@pytest.mark.parametrize("url", REJECT)
def test_parse_destination_rejects(url: str) -> None:
    with pytest.raises(MailstoreError) as err:
        parse_destination(url, **DEFAULTS)  # type: ignore[arg-type]
    assert err.value.kind is Kind.PARAMS
    assert "secret" not in str(err.value)


@pytest.mark.parametrize("text", ["maildir:~/Maildir", "maildir:~/M:LAYOUT=fs", "sdbox:/srv/%u"])
def test_parse_destination_delegates_locations(text: str) -> None:
    assert parse_destination(text, **DEFAULTS) == parse_location(text)  # type: ignore[arg-type]


def test_destination_location_shows_no_password_file_and_maps_to_an_endpoint() -> None:
    loc = parse_destination("imaps://h:1993", master_user="m", password_file="/s/pw",
                            insecure=False, ca_file=None)
    assert "/s/pw" not in repr(loc) and "/s/pw" not in format_location(loc)
    ep = endpoint_for(loc, "alice@example.org")
    assert (ep.host, ep.port, ep.ssl, ep.verify) == ("h", 1993, "imaps", True)
    assert (ep.user, ep.master_user, ep.password_file, ep.password_env) == (
        "alice@example.org", "m", "/s/pw", PASSWORD_ENV)


# -- fingerprints ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "wire"), [
    (b"a\nb\n", b"a\r\nb\r\n"),
    (b"a\r\nb\r\n", b"a\r\nb\r\n"),
    (b"a\rb\n", b"a\rb\r\n"),
    (b"a\r\r\nb", b"a\r\r\nb"),
    (b"no newline", b"no newline"),
])
def test_wire_body(body: bytes, wire: bytes) -> None:
    assert wire_body(body) == wire


@pytest.mark.parametrize(("message", "mid"), [
    (b"Message-ID: <a@b>\n\nbody", "<a@b>"),
    (b"Subject: x\r\nmessage-id:   <a@b>  \r\n\r\n", "<a@b>"),
    (b"Message-Id:\n <folded@b>\n\n", "<folded@b>"),
    (b"Subject: x\n\nMessage-ID: <in-body@b>\n", ""),
    (b"X-Message-ID: <other@b>\n\n", ""),
    (b"Message-ID: <\xe4@b>\n\n", "<\xe4@b>"),
    (b"Message-ID: <first@b>\nMessage-ID: <second@b>\n\n", "<first@b>"),
    (b"", ""),
])
def test_message_id(message: bytes, mid: str) -> None:
    assert message_id(message) == mid


@pytest.mark.parametrize(("mid", "token"), [
    ("<a@b>", "a@b"),
    ("<a(b)*%@c>", "a(b)*%@c"),
    ("bare-id", "bare-id"),
    ("<a b@c>", None),
    ('<a"b@c>', None),
    ("<a\\b@c>", None),
    ("<\xe4@b>", None),
    ("", None),
])
def test_search_token(mid: str, token: str | None) -> None:
    assert search_token(mid) == token


def test_claim_is_a_multiset_in_request_order() -> None:
    a, b, c = (Fingerprint(m, 10, 0, "h") for m in ("<a>", "<b>", "<c>"))
    wanted = [("s1", a), ("s2", a), ("s3", b), ("s4", c), ("s5", a)]
    assert claim(wanted, [a, b]) == {"s1", "s3"}
    assert claim(wanted, [a, a, b, b]) == {"s1", "s2", "s3"}
    assert claim(wanted, []) == set()
    assert claim([("s1", a), ("s1", a)], [a, a]) == {"s1"}


# -- APPEND ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "count", "uids"), [
    (b"[APPENDUID 7 5] Append completed.", 1, [5]),
    (b"[APPENDUID 7 5:8] Append completed.", 4, [5, 6, 7, 8]),
    (b"[APPENDUID 7 5,9:10] done", 3, [5, 9, 10]),
    (b"[APPENDUID 7 5:8] done", 3, None),       # count mismatch: trust nothing
    (b"[APPENDUID 8 5] done", 1, None),         # another UIDVALIDITY
    (b"Append completed.", 1, None),
    (b"[APPENDUID 7 x] done", 1, None),
])
def test_appenduid(text: bytes, count: int, uids: list[int] | None) -> None:
    assert appenduid(text, 7, count) == uids


@pytest.mark.parametrize(("word", "ok"), [
    ("$Junk", True), ("project-x", True), ("k" * 50, True), ("k" * 51, False), ("", False),
    ("a b", False), ("a(b", False), ("a]", False), ('a"', False), ("a%", False), ("a*", False),
    ("\\Seen", False), ("ä", False), ("a\x01", False),
])
def test_is_keyword(word: str, ok: bool) -> None:
    assert is_keyword(word) is ok


def test_prepare_honours_permanentflags() -> None:
    req = SaveRequest("s", 0, b"x\n", frozenset({"\\Seen", "\\Recent"}), ("$Junk", "Other"), 0)
    closed = prepare(req, ["\\Seen", "$Junk"])
    assert (closed.flags, closed.keywords, closed.refused) == (["\\Seen"], ["$Junk"], ["Other"])
    opened = prepare(req, ["\\Seen", "\\*"])
    assert (opened.keywords, opened.refused) == (["$Junk", "Other"], [])
    assert opened.body == b"x\r\n"


def test_chunks() -> None:
    items = [prepare(SaveRequest(f"s{n}", n, b"x", frozenset(), (), 0), ["\\*"])
             for n in range(CHUNK_MESSAGES + 1)]
    assert [len(c) for c in chunks(items, multiappend=True)] == [CHUNK_MESSAGES, 1]
    assert {len(c) for c in chunks(items, multiappend=False)} == {1}
