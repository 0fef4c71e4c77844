r"""An mdbox mailbox index: which map_uids a mailbox holds, with flags, keywords and dates.

An mdbox mailbox directory holds no mail, only ``dovecot.index*`` (reference
dovecot-index.md §1.5, §4).  Per record, besides uid, flags and keywords::

    mdbox   8/4   u32 map_uid, u32 save_date     (the map_uid is the key into the map index)
    guid   16/1   the message GUID (128 bits), or a hash of a GUID that is not 32 hex digits

and in the header ``mdbox-hdr`` = ``u32 map_uid_validity, guid[16] mailbox_guid, u8 flags``.
:func:`read_mailbox` gives::

    MdboxMailbox(uid_validity=1795891353, map_uid_validity=1795891353, guid="3f…",
                 first_recent_uid=1,
                 messages=(MailboxMessage(uid=1, map_uid=12, save_date=1795891353,
                                          flags=frozenset({"\\Seen"}), keywords=("$Junk",),
                                          guid128="0a1b…"), ...))

Without the index, a mailbox's membership (which m.* messages it holds, copies included) cannot
be recovered: :func:`read_mailbox` raises ``NOTFOUND`` and the caller fails that mailbox alone.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from mailstore.errors import Kind, MailstoreError
from mailstore.index import MailIndex, read_index, system_flags

__all__ = ["MailboxMessage", "MdboxMailbox", "mailbox_from_index", "read_mailbox"]

_MDBOX_EXT = "mdbox"
_GUID_EXT = "guid"
_HDR_EXT = "mdbox-hdr"
_MDBOX_RECORD = struct.Struct("<II")
_HDR = struct.Struct("<I16s")


@dataclass(frozen=True)
class MailboxMessage:
    """One mailbox record: ``map_uid`` 0 means the record has no map reference (lost);
    ``save_date`` is Unix seconds or None when the index holds 0; ``guid128`` is the ``guid``
    extension as 32 hex digits, None when absent or all zero."""

    uid: int
    map_uid: int
    save_date: int | None
    flags: frozenset[str]
    keywords: tuple[str, ...]
    guid128: str | None


@dataclass(frozen=True)
class MdboxMailbox:
    """A replayed mailbox index; ``map_uid_validity`` and ``guid`` are None without
    ``mdbox-hdr``; ``warnings`` are what the index reader skipped."""

    uid_validity: int
    map_uid_validity: int | None
    guid: str | None
    first_recent_uid: int
    messages: tuple[MailboxMessage, ...]
    warnings: tuple[str, ...] = ()


def _hex_or_none(raw: bytes) -> str | None:
    return raw.hex() if raw and any(raw) else None


def mailbox_from_index(index: MailIndex) -> MdboxMailbox:
    """Decode the mdbox extensions of a replayed mailbox index."""
    map_uid_validity: int | None = None
    guid: str | None = None
    header = index.header_extensions.get(_HDR_EXT, b"")
    if len(header) >= _HDR.size:
        map_uid_validity, raw_guid = _HDR.unpack_from(header)
        guid = _hex_or_none(raw_guid)
    messages = []
    for record in index.records:
        raw = record.extensions.get(_MDBOX_EXT, b"")
        map_uid, save_date = _MDBOX_RECORD.unpack_from(raw) if len(raw) >= 8 else (0, 0)
        messages.append(
            MailboxMessage(
                uid=record.uid,
                map_uid=map_uid,
                save_date=save_date or None,
                flags=system_flags(record.flags),
                keywords=tuple(record.keywords),
                guid128=_hex_or_none(record.extensions.get(_GUID_EXT, b"")[:16]),
            )
        )
    return MdboxMailbox(
        uid_validity=index.uid_validity,
        map_uid_validity=map_uid_validity,
        guid=guid,
        first_recent_uid=index.first_recent_uid,
        messages=tuple(messages),
        warnings=tuple(index.warnings),
    )


def read_mailbox(index_dir: str, shown_name: str) -> MdboxMailbox:
    """Replay ``<index_dir>/dovecot.index`` (+ logs) read-only for the mailbox ``shown_name``.

    Raises ``MailstoreError(NOTFOUND)`` when the mailbox has no index files, ``INVALIDDATA``
    when they cannot be replayed at all; both name the mailbox and the directory.  Damage
    later in the log stops the replay there (as Dovecot 2.4 does) and lands in ``warnings``.
    """
    base = os.path.join(index_dir, "dovecot.index")
    if not any(os.path.lexists(base + suffix) for suffix in ("", ".log", ".log.2")):
        raise MailstoreError(
            Kind.NOTFOUND,
            f"mailbox {shown_name}: index {base} not found (nor {base}.log): an mdbox mailbox "
            "holds its messages only as references in its index, so they cannot be recovered",
        )
    try:
        index = read_index(index_dir, strict=False)
    except MailstoreError as e:
        raise MailstoreError(e.kind, f"mailbox {shown_name}: index {base}: {e}") from e
    return mailbox_from_index(index)
