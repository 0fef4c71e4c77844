"""Table-driven tests for the doveadm search query parser (mailstore.search)."""

from __future__ import annotations

import pickle
import time

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.search import (
    All,
    And,
    BodyKey,
    DateKey,
    DateOp,
    FlagKey,
    GuidKey,
    HeaderKey,
    IntervalKey,
    KeywordKey,
    MailboxGuidKey,
    MailboxKey,
    Need,
    Not,
    Or,
    RecentKey,
    SaveDateSupportedKey,
    SearchDate,
    SeqSetKey,
    SizeKey,
    UidSetKey,
    XMailboxKey,
    parse_query,
)
from mailstore.search.parser import UNSUPPORTED_KEYS

#: The clock every test parses with: 2023-11-14T22:13:20Z.
NOW = 1_700_000_000
STAR = 0xFFFFFFFF
MAR11 = 1710115200  # 2024-03-11T00:00:00Z

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
    # message sets: per mailbox, either order, comma lists, trailing comma, 32-bit wrap
    ("1", SeqSetKey("1", ((1, 1),)), "1"),
    ("*", SeqSetKey("*", ((STAR, STAR),)), '"*"'),
    ("5:3", SeqSetKey("5:3", ((3, 5),)), "5:3"),
    ("1,3:5,*", SeqSetKey("1,3:5,*", ((1, 1), (3, 5), (STAR, STAR))), '"1,3:5,*"'),
    ("*:4", SeqSetKey("*:4", ((4, STAR),)), '"*:4"'),
    ("2,1,3", SeqSetKey("2,1,3", ((1, 3),)), "2,1,3"),
    ("1,", SeqSetKey("1,", ((1, 1),)), "1,"),
    ("4294967295", SeqSetKey("4294967295", ((STAR - 1, STAR - 1),)), "4294967295"),
    ("4294967297", SeqSetKey("4294967297", ((1, 1),)), "4294967297"),
    ("seen 2:3", And((SEEN, SeqSetKey("2:3", ((2, 3),)))), "SEEN 2:3"),
    ("uid 1:*", UidSetKey("1:*", ((1, STAR),)), 'UID "1:*"'),
    ("UID 7", UidSetKey("7", ((7, 7),)), "UID 7"),
    ("uid 3,1", UidSetKey("3,1", ((1, 1), (3, 3))), "UID 3,1"),
    # \Recent
    ("recent", RecentKey(True), "RECENT"),
    ("old", RecentKey(False), "OLD"),
    ("new", And((RecentKey(True), FlagKey("\\Seen", False))), "RECENT UNSEEN"),
    ("seen OR new", Or((SEEN, And((RecentKey(True), FlagKey("\\Seen", False))))),
     "SEEN OR ( RECENT UNSEEN )"),
    # dates: received, sent, saved (X-SAVED* are aliases); values resolved at parse time
    ("since 2024-03-11", DateKey(DateOp.SINCE, "received", "2024-03-11",
                                 SearchDate(MAR11, False)), "SINCE 2024-03-11"),
    ("BEFORE 11-mar-2024", DateKey(DateOp.BEFORE, "received", "11-mar-2024",
                                   SearchDate(MAR11, False)), "BEFORE 11-mar-2024"),
    ("on 30", DateKey(DateOp.ON, "received", "30", SearchDate(30, True)), "ON 30"),
    ("sentsince 30d", DateKey(DateOp.SINCE, "sent", "30d",
                              SearchDate(NOW - 30 * 86400, True)), "SENTSINCE 30d"),
    ("senton 1", DateKey(DateOp.ON, "sent", "1", SearchDate(1, True)), "SENTON 1"),
    ("sentbefore 1h", DateKey(DateOp.BEFORE, "sent", "1h", SearchDate(NOW - 3600, True)),
     "SENTBEFORE 1h"),
    ("savedbefore 1w", DateKey(DateOp.BEFORE, "saved", "1w",
                               SearchDate(NOW - 7 * 86400, True)), "SAVEDBEFORE 1w"),
    ("SAVEDON 1", DateKey(DateOp.ON, "saved", "1", SearchDate(1, True)), "SAVEDON 1"),
    ("savedsince 0", DateKey(DateOp.SINCE, "saved", "0", SearchDate(0, True)), "SAVEDSINCE 0"),
    ("x-savedbefore 1", DateKey(DateOp.BEFORE, "saved", "1", SearchDate(1, True)),
     "SAVEDBEFORE 1"),
    ("x-savedon 1", DateKey(DateOp.ON, "saved", "1", SearchDate(1, True)), "SAVEDON 1"),
    ("x-savedsince 1", DateKey(DateOp.SINCE, "saved", "1", SearchDate(1, True)),
     "SAVEDSINCE 1"),
    ("savedatesupported", SaveDateSupportedKey(), "SAVEDATESUPPORTED"),
    ("older 3600", IntervalKey(True, 3600, NOW - 3600), "OLDER 3600"),
    ("younger 1", IntervalKey(False, 1, NOW - 1), "YOUNGER 1"),
    ("younger 4294967295", IntervalKey(False, 2**32 - 1, NOW - 2**32 + 1), "YOUNGER 4294967295"),
    # sizes
    ("larger 10k", SizeKey(True, "10k", 10240), "LARGER 10k"),
    ("smaller 162", SizeKey(False, "162", 162), "SMALLER 162"),
    ("LARGER 1M", SizeKey(True, "1M", 1048576), "LARGER 1M"),
    # GUIDs and X-MAILBOX
    ("guid 1795886322.M223279P16578.vm,S=154,W=162",
     GuidKey("1795886322.M223279P16578.vm,S=154,W=162"),
     "GUID 1795886322.M223279P16578.vm,S=154,W=162"),
    ("x-guid abc", GuidKey("abc"), "GUID abc"),
    ("mailbox-guid 0123456789abcdef0123456789abcdef",
     MailboxGuidKey("0123456789abcdef0123456789abcdef"),
     "MAILBOX-GUID 0123456789abcdef0123456789abcdef"),
    ("mailbox-guid xyz", MailboxGuidKey("xyz"), "MAILBOX-GUID xyz"),  # doveadm: no check
    ("x-mailbox Entw&APw-rfe", XMailboxKey("Entw&APw-rfe", "Entwürfe"), "X-MAILBOX Entw&APw-rfe"),
    ("x-mailbox a&-b", XMailboxKey("a&-b", "a&b"), "X-MAILBOX a&-b"),
    ("x-mailbox F*", XMailboxKey("F*", "F*"), 'X-MAILBOX "F*"'),
    # header and body keys
    ("from alice", HeaderKey("FROM", "from", "alice"), "FROM alice"),
    ("To bob", HeaderKey("TO", "to", "bob"), "TO bob"),
    ("cc c", HeaderKey("CC", "cc", "c"), "CC c"),
    ("bcc d", HeaderKey("BCC", "bcc", "d"), "BCC d"),
    ("subject hello", HeaderKey("SUBJECT", "subject", "hello"), "SUBJECT hello"),
    ("header X-Spam yes", HeaderKey("HEADER", "X-Spam", "yes"), "HEADER X-Spam yes"),
    ("header seen seen", HeaderKey("HEADER", "seen", "seen"), "HEADER seen seen"),
    ("body foo", BodyKey(False, "foo"), "BODY foo"),
    ("TEXT foo", BodyKey(True, "foo"), "TEXT foo"),
    ("NOT body foo OR from x",
     Or((Not(BodyKey(False, "foo")), HeaderKey("FROM", "from", "x"))),
     "NOT BODY foo OR FROM x"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "tree", "rendered"), ACCEPT, ids=[r[0] for r in ACCEPT])
def test_accept(text: str, tree: object, rendered: str) -> None:
    query = parse_query(text.split(" "), now=NOW)
    assert query.root == tree
    assert str(query) == rendered
    # the normalised words parse back to the same tree
    assert parse_query(query.words(), now=NOW).root == tree


# values with spaces or empty: one argv word each
WORD_VALUES = [
    (["since", "2 weeks"], DateKey(DateOp.SINCE, "received", "2 weeks",
                                   SearchDate(NOW - 14 * 86400, True)), 'SINCE "2 weeks"'),
    (["on", " 2-Jul-2024"], DateKey(DateOp.ON, "received", " 2-Jul-2024",
                                    SearchDate(1719878400, False)), 'ON " 2-Jul-2024"'),
    (["larger", "1 MB"], SizeKey(True, "1 MB", 1048576), 'LARGER "1 MB"'),
    (["larger", "10 "], SizeKey(True, "10 ", 10), 'LARGER "10 "'),
    (["subject", "hello world"], HeaderKey("SUBJECT", "subject", "hello world"),
     'SUBJECT "hello world"'),
    (["header", "X-Foo", ""], HeaderKey("HEADER", "X-Foo", ""), 'HEADER X-Foo ""'),
    (["from", ""], HeaderKey("FROM", "from", ""), 'FROM ""'),
    (["uid", ""], UidSetKey("", ()), 'UID ""'),
    (["guid", ""], GuidKey(""), 'GUID ""'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("words", "tree", "rendered"), WORD_VALUES, ids=[r[2] for r in WORD_VALUES]
)
def test_word_values(words: list[str], tree: object, rendered: str) -> None:
    query = parse_query(words, now=NOW)
    assert query.root == tree
    assert str(query) == rendered
    assert parse_query(query.words(), now=NOW).root == tree


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
    (["1:x"], "invalid message sequence set '1:x' (doveadm: Invalid messageset)"),
    (["0"], "invalid message sequence set '0'"),
    (["0:3"], "invalid message sequence set '0:3'"),
    (["1,,2"], "invalid message sequence set '1,,2'"),
    (["1:"], "invalid message sequence set '1:'"),
    (["4294967296"], "invalid message sequence set '4294967296'"),  # wraps to 0
    (["1-3"], "invalid message sequence set '1-3'"),
    (["UID"], "missing value for UID"),
    (["uid", "x"], "invalid UID set 'x' (doveadm: Invalid UID messageset)"),
    (["uid", "0"], "invalid UID set '0'"),
    (["uid", "1:x"], "invalid UID set '1:x'"),
    (["uid", "$"], "search key 'UID $' is not supported by mailbeam import: SEARCHRES"),
    (["$"], "search key '$' is not supported by mailbeam import: SEARCHRES"),
    (["SINCE"], "missing value for SINCE"),
    (["seen", "before"], "missing value for BEFORE"),
    (["ON"], "missing value for ON"),
    (["SENTSINCE"], "missing value for SENTSINCE"),
    (["x-savedon"], "missing value for X-SAVEDON"),
    (
        ["since", "2024-1-01"],
        "SINCE: invalid date '2024-1-01' (doveadm: Invalid search date parameter: 2024-1-01)",
    ),
    (["before", "2-July-2024"], "invalid date '2-July-2024'"),
    (["on", "2-Jul-24"], "invalid date '2-Jul-24'"),
    (["sentsince", "30dx"], "SENTSINCE: invalid date '30dx'"),
    (["savedbefore", "+5"], "SAVEDBEFORE: invalid date '+5'"),
    (["since", "-1"], "invalid date '-1'"),  # doveadm's error value
    (["since", ""], "invalid date ''"),
    (["since", "1500ms"], "invalid date '1500ms'"),
    (["since", "4294967296s"], "invalid date '4294967296s'"),
    (["since", "9223372036854775808"], "invalid date '9223372036854775808'"),
    (["OLDER"], "missing value for OLDER"),
    (["older", "0"], "invalid interval '0' for OLDER"),
    (["younger", "5d"], "invalid interval '5d' for YOUNGER"),
    (["older", "-5"], "invalid interval '-5' for OLDER"),
    (["older", "4294967296"], "(doveadm: Invalid search interval parameter)"),
    (["older", "١٢"], "invalid interval"),  # Arabic-Indic digits are not digits to Dovecot
    (["LARGER"], "missing value for LARGER"),
    (["larger", "abc"], "LARGER: invalid size 'abc' (doveadm: Invalid size: abc)"),
    (["smaller", "1bB"], "invalid size '1bB' (doveadm: Invalid size: 1bB)"),
    (["larger", " 10"], "Invalid size:  10"),
    (["larger", "1.5k"], "Invalid size: 1.5k"),
    (["larger", "16777216T"], "(doveadm: Size is too large: 16777216T)"),
    (["larger", "18446744073709551616"], "Invalid size: 18446744073709551616"),
    (["GUID"], "missing value for GUID"),
    (["X-GUID"], "missing value for X-GUID"),
    (["MAILBOX-GUID"], "missing value for MAILBOX-GUID"),
    (["X-MAILBOX"], "missing value for X-MAILBOX"),
    (["x-mailbox", "Entwürfe"], "X-MAILBOX name 'Entwürfe' is not mUTF-7"),
    (["x-mailbox", "Entw&AP"], "X-MAILBOX name 'Entw&AP' is not mUTF-7"),
    (["SAVEDATESUPPORTED", "x"], "unknown search key 'X'"),
    (["FROM"], "missing value for FROM"),
    (["subject"], "missing value for SUBJECT"),
    (["HEADER"], "missing value for HEADER"),
    (["HEADER", "X-Foo"], "missing value for HEADER X-Foo"),
    (["BODY"], "missing value for BODY"),
    (["TEXT"], "missing value for TEXT"),
    (["body", "bad\udcff"], "BODY value 'bad\\udcff' is not valid UTF-8"),
    (["x-body-fast", "b"], "unknown search key 'X-BODY-FAST'"),  # not in 2.3.19 [obs]
    (["x-text-fast", "b"], "unknown search key 'X-TEXT-FAST'"),
    (["modseq", "1"], "search key 'MODSEQ' is not supported by mailbeam import: modification"),
    (["fuzzy", "seen"], "search key 'FUZZY' is not supported by mailbeam import"),
    (["inthread", "refs", "seen"], "search key 'INTHREAD' is not supported by mailbeam import"),
    (["mimepart", "size", "larger", "1"], "search key 'MIMEPART' is not supported by mailbeam"),
    (["x-real-uid", "1"], "search key 'X-REAL-UID' is not supported by mailbeam import"),
    (["oldestonly"], "search key 'OLDESTONLY' is not supported by mailbeam import: it stops"),
    (["seen", "OR", "oldestonly"], "search key 'OLDESTONLY' is not supported"),
]


@pytest.mark.parametrize(("words", "message"), REJECT, ids=[" ".join(r[0]) for r in REJECT])
def test_reject(words: list[str], message: str) -> None:
    with pytest.raises(MailstoreError) as info:
        parse_query(words, now=NOW)
    assert info.value.kind is Kind.PARAMS
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_every_unsupported_key_is_rejected_with_its_reason() -> None:
    for key, why in UNSUPPORTED_KEYS.items():
        with pytest.raises(MailstoreError) as info:
            parse_query([key.lower(), "1", "2"])
        assert str(info.value) == f"search key {key!r} is not supported by mailbeam import: {why}"


NEEDS = [
    ("ALL", Need.MAILBOX),
    ("mailbox INBOX", Need.MAILBOX),
    ("mailbox INBOX OR all", Need.MAILBOX),
    ("x-mailbox INBOX", Need.MAILBOX),
    ("mailbox INBOX seen", Need.METADATA),
    ("NOT keyword x", Need.METADATA),
    ("recent", Need.METADATA),
    ("new", Need.METADATA),
    ("1:5", Need.METADATA),
    ("uid 1:5", Need.METADATA),
    ("guid x", Need.METADATA),
    ("mailbox-guid x", Need.METADATA),
    ("since 1d", Need.METADATA),
    ("savedon 1", Need.METADATA),
    ("savedatesupported", Need.METADATA),
    ("older 5", Need.METADATA),
    ("larger 5", Need.SIZE),
    ("NOT smaller 5 seen", Need.SIZE),
    ("sentsince 1d", Need.HEADERS),
    ("from x", Need.HEADERS),
    ("header X-Foo y OR larger 1", Need.HEADERS),
    ("subject x NOT ( seen OR since 1 )", Need.HEADERS),
    ("body x", Need.BODY),
    ("seen OR ( text x larger 1 )", Need.BODY),
]


@pytest.mark.parametrize(("text", "need"), NEEDS, ids=[r[0] for r in NEEDS])
def test_needs(text: str, need: Need) -> None:
    assert parse_query(text.split(), now=NOW).needs() is need


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
    ("x-mailbox Foo", None),  # X-MAILBOX is always a glob: doveadm lists
    ("mailbox Foo x-mailbox Foo", None),
    ("mailbox Foo NOT x-mailbox Bar", None),
    ("mailbox Foo mailbox-guid 0123456789abcdef0123456789abcdef", ("Foo",)),
    ("mailbox Foo since 1d larger 5", ("Foo",)),
]


@pytest.mark.parametrize(("text", "names"), EXACT, ids=[r[0] for r in EXACT])
def test_exact_mailboxes(text: str, names: tuple[str, ...] | None) -> None:
    assert parse_query(text.split()).exact_mailboxes() == names


def test_query_pickles_and_is_frozen() -> None:
    query = parse_query(
        ["mailbox", "INBOX*", "(", "seen", "OR", "NOT", "keyword", "$Junk", ")", "since", "30d",
         "older", "5", "larger", "1k", "1:*", "uid", "3", "from", "x", "header", "a", "b",
         "body", "y", "new", "x-mailbox", "I*", "guid", "g", "mailbox-guid", "m"]
    )  # fmt: skip
    again = pickle.loads(pickle.dumps(query))
    assert again == query
    assert str(again) == str(query)
    assert hash(again) == hash(query)
    with pytest.raises(AttributeError):
        query.root = All()  # type: ignore[misc]


def test_now_defaults_to_the_clock_read_once() -> None:
    before = int(time.time())
    query = parse_query(["since", "1d", "older", "60"])
    after = int(time.time())
    since, older = query.root.children()
    assert isinstance(since, DateKey) and isinstance(older, IntervalKey)
    assert before - 86400 <= since.value.time <= after - 86400
    assert older.time - since.value.time == 86400 - 60
