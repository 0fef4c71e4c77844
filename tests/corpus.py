"""A deterministic Maildir++ test corpus with the awkward cases Dovecot handles, and tree helpers.

``make_corpus(root, users)`` writes ``root/<user>/Maildir`` for each user and returns a manifest::

    {
        "user1": {
            "maildir": Path("root/user1/Maildir"),
            "subscriptions": ["Archive", "Archive.2024", "Entwürfe", "Gone", "INBOX", ...],
            "folders": {                       # every source folder, by UTF-8 name ('.' separator)
                "INBOX": {
                    "dir": "",                 # path under the Maildir ("" = the root)
                    "count": 7,
                    "uidlist": True,           # whether a dovecot-uidlist was written
                    "keywords": {"a": "$Junk", "b": "$Forwarded", "c": "project-x"},
                    "messages": [              # in the order Dovecot assigns UIDs
                        {
                            "file": "cur/1514764800.M123P4.mailbeam-corpus,S=321:2,FS",
                            "flags": ("$Junk", "\\\\Flagged", "\\\\Seen"),  # sorted IMAP names
                            "received": datetime(…, tzinfo=timezone.utc),  # = file mtime
                            "size": 321, "sha256": "…",          # the file's bytes
                            "size_lf": 315, "sha256_lf": "…",    # with CRLF -> LF, as Dovecot
                        },                                        # stores it when it saves
                    ],
                },
                "Empty": {"count": 0, ...},
                "Lonely.Child": {...},         # its parent "Lonely" has no directory
            },
        },
    }

Folders: INBOX, ``Archive``, ``Archive.2024``, ``Archive.2024.Q1``, ``Entwürfe``
(``.Entw&APw-rfe``), ``日本語``, ``📦 Boxes`` (a surrogate pair in mUTF-7), ``Empty`` and
``Lonely.Child``. All 32 combinations of the flag letters DFRST are spread over the messages;
keyword letters map to different names per folder; some files sit in ``new/`` (one with ``:2,S``);
mtimes are in the past and not in file-name order; three folders have a ``dovecot-uidlist`` whose
order differs from file-name order (one lists only part of its files); INBOX holds two
byte-identical messages and the only CRLF message; one message has no final newline. (All 32
flag combinations need the default ``messages_per_folder=6`` or more.)

One ``Archive`` file carries keyword letter ``z``, which its dovecot-keywords does not define:
Dovecot 2.3.19 does not ignore it but reports keyword ``unknown-25`` [obs]; so does the manifest.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "FOLDERS",
    "copy_tree",
    "encode_mutf7",
    "filename_sort_key",
    "make_corpus",
    "tree_fingerprint",
]

FOLDERS = (
    "INBOX",
    "Archive",
    "Archive.2024",
    "Archive.2024.Q1",
    "Entwürfe",
    "日本語",
    "📦 Boxes",
    "Empty",
    "Lonely.Child",
)
_EMPTY = {"Empty"}
# Folders with a dovecot-uidlist; the value is how many files it lists (None = all).
_UIDLIST = {"INBOX": None, "Archive.2024": 3, "日本語": None}
_KEYWORD_NAMES = ("$Junk", "$Forwarded", "project-x", "NonJunk")
_FLAG_LETTERS = "DFRST"
_FLAG_NAMES = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_HOST = "mailbeam-corpus"


def encode_mutf7(name: str) -> str:
    """RFC 3501 modified UTF-7 of one name (a corpus-private encoder, independent of mailstore)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def _storage_dir(vname: str) -> str:
    if vname == "INBOX":
        return ""
    return "." + ".".join(encode_mutf7(part) for part in vname.split("."))


def _body(rng: random.Random, folder: str, n: int, crlf: bool, final_newline: bool) -> bytes:
    texts = [
        "Grüße aus Köln — ½ Äpfel, naïve café.",
        "日本語のテキストです。メールの本文。",
        "Emoji: 📦✉️🚀 and ASCII after.",
        "Plain ASCII line with nothing special.",
    ]
    lines = [
        f"From: Sender {n} <sender{n}@example.org>",
        "To: rcpt@example.net",
        f"Subject: {folder} message {n} {rng.randrange(10**6)}",
        f"Message-ID: <{folder.encode().hex()}.{n}@corpus.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
    ]
    lines += [rng.choice(texts) for _ in range(1 + rng.randrange(4))]
    eol = "\r\n" if crlf else "\n"
    text = eol.join(lines) + (eol if final_newline else "")
    return text.encode("utf-8")


def _keyword_name(keywords: dict[str, str], letter: str) -> str:
    """The keyword Dovecot reports for a filename letter. A letter missing from dovecot-keywords
    is not ignored: Dovecot 2.3.19 reports it as keyword ``unknown-<index>`` [obs]."""
    return keywords.get(letter, f"unknown-{ord(letter) - ord('a')}")


def filename_sort_key(base: str) -> tuple[int, int, str]:
    """Dovecot's maildir_filename_sort_cmp for our names: seconds, then M-usecs, then strcmp."""
    secs, _, rest = base.partition(".")
    usecs = int(rest[1 : rest.index("P")]) if rest.startswith("M") else 0
    return int(secs), usecs, base


def make_corpus(
    root: Path, users: list[str], seed: int = 0, messages_per_folder: int = 6
) -> dict[str, Any]:
    """Write one Maildir++ source per user under ``root``; return the manifest (see module doc)."""
    manifest: dict[str, Any] = {}
    for u_idx, user in enumerate(users):
        rng = random.Random(f"{seed}/{user}")
        maildir = Path(root) / user / "Maildir"
        folders: dict[str, Any] = {}
        combo = u_idx * 7  # walks all 32 flag-letter subsets across the user's messages
        used_ts: set[int] = set()
        for f_idx, vname in enumerate(FOLDERS):
            fdir = maildir / _storage_dir(vname)
            for sub in ("cur", "new", "tmp"):
                (fdir / sub).mkdir(parents=True, exist_ok=True)
            if vname != "INBOX":
                (fdir / "maildirfolder").touch()
            keywords: dict[str, str] = {}
            if f_idx % 3 != 2:  # some folders have no keywords file at all
                names = _KEYWORD_NAMES[f_idx % 4 :] + _KEYWORD_NAMES[: f_idx % 4]
                keywords = {chr(ord("a") + i): kw for i, kw in enumerate(names[:3])}
                (fdir / "dovecot-keywords").write_text(
                    "".join(f"{ord(k) - ord('a')} {v}\n" for k, v in keywords.items())
                )
            count = 0 if vname in _EMPTY else messages_per_folder + (1 if vname == "INBOX" else 0)
            messages: list[dict[str, Any]] = []
            for n in range(count):
                crlf = vname == "INBOX" and n == 2
                data = _body(rng, vname, n, crlf, final_newline=not (vname == "Archive" and n == 0))
                if n == 0:
                    letters, kw_letters = "", ""  # plain delivery into new/
                elif n == 1:
                    letters, kw_letters = "S", ""  # flags in new/ (Dovecot does this too)
                elif vname == "INBOX" and n == count - 1:  # byte-identical twin of message 0
                    data, letters, kw_letters = messages[0]["_data"], "S", ""
                else:
                    letters = "".join(
                        c for bit, c in enumerate(_FLAG_LETTERS) if combo % 32 & (1 << bit)
                    )
                    combo += 1
                    kw_letters = "".join(k for k in sorted(keywords) if rng.random() < 0.4)
                    if vname == "Archive" and n == 2:
                        kw_letters += "z"  # a letter with no keyword: see _keyword_name
                while True:
                    ts = rng.randrange(1_300_000_000, 1_700_000_000)
                    if ts not in used_ts:
                        used_ts.add(ts)
                        break
                base = f"{ts}.M{rng.randrange(10**6)}P{rng.randrange(2, 99999)}.{_HOST}"
                if n % 2 == 0:
                    base += f",S={len(data)}"
                if n == 0:
                    sub, name = "new", base
                else:
                    sub, name = ("new" if n == 1 else "cur"), f"{base}:2,{letters}{kw_letters}"
                path = fdir / sub / name
                path.write_bytes(data)
                received = rng.randrange(1_000_000_000, 1_690_000_000)
                os.utime(path, (received, received))
                lf = data.replace(b"\r\n", b"\n")
                flags = [_FLAG_NAMES[c] for c in letters]
                flags += [_keyword_name(keywords, k) for k in kw_letters]
                messages.append(
                    {
                        "file": f"{sub}/{name}",
                        "flags": tuple(sorted(flags)),
                        "received": datetime.fromtimestamp(received, UTC),
                        "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "size_lf": len(lf),
                        "sha256_lf": hashlib.sha256(lf).hexdigest(),
                        "_base": base,
                        "_data": data,
                    }
                )
            messages.sort(key=lambda m: filename_sort_key(m["_base"]))
            has_uidlist = vname in _UIDLIST
            if has_uidlist and messages:
                messages = _write_uidlist(fdir, messages, _UIDLIST[vname], rng)
            for m in messages:
                del m["_base"], m["_data"]
            folders[vname] = {
                "dir": _storage_dir(vname),
                "count": len(messages),
                "uidlist": has_uidlist,
                "keywords": keywords,
                "messages": messages,
            }
        subscriptions = ["INBOX", "Archive", "Archive.2024", "Entwürfe", "Lonely.Child", "Gone"]
        (maildir / "subscriptions").write_text(
            "V\t2\n\n"
            + "".join(
                "\t".join(encode_mutf7(p) for p in s.split(".")) + "\n" for s in subscriptions
            )
        )
        manifest[user] = {
            "maildir": maildir,
            "folders": folders,
            "subscriptions": sorted(subscriptions),
        }
    return manifest


def _write_uidlist(
    fdir: Path, messages: list[dict[str, Any]], listed: int | None, rng: random.Random
) -> list[dict[str, Any]]:
    """Write a v3 dovecot-uidlist listing ``listed`` files (all if None) in reversed-then-shuffled
    order; return the messages in the UID order Dovecot will use (unlisted ones after, by name)."""
    listed_msgs = list(reversed(messages))[: len(messages) if listed is None else listed]
    rng.shuffle(listed_msgs)
    if [m["_base"] for m in listed_msgs] == sorted(m["_base"] for m in listed_msgs):
        listed_msgs.reverse()
    rest = [m for m in messages if m not in listed_msgs]
    uids, uid = [], 1
    for _ in listed_msgs:
        uid += rng.randrange(1, 4)  # gaps: expunged UIDs
        uids.append(uid)
    guid = hashlib.md5(str(fdir).encode()).hexdigest()
    lines = [f"3 V{1_600_000_000 + len(messages)} N{uids[-1] + 1} G{guid}\n"]
    lines += [f"{u} :{m['_base']}\n" for u, m in zip(uids, listed_msgs)]
    (fdir / "dovecot-uidlist").write_text("".join(lines))
    return listed_msgs + rest


def tree_fingerprint(path: Path) -> dict[str, tuple[Any, ...]]:
    """Relative path -> ("file", sha256, size, mtime_ns) | ("dir", mtime_ns) | ("link", target).

    Directory mtimes are included, so files created and removed again also show up.
    """
    root = Path(path)
    result: dict[str, tuple[Any, ...]] = {".": ("dir", root.stat().st_mtime_ns)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = str(full.relative_to(root))
            st = full.lstat()
            if full.is_symlink():
                result[rel] = ("link", os.readlink(full))
            elif full.is_dir():
                result[rel] = ("dir", st.st_mtime_ns)
            else:
                result[rel] = (
                    "file",
                    hashlib.sha256(full.read_bytes()).hexdigest(),
                    st.st_size,
                    st.st_mtime_ns,
                )
    return result


def copy_tree(src: Path, dst: Path) -> Path:
    """Copy ``src`` to the new directory ``dst``, keeping file and directory mtimes."""
    shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)
    return Path(dst)
