"""IMAP modified UTF-7 (RFC 3501 §5.1.3), as strict as Dovecot's ``imap-utf7.c``.

Mailbox names are ``str`` (UTF-8) in the core and modified UTF-7 only at the
disk and wire edge: Maildir++ folder directories (``.Entw&APw-rfe``),
subscriptions files, IMAP.

* :func:`encode_mutf7` -- ``"Entwürfe"`` -> ``"Entw&APw-rfe"``.  Printable
  ASCII (0x20-0x7e) stands for itself, ``&`` becomes ``&-``, and every run of
  other characters becomes one ``&<base64 of UTF-16BE>-`` group, with ``,``
  instead of ``/`` and no ``=`` padding.
* :func:`decode_mutf7` -- the inverse, rejecting everything Dovecot's
  ``imap_utf7_to_utf8()`` rejects (so a name we accept is a name Dovecot
  lists under the same spelling) and, in addition, non-zero padding bits,
  which RFC 3501 forbids but Dovecot silently ignores.  Every encoded name
  has exactly one spelling, so ``encode_mutf7(decode_mutf7(x)) == x``.

Both raise :class:`~mailstore.errors.MailstoreError` with
:attr:`~mailstore.errors.Kind.INVALIDDATA` and a message naming the input.
"""

from __future__ import annotations

import base64

from mailstore.errors import Kind, MailstoreError

__all__ = ["decode_mutf7", "encode_mutf7", "is_valid_mutf7"]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}


def _printable(code: int) -> bool:
    return 0x20 <= code <= 0x7E


def _encode_run(run: list[str]) -> str:
    data = "".join(run).encode("utf-16-be")
    text = base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")
    return f"&{text}-"


def encode_mutf7(name: str) -> str:
    """Encode a UTF-8 mailbox name (one component or a whole path) as modified UTF-7.

    ``name`` may hold any Unicode character except NUL and lone surrogates
    (which cannot be UTF-8, and which Dovecot refuses to decode); those raise
    ``MailstoreError(INVALIDDATA)``.  Control characters are encoded, never
    passed through, so the result is always printable ASCII.
    """
    out: list[str] = []
    run: list[str] = []
    for index, char in enumerate(name):
        code = ord(char)
        if _printable(code):
            if run:
                out.append(_encode_run(run))
                run = []
            out.append("&-" if char == "&" else char)
            continue
        if code == 0:
            raise MailstoreError(
                Kind.INVALIDDATA, f"mailbox name {name!r} contains NUL at position {index}"
            )
        if 0xD800 <= code <= 0xDFFF:
            raise MailstoreError(
                Kind.INVALIDDATA,
                f"mailbox name {name!r} contains a lone surrogate U+{code:04X} at position {index}",
            )
        run.append(char)
    if run:
        out.append(_encode_run(run))
    return "".join(out)


def _decode_run(text: str, run: str) -> str:
    """Decode the base64 between ``&`` and ``-`` (non-empty) into characters."""

    def reject(reason: str) -> MailstoreError:
        return MailstoreError(Kind.INVALIDDATA, f"invalid mUTF-7 mailbox name {text!r}: {reason}")

    bits = 0
    nbits = 0
    data = bytearray()
    for char in run:
        value = _VALUE.get(char)
        if value is None:
            raise reject(f"{char!r} is not a modified-base64 character in '&{run}-'")
        bits = (bits << 6) | value
        nbits += 6
        if nbits >= 8:
            nbits -= 8
            data.append((bits >> nbits) & 0xFF)
            bits &= (1 << nbits) - 1
    if len(run) % 4 == 1:
        raise reject(f"truncated base64 in '&{run}-'")
    if bits != 0:
        raise reject(f"non-zero padding bits in '&{run}-'")
    if len(data) % 2 != 0:
        raise reject(f"odd number of UTF-16 bytes in '&{run}-'")

    units = [(data[i] << 8) | data[i + 1] for i in range(0, len(data), 2)]
    chars: list[str] = []
    pos = 0
    while pos < len(units):
        unit = units[pos]
        pos += 1
        if 0xD800 <= unit <= 0xDBFF:
            low = units[pos] if pos < len(units) else None
            if low is None or not 0xDC00 <= low <= 0xDFFF:
                raise reject(f"unpaired high surrogate U+{unit:04X} in '&{run}-'")
            pos += 1
            chars.append(chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)))
        elif 0xDC00 <= unit <= 0xDFFF:
            raise reject(f"unpaired low surrogate U+{unit:04X} in '&{run}-'")
        elif unit == 0:
            raise reject(f"encoded NUL in '&{run}-'")
        elif _printable(unit):
            raise reject(f"printable ASCII {chr(unit)!r} must not be encoded ('&{run}-')")
        else:
            chars.append(chr(unit))
    return "".join(chars)


def decode_mutf7(text: str) -> str:
    """Decode a modified UTF-7 mailbox name into UTF-8 text.

    ``text`` is the on-disk or on-the-wire spelling.  Raises
    ``MailstoreError(INVALIDDATA)`` naming ``text`` when it is not the one
    canonical spelling of some name: characters outside printable ASCII, an
    ``&`` without its closing ``-``, a bad base64 character, truncated base64,
    non-zero padding bits, an odd number of UTF-16 bytes, an unpaired
    surrogate, an encoded NUL, an encoded printable ASCII character (``&AGE-``
    for ``a``), or two encoded runs back to back (``&AOQ-&AOQ-``, which must
    be the single run ``&AOQA5A-``).
    """
    for index, char in enumerate(text):
        if not _printable(ord(char)):
            raise MailstoreError(
                Kind.INVALIDDATA,
                f"invalid mUTF-7 mailbox name {text!r}: character {char!r} at position {index} "
                "is not printable ASCII",
            )
    if "&" not in text:
        return text

    out: list[str] = []
    pos = 0
    while pos < len(text):
        amp = text.find("&", pos)
        if amp < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:amp])
        end = text.find("-", amp + 1)
        if end < 0:
            raise MailstoreError(
                Kind.INVALIDDATA,
                f"invalid mUTF-7 mailbox name {text!r}: '&' at position {amp} "
                "is not terminated by '-'",
            )
        pos = end + 1
        if end == amp + 1:
            out.append("&")
            continue
        out.append(_decode_run(text, text[amp + 1 : end]))
        if text.startswith("&", pos) and not text.startswith("&-", pos):
            raise MailstoreError(
                Kind.INVALIDDATA,
                f"invalid mUTF-7 mailbox name {text!r}: two encoded runs back to back "
                f"at position {pos}",
            )
    return "".join(out)


def is_valid_mutf7(text: str) -> bool:
    """True if :func:`decode_mutf7` accepts ``text``."""
    try:
        decode_mutf7(text)
    except MailstoreError:
        return False
    return True
