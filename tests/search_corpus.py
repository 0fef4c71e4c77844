"""A deterministic Maildir++ with real MIME variety, for differential tests of the search keys.

``make_search_corpus(root)`` writes ``root/Maildir`` and returns a manifest::

    {
        "maildir": Path("root/Maildir"),
        "mailbox_guids": {"Lists": "5e1a…"},        # folders whose dovecot-uidlist has G
        "messages": [                              # every message, in writing order
            {
                "mailbox": "Archive.2023",         # the doveadm vname ('.' separator)
                "file": ".Archive.2023/cur/1700000123.M17P4242.search-corpus,S=812:2,FS",
                "guid": "1700000123.M17P4242.search-corpus,S=812",   # base name or uidlist G
                "received": 1700000123,            # the file's mtime
                "tag": "qp-latin1",                # what the message is there to test
            },
        ],
    }

Folders: INBOX, ``Archive``, ``Archive.2023``, ``Entwürfe`` (``.Entw&APw-rfe``) and ``Lists``.
About 30 hand-made messages cover the MIME and header shapes that :mod:`mailstore.search.text`
has to get right (multipart/alternative and mixed, QP, base64 text and attachments, 8-bit,
message/rfc822, delivery-status, HTML only, RFC 2047 Q/B in utf-8/iso-8859-1/unknown/broken,
utf-8, latin-1, windows-1252, koi8-r, iso-2022-jp and unknown body charsets, no Date, bad Date,
obsolete zones, no header at all, no body, CRLF, NUL bytes, raw 8-bit headers, folded Subject,
every From/To/Cc/Bcc shape); about 70 more are generated from a seeded RNG.  Every system flag
occurs in ``cur/`` and some in ``new/`` (also without ``:2,``); keywords come from per-folder
``dovecot-keywords``; mtimes fall in two clusters (2023 and 2024) with a gap between them, and
several are a second either side of a UTC midnight; about half the names carry ``,S=`` and a
third ``,W=``.  ``Lists`` has a dovecot-uidlist that lists most files in an order different from
file-name order, with a mailbox GUID and one message GUID (G) of its own.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
from pathlib import Path
from typing import Any

__all__ = ["FOLDERS", "corpus_digest", "make_search_corpus"]

FOLDERS = ("INBOX", "Archive", "Archive.2023", "Entwürfe", "Lists")
_DIRS = {"INBOX": "", "Archive": ".Archive", "Archive.2023": ".Archive.2023",
         "Entwürfe": ".Entw&APw-rfe", "Lists": ".Lists"}  # fmt: skip
_KEYWORDS = {
    "INBOX": ["$Junk", "$Forwarded", "Work"],
    "Archive": ["Work", "$Junk"],
    "Lists": ["$label1", "NonJunk", "Work", "$Junk"],
}
_HOST = "search-corpus"
_LISTS_GUID = "5e1a5e1a00112233445566778899aabb"
_CUSTOM_GUID = "0123456789abcdef0123456789abcdef"
_MIDNIGHT = 1_704_067_200  # 2024-01-01T00:00:00Z


def _b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.encodebytes(raw).decode("ascii")


def _special() -> list[tuple[str, bytes]]:
    """(tag, message bytes) of the hand-made messages."""
    m: list[tuple[str, str | bytes]] = []
    # fmt: off
    m.append(("alternative", (
        "From: Alice <alice@example.com>\nTo: Bob Builder <bob@example.org>\n"
        "Subject: Quarterly numbers\nDate: Mon, 15 Jan 2024 10:00:00 +0900\nMIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="alt-1"\n\n'
        "--alt-1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: "
        "quoted-printable\n\nUmsatz gestiegen: Gr=C3=BC=C3=9Fe aus K=C3=B6ln, soft=\nbreak here\n"
        "--alt-1\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + _b64("<html><body><p>Revenue <b>up</b> &amp; climbing</p></body></html>\n")
        + "--alt-1--\n"
    )))
    m.append(("mixed-attachments", (
        'From: "Doe, John" <jdoe@example.com>, Carol <carol@example.net>\n'
        "To: team@example.com\nCc: Dave <dave@example.com>\nSubject: Report attached\n"
        "Date: Tue, 16 Jan 2024 08:30:00 -0500\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=mixed-boundary\n\n"
        "This is a preamble with preambleword.\n--mixed-boundary\n"
        "Content-Type: text/plain; charset=us-ascii\n\nSee the attached pdf and notes.\n"
        "--mixed-boundary\nContent-Type: application/pdf; name=report.pdf\n"
        "Content-Disposition: attachment; filename=report.pdf\n"
        "Content-Transfer-Encoding: base64\n\n" + _b64(b"%PDF-1.4 pdfsecretword \x00\xff")
        + "--mixed-boundary\nContent-Type: text/plain; charset=utf-8; name=notes.txt\n"
        "Content-Disposition: attachment; filename=notes.txt\n"
        "Content-Transfer-Encoding: base64\n\n" + _b64("Notizen: attachednotesword über\n")
        + "--mixed-boundary--\nepilogueword\n"
    )))
    m.append(("8bit-utf8", (
        "From: jörg@example.de\nTo: Zoë Ünal <zoe@example.de>\nSubject: Straße und Maß\n"
        "Date: 17 Jan 2024 12:00:00 +0100\n\nDie Straße ist naß. Ärger über İstanbul, ΣΟΦΟΣ.\n"
    ).encode()))
    m.append(("latin1-8bit", (
        "From: francois@example.fr\nSubject: =?iso-8859-1?q?Fran=E7ois_=E0_Paris?=\n"
        "Date: Wed, 17 Jan 2024 23:59:59 +0000\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
        "Voilà, un café crème à Noël.\n"
    ).encode("latin-1")))
    m.append(("qp-cp1252", (
        "From: Shop <shop@example.com>\nSubject: Price list\nDate: 18 Jan 2024 00:00:00 +0000\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=windows-1252\n"
        "Content-Transfer-Encoding: quoted-printable\n\nTotal =80 42, =93quoted=94 text =85\n"
    )))
    m.append(("koi8r-base64", (
        "From: =?koi8-r?b?6dfBzg==?= <ivan@example.ru>\nSubject: =?koi8-r?b?8NLJ18XU?=\n"
        "Date: 19 Jan 2024 09:15:00 +0300\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: base64\n\n"
        + _b64("Привет, мир! Как дела?".encode("koi8-r"))
    )))
    m.append(("unknown-charset", (
        "From: X <x@example.com>\nSubject: =?x-unknown?q?UNKNOWNCS_Hello?= tail\n"
        "Date: 20 Jan 2024 10:00:00 GMT\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=x-unknown-8bit\n\nunknowncharsetbody Grüße\n"
    ).encode()))
    m.append(("iso-2022-jp", (
        b"From: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= <jp@example.jp>\nSubject: Japanese\n"
        b"Date: 21 Jan 2024 10:00:00 +0900\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=iso-2022-jp\nContent-Transfer-Encoding: 7bit\n\n"
    ) + "日本語のテキストです。\n".encode("iso-2022-jp")))
    m.append(("encoded-words", (
        "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jm@example.de>\n"
        "To: \"=?iso-8859-1?q?Andr=E9?=\" <andre@example.fr>\n"
        "Subject: Re: =?utf-8?q?Gr=C3=BC=C3=9Fe?= =?utf-8?b?w7xiZXI=?= alles\n"
        "Date: Sun, 21 Jan 2024 18:00:00 UT\nX-Note: =?utf-8?q?broken encoded word\n\nbody\n"
    )))
    m.append(("no-date", "From: nodate@example.com\nSubject: No date here\n\nno date body\n"))
    m.append(("bad-date", (
        "From: baddate@example.com\nSubject: Bad date\nDate: Monday, 22 Jan 2024 10:00 +0000\n\n"
        "bad date body\n"
    )))
    m.append(("no-headers", "\nthis message has no header lines at all\n"))
    m.append(("no-body", "From: nobody@example.com\nSubject: headers only, no blank line\n"))
    m.append(("folded-subject", (
        "From: Folder <folder@example.com>\nSubject:   Lots   of\n\twhitespace \t here  \n"
        "  and a fold\nDate: 23 Jan 2024 10:00:00 EST\n\nfolded body\n"
    )))
    m.append(("address-shapes", (
        "From: Mr. Smith <smith@example.com>\n"
        "To: Team: a@x.example, b@y.example;, undisclosed-recipients:;\n"
        "Cc: carl@example.com (Carl Comment), <bare@example.com>, missingdomain\n"
        "Bcc: \"Quoted \\\"Name\\\"\" <q@example.com>, O'Brien <ob@example.ie>\n"
        "Subject: Address shapes\nDate: 24 Jan 24 10:00:00 Z\n\naddresses body\n"
    )))
    m.append(("forwarded-rfc822", (
        "From: Fwd <fwd@example.com>\nSubject: Fwd: original\nDate: 25 Jan 2024 10:00:00 -0800\n"
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=fwd\n\n--fwd\n"
        "Content-Type: text/plain\n\nForwarding below.\n--fwd\nContent-Type: message/rfc822\n\n"
        "From: Inner Person <inner@example.com>\nSubject: innersubjectword\n"
        "Date: 1 Jan 2020 00:00:00 +0000\n\ninnerbodyword\n--fwd--\n"
    )))
    m.append(("bounce", (
        "From: MAILER-DAEMON@example.com\nTo: alice@example.com\nSubject: Undelivered Mail\n"
        "Date: 26 Jan 2024 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/report; "
        "report-type=delivery-status; boundary=rep\n\n--rep\nContent-Type: text/plain\n\n"
        "Delivery failed.\n--rep\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; gone@example.com\n"
        "Action: failed\nStatus: 5.1.1\n--rep--\n"
    )))
    m.append(("html-only", (
        "From: News <news@example.com>\nSubject: Newsletter\nDate: 27 Jan 2024 10:00:00 +0000\n"
        "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
        "<html><body><h1>Hello&nbsp;World</h1><a href=\"https://example.com/x\">link</a>"
        "</body></html>\n"
    )))
    m.append(("crlf", (
        "From: Windows <win@example.com>\r\nSubject: CRLF line ends\r\n"
        "Date: 28 Jan 2024 10:00:00 +0000\r\n\r\ncrlf body line one\r\nline two\r\n"
    )))
    m.append(("nul-bytes", (
        b"From: nul@example.com\nSubject: NUL inside\nDate: 29 Jan 2024 10:00:00 +0000\n\n"
        b"before\x00after nulbodyword\n"
    )))
    m.append(("raw-8bit-headers", (
        b"From: Ra\xc3\xbal <raul@example.es>\nSubject: Ni\xf1o latin1 raw\n"
        b"X-Raw: caf\xc3\xa9 raw utf8\nDate: 30 Jan 2024 10:00:00 +0000\n\nraw header body\n"
    )))
    m.append(("unknown-cte", (
        "From: u@example.com\nSubject: uuencoded\nDate: 31 Jan 2024 10:00:00 +0000\n"
        "MIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\n"
        "uuencodedword\n"
    )))
    m.append(("invalid-ctype", (
        "From: i@example.com\nSubject: invalid content type\nDate: 1 Feb 2024 10:00:00 +0000\n"
        "MIME-Version: 1.0\nContent-Type: garbage\n\ninvalidctypeword\n"
    )))
    m.append(("military-zone", (
        "From: m@example.com\nSubject: Military\nDate: Thu, 1 Feb 2024 23:30:00 A\n\nzone A\n"
    )))
    m.append(("pre-1970", (
        "From: old@example.com\nSubject: Ancient\nDate: 1 Jan 1960 00:00:00 +0000\n\nold\n"
    )))
    m.append(("two-digit-year", (
        "From: y2k@example.com\nSubject: Two digit year\nDate: 2 Feb 99 10:00:00 PDT\n\ny2k\n"
    )))
    m.append(("header-no-colon", (
        "From: nc@example.com\nthis line has no colon nocolonword\nSubject: After no colon\n\n"
        "nocolon body\n"
    )))
    m.append(("empty-header", (
        "From: e@example.com\nX-Empty:\nSubject:\nDate: 3 Feb 2024 10:00:00 +0000\n\nempty\n"
    )))
    m.append(("multiple-to", (
        "From: multi@example.com\nTo: First <first@example.com>\nTo: Second <second@example.com>\n"
        "Subject: two To headers\nDate: 4 Feb 2024 10:00:00 +0000\n\nmulti\n"
    )))
    m.append(("big-base64-attachment", (
        "From: big@example.com\nSubject: Big one\nDate: 5 Feb 2024 10:00:00 +0000\n"
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=big\n\n--big\n"
        "Content-Type: text/plain\n\nsee image\n--big\nContent-Type: image/png\n"
        "Content-Transfer-Encoding: base64\n\n" + _b64(bytes(range(256)) * 24) + "--big--\n"
    )))
    # fmt: on
    return [(tag, data if isinstance(data, bytes) else data.encode()) for tag, data in m]


_NAMES = ["Alice", "Bob Builder", "Carol", "Dave", "Eve Adams", "Frank", "Grace Hopper", "Heidi"]
_WORDS = ["meeting", "invoice", "holiday", "release", "budget", "lunch", "server", "party"]
_ZONES = ["+0000", "-0500", "+0900", "+0530", "GMT", "EST", "PDT", "-0000", "+0100"]
_BODIES = [
    ("utf-8", "8bit", "Grüße aus Köln — ½ Äpfel, naïve café."),
    ("iso-8859-1", "quoted-printable", "Caf=E9 cr=E8me, tr=E8s bien."),
    ("utf-8", "base64", "Base64 encoded body with encodedword inside."),
    ("us-ascii", "7bit", "Plain ascii body about the {word}."),
    ("windows-1252", "8bit", "Smart \x93quotes\x94 and \x80 signs."),
]


def _generated(rng: random.Random, n: int) -> tuple[str, bytes]:
    name, word = rng.choice(_NAMES), rng.choice(_WORDS)
    local = name.split()[0].lower()
    sender = f"{name} <{local}@example.com>" if rng.random() < 0.7 else f"{local}@example.com"
    to = ", ".join(f"{rng.choice(_NAMES)} <r{rng.randrange(9)}@example.net>"
                   for _ in range(1 + rng.randrange(3)))  # fmt: skip
    day = 1 + rng.randrange(28)
    date = f"{day} {rng.choice(['Mar', 'Apr', 'May', 'Jun'])} 2023 {rng.randrange(24):02d}:" \
           f"{rng.randrange(60):02d}:00 {rng.choice(_ZONES)}"  # fmt: skip
    charset, cte, body = rng.choice(_BODIES)
    body = (
        body.replace("{word}", word)
        + f"\nmessage number {n}\n"
        + "filler line\n" * rng.randrange(40)
    )
    if cte == "base64":
        payload = _b64(body)
    elif charset == "windows-1252":
        payload = body.encode("latin-1").decode("latin-1")
    else:
        payload = body
    head = f"From: {sender}\nTo: {to}\nSubject: {word} {n}\nDate: {date}\n"
    if rng.random() < 0.3:
        head += f"Cc: cc{n % 4}@example.org\n"
    head += f"MIME-Version: 1.0\nContent-Type: text/plain; charset={charset}\n"
    head += f"Content-Transfer-Encoding: {cte}\n\n"
    return f"gen-{word}", (head + payload).encode("latin-1" if charset != "utf-8" else "utf-8")


def _flags(rng: random.Random, i: int, letters: str) -> tuple[str, str | None]:
    """(subdir, flag part or None for a bare new/ name)."""
    if i % 9 == 0:
        return "new", None
    if i % 11 == 0:
        return "new", "S"
    flags = "".join(c for c in "DFRST" if rng.random() < 0.35)
    if i % 5 == 0:
        flags = "DFRST"[i % 5 :] or "R"
    kws = "".join(k for k in letters if rng.random() < 0.3)
    return "cur", "".join(sorted(flags)) + kws


def make_search_corpus(root: Path, seed: int = 7) -> dict[str, Any]:
    """Write ``root/Maildir`` (see the module docstring) and return its manifest."""
    rng = random.Random(seed)
    maildir = Path(root) / "Maildir"
    for vname in FOLDERS:
        fdir = maildir / _DIRS[vname]
        for sub in ("cur", "new", "tmp"):
            (fdir / sub).mkdir(parents=True, exist_ok=True)
        if vname != "INBOX":
            (fdir / "maildirfolder").touch()
        if vname in _KEYWORDS:
            (fdir / "dovecot-keywords").write_text(
                "".join(f"{i} {kw}\n" for i, kw in enumerate(_KEYWORDS[vname]))
            )
    items = _special() + [_generated(rng, n) for n in range(70)]
    messages: list[dict[str, Any]] = []
    lists_files: list[tuple[str, dict[str, Any]]] = []
    for i, (tag, data) in enumerate(items):
        vname = FOLDERS[i % len(FOLDERS)] if i >= 6 else FOLDERS[i % 3]
        letters = "".join(chr(ord("a") + k) for k in range(len(_KEYWORDS.get(vname, []))))
        sub, flags = _flags(rng, i, letters)
        # two clusters of mtimes (2023 and 2024), a few a second either side of midnight
        if i % 13 == 0:
            received = _MIDNIGHT + 86400 * (i // 13) + (-1 if i % 2 else 0)
        elif i % 2:
            received = 1_685_000_000 + i * 37_000 + rng.randrange(3600)
        else:
            received = 1_706_000_000 + i * 41_000 + rng.randrange(3600)
        base = f"{1_690_000_000 + i * 1000 + rng.randrange(999)}.M{i}P{4000 + i}.{_HOST}"
        if i % 2 == 0:
            base += f",S={len(data)}"
        if i % 3 == 0:
            vsize = len(data) + data.count(b"\n") - data.count(b"\r\n")
            base += f",W={vsize}"
        name = base if flags is None else f"{base}:2,{flags}"
        path = maildir / _DIRS[vname] / sub / name
        path.write_bytes(data)
        os.utime(path, (received, received))
        entry = {
            "mailbox": vname,
            "file": str(path.relative_to(maildir)),
            "guid": base,
            "received": received,
            "tag": tag,
        }
        messages.append(entry)
        if vname == "Lists":
            lists_files.append((base, entry))
    _write_lists_uidlist(maildir / _DIRS["Lists"], lists_files, rng)
    return {"maildir": maildir, "mailbox_guids": {"Lists": _LISTS_GUID}, "messages": messages}


def _write_lists_uidlist(
    fdir: Path, files: list[tuple[str, dict[str, Any]]], rng: random.Random
) -> None:
    """List all but the last two files, shuffled, with UID gaps; give the first a G field."""
    listed = files[:-2]
    rng.shuffle(listed)
    lines, uid = [], 0
    for n, (base, entry) in enumerate(listed):
        uid += 1 + rng.randrange(3)
        if n == 0:
            lines.append(f"{uid} G{_CUSTOM_GUID} :{base}\n")
            entry["guid"] = _CUSTOM_GUID
        else:
            lines.append(f"{uid} :{base}\n")
    header = f"3 V1700000000 N{uid + 1} G{_LISTS_GUID}\n"
    (fdir / "dovecot-uidlist").write_text(header + "".join(lines))


def corpus_digest(manifest: dict[str, Any]) -> str:
    """A digest of every file's name and bytes: equal for equal corpora (determinism check)."""
    h = hashlib.sha256()
    for entry in manifest["messages"]:
        h.update(entry["file"].encode())
        h.update((Path(manifest["maildir"]) / entry["file"]).read_bytes())
    return h.hexdigest()
