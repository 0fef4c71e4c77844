"""The imapc source (mailstore.imap.source) against the private Dovecot serving the generated
corpus: folders, metadata and bytes as ``doveadm`` reports them, ``\\Recent`` as the server has
it, nothing changed on the source; settings parsed as Dovecot names them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from corpus import FOLDERS, make_corpus
from dovecot import DovecotServer

from mailstore.driver import Capability, Folder, MessageMeta, open_source
from mailstore.errors import Kind, MailstoreError
from mailstore.imap.client import ImapError
from mailstore.imap.source import (
    PASSWORD_ENV,
    ImapcSource,
    _uid_set,
    endpoint_for,
    parse_imap_datetime,
)
from mailstore.location import expand_location, format_location, parse_location
from mailstore.userdb import User

SECRET = "Src-Secret-imapc-31337"


def _location(*settings: str) -> Any:
    return parse_location("imapc:", list(settings))


# -- settings -----------------------------------------------------------------------------------


def test_endpoint_defaults() -> None:
    ep = endpoint_for(_location("imapc_host=mail.test"), User("alice"))
    assert (ep.host, ep.port, ep.ssl, ep.verify, ep.user) == ("mail.test", 143, "no", True, "alice")
    assert ep.password_env == PASSWORD_ENV and ep.password_file is None and ep.master_user is None


def test_endpoint_all_settings() -> None:
    loc = _location(
        "imapc_host=mail.test", "imapc_ssl=imaps", "imapc_ssl_verify=no", "imapc_user=%n-src",
        "imapc_master_user=admin", "imapc_password_file=/run/pw", "ssl_client_ca_file=/ca.pem",
        "imapc_cmd_timeout=2 mins",
    )
    ep = endpoint_for(expand_location(loc, User("bob@example.org")), User("bob@example.org"))
    assert (ep.port, ep.ssl, ep.verify, ep.user, ep.master_user) == (
        993, "imaps", False, "bob-src", "admin")
    assert (ep.password_file, ep.ca_file, ep.timeout) == ("/run/pw", "/ca.pem", 120.0)


@pytest.mark.parametrize(
    "settings",
    [
        [],
        ["imapc_host="],
        ["imapc_host=h", "imapc_ssl=yes"],
        ["imapc_host=h", "imapc_port=imap"],
        ["imapc_host=h", "imapc_port=70000"],
        ["imapc_host=h", "imapc_ssl_verify=maybe"],
        ["imapc_host=h", "imapc_cmd_timeout=soon"],
    ],
)
def test_bad_settings_rejected(settings: list[str]) -> None:
    with pytest.raises(MailstoreError) as err:
        endpoint_for(_location(*settings), User("alice"))
    assert err.value.kind is Kind.PARAMS


def test_password_on_argv_is_hidden_everywhere() -> None:
    loc = _location("imapc_host=h", f"imapc_password={SECRET}", "imapc_user=%u")
    expanded = expand_location(loc, User("alice"))
    source = ImapcSource(expanded, User("alice"))
    for text in (repr(loc), repr(expanded), format_location(expanded), repr(source),
                 repr(source.session), repr(source.endpoint)):
        assert SECRET not in text
    assert expanded.get("imapc_user") == "alice"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'"04-Mar-2021 05:06:07 +0000"', datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)),
        (b'" 4-Mar-2021 05:06:07 +0130"',
         datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=1, minutes=30)))),
        ("31-dec-1999 23:59:59 -0800",
         datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=8)))),
    ],
)
def test_imap_datetimes(text: object, expected: datetime) -> None:
    assert parse_imap_datetime(text) == expected


@pytest.mark.parametrize("text", [b"NIL", b'"2021-03-04 05:06:07"', b'"4-Foo-2021 05:06:07 +0000"',
                                  b'"4-Mar-2021 05:06 +0000"'])
def test_bad_imap_datetimes(text: bytes) -> None:
    with pytest.raises(ValueError):
        parse_imap_datetime(text)


@pytest.mark.parametrize(
    ("uids", "expected"),
    [([1], "1"), ([1, 2, 3], "1:3"), ([1, 3], "1,3"), ([2, 4, 7, 9, 12, 13, 14], "2,4,7,9,12:14")],
)
def test_uid_sets(uids: list[int], expected: str) -> None:
    assert _uid_set(uids) == expected


def test_registered_as_imapc() -> None:
    source = open_source(_location("imapc_host=h"), User("alice"))
    assert isinstance(source, ImapcSource)
    assert source.capabilities == Capability.HAVE_UIDS | Capability.SUBSCRIPTIONS
    assert not source.capabilities & Capability.FILE_PER_MSG


# -- against the private Dovecot ----------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DovecotServer, Any, Any]]:
    """A Dovecot whose user ``imapsrc`` has the corpus in its home Maildir."""
    if shutil.which("doveadm") is None:
        pytest.skip("doveadm not installed")
    with DovecotServer(tls=True) as server:
        user = server.add_user("imapsrc", password=SECRET)
        corpus = make_corpus(tmp_path_factory.mktemp("corpus"), ["imapsrc"], seed=3)
        shutil.copytree(corpus["imapsrc"]["maildir"], user.maildir, copy_function=shutil.copy2)
        server.give_to(user.name, user.maildir)
        yield server, user, corpus["imapsrc"]


def _source(server: DovecotServer, *extra: str, password: str = SECRET) -> ImapcSource:
    loc = _location("imapc_host=127.0.0.1", f"imapc_port={server.imap_port}", "imapc_user=%u",
                    f"imapc_password={password}", *extra)
    user = User("imapsrc")
    source = open_source(expand_location(loc, user), user)
    assert isinstance(source, ImapcSource)
    return source


def _doveadm_rows(server: DovecotServer) -> dict[tuple[str, int], dict[str, Any]]:
    fields = "mailbox uid flags date.received.unixtime date.saved.unixtime size.virtual"
    out = server.doveadm("-f", "tab", "fetch", "-u", "imapsrc", fields, "ALL").stdout.decode()
    rows = {}
    for line in out.splitlines()[1:]:
        box, uid, flags, received, saved, vsize = line.split("\t")
        rows[(box, int(uid))] = {"flags": set(flags.split()), "received": int(received),
                                 "saved": int(saved), "vsize": int(vsize)}
    return rows


def _stored_texts(server: DovecotServer) -> dict[tuple[str, int], bytes]:
    out = server.doveadm("fetch", "-u", "imapsrc", "mailbox uid text", "ALL").stdout
    texts: dict[tuple[str, int], bytes] = {}
    for record in out.split(b"\f\n"):
        if not record.startswith(b"mailbox: "):
            continue
        head, _, text = record.partition(b"\ntext:\n")
        box_line, uid_line = head.split(b"\n")[:2]
        texts[(box_line[9:].decode(), int(uid_line[5:]))] = text
    return texts


@pytest.mark.dovecot
def test_folders_and_subscriptions(served: tuple[DovecotServer, Any, Any]) -> None:
    server, _, manifest = served
    with _source(server) as source:
        folders = source.list_folders()
        subscriptions = source.subscriptions()
    assert folders[0].vname == "INBOX"
    assert sorted(f.vname for f in folders) == sorted(FOLDERS)  # "Lonely" (\NonExistent) left out
    assert all(f.separator == "." and f.guid is None for f in folders)
    by_name = {f.vname: f for f in folders}
    assert by_name["Entwürfe"].handle == "Entw&APw-rfe"
    assert by_name["📦 Boxes"].name == ("📦 Boxes",)
    assert by_name["Archive.2024.Q1"].name == ("Archive", "2024", "Q1")
    listed = server.doveadm("mailbox", "list", "-s", "-u", "imapsrc").stdout.decode().split()
    assert sorted(".".join(s) for s in subscriptions) == sorted(listed)
    assert sorted(".".join(s) for s in subscriptions) == manifest["subscriptions"]


@pytest.mark.dovecot
def test_messages_match_doveadm_and_source_is_untouched(
    served: tuple[DovecotServer, Any, Any]
) -> None:
    server, _, manifest = served
    with _source(server) as source:
        listing: dict[str, tuple[Folder, list[MessageMeta]]] = {}
        for folder in source.list_folders():
            listing[folder.vname] = (folder, list(source.iter_messages(folder)))
        # doveadm after the listing: EXAMINE must not have taken \Recent away
        before = _doveadm_rows(server)
        bodies = {}
        for vname, (folder, metas) in listing.items():
            for meta in metas[:2]:
                bodies[(vname, meta.uid)] = source.read_message(folder, meta)
            batch = source.read_messages(folder, metas)
            assert list(batch) == [m.source_key for m in metas]
            for meta in metas:
                bodies[(vname, meta.uid)] = batch[meta.source_key]
    after = _doveadm_rows(server)
    assert after == before, "reading changed flags (\\Seen or \\Recent) on the source"

    texts = _stored_texts(server)
    for vname, (folder, metas) in listing.items():
        assert len(metas) == manifest["folders"][vname]["count"]
        assert [m.position for m in metas] == list(range(len(metas)))
        assert [m.uid for m in metas] == sorted(m.uid or 0 for m in metas)
        assert len({m.source_key for m in metas}) == len(metas)
        expected_flags = [m["flags"] for m in manifest["folders"][vname]["messages"]]
        assert [tuple(sorted(m.flags | set(m.keywords))) for m in metas] == expected_flags
        for meta in metas:
            row = before[(vname, meta.uid)]
            assert meta.source_key == f"{meta.source_key.split(':')[0]}:{meta.uid}"
            assert meta.flags | set(meta.keywords) == row["flags"] - {"\\Recent"}
            assert meta.recent == ("\\Recent" in row["flags"])
            assert meta.received_date == row["received"]
            assert meta.save_date == row["saved"]
            assert meta.size == meta.vsize == row["vsize"]
            body = bodies[(vname, meta.uid)]
            assert len(body) == row["vsize"]
            assert body.replace(b"\r\n", b"\n") == texts[(vname, meta.uid)].replace(b"\r\n", b"\n")
    assert any(m.recent for _, metas in listing.values() for m in metas)
    assert not all(m.recent for _, metas in listing.values() for m in metas)


@pytest.mark.dovecot
def test_tls_modes_and_verification(served: tuple[DovecotServer, Any, Any]) -> None:
    server, _, _ = served
    ca = f"ssl_client_ca_file={server.ca_file}"
    for extra in (["imapc_ssl=starttls", ca],
                  ["imapc_ssl=imaps", f"imapc_port={server.imaps_port}", ca],
                  ["imapc_ssl=imaps", f"imapc_port={server.imaps_port}", "imapc_ssl_verify=no"]):
        with _source(server, *extra) as source:
            assert "INBOX" in [f.vname for f in source.list_folders()]
    with _source(server, "imapc_ssl=starttls") as source, pytest.raises(ImapError) as err:
        source.list_folders()
    assert err.value.kind is Kind.PERM and "certificate verification failed" in str(err.value)


@pytest.mark.dovecot
def test_wrong_password(served: tuple[DovecotServer, Any, Any]) -> None:
    server, _, _ = served
    source = _source(server, password="Not-The-Password-42")
    with source, pytest.raises(MailstoreError) as err:
        source.list_folders()
    assert err.value.kind is Kind.PERM and "imapsrc" in str(err.value)
    assert "Not-The-Password-42" not in str(err.value) and SECRET not in str(err.value)


@pytest.mark.dovecot
def test_password_file_and_env(served: tuple[DovecotServer, Any, Any], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    server, _, _ = served
    base = ["imapc_host=127.0.0.1", f"imapc_port={server.imap_port}", "imapc_user=imapsrc"]
    (tmp_path / "pw").write_text(SECRET + "\n")
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    for extra in ([f"imapc_password_file={tmp_path / 'pw'}"], []):
        with open_source(_location(*base, *extra), User("x")) as source:
            assert source.list_folders()
    monkeypatch.delenv(PASSWORD_ENV)
    with open_source(_location(*base), User("x")) as source, pytest.raises(MailstoreError) as err:
        source.list_folders()
    assert err.value.kind is Kind.PERM and PASSWORD_ENV in str(err.value)


@pytest.mark.dovecot
def test_stale_uidvalidity_is_reported(served: tuple[DovecotServer, Any, Any]) -> None:
    server, _, _ = served
    with _source(server) as source:
        inbox = source.list_folders()[0]
        meta = next(source.iter_messages(inbox))
        validity = int(meta.source_key.split(":")[0])
        stale = MessageMeta(**{**meta.__dict__, "source_key": f"{validity - 1}:{meta.uid}",
                               "handle": f"{validity - 1}:{meta.uid}"})
        for read in (lambda: source.read_message(inbox, stale),
                     lambda: source.read_messages(inbox, [stale])):
            with pytest.raises(ImapError) as err:
                read()
            assert err.value.kind is Kind.TEMP and err.value.code == "UIDVALIDITY"
        gone = MessageMeta(**{**meta.__dict__, "source_key": f"{validity}:999999",
                              "handle": f"{validity}:999999", "uid": 999999})
        with pytest.raises(MailstoreError) as nf:
            source.read_message(inbox, gone)
        assert nf.value.kind is Kind.NOTFOUND
        assert source.read_messages(inbox, [gone, meta]) == {meta.source_key: source.read_message(
            inbox, meta)}


@pytest.mark.dovecot
def test_list_prefix(served: tuple[DovecotServer, Any, Any]) -> None:
    server, _, _ = served
    with _source(server, "imapc_list_prefix=Archive") as source:
        names = [f.name for f in source.list_folders()]
        assert names == [("INBOX",), ("2024",), ("2024", "Q1")]
        folder = source.list_folders()[1]
        assert folder.handle == "Archive.2024"
        assert len(list(source.iter_messages(folder))) > 0
