"""The storage driver interface: what every source and destination format implements.

Modelled on Dovecot's lib-storage: one small interface, capability flags
instead of type checks, and a registry keyed by driver name (``maildir``,
``mbox``, ``sdbox``, ``mdbox``, ``imapc``).  The pipeline only ever talks to
these classes.

Element shapes:

* :class:`Folder` -- a selectable source mailbox: ``name`` is a tuple of
  UTF-8 components (``("INBOX",)``, ``("Archive", "2024")``), ``separator``
  the source namespace separator, ``handle`` a driver-private locator string.
* :class:`MessageMeta` -- one message's metadata in source (UID) order.
* :class:`SaveRequest` / :class:`SaveResult` -- one message to write into a
  destination mailbox and what became of it.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from mailstore.errors import Kind, MailstoreError

if TYPE_CHECKING:
    from mailstore.location import MailLocation
    from mailstore.userdb import User

__all__ = [
    "SYSTEM_FLAGS",
    "Capability",
    "Folder",
    "MailDestination",
    "MailSource",
    "MessageMeta",
    "SaveRequest",
    "SaveResult",
    "open_destination",
    "open_source",
    "register_destination",
    "register_source",
]

#: The IMAP system flags that an import keeps (``\Recent`` is never kept).
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


class Capability(enum.Flag):
    """What a driver can do; the pipeline asks these, never the driver's type."""

    NONE = 0
    FILE_PER_MSG = enum.auto()  # one file per message: re-reading a body later is cheap
    HAVE_UIDS = enum.auto()  # messages carry IMAP UIDs
    HAVE_GUIDS = enum.auto()  # messages carry a stable GUID
    FLAGS_IN_INDEX = enum.auto()  # flags live in an index, not in the message files
    SUBSCRIPTIONS = enum.auto()  # the source has a subscriptions list


@dataclass(frozen=True)
class Folder:
    """A selectable source mailbox; ``guid`` is its mailbox GUID (32 hex digits) if known."""

    name: tuple[str, ...]
    separator: str
    handle: str
    guid: str | None = None

    @property
    def vname(self) -> str:
        """The name as a user of the source namespace writes it (``Foo.Bar`` or ``Foo/Bar``)."""
        return self.separator.join(self.name)

    @property
    def is_inbox(self) -> bool:
        return len(self.name) == 1 and self.name[0].upper() == "INBOX"


@dataclass(frozen=True)
class MessageMeta:
    r"""One source message's metadata.

    ``source_key`` is stable across runs (Maildir base name, mbox offset,
    IMAP ``UIDVALIDITY:UID``, dbox UID); ``position`` is the 0-based place in
    the folder's UID order; ``flags`` holds IMAP system flags from
    :data:`SYSTEM_FLAGS`; ``received_date`` and ``save_date`` are Unix
    seconds; ``size`` is the physical size, ``vsize`` the size with CRLF line
    endings when known; ``handle`` is a driver-private locator used by
    :meth:`MailSource.read_message`; ``recent`` is whether the message is ``\Recent`` when
    the source is first opened (what a ``RECENT`` search key sees; never imported).
    """

    source_key: str
    position: int
    uid: int | None
    flags: frozenset[str]
    keywords: tuple[str, ...]
    received_date: int
    save_date: int | None
    size: int
    vsize: int | None
    guid: str | None
    handle: str
    recent: bool = False


@dataclass(frozen=True)
class SaveRequest:
    """One message to save.

    ``save_id`` is deterministic for the message within its job and
    destination mailbox (the idempotency key: saving the same id twice must
    leave one message); ``ordinal`` orders messages within the destination
    mailbox (source order).
    """

    save_id: str
    ordinal: int
    body: bytes
    flags: frozenset[str]
    keywords: tuple[str, ...]
    received_date: int


@dataclass(frozen=True)
class SaveResult:
    """What a save did: ``status`` is ``written``, ``existed`` or ``failed``."""

    save_id: str
    status: str
    dest_name: str = ""
    reason: str = ""
    refused_keywords: tuple[str, ...] = field(default_factory=tuple)


class MailSource(abc.ABC):
    """Read side of a driver. A source is never written: no file, lock or index."""

    capabilities: Capability = Capability.NONE

    @abc.abstractmethod
    def list_folders(self) -> list[Folder]:
        """Every selectable mailbox (``\\Noselect``/``\\NonExistent`` parents are left out)."""

    @abc.abstractmethod
    def iter_messages(self, folder: Folder) -> Iterator[MessageMeta]:
        """The folder's messages with metadata, in UID order, ``position`` counting from 0."""

    @abc.abstractmethod
    def read_message(self, folder: Folder, meta: MessageMeta) -> bytes:
        """The message's exact bytes; MailstoreError (INVALIDDATA, NOTFOUND) when unreadable."""

    def read_messages(self, folder: Folder, metas: list[MessageMeta]) -> dict[str, bytes]:
        """Several messages' bytes by ``source_key``, for drivers that read faster in batches.

        A message missing from the result could not be read: :meth:`read_message` on it raises
        the reason. A MailstoreError here means the whole batch failed (e.g. the folder).
        The default reads one message at a time.
        """
        result: dict[str, bytes] = {}
        for meta in metas:
            try:
                result[meta.source_key] = self.read_message(folder, meta)
            except MailstoreError:
                continue
        return result

    def folder_warnings(self, folder: Folder) -> list[str]:
        """What the last :meth:`iter_messages` of ``folder`` could not recover but went on
        without (e.g. "index missing: flags and keywords are lost"); reported, never fatal."""
        return []

    def subscriptions(self) -> list[tuple[str, ...]]:
        """Subscribed mailbox names (only with Capability.SUBSCRIPTIONS)."""
        return []

    def close(self) -> None:
        """Release connections or file handles."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MailDestination(abc.ABC):
    """Write side of a driver."""

    #: The destination namespace separator.
    separator: str = "."
    #: True when ``save_batch`` itself never stores a ``save_id`` twice (Maildir: deterministic
    #: file names).  Otherwise the sink records an intent before each batch and asks
    #: :meth:`present` about uncommitted intents when it resumes.
    idempotent: bool = False

    @abc.abstractmethod
    def create_mailbox(self, name: tuple[str, ...]) -> bool:
        """Create the mailbox; True if it was created, False if it already existed."""

    @abc.abstractmethod
    def save_batch(self, name: tuple[str, ...], requests: list[SaveRequest]) -> list[SaveResult]:
        """Durably save a batch into an existing mailbox, idempotently per ``save_id``.

        When this returns, every ``written``/``existed`` message is durable at
        its final name; a crash before that leaves nothing a re-run cannot finish.
        """

    @abc.abstractmethod
    def subscribe(self, names: Iterable[tuple[str, ...]]) -> None:
        """Add the mailboxes to the subscriptions (keeping what is there)."""

    def present(self, name: tuple[str, ...], requests: list[SaveRequest]) -> set[str]:
        """The save ids of ``requests`` already in mailbox ``name`` (for a batch whose intent
        was recorded but never committed: those must not be saved again).

        A destination whose :meth:`save_batch` is idempotent by itself may answer ``set()``
        (the default). Two identical requests count as two: one stored copy marks one of them.
        """
        return set()

    def validate_name(self, name: tuple[str, ...]) -> None:
        """Raise MailstoreError(PARAMS) if the destination cannot hold this name."""

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SourceFactory = Callable[["MailLocation", "User"], MailSource]
DestinationFactory = Callable[["MailLocation", "User", int], MailDestination]

_SOURCES: dict[str, SourceFactory] = {}
_DESTINATIONS: dict[str, DestinationFactory] = {}


def register_source(driver: str, factory: SourceFactory) -> None:
    _SOURCES[driver] = factory


def register_destination(driver: str, factory: DestinationFactory) -> None:
    _DESTINATIONS[driver] = factory


def _load_drivers() -> None:
    # Importing a driver package registers it.
    import mailstore.dbox
    import mailstore.imap
    import mailstore.maildir
    import mailstore.mbox
    import mailstore.mdbox  # noqa: F401


def open_source(location: MailLocation, user: User) -> MailSource:
    """Open a source mailbox store for ``user`` (the already-expanded location)."""
    _load_drivers()
    try:
        factory = _SOURCES[location.driver]
    except KeyError:
        known = ", ".join(sorted(_SOURCES))
        raise MailstoreError(
            Kind.PARAMS,
            f"source driver {location.driver!r} is not supported (supported: {known})",
        ) from None
    return factory(location, user)


def open_destination(location: MailLocation, user: User, epoch: int) -> MailDestination:
    """Open a destination store for ``user``; ``epoch`` is the job's fixed creation time."""
    _load_drivers()
    try:
        factory = _DESTINATIONS[location.driver]
    except KeyError:
        known = ", ".join(sorted(_DESTINATIONS))
        raise MailstoreError(
            Kind.PARAMS,
            f"destination driver {location.driver!r} is not supported (supported: {known})",
        ) from None
    return factory(location, user, epoch)
