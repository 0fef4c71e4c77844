"""Destination mailbox names, as ``doveadm import`` builds them.

Rules (reference/dovecot.md §1.3 step 4 and §1.5): each source separator
becomes the destination separator and each literal destination-separator
character inside a name component becomes ``_``; with a non-empty parent
``P`` every mailbox, INBOX included, lands at ``P<sep><name>``; with ``""``
names map 1:1 and the source INBOX merges into the destination INBOX.

Names are tuples of UTF-8 components here, so the conversion is per component.
"""

from __future__ import annotations

__all__ = ["dest_mailbox_name", "join_name", "parent_components"]


def parent_components(parent: str, dest_separator: str) -> tuple[str, ...]:
    """The DEST_PARENT argument as components (used verbatim: ``P//x`` keeps its empty part)."""
    if parent == "":
        return ()
    return tuple(parent.split(dest_separator))


def dest_mailbox_name(
    source_name: tuple[str, ...], parent: str, dest_separator: str
) -> tuple[str, ...]:
    """The destination name of a source mailbox.

    >>> dest_mailbox_name(("a.b",), "", ".")
    ('a_b',)
    >>> dest_mailbox_name(("INBOX",), "Restored", "/")
    ('Restored', 'INBOX')
    >>> dest_mailbox_name(("inbox",), "", ".")
    ('INBOX',)
    """
    converted = tuple(part.replace(dest_separator, "_") for part in source_name)
    if parent == "":
        if len(converted) >= 1 and converted[0].upper() == "INBOX" and len(converted) == 1:
            return ("INBOX",)
        return converted
    return parent_components(parent, dest_separator) + converted


def join_name(name: tuple[str, ...], separator: str) -> str:
    """A name as its namespace writes it."""
    return separator.join(name)
