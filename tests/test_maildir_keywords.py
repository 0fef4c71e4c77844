"""dovecot-keywords: reading with Dovecot's skip rules, merging new names under the lock."""

from __future__ import annotations

import os
import threading
import time

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.maildir.keywords import (
    format_keywords,
    is_valid_keyword,
    keywords_for_letters,
    merge_keywords,
    parse_keywords,
    read_keywords,
)

PARSE_ROWS = [
    ("0 $Junk\n", {0: "$Junk"}),
    ("0 $Junk\n1 NonJunk\n25 last\n", {0: "$Junk", 1: "NonJunk", 25: "last"}),
    ("3 three", {3: "three"}),  # no final newline
    ("nospace\n0 a\n", {0: "a"}),  # reject: no space (old .customflags first line)
    ("26 toohigh\n", {}),  # reject: idx >= 26
    ("-1 neg\n", {}),  # reject: not a plain number
    ("x bad\n", {}),
    (" 1 lead\n", {}),
    ("1 \n", {}),  # reject: empty name
    ("0 a\n1 A\n", {0: "a"}),  # reject: duplicate name (case-insensitive)
    ("0 a\n0 b\n", {0: "b"}),  # a later line for the same index wins
    ("2 two words\n", {2: "two words"}),  # the name is the rest of the line
    ("", {}),
]


@pytest.mark.parametrize(("text", "table"), PARSE_ROWS)
def test_parse_keywords(text, table):
    assert parse_keywords(text) == table


def test_read_missing_file_is_empty(tmp_path):
    assert read_keywords(str(tmp_path)) == {}
    assert read_keywords(str(tmp_path / "nope")) == {}


def test_letters_to_names():
    table = {0: "$Junk", 2: "work"}
    assert keywords_for_letters("ac", table) == ("$Junk", "work")
    assert keywords_for_letters("b", table) == ("unknown-1",)  # Dovecot's made-up name
    assert keywords_for_letters("", table) == ()


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("$Junk", True),
        ("NonJunk", True),
        ("ümlaut", True),
        ("", False),
        ("two words", False),
        ("\\Seen", False),
        ("a(b", False),
        ("a]", False),
        ("a%", False),
        ("a*", False),
        ('a"', False),
        ("a{", False),
        ("tab\t", False),
        ("nl\n", False),
        ("del\x7f", False),
    ],
)
def test_is_valid_keyword(name, ok):
    assert is_valid_keyword(name) is ok


def test_format_keywords_in_index_order():
    assert format_keywords({3: "c", 0: "a"}) == b"0 a\n3 c\n"


def test_merge_into_missing_file(tmp_path):
    merge = merge_keywords(str(tmp_path), ["$Junk", "work"])
    assert merge.letters == {"$Junk": "a", "work": "b"}
    assert merge.refused == ()
    assert (tmp_path / "dovecot-keywords").read_bytes() == b"0 $Junk\n1 work\n"
    assert not (tmp_path / "dovecot-uidlist.lock").exists()
    assert not (tmp_path / "dovecot-keywords.lock").exists()


def test_merge_keeps_existing_letters_and_fills_gaps(tmp_path):
    (tmp_path / "dovecot-keywords").write_bytes(b"0 $Junk\n2 old\nbroken line\n")
    merge = merge_keywords(str(tmp_path), ["new1", "$junk", "old", "new2"])
    assert merge.letters == {"new1": "b", "$junk": "a", "old": "c", "new2": "d"}
    assert read_keywords(str(tmp_path)) == {0: "$Junk", 1: "new1", 2: "old", 3: "new2"}


def test_merge_without_new_names_does_not_rewrite(tmp_path):
    path = tmp_path / "dovecot-keywords"
    path.write_bytes(b"0 a\n")
    os.utime(path, (1000, 1000))
    merge = merge_keywords(str(tmp_path), ["a"])
    assert merge.letters == {"a": "a"} and not merge.changed
    assert path.stat().st_mtime == 1000


def test_merge_refuses_beyond_26_and_invalid(tmp_path):
    existing = [f"k{i}" for i in range(25)]
    (tmp_path / "dovecot-keywords").write_text(
        "".join(f"{i} {n}\n" for i, n in enumerate(existing))
    )
    merge = merge_keywords(str(tmp_path), ["k3", "last", "overflow", "bad name"])
    assert merge.letters == {"k3": "d", "last": "z"}
    assert merge.refused == ("overflow", "bad name")
    assert len(read_keywords(str(tmp_path))) == 26


def test_merge_mtime_grows(tmp_path):
    path = tmp_path / "dovecot-keywords"
    path.write_bytes(b"0 a\n")
    future = int(time.time()) + 1000
    os.utime(path, (future, future))
    merge_keywords(str(tmp_path), ["b"])
    assert path.stat().st_mtime > future  # Dovecot re-reads only when the mtime changes


def test_merge_waits_for_uidlist_lock(tmp_path):
    lock = tmp_path / "dovecot-uidlist.lock"
    lock.write_text(f"{os.getpid()}:{os.uname().nodename}")

    def unlock():
        time.sleep(0.3)
        lock.unlink()

    thread = threading.Thread(target=unlock)
    thread.start()
    merge = merge_keywords(str(tmp_path), ["x"])
    thread.join()
    assert merge.letters == {"x": "a"}


def test_merge_times_out_on_held_lock(tmp_path):
    (tmp_path / "dovecot-uidlist.lock").write_text(f"{os.getpid()}:{os.uname().nodename}")
    with pytest.raises(MailstoreError) as err:
        merge_keywords(str(tmp_path), ["x"], lock_timeout=0.2)
    assert err.value.kind is Kind.TEMP
    assert not (tmp_path / "dovecot-keywords").exists()
