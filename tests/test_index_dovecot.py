"""The index reader on real files written by Dovecot, against ``doveadm fetch 'mailbox uid flags'``.

Sources come from ``dovecot_source`` (sdbox and mdbox, flags and keywords changed after the
import, mdbox expunges without purge); each scenario then changes more through doveadm (with
settings that make Dovecot write ``dovecot.index``, rotate the log or rebuild the index) before
every mailbox index is read and compared with what Dovecot itself reports, ``\\Recent`` included.
"""

from __future__ import annotations

import itertools
import os
import re
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from corpus import make_corpus, tree_fingerprint
from dovecot import DovecotServer
from dovecot_sources import DovecotSource, dovecot_source

from mailstore.index import MailIndex, read_index, system_flags
from mailstore.mutf7 import decode_mutf7

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

_seeds = itertools.count(20)
Rows = dict[str, list[tuple[int, tuple[str, ...]]]]


def _doveadm(server: DovecotServer, source: DovecotSource, *args: str,
             options: tuple[str, ...] = ()) -> str:
    """``doveadm -o mail_location=… [-o k=v…] CMD… -u USER ARGS…``; ``args`` start with the
    command words, then ``--`` separates the rest."""
    split = args.index("--") if "--" in args else len(args)
    command, rest = args[:split], args[split + 1 :]
    opts = [x for o in options for x in ("-o", o)]
    proc = server.doveadm("-o", f"mail_location={source.location}", *opts, *command,
                          "-u", source.user.name, *rest)
    return proc.stdout.decode(errors="replace")


def _fetched(server: DovecotServer, source: DovecotSource) -> Rows:
    out = _doveadm(server, source, "fetch", "--", "mailbox uid flags", "ALL")
    rows: Rows = {}
    for block in out.split("\f\n"):
        fields = dict(re.findall(r"^(\w+): ?(.*)$", block, re.MULTILINE))
        if "uid" in fields:
            rows.setdefault(fields["mailbox"], []).append(
                (int(fields["uid"]), tuple(sorted(fields["flags"].split()))))
    return rows


def _index_dirs(source: DovecotSource) -> dict[str, str]:
    """Mailbox name -> the directory holding its index files."""
    top = (source.index or source.root) / "mailboxes"
    found = {}
    for dirpath, _dirs, files in os.walk(top):
        if "dovecot.index.log" in files or "dovecot.index" in files:
            parts = Path(dirpath).relative_to(top).parts
            if parts[-1] == "dbox-Mails":
                parts = parts[:-1]
            found["/".join(decode_mutf7(p) for p in parts)] = dirpath
    return found


def _rows(index: MailIndex) -> list[tuple[int, tuple[str, ...]]]:
    rows = []
    for rec in index.records:
        flags = set(system_flags(rec.flags)) | set(rec.keywords)
        if rec.uid >= index.first_recent_uid:
            flags.add("\\Recent")
        rows.append((rec.uid, tuple(sorted(flags))))
    return rows


def _ours(source: DovecotSource) -> Rows:
    rows: Rows = {}
    for name, directory in _index_dirs(source).items():
        index = read_index(directory)
        assert index.warnings == (), (name, index.warnings)
        if index.records:
            rows[name] = _rows(index)
    return rows


def _check(server: DovecotServer, source: DovecotSource) -> None:
    before = tree_fingerprint(source.root.parent)
    ours = _ours(source)
    assert tree_fingerprint(source.root.parent) == before, "the reader wrote something"
    expected = _fetched(server, source)
    assert ours == expected
    assert _ours(source) == expected  # and after doveadm's own sync of the same files


def _make(dovecot: DovecotServer, tmp_path: Path, fmt: str, separate_index: bool = False
          ) -> DovecotSource:
    corpus = make_corpus(tmp_path / "corpus", ["owner"], seed=next(_seeds))
    return dovecot_source(dovecot, fmt, corpus["owner"]["maildir"], separate_index=separate_index)


def _more_changes(server: DovecotServer, s: DovecotSource, options: tuple[str, ...]) -> None:
    _doveadm(server, s, "flags", "replace", "--", "\\Answered $Junk", "mailbox", "INBOX", "3",
             options=options)
    _doveadm(server, s, "flags", "remove", "--", "$Later \\Flagged", "mailbox", "INBOX", "2",
             options=options)
    _doveadm(server, s, "flags", "add", "--", " ".join(f"kw{i}" for i in range(44)),
             "mailbox", "Archive", "3:4", options=options)
    _doveadm(server, s, "flags", "remove", "--", "kw3 kw40", "mailbox", "Archive", "4",
             options=options)
    _doveadm(server, s, "expunge", "--", "mailbox", "Entwürfe", "2", options=options)


REWRITE = ("mail_index_rewrite_min_log_bytes=1", "mail_index_rewrite_max_log_bytes=1")
ROTATE = ("mail_index_log_rotate_min_size=1", "mail_index_log_rotate_max_size=1",
          "mail_index_log_rotate_min_age=0")

SCENARIOS: list[tuple[str, bool, tuple[str, ...]]] = [
    ("sdbox", False, ()),
    ("sdbox", True, ()),
    ("mdbox", False, ()),
    ("sdbox", False, REWRITE),
    ("mdbox", True, REWRITE),
    ("sdbox", False, ROTATE),
    ("mdbox", False, ROTATE),
]


@pytest.mark.parametrize(("fmt", "separate_index", "options"), [
    pytest.param(f, s, o, id=f"{f}{'-INDEX' if s else ''}-"
                 f"{'rewrite' if o is REWRITE else 'rotate' if o is ROTATE else 'log'}")
    for f, s, o in SCENARIOS
])
def test_flags_and_keywords_match_doveadm(dovecot: DovecotServer, tmp_path: Path, fmt: str,
                                          separate_index: bool, options: tuple[str, ...]) -> None:
    source = _make(dovecot, tmp_path, fmt, separate_index)
    _check(dovecot, source)
    _more_changes(dovecot, source, options)
    _check(dovecot, source)
    names = {p.name for d in _index_dirs(source).values() for p in Path(d).iterdir()}
    if options is REWRITE:
        assert "dovecot.index" in names
    if options is ROTATE:
        assert "dovecot.index.log.2" in names


def test_force_resync_reset_log(dovecot: DovecotServer, tmp_path: Path) -> None:
    """``force-resync`` writes a new log starting from an empty index (prev_file_seq 0)."""
    source = _make(dovecot, tmp_path, "sdbox")
    _doveadm(dovecot, source, "force-resync", "--", "*")
    _check(dovecot, source)


def _map_refs(source: DovecotSource) -> tuple[dict[int, int], Callable[[int], bool]]:
    storage = source.root / "storage"
    index = read_index(str(storage), "dovecot.map.index")
    refs = {r.uid: struct.unpack("<H", r.extensions["ref"])[0] for r in index.records}
    files = {int(p.name[2:]) for p in storage.glob("m.*")}

    def lands_on_a_message(map_uid: int) -> bool:
        rec = next(r for r in index.records if r.uid == map_uid)
        file_id, offset, size = struct.unpack("<III", rec.extensions["map"])
        assert file_id in files and size > 0
        with open(storage / f"m.{file_id}", "rb") as f:
            f.seek(offset)
            return f.read(3) == b"\x01\x02N"

    return refs, lands_on_a_message


@pytest.mark.parametrize("purge", [False, True], ids=["unpurged", "purged"])
def test_mdbox_map_refcounts(dovecot: DovecotServer, tmp_path: Path, purge: bool) -> None:
    """ref = how many mailbox messages point at the map_uid; expunged ones stay at 0."""
    source = _make(dovecot, tmp_path, "mdbox")
    _doveadm(dovecot, source, "copy", "--", "Archive", "mailbox", "INBOX", "1:2")
    if purge:
        _doveadm(dovecot, source, "purge")
    pointing: dict[int, int] = {}
    for directory in _index_dirs(source).values():
        index = read_index(directory)
        mbox_hdr = index.header_extensions["mdbox-hdr"]
        for rec in index.records:
            map_uid = struct.unpack_from("<I", rec.extensions["mdbox"])[0]
            pointing[map_uid] = pointing.get(map_uid, 0) + 1
    refs, lands = _map_refs(source)
    map_index = read_index(str(source.root / "storage"), "dovecot.map.index")
    assert struct.unpack_from("<I", mbox_hdr)[0] == map_index.uid_validity
    assert {uid: n for uid, n in refs.items() if n} == pointing
    assert (0 in refs.values()) is not purge
    assert max(pointing.values()) == 2
    assert all(lands(uid) for uid in pointing)
