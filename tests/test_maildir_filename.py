"""Maildir file names: parse, build and Dovecot's UID order (maildir-filename*.c)."""

from __future__ import annotations

import pytest

from mailstore.maildir.filename import (
    base_name,
    build_filename,
    filename_sort_key,
    get_size,
    maildir_filename_sort_cmp,
    parse_filename,
    vsize_of,
)

SEEN, ANS, FLAG, DEL, DRAFT = "\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"

PARSE_ROWS = [
    # name, base, size, vsize, flags, keyword letters, other letters
    ("1.M1P1.host", "1.M1P1.host", None, None, set(), "", ""),
    (
        "1795886322.M223279P16578.vm,S=154,W=162:2,FR",
        "1795886322.M223279P16578.vm,S=154,W=162",
        154,
        162,
        {FLAG, ANS},
        "",
        "",
    ),
    ("x,S=10:2,DFRST", "x,S=10", 10, None, {DRAFT, FLAG, ANS, SEEN, DEL}, "", ""),
    ("x:2,", "x", None, None, set(), "", ""),
    ("x:2,Sba", "x", None, None, {SEEN}, "ab", ""),
    ("x:2,PS", "x", None, None, {SEEN}, "", "P"),  # P kept but ignored
    ("x:2,S9!Q", "x", None, None, {SEEN}, "", "9!Q"),  # unknown letters ignored
    ("x:2,S,extra", "x", None, None, {SEEN}, "", ""),  # second section kept aside
    ("x:1,S", "x", None, None, set(), "", ""),  # not a :2, info
    ("x:S", "x", None, None, set(), "", ""),
    ("a:b:2,T", "a", None, None, {DEL}, "", ""),  # flags after the LAST ':'
    ("x,W=7,S=5", "x,W=7,S=5", 5, 7, set(), "", ""),
]


@pytest.mark.parametrize(("name", "base", "size", "vsize", "flags", "kw", "other"), PARSE_ROWS)
def test_parse_filename(name, base, size, vsize, flags, kw, other):
    parsed = parse_filename(name)
    assert parsed.base == base == base_name(name)
    assert (parsed.size, parsed.vsize) == (size, vsize)
    assert parsed.flags == frozenset(flags)
    assert parsed.keyword_letters == kw
    assert parsed.other_letters == other


def test_parse_keeps_extra_section():
    assert parse_filename("x:2,S,foo").extra == "foo"
    assert parse_filename("x:2,bd").keyword_indexes == (1, 3)


SIZE_ROWS = [
    ("x,S=123", "S", 123),
    ("x,S=123:2,S", "S", 123),
    ("x,S=123,W=130", "W", 130),
    ("x,S=12a", "S", None),  # reject: digits must end at , : or end
    ("x,S=", "S", None),  # reject: no digits (Dovecot would read 0)
    ("x,S=-1", "S", None),
    ("xS=5", "S", None),  # needs the comma
    ("x,s=5", "S", None),  # case matters
    ("x,S=1x,S=5", "S", None),  # only the first ,S= counts
]


@pytest.mark.parametrize(("name", "kind", "expected"), SIZE_ROWS)
def test_get_size(name, kind, expected):
    assert get_size(name, kind) == expected


BUILD_ROWS = [
    ("b", set(), "", False, "b:2,"),
    ("b", set(), "", True, "b"),
    ("b", {SEEN}, "", True, "b:2,S"),
    ("b", {DEL, DRAFT}, "a", True, "b:2,DTa"),  # ASCII order: uppercase, then keywords
    ("b", {SEEN, ANS, FLAG, DEL, DRAFT}, "zca", False, "b:2,DFRSTacz"),
    ("b", {"\\Recent", "$Junk"}, "", True, "b"),  # no letter for these
]


@pytest.mark.parametrize(("base", "flags", "letters", "bare", "expected"), BUILD_ROWS)
def test_build_filename(base, flags, letters, bare, expected):
    assert build_filename(base, flags, letters, bare=bare) == expected


@pytest.mark.parametrize("base", ["a:b", "a/b"])
def test_build_filename_rejects_bad_base(base):
    with pytest.raises(ValueError):
        build_filename(base, {SEEN})


def test_build_rejects_bad_keyword_letter():
    with pytest.raises(ValueError):
        build_filename("b", (), "A")


def test_build_then_parse_round_trip():
    name = build_filename("1.M2P3.h,S=4,W=5", {SEEN, FLAG}, "cb")
    parsed = parse_filename(name)
    assert parsed.flags == {SEEN, FLAG}
    assert parsed.keyword_letters == "bc"
    assert (parsed.size, parsed.vsize) == (4, 5)


SORT_ROWS = [
    # a sorts strictly before b
    ("99.M1P1.h", "100.M0P1.h"),  # seconds compare numerically, not as text
    ("100.M9P1.h", "100.M10P1.h"),  # then usecs numerically
    ("100.M5P9.a", "100.M5P9.b"),  # then the base name
    ("100.M1P1.h:2,T", "100.M2P1.h:2,S"),  # flags don't matter
    ("100.Q1.h", "100.R0.h"),  # no usecs on one side: base name
    ("100.Q1M1.h", "100.M3P1.h"),  # the first M anywhere in the uniqueness part: 1 < 3
    ("100.M3P1.h", "100.Q1.M1"),  # an M after the next '.' is the host: no usecs, by name
    ("1700000000.M5Pid5.mailbeam,S=20", "1700000000.M12Pid12.mailbeam,S=22"),
    ("0.M1.h", "abc"),  # no digits = 0 seconds, then by name
]


@pytest.mark.parametrize(("a", "b"), SORT_ROWS)
def test_sort_cmp(a, b):
    assert maildir_filename_sort_cmp(a, b) < 0
    assert maildir_filename_sort_cmp(b, a) > 0


@pytest.mark.parametrize(
    ("a", "b"), [("100.M1P1.h:2,S", "100.M1P1.h:2,T"), ("100.M1P1.h", "100.M1P1.h:2,")]
)
def test_sort_cmp_equal_bases(a, b):
    assert maildir_filename_sort_cmp(a, b) == 0


def test_sort_key_orders_like_dovecot():
    names = ["1.M10P1.h", "2.M0P1.h", "1.M9P1.h", "1.M9P1.g", "0.x"]
    assert sorted(names, key=filename_sort_key) == [
        "0.x",
        "1.M9P1.g",
        "1.M9P1.h",
        "1.M10P1.h",
        "2.M0P1.h",
    ]


@pytest.mark.parametrize(
    ("body", "vsize"),
    [
        (b"", 0),
        (b"a\n", 3),
        (b"a\r\n", 3),
        (b"a\nb\r\nc\n", 9),
        (b"\r", 1),
        (b"no newline", 10),
    ],
)
def test_vsize(body, vsize):
    assert vsize_of(body) == vsize
