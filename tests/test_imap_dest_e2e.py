"""End-to-end over IMAP in both directions, against the private Dovecot and compared with
``doveadm import`` into another user: ``--dest imap://…`` and the ``imapc:`` source, each over
plain IMAP, STARTTLS and IMAPS with the tests' own CA, and each killed at several points, then
resumed, without duplicates."""

from __future__ import annotations

import itertools
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus import make_corpus, tree_fingerprint
from dovecot import DovecotServer
from mailbeam_cli import mailbeam, mailbeam_popen

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

_ids = itertools.count()


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[DovecotServer]:
    with DovecotServer(tls=True) as server:
        yield server


def _args(server: DovecotServer, user: str, maildir: Path, state: Path, password: Path,
          dest: str, *extra: str) -> list[str]:
    return ["import", "--userdb", f"passwd-file:{server.passwd_file}", "-u", user, "-s",
            "--dest", dest, "--dest-password-file", str(password), *extra,
            "--state-dir", str(state), "--progress", "none", f"maildir:{maildir}", "Restored",
            "ALL"]


def _reference(server: DovecotServer, maildir: Path) -> dict[str, object]:
    ref = server.add_user(f"imapdest-ref{next(_ids)}")
    server.import_(ref.name, f"maildir:{server.copy_for(ref.name, maildir)}", "Restored", "ALL",
                   subscribe=True)
    return server.snapshot(ref.name)


@pytest.fixture
def password(tmp_path: Path) -> Path:
    path = tmp_path / "dest-password"
    path.write_text("pw\n")
    return path


def test_imap_destination_same_as_doveadm_import(dovecot: DovecotServer, tmp_path: Path,
                                                 password: Path) -> None:
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=23)
    maildir = corpus["owner"]["maildir"]
    expected = _reference(dovecot, maildir)
    user = dovecot.add_user(f"imapdest-mb{next(_ids)}")
    before = tree_fingerprint(maildir)
    args = _args(dovecot, user.name, maildir, tmp_path / "state", password,
                 f"imap://127.0.0.1:{dovecot.imap_port}", "--dest-insecure")
    first = mailbeam(*args)
    assert first.returncode == 0, first.stderr
    assert "pw" not in first.stderr.replace("passwd", "")
    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"]
    assert got["subscriptions"] == expected["subscriptions"]
    again = mailbeam(*args)
    assert again.returncode == 0 and "already complete" in again.stderr
    assert dovecot.snapshot(user.name)["mailboxes"] == expected["mailboxes"]
    assert tree_fingerprint(maildir) == before


@pytest.mark.parametrize("scheme", ["imap", "imaps"])
def test_imap_destination_over_verified_tls(tls_dovecot: DovecotServer, tmp_path: Path,
                                            password: Path, scheme: str) -> None:
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=29)
    maildir = corpus["owner"]["maildir"]
    port = tls_dovecot.imap_port if scheme == "imap" else tls_dovecot.imaps_port
    dest = f"{scheme}://localhost:{port}"
    user = tls_dovecot.add_user(f"imapdest-tls{next(_ids)}")
    unverified = mailbeam(*_args(tls_dovecot, user.name, maildir, tmp_path / "s1", password,
                                 dest))
    assert unverified.returncode == 77, unverified.stderr
    assert "certificate" in unverified.stderr
    result = mailbeam(*_args(tls_dovecot, user.name, maildir, tmp_path / "s2", password, dest,
                             "--dest-ca-file", str(tls_dovecot.ca_file)))
    assert result.returncode == 0, result.stderr
    assert tls_dovecot.snapshot(user.name)["mailboxes"] == _reference(tls_dovecot, maildir)[
        "mailboxes"]


@pytest.mark.parametrize("ledger_files", [1, 3, 6])
def test_killed_mid_append_resumes_without_duplicates(
    dovecot: DovecotServer, tmp_path: Path, password: Path, ledger_files: int
) -> None:
    corpus = make_corpus(tmp_path / "src", ["owner"], seed=31, messages_per_folder=120)
    maildir = corpus["owner"]["maildir"]
    expected = _reference(dovecot, maildir)
    user = dovecot.add_user(f"imapdest-kill{next(_ids)}")
    state = tmp_path / "state"
    args = _args(dovecot, user.name, maildir, state, password,
                 f"imap://127.0.0.1:{dovecot.imap_port}", "--dest-insecure")
    proc = mailbeam_popen(*args)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list(state.glob("*/ledger/*/*.avro"))) >= ledger_files:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "finished before the kill point"
    result = mailbeam(*args)
    assert result.returncode == 0, result.stderr
    got = dovecot.snapshot(user.name)
    assert got["mailboxes"] == expected["mailboxes"], "nothing lost, nothing twice"
    assert not list(state.glob("*/intents/*/*.json"))


def _served_corpus(server: DovecotServer, tmp_path: Path, seed: int, per_folder: int = 6) -> Any:
    """A user of ``server`` whose Maildir holds a generated corpus (an IMAP source)."""
    source = server.add_user(f"imapdest-src{next(_ids)}")
    corpus = make_corpus(tmp_path / "corpus", [source.name], seed=seed,
                         messages_per_folder=per_folder)
    shutil.copytree(corpus[source.name]["maildir"], source.maildir, copy_function=shutil.copy2)
    server.give_to(source.name, source.maildir)
    return source


def _imapc_args(server: DovecotServer, source: Any, user: str, state: Path, password: Path,
                *settings: str) -> list[str]:
    return ["import", "--userdb", f"passwd-file:{server.passwd_file}", "-u", user,
            "--state-dir", str(state), "--progress", "none", "-p", "imapc_host=localhost",
            "-p", f"imapc_user={source.name}", "-p", f"imapc_password_file={password}",
            *settings, "imapc:", "", "ALL"]


def _imapc_reference(server: DovecotServer, source: Any) -> Any:
    ref = server.add_user(f"imapdest-ref{next(_ids)}")
    server.doveadm("-o", "imapc_host=127.0.0.1", "-o", f"imapc_port={server.imap_port}",
                   "-o", f"imapc_user={source.name}", "-o", "imapc_password=pw",
                   "import", "-u", ref.name, "imapc:", "", "ALL")
    return server.snapshot(ref.name)


@pytest.mark.parametrize("mode", ["starttls", "imaps"])
def test_imapc_source_over_verified_tls(tls_dovecot: DovecotServer, tmp_path: Path,
                                        password: Path, mode: str) -> None:
    source = _served_corpus(tls_dovecot, tmp_path, seed=37)
    port = tls_dovecot.imap_port if mode == "starttls" else tls_dovecot.imaps_port
    user = tls_dovecot.add_user(f"imapdest-tlsmb{next(_ids)}")
    result = mailbeam(*_imapc_args(
        tls_dovecot, source, user.name, tmp_path / "state", password,
        "-p", f"imapc_port={port}", "-p", f"imapc_ssl={mode}",
        "-p", f"ssl_client_ca_file={tls_dovecot.ca_file}"))
    assert result.returncode == 0, result.stderr
    expected = _imapc_reference(tls_dovecot, source)
    assert tls_dovecot.snapshot(user.name)["mailboxes"] == expected["mailboxes"]


@pytest.mark.parametrize("pattern", ["*/messages/*/*.avro", "*/selected/*/*.avro",
                                     "*/ledger/*/*.avro"])
def test_imapc_source_killed_and_resumed(dovecot: DovecotServer, tmp_path: Path,
                                         password: Path, pattern: str) -> None:
    source = _served_corpus(dovecot, tmp_path, seed=41, per_folder=80)
    user = dovecot.add_user(f"imapdest-ckill{next(_ids)}")
    state = tmp_path / "state"
    args = _imapc_args(dovecot, source, user.name, state, password,
                       "-p", f"imapc_port={dovecot.imap_port}")
    proc = mailbeam_popen(*args)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if any(state.glob(pattern)):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "finished before the kill point"
    result = mailbeam(*args)
    assert result.returncode == 0, result.stderr
    assert dovecot.snapshot(user.name)["mailboxes"] == _imapc_reference(dovecot, source)[
        "mailboxes"]
