"""mailstore.search.text: the tables below were checked one by one against doveadm 2.3.19.1."""

from __future__ import annotations

import base64

import pytest

from mailstore.search import text
from mailstore.search.text import (
    ParsedMessage,
    casemap,
    match_address,
    match_body,
    match_header,
    match_subject,
    match_text,
    sent_date,
)

# --- i;unicode-casemap -------------------------------------------------------------------------

CASEMAP = [
    ("abc xyz", "ABC XYZ"),
    ("straße", "STRAßE"),  # ß has no simple titlecase mapping and no decomposition
    ("ärger", "A\u0308RGER"),  # titlecase, then canonical decomposition
    ("A\u0308", "A\u0308"),
    ("ı", "I"),  # dotless i
    ("İ", "I\u0307"),
    ("ς σ Σ", "Σ Σ Σ"),
    ("ﬁ", "fi"),  # compatibility decomposition, one level, not mapped again
    ("ǖ", "Ü\u0304"),  # one level only: Ü stays composed
    ("\u212a", "K"),  # KELVIN SIGN
    ("µ", "Μ"),  # MICRO SIGN -> GREEK CAPITAL MU
    ("ǆ ǅ Ǆ", "ǅ ǅ ǅ"),  # a titlecase digraph keeps its titlecase form
    ("½", "1\u20442"),
    ("a\u00a0b", "A B"),
    ("한", "\u1112\u1161\u11ab"),  # Hangul: algorithmic decomposition
    ("𝐀", "A"),
    ("\U0001d15e", "\U0001d15e"),  # multi-character decompositions only in the BMP
    ("\x00", "\x00"),
]


@pytest.mark.parametrize(("raw", "mapped"), CASEMAP)
def test_casemap(raw: str, mapped: str) -> None:
    assert casemap(raw) == mapped


# --- BODY: substring after case mapping --------------------------------------------------------

UNICODE_BODY = [
    ("straße", "straße", True),
    ("STRASSE", "straße", False),
    ("straße", "strasse", False),
    ("Ärger", "a\u0308rger", True),
    ("A\u0308rger", "ärger", True),
    ("ıi", "I", True),
    ("İstanbul", "istanbul", False),
    ("İstanbul", "i", True),
    ("σοφος", "ΣΟΦΟΣ", True),
    ("ﬁne", "fi", False),
    ("ﬁne", "ﬁ", True),
    ("ǖber", "ü", False),
    ("Kelvin \u212a", "k", True),
    ("nbsp\u00a0here", "nbsp here", True),
    ("½ half", "1", True),
]


@pytest.mark.parametrize(("body", "needle", "found"), UNICODE_BODY)
def test_body_unicode(body: str, needle: str, found: bool) -> None:
    msg = ParsedMessage.from_bytes(f"Content-Type: text/plain; charset=utf-8\n\n{body}\n".encode())
    assert match_body(msg, needle) is found


# --- addresses ---------------------------------------------------------------------------------

RENDERED = [
    (b"Alice <alice@example.com>", b"Alice <alice@example.com>"),
    (b"Alice Smith <a@example.com>", b'"Alice Smith" <a@example.com>'),
    (b"Mr. X <x@example.com>", b'"Mr. X" <x@example.com>'),
    (b"alice@example.com", b"<alice@example.com>"),
    (b"<empty@example.com>", b"<empty@example.com>"),
    (b'"Doe, John" <j@x.example>, Bob <b@y.example>',
     b'"Doe, John" <j@x.example>, Bob <b@y.example>'),
    (b"Team: a@x.example, b@y.example;", b"Team: <a@x.example>, <b@y.example>;"),
    (b"undisclosed-recipients:;", b"undisclosed-recipients:;"),
    (b"=?utf-8?q?J=C3=B6rg?= <j@x.example>", b"=?utf-8?q?J=C3=B6rg?= <j@x.example>"),
    (b'"=?iso-8859-1?q?Andr=E9?=" <a@x.example>', b"=?iso-8859-1?q?Andr=E9?= <a@x.example>"),
    (b"bob@example.com (Bob Cooper)", b'"Bob Cooper" <bob@example.com>'),
    (b"O'Brien <ob@example.com>", b"O'Brien <ob@example.com>"),
    (b'"quoted\\"inner" <q@example.com>', b'"quoted\\"inner" <q@example.com>'),
    (b"alice", b"<alice@MISSING_DOMAIN>"),
    (b"Alice Wonder", b'"Alice Wonder" <MISSING_MAILBOX@MISSING_DOMAIN>'),
    (b"a@b.example,, c@d.example",
     b"<a@b.example>, <MISSING_MAILBOX@MISSING_DOMAIN>, <c@d.example>"),
    (b"Carl <carl@[192.168.0.1]>", b"Carl <carl@[192.168.0.1]>"),
    (b"Broken <no-end@example.com", b"Broken <no-end@SYNTAX_ERROR>"),
    (b"", b""),
]  # fmt: skip


@pytest.mark.parametrize(("value", "rendered"), RENDERED)
def test_address_rendering(value: bytes, rendered: bytes) -> None:
    assert text._render_addresses(value) == rendered


ADDRESS = [
    ("Alice <alice@example.com>", "alice <", True),
    ("Alice Smith <a@example.com>", "Alice Smith <", False),
    ("Alice Smith <a@example.com>", '"alice smith" <a@', True),
    ("alice@example.com", "<ALICE@", True),
    ('"Doe, John" <j@example.com>, Bob <b@example.org>', "e.com>, Bob", True),
    ("=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jm@example.de>", "jörg müller <", True),
    ("=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jm@example.de>", "=?utf-8", False),
    ('"=?iso-8859-1?q?Andr=E9?=" <andre@example.fr>', '"andré" <', False),
    ('"=?iso-8859-1?q?Andr=E9?=" <andre@example.fr>', "andré <", True),
    ("Jörg Raw <raw@example.de>", '"jörg raw" <', True),
    ("alice", "missing_domain", True),
    ("", "<>", False),
]


@pytest.mark.parametrize(("value", "needle", "found"), ADDRESS)
def test_match_address(value: str, needle: str, found: bool) -> None:
    msg = ParsedMessage.from_bytes(f"From: {value}\nSubject: s\n\nb\n".encode())
    assert match_address(msg, "FROM", needle) is found


def test_address_empty_needle_is_existence() -> None:
    msg = ParsedMessage.from_bytes(b"From: a@example.com\nTo:\n\nb\n")
    assert match_address(msg, "from", "")
    assert match_address(msg, "to", "")
    assert not match_address(msg, "cc", "")


def test_address_any_of_several_headers() -> None:
    msg = ParsedMessage.from_bytes(b"To: First <f@example.com>\nTo: Second <s@example.com>\n\nb\n")
    assert match_address(msg, "to", "second <s@")
    assert not match_address(msg, "to", "f@example.com>, Second")


# --- SUBJECT and HEADER ------------------------------------------------------------------------

SUBJECT = [
    (b"  Leading   and\ttabs  ", "leading and tabs", True),
    (b"  Leading   and\ttabs  ", "tabs ", True),
    (b"  Leading   and\ttabs  ", "tabs  ", False),
    (b"  Leading   and\ttabs  ", " leading", False),
    (b"Folded\n\tline\n   three", "folded line three", True),
    (b"Re: =?utf-8?q?Gr=C3=BC=C3=9Fe?= =?utf-8?b?w7xiZXI=?= end", "re: grüßeüber end", True),
    (b"Re: =?utf-8?q?Gr=C3=BC=C3=9Fe?= =?utf-8?b?w7xiZXI=?= end", "grüße über", False),
    (b"=?x-unknown?q?Hello_World?=", "hello world", False),  # unknown charset: not case-mapped
    (b"=?x-unknown?q?HELLO?=", "hello", True),
    (b"=?utf-8*en?q?lang?=", "lang", False),
    (b"=?utf-8?q?broken", "=?utf-8?q?broken", True),
    (b"mid=?utf-8?q?dle?=word", "middleword", True),
    (b"=?iso-8859-1?q?caf=E9?=  =?iso-8859-1?q?_ol=E9?=", "café olé", True),
    (b"=?utf-8?q?two__spaces?=", "two  spaces", True),
    (b"=?koi8-r?b?8NLJ18XU?=", "привет", True),
    (b"raw latin1 caf\xe9", "caf\ufffd", True),
    (b"=?utf-8?q?a b?= space inside", "a b space", True),
    (b"=?windows-1252?q?=80uro?=", "€uro", True),
    (b"=?utf-8?x?bad_enc?=", "bad_enc", True),
    (b"=?utf-8?b?w7w!!!?=", "ü", True),  # base64 up to the first bad byte
]


@pytest.mark.parametrize(("value", "needle", "found"), SUBJECT)
def test_match_subject(value: bytes, needle: str, found: bool) -> None:
    msg = ParsedMessage.from_bytes(b"Subject: " + value + b"\nX-Hdr: a   b\n\nbody\n")
    assert match_subject(msg, needle) is found


HEADER = [
    ("x-hdr", "a   b", True),
    ("x-hdr", "a b", False),  # HEADER does not fold whitespace
    ("X-HDR", "", True),
    ("x-empty", "", True),  # an empty value still exists
    ("x-none", "", False),
    ("subject", "folded line", True),  # a TAB starting a continuation becomes a space
    ("subject", "folded\tline", False),
    ("x-raw", "café", True),
]


@pytest.mark.parametrize(("field", "needle", "found"), HEADER)
def test_match_header(field: str, needle: str, found: bool) -> None:
    msg = ParsedMessage.from_bytes(
        b"Subject: Folded\n\tline\nX-Hdr: a   b\nX-Empty:\nX-Raw: caf\xc3\xa9\n\nbody\n"
    )
    assert match_header(msg, field, needle) is found


# --- BODY and TEXT over MIME structures --------------------------------------------------------


def _b64(data: bytes | str) -> str:
    return base64.encodebytes(data.encode() if isinstance(data, str) else data).decode()


MIME = {
    "html": "Content-Type: text/html; charset=utf-8\n\n<p><b>Bold</b> &amp; more</p>\n",
    "mixed": (
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\npreambleword\n--XX\n"
        "Content-Type: text/plain\n\nplainpart\n--XX\nContent-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=a.bin\n\n"
        + _b64("octetsecret")
        + "--XX\nContent-Type: text/plain; name=n.txt\nContent-Transfer-Encoding: base64\n\n"
        + _b64("textattachsecret")
        + "--XX\nContent-Type: message/rfc822\n\nSubject: innersubject\n"
        "From: Inner <inner@example.com>\n\ninnerbody\n--XX--\nepilogueword\n"
    ),
    "alt": (
        'Content-Type: multipart/alternative; boundary="b1"\n\n--b1\n'
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: "
        "quoted-printable\n\nCaf=E9 cr=\n=E8me\n--b1\nContent-Type: text/html; "
        "charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n\n<p>=80 price</p>\n"
        "--b1--\n"
    ),
    "unknown-cte": "Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nuuword\n",
    "bad-ctype": "Content-Type: garbage\n\nbadctword\n",
    "no-boundary": "Content-Type: multipart/mixed\n\nnoboundword\n",
    "koi8": "Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: base64\n\n"
    + _b64("Привет мир".encode("koi8-r")),
    "broken-b64": "Content-Transfer-Encoding: base64\n\n"
    + _b64("firstpart")[:-1]
    + "!!!\n"
    + _b64("afterbang"),
    "unknown-charset": "Content-Type: text/plain; charset=x-unknown\n\nunkcs Grüße\n",
    "image": "Content-Type: image/jpeg\n\nimageword\n",
    "rfc822": "Content-Type: message/rfc822\n\nSubject: wrappedsubject\n\nwrappedbody\n",
    "no-headers": "\nheaderlessbody\n",
    "no-colon": "just a line with no colon\nanother\n\nafterblank\n",
    "csv": "Content-Type: text/csv\nContent-Transfer-Encoding: quoted-printable\n\ncsv=2Dword\n",
}

BODY_TEXT = [
    # (message, needle, BODY finds it, TEXT finds it)
    ("html", "<b>bold</b>", True, True),
    ("html", "&amp;", True, True),
    ("mixed", "preambleword", False, False),
    ("mixed", "plainpart", True, True),
    ("mixed", "octetsecret", False, False),
    ("mixed", "textattachsecret", True, True),
    ("mixed", "innersubject", False, True),
    ("mixed", "innerbody", True, True),
    ("mixed", "inner <inner@", False, True),  # raw header text, not the rendered address
    ("mixed", "epilogueword", False, False),
    ("mixed", "a.bin", False, True),
    ("mixed", "content-type: text/plain", False, True),
    ("alt", "café crème", True, True),
    ("alt", "€ price", True, True),
    ("unknown-cte", "uuword", False, False),
    ("bad-ctype", "badctword", False, False),
    ("no-boundary", "noboundword", False, False),
    ("koi8", "привет мир", True, True),
    ("broken-b64", "firstpart", True, True),
    ("broken-b64", "afterbang", False, False),
    ("unknown-charset", "grüße", True, True),  # unknown body charset: UTF-8, case-mapped
    ("image", "imageword", False, False),
    ("rfc822", "wrappedsubject", False, True),
    ("rfc822", "wrappedbody", True, True),
    ("no-headers", "headerlessbody", True, True),
    ("no-colon", "just a line", False, True),
    ("no-colon", "afterblank", True, True),
    ("csv", "csv-word", True, True),
    ("html", "", True, True),
]


@pytest.mark.parametrize(("name", "needle", "in_body", "in_text"), BODY_TEXT)
def test_body_and_text(name: str, needle: str, in_body: bool, in_text: bool) -> None:
    msg = ParsedMessage.from_bytes(MIME[name].encode())
    assert match_body(msg, needle) is in_body
    assert match_text(msg, needle) is in_text


def test_text_includes_header_names() -> None:
    msg = ParsedMessage.from_bytes(b"Message-ID: <m@x>\nX-Hdr: a   b\n\nbody\n")
    assert match_text(msg, "message-id: <m@x>")
    assert match_text(msg, "x-hdr: a   b")
    assert not match_body(msg, "message-id")


def test_latin1_body_without_charset_is_not_latin1() -> None:
    msg = ParsedMessage.from_bytes(b"Subject: x\n\ncaf\xe9 au lait\n")
    assert match_body(msg, "caf\ufffd au lait")
    assert not match_body(msg, "café")


# --- Date: -------------------------------------------------------------------------------------

DATES = [
    # (Date: value or None for no header, expected (UTC seconds, zone seconds) or None)
    (None, None),
    ("", None),
    ("garbage", None),
    ("Mon, 15 Jan 2024 10:00:00 +0900", (1705280400, 32400)),
    ("15 Jan 2024 10:00 -0500", (1705330800, -18000)),
    ("Mon, 15 Jan 2024 23:30:00 EST", (1705379400, -18000)),
    ("Mon, 15 Jan 2024 10:00:00 GMT", (1705312800, 0)),
    ("15 Jan 24 10:00:00 +0000", (1705312800, 0)),
    ("15 Jan 69 10:00:00 +0000", (3125469600, 0)),  # 2069
    ("15 Jan 70 10:00:00 +0000", (1245600, 0)),  # 1970
    ("Mon 15 Jan 2024 10:00:00 +0000", None),  # three-letter weekday without comma
    ("Monday, 15 Jan 2024 10:00:00 +0000", None),
    ("1 Jan 1960 00:00:00 +0000", (3979348096, 0)),  # wrapped as uint32, as Dovecot does
    ("30 Feb 2024 10:00:00 +0000", None),
    ("15 Jan 2024 25:00:00 +0000", None),
    ("15 Jan 2024 10:00:00 Z", (1705312800, 0)),
    ("15 Jan 2024 10:00:00 A", (1705309200, 3600)),
    ("15 Jan 2024 10:00:00 N", (1705316400, -3600)),
    ("15 Jan 2024 10:00:00 a", (1705194000, 118800)),  # Dovecot's lower-case quirk
    ("15 Jan 2024 10.00.00 PDT", (1705338000, -25200)),
    ("15 January 2024 1:02:60 +0100", (1705276979, 3600)),  # leap second 60 -> 59
    ("15 Jan 2024 10:00:00 XYZ", (1705312800, 0)),
    ("15 Jan 2024 10:00:00 (comment) +0200", (1705305600, 7200)),
    ("15 Jan 2024 10:00:00 +2359", (1705226460, 86340)),
    ("2 Jan\n 2000 03:04:05 +0100", (946778645, 3600)),
]


@pytest.mark.parametrize(("value", "expected"), DATES)
def test_sent_date(value: str | None, expected: tuple[int, int] | None) -> None:
    head = b"" if value is None else b"Date: " + value.encode() + b"\n"
    assert sent_date(ParsedMessage.from_bytes(head + b"Subject: d\n\nx\n")) == expected


def test_sent_date_uses_the_first_date_header() -> None:
    msg = ParsedMessage.from_bytes(b"Date: garbage\nDate: 1 Jan 2024 00:00:00 +0000\n\nx\n")
    assert sent_date(msg) is None


# --- never crash -------------------------------------------------------------------------------

HOSTILE = [
    b"",
    b"\n",
    b"\r\n\r\n",
    b"no newline at all",
    b"Subject: \x00\x00\xff\xfe\n\n\x00body\x00\n",
    b'From: <<<@@@>>> ,,, ;;; ::: "unterminated\n\n',
    b"From: (unterminated comment\nTo: a@[unterminated\nCc: \\\n\n",
    b"Subject: =?=?=?=?\nDate: , , ,\n\n",
    b'Content-Type: multipart/mixed; boundary=""\n\n--\n--\n',
    (
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: multipart/mixed; "
        b"boundary=x\n\n--x\n--x--\n"
    ),
    b"Content-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: base64\n\nAAAA=\n",
    b"Content-Type: text/plain; charset=base64\n\nbody\n",
    b"Content-Type: text/plain; charset=unicode-escape\n\n\\N{bad\n",
    b"Content-Type: text/plain; charset*=''\n\nx\n",
    b"Content-Type: message/rfc822\n\n",
    b"Content-Transfer-Encoding: quoted-printable\n\n=\n=Z\n=4\n",
    b"Subject: =?iso-2022-jp?b?GyRC?=\nContent-Type: text/plain; charset=iso-2022-jp\n\n\x1b$B\n",
    b":\n: \n \n\t\n",
    b"Date: 99 Jan 9999 99:99:99 +9999\n\n",
]


@pytest.mark.parametrize("data", HOSTILE)
def test_malformed_input_never_raises(data: bytes) -> None:
    msg = ParsedMessage.from_bytes(data)
    for field in ("from", "to", "cc", "bcc"):
        match_address(msg, field, "x")
    match_subject(msg, "x")
    match_header(msg, "subject", "x")
    match_header(msg, "subject", "")
    match_body(msg, "x")
    match_text(msg, "x")
    sent_date(msg)


def test_parse_once_reuse_many() -> None:
    msg = ParsedMessage.from_bytes(MIME["mixed"].encode())
    assert match_body(msg, "plainpart") and match_body(msg, "innerbody")
    assert match_text(msg, "innersubject") and not match_body(msg, "innersubject")
