"""Dovecot mail location strings: parse, expand per user, format for display.

A location is what ``doveadm import`` takes as SOURCE_LOCATION and what
``--dest`` takes: ``driver:path[:KEY=VALUE...]`` in Dovecot 2.3 syntax, plus
Dovecot 2.4 ``-p setting=value`` overrides.  Both spellings end up as one
normalised value::

    parse_location("maildir:~/Maildir:LAYOUT=fs:INDEX=MEMORY")
    == parse_location("maildir:~/Maildir", ["mailbox_list_layout=fs", "mail_index_path=MEMORY"])
    == MailLocation(driver="maildir", path="~/Maildir",
                    settings=(("mail_index_path", "MEMORY"), ("mailbox_list_layout", "fs")))

``settings`` holds 2.4 setting names sorted by name, so equal locations
compare (and hash, and feed job ids) equal.  :func:`expand_location` then
fills in ``~`` and ``%u``-style variables for one :class:`~mailstore.userdb.User`.
Values of settings whose name contains ``password`` never appear in a repr,
:func:`format_location` or an error message.
"""

from __future__ import annotations

import pwd
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailstore.errors import Kind, MailstoreError
from mailstore.userdb import User

__all__ = [
    "DRIVERS",
    "LAYOUTS",
    "MailLocation",
    "expand_location",
    "format_location",
    "parse_destination",
    "parse_location",
]

#: Mail drivers a location may name.
DRIVERS = ("maildir", "mbox", "sdbox", "mdbox", "imapc")
#: Values of ``mailbox_list_layout``.
LAYOUTS = ("maildir++", "fs", "index")

_HIDDEN = "<hidden>"
_PLAIN_WORD = re.compile(r"[\w@%+=:,./~-]+")

# 2.3 location keys that take a value, and the 2.4 setting each became.
_VALUE_KEYS = {
    "INBOX": "mail_inbox_path",
    "INDEX": "mail_index_path",
    "INDEXPVT": "mail_index_private_path",
    "INDEXCACHE": "mail_cache_path",
    "CONTROL": "mail_control_path",
    "ALT": "mail_alt_path",
    "LAYOUT": "mailbox_list_layout",
    "SUBSCRIPTIONS": "mailbox_subscriptions_filename",
    "DIRNAME": "mailbox_directory_name",
    "FULLDIRNAME": "mailbox_directory_name",
    "MAILBOXDIR": "mailbox_root_directory_name",
    "VOLATILEDIR": "mail_volatile_path",
    "LISTINDEX": "mailbox_list_index_prefix",
    "BROKENCHAR": "mailbox_list_visible_escape_char",
}
# 2.3 keys that are flags (no value), and the 2.4 setting and value each sets.
_FLAG_KEYS = {
    "UTF-8": ("mailbox_list_utf8", "yes"),
    "ITERINDEX": ("mailbox_list_iter_from_index_dir", "yes"),
    "NO-NOSELECT": ("mailbox_list_drop_noselect", "yes"),
    "KEEP-NOSELECT": ("mailbox_list_drop_noselect", "no"),
    "ALTNOCHECK": ("mail_alt_check", "no"),
    "NO-FS-VALIDATION": ("mailbox_list_validate_fs_names", "no"),
}
# Settings holding paths: a trailing '/' is dropped and '~' expands (Dovecot's fix_path()).
_PATH_SETTINGS = frozenset(v for v in _VALUE_KEYS.values() if v.endswith("_path"))
_BOOL_SETTINGS = frozenset({"mailbox_directory_name_legacy", *(k for k, _ in _FLAG_KEYS.values())})
_TRUE = ("yes", "y", "1")
_FALSE = ("no", "n", "0")


def _secret(key: str) -> bool:
    return "password" in key.lower()


def _mask_text(text: str) -> str:
    """A location string or ``-p`` argument with password values hidden."""
    parts = text.split(":")
    for i, part in enumerate(parts):
        key, sep, _ = part.partition("=")
        if sep and _secret(key):
            parts[i] = f"{key}={_HIDDEN}"
    return ":".join(parts)


def _params(message: str) -> MailstoreError:
    return MailstoreError(Kind.PARAMS, message)


@dataclass(frozen=True, repr=False)
class MailLocation:
    """A parsed mail location: ``driver``, mail ``path`` and 2.4-named ``settings``.

    ``settings`` is a tuple of ``(name, value)`` pairs sorted by name; use
    :meth:`get` or the properties rather than scanning it.
    """

    driver: str
    path: str
    settings: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of setting ``key`` (2.4 name), or ``default`` when it is not set."""
        for name, value in self.settings:
            if name == key:
                return value
        return default

    def __repr__(self) -> str:
        shown = tuple((k, _HIDDEN if _secret(k) else v) for k, v in self.settings)
        return f"MailLocation(driver={self.driver!r}, path={self.path!r}, settings={shown!r})"

    @property
    def layout(self) -> str:
        """``mailbox_list_layout``: default ``maildir++`` for maildir, ``fs`` for the others."""
        default = "maildir++" if self.driver == "maildir" else "fs"
        return self.get("mailbox_list_layout") or default

    @property
    def index_path(self) -> str | None:
        """``mail_index_path`` (``"MEMORY"`` = keep indexes in memory), None when unset."""
        return self.get("mail_index_path")

    @property
    def control_path(self) -> str | None:
        """``mail_control_path`` (where uidlist and keywords live), None when unset."""
        return self.get("mail_control_path")

    @property
    def inbox_path(self) -> str | None:
        """``mail_inbox_path``, None when unset."""
        return self.get("mail_inbox_path")

    @property
    def alt_path(self) -> str | None:
        """``mail_alt_path`` (dbox alternate storage), None when unset."""
        return self.get("mail_alt_path")

    @property
    def directory_name(self) -> str | None:
        """``mailbox_directory_name`` (2.3 ``DIRNAME``), None when unset."""
        return self.get("mailbox_directory_name")

    @property
    def utf8(self) -> bool:
        """``mailbox_list_utf8``: True when names are stored as UTF-8, not mUTF-7."""
        return (self.get("mailbox_list_utf8") or "no").lower() in _TRUE

    @property
    def separator(self) -> str:
        """The layout's native hierarchy separator: ``.`` for Maildir++, ``/`` otherwise."""
        return "." if self.layout == "maildir++" else "/"


def _split_args(rest: str) -> list[str]:
    """Split at ``:``, where ``::`` stands for a literal colon (Dovecot's split_next_arg())."""
    raw = rest.split(":")
    args: list[str] = []
    i = 0
    while i < len(raw):
        value = raw[i]
        i += 1
        while i < len(raw) and raw[i] == "":
            i += 1
            if i == len(raw):
                break  # a trailing ':' is ignored
            value = f"{value}:{raw[i]}"
            i += 1
        args.append(value)
    return args


def _fix_path(value: str) -> str:
    return value[:-1] if len(value) > 1 and value.endswith("/") else value


def _apply_23_key(item: str, settings: dict[str, str], where: str) -> None:
    """Store one 2.3 ``KEY[=VALUE]`` location argument under its 2.4 name(s)."""
    key, sep, value = item.partition("=")
    if key in _FLAG_KEYS:
        if sep:
            raise _params(f"setting {key} takes no value in location '{where}'")
        name, flag = _FLAG_KEYS[key]
        settings[name] = flag
        return
    if key not in _VALUE_KEYS:
        raise _params(
            f"unknown setting {key!r} in location '{where}' "
            "(2.4 settings go in -p name=value instead)"
        )
    if key == "BROKENCHAR" and len(value) != 1:
        raise _params(f"BROKENCHAR value must be a single character in location '{where}'")
    settings[_VALUE_KEYS[key]] = value
    if key == "FULLDIRNAME":
        settings["mailbox_directory_name_legacy"] = "no"
    elif key == "DIRNAME":
        settings.pop("mailbox_directory_name_legacy", None)


def parse_location(text: str, overrides: Sequence[str] = ()) -> MailLocation:
    """Parse ``driver:path[:KEY=VALUE...]`` and apply ``-p`` ``overrides``.

    ``text`` is a Dovecot location; ``::`` in it is a literal colon.  2.3
    keys (``LAYOUT``, ``INDEX``, ``CONTROL``, ``INBOX``, ``ALT``, ``DIRNAME``,
    ``UTF-8``, ``ITERINDEX``, ...) become their 2.4 setting names.
    ``overrides`` are ``KEY=VALUE`` strings (``KEY`` alone sets ``""``) that
    win over the location's own keys; any name is kept as given (such as
    ``imapc_host``), 2.3 key names are translated, and ``mail_path`` /
    ``mail_driver`` replace the path / driver.  Nothing is expanded: see
    :func:`expand_location`.

    Raises ``MailstoreError(PARAMS)`` naming the location for a missing
    ``:``, an unknown driver or key, an empty path (allowed for imapc only),
    a bad layout or yes/no value, or ``ITERINDEX`` without an index path.
    """
    where = _mask_text(text)
    driver, sep, rest = text.partition(":")
    if not sep:
        raise _params(f"Source ({where}) should be in mail_driver:mail_path syntax")
    driver = driver.lower()
    args = _split_args(rest)
    path = args[0] if args else ""
    if path.startswith("INBOX="):
        raise _params(f"mail root directory not given in location '{where}'")
    settings: dict[str, str] = {}
    for item in args[1:]:
        _apply_23_key(item, settings, where)

    for override in overrides:
        key, _, value = override.partition("=")
        if key == "":
            raise _params(f"-p {_mask_text(override)!r}: setting name is empty")
        if key == "mail_path":
            path = value
        elif key == "mail_driver":
            driver = value.lower()
        elif key in _VALUE_KEYS or key in _FLAG_KEYS:
            _apply_23_key(override, settings, f"-p {_mask_text(override)}")
        else:
            settings[key] = value

    if driver not in DRIVERS:
        raise _params(f"unknown mail driver {driver!r} in location '{where}'")
    if path == "" and driver != "imapc":
        raise _params(f"mail path is empty in location '{where}' (only imapc allows that)")
    path = _fix_path(path)
    for key in _PATH_SETTINGS & settings.keys():
        settings[key] = _fix_path(settings[key])

    layout = settings.get("mailbox_list_layout")
    if layout is not None:
        layout = settings["mailbox_list_layout"] = layout.lower()
        if layout not in LAYOUTS:
            raise _params(
                f"unknown mailbox_list_layout {layout!r} in location '{where}' "
                f"(expected one of: {', '.join(LAYOUTS)})"
            )
    for key in sorted(_BOOL_SETTINGS & settings.keys()):
        if settings[key].lower() not in _TRUE + _FALSE:
            raise _params(f"{key} must be yes or no, not {settings[key]!r}, in location '{where}'")
    if settings.get("mailbox_list_iter_from_index_dir", "no").lower() in _TRUE and settings.get(
        "mail_index_path", ""
    ) in ("", "MEMORY"):
        raise _params(f"ITERINDEX requires INDEX to be explicitly set in location '{where}'")
    escape = settings.get("mailbox_list_visible_escape_char")
    if escape is not None and len(escape) > 1:
        raise _params(f"mailbox_list_visible_escape_char must be one character in '{where}'")
    return MailLocation(driver=driver, path=path, settings=tuple(sorted(settings.items())))


#: Default ports of the IMAP destination URL schemes.
IMAP_PORTS = {"imap": 143, "imaps": 993}
_IMAP_URL = re.compile(
    r"(?P<scheme>imaps?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d{1,5}))?/?",
    re.IGNORECASE,
)


def parse_destination(
    text: str,
    *,
    master_user: str | None = None,
    password_file: str | None = None,
    insecure: bool = False,
    ca_file: str | None = None,
) -> MailLocation:
    """Parse ``--dest``: an IMAP server URL, or else a location template (:func:`parse_location`).

    ``imap://HOST[:PORT]`` (port 143) and ``imaps://HOST[:PORT]`` (port 993, TLS from the first
    byte) become ``MailLocation(driver="imap"|"imaps", path=HOST, settings=...)`` with these
    settings (never expanded per user, except that the login user is the destination user)::

        imap_port          the port
        imap_ssl           "starttls" (imap://), "imaps" (imaps://), "no" (imap:// + insecure)
        imap_ssl_verify    "yes", or "no" with ``insecure``
        imap_ssl_ca_file   ``ca_file``: the CA bundle the server certificate is checked against
        imap_master_user   ``master_user``: log in as the master user on behalf of each user
        imap_password_file ``password_file``; without it the password comes from the
                           ``MAILBEAM_DEST_PASSWORD`` environment variable when logging in

    Security: ``imap://`` means STARTTLS with the certificate and host name verified; a server
    that does not offer STARTTLS is refused.  Only ``insecure`` allows plaintext IMAP (and turns
    off certificate verification for ``imaps://``): a password never crosses the network in the
    clear unless asked for.  Credentials never go in the URL: ``user@``, ``:password@``, a path
    or a query are rejected (``MailstoreError(PARAMS)``), as are an empty host and a port
    outside 1-65535.  No file is read here.
    """
    scheme = text.partition("://")[0].lower()
    if scheme not in IMAP_PORTS or "://" not in text:
        return parse_location(text)
    if "@" in text:
        raise _params(
            f"--dest {scheme}://...: credentials do not go in the URL (the login user is each "
            "destination user; see --dest-master-user and --dest-password-file)"
        )
    match = _IMAP_URL.fullmatch(text)
    if match is None:
        raise _params(f"--dest {text!r}: expected {scheme}://HOST[:PORT]")
    port = int(match["port"]) if match["port"] else IMAP_PORTS[scheme]
    if not 0 < port < 65536:
        raise _params(f"--dest {text!r}: port {port} is out of range")
    host = match["host"]
    if host.startswith("["):
        host = host[1:-1]
    if scheme == "imaps":
        ssl = "imaps"
    else:
        ssl = "no" if insecure else "starttls"
    settings = {
        "imap_port": str(port),
        "imap_ssl": ssl,
        "imap_ssl_verify": "no" if insecure else "yes",
    }
    for key, value in (
        ("imap_ssl_ca_file", ca_file),
        ("imap_master_user", master_user),
        ("imap_password_file", password_file),
    ):
        if value is not None and value != "":
            settings[key] = value
    return MailLocation(driver=scheme, path=host, settings=tuple(sorted(settings.items())))


def _filter(value: str, name: str, where: str) -> str:
    if name == "lower":
        return value.lower()
    if name == "upper":
        return value.upper()
    if name == "username":
        return value.split("@", 1)[0]
    if name == "domain":
        _, sep, domain = value.partition("@")
        return domain if sep else ""
    raise _params(f"unknown variable filter {name!r} in location {where}")


def _expand_vars(text: str, user: User, where: str) -> str:
    """Expand ``%u %n %d %h %%`` (with optional ``L``/``U`` case modifier) and ``%{...}``."""

    def home(var: str) -> str:
        if not user.home:
            raise _params(
                f"user {user.name!r} has no home directory for {var!r} in location {where}"
            )
        return user.home

    short: dict[str, Callable[[str], str]] = {
        "u": lambda _: user.name,
        "n": lambda _: user.username,
        "d": lambda _: user.domain,
        "h": home,
    }
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "%":
            out.append(char)
            i += 1
            continue
        start = i
        i += 1
        if text.startswith("%", i):
            out.append("%")
            i += 1
        elif text.startswith("{", i):
            end = text.find("}", i)
            if end < 0:
                raise _params(f"unterminated '%{{' in location {where}")
            base, *filters = [part.strip() for part in text[i + 1 : end].split("|")]
            long_names = {"user": "u", "username": "n", "domain": "d", "home": "h"}
            if base not in long_names:
                raise _params(f"unknown variable %{{{base}}} in location {where}")
            value = short[long_names[base]](f"%{{{base}}}")
            for name in filters:
                value = _filter(value, name, where)
            out.append(value)
            i = end + 1
        else:
            modifier = text[i] if text[i : i + 1] in ("L", "U") else ""
            i += len(modifier)
            var = text[i : i + 1]
            if var not in short:
                raise _params(f"unknown variable {text[start : i + 1]!r} in location {where}")
            value = short[var](text[start : i + 1])
            out.append(value.lower() if modifier == "L" else value.upper() if modifier else value)
            i += 1
    return "".join(out)


def _expand_home(value: str, user: User, where: str) -> str:
    """Expand a leading ``~`` or ``~/`` (the user's home) or ``~name/`` (a system user's)."""
    if not value.startswith("~"):
        return value
    head, sep, tail = value[1:].partition("/")
    if head == "":
        if not user.home:
            raise _params(f"user {user.name!r} has no home directory for '~' in location {where}")
        home = user.home
    else:
        try:
            home = pwd.getpwnam(head).pw_dir
        except KeyError:
            raise _params(
                f"no home directory for system user '~{head}' in location {where}"
            ) from None
    if not sep:
        return home
    return f"{home.rstrip('/')}/{tail}"


def expand_location(loc: MailLocation, user: User) -> MailLocation:
    """``loc`` with ``~`` and ``%`` variables filled in for ``user``.

    In the path and path settings (index, control, inbox, alt, volatile, ...)
    ``~``/``~/`` become the user's home; everywhere there and in ``imapc_*``
    settings (except passwords) ``%u`` (full name), ``%n`` (before ``@``),
    ``%d`` (after ``@``), ``%h`` (home), ``%%`` and the long forms
    ``%{user}``, ``%{username}``, ``%{domain}``, ``%{home}`` are replaced;
    ``%Lu``/``%Uu`` and ``%{user|lower}`` change case.  Raises
    ``MailstoreError(PARAMS)`` for an unknown variable, or when the user has
    no home and the location needs one.
    """
    where = f"'{format_location(loc)}'"

    def expand(value: str, with_home: bool) -> str:
        value = _expand_vars(value, user, where)
        return _expand_home(value, user, where) if with_home else value

    settings = []
    for key, value in loc.settings:
        if key in _PATH_SETTINGS:
            value = expand(value, True)
        elif key.startswith("imapc_") and not _secret(key):
            value = expand(value, False)
        settings.append((key, value))
    return MailLocation(driver=loc.driver, path=expand(loc.path, True), settings=tuple(settings))


def format_location(loc: MailLocation) -> str:
    """A one-line display form, ``driver:path -p name=value ...``, passwords hidden.

    Colons in the path are written as ``::``; everything else is shell-quoted
    where needed, so the text reads like the 2.4 doveadm command line.
    """
    words = [_quote(f"{loc.driver}:{loc.path.replace(':', '::')}")]
    for key, value in loc.settings:
        words.append(f"-p {key}={_HIDDEN}" if _secret(key) else f"-p {_quote(f'{key}={value}')}")
    return " ".join(words)


def _quote(word: str) -> str:
    """Shell-quote ``word`` unless it is made of characters a shell leaves alone."""
    return word if _PLAIN_WORD.fullmatch(word) else shlex.quote(word)
