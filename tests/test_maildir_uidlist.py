"""dovecot-uidlist v3 and v1 parsing, with Dovecot's rules for broken files."""

from __future__ import annotations

import pytest

from mailstore.maildir.uidlist import parse_uidlist, read_uidlist

GUID = "71e6280da7170b6be528000083ecc375"

V3 = f"""3 V1795889064 N7 G{GUID} Xkeep
1 :1700000000.M0Pid0.mailbeam,S=20,W=23
4 G1795886322.M223279P16578.vm,S=154,W=162 :1795886334.M248872P16880.vm,S=154,W=162
6 S100 W105 P1 O7 :1.M1P1.host:2,S
"""


def test_v3_header_and_records():
    uidlist = parse_uidlist(V3)
    assert uidlist is not None
    assert (uidlist.version, uidlist.uid_validity, uidlist.next_uid) == (3, 1795889064, 7)
    assert uidlist.mailbox_guid == GUID
    assert uidlist.header_extensions == {"X": "keep"}
    assert [r.uid for r in uidlist.records] == [1, 4, 6]
    rec = uidlist.records[1]
    assert rec.base == "1795886334.M248872P16880.vm,S=154,W=162"
    assert rec.guid == "1795886322.M223279P16578.vm,S=154,W=162"
    old = uidlist.records[2]
    assert old.filename == "1.M1P1.host:2,S" and old.base == "1.M1P1.host"  # pre-2.0 record
    assert old.extensions == {"S": "100", "W": "105", "P": "1", "O": "7"}
    assert uidlist.records[0].guid is None
    assert uidlist.corrupted is None
    assert set(uidlist.by_base()) == {r.base for r in uidlist.records}


def test_v1():
    uidlist = parse_uidlist("1 1234 10\n3 a.M1P1.h:2,S\n5 b.M1P1.h\n")
    assert uidlist is not None
    assert (uidlist.version, uidlist.uid_validity, uidlist.next_uid) == (1, 1234, 10)
    assert [(r.uid, r.base) for r in uidlist.records] == [(3, "a.M1P1.h"), (5, "b.M1P1.h")]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x V1 N1\n1 :a\n",  # no version number
        "2 V1 N1\n",  # v2 was never released
        "3 N5\n1 :a\n",  # no uidvalidity
        "3 V1 N0\n",  # next uid 0
        "3 Vx N1\n",
        "3 V1 N1 Gnothex\n",
        "1 5\n",  # v1 needs two numbers
    ],
)
def test_broken_header_means_no_uidlist(text):
    assert parse_uidlist(text) is None


@pytest.mark.parametrize(
    ("text", "uids", "reason"),
    [
        ("3 V1 N9\n1 :a\n1 :b\n2 :c\n", [1], "UIDs not ordered"),
        ("3 V1 N9\n2 :a\n1 :b\n", [2], "UIDs not ordered"),
        ("3 V1 N9\n1 :a\nx :b\n", [1], "Invalid data"),
        ("3 V1 N9\n1 :a\n2 :b/c\n", [1], "Broken filename"),
        ("3 V1 N9\n1 :a\n2 G1\n", [1], "Invalid extended fields"),
        ("3 V1 N9\n1 :a\n0 :b\n", [1], "Invalid data"),
        ("1 1 3\n1 a\n3 b\n", [1], "UID larger than next_uid"),
    ],
)
def test_broken_record_keeps_what_came_before(text, uids, reason):
    uidlist = parse_uidlist(text)
    assert uidlist is not None
    assert [r.uid for r in uidlist.records] == uids
    assert reason in (uidlist.corrupted or "")


def test_invalid_extension_field_is_dropped():
    uidlist = parse_uidlist("3 V1 N9\n1 Gg x1 :a\n")
    assert uidlist is not None
    assert uidlist.records[0].extensions == {"G": "g"}


def test_duplicate_base_name_later_uid_wins():
    uidlist = parse_uidlist("3 V1 N9\n1 :a:2,S\n2 :b\n5 :a\n")
    assert uidlist is not None
    assert [(r.uid, r.base) for r in uidlist.records] == [(2, "b"), (5, "a")]


def test_read_missing(tmp_path):
    assert read_uidlist(str(tmp_path)) is None
    (tmp_path / "dovecot-uidlist").write_text(V3)
    assert read_uidlist(str(tmp_path)).next_uid == 7
