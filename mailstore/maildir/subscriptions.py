"""The ``subscriptions`` file: read v1/v2, merge-write atomically under its dotlock.

Mirrors Dovecot's ``subscription-file.c``.  Storage names (mUTF-7 unless UTF-8 names)::

    v2 (written for new files by Dovecot 2.3+):   b"V\\t2\\n\\nFoo\\nFoo\\tBar\\nEntw&APw-rfe\\n"
    v1 (no header, list separator):               b"Foo\\nFoo.Bar\\n"

In v2, levels are TAB-separated and each level is tab-escaped (``\\x01`` -> ``\\x011``,
``\\t`` -> ``\\x01t``, ``\\r`` -> ``\\x01r``, ``\\n`` -> ``\\x01n``).  INBOX is always written
``INBOX``.  A merge keeps every existing line verbatim, appends the missing names, keeps a v1
file v1, and replaces the file through ``subscriptions.lock`` + rename.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mailstore.errors import Kind, MailstoreError
from mailstore.maildir.lock import DotLock

__all__ = [
    "V2_HEADER",
    "format_subscription",
    "merge_subscriptions",
    "parse_subscriptions",
    "read_subscriptions",
    "tab_escape",
    "tab_unescape",
]

V2_HEADER = b"V\t2\n\n"
_ESCAPES = {"\x01": "\x011", "\t": "\x01t", "\r": "\x01r", "\n": "\x01n"}
_UNESCAPES = {"1": "\x01", "t": "\t", "r": "\r", "n": "\n"}
# Dovecot's subscriptions lock: wait up to 120 s, override after 30 s untouched.
_LOCK_TIMEOUT = 120.0
_LOCK_STALE = 30.0


def tab_escape(text: str) -> str:
    """Dovecot's ``str_append_tabescaped``."""
    return "".join(_ESCAPES.get(c, c) for c in text)


def tab_unescape(text: str) -> str:
    """Dovecot's ``str_tabunescape``: ``\\x01`` + known letter; anything else stays."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\x01" and i + 1 < len(text):
            out.append(_UNESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def parse_subscriptions(data: bytes, separator: str) -> tuple[int, list[tuple[str, ...]]]:
    """``(version, names)``: each name a tuple of *storage* components, in file order.

    ``separator`` is the list (on-disk) separator used to split v1 lines.
    """
    text = data.decode("utf-8", "surrogateescape")
    version = 1
    if data.startswith(V2_HEADER):
        version = 2
        text = text[len(V2_HEADER) :]
    names: list[tuple[str, ...]] = []
    for line in text.split("\n"):
        if not line:
            continue
        if version == 2:
            parts = tuple(tab_unescape(p) for p in line.split("\t"))
        else:
            parts = tuple(line.split(separator))
        if parts[0].upper() == "INBOX":
            parts = ("INBOX",) + parts[1:]
        names.append(parts)
    return version, names


def format_subscription(storage_name: tuple[str, ...], version: int, separator: str) -> str:
    """One line (without newline) for a name of storage components."""
    if version >= 2:
        return "\t".join(tab_escape(p) for p in storage_name)
    return separator.join(storage_name)


def read_subscriptions(
    path: str, separator: str, decode: Callable[[str], str] = lambda s: s
) -> list[tuple[str, ...]]:
    """Subscribed names in file order, components passed through ``decode`` (mUTF-7 -> UTF-8).

    A missing file means no subscriptions.  Duplicates are dropped.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        raise MailstoreError(Kind.INVALIDDATA, f"cannot read {path}: {e.strerror}") from e
    _, stored = parse_subscriptions(data, separator)
    out: list[tuple[str, ...]] = []
    for parts in stored:
        name = tuple(p if i == 0 and p == "INBOX" else decode(p) for i, p in enumerate(parts))
        if name not in out:
            out.append(name)
    return out


def merge_subscriptions(
    path: str,
    storage_names: Iterable[tuple[str, ...]],
    separator: str,
    *,
    uid: int | None = None,
    gid: int | None = None,
    lock_timeout: float = _LOCK_TIMEOUT,
) -> bool:
    """Add names (tuples of storage components) to the file at ``path``; True if it changed.

    The file is read and rewritten under ``<path>.lock``; a new file is v2, an existing v1 file
    stays v1.  ``uid``/``gid`` own the file when running as root.
    """
    wanted = [tuple(n) for n in storage_names]
    with DotLock(path, timeout=lock_timeout, stale_timeout=_LOCK_STALE, uid=uid, gid=gid) as lock:
        try:
            with open(path, "rb") as f:
                data: bytes | None = f.read()
        except FileNotFoundError:
            data = None
        except OSError as e:
            raise MailstoreError(Kind.INVALIDDATA, f"cannot read {path}: {e.strerror}") from e
        version = 2 if data is None or data.startswith(V2_HEADER) else 1
        body = b"" if data is None else data[len(V2_HEADER) :] if version == 2 else data
        text = body.decode("utf-8", "surrogateescape")
        lines = [line for line in text.split("\n") if line]
        present = set(lines)
        added = False
        for name in wanted:
            if name and name[0].upper() == "INBOX":
                name = ("INBOX",) + name[1:]
            line = format_subscription(name, version, separator)
            if line not in present:
                lines.append(line)
                present.add(line)
                added = True
        if not added:
            return False
        out = "".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape")
        lock.replace((V2_HEADER if version == 2 else b"") + out)
    return True
