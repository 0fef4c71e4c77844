"""Match tables for mailstore.search: mailbox globs, flags, keywords, three-valued pruning."""

from __future__ import annotations

import pytest

from mailstore.driver import Folder, MessageMeta
from mailstore.errors import MailstoreError
from mailstore.search import MessageView, mailbox_name_matches, parse_query

# (pattern, vname, separator, expected) -- observed on Dovecot 2.3.19 where noted in dovecot.md
NAMES = [
    ("INBOX", "INBOX", ".", True),
    ("inbox", "INBOX", ".", True),
    ("Inbox", "INBOX", ".", True),
    ("INBOX", "inbox", ".", True),
    ("inbox.sub", "INBOX.sub", ".", False),  # exact: only the whole name INBOX ignores case
    ("INBOX.sub", "INBOX.sub", ".", True),
    ("foo", "Foo", ".", False),
    ("Foo", "Foo", ".", True),
    ("Foo", "Foo.Bar", ".", False),
    ("Entwürfe", "Entwürfe", ".", True),
    ("entwürfe", "Entwürfe", ".", False),
    ("F*", "Foo", "/", True),
    ("F*", "Foo/Bar", "/", True),
    ("F%", "Foo", "/", True),
    ("F%", "Foo/Bar", "/", False),
    ("f*", "Foo", "/", False),
    ("%", "INBOX", ".", True),
    ("%", "Foo.Bar", ".", False),
    ("%.%", "Foo.Bar", ".", True),
    ("%.%", "Foo/Bar", "/", False),
    ("%/%", "Foo/Bar", "/", True),
    ("*", "Entwürfe", ".", True),
    ("Entw*", "Entwürfe", ".", True),
    ("*ü*", "Entwürfe", ".", True),
    ("inb*", "INBOX", ".", True),
    ("inbox*", "INBOX.sub", ".", True),
    ("inbox.*", "INBOX.sub", ".", True),
    ("inbox.S*", "INBOX.sub", ".", False),  # only the INBOX part ignores case
    ("INBOX.s%", "INBOX.sub", ".", True),
    ("*b*", "INBOX", ".", True),
    ("*b*", "INBOX.sub", ".", True),
    ("*B*", "Foo.Bar", ".", True),
    ("*b*", "Foo.Bar", ".", False),
    ("I%B%X", "INBOX", ".", True),
    ("i%x", "inbox", ".", True),
    ("in*", "inboxes", ".", True),
    ("IN*", "inboxes", ".", False),  # "inboxes" is not INBOX, so no case folding
    ("*.sub", "INBOX.sub", ".", True),
    ("*", "", ".", True),
    ("%", "", ".", True),
    ("Foo*Bar", "Foo.x.Bar", ".", True),
    ("Foo%Bar", "Foo.x.Bar", ".", False),
    ("**", "a.b", ".", True),
    ("%*", "a.b", ".", True),
    ("a%%b", "a.b", ".", False),
    ("ınbox", "INBOX", ".", False),  # no Unicode case folding (dotless i)
    ("ınb*", "INBOX", ".", False),
]


@pytest.mark.parametrize(
    ("pattern", "vname", "sep", "expected"), NAMES, ids=[f"{r[0]}~{r[1]}" for r in NAMES]
)
def test_mailbox_name(pattern: str, vname: str, sep: str, expected: bool) -> None:
    assert mailbox_name_matches(pattern, vname, sep) is expected
    query = parse_query(["MAILBOX", pattern])
    assert query.matches(MessageView(vname=vname, separator=sep)) is expected
    assert query.matches_mailbox(vname, sep) is expected


def view(vname: str = "INBOX", flags: str = "", keywords: tuple[str, ...] = ()) -> MessageView:
    letters = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted", "D": "\\Draft"}
    return MessageView(
        vname=vname,
        separator=".",
        flags=frozenset(letters[c] for c in flags),
        keywords=keywords,
    )


# (query, message, expected)
MESSAGES = [
    ("ALL", view(), True),
    ("seen", view(flags="S"), True),
    ("seen", view(), False),
    ("unseen", view(), True),
    ("unseen", view(flags="S"), False),
    ("answered", view(flags="R"), True),
    ("unanswered", view(flags="R"), False),
    ("flagged", view(flags="F"), True),
    ("unflagged", view(flags="F"), False),
    ("deleted", view(flags="T"), True),
    ("undeleted", view(flags="T"), False),
    ("draft", view(flags="D"), True),
    ("undraft", view(flags="SFR"), True),
    ("keyword $Junk", view(keywords=("$Junk",)), True),
    ("keyword $junk", view(keywords=("$Junk",)), True),
    ("keyword $JUNK", view(keywords=("NonJunk", "$junk")), True),
    ("keyword $Junk", view(keywords=("NonJunk",)), False),
    ("keyword k", view(keywords=("\u212a",)), False),  # KELVIN SIGN is not "k"
    ("unkeyword $Junk", view(keywords=("NonJunk",)), True),
    ("unkeyword $junk", view(keywords=("$Junk",)), False),
    ("seen flagged", view(flags="SF"), True),
    ("seen flagged", view(flags="S"), False),
    ("seen OR flagged", view(flags="F"), True),
    ("seen OR flagged", view(flags="T"), False),
    ("NOT seen", view(flags="S"), False),
    ("NOT ( seen flagged )", view(flags="S"), True),
    ("mailbox INBOX seen", view("INBOX", "S"), True),
    ("mailbox INBOX seen", view("Foo", "S"), False),
    # the doveadm pitfall: this is MAILBOX INBOX OR SEEN OR FLAGGED
    ("mailbox INBOX seen OR flagged", view("Foo", "S"), True),
    ("mailbox INBOX ( seen OR flagged )", view("Foo", "S"), False),
    ("NOT mailbox Trash deleted", view("Trash", "T"), False),
    ("NOT mailbox Trash deleted", view("Foo", "T"), True),
]


@pytest.mark.parametrize(
    ("text", "msg", "expected"), MESSAGES, ids=[f"{i}:{r[0]}" for i, r in enumerate(MESSAGES)]
)
def test_message(text: str, msg: MessageView, expected: bool) -> None:
    assert parse_query(text.split()).matches(msg) is expected


# (query, vname, could anything match) -- three-valued folder pruning
PRUNE = [
    ("ALL", "Foo", True),
    ("seen", "Foo", True),
    ("mailbox INBOX", "Foo", False),
    ("mailbox INBOX", "inbox", True),
    ("mailbox INBOX seen", "Foo", False),
    ("mailbox INBOX seen", "INBOX", True),
    ("mailbox INBOX OR seen", "Foo", True),
    ("mailbox INBOX OR mailbox Foo", "Foo", True),
    ("mailbox INBOX OR mailbox Foo", "Bar", False),
    ("NOT mailbox Trash", "Trash", False),
    ("NOT mailbox Trash", "Foo", True),
    ("NOT ( mailbox Trash seen )", "Trash", True),  # NOT (False AND ?) is True
    ("NOT ( mailbox Trash OR seen )", "Trash", False),
    ("NOT ( mailbox Trash OR seen )", "Foo", True),
    ("mailbox F* ( seen OR flagged )", "Foo.Bar", True),
    ("mailbox F% ( seen OR flagged )", "Foo.Bar", False),
    ("NOT mailbox INBOX* OR ALL", "INBOX.sub", True),
]


@pytest.mark.parametrize(
    ("text", "vname", "expected"), PRUNE, ids=[f"{r[0]}@{r[1]}" for r in PRUNE]
)
def test_matches_mailbox(text: str, vname: str, expected: bool) -> None:
    assert parse_query(text.split()).matches_mailbox(vname, ".") is expected


def test_from_meta() -> None:
    folder = Folder(name=("Archive", "2024"), separator="/", handle="h")
    meta = MessageMeta(
        source_key="k",
        position=3,
        uid=7,
        flags=frozenset({"\\Seen"}),
        keywords=("$Junk",),
        received_date=1700000000,
        save_date=None,
        size=100,
        vsize=104,
        guid="g",
        handle="x",
    )
    msg = MessageView.from_meta(folder, meta, loader=lambda: b"Subject: x\r\n\r\nbody\r\n")
    assert (msg.vname, msg.separator, msg.uid, msg.position) == ("Archive/2024", "/", 7, 3)
    assert (msg.size, msg.vsize, msg.guid, msg.received_date) == (100, 104, "g", 1700000000)
    assert parse_query(["mailbox", "Archive/%", "seen", "keyword", "$junk"]).matches(msg)
    assert msg.header_bytes() == b"Subject: x\r\n\r\n"
    assert msg.body_bytes() == b"body\r\n"


@pytest.mark.parametrize(
    ("text", "header", "body"),
    [
        (b"A: 1\n\nb\n", b"A: 1\n\n", b"b\n"),
        (b"A: 1\n", b"A: 1\n", b""),
        (b"\nbody", b"\n", b"body"),
        (b"A: 1\r\n\r\nb\n\nc", b"A: 1\r\n\r\n", b"b\n\nc"),
    ],
)
def test_header_body_split(text: bytes, header: bytes, body: bytes) -> None:
    calls = []

    def load() -> bytes:
        calls.append(1)
        return text

    msg = MessageView(vname="INBOX", separator=".", loader=load)
    assert (msg.header_bytes(), msg.body_bytes()) == (header, body)
    assert len(calls) == 1


def test_text_without_loader_is_an_error() -> None:
    with pytest.raises(MailstoreError):
        MessageView(vname="INBOX", separator=".").body_bytes()
