"""One logged-in IMAP connection with bounded retries: the client both IMAP drivers share.

:class:`ImapEndpoint` says where and how to connect (host, port, TLS mode, user, where the
password comes from -- never the password itself); :class:`ImapSession` is one connection to
it, opened on demand, logged in, and re-opened (re-selecting the last mailbox) when the
connection drops.  Everything goes through :meth:`ImapSession.call`::

    endpoint = ImapEndpoint("imap.example.org", 993, "imaps", user="alice",
                            password_file="/run/secrets/imap")
    with ImapSession(endpoint) as session:
        info = session.select(encode_mutf7("Entwürfe"), readonly=True)   # EXAMINE
        data = session.call(lambda c: c.fetch([1, 2], ["FLAGS"]), "UID FETCH 1:2 FLAGS")

The :class:`~imapclient.IMAPClient` handed to ``fn`` is configured so that it never guesses:

* ``use_uid=True``: message numbers are UIDs;
* ``folder_encode=False``: mailbox names go on the wire exactly as given (pass mUTF-7 from
  :func:`mailstore.mutf7.encode_mutf7`) and come back from LIST as raw ``bytes`` (decode them
  with :func:`mailstore.mutf7.decode_mutf7`, which is stricter than imapclient's decoder);
* ``normalise_times=False``: ``INTERNALDATE`` comes back timezone-aware, not naive local time.

Failures are :class:`ImapError` (a :class:`~mailstore.errors.MailstoreError` that also carries
the server's response code, e.g. ``"ALREADYEXISTS"``): a tagged NO/BAD is not retried and keeps
the server's text; a lost connection, timeout or BYE is retried ``retries`` times with doubling
``backoff`` and then raised as TEMP; a refused LOGIN is PERM naming host and user (TEMP when the
server says ``[UNAVAILABLE]``); a failed TLS certificate check is PERM and never retried.
Passwords never appear in messages, reprs or logs (imapclient redacts LOGIN/AUTHENTICATE lines
in its debug log; every message we build is scrubbed of the password as well).
"""

from __future__ import annotations

import logging
import os
import re
import ssl as tls
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self, TypeVar

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc

from mailstore.errors import Kind, MailstoreError

__all__ = [
    "SSL_MODES",
    "ImapEndpoint",
    "ImapError",
    "ImapSession",
    "SelectInfo",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Values of ``ImapEndpoint.ssl`` (Dovecot's ``imapc_ssl``).
SSL_MODES = ("no", "imaps", "starttls")

_HIDDEN = "<hidden>"
_BYTES_REPR = re.compile(r"b(['\"])(.*)\1")
_CODE = re.compile(r"\[([A-Z][A-Z0-9-]*)[ \]]")
# Response codes (RFC 5530 and friends) and the error kind each maps to.
_CODE_KINDS = {
    "UNAVAILABLE": Kind.TEMP,
    "SERVERBUG": Kind.TEMP,
    "INUSE": Kind.TEMP,
    "LIMIT": Kind.TEMP,
    "EXPUNGEISSUED": Kind.TEMP,
    "AUTHENTICATIONFAILED": Kind.PERM,
    "AUTHORIZATIONFAILED": Kind.PERM,
    "EXPIRED": Kind.PERM,
    "PRIVACYREQUIRED": Kind.PERM,
    "NOPERM": Kind.PERM,
    "OVERQUOTA": Kind.PERM,
    "CONTACTADMIN": Kind.PERM,
    "NONEXISTENT": Kind.NOTFOUND,
    "TRYCREATE": Kind.NOTFOUND,
    "ALREADYEXISTS": Kind.EXISTS,
    "CANNOT": Kind.INVALIDDATA,
    "PARSE": Kind.INVALIDDATA,
    "CLIENTBUG": Kind.INVALIDDATA,
}


class ImapError(MailstoreError):
    """A MailstoreError from IMAP; ``code`` is the server's response code (``"NONEXISTENT"``)."""

    def __init__(self, kind: Kind, message: str, code: str | None = None) -> None:
        super().__init__(kind, message)
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:  # type: ignore[override]
        return (type(self), (self.kind, str(self), self.code))


@dataclass(frozen=True)
class ImapEndpoint:
    """Where and how to log in; holds where the password comes from, never the password.

    ``ssl`` is ``"no"``, ``"imaps"`` (TLS from the first byte) or ``"starttls"``; ``verify``
    checks the server certificate and host name (against ``ca_file`` when given, else the system
    CAs). ``master_user`` logs in as ``master_user`` on behalf of ``user`` (SASL PLAIN with
    ``user`` as the authorization identity, which is how Dovecot's imapc does it).
    ``password_file`` (first line, trailing newline dropped) wins over ``password_env``.
    ``timeout`` is the connect and per-read socket timeout in seconds.
    """

    host: str
    port: int
    ssl: str
    verify: bool = True
    ca_file: str | None = None
    user: str = ""
    master_user: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.ssl not in SSL_MODES:
            raise MailstoreError(
                Kind.PARAMS, f"IMAP ssl mode {self.ssl!r}: expected one of {', '.join(SSL_MODES)}"
            )
        if not self.host:
            raise MailstoreError(Kind.PARAMS, "IMAP host is empty")
        if not 0 < self.port < 65536:
            raise MailstoreError(Kind.PARAMS, f"IMAP port {self.port} is out of range")

    def describe(self) -> str:
        """``user@host:port`` (plus the TLS mode), for messages; never the password."""
        who = f"{self.user}*{self.master_user}@" if self.master_user else f"{self.user}@"
        tls = "" if self.ssl == "no" else f" ({self.ssl})"
        return f"imap://{who}{self.host}:{self.port}{tls}"

    def password(self) -> str:
        """The password, read now from ``password_file`` or ``password_env``.

        Raises ``MailstoreError(PERM)`` naming the file or variable (never a value) when neither
        is set, the file cannot be read, or the value is empty.
        """
        if self.password_file:
            try:
                with open(self.password_file, encoding="utf-8") as f:
                    first = f.readline()
            except OSError as e:
                raise MailstoreError(
                    Kind.PERM,
                    f"{self.describe()}: cannot read the password file "
                    f"{self.password_file}: {e.strerror}",
                ) from None
            value = first.rstrip("\r\n")
            if not value:
                raise MailstoreError(
                    Kind.PERM, f"{self.describe()}: password file {self.password_file} is empty"
                )
            return value
        if self.password_env:
            value = os.environ.get(self.password_env, "")
            if not value:
                raise MailstoreError(
                    Kind.PERM,
                    f"{self.describe()}: no password: environment variable "
                    f"{self.password_env} is not set or empty",
                )
            return value
        raise MailstoreError(
            Kind.PERM, f"{self.describe()}: no password source (neither a file nor a variable)"
        )

    def ssl_context(self) -> tls.SSLContext | None:
        """The TLS context for ``imaps``/``starttls``; None for plain IMAP."""
        if self.ssl == "no":
            return None
        context = tls.create_default_context(tls.Purpose.SERVER_AUTH, cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = tls.CERT_NONE
        return context


@dataclass(frozen=True)
class SelectInfo:
    """What SELECT/EXAMINE said: ``recent`` is the RECENT count, ``flags`` the FLAGS list."""

    mailbox: str
    readonly: bool
    uidvalidity: int
    uidnext: int | None
    exists: int
    recent: int
    flags: tuple[str, ...]
    permanent_flags: tuple[str, ...]
    highest_modseq: int | None


class _ConnectionLost(Exception):
    """Internal: the connection broke; ``reason`` is what the socket or server said."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _server_text(e: BaseException) -> str:
    """The error's text, with imaplib's ``b'...'`` around the server's words taken off."""
    return _BYTES_REPR.sub(lambda m: m.group(2), str(e))


def _parse_select(mailbox: str, readonly: bool, resp: dict[bytes, Any]) -> SelectInfo:
    def num(key: bytes) -> int | None:
        value = resp.get(key)
        return int(value) if value is not None else None

    uidvalidity = num(b"UIDVALIDITY")
    if uidvalidity is None:
        raise ImapError(Kind.INVALIDDATA, f"SELECT {mailbox}: the server sent no UIDVALIDITY")
    return SelectInfo(
        mailbox=mailbox,
        readonly=readonly or not resp.get(b"READ-WRITE", False),
        uidvalidity=uidvalidity,
        uidnext=num(b"UIDNEXT"),
        exists=num(b"EXISTS") or 0,
        recent=num(b"RECENT") or 0,
        flags=tuple(_text(f) for f in resp.get(b"FLAGS", ())),
        permanent_flags=tuple(_text(f) for f in resp.get(b"PERMANENTFLAGS", ())),
        highest_modseq=num(b"HIGHESTMODSEQ"),
    )


class ImapSession:
    """One logged-in IMAP connection to ``endpoint``; a context manager.

    The connection opens on first use (or on ``__enter__``) and re-opens when it drops.
    ``retries`` is how many times one :meth:`call` re-runs after a lost connection or timeout,
    sleeping ``backoff``, ``2*backoff``, ... seconds in between. ``secret`` is an explicit
    password (Dovecot's ``imapc_password`` setting); without it :meth:`ImapEndpoint.password`
    is asked at each login.
    """

    def __init__(
        self,
        endpoint: ImapEndpoint,
        *,
        retries: int = 4,
        backoff: float = 0.5,
        secret: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.retries = retries
        self.backoff = backoff
        self._secret = secret
        self._known_secret: str | None = secret
        self._client: IMAPClient | None = None
        self._capabilities: frozenset[str] = frozenset()
        self._selected: SelectInfo | None = None
        #: How many times a connection was opened (for tests and reports).
        self.connects = 0

    def __repr__(self) -> str:
        state = "connected" if self._client is not None else "closed"
        return f"ImapSession({self.endpoint.describe()}, {state})"

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection ------------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[str]:
        """The server's capabilities after login, upper-case (``"UIDPLUS"``, ``"MOVE"``)."""
        if self._client is None:
            self.connect()
        return self._capabilities

    @property
    def selected(self) -> SelectInfo | None:
        """The mailbox :meth:`select` last selected (re-selected after a reconnect)."""
        return self._selected

    def connect(self) -> Self:
        """Open and log in now (retrying like :meth:`call`); a no-op when connected."""
        if self._client is None:
            self.call(lambda _client: None, "connect")
        return self

    def close(self) -> None:
        """LOGOUT and drop the connection; the session can connect again later."""
        client, self._client = self._client, None
        self._selected = None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            self._shutdown(client)

    @staticmethod
    def _shutdown(client: IMAPClient) -> None:
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001, S110 - best effort on a broken connection
            pass

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            self._shutdown(client)

    def _password(self) -> str:
        if self._secret is not None:
            return self._secret
        value = self.endpoint.password()
        self._known_secret = value
        return value

    def _scrub(self, text: str) -> str:
        if self._known_secret:
            text = text.replace(self._known_secret, _HIDDEN)
        return text

    def _open(self) -> IMAPClient:
        """Connect, TLS, log in, read capabilities, re-select; raises _ConnectionLost to retry."""
        ep = self.endpoint
        where = ep.describe()
        try:
            client = IMAPClient(
                ep.host,
                ep.port,
                use_uid=True,
                ssl=ep.ssl == "imaps",
                ssl_context=ep.ssl_context(),
                timeout=ep.timeout,
            )
        except tls.SSLCertVerificationError as e:
            raise self._tls_error(e) from None
        except (OSError, imap_exc.IMAPClientAbortError) as e:
            raise _ConnectionLost(f"cannot connect: {e}") from None
        except imap_exc.IMAPClientError as e:
            raise ImapError(Kind.TEMP, f"{where}: bad greeting: {self._scrub(str(e))}") from None
        client.folder_encode = False
        client.normalise_times = False
        try:
            if ep.ssl == "starttls":
                self._starttls(client)
            self._login(client)
            self._capabilities = frozenset(_text(c).upper() for c in client.capabilities())
            self.connects += 1
            if self._selected is not None:
                self._reselect(client, self._selected)
        except BaseException:
            self._shutdown(client)
            raise
        return client

    def _tls_error(self, e: tls.SSLCertVerificationError) -> ImapError:
        reason = e.verify_message or e.reason or str(e)
        hint = f" (CA file {self.endpoint.ca_file})" if self.endpoint.ca_file else ""
        return ImapError(
            Kind.PERM,
            f"{self.endpoint.describe()}: TLS certificate verification failed: {reason}{hint}",
        )

    def _starttls(self, client: IMAPClient) -> None:
        where = self.endpoint.describe()
        try:
            client.starttls(self.endpoint.ssl_context())
        except tls.SSLCertVerificationError as e:
            raise self._tls_error(e) from None
        except imap_exc.CapabilityError:
            raise ImapError(Kind.PERM, f"{where}: the server does not offer STARTTLS") from None
        except (OSError, imap_exc.IMAPClientAbortError) as e:
            raise _ConnectionLost(f"STARTTLS: {e}") from None
        except imap_exc.IMAPClientError as e:
            raise ImapError(Kind.PERM, f"{where}: STARTTLS refused: {e}") from None

    def _login(self, client: IMAPClient) -> None:
        ep = self.endpoint
        password = self._password()
        try:
            if ep.master_user:
                client.plain_login(ep.master_user, password, ep.user)
            else:
                client.login(ep.user, password)
        except imap_exc.LoginError as e:
            text = self._scrub(_server_text(e))
            if isinstance(e.__context__, (imap_exc.IMAPClientAbortError, OSError)):
                # imapclient turns every error during LOGIN into LoginError, a dropped
                # connection too (keeping the original as __context__): only NO/BAD refuse.
                raise _ConnectionLost(f"LOGIN: {text}") from None
            code = self._code(text)
            temp = code == "UNAVAILABLE" or "temporar" in text.lower()
            raise ImapError(
                Kind.TEMP if temp else Kind.PERM,
                f"IMAP login to {ep.host}:{ep.port} as {ep.user!r}"
                + (f" (master user {ep.master_user!r})" if ep.master_user else "")
                + f" failed: {text}",
                code,
            ) from None
        except (OSError, imap_exc.IMAPClientAbortError) as e:
            raise _ConnectionLost(f"LOGIN: {self._scrub(str(e))}") from None

    def _reselect(self, client: IMAPClient, old: SelectInfo) -> None:
        new = self._select(client, old.mailbox, old.readonly)
        if new.uidvalidity != old.uidvalidity:
            self._selected = None
            raise ImapError(
                Kind.TEMP,
                f"{self.endpoint.describe()}: mailbox {old.mailbox}: UIDVALIDITY changed from "
                f"{old.uidvalidity} to {new.uidvalidity} while reconnecting: UIDs are no longer "
                "valid, list the mailbox again",
                "UIDVALIDITY",
            )
        self._selected = new

    @staticmethod
    def _select(client: IMAPClient, mailbox: str, readonly: bool) -> SelectInfo:
        resp = client.select_folder(mailbox, readonly=readonly)
        return _parse_select(mailbox, readonly, resp)

    # -- commands --------------------------------------------------------------------------------

    def call(self, fn: Callable[[IMAPClient], T], what: str, *, retry: bool = True) -> T:
        """Run ``fn(client)`` on the logged-in connection and return what it returns.

        ``what`` names the operation in errors (``"UID FETCH 1:1000 in INBOX"``). A lost
        connection, timeout or BYE re-connects (re-selecting the last mailbox) and re-runs
        ``fn``, at most ``retries`` times; with ``retry=False`` (for commands that must not run
        twice, such as APPEND) it raises ``ImapError(TEMP)`` at once and the next call
        reconnects. A NO/BAD answer raises ``ImapError`` with the server's text and code.
        """
        attempts = 1 + (self.retries if retry else 0)
        last = ""
        for attempt in range(attempts):
            if attempt:
                delay = self.backoff * (2 ** (attempt - 1))
                log.info("%s: %s; retrying in %.1fs", self.endpoint.describe(), last, delay)
                time.sleep(delay)
            try:
                if self._client is None:
                    self._client = self._open()
                return fn(self._client)
            except _ConnectionLost as e:
                self._drop()
                last = e.reason
            except tls.SSLCertVerificationError as e:
                self._drop()
                raise self._tls_error(e) from None
            except imap_exc.IMAPClientReadOnlyError as e:
                raise ImapError(
                    Kind.PERM, f"{what}: {self.endpoint.describe()}: {self._scrub(str(e))}"
                ) from None
            except (imap_exc.IMAPClientAbortError, OSError) as e:
                self._drop()
                last = self._scrub(str(e)) or type(e).__name__
            except imap_exc.IMAPClientError as e:
                text = self._scrub(_server_text(e))
                code = self._code(text)
                kind = _CODE_KINDS.get(code or "", Kind.INVALIDDATA)
                if code is None and "doesn't exist" in text:
                    kind = Kind.NOTFOUND  # Dovecot 2.3 sends no [NONEXISTENT] on SELECT/STATUS
                raise ImapError(kind, f"{what}: {self.endpoint.describe()}: {text}", code) from None
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        raise ImapError(
            Kind.TEMP, f"{what}: {self.endpoint.describe()}: connection lost: {last}{tries}"
        )

    @staticmethod
    def _code(text: str) -> str | None:
        match = _CODE.search(text)
        return match.group(1) if match else None

    def select(self, mailbox: str, *, readonly: bool = True) -> SelectInfo:
        """SELECT (or EXAMINE, with ``readonly``) the mUTF-7 ``mailbox``; remembered, so a
        reconnect selects it again (and fails with TEMP if its UIDVALIDITY changed)."""
        verb = "EXAMINE" if readonly else "SELECT"
        info = self.call(lambda c: self._select(c, mailbox, readonly), f"{verb} {mailbox}")
        self._selected = info
        return info
