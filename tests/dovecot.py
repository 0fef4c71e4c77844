"""A private Dovecot for end-to-end tests: own config, own users, IMAP on a free loopback port.

Nothing outside a fresh temp dir is touched: ``base_dir`` (sockets, ``master.pid``), ``state_dir``,
the log, the ``passwd-file`` userdb and every user's home live under one ``/tmp/mailbeam-dovecot-*``
directory (mode 0755, so the unprivileged mail uid can traverse it; pytest's own tmp dirs are 0700).

Root and the mail uid. Dovecot refuses mail access as uid 0 (``passwd-file`` logs
``User x has invalid UID '0'``), so when the tests run as root (CI), every user gets the uid/gid of
``nobody`` (65534) and ``first_valid_uid`` is lowered to it if needed; homes are chowned to it, and
``default_login_user``/``default_internal_user`` stay the Debian package's ``dovenull``/``dovecot``.
Run as an ordinary user, the users get ``os.getuid()``, the internal/login users become that user
and the chroots of the login/helper services are switched off (chroot needs root).

Files written by the test process as root are not writable by the mail uid: Dovecot then cannot
write its index/uidlist files. Hand ``doveadm import`` a source made by
:meth:`DovecotServer.copy_for` (Dovecot writes index and uidlist files into its *source*), and use
:meth:`DovecotServer.give_to` on a Maildir written by mailbeam before Dovecot reads it.

Users: :attr:`DovecotServer.passwd_file` is one ordinary passwd-file with all users (for mailbeam's
``--userdb passwd-file:PATH``). Dovecot itself reads the same lines from per-user files
``passwd.d/%u``, because it re-reads a changed passwd-file at most once per second and only on a
whole-second mtime change, so a user added right after a lookup would otherwise be unknown.

What :meth:`DovecotServer.snapshot` returns (what Dovecot sees, UIDs left out, order kept)::

    {
        "mailboxes": {                      # selectable mailboxes only, sorted by name (UTF-8)
            "INBOX": [                      # messages in UID order
                SnapshotMessage(
                    flags=("$Junk", "\\\\Seen"),   # sorted; keywords included; no \\Recent
                    received=datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone.utc),
                    size=123,               # len(text): the stored bytes
                    sha256="…",             # SHA-256 of the exact stored bytes
                ),
            ],
            "Archive.2024": [...],
        },
        "listed": ["Archive", ..., "Restored"],   # `doveadm mailbox list`, sorted; includes
                                                  # \\NonExistent parents such as a bare DEST_PARENT
        "subscriptions": ["INBOX", ...],          # `doveadm mailbox list -s`, sorted
    }

``mailboxes`` comes from ``doveadm mailbox status messages '*'`` (selectable mailboxes, including
empty ones), its messages from one ``doveadm fetch 'mailbox uid flags date.received.unixtime text'
ALL`` per user, cross-checked against the status counts. Taking a snapshot is not read-only for the
mail store: Dovecot syncs each mailbox (index files, ``dovecot-uidlist``, ``new/`` to ``cur/``).

Bytes are exact: ``doveadm fetch text`` streams the stored file unchanged (CRLF, bare CR and a
missing final newline come through as they are on disk [obs 2.3.19]). Note that Dovecot itself
stores LF when *it* saves, so CRLF sources show as LF after ``doveadm import``.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Self

__all__ = ["DoveadmError", "DovecotServer", "DovecotUser", "SnapshotMessage", "parse_fetch_output"]

_UNPRIVILEGED_NAME = "nobody"
_FETCH_FIELDS = "mailbox uid flags date.received.unixtime text"


@dataclass(frozen=True)
class DovecotUser:
    """A user of the private Dovecot: login name, password, home (``home/Maildir`` is its mail)."""

    name: str
    password: str
    home: Path
    uid: int
    gid: int

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"


class SnapshotMessage(NamedTuple):
    """One message as Dovecot reports it, without its UID."""

    flags: tuple[str, ...]
    received: datetime
    size: int
    sha256: str


class DoveadmError(subprocess.CalledProcessError):
    """A failed ``doveadm`` run; its message includes doveadm's output."""

    def __str__(self) -> str:
        out = (self.stderr or b"").decode(errors="replace") + (self.stdout or b"").decode(
            errors="replace"
        )
        return f"{super().__str__()}\n{out.strip()[-3000:]}"


def _dovecot_binary() -> str:
    """``dovecot`` lives in /usr/sbin, which is often not on a non-root user's PATH."""
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError("dovecot not found (install Debian's dovecot-imapd)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mail_ids() -> tuple[int, int, str, str]:
    """(uid, gid, internal user, internal group) for mail access and Dovecot's own services."""
    if os.geteuid() != 0:
        uid, gid = os.getuid(), os.getgid()
        return uid, gid, pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
    entry = pwd.getpwnam(_UNPRIVILEGED_NAME)
    return entry.pw_uid, entry.pw_gid, "dovecot", "dovecot"


def _make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signed for ``localhost`` and ``127.0.0.1``:
    (ca.pem, server.pem, server.key), written into ``directory``."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("mailbeam test CA"))
        .issuer_name(name("mailbeam test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_file, 0o600)
    return ca_file, cert_file, key_file


_SERVICES_WITH_CHROOT = (
    "aggregator",
    "anvil",
    "director",
    "imap-login",
    "imap-urlauth-login",
    "ipc",
    "old-stats",
    "pop3-login",
    "submission-login",
)


class DovecotServer:
    """A private Dovecot instance. Use as a context manager, or call :meth:`start`/:meth:`stop`.

    ``separator`` sets the inbox namespace's hierarchy separator; ``None`` keeps the Maildir++
    native ``.``. ``tls=True`` makes a throwaway CA (:attr:`ca_file`) and a server certificate
    for ``localhost``/``127.0.0.1``, offers STARTTLS on :attr:`imap_port` (plaintext login stays
    allowed) and listens for IMAPS on :attr:`imaps_port`.
    """

    def __init__(
        self, separator: str | None = None, base: Path | None = None, *, tls: bool = False
    ) -> None:
        self.separator = separator
        self.tls = tls
        if base is None:
            base = Path(tempfile.mkdtemp(prefix="mailbeam-dovecot-", dir="/tmp"))
            self._own_base = True
        else:
            base.mkdir(parents=True, exist_ok=True)
            self._own_base = False
        os.chmod(base, 0o755)
        self.base = base
        self.base_dir = base / "run"
        self.config_path = base / "dovecot.conf"
        self.log_path = base / "dovecot.log"
        self.homes = base / "home"
        self.homes.mkdir(exist_ok=True)
        os.chmod(self.homes, 0o755)
        self._passwd = base / "passwd"
        self._passwd.touch()
        self._passwd_dir = base / "passwd.d"
        self._passwd_dir.mkdir(exist_ok=True)
        self.imap_port = _free_port()
        #: The IMAPS port (``tls=True`` only) and the CA certificate that signed the server's.
        self.imaps_port: int | None = _free_port() if tls else None
        self.ca_file: Path | None = None
        self._cert_files: tuple[Path, Path] | None = None
        if tls:
            self.ca_file, *pair = _make_certificates(base / "tls")
            self._cert_files = (pair[0], pair[1])
        self._uid, self._gid, self._internal_user, self._internal_group = _mail_ids()
        self.users: dict[str, DovecotUser] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def passwd_file(self) -> Path:
        """The ``passwd-file`` userdb (``--userdb passwd-file:PATH`` for mailbeam)."""
        return self._passwd

    def _config(self) -> str:
        lines = [
            f"base_dir = {self.base_dir}",
            f"state_dir = {self.base / 'state'}",
            f"log_path = {self.log_path}",
            f"instance_name = mailbeam-{self.base.name}",
            "listen = 127.0.0.1",
            "protocols = imap",
            *self._ssl_lines(),
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            f"default_login_user = {self._internal_user if os.geteuid() else 'dovenull'}",
            f"default_internal_user = {self._internal_user}",
            f"default_internal_group = {self._internal_group}",
            f"first_valid_uid = {min(self._uid, 500)}",
            f"first_valid_gid = {min(self._gid, 1)}",
            "mail_location = maildir:~/Maildir",
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN username_format=%u {self._passwd_dir}/%u",
            "}",
            "userdb {",
            "  driver = passwd-file",
            f"  args = username_format=%u {self._passwd_dir}/%u",
            "}",
            "service imap-login {",
            "  inet_listener imap {",
            "    address = 127.0.0.1",
            f"    port = {self.imap_port}",
            "  }",
            "  inet_listener imaps {",
            *(
                ["    address = 127.0.0.1", f"    port = {self.imaps_port}"]
                if self.imaps_port is not None
                else ["    port = 0"]
            ),
            "  }",
            "}",
        ]
        if self.separator is not None:
            lines += [
                "namespace inbox {",
                "  inbox = yes",
                f"  separator = {self.separator}",
                "}",
            ]
        if os.geteuid() != 0:
            for service in _SERVICES_WITH_CHROOT:
                lines += [f"service {service} {{", "  chroot =", "}"]
        return "\n".join(lines) + "\n"

    def _ssl_lines(self) -> list[str]:
        if self._cert_files is None:
            return ["ssl = no"]
        cert, key = self._cert_files
        return ["ssl = yes", f"ssl_cert = <{cert}", f"ssl_key = <{key}"]

    def start(self) -> Self:
        """Write the config and start ``dovecot -F``; return once IMAP accepts connections."""
        if self._proc is not None:
            return self
        self.config_path.write_text(self._config())
        with open(self.base / "dovecot.stdout", "wb") as out:
            self._proc = subprocess.Popen(
                [_dovecot_binary(), "-F", "-c", str(self.config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 20
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self._proc.returncode}:\n{self._diag()}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.imap_port), timeout=1).close()
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not open port {self.imap_port}:\n{self._diag()}")
            time.sleep(0.05)

    def _diag(self) -> str:
        parts = []
        for path in (self.base / "dovecot.stdout", self.log_path):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        """SIGTERM the master by the pid in ``base_dir/master.pid`` and wait for it to exit."""
        pid: int | None = None
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.base_dir / "master.pid").read_text().split()[0])
        if pid is None and self._proc is not None and self._proc.poll() is None:
            pid = self._proc.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        elif pid is not None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def cleanup(self) -> None:
        """Stop, then remove the temp dir if this server created it."""
        self.stop()
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- users -----------------------------------------------------------------------------------

    def add_user(self, name: str, password: str = "pw") -> DovecotUser:
        """Add a passwd-file user with an (empty) home under the temp dir.

        The server is shared by the whole session: a name used twice is an error, so that two
        test modules can never write into the same user by accident.
        """
        if name in self.users:
            raise ValueError(f"test user {name!r} exists already: use a name unique to the test")
        if not re.fullmatch(r"[A-Za-z0-9._@+-]+", name):
            raise ValueError(f"unsupported user name for the test userdb: {name!r}")
        home = self.homes / name
        home.mkdir()
        self.give_to(name, home, uid=self._uid, gid=self._gid)
        user = DovecotUser(name, password, home, self._uid, self._gid)
        self.users[name] = user
        self._write_passwd()
        return user

    def _write_passwd(self) -> None:
        """Write the combined passwd-file (for mailbeam) and the per-user files Dovecot reads.

        Dovecot re-stats a passwd-file at most once per second and reloads it only when its
        whole-second mtime or size changed, so a user added right after a lookup would stay
        unknown for up to a second. Dovecot therefore reads ``passwd.d/%u``: a file it has never
        opened is read fresh. The contents are the same lines.
        """
        lines = {
            u.name: f"{u.name}:{{PLAIN}}{u.password}:{u.uid}:{u.gid}::{u.home}::\n"
            for u in self.users.values()
        }
        for name, line in lines.items():
            per_user = self._passwd_dir / name
            if not per_user.exists():
                tmp = per_user.with_name(f".{name}.tmp")
                tmp.write_text(line)
                os.replace(tmp, per_user)
        tmp = self._passwd.with_suffix(".tmp")
        tmp.write_text("".join(lines.values()))
        os.replace(tmp, self._passwd)

    def give_to(
        self, user: str, path: Path, *, uid: int | None = None, gid: int | None = None
    ) -> None:
        """Make ``path`` (recursively) owned by the user's mail uid; a no-op when not root."""
        if os.geteuid() != 0:
            return
        if uid is None or gid is None:
            uid, gid = self.users[user].uid, self.users[user].gid
        os.chown(path, uid, gid)
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)

    def copy_for(self, user: str, src: Path) -> Path:
        """A copy of the tree ``src`` (mtimes kept) in a fresh dir under the server's temp dir,
        owned by the user's mail uid: give this to ``doveadm import``, which writes into its source.
        """
        work = Path(tempfile.mkdtemp(prefix="source-", dir=self.base))
        dst = work / Path(src).name
        shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)
        os.chmod(work, 0o755)
        self.give_to(user, dst)
        return dst

    # -- doveadm ---------------------------------------------------------------------------------

    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run ``doveadm -c CONF ARGS…``; stdout/stderr are captured as bytes."""
        proc = subprocess.run(
            ["doveadm", "-c", str(self.config_path), *args],
            capture_output=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise DoveadmError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def import_(
        self,
        user: str,
        source_location: str,
        parent: str,
        *query: str,
        subscribe: bool = False,
        source_user: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        """``doveadm import -u USER [-U SOURCE_USER] [-s] SOURCE_LOCATION PARENT QUERY…``.

        ``query`` defaults to ``ALL``. The source must be writable by the mail uid (see
        :meth:`give_to`), since Dovecot writes index and uidlist files into it.
        """
        args = ["import", "-u", user]
        if source_user is not None:
            args += ["-U", source_user]
        if subscribe:
            args.append("-s")
        args += [source_location, parent, *(query or ("ALL",))]
        return self.doveadm(*args, check=check)

    def snapshot(self, user: str) -> dict[str, Any]:
        """What Dovecot sees for ``user``: see the module docstring for the shape."""
        status = self.doveadm("-f", "tab", "mailbox", "status", "-u", user, "messages", "*")
        counts: dict[str, int] = {}
        for line in status.stdout.decode().splitlines()[1:]:
            name, _, count = line.rpartition("\t")
            counts[name] = int(count)
        fetched = self.doveadm("fetch", "-u", user, _FETCH_FIELDS, "ALL").stdout
        by_box = parse_fetch_output(fetched)
        mailboxes: dict[str, list[SnapshotMessage]] = {}
        for name in sorted(counts):
            rows = sorted(by_box.pop(name, []), key=lambda r: r[0])
            if len(rows) != counts[name]:
                raise AssertionError(
                    f"{user}: fetch gave {len(rows)} messages for {name!r}, "
                    f"status says {counts[name]}"
                )
            mailboxes[name] = [msg for _, msg in rows]
        if by_box:
            raise AssertionError(f"{user}: fetch saw mailboxes status did not: {sorted(by_box)}")
        return {
            "mailboxes": mailboxes,
            "listed": self._list(user),
            "subscriptions": self._list(user, "-s"),
        }

    def _list(self, user: str, *opts: str) -> list[str]:
        out = self.doveadm("mailbox", "list", "-u", user, *opts).stdout.decode()
        return sorted(line for line in out.splitlines() if line)


_RECORD_START = re.compile(rb"(?:\A|\f\n)mailbox: ")
_HEAD = re.compile(
    rb"mailbox: (?P<mailbox>[^\n]*)\n"
    rb"uid: (?P<uid>\d+)\n"
    rb"flags:(?: (?P<flags>[^\n]*))?\n"
    rb"date\.received\.unixtime: (?P<received>-?\d+)\n"
    rb"text:\n"
)


def parse_fetch_output(data: bytes) -> dict[str, list[tuple[int, SnapshotMessage]]]:
    """Parse ``doveadm fetch 'mailbox uid flags date.received.unixtime text'`` (pager format).

    The pager formatter prints ``key: value`` lines; a streamed value (``text``) follows its
    ``text:`` line verbatim, and records are separated by ``\\f\\n``. ``text`` is the last field,
    so a record's text runs up to the next ``\\f\\nmailbox: `` (or the end). A message that itself
    contains ``\\f\\nmailbox: `` would be split wrongly; the caller cross-checks counts.
    """
    starts = [m.start() if m.start() == 0 else m.start() + 2 for m in _RECORD_START.finditer(data)]
    if not data:
        return {}
    if not starts or starts[0] != 0:
        raise ValueError(f"unexpected doveadm fetch output: {data[:200]!r}")
    result: dict[str, list[tuple[int, SnapshotMessage]]] = {}
    for i, start in enumerate(starts):
        end = starts[i + 1] - 2 if i + 1 < len(starts) else len(data)
        record = data[start:end]
        head = _HEAD.match(record)
        if head is None:
            raise ValueError(f"unexpected doveadm fetch record: {record[:200]!r}")
        text = record[head.end() :]
        flags = tuple(sorted(f for f in (head["flags"] or b"").decode().split() if f != "\\Recent"))
        msg = SnapshotMessage(
            flags=flags,
            received=datetime.fromtimestamp(int(head["received"]), UTC),
            size=len(text),
            sha256=hashlib.sha256(text).hexdigest(),
        )
        result.setdefault(head["mailbox"].decode(), []).append((int(head["uid"]), msg))
    return result
