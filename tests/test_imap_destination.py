"""The IMAP destination against the private Dovecot: what Dovecot stores after our APPENDs
(``doveadm fetch``), compared with what ``doveadm import`` stores from the same Maildir;
refused keywords, a rejected message, ``present()`` with duplicates and without Message-ID,
a connection lost mid-MULTIAPPEND, master-user login, STARTTLS and IMAPS.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from corpus import make_corpus
from dovecot import DovecotServer, DovecotUser
from test_imap_client import FaultyProxy

from mailstore.driver import MailDestination, SaveRequest, open_destination
from mailstore.errors import Kind, MailstoreError
from mailstore.imap.destination import PASSWORD_ENV, ImapDestination
from mailstore.location import MailLocation, parse_destination, parse_location
from mailstore.maildir.source import MaildirSource
from mailstore.userdb import User

pytestmark = pytest.mark.dovecot

MASTER, MASTER_PASSWORD = "archiver", "Mstr-9917-secret"
_ids = itertools.count()


class MasterDovecot(DovecotServer):
    """The test Dovecot plus a master passdb (``archiver``) and ``user*master`` logins."""

    def _config(self) -> str:
        master_file = self.base / "masters"
        master_file.write_text(f"{MASTER}:{{PLAIN}}{MASTER_PASSWORD}\n")
        return super()._config() + "\n".join([
            "auth_master_user_separator = *",
            "passdb {",
            "  driver = passwd-file",
            "  master = yes",
            f"  args = scheme=PLAIN {master_file}",
            "}",
        ]) + "\n"


@pytest.fixture(scope="module")
def server() -> Iterator[MasterDovecot]:
    if shutil.which("doveadm") is None:
        pytest.skip("doveadm not installed")
    with MasterDovecot(tls=True) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "pw")


def _user(server: DovecotServer) -> DovecotUser:
    return server.add_user(f"imapdest{next(_ids)}")


class OneByOne(ImapDestination):
    """A server without MULTIAPPEND, as far as the destination can tell."""

    def _multiappend(self) -> bool:
        return False


def _open(server: DovecotServer, user: DovecotUser, url: str | None = None, *,
          multiappend: bool = True, **options: Any) -> MailDestination:
    options.setdefault("insecure", True)
    location = parse_destination(url or f"imap://127.0.0.1:{server.imap_port}", **options)
    if not multiappend:
        return OneByOne(location, User(user.name), 1700000000)
    return open_destination(location, User(user.name), 1700000000)


def _req(n: int, body: bytes, *, flags: tuple[str, ...] = (), keywords: tuple[str, ...] = (),
         date: int = 1600000000) -> SaveRequest:
    return SaveRequest(f"s{n}", n, body, frozenset(flags), keywords, date + n)


def _msg(n: int, *, mid: bool = True, extra: bytes = b"") -> bytes:
    head = f"From: a@example.org\nSubject: message {n}\n".encode()
    if mid:
        head += f"Message-ID: <{n}.test@example.org>\n".encode()
    return head + b"\nbody " + str(n).encode() + b"\n" + extra


def _stored(server: DovecotServer, user: DovecotUser, mailbox: str) -> list[Any]:
    return server.snapshot(user.name)["mailboxes"].get(mailbox, [])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- what Dovecot stores ---------------------------------------------------------------------------

def test_save_batch_stores_bytes_flags_keywords_and_dates(server: MasterDovecot) -> None:
    user = _user(server)
    bodies = [
        _msg(0),
        b"Subject: crlf\r\nMessage-ID: <crlf@x>\r\n\r\nline\r\nline\r\n",
        b"Subject: no final newline\n\nend",
        b"Subject: bare\rcr\n\n8bit \xe4\xf6\xfc\n",
    ]
    reqs = [
        _req(0, bodies[0], flags=("\\Seen", "\\Flagged"), keywords=("$Junk", "project-x")),
        _req(1, bodies[1], flags=("\\Answered", "\\Draft", "\\Deleted")),
        _req(2, bodies[2]),
        _req(3, bodies[3], keywords=("NonJunk",)),
    ]
    with _open(server, user) as dest:
        assert dest.separator == "."
        assert dest.create_mailbox(("Archive", "2024")) is True
        assert dest.create_mailbox(("Archive", "2024")) is False
        assert dest.create_mailbox(("INBOX",)) is False
        # Handed over out of order: saved in ordinal order.
        results = dest.save_batch(("Archive", "2024"), list(reversed(reqs)))
    assert [r.save_id for r in results] == ["s3", "s2", "s1", "s0"]
    assert {r.status for r in results} == {"written"}
    assert all(r.dest_name.startswith("imap:") for r in results)
    uids = sorted(int(r.dest_name.rsplit(":", 1)[1]) for r in results)
    assert uids == [1, 2, 3, 4]
    stored = _stored(server, user, "Archive.2024")
    assert [m.sha256 for m in stored] == [_sha(b.replace(b"\r\n", b"\n")) for b in bodies]
    assert [m.received for m in stored] == [
        datetime.fromtimestamp(1600000000 + n, UTC) for n in range(4)]
    assert [m.flags for m in stored] == [
        ("$Junk", "\\Flagged", "\\Seen", "project-x"),
        ("\\Answered", "\\Deleted", "\\Draft"),
        (),
        ("NonJunk",),
    ]


def test_same_as_doveadm_import_of_the_corpus(server: MasterDovecot, tmp_path: Path) -> None:
    """Every corpus folder through save_batch, against ``doveadm import`` of the same Maildir:
    bytes (CRLF, missing final newline, duplicates), flags, keywords (``unknown-25``), dates."""
    corpus = make_corpus(tmp_path / "src", ["owner"])
    maildir = corpus["owner"]["maildir"]
    ref = _user(server)
    server.import_(ref.name, f"maildir:{server.copy_for(ref.name, maildir)}", "", "ALL")
    expected = server.snapshot(ref.name)["mailboxes"]

    user = _user(server)
    source = MaildirSource(parse_location(f"maildir:{maildir}"), User("owner"))
    with _open(server, user) as dest:
        for folder in source.list_folders():
            name = folder.name if not folder.is_inbox else ("INBOX",)
            reqs = [
                SaveRequest(f"{folder.vname}-{meta.position}", meta.position,
                            source.read_message(folder, meta), meta.flags, meta.keywords,
                            meta.received_date)
                for meta in source.iter_messages(folder)
            ]
            if not reqs:
                continue  # doveadm import creates no mailbox for an empty selection
            dest.create_mailbox(name)
            results = dest.save_batch(name, reqs)
            assert all(r.status == "written" for r in results), results
    assert server.snapshot(user.name)["mailboxes"] == expected


def test_utf8_mailbox_names_and_subscriptions(server: MasterDovecot) -> None:
    user = _user(server)
    with _open(server, user) as dest:
        for name in [("Entwürfe",), ("日本語", "📦 Boxes"), ("a&b",)]:
            assert dest.create_mailbox(name)
        dest.subscribe([("Entwürfe",), ("日本語", "📦 Boxes"), ("INBOX",)])
        dest.subscribe([("Entwürfe",)])
        assert dest.save_batch(("日本語", "📦 Boxes"), [_req(0, _msg(0))])[0].status == "written"
    snap = server.snapshot(user.name)
    assert {"Entwürfe", "日本語.📦 Boxes", "a&b"} <= set(snap["listed"])
    assert snap["subscriptions"] == ["Entwürfe", "INBOX", "日本語.📦 Boxes"]
    assert len(snap["mailboxes"]["日本語.📦 Boxes"]) == 1


@pytest.mark.parametrize("name", [(), ("",), ("a", ""), ("a.b",), ("nul\x00",)])
def test_names_the_server_cannot_hold_are_refused(server: MasterDovecot,
                                                   name: tuple[str, ...]) -> None:
    with _open(server, _user(server)) as dest, pytest.raises(MailstoreError) as err:
        dest.create_mailbox(name)
    assert err.value.kind is Kind.PARAMS


def test_refused_keywords_are_reported_and_the_message_saved(server: MasterDovecot) -> None:
    user = _user(server)
    long_kw = "k" * 60
    reqs = [_req(0, _msg(0), keywords=("ok1", "a(b", "Ünïcode", long_kw, "ok2")),
            _req(1, _msg(1), keywords=("\\Seen",))]
    with _open(server, user) as dest:
        results = dest.save_batch(("INBOX",), reqs)
    assert [r.status for r in results] == ["written", "written"]
    assert results[0].refused_keywords == ("a(b", "Ünïcode", long_kw)
    assert results[1].refused_keywords == ("\\Seen",)
    assert [m.flags for m in _stored(server, user, "INBOX")] == [("ok1", "ok2"), ()]


@pytest.mark.parametrize("multiappend", [True, False], ids=["multiappend", "one-by-one"])
def test_a_rejected_message_fails_alone(server: MasterDovecot, multiappend: bool) -> None:
    """Dovecot refuses a zero-byte message (NO): MULTIAPPEND of the chunk fails as a whole,
    the chunk is sent again one by one, and only that message fails, with Dovecot's text."""
    user = _user(server)
    reqs = [_req(0, _msg(0)), _req(1, b""), _req(2, _msg(2), keywords=("kw",))]
    with _open(server, user, multiappend=multiappend) as dest:
        results = dest.save_batch(("INBOX",), reqs)
    assert [r.status for r in results] == ["written", "failed", "written"]
    assert "zero byte message" in results[1].reason
    stored = _stored(server, user, "INBOX")
    assert [m.sha256 for m in stored] == [_sha(_msg(0)), _sha(_msg(2))]
    assert stored[1].flags == ("kw",)


def test_repeated_save_id_is_saved_once(server: MasterDovecot) -> None:
    user = _user(server)
    with _open(server, user) as dest:
        results = dest.save_batch(("INBOX",), [_req(0, _msg(0)), _req(0, _msg(0))])
    assert results[0] == results[1] and results[0].status == "written"
    assert len(_stored(server, user, "INBOX")) == 1


def test_save_into_a_missing_mailbox_raises_notfound(server: MasterDovecot) -> None:
    with _open(server, _user(server)) as dest, pytest.raises(MailstoreError) as err:
        dest.save_batch(("Nope",), [_req(0, _msg(0))])
    assert err.value.kind is Kind.NOTFOUND


# -- exactly once ----------------------------------------------------------------------------------

def test_present_counts_copies_and_matches_without_message_id(server: MasterDovecot) -> None:
    user = _user(server)
    twin = _msg(7, mid=False)
    stored = [_req(0, _msg(0)), _req(1, twin, date=1600000000 - 1), _req(2, _msg(2))]
    with _open(server, user) as dest:
        dest.create_mailbox(("Box",))
        assert dest.present(("Box",), stored) == set()
        dest.save_batch(("Box",), stored)
        asked = [
            _req(0, _msg(0)),                        # stored (Message-ID)
            _req(1, twin, date=1600000000 - 1),      # stored (no Message-ID)
            _req(5, twin, date=1600000000 - 5),      # the same bytes and date: the 2nd copy
            _req(2, _msg(2), date=1600000100),       # other INTERNALDATE: not this one
            _req(3, _msg(3)),                        # never saved
            _req(4, _msg(0, extra=b"x\n")),          # same Message-ID, other size
            _req(6, _msg(6, mid=False)),             # no Message-ID, never saved
        ]
        assert dest.present(("Box",), asked) == {"s0", "s1"}
        assert dest.present(("Missing",), asked) == set()


def test_present_after_save_batch_says_all(server: MasterDovecot) -> None:
    """The fingerprints of what save_batch sends (CRLF, 8-bit, no final newline, > 1 KB)
    equal what Dovecot reports for what it stored."""
    user = _user(server)
    reqs = [
        _req(0, b"Subject: crlf\r\n\r\n" + b"x" * 3000 + b"\r\n"),
        _req(1, b"Subject: lf\n\n" + b"y\n" * 2000),
        _req(2, b"Subject: eight\n\n\xe4\n", keywords=("k",)),
        _req(3, b"Subject: end\n\nend"),
        _req(4, b"Subject: end\n\nend"),
    ]
    with _open(server, user) as dest:
        dest.save_batch(("INBOX",), reqs[:4])
        assert dest.present(("INBOX",), reqs) == {"s0", "s1", "s2", "s3"}


@pytest.mark.parametrize("multiappend", [True, False], ids=["multiappend", "one-by-one"])
def test_connection_lost_mid_append_neither_loses_nor_duplicates(
    server: MasterDovecot, multiappend: bool
) -> None:
    """The proxy cuts the connection right after the server's first APPENDUID answer, so the
    chunk (or first message) is stored but the client never hears it: recovery finds it and
    does not send it again; identical messages (copies 0/3, 1/4, 2/5) are counted apart."""
    user = _user(server)
    reqs = [_req(n, _msg(n % 3, mid=n % 2 == 0), date=1600000000 - n % 3 - n)
            for n in range(6)]
    with FaultyProxy(server.imap_port, b"[APPENDUID ", keep=0) as proxy:
        with _open(server, user, f"imap://127.0.0.1:{proxy.port}",
                   multiappend=multiappend) as dest:
            results = dest.save_batch(("INBOX",), reqs)
        assert proxy.faults_done == 1
    assert [r.status for r in results] == ["written"] * 6
    assert len(_stored(server, user, "INBOX")) == 6


# -- logins ----------------------------------------------------------------------------------------

def test_master_user_login_with_password_file(server: MasterDovecot, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    secret = tmp_path / "master.pw"
    secret.write_text(MASTER_PASSWORD + "\n")
    user = _user(server)
    with _open(server, user, master_user=MASTER, password_file=str(secret)) as dest:
        assert dest.save_batch(("INBOX",), [_req(0, _msg(0))])[0].status == "written"
        assert MASTER_PASSWORD not in repr(dest)
    assert len(_stored(server, user, "INBOX")) == 1


def test_wrong_password_is_perm_and_never_shown(server: MasterDovecot,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "Wrong-Secret-123")
    with _open(server, _user(server)) as dest, pytest.raises(MailstoreError) as err:
        dest.create_mailbox(("X",))
    assert err.value.kind is Kind.PERM
    assert "Wrong-Secret-123" not in str(err.value)


@pytest.mark.parametrize("scheme", ["imap", "imaps"])
def test_tls_with_the_servers_ca(server: MasterDovecot, scheme: str) -> None:
    port = server.imap_port if scheme == "imap" else server.imaps_port
    user = _user(server)
    url = f"{scheme}://127.0.0.1:{port}"
    with _open(server, user, url, insecure=False, ca_file=str(server.ca_file)) as dest:
        assert isinstance(dest, ImapDestination)
        assert dest.endpoint.ssl == ("starttls" if scheme == "imap" else "imaps")
        assert dest.save_batch(("INBOX",), [_req(0, _msg(0))])[0].status == "written"
    with _open(server, _user(server), url, insecure=False) as dest, \
            pytest.raises(MailstoreError) as err:
        dest.create_mailbox(("X",))
    assert err.value.kind is Kind.PERM and "certificate" in str(err.value)


def test_open_destination_knows_both_schemes() -> None:
    for scheme in ("imap", "imaps"):
        dest = open_destination(MailLocation(scheme, "127.0.0.1", (("imap_port", "1"),)),
                                User("u"), 0)
        assert isinstance(dest, ImapDestination)
        dest.close()
