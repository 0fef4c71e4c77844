"""``read_index``: a mailbox index as Dovecot sees it, from its files alone, read-only.

Loads ``<prefix>`` (``dovecot.index``) when it exists, then replays ``<prefix>.log.2`` and
``<prefix>.log`` from where the base file ends (reference dovecot-index.md §3 steps 1-4): files
are matched by ``indexid``, chained by ``prev_file_seq``/``prev_file_offset``, and a reset log
(``prev_file_seq == 0``) newer than the index starts over from an empty index.  Without a base
file the newest reset log is the start.  Nothing is created, locked or written.
"""

from __future__ import annotations

import dataclasses
import os

from mailstore.errors import Kind, MailstoreError
from mailstore.index.indexfile import read_index_file
from mailstore.index.logfile import LogFile, read_log, read_records
from mailstore.index.model import MailIndex
from mailstore.index.replay import Replayer
from mailstore.index.state import IndexState

__all__ = ["read_index"]


def _open_logs(base: str) -> tuple[list[LogFile], list[MailstoreError]]:
    """The log files that exist, and the errors of those whose header cannot be read."""
    logs, broken = [], []
    for path in (f"{base}.log", f"{base}.log.2"):
        try:
            log = read_log(path)
        except MailstoreError as e:
            if e.kind is not Kind.INVALIDDATA:
                raise
            broken.append(e)
            continue
        if log is not None:
            logs.append(log)
    return logs, broken


def _usable_logs(logs: list[LogFile], indexid: int, warnings: list[str]) -> list[LogFile]:
    """Step 1: drop unusable files, files of another index and duplicate sequence numbers."""
    kept: dict[int, LogFile] = {}
    for log in logs:
        h = log.header
        if not log.usable():
            warnings.append(f"{log.path}: unusable transaction log header (file ignored)")
        elif h.indexid != indexid:
            warnings.append(f"{log.path}: indexid {h.indexid} is not {indexid} (file ignored)")
        elif h.file_seq in kept:
            warnings.append(f"{log.path}: duplicate file_seq {h.file_seq} (file ignored)")
        else:
            kept[h.file_seq] = log
    return [kept[seq] for seq in sorted(kept)]


def _start(
    state: IndexState | None, logs: list[LogFile]
) -> tuple[IndexState | None, int | None, int]:
    """Step 2-3: the state to start from, the index of the first log to read and its offset.

    Returns ``(state, None, 0)`` when the base file is current and no log continues it.
    """
    resets = [i for i, log in enumerate(logs) if log.header.prev_file_seq == 0]
    if state is not None:
        seq, offset = state.log_position
        newer_resets = [i for i in resets if logs[i].header.file_seq > seq]
        if not newer_resets:
            for i, log in enumerate(logs):
                if log.header.file_seq == seq:
                    return state, i, max(offset, log.header.hdr_size)
            for i, log in enumerate(logs):
                h = log.header
                if h.prev_file_seq == seq and h.prev_file_offset in (offset, 0):
                    return state, i, h.hdr_size
            return state, None, 0
    elif not resets:
        return None, None, 0
    first = resets[-1]
    return IndexState(), first, logs[first].header.hdr_size


def read_index(directory: str, prefix: str = "dovecot.index", *, strict: bool = True) -> MailIndex:
    """Read ``<directory>/<prefix>`` and replay its transaction log(s).

    ``prefix`` is ``dovecot.index`` for a mailbox, ``dovecot.map.index`` for the mdbox map.
    Raises ``MailstoreError(NOTFOUND)`` when neither the base file nor its log exists, and
    ``INVALIDDATA`` naming the file and offset when the files are corrupt or do not chain up:
    a log that ends inside a record or transaction, an invalid record, a missing log file.
    With ``strict=False`` those stop the replay where Dovecot 2.4 stops (everything before
    the damage is kept) and are listed in :attr:`MailIndex.warnings` instead.  A record whose
    contents do not fit is skipped with a warning either way, as Dovecot skips it.
    """
    base = os.path.join(directory, prefix)
    warnings: list[str] = []
    index_error: MailstoreError | None = None
    try:
        state = read_index_file(base)
    except MailstoreError as e:
        if e.kind is not Kind.INVALIDDATA:
            raise
        state, index_error = None, e
    raw_logs, broken = _open_logs(base)
    if state is None and index_error is None and not raw_logs:
        if broken:
            raise broken[0]
        raise MailstoreError(Kind.NOTFOUND, f"index {prefix}(.log) missing in {directory}")
    warnings.extend(f"{e} (file ignored)" for e in broken)

    if state is not None:
        indexid = state.indexid
    elif raw_logs:
        indexid = raw_logs[0].header.indexid
    else:
        indexid = 0
    logs = _usable_logs(raw_logs, indexid, warnings)
    state, first, offset = _start(state, logs)
    if state is None:
        if index_error is not None:
            raise index_error
        names = ", ".join(log.path for log in logs) or f"{base}.log"
        raise MailstoreError(
            Kind.INVALIDDATA,
            f"{names}: no {prefix} and no reset log to start from "
            "(the index cannot be rebuilt from these files alone)",
        )
    if index_error is not None:
        warnings.append(f"{index_error}; rebuilt from the transaction log")

    def problem(message: str) -> None:
        if strict:
            raise MailstoreError(Kind.INVALIDDATA, message)
        warnings.append(f"{message}: later changes are lost")

    replayer = Replayer(state)
    if first is None:
        seq, off = state.log_position
        if logs:
            problem(f"{base}.log: no log file continues the index at seq {seq} offset {off}")
        elif raw_logs or index_error is None:
            warnings.append(f"{base}.log missing: changes after the index was written are lost")
    else:
        for i in range(first, len(logs)):
            log = logs[i]
            start = offset if i == first else log.header.hdr_size
            nxt = logs[i + 1] if i + 1 < len(logs) else None
            chained = nxt is not None and nxt.header.prev_file_seq == log.header.file_seq
            if nxt is not None and chained:
                limit = nxt.header.prev_file_offset
                if limit > len(log.data):
                    problem(f"{log.path}: file ends at offset {len(log.data)}, but {nxt.path} "
                            f"continues it from offset {limit}")
                    break
                log = dataclasses.replace(log, data=log.data[:limit])
            if start > len(log.data):
                problem(f"{log.path}: the index continues at offset {start}, "
                        f"past the end of the file ({len(log.data)})")
                break
            records, end, why = read_records(log, start)
            for record in records:
                replayer.apply(log.path, record)
            if why is not None:
                problem(f"{log.path}: {why} at offset {end}")
                break
            if nxt is not None and not chained:
                problem(f"{nxt.path}: missing log file between seq "
                        f"{log.header.file_seq} and {nxt.header.file_seq}")
                break
    return state.result(warnings + replayer.warnings)
