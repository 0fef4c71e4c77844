"""MAILBOX name matching: exact names and IMAP ``*``/``%`` globs, as Dovecot does it.

Exact names compare with ``strcmp``, except that ``INBOX`` is equal to any
ASCII case variant of itself (``mailbox inbox`` finds INBOX, ``mailbox
inbox.sub`` does not find ``INBOX.sub``).  Globs follow Dovecot's
``imap_match`` with INBOX case-insensitivity: ``*`` matches anything,
``%`` anything but the separator, and when both the pattern could name
INBOX and the name's first component is ``INBOX`` in any case, those first
five characters compare case-insensitively.
"""

from __future__ import annotations

__all__ = ["is_glob", "mailbox_name_matches"]

_INBOX = "INBOX"


def is_glob(pattern: str) -> bool:
    """Whether ``pattern`` contains an IMAP wildcard (``*`` or ``%``)."""
    return "*" in pattern or "%" in pattern


def mailbox_name_matches(pattern: str, vname: str, separator: str) -> bool:
    """Whether the mailbox ``vname`` (using ``separator``) matches a MAILBOX value.

    ``pattern`` is the value as the user gave it: an exact name, or a glob when
    it contains ``*`` or ``%``.
    """
    if not is_glob(pattern):
        if pattern == vname:
            return True
        return _ascii_upper(pattern) == _INBOX and _ascii_upper(vname) == _INBOX
    ci_end = 0
    if _pattern_is_inboxcase(pattern, separator) and _starts_with_inbox(vname, separator):
        ci_end = len(_INBOX)
    return _glob_match(pattern, vname, separator, ci_end)


def _ascii_upper(text: str) -> str:
    # str.upper() maps some non-ASCII letters onto ASCII ones ("ı" -> "I"); Dovecot does not.
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)


def _starts_with_inbox(vname: str, separator: str) -> bool:
    n = len(_INBOX)
    return _ascii_upper(vname[:n]) == _INBOX and (len(vname) == n or vname[n : n + 1] == separator)


def _pattern_is_inboxcase(pattern: str, separator: str) -> bool:
    """Port of imap-match.c ``pattern_is_inboxcase``: could this glob match INBOX?"""
    i = j = 0
    while j < len(_INBOX) and i < len(pattern) and _INBOX[j] == _ascii_upper(pattern[i]):
        i += 1
        j += 1
    if i >= len(pattern) or pattern[i] not in "*%":
        return j == len(_INBOX) and (i == len(pattern) or pattern[i] == separator)
    # 'I%B%X' style patterns
    while i < len(pattern) and pattern[i] != "*" and pattern[i] != separator:
        if pattern[i] != "%":
            while j < len(_INBOX) and _INBOX[j] != _ascii_upper(pattern[i]):
                j += 1
            if j == len(_INBOX):
                return False
        i += 1
    return True


def _glob_match(pattern: str, data: str, separator: str, ci_end: int) -> bool:
    """NFA simulation of the glob; characters of ``data`` before ``ci_end`` ignore ASCII case."""
    n = len(pattern)

    def closure(states: set[int]) -> set[int]:
        out: set[int] = set()
        stack = list(states)
        while stack:
            s = stack.pop()
            if s in out:
                continue
            out.add(s)
            if s < n and pattern[s] in "*%":
                stack.append(s + 1)
        return out

    current = closure({0})
    for i, ch in enumerate(data):
        following: set[int] = set()
        for s in current:
            if s == n:
                continue
            pc = pattern[s]
            if pc == "*":
                following.add(s)
            elif pc == "%":
                if ch != separator:
                    following.add(s)
            elif pc == ch or (i < ci_end and _ascii_upper(pc) == _ascii_upper(ch)):
                following.add(s + 1)
        current = closure(following)
        if not current:
            return False
    return n in current
