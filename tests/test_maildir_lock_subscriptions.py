"""Dotlocks and the subscriptions file (v1/v2 read, merge-write)."""

from __future__ import annotations

import os
import time

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.maildir.lock import DotLock
from mailstore.maildir.subscriptions import (
    merge_subscriptions,
    parse_subscriptions,
    read_subscriptions,
    tab_escape,
    tab_unescape,
)
from mailstore.mutf7 import decode_mutf7


def test_dotlock_created_and_removed(tmp_path):
    target = str(tmp_path / "f")
    with DotLock(target) as lock:
        assert lock.held
        assert os.path.exists(target + ".lock")
    assert not os.path.exists(target + ".lock")


def test_dotlock_removed_on_exception(tmp_path):
    target = str(tmp_path / "f")
    with pytest.raises(RuntimeError), DotLock(target):
        raise RuntimeError("boom")
    assert not os.path.exists(target + ".lock")


def test_dotlock_times_out(tmp_path):
    target = str(tmp_path / "f")
    with DotLock(target), pytest.raises(MailstoreError) as err:
        DotLock(target, timeout=0.1).acquire()
    assert err.value.kind is Kind.TEMP


def test_dotlock_overrides_stale_lock(tmp_path):
    target = str(tmp_path / "f")
    with open(target + ".lock", "w") as f:
        f.write("other")
    old = time.time() - 300
    os.utime(target + ".lock", (old, old))
    with DotLock(target, timeout=0.5, stale_timeout=120):
        pass
    assert not os.path.exists(target + ".lock")


def test_dotlock_overrides_lock_of_dead_local_process(tmp_path):
    target = str(tmp_path / "f")
    with open(target + ".lock", "w") as f:
        f.write(f"999999999:{os.uname().nodename}")
    with DotLock(target, timeout=0.5):
        pass


def test_dotlock_replace(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with DotLock(str(target)) as lock:
        lock.replace(b"new")
    assert target.read_bytes() == b"new"
    assert not (tmp_path / "f.lock").exists()


@pytest.mark.parametrize(
    ("plain", "escaped"),
    [("a", "a"), ("a\tb", "a\x01tb"), ("\x01", "\x011"), ("x\ny\r", "x\x01ny\x01r")],
)
def test_tab_escape(plain, escaped):
    assert tab_escape(plain) == escaped
    assert tab_unescape(escaped) == plain


PARSE_ROWS = [
    (
        b"V\t2\n\nFoo\nFoo\tBar\nEntw&APw-rfe\n",
        ".",
        2,
        [("Foo",), ("Foo", "Bar"), ("Entw&APw-rfe",)],
    ),
    (b"V\t2\n\ninbox\nA.B\n", ".", 2, [("INBOX",), ("A.B",)]),  # '.' is not a level in v2
    (b"Foo\nFoo.Bar\n\n", ".", 1, [("Foo",), ("Foo", "Bar")]),
    (b"Foo/Bar\n", "/", 1, [("Foo", "Bar")]),
    (b"V\t2\n\nTab\x01tName\n", "/", 2, [("Tab\tName",)]),
    (b"", ".", 1, []),
]


@pytest.mark.parametrize(("data", "sep", "version", "names"), PARSE_ROWS)
def test_parse_subscriptions(data, sep, version, names):
    assert parse_subscriptions(data, sep) == (version, names)


def test_read_decodes_and_dedups(tmp_path):
    path = tmp_path / "subscriptions"
    path.write_bytes(b"V\t2\n\nEntw&APw-rfe\nINBOX\nEntw&APw-rfe\n")
    assert read_subscriptions(str(path), ".", decode_mutf7) == [("Entwürfe",), ("INBOX",)]
    assert read_subscriptions(str(tmp_path / "none"), ".") == []


def test_merge_new_file_is_v2(tmp_path):
    path = tmp_path / "subscriptions"
    assert merge_subscriptions(str(path), [("Foo", "Bar"), ("inbox",)], ".")
    assert path.read_bytes() == b"V\t2\n\nFoo\tBar\nINBOX\n"
    assert not merge_subscriptions(str(path), [("Foo", "Bar")], ".")
    assert not (tmp_path / "subscriptions.lock").exists()


def test_merge_keeps_v1(tmp_path):
    path = tmp_path / "subscriptions"
    path.write_bytes(b"Old\nOld.Sub\n")
    assert merge_subscriptions(str(path), [("Old", "Sub"), ("New", "X")], ".")
    assert path.read_bytes() == b"Old\nOld.Sub\nNew.X\n"


def test_merge_keeps_existing_v2_lines(tmp_path):
    path = tmp_path / "subscriptions"
    path.write_bytes(b"V\t2\n\nZ\nA\n")
    merge_subscriptions(str(path), [("A",), ("B",)], ".")
    assert path.read_bytes() == b"V\t2\n\nZ\nA\nB\n"
