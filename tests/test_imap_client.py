"""The IMAP client (mailstore.imap.client): endpoints, password sources, redaction, error kinds,
retries; against the private Dovecot: plain, STARTTLS and IMAPS with a throwaway CA, a refused
login, and a loopback proxy that breaks the stream mid-FETCH.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest
from dovecot import DovecotServer
from imapclient import IMAPClient
from imapclient import exceptions as imap_exc

from mailstore.driver import Folder, MailSource, MessageMeta
from mailstore.errors import Kind, MailstoreError
from mailstore.imap.client import ImapEndpoint, ImapError, ImapSession

SECRET = "Zq9-imap-Secret-4711"


# -- a loopback proxy that breaks one connection -----------------------------------------------


class FaultyProxy:
    """Forwards a free loopback port to ``127.0.0.1:target_port``.

    The first ``faults`` connections whose server-to-client stream contains ``marker`` break
    ``keep`` bytes after it: ``"cut"`` closes both ends, ``"stall"`` stops forwarding (the
    client times out). Later connections pass untouched.
    """

    def __init__(
        self, target_port: int, marker: bytes, *, mode: str = "cut", keep: int = 100,
        faults: int = 1,
    ) -> None:
        self.target_port = target_port
        self.marker = marker
        self.mode = mode
        self.keep = keep
        self.faults_left = faults
        self.faults_done = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            self.connections += 1
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _take_fault(self) -> bool:
        with self._lock:
            if self.faults_left <= 0:
                return False
            self.faults_left -= 1
            self.faults_done += 1
            return True

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        seen = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if watch:
                    window = seen + data
                    at = window.find(self.marker)
                    if at >= 0 and self._take_fault():
                        dst.sendall(data[: max(at + len(self.marker) + self.keep - len(seen), 0)])
                        if self.mode == "stall":
                            return
                        for sock in (src, dst):
                            with contextlib.suppress(OSError):
                                sock.shutdown(socket.SHUT_RDWR)
                            sock.close()
                        return
                    seen = window[-len(self.marker) :]
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


# -- endpoints and password sources ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["no", "imaps", "starttls"])
def test_ssl_modes_accepted(mode: str) -> None:
    assert ImapEndpoint("h", 143, mode).ssl == mode


@pytest.mark.parametrize(
    ("host", "port", "mode"),
    [("h", 143, "yes"), ("h", 143, ""), ("h", 143, "SSL"), ("h", 143, "tls"), ("", 143, "no"),
     ("h", 0, "no"), ("h", 65536, "no")],
)
def test_bad_endpoints_rejected(host: str, port: int, mode: str) -> None:
    with pytest.raises(MailstoreError) as err:
        ImapEndpoint(host, port, mode)
    assert err.value.kind is Kind.PARAMS


@pytest.mark.parametrize(
    ("content", "expected"),
    [(f"{SECRET}\n", SECRET), (f"{SECRET}\r\n", SECRET), (SECRET, SECRET),
     (f"{SECRET}\nsecond line\n", SECRET), (" spaced ", " spaced ")],
)
def test_password_from_file(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "pw"
    path.write_text(content)
    assert ImapEndpoint("h", 143, "no", password_file=str(path)).password() == expected


def test_password_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MB_TEST_PW", SECRET)
    assert ImapEndpoint("h", 143, "no", password_env="MB_TEST_PW").password() == SECRET


def test_password_file_wins_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MB_TEST_PW", "from-env")
    (tmp_path / "pw").write_text("from-file\n")
    ep = ImapEndpoint("h", 143, "no", password_env="MB_TEST_PW", password_file=str(tmp_path / "pw"))
    assert ep.password() == "from-file"


def test_password_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = ImapEndpoint("h", 143, "no", password_env="MB_TEST_PW")
    monkeypatch.setenv("MB_TEST_PW", "one")
    assert ep.password() == "one"
    monkeypatch.setenv("MB_TEST_PW", "two")
    assert ep.password() == "two"


@pytest.mark.parametrize("case", ["unset-env", "empty-env", "missing-file", "empty-file", "none"])
def test_missing_password_names_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.delenv("MB_TEST_PW", raising=False)
    (tmp_path / "empty").write_text("\n")
    kwargs: dict[str, Any] = {
        "unset-env": {"password_env": "MB_TEST_PW"},
        "empty-env": {"password_env": "MB_TEST_PW"},
        "missing-file": {"password_file": str(tmp_path / "nope")},
        "empty-file": {"password_file": str(tmp_path / "empty")},
        "none": {},
    }[case]
    if case == "empty-env":
        monkeypatch.setenv("MB_TEST_PW", "")
    with pytest.raises(MailstoreError) as err:
        ImapEndpoint("h", 143, "no", user="alice", **kwargs).password()
    assert err.value.kind is Kind.PERM
    named = kwargs.get("password_env") or kwargs.get("password_file") or "no password source"
    assert named in str(err.value)


def test_endpoint_and_session_reprs_hold_no_secret(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(SECRET)
    ep = ImapEndpoint("h", 993, "imaps", user="alice", password_file=str(tmp_path / "pw"))
    session = ImapSession(ep, secret=SECRET)
    for text in (repr(ep), str(ep), repr(session), ep.describe()):
        assert SECRET not in text
    assert "alice@h:993" in ep.describe()


def test_ssl_context_per_mode(tmp_path: Path) -> None:
    assert ImapEndpoint("h", 143, "no").ssl_context() is None
    strict = ImapEndpoint("h", 993, "imaps").ssl_context()
    assert strict is not None and strict.check_hostname
    loose = ImapEndpoint("h", 993, "imaps", verify=False).ssl_context()
    assert loose is not None and not loose.check_hostname


# -- error kinds and retries, without a server (a session whose connection is a stand-in) -------


class _Offline(ImapSession):
    """A session that "connects" to a dummy object: for call()'s error handling alone."""

    def _open(self) -> Any:
        self.connects += 1
        return object()


def _offline(retries: int = 4) -> _Offline:
    return _Offline(ImapEndpoint("mail.test", 143, "no", user="alice"), retries=retries,
                    backoff=0.001, secret=SECRET)


@pytest.mark.parametrize(
    ("text", "kind", "code"),
    [
        ("create failed: [ALREADYEXISTS] Mailbox already exists", Kind.EXISTS, "ALREADYEXISTS"),
        ("select failed: Mailbox doesn't exist: Nope", Kind.NOTFOUND, None),
        ("select failed: [NONEXISTENT] Unknown Mailbox", Kind.NOTFOUND, "NONEXISTENT"),
        ("append failed: [OVERQUOTA] Quota exceeded", Kind.PERM, "OVERQUOTA"),
        ("fetch failed: [SERVERBUG] Internal error", Kind.TEMP, "SERVERBUG"),
        ("fetch failed: [UNAVAILABLE] Try later", Kind.TEMP, "UNAVAILABLE"),
        ("store failed: [CANNOT] No", Kind.INVALIDDATA, "CANNOT"),
        ("FETCH command error: BAD [b'Error in IMAP command']", Kind.INVALIDDATA, None),
    ],
)
def test_server_refusals_keep_text_and_code(text: str, kind: Kind, code: str | None) -> None:
    def refuse(_client: IMAPClient) -> None:
        raise imap_exc.IMAPClientError(text)

    session = _offline()
    with pytest.raises(ImapError) as err:
        session.call(refuse, "DO something")
    assert (err.value.kind, err.value.code) == (kind, code)
    assert str(err.value).startswith("DO something: imap://alice@mail.test:143: ")
    assert session.connects == 1, "a NO/BAD is never retried"


def test_lost_connection_is_retried_then_succeeds() -> None:
    failures = [imap_exc.IMAPClientAbortError("socket error: EOF"), TimeoutError("timed out"),
                ConnectionResetError(104, "Connection reset by peer")]

    def flaky(_client: IMAPClient) -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    session = _offline()
    assert session.call(flaky, "UID FETCH 1") == "done"
    assert session.connects == 4


def test_lost_connection_gives_up_with_temp() -> None:
    def broken(_client: IMAPClient) -> None:
        raise imap_exc.IMAPClientAbortError("command: FETCH => socket error: EOF")

    session = _offline(retries=2)
    with pytest.raises(ImapError) as err:
        session.call(broken, "UID FETCH 7 BODY.PEEK[]")
    assert err.value.kind is Kind.TEMP
    assert "socket error: EOF" in str(err.value) and "after 3 attempts" in str(err.value)
    assert session.connects == 3


def test_no_retry_when_asked() -> None:
    calls = []

    def broken(_client: IMAPClient) -> None:
        calls.append(1)
        raise imap_exc.IMAPClientAbortError("socket error: EOF")

    with pytest.raises(ImapError) as err:
        _offline().call(broken, "APPEND", retry=False)
    assert err.value.kind is Kind.TEMP and len(calls) == 1


def test_secret_is_scrubbed_from_server_text() -> None:
    def echo(_client: IMAPClient) -> None:
        raise imap_exc.IMAPClientError(f"weird server echoes {SECRET}")

    with pytest.raises(ImapError) as err:
        _offline().call(echo, "X")
    assert SECRET not in str(err.value) and "<hidden>" in str(err.value)


def test_imap_error_pickles_with_its_code() -> None:
    err = pickle.loads(pickle.dumps(ImapError(Kind.EXISTS, "x", "ALREADYEXISTS")))
    assert (type(err), err.kind, err.code, str(err)) == (ImapError, Kind.EXISTS, "ALREADYEXISTS",
                                                         "x")


class _FakeLoginClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def login(self, *args: Any) -> None:
        self.calls.append(("login", args))

    def plain_login(self, *args: Any) -> None:
        self.calls.append(("plain_login", args))


def test_master_user_logs_in_with_sasl_plain_authzid() -> None:
    ep = ImapEndpoint("h", 143, "no", user="alice", master_user="admin")
    client = _FakeLoginClient()
    ImapSession(ep, secret=SECRET)._login(client)  # type: ignore[arg-type]
    assert client.calls == [("plain_login", ("admin", SECRET, "alice"))]
    assert "alice*admin@" in ep.describe()


class _ListSource(MailSource):
    def list_folders(self) -> list[Folder]:
        return []

    def iter_messages(self, folder: Folder) -> Iterator[MessageMeta]:
        return iter(())

    def read_message(self, folder: Folder, meta: MessageMeta) -> bytes:
        if meta.source_key == "bad":
            raise MailstoreError(Kind.NOTFOUND, "gone")
        return meta.source_key.encode()


def test_read_messages_default_loops_and_leaves_out_failures() -> None:
    def meta(key: str) -> MessageMeta:
        return MessageMeta(key, 0, None, frozenset(), (), 0, None, 0, None, None, key)

    folder = Folder(("INBOX",), ".", "")
    got = _ListSource().read_messages(folder, [meta("a"), meta("bad"), meta("c")])
    assert got == {"a": b"a", "c": b"c"}


# -- against the private Dovecot ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[DovecotServer]:
    if shutil.which("doveadm") is None:
        pytest.skip("doveadm not installed")
    with DovecotServer(tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def mailuser(tls_dovecot: DovecotServer) -> Any:
    """A user with a password of its own and a few messages, one of them 300 KB."""
    user = tls_dovecot.add_user("clientuser", password=SECRET)
    for sub in ("cur", "new", "tmp"):
        (user.maildir / sub).mkdir(parents=True, exist_ok=True)
    for i in range(5):
        body = b"x" * (300_000 if i == 2 else 100)
        text = f"Subject: m{i}\nMessage-ID: <{i}@t>\n\n".encode() + body + b"\n"
        (user.maildir / "new" / f"{1600000000 + i}.M{i}P1.test").write_bytes(text)
    tls_dovecot.give_to(user.name, user.maildir)
    return user


def _endpoint(server: DovecotServer, mode: str = "no", port: int | None = None,
              **kwargs: Any) -> ImapEndpoint:
    if port is None:
        port = server.imaps_port if mode == "imaps" else server.imap_port
    assert port is not None
    kwargs.setdefault("user", "clientuser")
    return ImapEndpoint("127.0.0.1", port, mode, **kwargs)


def _bodies(session: ImapSession) -> dict[int, bytes]:
    session.select("INBOX", readonly=True)
    data = session.call(lambda c: c.fetch(c.search("ALL"), ["BODY.PEEK[]"]), "FETCH")
    return {uid: row[b"BODY[]"] for uid, row in data.items()}


@pytest.mark.dovecot
@pytest.mark.parametrize("mode", ["no", "starttls", "imaps"])
def test_login_modes(tls_dovecot: DovecotServer, mailuser: Any, mode: str) -> None:
    ep = _endpoint(tls_dovecot, mode, ca_file=str(tls_dovecot.ca_file))
    with ImapSession(ep, secret=SECRET) as session:
        assert "UIDPLUS" in session.capabilities  # the post-login list
        encrypted = session.call(lambda c: hasattr(c.socket(), "cipher"), "socket")
        assert encrypted == (mode != "no")
        info = session.select("INBOX", readonly=True)
        assert info.readonly and info.exists == 5 and info.uidvalidity > 0


@pytest.mark.dovecot
@pytest.mark.parametrize("mode", ["starttls", "imaps"])
def test_unknown_ca_is_refused_clearly(tls_dovecot: DovecotServer, mailuser: Any,
                                       mode: str) -> None:
    session = ImapSession(_endpoint(tls_dovecot, mode), secret=SECRET, backoff=0.01)
    with pytest.raises(ImapError) as err:
        session.connect()
    assert err.value.kind is Kind.PERM
    assert "TLS certificate verification failed" in str(err.value)
    assert session.connects == 0
    with ImapSession(_endpoint(tls_dovecot, mode, verify=False), secret=SECRET) as loose:
        assert loose.select("INBOX").exists == 5


@pytest.mark.dovecot
def test_host_name_is_checked_against_the_certificate(tls_dovecot: DovecotServer,
                                                      mailuser: Any) -> None:
    """The certificate names localhost and 127.0.0.1; ``localhost`` verifies too."""
    ep = ImapEndpoint("localhost", tls_dovecot.imap_port, "starttls", user="clientuser",
                      ca_file=str(tls_dovecot.ca_file))
    try:
        with ImapSession(ep, secret=SECRET) as session:
            assert session.select("INBOX").exists == 5
    except ImapError as e:
        if "cannot connect" not in str(e):
            raise
        pytest.skip("localhost does not resolve to 127.0.0.1 here")


@pytest.mark.dovecot
def test_wrong_password_is_perm_without_the_password(
    tls_dovecot: DovecotServer, mailuser: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wrong-Pass-0815"
    (tmp_path / "pw").write_text(wrong + "\n")
    ep = _endpoint(tls_dovecot, password_file=str(tmp_path / "pw"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailstoreError) as err:
        ImapSession(ep).connect()
    text = f"{err.value} {err.value!r}"
    assert err.value.kind is Kind.PERM
    assert "127.0.0.1" in text and "'clientuser'" in text and "AUTHENTICATIONFAILED" in text
    assert wrong not in text and wrong not in caplog.text


@pytest.mark.dovecot
def test_password_never_logged(
    tls_dovecot: DovecotServer, mailuser: Any, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MB_TEST_PW", SECRET)
    caplog.set_level(logging.DEBUG)
    for mode in ("no", "starttls"):
        ep = _endpoint(tls_dovecot, mode, ca_file=str(tls_dovecot.ca_file),
                       password_env="MB_TEST_PW")
        with ImapSession(ep) as session:
            session.select("INBOX")
    assert "LOGIN" in caplog.text, "imapclient's debug log was captured"
    assert SECRET not in caplog.text


@pytest.mark.dovecot
@pytest.mark.parametrize("mode", ["cut", "stall"])
def test_broken_stream_mid_fetch_is_retried(tls_dovecot: DovecotServer, mailuser: Any,
                                            mode: str) -> None:
    with ImapSession(_endpoint(tls_dovecot), secret=SECRET) as direct:
        expected = _bodies(direct)
    assert max(len(b) for b in expected.values()) > 300_000
    with FaultyProxy(tls_dovecot.imap_port, b"BODY[] {", mode=mode, keep=50_000) as proxy:
        ep = _endpoint(tls_dovecot, port=proxy.port, timeout=1.0)
        with ImapSession(ep, secret=SECRET, backoff=0.01) as session:
            assert _bodies(session) == expected
            assert proxy.faults_done == 1 and session.connects == 2


@pytest.mark.dovecot
def test_reconnect_selects_the_mailbox_again(tls_dovecot: DovecotServer, mailuser: Any) -> None:
    with FaultyProxy(tls_dovecot.imap_port, b"FETCH (", keep=0, faults=0) as proxy:
        ep = _endpoint(tls_dovecot, port=proxy.port, timeout=2.0)
        with ImapSession(ep, secret=SECRET, backoff=0.01) as session:
            info = session.select("INBOX", readonly=True)
            proxy.faults_left = 1
            flags = session.call(lambda c: c.fetch(c.search("ALL"), ["FLAGS"]), "FETCH FLAGS")
            assert len(flags) == 5 and session.connects == 2
            assert session.selected is not None
            assert session.selected.uidvalidity == info.uidvalidity and session.selected.readonly


@pytest.mark.dovecot
def test_persistent_breakage_gives_temp(tls_dovecot: DovecotServer, mailuser: Any) -> None:
    with FaultyProxy(tls_dovecot.imap_port, b"BODY[] {", faults=100) as proxy:
        ep = _endpoint(tls_dovecot, port=proxy.port, timeout=2.0)
        session = ImapSession(ep, secret=SECRET, retries=2, backoff=0.01)
        with pytest.raises(ImapError) as err:
            _bodies(session)
        session.close()
    assert err.value.kind is Kind.TEMP and "after 3 attempts" in str(err.value)
    assert proxy.faults_done == 3


@pytest.mark.dovecot
def test_connection_refused_is_temp(tls_dovecot: DovecotServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = int(s.getsockname()[1])
    start = time.monotonic()
    with pytest.raises(ImapError) as err:
        ImapSession(_endpoint(tls_dovecot, port=port), secret=SECRET, retries=1,
                    backoff=0.01).connect()
    assert err.value.kind is Kind.TEMP and "cannot connect" in str(err.value)
    assert time.monotonic() - start < 10
