"""The mdbox map index: ``map_uid`` -> (``m.<file_id>``, offset, size) and a refcount.

Mirrors ``dbox-multi/mdbox-map.c``.  ``storage/dovecot.map.index`` (+ ``.log``, ``.log.2``) is an
ordinary Dovecot index (replayed by :func:`mailstore.index.read_index`) whose message uids are
map_uids and whose records carry two extensions (reference dovecot-index.md §4)::

    map   12/4   u32 file_id, u32 offset, u32 size   (size covers the dbox message header,
                                                     the message and its metadata; 0 = to EOF)
    ref    2/2   u16 refcount                        (mailbox records pointing at this map_uid)

Its ``uid_validity`` is the map_uid_validity each mailbox's ``mdbox-hdr`` must repeat.  An
expunge leaves the map record in place with refcount 0 until ``doveadm purge`` copies the
live messages into new files and drops it: such a record still points at readable bytes, and
reading them would resurrect deleted mail.  :func:`read_map` gives::

    MdboxMap(uid_validity=1795891353, entries={7: MapEntry(map_uid=7, file_id=1,
                                                           offset=3381, size=497, refcount=0)})
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from mailstore.errors import Kind, MailstoreError
from mailstore.index import MailIndex, read_index
from mailstore.mdbox.layout import MAP_INDEX_PREFIX

__all__ = ["MapEntry", "MdboxMap", "map_from_index", "read_map"]

_MAP_EXT = "map"
_REF_EXT = "ref"
_MAP_RECORD = struct.Struct("<III")
_REF_RECORD = struct.Struct("<H")


@dataclass(frozen=True)
class MapEntry:
    """Where one map_uid's message is: ``m.<file_id>`` at ``offset``, ``size`` bytes long
    (0 = up to the end of the file, Dovecot 2.4.2+), referenced by ``refcount`` mailbox
    records (0 = expunged everywhere, not yet purged)."""

    map_uid: int
    file_id: int
    offset: int
    size: int
    refcount: int

    @property
    def file_name(self) -> str:
        return f"m.{self.file_id}"


@dataclass(frozen=True)
class MdboxMap:
    """The replayed map: ``uid_validity`` (the map_uid_validity), entries by map_uid, and what
    the index reader had to skip (``warnings``)."""

    uid_validity: int
    entries: Mapping[int, MapEntry]
    warnings: tuple[str, ...] = ()

    def get(self, map_uid: int) -> MapEntry | None:
        return self.entries.get(map_uid)


def map_from_index(index: MailIndex, where: str = MAP_INDEX_PREFIX) -> MdboxMap:
    """Decode the ``map`` and ``ref`` record extensions of a replayed map index.

    A record without a ``map`` extension or with file_id 0 has no location and is left out (a
    mailbox message pointing at it is then as lost as one whose map_uid was purged).  A record
    without ``ref`` data counts as refcount 0, the value Dovecot gives a fresh extension.
    """
    entries: dict[int, MapEntry] = {}
    for record in index.records:
        raw_map = record.extensions.get(_MAP_EXT, b"")
        if len(raw_map) < _MAP_RECORD.size:
            continue
        file_id, offset, size = _MAP_RECORD.unpack_from(raw_map)
        if file_id == 0:
            continue
        raw_ref = record.extensions.get(_REF_EXT, b"")
        refcount = _REF_RECORD.unpack_from(raw_ref)[0] if len(raw_ref) >= _REF_RECORD.size else 0
        entries[record.uid] = MapEntry(record.uid, file_id, offset, size, refcount)
    warnings = tuple(f"{where}: {w}" for w in index.warnings)
    return MdboxMap(index.uid_validity, entries, warnings)


def read_map(directory: str) -> MdboxMap:
    """Replay ``<directory>/dovecot.map.index`` (+ logs) read-only.

    Damage in the log (a torn tail while Dovecot writes) stops the replay there, as Dovecot
    2.4 does, and is reported in :attr:`MdboxMap.warnings`.

    Raises ``MailstoreError(NOTFOUND)`` naming the files when neither the index nor its log
    exists: without the map, expunged-but-unpurged messages look exactly like live ones, so an
    mdbox is never read by scanning ``m.*`` files.  A corrupt map is ``INVALIDDATA``.
    """
    base = os.path.join(directory, MAP_INDEX_PREFIX)
    if not any(os.path.lexists(base + suffix) for suffix in ("", ".log", ".log.2")):
        raise MailstoreError(
            Kind.NOTFOUND,
            f"mdbox map index {base} not found (nor {base}.log): without it expunged "
            "messages cannot be told from live ones, so this mdbox is not read",
        )
    try:
        index = read_index(directory, MAP_INDEX_PREFIX, strict=False)
    except MailstoreError as e:
        raise MailstoreError(e.kind, f"mdbox map index {base}: {e}") from e
    return map_from_index(index, base)
