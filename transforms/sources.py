"""Opening users' sources and destinations inside DoFns, and turning checkpoint records back
into driver types.

A DoFn opens at most one source (:class:`SourceCache`) and one destination
(:class:`DestinationCache`) per user, from ``setup`` to ``teardown``; :func:`folder_of`
and :func:`meta_of` rebuild the driver's :class:`~mailstore.driver.Folder` and
:class:`~mailstore.driver.MessageMeta` from a ``mailbeam.v1.Message`` record, so a later
stage can re-read a body.
"""

from __future__ import annotations

from typing import Any

from mailstore.driver import (
    Folder,
    MailDestination,
    MailSource,
    MessageMeta,
    open_destination,
    open_source,
)
from mailstore.location import MailLocation, expand_location, parse_location
from transforms.state import JobContext, UserTask

__all__ = [
    "DestinationCache",
    "SourceCache",
    "destination_location",
    "folder_of",
    "meta_of",
    "open_user_destination",
    "open_user_source",
]

IMAP_SCHEMES = ("imap://", "imaps://")


def open_user_source(ctx: JobContext, task: UserTask) -> MailSource:
    """The job's source location, expanded for the task's source user, opened read-only."""
    location = parse_location(ctx.source_location, ctx.source_settings)
    return open_source(expand_location(location, task.source_user), task.source_user)


class SourceCache:
    """One open source per user for a DoFn instance (setup → teardown)."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._sources: dict[str, MailSource] = {}

    def get(self, task: UserTask) -> MailSource:
        if task.key not in self._sources:
            self._sources[task.key] = open_user_source(self._ctx, task)
        return self._sources[task.key]

    def close(self) -> None:
        for source in self._sources.values():
            source.close()
        self._sources.clear()


def destination_location(ctx: JobContext, task: UserTask) -> MailLocation:
    """The job's destination for the task's user: a location template or an IMAP server URL."""
    if ctx.dest_location.startswith(IMAP_SCHEMES):
        from mailstore.location import parse_destination

        options = dict(item.partition("=")[::2] for item in ctx.dest_settings)
        location = parse_destination(
            ctx.dest_location,
            master_user=options.get("master_user") or None,
            password_file=options.get("password_file") or None,
            insecure=options.get("insecure") == "yes",
            ca_file=options.get("ca_file") or None,
        )
    else:
        location = parse_location(ctx.dest_location)
    return expand_location(location, task.user)


def open_user_destination(ctx: JobContext, task: UserTask) -> MailDestination:
    return open_destination(destination_location(ctx, task), task.user, ctx.epoch)


class DestinationCache:
    """One open destination per user for a DoFn instance (setup → teardown)."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._dests: dict[str, MailDestination] = {}

    def get(self, task: UserTask) -> MailDestination:
        if task.key not in self._dests:
            self._dests[task.key] = open_user_destination(self._ctx, task)
        return self._dests[task.key]

    def close(self) -> None:
        for dest in self._dests.values():
            dest.close()
        self._dests.clear()


def folder_of(record: dict[str, Any]) -> Folder:
    return Folder(
        name=tuple(record["source_mailbox"]),
        separator=record["source_separator"],
        handle=record["folder_handle"],
        guid=record.get("mailbox_guid"),
    )


def meta_of(record: dict[str, Any]) -> MessageMeta:
    return MessageMeta(
        source_key=record["source_key"],
        position=record["position"],
        uid=record["uid"],
        flags=frozenset(record["flags"]),
        keywords=tuple(record["keywords"]),
        received_date=record["received_date"],
        save_date=record["save_date"],
        size=record["size"],
        vsize=record["vsize"],
        guid=record["guid"],
        handle=record["handle"],
        recent=record.get("recent", False),
    )
