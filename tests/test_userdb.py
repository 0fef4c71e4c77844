"""Tables for the passwd-file userdb, system users and -F user files."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from mailstore.errors import Kind, MailstoreError
from mailstore.userdb import PasswdFile, User, read_user_file, system_user

PASSWD = """\
# a comment
alice@example.org:{PLAIN}secret:1000:1000::/home/alice::

bob:x:1001:1002:Bob Builder:/home/bob:/bin/sh:userdb_mail=maildir:~/Mail quota=1G
  # indented comment
carol
dave::::::
erin:pw:1003:1003::/home/erin::userdb_home=/srv/erin home=/srv/erin2
frank:pw:::::: userdb_uid=2000 gid=2001 flag
alice@example.org:dup:9:9::/dup
Alice2@Example.org:pw:1004:1004::/home/a2
"""


@pytest.fixture()
def passwd(tmp_path: Path) -> PasswdFile:
    path = tmp_path / "users"
    path.write_text(PASSWD, encoding="utf-8")
    return PasswdFile(str(path))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "alice@example.org",
            User("alice@example.org", 1000, 1000, "/home/alice"),
        ),
        (
            "bob",
            User(
                "bob",
                1001,
                1002,
                "/home/bob",
                (("mail", "maildir:~/Mail"), ("quota", "1G")),
            ),
        ),
        ("carol", User("carol")),
        ("dave", User("dave")),
        (
            "erin",
            User("erin", 1003, 1003, "/srv/erin2", (("home", "/srv/erin"), ("home", "/srv/erin2"))),
        ),
        (
            "frank",
            User("frank", 2000, 2001, None, (("uid", "2000"), ("gid", "2001"), ("flag", ""))),
        ),
    ],
)
def test_lookup(passwd: PasswdFile, name: str, expected: User) -> None:
    assert passwd.lookup(name) == expected


def test_users_in_file_order_first_duplicate_wins(passwd: PasswdFile) -> None:
    names = [u.name for u in passwd.users()]
    assert names == [
        "alice@example.org",
        "bob",
        "carol",
        "dave",
        "erin",
        "frank",
        "Alice2@Example.org",
    ]
    assert passwd.lookup("alice@example.org").uid == 1000


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ("*", ["alice@example.org", "bob", "carol", "dave", "erin", "frank", "Alice2@Example.org"]),
        ("*@example.org", ["alice@example.org", "Alice2@Example.org"]),
        ("alice*", ["alice@example.org", "Alice2@Example.org"]),
        ("?ob", ["bob"]),
        ("????", ["dave", "erin"]),
        ("b*b", ["bob"]),
        ("zz*", []),
        ("bob", ["bob"]),
        ("[b]ob*", []),
    ],
)
def test_match(passwd: PasswdFile, mask: str, expected: list[str]) -> None:
    assert [u.name for u in passwd.match(mask)] == expected


@pytest.mark.parametrize("name", ["nobody-here", "Bob", "bob ", "", "alice"])
def test_lookup_rejects_unknown(passwd: PasswdFile, name: str) -> None:
    with pytest.raises(MailstoreError) as info:
        passwd.lookup(name)
    assert info.value.kind is Kind.NOUSER
    assert str(info.value) == f"user {name!r} not found in passwd-file {passwd.path}"


def test_match_without_wildcard_is_lookup(passwd: PasswdFile) -> None:
    with pytest.raises(MailstoreError) as info:
        passwd.match("nobody")
    assert info.value.kind is Kind.NOUSER


@pytest.mark.parametrize(
    ("name", "username", "domain"),
    [
        ("alice@example.org", "alice", "example.org"),
        ("bob", "bob", ""),
        ("a@b@c", "a", "b@c"),
        ("@x", "", "x"),
        ("y@", "y", ""),
    ],
)
def test_username_and_domain(name: str, username: str, domain: str) -> None:
    user = User(name)
    assert (user.username, user.domain) == (username, domain)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (":x:1:1::/h\n", "line 1: empty user name"),
        ("ok\nbad:x:abc-not-a-user:1\n", "line 2: uid 'abc-not-a-user'"),
        ("bad:x:1:no-such-group-xyz\n", "line 1: gid 'no-such-group-xyz'"),
        ("bad:x:1:1::/h::=value\n", "extra field '=value' has no name"),
        ("bad:x:1:1::/h::uid=-5\n", "uid '-5'"),
    ],
)
def test_malformed_lines_rejected(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "users"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MailstoreError) as info:
        PasswdFile(str(path))
    assert info.value.kind is Kind.INVALIDDATA
    assert str(path) in str(info.value)
    assert reason in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(MailstoreError) as info:
        PasswdFile(str(path))
    assert info.value.kind is Kind.NOTFOUND
    assert str(path) in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_bytes(b"caf\xe9:x\n")
    with pytest.raises(MailstoreError) as info:
        PasswdFile(str(path))
    assert info.value.kind is Kind.INVALIDDATA


def test_uid_by_name(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid())
    path = tmp_path / "users"
    path.write_text(f"u:x:{me.pw_name}:\n", encoding="utf-8")
    assert PasswdFile(str(path)).lookup("u") == User("u", me.pw_uid, None, None)


def test_system_user() -> None:
    me = pwd.getpwuid(os.getuid())
    user = system_user(me.pw_name)
    assert (user.name, user.uid, user.gid, user.home) == (
        me.pw_name,
        me.pw_uid,
        me.pw_gid,
        me.pw_dir,
    )


def test_system_user_rejects_unknown() -> None:
    with pytest.raises(MailstoreError) as info:
        system_user("no-such-user-mailbeam")
    assert info.value.kind is Kind.NOUSER
    assert "no-such-user-mailbeam" in str(info.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", []),
        ("a\nb\n", ["a", "b"]),
        ("  a  \n\n\t\nb@x.org\r\n", ["a", "b@x.org"]),
        ("only", ["only"]),
    ],
)
def test_read_user_file(tmp_path: Path, content: str, expected: list[str]) -> None:
    path = tmp_path / "list"
    path.write_text(content, encoding="utf-8", newline="")
    assert read_user_file(str(path)) == expected


def test_read_user_file_missing(tmp_path: Path) -> None:
    with pytest.raises(MailstoreError) as info:
        read_user_file(str(tmp_path / "none"))
    assert info.value.kind is Kind.NOTFOUND
    assert "none" in str(info.value)


def test_permission_error_maps_to_perm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Works as root too, where chmod 0 does not stop reads.
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(MailstoreError) as info:
        PasswdFile(str(tmp_path / "users"))
    assert info.value.kind is Kind.PERM
    assert str(tmp_path / "users") in str(info.value)
