"""What MaildirDestination writes, read back by the real Dovecot (``doveadm fetch``).

No Dovecot server runs: ``doveadm`` opens the Maildir directly with a throw-away config.  The
minimal config that works with Debian's 2.3.19 (found by trial):

* no ``-u``: with ``-u`` doveadm asks the auth server (``auth-userdb`` socket) for the user;
  without it, it takes ``$USER``/``$HOME`` and needs no server;
* ``mail_uid``/``mail_gid``: without a userdb, doveadm has no uid to drop privileges to
  ("User is missing UID (see mail_uid setting)"); as root we use ``nobody`` (Dovecot refuses
  uid 0) and let MaildirDestination chown what it writes to that user;
* ``first_valid_uid`` lowered to that uid when run as an ordinary user;
* ``base_dir`` and ``log_path`` in the temp dir, ``ssl = no``; ``mail_location`` is given with
  ``-o`` as an absolute path (``~`` would be the caller's home).

The temp dir is made 0755 so that ``nobody`` can traverse it.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from mailstore.driver import SaveRequest
from mailstore.location import MailLocation
from mailstore.maildir.destination import MaildirDestination
from mailstore.userdb import User

pytestmark = [
    pytest.mark.dovecot,
    pytest.mark.skipif(shutil.which("doveadm") is None, reason="doveadm is not installed"),
]

EPOCH = 1700000000


class Doveadm:
    """Runs doveadm mail commands on one Maildir as one local user."""

    def __init__(self, base: Path, maildir: Path, layout: str) -> None:
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self.base = base
        self.home = base / "home"
        self.home.mkdir()
        os.chown(self.home, self.uid, self.gid)
        (base / "run").mkdir()
        self.conf = base / "dovecot.conf"
        self.conf.write_text(
            f"ssl = no\n"
            f"base_dir = {base}/run\n"
            f"log_path = {base}/dovecot.log\n"
            f"mail_uid = {self.uid}\n"
            f"mail_gid = {self.gid}\n"
            f"first_valid_uid = {min(self.uid, 500)}\n"
            f"first_valid_gid = 0\n"
        )
        location = f"maildir:{maildir}"
        if layout == "fs":
            location += ":LAYOUT=fs"
        self.location = location

    def run(self, *args: str) -> str:
        env = dict(os.environ, USER="alice", HOME=str(self.home))
        proc = subprocess.run(
            ["doveadm", "-c", str(self.conf), "-o", f"mail_location={self.location}", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, f"doveadm {args}: rc={proc.returncode} {proc.stderr}"
        return proc.stdout

    def fetch(self) -> list[dict[str, str]]:
        out = self.run(
            "-f", "json", "fetch", "mailbox uid flags date.received.unixtime text", "ALL"
        )
        return json.loads(out) if out.strip() else []


@pytest.fixture
def base():
    path = Path(tempfile.mkdtemp(prefix="mailbeam-maildir-dovecot-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _req(save_id, ordinal, flags=(), keywords=(), date=0, crlf=False):
    nl = "\r\n" if crlf else "\n"
    body = f"Subject: message {ordinal}{nl}Message-ID: <{save_id}@x>{nl}{nl}body {ordinal}{nl}"
    return SaveRequest(save_id, ordinal, body.encode(), frozenset(flags), tuple(keywords), date)


BATCH = [
    # deliberately not in ordinal order; ordinals 9 and 10 check numeric usecs order
    _req("idten", 10, flags={"\\Seen"}, keywords=["$Junk", "work"], date=1600000010),
    _req("idzero", 0, date=1600000000),
    _req("idnine", 9, flags={"\\Flagged", "\\Answered"}, date=1500000009, crlf=True),
    _req("idtwo", 2, flags={"\\Deleted", "\\Draft"}, keywords=["old"], date=1600000002),
    _req("idone", 1, keywords=["$junk"], date=1234567890),
]


def _expected(batch):
    rows = []
    for req in sorted(batch, key=lambda r: r.ordinal):
        keywords = {"$Junk" if k.lower() == "$junk" else k for k in req.keywords}
        stored = req.body.replace(b"\r\n", b"\n")  # Dovecot and mailbeam store LF
        rows.append((set(req.flags) | keywords, str(req.received_date), stored.decode()))
    return rows


@pytest.mark.parametrize("layout", ["maildir++", "fs"])
def test_dovecot_reads_what_we_write(base, layout):
    maildir = base / "home" / "Maildir"
    doveadm = Doveadm(base, maildir, layout)
    settings = (("mailbox_list_layout", layout),)
    dest = MaildirDestination(
        MailLocation("maildir", str(maildir), settings),
        User("alice", doveadm.uid, doveadm.gid),
        EPOCH,
    )
    box = ("Entwürfe", "Sub")
    for name in (("INBOX",), box):
        dest.create_mailbox(name)
    # A keywords file that Dovecot (or an earlier import) left: letters must be kept.
    kw_dir = Path(dest.layout.control_dir(box))
    (kw_dir / "dovecot-keywords").write_text("0 $Junk\n3 old\n")
    os.chown(kw_dir / "dovecot-keywords", doveadm.uid, doveadm.gid)

    assert {r.status for r in dest.save_batch(("INBOX",), BATCH)} == {"written"}
    assert {r.status for r in dest.save_batch(box, BATCH[:2])} == {"written"}
    assert {r.status for r in dest.save_batch(box, BATCH[2:])} == {"written"}
    assert {r.status for r in dest.save_batch(box, BATCH)} == {"existed"}
    dest.subscribe([box])

    vname = "/".join(box) if layout == "fs" else ".".join(box)
    fetched = doveadm.fetch()
    for mailbox in ("INBOX", vname):
        rows = [m for m in fetched if m["mailbox"] == mailbox]
        assert [int(m["uid"]) for m in rows] == list(range(1, len(BATCH) + 1))
        got = [
            (set(m["flags"].split()) - {"\\Recent"}, m["date.received.unixtime"], m["text"])
            for m in rows
        ]
        assert got == _expected(BATCH), mailbox
    assert (kw_dir / "dovecot-keywords").read_text().startswith("0 $Junk\n")
    assert "3 old\n" in (kw_dir / "dovecot-keywords").read_text()

    listed = doveadm.run("mailbox", "list").split()
    assert "INBOX" in listed and vname in listed
    assert doveadm.run("mailbox", "list", "-s").split() == [vname]

    # Dovecot has now synced (uidlist written, maybe new/ -> cur/): a re-run writes nothing.
    again = dest.save_batch(box, BATCH) + dest.save_batch(("INBOX",), BATCH)
    assert {r.status for r in again} == {"existed"}
    assert len(doveadm.fetch()) == 2 * len(BATCH)
