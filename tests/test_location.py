"""Tables for mail location parsing, expansion and display."""

from __future__ import annotations

import os
import pickle
import pwd

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.location import MailLocation, expand_location, format_location, parse_location
from mailstore.userdb import User

ML = MailLocation

PARSE = [
    # (location, overrides, expected)
    ("maildir:~/Maildir", (), ML("maildir", "~/Maildir")),
    ("maildir:~/Maildir/", (), ML("maildir", "~/Maildir")),
    ("maildir:/", (), ML("maildir", "/")),
    ("Maildir:/m", (), ML("maildir", "/m")),
    ("mbox:~/mail", (), ML("mbox", "~/mail")),
    ("sdbox:/srv/%u", (), ML("sdbox", "/srv/%u")),
    ("mdbox:~/mdbox", (), ML("mdbox", "~/mdbox")),
    ("imapc:", (), ML("imapc", "")),
    ("imapc:~/imapc", (), ML("imapc", "~/imapc")),
    (
        "maildir:~/Maildir:LAYOUT=fs:INDEX=MEMORY",
        (),
        ML("maildir", "~/Maildir", (("mail_index_path", "MEMORY"), ("mailbox_list_layout", "fs"))),
    ),
    (
        "maildir:~/Maildir",
        ("mailbox_list_layout=fs", "mail_index_path=MEMORY"),
        ML("maildir", "~/Maildir", (("mail_index_path", "MEMORY"), ("mailbox_list_layout", "fs"))),
    ),
    (
        "maildir:~/M:LAYOUT=Maildir++",
        (),
        ML("maildir", "~/M", (("mailbox_list_layout", "maildir++"),)),
    ),
    (
        "mbox:~/mail:INBOX=/var/mail/%u:CONTROL=~/ctl/:ALT=/alt:VOLATILEDIR=/tmp/v",
        (),
        ML(
            "mbox",
            "~/mail",
            (
                ("mail_alt_path", "/alt"),
                ("mail_control_path", "~/ctl"),
                ("mail_inbox_path", "/var/mail/%u"),
                ("mail_volatile_path", "/tmp/v"),
            ),
        ),
    ),
    (
        "maildir:/m:LAYOUT=fs:DIRNAME=mAildir:UTF-8",
        (),
        ML(
            "maildir",
            "/m",
            (
                ("mailbox_directory_name", "mAildir"),
                ("mailbox_list_layout", "fs"),
                ("mailbox_list_utf8", "yes"),
            ),
        ),
    ),
    (
        "sdbox:/d:FULLDIRNAME=dbox-Mails",
        (),
        ML(
            "sdbox",
            "/d",
            (("mailbox_directory_name", "dbox-Mails"), ("mailbox_directory_name_legacy", "no")),
        ),
    ),
    (
        "maildir:/m:INDEX=/i:ITERINDEX:NO-NOSELECT",
        (),
        ML(
            "maildir",
            "/m",
            (
                ("mail_index_path", "/i"),
                ("mailbox_list_drop_noselect", "yes"),
                ("mailbox_list_iter_from_index_dir", "yes"),
            ),
        ),
    ),
    (
        "mdbox:/d:ALTNOCHECK:INDEXPVT=/p:INDEXCACHE=/c:LISTINDEX=idx:SUBSCRIPTIONS=subs",
        (),
        ML(
            "mdbox",
            "/d",
            (
                ("mail_alt_check", "no"),
                ("mail_cache_path", "/c"),
                ("mail_index_private_path", "/p"),
                ("mailbox_list_index_prefix", "idx"),
                ("mailbox_subscriptions_filename", "subs"),
            ),
        ),
    ),
    (
        "maildir:/m:MAILBOXDIR=mailboxes:BROKENCHAR=~:NO-FS-VALIDATION:KEEP-NOSELECT",
        (),
        ML(
            "maildir",
            "/m",
            (
                ("mailbox_list_drop_noselect", "no"),
                ("mailbox_list_validate_fs_names", "no"),
                ("mailbox_list_visible_escape_char", "~"),
                ("mailbox_root_directory_name", "mailboxes"),
            ),
        ),
    ),
    # '::' is a literal colon, in the path and in values; a trailing ':' is ignored.
    ("maildir:/a::b", (), ML("maildir", "/a:b")),
    ("maildir:/a::b:INDEX=/i::x", (), ML("maildir", "/a:b", (("mail_index_path", "/i:x"),))),
    ("maildir:/m:", (), ML("maildir", "/m")),
    ("maildir:/a::::b", (), ML("maildir", "/a::b")),
    # Overrides win; KEY alone is an empty value; any name is kept; 2.3 keys translate.
    (
        "maildir:/m:LAYOUT=fs:INDEX=/i",
        ("mailbox_list_layout=maildir++", "mail_index_path"),
        ML("maildir", "/m", (("mail_index_path", ""), ("mailbox_list_layout", "maildir++"))),
    ),
    (
        "imapc:",
        ("imapc_host=imap.example.org", "imapc_port=993", "imapc_password=s3cret"),
        ML(
            "imapc",
            "",
            (
                ("imapc_host", "imap.example.org"),
                ("imapc_password", "s3cret"),
                ("imapc_port", "993"),
            ),
        ),
    ),
    (
        "maildir:/m",
        ("LAYOUT=fs", "UTF-8"),
        ML("maildir", "/m", (("mailbox_list_layout", "fs"), ("mailbox_list_utf8", "yes"))),
    ),
    ("maildir:/m", ("mail_path=/other/",), ML("maildir", "/other")),
    ("maildir:", ("mail_path=/x",), ML("maildir", "/x")),
    ("maildir:/m", ("mail_driver=mbox",), ML("mbox", "/m")),
    (
        "maildir:/m",
        ("mailbox_list_utf8=YES",),
        ML("maildir", "/m", (("mailbox_list_utf8", "YES"),)),
    ),
    ("maildir:/m", ("mail_control_path=/c/",), ML("maildir", "/m", (("mail_control_path", "/c"),))),
]


@pytest.mark.parametrize(("text", "overrides", "expected"), PARSE)
def test_parse(text: str, overrides: tuple[str, ...], expected: MailLocation) -> None:
    assert parse_location(text, overrides) == expected


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("maildir", (), "Source (maildir) should be in mail_driver:mail_path syntax"),
        ("", (), "Source () should be in mail_driver:mail_path syntax"),
        ("/home/u/Maildir", (), "should be in mail_driver:mail_path syntax"),
        ("mbx:/m", (), "unknown mail driver 'mbx' in location 'mbx:/m'"),
        ("dbox:/m", (), "unknown mail driver 'dbox'"),
        ("pop3c:", (), "unknown mail driver 'pop3c'"),
        ("maildir:", (), "mail path is empty in location 'maildir:'"),
        ("mbox::LAYOUT=fs", (), "mail path is empty in location 'mbox::LAYOUT=fs'"),
        ("maildir:/m:FOO=bar", (), "unknown setting 'FOO' in location 'maildir:/m:FOO=bar'"),
        ("maildir:/m:layout=fs", (), "unknown setting 'layout'"),
        ("maildir:/m:mailbox_list_layout=fs", (), "unknown setting 'mailbox_list_layout'"),
        ("maildir:/m:INDEX", (), None),  # accepted; see test below
        ("maildir:/m:UTF-8=yes", (), "setting UTF-8 takes no value"),
        ("maildir:/m:ITERINDEX=yes", (), "setting ITERINDEX takes no value"),
        ("maildir:/m:LAYOUT=mbox", (), "unknown mailbox_list_layout 'mbox'"),
        ("maildir:/m:LAYOUT=", (), "unknown mailbox_list_layout ''"),
        ("maildir:/m", ("mailbox_list_layout=tree",), "unknown mailbox_list_layout 'tree'"),
        ("maildir:/m", ("mailbox_list_utf8=maybe",), "mailbox_list_utf8 must be yes or no"),
        ("maildir:/m", ("mailbox_list_utf8",), "mailbox_list_utf8 must be yes or no"),
        ("maildir:/m:ITERINDEX", (), "ITERINDEX requires INDEX"),
        ("maildir:/m:ITERINDEX:INDEX=MEMORY", (), "ITERINDEX requires INDEX"),
        ("maildir:/m:BROKENCHAR=ab", (), "BROKENCHAR value must be a single character"),
        ("maildir:/m:BROKENCHAR", (), "BROKENCHAR value must be a single character"),
        ("maildir:INBOX=/var/mail/u", (), "mail root directory not given"),
        ("maildir:/m", ("=x",), "setting name is empty"),
        ("maildir:/m", ("mail_driver=nfs",), "unknown mail driver 'nfs'"),
        ("maildir:/m", ("mail_path=",), "mail path is empty"),
        ("maildir:/m", ("FOO=1",), None),  # unknown -p names are kept as-is
    ],
)
def test_parse_rejects(text: str, overrides: tuple[str, ...], message: str | None) -> None:
    if message is None:
        parse_location(text, overrides)
        return
    with pytest.raises(MailstoreError) as info:
        parse_location(text, overrides)
    assert info.value.kind is Kind.PARAMS
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "overrides"),
    [
        ("imapc::imapc_password=hunter2", ()),
        ("maildir:/m:X_PASSWORD=hunter2", ()),
        ("imapc:", ("imapc_password=hunter2", "mailbox_list_layout=bad")),
        ("imapc:", ("imapc_password=hunter2", "mail_driver=bad")),
    ],
)
def test_errors_never_show_passwords(text: str, overrides: tuple[str, ...]) -> None:
    with pytest.raises(MailstoreError) as info:
        parse_location(text, overrides)
    assert "hunter2" not in str(info.value)


def test_repr_and_format_mask_passwords() -> None:
    loc = parse_location(
        "imapc:~/imapc", ["imapc_host=h", "imapc_password=hunter2", "imapc_master_PASSWORD=x9"]
    )
    assert loc.get("imapc_password") == "hunter2"
    for text in (repr(loc), str(loc), f"{loc}", format_location(loc), repr([loc])):
        assert "hunter2" not in text and "x9" not in text
    assert format_location(loc) == (
        "imapc:~/imapc -p imapc_host=h -p imapc_master_PASSWORD=<hidden> -p imapc_password=<hidden>"
    )


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        (ML("maildir", "/m"), "maildir:/m"),
        (ML("maildir", "/a:b"), "maildir:/a::b"),
        (ML("maildir", "/a b"), "'maildir:/a b'"),
        (
            ML("maildir", "/m", (("mail_index_path", "MEMORY"), ("mailbox_list_layout", "fs"))),
            "maildir:/m -p mail_index_path=MEMORY -p mailbox_list_layout=fs",
        ),
        (ML("imapc", ""), "imapc:"),
    ],
)
def test_format(loc: MailLocation, text: str) -> None:
    assert format_location(loc) == text


@pytest.mark.parametrize(
    ("text", "overrides", "layout", "separator", "utf8"),
    [
        ("maildir:/m", (), "maildir++", ".", False),
        ("maildir:/m:LAYOUT=fs", (), "fs", "/", False),
        ("maildir:/m:LAYOUT=index", (), "index", "/", False),
        ("mbox:/m", (), "fs", "/", False),
        ("sdbox:/m", (), "fs", "/", False),
        ("mdbox:/m:UTF-8", (), "fs", "/", True),
        ("imapc:", (), "fs", "/", False),
        ("mbox:/m", ("mailbox_list_layout=maildir++",), "maildir++", ".", False),
        ("maildir:/m", ("mailbox_list_utf8=no",), "maildir++", ".", False),
        ("maildir:/m", ("mailbox_list_utf8=y",), "maildir++", ".", True),
    ],
)
def test_properties(
    text: str, overrides: tuple[str, ...], layout: str, separator: str, utf8: bool
) -> None:
    loc = parse_location(text, overrides)
    assert (loc.layout, loc.separator, loc.utf8) == (layout, separator, utf8)


def test_path_properties() -> None:
    loc = parse_location("maildir:/m:INDEX=MEMORY:CONTROL=/c:INBOX=/in:ALT=/a:DIRNAME=d")
    assert (loc.index_path, loc.control_path, loc.inbox_path, loc.alt_path) == (
        "MEMORY",
        "/c",
        "/in",
        "/a",
    )
    assert loc.directory_name == "d"
    assert loc.get("nope") is None and loc.get("nope", "x") == "x"
    bare = parse_location("maildir:/m")
    assert (bare.index_path, bare.control_path, bare.inbox_path, bare.alt_path) == (None,) * 4
    assert bare.directory_name is None


def test_location_is_hashable_and_pickles() -> None:
    loc = parse_location("maildir:/m:LAYOUT=fs")
    assert pickle.loads(pickle.dumps(loc)) == loc
    assert len({loc, parse_location("maildir:/m", ["mailbox_list_layout=fs"])}) == 1


ALICE = User("alice@example.org", 1000, 1000, "/home/alice")
BOB = User("bob", home="/home/bob/")
NOHOME = User("nohome@x")

EXPAND = [
    # (location, overrides, user, path, settings)
    ("maildir:~/Maildir", (), ALICE, "/home/alice/Maildir", ()),
    ("maildir:~", (), ALICE, "/home/alice", ()),
    ("maildir:~/", (), ALICE, "/home/alice", ()),
    ("maildir:~/Maildir", (), BOB, "/home/bob/Maildir", ()),
    ("maildir:/a/~/b", (), NOHOME, "/a/~/b", ()),
    ("maildir:/srv/%d/%n/Maildir", (), ALICE, "/srv/example.org/alice/Maildir", ()),
    ("maildir:/srv/%u", (), ALICE, "/srv/alice@example.org", ()),
    ("maildir:/srv/%d/%n", (), BOB, "/srv//bob", ()),
    ("maildir:%h/mail", (), ALICE, "/home/alice/mail", ()),
    ("maildir:/x/100%%", (), NOHOME, "/x/100%", ()),
    ("maildir:/x/%Lu", (), User("Bob@EX.org"), "/x/bob@ex.org", ()),
    ("maildir:/x/%Ud", (), ALICE, "/x/EXAMPLE.ORG", ()),
    ("maildir:/x/%{user}", (), ALICE, "/x/alice@example.org", ()),
    ("maildir:/x/%{domain}/%{username}", (), ALICE, "/x/example.org/alice", ()),
    ("maildir:%{home}/M", (), ALICE, "/home/alice/M", ()),
    ("maildir:/x/%{user | username}", (), ALICE, "/x/alice", ()),
    ("maildir:/x/%{user|domain|upper}", (), ALICE, "/x/EXAMPLE.ORG", ()),
    (
        "maildir:~/M:INDEX=~/idx/%n:CONTROL=/c/%u:INBOX=~/in",
        (),
        ALICE,
        "/home/alice/M",
        (
            ("mail_control_path", "/c/alice@example.org"),
            ("mail_inbox_path", "/home/alice/in"),
            ("mail_index_path", "/home/alice/idx/alice"),
        ),
    ),
    (
        "maildir:~/M:INDEX=MEMORY:LAYOUT=fs",
        (),
        ALICE,
        "/home/alice/M",
        (("mail_index_path", "MEMORY"), ("mailbox_list_layout", "fs")),
    ),
    (
        "imapc:~/imapc",
        ("imapc_user=%u", "imapc_password=p%zz~", "imapc_host=%d", "other=%u"),
        ALICE,
        "/home/alice/imapc",
        (
            ("imapc_host", "example.org"),
            ("imapc_password", "p%zz~"),
            ("imapc_user", "alice@example.org"),
            ("other", "%u"),
        ),
    ),
    ("imapc:", (), NOHOME, "", ()),
]


@pytest.mark.parametrize(("text", "overrides", "user", "path", "settings"), EXPAND)
def test_expand(
    text: str,
    overrides: tuple[str, ...],
    user: User,
    path: str,
    settings: tuple[tuple[str, str], ...],
) -> None:
    loc = expand_location(parse_location(text, overrides), user)
    assert loc == ML(parse_location(text, overrides).driver, path, settings)


@pytest.mark.parametrize(
    ("text", "user", "message"),
    [
        ("maildir:~/Maildir", NOHOME, "user 'nohome@x' has no home directory for '~' in location"),
        ("maildir:~", NOHOME, "no home directory for '~'"),
        ("maildir:/m:INDEX=~/i", NOHOME, "no home directory for '~'"),
        ("maildir:%h/M", NOHOME, "no home directory for '%h'"),
        ("maildir:%{home}/M", NOHOME, "no home directory for '%{home}'"),
        ("maildir:/x/%z", ALICE, "unknown variable '%z'"),
        ("maildir:/x/%Lz", ALICE, "unknown variable '%Lz'"),
        ("maildir:/x/%", ALICE, "unknown variable '%'"),
        ("maildir:/x/%{nope}", ALICE, "unknown variable %{nope}"),
        ("maildir:/x/%{user|reverse}", ALICE, "unknown variable filter 'reverse'"),
        ("maildir:/x/%{user", ALICE, "unterminated '%{'"),
        ("maildir:~no-such-user-mailbeam/M", ALICE, "'~no-such-user-mailbeam'"),
    ],
)
def test_expand_rejects(text: str, user: User, message: str) -> None:
    with pytest.raises(MailstoreError) as info:
        expand_location(parse_location(text), user)
    assert info.value.kind is Kind.PARAMS
    assert message in str(info.value)
    assert parse_location(text).path.replace(":", "::") in str(info.value)


def test_expand_other_system_users_home() -> None:
    me = pwd.getpwuid(os.getuid())
    loc = expand_location(parse_location(f"maildir:~{me.pw_name}/Maildir"), NOHOME)
    assert loc.path == f"{me.pw_dir.rstrip('/')}/Maildir"


def test_expand_error_hides_password() -> None:
    loc = parse_location("imapc:~/x", ["imapc_password=hunter2"])
    with pytest.raises(MailstoreError) as info:
        expand_location(loc, NOHOME)
    assert "hunter2" not in str(info.value)
