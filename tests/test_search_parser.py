"""Table-driven tests for the doveadm search query parser (mailstore.search)."""

from __future__ import annotations

import pickle

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.search import (
    All,
    And,
    FlagKey,
    KeywordKey,
    MailboxKey,
    Need,
    Not,
    Or,
    parse_query,
)

SEEN = FlagKey("\\Seen", True)
FLAGGED = FlagKey("\\Flagged", True)
DELETED = FlagKey("\\Deleted", True)
ANSWERED = FlagKey("\\Answered", True)

# (query text split on spaces, expected tree, expected normalised rendering)
ACCEPT = [
    ("ALL", All(), "ALL"),
    ("all", All(), "ALL"),
    ("seen", SEEN, "SEEN"),
    ("UnSeen", FlagKey("\\Seen", False), "UNSEEN"),
    ("answered unanswered", And((ANSWERED, FlagKey("\\Answered", False))), "ANSWERED UNANSWERED"),
    ("flagged unflagged", And((FLAGGED, FlagKey("\\Flagged", False))), "FLAGGED UNFLAGGED"),
    ("deleted undeleted", And((DELETED, FlagKey("\\Deleted", False))), "DELETED UNDELETED"),
    ("draft undraft", And((FlagKey("\\Draft", True), FlagKey("\\Draft", False))), "DRAFT UNDRAFT"),
    ("keyword $Junk", KeywordKey("$Junk", True), "KEYWORD $Junk"),
    ("UNKEYWORD NonJunk", KeywordKey("NonJunk", False), "UNKEYWORD NonJunk"),
    ("mailbox INBOX", MailboxKey("INBOX"), "MAILBOX INBOX"),
    ("MAILBOX seen", MailboxKey("seen"), "MAILBOX seen"),  # values are not keys
    ("mailbox Foo.*", MailboxKey("Foo.*"), 'MAILBOX "Foo.*"'),
    ("mailbox Entwürfe", MailboxKey("Entwürfe"), "MAILBOX Entwürfe"),
    ("seen flagged", And((SEEN, FLAGGED)), "SEEN FLAGGED"),
    ("seen OR flagged", Or((SEEN, FLAGGED)), "SEEN OR FLAGGED"),
    ("seen or flagged or deleted", Or((SEEN, FLAGGED, DELETED)), "SEEN OR FLAGGED OR DELETED"),
    # the doveadm pitfall: earlier siblings are absorbed into the OR
    ("seen flagged OR deleted", Or((SEEN, FLAGGED, DELETED)), "SEEN OR FLAGGED OR DELETED"),
    ("seen or or flagged", Or((SEEN, FLAGGED)), "SEEN OR FLAGGED"),
    ("or seen", SEEN, "SEEN"),
    (
        "mailbox INBOX ( seen OR flagged )",
        And((MailboxKey("INBOX"), Or((SEEN, FLAGGED)))),
        "MAILBOX INBOX ( SEEN OR FLAGGED )",
    ),
    (
        "( seen flagged ) OR deleted",
        Or((And((SEEN, FLAGGED)), DELETED)),
        "( SEEN FLAGGED ) OR DELETED",
    ),
    ("( seen )", SEEN, "SEEN"),
    ("( ( seen ) )", SEEN, "SEEN"),
    ("seen ( flagged deleted )", And((SEEN, FLAGGED, DELETED)), "SEEN FLAGGED DELETED"),
    ("seen OR ( flagged OR deleted )", Or((SEEN, FLAGGED, DELETED)), "SEEN OR FLAGGED OR DELETED"),
    ("NOT seen", Not(SEEN), "NOT SEEN"),
    ("not not seen", SEEN, "SEEN"),
    ("NOT ( seen flagged )", Not(And((SEEN, FLAGGED))), "NOT ( SEEN FLAGGED )"),
    ("NOT ( seen OR flagged )", Not(Or((SEEN, FLAGGED))), "NOT ( SEEN OR FLAGGED )"),
    ("seen OR NOT flagged", Or((SEEN, Not(FLAGGED))), "SEEN OR NOT FLAGGED"),
    # doveadm: OR after NOT still marks the enclosing list
    ("seen NOT OR flagged", Or((SEEN, Not(FLAGGED))), "SEEN OR NOT FLAGGED"),
    (
        "not mailbox Trash seen",
        And((Not(MailboxKey("Trash")), SEEN)),
        "NOT MAILBOX Trash SEEN",
    ),
]


@pytest.mark.parametrize(("text", "tree", "rendered"), ACCEPT, ids=[r[0] for r in ACCEPT])
def test_accept(text: str, tree: object, rendered: str) -> None:
    query = parse_query(text.split(" "))
    assert query.root == tree
    assert str(query) == rendered
    # the normalised words parse back to the same tree
    assert parse_query(query.words()).root == tree


def test_words_are_not_split() -> None:
    query = parse_query(["MAILBOX", "My Folder", "KEYWORD", "x"])
    assert query.root == And((MailboxKey("My Folder"), KeywordKey("x", True)))
    assert str(query) == 'MAILBOX "My Folder" KEYWORD x'
    assert query.words() == ("MAILBOX", "My Folder", "KEYWORD", "x")


def test_string_is_not_a_word_list() -> None:
    with pytest.raises(TypeError):
        parse_query("seen")  # type: ignore[arg-type]


# (words, substring of the error message)
REJECT = [
    ([], "empty search query"),
    (["FOO"], "unknown search key 'FOO'"),
    (["seen", "bogus"], "unknown search key 'BOGUS'"),
    (["(seen"], "unknown search key '(SEEN'"),
    (["seen)"], "unknown search key 'SEEN)'"),
    (["MAILBOX"], "missing value for MAILBOX"),
    (["seen", "mailbox"], "missing value for MAILBOX"),
    (["KEYWORD"], "missing value for KEYWORD"),
    (["UNKEYWORD"], "missing value for UNKEYWORD"),
    (["KEYWORD", "a(b"], "Invalid characters in keyword"),
    (["KEYWORD", "\\Seen"], "Invalid characters in keyword"),
    (["KEYWORD", "a b"], "Invalid characters in keyword"),
    (["KEYWORD", "ä"], "Invalid characters in keyword"),
    (["UNKEYWORD", "x*"], "Invalid characters in keyword"),
    (["KEYWORD", ""], "Empty keywords not allowed"),
    (["MAILBOX", "bad\udcff"], "not valid UTF-8"),
    (["(", ")"], "No search parameters inside list"),
    (["seen", "(", ")"], "No search parameters inside list"),
    (["(", "seen"], "missing ')'"),
    (["(", "(", "seen", ")"], "missing ')'"),
    (["seen", ")"], "unexpected ')'"),
    ([")"], "unexpected ')'"),
    (["seen", "OR", "flagged", "deleted"], "Use parenthesis when mixing ANDs and ORs"),
    (["OR", "seen", "flagged"], "Use parenthesis when mixing ANDs and ORs"),
    (["(", "OR", "seen", "flagged", ")"], "Use parenthesis when mixing ANDs and ORs"),
    (["NOT"], "missing search key after NOT"),
    (["seen", "OR"], "missing search key after OR"),
    (["OR"], "missing search key after OR"),
    (["(", "seen", "OR", ")"], "missing search key after OR"),
    (["(", "NOT", ")"], "missing search key after NOT"),
    (["SINCE", "2024-01-01"], "search key 'SINCE' is not supported yet"),
    (["since"], "search key 'SINCE' is not supported yet"),
    (["seen", "OR", "body", "x"], "search key 'BODY' is not supported yet"),
    (["NOT", "text", "x"], "search key 'TEXT' is not supported yet"),
    (["from", "x"], "search key 'FROM' is not supported yet"),
    (["LARGER", "10k"], "search key 'LARGER' is not supported yet"),
    (["uid", "1:*"], "search key 'UID' is not supported yet"),
    (["recent"], "search key 'RECENT' is not supported yet"),
    (["new"], "search key 'NEW' is not supported yet"),
    (["old"], "search key 'OLD' is not supported yet"),
    (["header", "X-Foo", "y"], "search key 'HEADER' is not supported yet"),
    (["mailbox-guid", "0" * 32], "search key 'MAILBOX-GUID' is not supported yet"),
    (["1:5"], "search key '1:5' (sequence set) is not supported yet"),
    (["*"], "search key '*' (sequence set) is not supported yet"),
    (["1,3,5:*"], "(sequence set) is not supported yet"),
    (["1:x"], "invalid message sequence set '1:x'"),
]


@pytest.mark.parametrize(("words", "message"), REJECT, ids=[" ".join(r[0]) for r in REJECT])
def test_reject(words: list[str], message: str) -> None:
    with pytest.raises(MailstoreError) as info:
        parse_query(words)
    assert info.value.kind is Kind.PARAMS
    assert message in str(info.value)
    assert "\n" not in str(info.value)


NEEDS = [
    ("ALL", Need.MAILBOX),
    ("mailbox INBOX", Need.MAILBOX),
    ("mailbox INBOX OR all", Need.MAILBOX),
    ("mailbox INBOX seen", Need.METADATA),
    ("NOT keyword x", Need.METADATA),
]


@pytest.mark.parametrize(("text", "need"), NEEDS, ids=[r[0] for r in NEEDS])
def test_needs(text: str, need: Need) -> None:
    assert parse_query(text.split()).needs() is need


EXACT = [
    ("mailbox INBOX", ("INBOX",)),
    ("mailbox INBOX seen", ("INBOX",)),
    ("mailbox Foo ( seen mailbox Bar )", ("Foo", "Bar")),
    ("mailbox Foo mailbox Foo", ("Foo",)),
    ("mailbox Foo ( mailbox Bar OR seen )", ("Foo",)),
    ("mailbox Foo NOT ( mailbox Bar seen )", ("Foo",)),
    ("mailbox Foo NOT ( mailbox Bar )", None),  # the group collapses to NOT MAILBOX Bar
    ("seen", None),
    ("ALL", None),
    ("mailbox F*", None),
    ("mailbox Foo mailbox B%", None),
    ("mailbox Foo OR mailbox Bar", None),
    ("NOT mailbox Foo", None),
    ("mailbox Foo NOT mailbox Bar", None),
]


@pytest.mark.parametrize(("text", "names"), EXACT, ids=[r[0] for r in EXACT])
def test_exact_mailboxes(text: str, names: tuple[str, ...] | None) -> None:
    assert parse_query(text.split()).exact_mailboxes() == names


def test_query_pickles_and_is_frozen() -> None:
    query = parse_query(["mailbox", "INBOX*", "(", "seen", "OR", "NOT", "keyword", "$Junk", ")"])
    again = pickle.loads(pickle.dumps(query))
    assert again == query
    assert str(again) == str(query)
    assert hash(again) == hash(query)
    with pytest.raises(AttributeError):
        query.root = All()  # type: ignore[misc]
