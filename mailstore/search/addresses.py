"""Address headers as Dovecot parses and re-renders them (``message-address.c``).

FROM/TO/CC/BCC search the header value written back from its parsed address list, the way
``message_address_write`` does after ``message_address_parse`` with FILL_MISSING and
non-strict dots::

    >>> render_addresses(b"Alice Smith <a@example.com>, b@example.org")
    b'"Alice Smith" <a@example.com>, <b@example.org>'
"""

from __future__ import annotations

import re

from mailstore.search.rfc822 import ATEXT, Tokens

__all__ = ["render_addresses"]


class _Addr:
    __slots__ = ("domain", "invalid", "mailbox", "name", "route")

    def __init__(self) -> None:
        self.name: bytes | None = None
        self.route: bytes | None = None
        self.mailbox: bytes | None = None
        self.domain: bytes | None = None
        self.invalid = False


class _AddressParser:
    """``message_address_parse(..., MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING)``."""

    def __init__(self, value: bytes) -> None:
        self.p = Tokens(value, keep_comments=True)
        self.addrs: list[_Addr] = []
        self.addr = _Addr()
        self.str = bytearray()

    def parse(self) -> list[_Addr]:
        p = self.p
        if p.skip_lwsp() <= 0:
            return []
        while True:  # parse_address_list
            start = p.pos
            ret = self._group()
            if ret < 0:
                p.pos = start
                ret = self._mailbox()
            if ret == 0:
                break
            if p.pos >= p.end or p.cur() != 0x2C:
                break
            p.pos += 1
            ret = p.skip_lwsp()
            if ret <= 0:
                if ret < 0:
                    self._add_fixed()
                break
        return self.addrs

    def _add(self) -> None:
        self.addrs.append(self.addr)
        self.addr = _Addr()

    def _add_fixed(self) -> None:
        a = self.addr
        if a.mailbox is None:
            a.mailbox, a.invalid = b"MISSING_MAILBOX", True
        if not a.domain:
            a.domain, a.invalid = b"MISSING_DOMAIN", True
        self._add()

    def _local_part(self) -> int:
        p, out = self.p, self.str
        out.clear()
        if p.cur() == 0x22:
            ret = p.quoted_string(out)
        else:  # parse_nonstrict_dot_atom
            ret = -1
            while True:
                while p.cur() == 0x2E:
                    out += b"."
                    p.pos += 1
                    if p.pos == p.end:
                        return self._set_mailbox(0)
                    ret = 1
                if p.cur() == 0x40:
                    break
                ret = p.atom(out)
                if not (ret > 0 and p.cur() == 0x2E):
                    break
        if ret < 0:
            return -1
        return self._set_mailbox(ret)

    def _set_mailbox(self, ret: int) -> int:
        self.addr.mailbox = bytes(self.str)
        return ret

    def _domain(self) -> int:
        self.str.clear()
        ret = self.p.domain(self.str)
        if ret < 0:
            return -1
        self.addr.domain = bytes(self.str)
        return ret

    def _angle_addr(self) -> int:
        p, a = self.p, self.addr
        p.pos += 1  # the '<'
        if p.skip_lwsp() <= 0:
            return -1
        if p.cur() == 0x40:
            if self._domain_list() > 0 and p.cur() == 0x3A:
                p.pos += 1
            else:
                a.route = b"INVALID_ROUTE"
                if p.pos >= p.end:
                    return -1
            if p.skip_lwsp() <= 0:
                return -1
        if p.cur() != 0x3E:
            if self._local_part() <= 0:
                return -1
            if p.cur() == 0x40 and self._domain() <= 0:
                return -1
        if p.cur() != 0x3E:
            return -1
        p.pos += 1
        return p.skip_lwsp()

    def _domain_list(self) -> int:
        p, out = self.p, self.str
        out.clear()
        while True:
            if p.pos >= p.end:
                return 0
            if p.cur() != 0x40:
                break
            if out:
                out += b","
            out += b"@"
            ret = p.domain(out)
            if ret <= 0:
                return ret
            while p.skip_lwsp() > 0 and p.cur() == 0x2C:
                p.pos += 1
        self.addr.route = bytes(out)
        return 1

    def _name_addr(self) -> int:
        p = self.p
        self.str.clear()
        if p.phrase(self.str) <= 0 or p.cur() != 0x3C:
            return -1
        self.addr.name = bytes(self.str) or None
        if self._angle_addr() < 0:
            self.addr.domain, self.addr.invalid = b"SYNTAX_ERROR", True
        return 1 if p.pos < p.end else 0

    def _addr_spec(self) -> int:
        p, a = self.p, self.addr
        ret2 = -2
        assert p.last_comment is not None
        p.last_comment.clear()
        quoted = p.cur() == 0x22
        ret = self._local_part()
        if ret <= 0:
            a.invalid = True
        if ret != 0 and p.pos < p.end and p.cur() == 0x40:
            ret2 = self._domain()
            if ret2 <= 0:
                ret = ret2
        if p.last_comment:
            a.name = bytes(p.last_comment)
        elif ret2 == -2:
            self.str += b" "
            size = len(self.str)
            p.phrase(self.str)
            if len(self.str) != size:
                a.mailbox, a.name = None, bytes(self.str)
            elif not quoted:
                a.domain = b""
            a.invalid, ret = True, -1
        return ret

    def _mailbox(self) -> int:
        p, a = self.p, self.addr
        start = p.pos
        ret = self._name_addr()
        if ret < 0:
            p.pos = start
            ret = self._addr_spec()
            if a.invalid and a.name is None and a.mailbox is not None and a.domain is None:
                a.name, a.mailbox = a.mailbox, None
        if ret < 0:
            a.invalid = True
        self._add_fixed()
        return ret

    def _group(self) -> int:
        p = self.p
        self.str.clear()
        if p.phrase(self.str) <= 0 or p.cur() != 0x3A:
            return -1
        p.pos += 1
        ret = p.skip_lwsp()
        self.addr.mailbox = bytes(self.str)
        self._add()
        if ret > 0 and p.cur() != 0x3B:
            while True:
                self._mailbox()
                if p.pos >= p.end or p.cur() != 0x2C:
                    break
                p.pos += 1
                if p.skip_lwsp() <= 0:
                    ret = -1
                    break
        if ret >= 0:
            if p.pos >= p.end or p.cur() != 0x3B:
                ret = -1
            else:
                p.pos += 1
                ret = p.skip_lwsp()
        self._add()  # the end-of-group marker: every field None
        return 0 if ret == 0 else 1


def _maybe_quote(text: bytes, escape_dot: bool) -> bytes:
    if all(ATEXT[c] or (c == 0x2E and not escape_dot) for c in text):
        return text
    return b'"' + re.sub(rb"([\"\\'])", rb"\\\1", text) + b'"'


def _quote_phrase(name: bytes) -> bytes:
    """A display or group name: quoted unless atext, and never when it holds an encoded-word
    (those are decoded after the rendering)."""
    return name if b"=?" in name else _maybe_quote(name, True)


def render_addresses(value: bytes) -> bytes:
    """The header value as ``message_address_write`` writes its parsed address list."""
    addrs = _AddressParser(value).parse()
    if not addrs:
        return b""
    if addrs[0].mailbox is None and addrs[0].domain is None:
        return b"<>"
    out = bytearray()
    first, in_group = True, False
    for a in addrs:
        if not first:
            out += b", "
        first = False
        if a.domain is None:  # group start (mailbox = its name) or end (all None)
            if not in_group:
                name = a.mailbox or b""
                out += _quote_phrase(name) if name else b'""'
                out += b": "
                first = True
            else:
                del out[-2 if out.endswith(b", ") else -1 :]
                out += b";"
            in_group = not in_group
            continue
        mailbox = a.mailbox or b""
        if a.name is not None:
            out += _quote_phrase(a.name)
        if a.route is not None or mailbox or a.domain:
            if a.name:
                out += b" "
            out += b"<"
            if a.route is not None:
                out += a.route + b":"
            out += _maybe_quote(mailbox, False) if mailbox else b'""'
            if a.domain:
                out += b"@" + a.domain
            out += b">"
    return bytes(out)
