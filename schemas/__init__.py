"""Versioned Avro schemas of mailbeam's checkpoints, and atomic record files.

``load_schema("message")`` returns the parsed schema of ``message.avsc``
(record ``mailbeam.v1.Message``).  :func:`write_records` writes an Avro file
under a temporary name and renames it into place, so a checkpoint file at its
final name is always complete; it works on any Beam FileSystems URI.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

import fastavro
from apache_beam.io.filesystems import FileSystems

__all__ = ["exists", "load_schema", "read_records", "read_text", "write_records", "write_text"]


@functools.cache
def load_schema(name: str) -> Any:
    """The parsed Avro schema ``schemas/<name>.avsc``."""
    text = resources.files(__name__).joinpath(f"{name}.avsc").read_text(encoding="utf-8")
    return fastavro.parse_schema(json.loads(text))


def _atomic_write(path: str, write: Any) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    if FileSystems.get_scheme(path) is None:
        _atomic_write_local(path, tmp, write)
        return
    handle = FileSystems.create(tmp)
    try:
        write(handle)
    except BaseException:
        handle.close()
        FileSystems.delete([tmp])
        raise
    handle.close()
    FileSystems.rename([tmp], [path])


def _atomic_write_local(path: str, tmp: str, write: Any) -> None:
    # Local checkpoints are made durable before they are renamed into place, so a
    # file at its final name survives a power loss complete.
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_records(path: str, schema_name: str, records: Iterable[dict[str, Any]]) -> None:
    """Write ``records`` to ``path`` atomically (temp name, then rename)."""
    schema = load_schema(schema_name)
    _atomic_write(path, lambda f: fastavro.writer(f, schema, records, codec="null"))


def read_records(path: str) -> Iterator[dict[str, Any]]:
    """Iterate the records of one Avro checkpoint file."""
    with FileSystems.open(path) as f:
        yield from fastavro.reader(f)  # type: ignore[misc]  # our schemas are records: dicts


def write_text(path: str, text: str) -> None:
    """Write a small text file (marker, JSON summary) atomically."""
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_text(path: str) -> str:
    with FileSystems.open(path) as f:
        return f.read().decode("utf-8")


def exists(path: str) -> bool:
    return FileSystems.exists(path)
