"""``dovecot-uidlist``: the per-mailbox map from Maildir base names to IMAP UIDs (read only).

Mirrors the reading half of Dovecot's ``maildir-uidlist.c``::

    3 V1795886300 N5 G0123456789abcdef0123456789abcdef      v3 header: key+value fields
    1 G1795886322.M223279P16578.vm,S=154,W=162 :1795886334.M248872P16880.vm,S=154,W=162
    2 :1795886340.M1P2.vm,S=10,W=11
    1 1795886300 5                                          v1 header: uidvalidity nextuid
    1 1795886322.M223279P16578.vm:2,S                       v1 record: uid filename

Records of old writers may carry the full name with ``:2,flags``; only the base name (up to
``:``) identifies the file.  Dovecot treats the file as broken at the first bad line (bad
header, UIDs not increasing, ``/`` in a name, bad extension field layout) and rebuilds it; we
keep what was read before that line and say why in :attr:`Uidlist.corrupted`.  A later record
for a base name already listed replaces the earlier one, as in Dovecot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mailstore.errors import Kind, MailstoreError
from mailstore.maildir.filename import base_name

__all__ = ["UIDLIST_FILENAME", "Uidlist", "UidlistRecord", "parse_uidlist", "read_uidlist"]

UIDLIST_FILENAME = "dovecot-uidlist"
_MAX_UID = 0xFFFFFFFF


@dataclass(frozen=True)
class UidlistRecord:
    """One record: ``uid``, the ``filename`` as written, its ``base`` and extension fields."""

    uid: int
    filename: str
    base: str
    extensions: dict[str, str] = field(default_factory=dict)

    @property
    def guid(self) -> str | None:
        """The ``G`` extension (the message GUID), if recorded."""
        return self.extensions.get("G")


@dataclass(frozen=True)
class Uidlist:
    """A parsed uidlist: header values, records in UID order, and why parsing stopped early."""

    version: int
    uid_validity: int
    next_uid: int
    mailbox_guid: str | None
    header_extensions: dict[str, str]
    records: tuple[UidlistRecord, ...]
    corrupted: str | None = None

    def by_base(self) -> dict[str, UidlistRecord]:
        """Records keyed by base name."""
        return {rec.base: rec for rec in self.records}


def _parse_uint(text: str) -> int | None:
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= _MAX_UID else None


def _parse_header(line: str) -> tuple[int, int, int, str | None, dict[str, str]] | str:
    if len(line) < 2 or not ("0" <= line[0] <= "9") or line[1] != " ":
        return "Corrupted header (invalid version number)"
    version = int(line[0])
    rest = line[2:]
    guid: str | None = None
    extensions: dict[str, str] = {}
    if version == 1:
        parts = rest.split()
        if len(parts) < 2 or _parse_uint(parts[0]) is None or _parse_uint(parts[1]) is None:
            return "Corrupted header (version 1)"
        uid_validity, next_uid = int(parts[0]), int(parts[1])
    elif version == 3:
        uid_validity = next_uid = 0
        for item in rest.split(" "):
            if not item:
                continue
            key, value = item[0], item[1:]
            if key in "VN":
                number = _parse_uint(value)
                if number is None:
                    what = "UID_VALIDITY" if key == "V" else "NEXT_UID"
                    return f"Invalid mailbox {what}: {value}"
                if key == "V":
                    uid_validity = number
                else:
                    next_uid = number
            elif key == "G":
                if len(value) != 32 or any(c not in "0123456789abcdefABCDEF" for c in value):
                    return f"Invalid mailbox GUID: {value}"
                guid = value.lower()
            else:
                extensions[key] = value
    else:
        return f"Unsupported version {version}"
    if uid_validity == 0 or next_uid == 0:
        return f"Broken header (uidvalidity = {uid_validity}, next_uid={next_uid})"
    return version, uid_validity, next_uid, guid, extensions


def _parse_record(line: str, version: int, prev_uid: int, next_uid: int) -> UidlistRecord | str:
    pos = 0
    while pos < len(line) and "0" <= line[pos] <= "9":
        pos += 1
    uid = int(line[:pos]) if pos else 0
    if uid == 0 or pos >= len(line) or line[pos] != " ":
        return f"Invalid data: {line}"
    if uid <= prev_uid:
        return f"UIDs not ordered ({uid} >= {prev_uid})"
    if uid >= _MAX_UID:
        return f"UID too high ({uid})"
    if version == 1 and uid >= next_uid:
        return f"UID larger than next_uid ({uid} >= {next_uid})"
    rest = line[pos:].lstrip(" ")
    extensions: dict[str, str] = {}
    if version == 3:
        while rest and not rest.startswith(":"):
            item, _, rest = rest.partition(" ")
            rest = rest.lstrip(" ")
            if "A" <= item[0] <= "Z":
                extensions.setdefault(item[0], item[1:])
            # Dovecot drops an invalid extension field and keeps the record.
        rest = rest.removeprefix(":")
        if not rest:
            return f"Invalid extended fields: {line}"
    if "/" in rest:
        return f"Broken filename: {rest}"
    if not rest:
        return f"Invalid data: {line}"
    return UidlistRecord(uid=uid, filename=rest, base=base_name(rest), extensions=extensions)


def parse_uidlist(text: str) -> Uidlist | None:
    """Parse uidlist contents; None for an empty file or a broken header (Dovecot rebuilds)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return None
    header = _parse_header(lines[0])
    if isinstance(header, str):
        return None
    version, uid_validity, next_uid, guid, hdr_ext = header
    records: dict[str, UidlistRecord] = {}
    corrupted: str | None = None
    prev_uid = 0
    for number, line in enumerate(lines[1:], start=2):
        rec = _parse_record(line, version, prev_uid, next_uid)
        if isinstance(rec, str):
            corrupted = f"line {number}: {rec}"
            break
        prev_uid = rec.uid
        records.pop(rec.base, None)
        records[rec.base] = rec
    ordered = tuple(sorted(records.values(), key=lambda r: r.uid))
    return Uidlist(version, uid_validity, next_uid, guid, hdr_ext, ordered, corrupted)


def read_uidlist(control_dir: str) -> Uidlist | None:
    """Read ``control_dir/dovecot-uidlist``; None when it is missing, empty or broken."""
    path = os.path.join(control_dir, UIDLIST_FILENAME)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise MailstoreError(Kind.INVALIDDATA, f"cannot read {path}: {e.strerror}") from e
    return parse_uidlist(data.decode("utf-8", "surrogateescape"))
