"""Differential test: mailstore.search against a real ``doveadm fetch`` on a small Maildir.

Dovecot runs without a server: no ``-u`` (that needs the auth socket), the
user comes from ``USER``/``HOME`` in the environment, and the config is one
line, ``mail_location = maildir:~/Maildir`` (plus ``base_dir`` in the temp
dir so nothing touches /run).  Dovecot never gives root mail access, so when
the test runs as root the copy is chowned to 65534 and ``mail_uid``/
``mail_gid`` are set to that.  doveadm writes index files, so it gets its own
copy of the Maildir; the Maildir is read here by parsing file names directly.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailstore.search import MessageView, parse_query

pytestmark = pytest.mark.dovecot

NOBODY = 65534
FLAG_LETTERS = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}

# storage dir (relative to ~/Maildir) -> (dovecot-keywords lines, [(subdir, flag letters)])
LAYOUT: dict[str, tuple[list[str], list[tuple[str, str | None]]]] = {
    ".": (["0 $Junk", "1 Work"], [("cur", ""), ("cur", "S"), ("cur", "RS"), ("cur", "FSa"),
                                  ("cur", "DT"), ("new", None), ("cur", "b")]),
    ".Foo": (["0 NonJunk", "1 $Junk"], [("cur", "Sa"), ("cur", "Fb"), ("cur", "ab"),
                                        ("cur", "")]),
    ".Foo.Bar": (["0 $junk"], [("cur", "a"), ("cur", "FS"), ("new", "T")]),
    ".Entw&APw-rfe": ([], [("cur", "D"), ("cur", "S")]),
    ".INBOX.sub": (["0 Work"], [("cur", "Ta"), ("cur", "R")]),
    ".foo": ([], [("cur", "S")]),
}  # fmt: skip

QUERIES = [
    "ALL",
    "seen",
    "UNSEEN",
    "answered",
    "flagged OR deleted",
    "draft",
    "undraft undeleted",
    "keyword $Junk",
    "keyword $junk",
    "unkeyword $JUNK",
    "keyword work",
    "keyword NonJunk OR keyword Work",
    "mailbox INBOX",
    "mailbox inbox",
    "mailbox Foo",
    "mailbox foo",
    "mailbox Entwürfe",
    "mailbox F*",
    "mailbox F%",
    "mailbox %",
    "mailbox inbox*",
    "mailbox *b*",
    "mailbox %.%",
    "mailbox INBOX seen OR flagged",
    "mailbox INBOX ( seen OR flagged )",
    "NOT mailbox Foo* NOT seen",
    "NOT ( seen OR keyword $Junk ) mailbox *",
    "( mailbox Foo OR mailbox Entwürfe ) NOT draft",
    "seen NOT OR flagged",
]


def _mutf7_decode(name: str) -> str:
    """Modified UTF-7 (RFC 3501) to str; enough for the names this test writes."""
    out, i = [], 0
    while i < len(name):
        if name[i] != "&":
            out.append(name[i])
            i += 1
            continue
        end = name.index("-", i)
        chunk = name[i + 1 : end]
        if chunk:
            data = chunk.replace(",", "/")
            out.append(base64.b64decode(data + "=" * (-len(data) % 4)).decode("utf-16-be"))
        else:
            out.append("&")
        i = end + 1
    return "".join(out)


def _build_maildir(root: Path) -> None:
    serial = 0
    for storage, (keywords, messages) in LAYOUT.items():
        folder = root / storage
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        if keywords:
            (folder / "dovecot-keywords").write_text("".join(f"{k}\n" for k in keywords))
        for sub, flags in messages:
            serial += 1
            body = f"Subject: message {serial}\n\nbody {serial}\n".encode()
            base = f"{1700000000 + serial}.M{serial}P1.test,S={len(body)}"
            name = base if flags is None else f"{base}:2,{flags}"
            (folder / sub / name).write_bytes(body)


def _read_maildir(root: Path) -> list[MessageView]:
    """Every message as a MessageView whose ``guid`` is the base file name (Dovecot's default)."""
    views = []
    for storage in LAYOUT:
        folder = root / storage
        vname = "INBOX" if storage == "." else _mutf7_decode(storage[1:])
        letters: dict[str, str] = {}
        kw_file = folder / "dovecot-keywords"
        if kw_file.exists():
            for line in kw_file.read_text().splitlines():
                idx, _, kw = line.partition(" ")
                letters[chr(ord("a") + int(idx))] = kw
        for sub in ("cur", "new"):
            for path in sorted((folder / sub).iterdir()):
                base, _, info = path.name.partition(":2,")
                views.append(
                    MessageView(
                        vname=vname,
                        separator=".",
                        flags=frozenset(FLAG_LETTERS[c] for c in info if c in FLAG_LETTERS),
                        keywords=tuple(letters[c] for c in info if c in letters),
                        guid=base,
                    )
                )
    return views


class Doveadm:
    """Runs ``doveadm fetch`` for one Maildir user without a Dovecot server."""

    def __init__(self, workdir: Path) -> None:
        self.home = workdir / "home"
        self.config = workdir / "dovecot.conf"
        self.log = workdir / "dovecot.log"
        self.config.write_text(
            f"base_dir = {workdir / 'run'}\n"
            f"log_path = {self.log}\n"
            "mail_location = maildir:~/Maildir\n"
        )
        self.options: list[str] = []
        if os.geteuid() == 0:
            # Dovecot refuses mail access as root, even with first_valid_uid = 0.
            for path in [workdir, *workdir.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
            self.options = ["-o", f"mail_uid={NOBODY}", "-o", f"mail_gid={NOBODY}"]

    def search(self, words: list[str]) -> set[tuple[str, str]]:
        """(mailbox, guid) of every message doveadm selects for the query words."""
        cmd = ["doveadm", "-c", str(self.config), *self.options, "fetch", "mailbox guid", *words]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "USER": "mailbeam",
               "HOME": str(self.home)}  # fmt: skip
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        log = self.log.read_text() if self.log.exists() else ""
        assert proc.returncode == 0, f"{cmd}: rc={proc.returncode} {proc.stderr} {log}"
        found, mailbox = set(), None
        for line in proc.stdout.splitlines():
            if line.startswith("mailbox: "):
                mailbox = line[len("mailbox: ") :]
            elif line.startswith("guid: "):
                assert mailbox is not None
                found.add((mailbox, line[len("guid: ") :]))
        return found


@pytest.fixture(scope="module")
def maildir_and_doveadm(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[list[MessageView], Doveadm]]:
    if shutil.which("doveadm") is None:
        pytest.skip("doveadm is not installed")
    source = tmp_path_factory.mktemp("search") / "Maildir"
    _build_maildir(source)
    views = _read_maildir(source)
    # Outside pytest's 0700 tmp tree, so that uid 65534 can reach it when we are root.
    workdir = Path(tempfile.mkdtemp(prefix="mailbeam-doveadm-"))
    try:
        workdir.chmod(0o755)
        shutil.copytree(source, workdir / "home" / "Maildir")
        yield views, Doveadm(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_fixture_sees_every_message(
    maildir_and_doveadm: tuple[list[MessageView], Doveadm],
) -> None:
    views, doveadm = maildir_and_doveadm
    expected = {(v.vname, v.guid) for v in views}
    assert len(expected) == sum(len(msgs) for _, msgs in LAYOUT.values())
    assert doveadm.search(["ALL"]) == expected
    assert {vname for vname, _ in expected} == {
        "INBOX",
        "Foo",
        "Foo.Bar",
        "Entwürfe",
        "INBOX.sub",
        "foo",
    }


@pytest.mark.parametrize("text", QUERIES)
def test_same_selection_as_doveadm(
    maildir_and_doveadm: tuple[list[MessageView], Doveadm], text: str
) -> None:
    views, doveadm = maildir_and_doveadm
    words = text.split(" ")
    query = parse_query(words)
    ours = {(v.vname, v.guid) for v in views if query.matches(v)}
    theirs = doveadm.search(words)
    assert ours == theirs
    # pruning by name never drops a mailbox doveadm found something in
    assert all(query.matches_mailbox(vname, ".") for vname, _ in theirs)
    # and the normalised rendering selects the same messages
    assert doveadm.search(list(query.words())) == theirs
