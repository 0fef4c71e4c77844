"""Differential test: mailbeam's search selects exactly what ``doveadm fetch`` selects.

The corpus (:mod:`search_corpus`) is written once.  doveadm searches a copy of it: it writes
index files and a dovecot-uidlist into the tree it reads, so mailbeam reads the pristine tree
(same bytes, same mtimes) through the real pipeline pieces -- ``MaildirSource`` ->
``MessageView.from_meta`` -> ``parse_query(words).matches(view)`` -- and the two selections,
as (mailbox, GUID) pairs, must be equal sets.

doveadm runs without a server, as in :mod:`test_search_doveadm`: ``USER``/``HOME`` in the
environment, a one-line config, and uid/gid 65534 on a chowned 0755 copy when we are root.
It keeps every message \\Recent (a read-only fetch never drops it) and leaves ``new/`` alone.

``*`` in a sequence set is only compared within one mailbox: doveadm 2.3.19 fixes the set in
place (search_msgset_fix_limits) against the message count of the *first* mailbox it searches,
in readdir order, and keeps that number for every later mailbox [obs: unscoped ``*`` selected
sequence 19 everywhere, the size of ``Entwürfe``].  ``UID *`` alone matches nothing in doveadm
(no message has UID 4294967295); mailbeam agrees, and the query stays in the list.

Dates: received dates are fixed mtimes in two clusters (2023 and 2024); interval values
(``Nd``, OLDER, YOUNGER) are computed at run time so that the cut falls in the gap between the
clusters, far from any message.  Save dates are ctimes, i.e. when the copies were made, so the
SAVED* queries only use forms that cannot straddle that moment (``savedsince 1d``).
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus import copy_tree
from search_corpus import make_search_corpus

from mailstore.location import MailLocation
from mailstore.maildir.source import MaildirSource
from mailstore.search import MessageView, parse_query
from mailstore.userdb import User

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

NOBODY = 65534
DAY = 86400
GAP = (1_690_000_000, 1_703_900_000)  # 2023-07-22 .. 2023-12-30: no received date in here

# One query per line, split like a shell would; {placeholders} are filled in at run time.
QUERIES = """
all
seen
unseen
answered
unanswered
deleted
undeleted
draft
undraft
flagged
unflagged
recent
new
old
keyword $Junk
keyword work
unkeyword $junk
keyword NonJunk OR keyword $label1
from alice
from 'alice <alice@'
from '"doe, john" <'
from 'e.com>, carol'
from 'jörg müller <'
from ''
from MISSING_DOMAIN
to 'team: <a@x.example>, <b@y.example>;'
to undisclosed-recipients:;
to 'andré <'
to second@
cc '"carl comment" <carl@'
cc MISSING_DOMAIN
bcc "o'brien <"
bcc q@example.com
subject 'lots of whitespace here and a fold'
subject 'grüßeüber alles'
subject françois
subject привет
subject 'unknowncs hello'
subject 're: '
header x-note 'broken encoded'
header x-empty ''
header subject ''
header x-raw 'café raw'
header mime-version 1.0
body straße
body strasse
body 'grüße aus köln'
body 'revenue <b>up</b>'
body pdfsecretword
body attachednotesword
body preambleword
body innerbodyword
body 'action: failed'
body '€ 42'
body 'привет, мир'
body 日本語
body unknowncharsetbody
body nulbodyword
body uuencodedword
body invalidctypeword
body encodedword
body 'café crème'
body 'soft break'
text innersubjectword
text mime-version
text 'x-raw: café'
text nocolonword
text 'this message has no header lines'
text report.pdf
before 2024-01-02
on 2024-01-01
since 1-Jan-2024
on 3-Jan-2024
before 1704067200
since {gap_days}d
before '{gap_weeks} weeks'
sentbefore 2024-01-16
senton 15-Jan-2024
sentsince 1705280000
sentbefore 1971-01-01
sentsince 2030-01-01
savedsince 1d
savedbefore 1d
x-savedsince 2000-01-01
savedatesupported
older {gap_secs}
younger {gap_secs}
larger 1k
smaller 600
larger 2KiB smaller 10kB
mailbox Archive
mailbox Archive*
mailbox Archive.%
mailbox Entwürfe
mailbox inbox
mailbox-guid {lists_guid}
guid {custom_guid}
x-guid {some_guid}
1
2:4
mailbox INBOX *
mailbox Archive* 4:2,*
mailbox Lists 18:*
uid 1:3
uid *
uid 5:*
uid 2,4,6
seen flagged
seen OR flagged OR draft
NOT ( seen OR flagged )
mailbox Lists ( from alice OR subject invoice )
NOT mailbox Archive* NOT seen
( body straße OR text innersubjectword ) NOT deleted
( larger 1k ( unseen OR keyword $Junk ) ) OR mailbox Entwürfe
""".strip().splitlines()


class Doveadm:
    """``doveadm fetch 'mailbox guid'`` for one Maildir user, without a Dovecot server."""

    def __init__(self, workdir: Path) -> None:
        self.home = workdir / "home"
        self.config = workdir / "dovecot.conf"
        self.log = workdir / "dovecot.log"
        self.config.write_text(
            f"base_dir = {workdir / 'run'}\nlog_path = {self.log}\n"
            "mail_location = maildir:~/Maildir\n"
        )
        self.options: list[str] = []
        if os.geteuid() == 0:  # Dovecot never gives root mail access
            for path in [workdir, *workdir.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
            self.options = ["-o", f"mail_uid={NOBODY}", "-o", f"mail_gid={NOBODY}"]

    def search(self, words: list[str]) -> set[tuple[str, str]]:
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


def mailbeam_views(maildir: Path) -> list[MessageView]:
    """Every message as the select stage sees it: MaildirSource -> MessageView.from_meta."""
    source = MaildirSource(MailLocation("maildir", str(maildir), ()), User("mailbeam"))
    views = []
    for folder in source.list_folders():
        metas = list(source.iter_messages(folder))
        for meta in metas:
            loader = functools.partial(source.read_message, folder, meta)
            views.append(
                MessageView.from_meta(
                    folder, meta, loader=loader, mailbox_count=len(metas), mailbox_guid=folder.guid
                )
            )
    return views


class Corpus:
    def __init__(self, manifest: dict[str, Any], views: list[MessageView], doveadm: Doveadm):
        self.manifest, self.views, self.doveadm = manifest, views, doveadm
        self.results: dict[str, set[tuple[str, str]]] = {}

    def words(self, line: str) -> list[str]:
        """The argv words of a QUERIES line, placeholders filled in for the current time."""
        now = time.time()
        gap_mid = (GAP[0] + GAP[1]) // 2
        values = {
            "gap_days": int((now - gap_mid) // DAY),
            "gap_weeks": int((now - gap_mid) // (7 * DAY)),
            "gap_secs": int(now - gap_mid),
            "lists_guid": self.manifest["mailbox_guids"]["Lists"],
            "custom_guid": "0123456789abcdef0123456789abcdef",
            "some_guid": self.manifest["messages"][7]["guid"],
        }
        return [word.format(**values) for word in shlex.split(line)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    if shutil.which("doveadm") is None:
        pytest.skip("doveadm is not installed")
    manifest = make_search_corpus(tmp_path_factory.mktemp("search-corpus"))
    # Outside pytest's 0700 tmp tree, so that uid 65534 can reach it when we are root.
    workdir = Path(tempfile.mkdtemp(prefix="mailbeam-differential-"))
    try:
        workdir.chmod(0o755)
        copy_tree(manifest["maildir"], workdir / "home" / "Maildir")
        yield Corpus(manifest, mailbeam_views(manifest["maildir"]), Doveadm(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_corpus_is_read_alike(corpus: Corpus) -> None:
    """Both sides see the same ~100 messages under the same (mailbox, GUID) keys."""
    expected = {(m["mailbox"], m["guid"]) for m in corpus.manifest["messages"]}
    assert 80 <= len(expected) <= 120
    assert {(v.vname, v.guid) for v in corpus.views} == expected
    assert corpus.doveadm.search(["ALL"]) == expected


def test_gap_is_empty(corpus: Corpus) -> None:
    """The interval queries rely on no received date in GAP (see the module docstring)."""
    assert not [m for m in corpus.manifest["messages"] if GAP[0] <= m["received"] <= GAP[1]]


@pytest.mark.parametrize("line", QUERIES)
def test_same_selection_as_doveadm(corpus: Corpus, line: str) -> None:
    words = corpus.words(line)
    query = parse_query(words)
    theirs = corpus.doveadm.search(words)
    ours = {(v.vname, v.guid) for v in corpus.views if query.matches(v)}
    corpus.results[line] = theirs
    by_key = {(m["mailbox"], m["guid"]): m["tag"] for m in corpus.manifest["messages"]}
    missing = sorted(f"{k[0]}/{by_key[k]}" for k in theirs - ours)
    extra = sorted(f"{k[0]}/{by_key[k]}" for k in ours - theirs)
    assert ours == theirs, f"{words}: mailbeam misses {missing}, selects extra {extra}"


def test_queries_discriminate(corpus: Corpus) -> None:
    """Most queries select some messages but not all, so that equality says something."""
    if len(corpus.results) < len(QUERIES):
        pytest.skip("run together with test_same_selection_as_doveadm")
    total = len(corpus.manifest["messages"])
    telling = [line for line, found in corpus.results.items() if 0 < len(found) < total]
    assert len(telling) >= 0.75 * len(QUERIES), sorted(set(QUERIES) - set(telling))
