"""Benchmark: ``mailbeam import`` against ``doveadm import`` on the same generated Maildir++ source.

    python bench/bench_import.py [--messages 20000] [--folders 12] [--runner direct] [--keep]
                                 [--seed 1] [--json FILE]

Steps (see bench/README.md for the fairness notes):

1. Generate a deterministic Maildir++ source (``--messages`` files, sizes 1-30 KB averaging about
   7 KB, realistic headers, text bodies, some multipart; nested folders and one mUTF-7 name; flag
   letters and keywords; mtimes in the past) under one temp dir ``/tmp/mailbeam-bench-*`` (0755).
2. Start a private Dovecot (``tests/dovecot.py``) with two users.
3. Time ``doveadm import -u bench-doveadm maildir:<copy owned by the mail uid> "" ALL`` and
   ``mailbeam import ... -u bench-mailbeam maildir:<source> "" ALL`` as subprocesses (wall clock),
   each started with the source warm in the page cache and no dirty pages pending; record each
   one's peak RSS (the largest VmHWM of any one process) and the peak sum of RSS over its process
   tree, both polled from /proc.
4. Check that both destinations hold the same number of messages per mailbox (and the generated
   count); exit 1 loudly if not.
5. Print a table; ``--json FILE`` writes the numbers.
6. Remove the temp dir unless ``--keep``; Dovecot is always stopped.

Not a test: nothing here asserts speed. Run it with the project's venv interpreter.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from corpus import encode_mutf7
from dovecot import DovecotServer
from mailbeam_cli import MAILBEAM

RATIO_TARGET = 2.0
RATIO_GOAL = 0.67
DOVEADM_USER = "bench-doveadm"
MAILBEAM_USER = "bench-mailbeam"

# Folder names (UTF-8, '.' = hierarchy) with their share of the messages. The first twelve are used
# by default; "Entwürfe" (mUTF-7 ``.Entw&APw-rfe``) is always included.
_FOLDERS: list[tuple[str, int]] = [
    ("INBOX", 24),
    ("Archive", 10),
    ("Archive.2023", 14),
    ("Archive.2024", 12),
    ("Archive.2024.Q1", 8),
    ("Sent", 10),
    ("Entwürfe", 3),
    ("Lists", 2),
    ("Lists.dovecot", 7),
    ("Trash", 4),
    ("Junk", 3),
    ("Drafts", 3),
    ("Projects", 2),
    ("Projects.Alpha", 3),
    ("Projects.Beta", 3),
    ("Receipts", 2),
]
_KEYWORDS = ["$Forwarded", "$Junk", "$NotJunk", "project-x", "$label1"]

_WORDS = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "they", "you", "were", "her", "she", "there", "one", "all", "we", "their", "can", "has", "more", "will", "would", "if", "been", "mail", "server", "backup", "restore", "mailbox", "folder", "message", "import", "export", "dovecot", "index", "quota", "storage", "meeting", "agenda", "report", "budget", "invoice", "deadline", "review", "schedule", "project", "release", "update", "patch", "customer", "support", "ticket", "please", "thanks", "regards", "attached", "draft", "proposal", "contract", "summary", "notes", "tomorrow", "yesterday", "monday", "friday", "morning", "afternoon", "office", "team", "manager", "request", "approve", "cluster", "node", "replica", "latency", "throughput", "benchmark", "pipeline", "checkpoint", "resume", "retry", "durable"]
_NAMES = [
    "Alice Martin", "Bob Schneider", "Carol Nguyen", "David Okafor", "Eva Lindqvist",
    "Frank Müller", "Grace Hopper", "Hiro Tanaka", "Ines García", "Jonas Weber", "Kim Park",
    "Lena Fischer", "Mehmet Yılmaz", "Nora Jensen", "Omar Haddad", "Priya Raman",
]
_DOMAINS = ["example.org", "example.net", "example.com", "mail.example.de", "lists.example.org"]


# -- source generation ---------------------------------------------------------------------------


def _storage_dir(name: str) -> str:
    """Maildir++ directory of a folder ("" for INBOX)."""
    if name == "INBOX":
        return ""
    return "." + ".".join(encode_mutf7(part) for part in name.split("."))


def _choose_folders(count: int) -> list[tuple[str, int]]:
    if count < 2:
        raise SystemExit("--folders must be at least 2 (INBOX and the mUTF-7 folder)")
    chosen = [f for f in _FOLDERS if f[0] in ("INBOX", "Entwürfe")]
    for folder in _FOLDERS:
        if len(chosen) >= count:
            break
        if folder not in chosen:
            chosen.append(folder)
    n = 1
    while len(chosen) < count:  # more than the table: plain extra folders
        chosen.append((f"Extra.Folder{n}", 2))
        n += 1
    return chosen


class _TextPool:
    """Precomputed text (wrapped lines of words) and base64 lines, sliced to make bodies fast."""

    def __init__(self, rng: random.Random) -> None:
        lines: list[str] = []
        total = 0
        while total < 1_500_000:
            words: list[str] = []
            width = 0
            target = rng.randrange(40, 76)
            while width < target:
                w = rng.choice(_WORDS)
                words.append(w)
                width += len(w) + 1
            line = " ".join(words)
            if rng.random() < 0.08:
                line = ""  # paragraph break
            lines.append(line)
            total += len(line) + 1
        self.text = ("\n".join(lines) + "\n").encode()
        raw = rng.randbytes(600_000)
        b64 = base64.encodebytes(raw)  # 76-column lines, LF
        self.b64 = b64

    def text_slice(self, rng: random.Random, size: int) -> bytes:
        return self._slice(self.text, rng, size)

    def b64_slice(self, rng: random.Random, size: int) -> bytes:
        return self._slice(self.b64, rng, size)

    @staticmethod
    def _slice(pool: bytes, rng: random.Random, size: int) -> bytes:
        size = max(1, min(size, len(pool) // 2))
        start = pool.find(b"\n", rng.randrange(len(pool) - size - 100)) + 1
        end = pool.rfind(b"\n", start, start + size)  # whole lines, at most ``size`` bytes
        if end < 0:
            end = pool.find(b"\n", start)
        return pool[start : end + 1]


def _target_size(rng: random.Random) -> int:
    # Lognormal, mean about 7000 bytes after clipping to 1-30 KiB.
    return int(min(30 * 1024 - 80, max(1100, rng.lognormvariate(8.62, 0.72))))


def _message(rng: random.Random, pool: _TextPool, n: int, folder: str, when: int) -> bytes:
    target = _target_size(rng)
    sender = rng.choice(_NAMES)
    s_dom = rng.choice(_DOMAINS)
    s_addr = sender.split()[0].lower() + "@" + s_dom
    rcpt = rng.choice(_NAMES)
    r_addr = rcpt.split()[0].lower() + "@" + rng.choice(_DOMAINS)
    date = datetime.fromtimestamp(when, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    subject = " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(3, 9))).capitalize()
    if rng.random() < 0.2:
        subject = "Re: " + subject
    msgid = f"<{when:x}.{n}.{rng.randrange(1 << 32):08x}@{s_dom}>"
    head = [
        f"Return-Path: <{s_addr}>",
        f"Delivered-To: {r_addr}",
        f"Received: from mx{rng.randrange(1, 9)}.{s_dom} (mx.{s_dom} [192.0.2.{rng.randrange(1, 255)}])",
        f"\tby mail.example.net (Postfix) with ESMTPS id {rng.randrange(1 << 40):010X}",
        f"\tfor <{r_addr}>; {date}",
        f"Received: from [10.0.{rng.randrange(256)}.{rng.randrange(256)}] by smtp.{s_dom}",
        f"\twith ESMTPSA; {date}",
        f"Date: {date}",
        f"From: {sender} <{s_addr}>",
        f"To: {rcpt} <{r_addr}>",
    ]
    if rng.random() < 0.3:
        cc = rng.choice(_NAMES)
        head.append(f"Cc: {cc} <{cc.split()[0].lower()}@{rng.choice(_DOMAINS)}>")
    head += [f"Subject: {subject}", f"Message-ID: {msgid}"]
    if subject.startswith("Re: "):
        ref = f"<{rng.randrange(1 << 48):x}@{s_dom}>"
        head += [f"In-Reply-To: {ref}", f"References: {ref}"]
    if folder.startswith("Lists"):
        head += [
            "List-Id: Dovecot Mailing List <dovecot.dovecot.org>",
            "List-Unsubscribe: <mailto:dovecot-leave@dovecot.org>",
            "Precedence: list",
        ]
    head += ["MIME-Version: 1.0", f"X-Mailer: BenchMailer {rng.randrange(1, 9)}.{rng.randrange(10)}"]
    kind = rng.random()
    mime_head = 60 if kind < 0.22 else 85  # the Content-Type lines still to come
    budget = max(200, target - sum(len(h) + 1 for h in head) - 1 - mime_head)
    if kind < 0.12:  # multipart/mixed with a base64 attachment
        boundary = f"=_mixed_{n}_{rng.randrange(1 << 32):08x}"
        text_part = pool.text_slice(rng, max(100, budget // 4))
        att = pool.b64_slice(rng, max(100, budget - len(text_part) - 420))
        head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
        body = b"".join([
            b"This is a multi-part message in MIME format.\n\n",
            f"--{boundary}\n".encode(),
            b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
            text_part,
            f"\n--{boundary}\n".encode(),
            f'Content-Type: application/octet-stream; name="file{n}.bin"\n'.encode(),
            b"Content-Transfer-Encoding: base64\n",
            f'Content-Disposition: attachment; filename="file{n}.bin"\n\n'.encode(),
            att,
            f"\n--{boundary}--\n".encode(),
        ])
    elif kind < 0.22:  # multipart/alternative, text + html
        boundary = f"=_alt_{n}_{rng.randrange(1 << 32):08x}"
        text_part = pool.text_slice(rng, max(100, (budget - 300) // 2 - 30))
        html = (
            b"<html><body><p>"
            + text_part.replace(b"\n\n", b"</p>\n<p>")
            + b"</p></body></html>\n"
        )
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        body = b"".join([
            f"--{boundary}\n".encode(),
            b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
            text_part,
            f"\n--{boundary}\n".encode(),
            b"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
            html,
            f"\n--{boundary}--\n".encode(),
        ])
    else:
        head += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        body = pool.text_slice(rng, budget)
    return ("\n".join(head) + "\n\n").encode() + body


def _flags(rng: random.Random, folder: str, keywords: bool) -> str:
    letters = set()
    if folder == "Drafts":
        letters.add("D")
    elif folder == "Sent" or rng.random() < 0.75:
        letters.add("S")
    if rng.random() < 0.08:
        letters.add("R")
    if rng.random() < 0.04:
        letters.add("F")
    if rng.random() < 0.02:
        letters.add("P")
    if folder == "Trash" and rng.random() < 0.3:
        letters.add("T")
    if keywords:
        for i in range(len(_KEYWORDS)):
            if rng.random() < 0.05:
                letters.add(chr(ord("a") + i))
    return "".join(sorted(letters))  # uppercase (system) before lowercase (keywords), as Dovecot


@dataclass
class Source:
    maildir: Path
    counts: dict[str, int]
    messages: int
    bytes: int
    files: list[Path] = field(repr=False)


def generate_source(root: Path, messages: int, folder_count: int, seed: int) -> Source:
    """Write a Maildir++ tree at ``root``; return its counts per folder and total size."""
    rng = random.Random(seed)
    pool = _TextPool(rng)
    folders = _choose_folders(folder_count)
    weights = [w for _, w in folders]
    assignment = rng.choices(range(len(folders)), weights=weights, k=messages)
    for i in range(len(folders)):  # every folder gets at least one message
        if i < messages:
            assignment[i] = i
    root.mkdir(parents=True)
    dirs: list[Path] = []
    for idx, (name, _) in enumerate(folders):
        d = root / _storage_dir(name)
        for sub in ("cur", "new", "tmp"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        if name != "INBOX":
            (d / "maildirfolder").touch()
        if idx % 3 == 0:  # keywords in every third folder
            (d / "dovecot-keywords").write_text(
                "".join(f"{i} {kw}\n" for i, kw in enumerate(_KEYWORDS))
            )
        dirs.append(d)
    (root / "subscriptions").write_text("".join(f"{name}\n" for name, _ in folders))

    now = int(time.time())
    start = now - 3 * 365 * 86400
    step = max(1, (now - 86400 - start) // max(1, messages))
    counts = {name: 0 for name, _ in folders}
    files: list[Path] = []
    total = 0
    for n, fidx in enumerate(assignment):
        name = folders[fidx][0]
        when = start + n * step + rng.randrange(step)
        data = _message(rng, pool, n, name, when)
        flags = _flags(rng, name, keywords=fidx % 3 == 0)
        base = f"{when}.M{n % 1_000_000}P{4242 + n // 1_000_000}.benchhost,S={len(data)}"
        path = dirs[fidx] / "cur" / f"{base}:2,{flags}"
        with open(path, "wb") as f:
            f.write(data)
        # Received date in the past, not equal to the name's second (a realistic backup).
        mtime = when + rng.randrange(0, 120)
        os.utime(path, (mtime, mtime))
        counts[name] += 1
        files.append(path)
        total += len(data)
    return Source(root, counts, messages, total, files)


def warm(paths: Sequence[Path]) -> None:
    """Read every file once (into the page cache), like ``cat … > /dev/null``."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass


def tree_files(root: Path) -> list[Path]:
    return [Path(d) / n for d, _, names in os.walk(root) for n in names]


# -- timed runs ----------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    seconds: float
    exit_code: int
    peak_rss_mb: float  # largest VmHWM of any process in the tree, polled
    peak_tree_rss_mb: float  # largest sum of RSS over the live tree, polled
    output: str = field(repr=False, default="")


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    kids.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def _tree_memory(root: int) -> tuple[int, int]:
    """(sum of VmRSS, largest VmHWM) in kB over the live process tree under ``root``."""
    total = 0
    largest = 0
    todo = [root]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                largest = max(largest, int(line.split()[1]))
        todo.extend(_children(pid))
    return total, largest


def timed(name: str, cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` to the end; wall clock, peak RSS of one process and of the whole tree.

    Memory is polled from /proc, not taken from ``wait4``'s ``ru_maxrss``: a child forked from
    this (large) Python process inherits its RSS high-water mark, and Linux carries it across
    ``exec``, so ``ru_maxrss`` would report this script's size for a small child like doveadm.
    ``VmHWM`` belongs to the exec'd image, so polling it only misses growth in a process's last
    poll interval (50 ms) and processes that live shorter than that.
    """
    log = open(cwd / f"{name}.log", "w+b")  # noqa: SIM115 - closed below
    peak_sum = [0]
    peak_one = [0]
    done = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )

    def poll() -> None:
        while not done.is_set():
            total, largest = _tree_memory(proc.pid)
            peak_sum[0] = max(peak_sum[0], total)
            peak_one[0] = max(peak_one[0], largest)
            done.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    proc.wait()
    seconds = time.perf_counter() - t0
    done.set()
    poller.join()
    log.seek(0)
    output = log.read().decode(errors="replace")
    log.close()
    return Run(
        name=name,
        seconds=seconds,
        exit_code=proc.returncode,
        peak_rss_mb=peak_one[0] / 1024,
        peak_tree_rss_mb=peak_sum[0] / 1024,
        output=output,
    )


def _source_in_format(server: DovecotServer, src: Source, fmt: str) -> tuple[str, str, Path]:
    """(mailbeam's source location, doveadm's location of its own copy, that copy's root).

    For a format other than Maildir, Dovecot itself converts the generated Maildir first (with
    ``doveadm import`` into a user whose storage is ``fmt``); that time is not measured.
    """
    if fmt == "maildir":
        copy = server.copy_for(DOVEADM_USER, src.maildir)
        return f"maildir:{src.maildir}", f"maildir:{copy}", copy
    user = server.add_user(f"bench-{fmt}")
    root = user.home / ("mail" if fmt == "mbox" else fmt)
    suffix = f":INBOX={root}/inbox" if fmt == "mbox" else ""
    location = f"{fmt}:{root}{suffix}"
    t = time.perf_counter()
    convert = server.doveadm("-o", f"mail_location={location}", "import", "-u", user.name,
                             f"maildir:{server.copy_for(user.name, src.maildir)}", "", "ALL",
                             check=False)
    if convert.returncode not in (0, 65):  # 65: mbox refuses children of a mailbox file
        raise SystemExit(f"converting to {fmt} failed:\n{convert.stderr.decode()[-2000:]}")
    print(f"converted to {fmt} with doveadm in {time.perf_counter() - t:.1f} s", flush=True)
    copy = server.copy_for(DOVEADM_USER, root)
    copy_suffix = f":INBOX={copy}/inbox" if fmt == "mbox" else ""
    return location, f"{fmt}:{copy}{copy_suffix}", copy


def _mailbeam_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def mailbox_counts(server: DovecotServer, user: str) -> dict[str, int]:
    out = server.doveadm("-f", "tab", "mailbox", "status", "-u", user, "messages", "*").stdout
    counts: dict[str, int] = {}
    for line in out.decode().splitlines()[1:]:
        name, _, count = line.rpartition("\t")
        counts[name] = int(count)
    return counts


# -- main ----------------------------------------------------------------------------------------


def _fmt_table(src: Source, d: Run, m: Run) -> str:
    mb = src.bytes / 1e6
    ratio = m.seconds / d.seconds
    rows = [
        ("messages", f"{src.messages}", ""),
        ("source size", f"{mb:.1f} MB", f"({src.bytes / src.messages / 1000:.1f} kB/msg avg)"),
        ("", "doveadm import", "mailbeam import"),
        ("wall clock", f"{d.seconds:.2f} s", f"{m.seconds:.2f} s"),
        ("throughput", f"{src.messages / d.seconds:.0f} msg/s", f"{src.messages / m.seconds:.0f} msg/s"),
        ("", f"{mb / d.seconds:.1f} MB/s", f"{mb / m.seconds:.1f} MB/s"),
        ("peak RSS (1 proc)", f"{d.peak_rss_mb:.0f} MB", f"{m.peak_rss_mb:.0f} MB"),
        ("peak RSS (tree)", f"{d.peak_tree_rss_mb:.0f} MB", f"{m.peak_tree_rss_mb:.0f} MB"),
    ]
    lines = [f"{a:<20}{b:>18}{c:>20}" for a, b, c in rows]
    verdict = "meets goal" if ratio <= RATIO_GOAL else (
        "within target" if ratio <= RATIO_TARGET else "MISSES target")
    lines.append(
        f"{'ratio':<20}{'mailbeam/doveadm':>18}{ratio:>19.2f}x  "
        f"(target <= {RATIO_TARGET}, goal <= {RATIO_GOAL}: {verdict})"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--folders", type=int, default=12)
    ap.add_argument("--runner", default="direct", help="mailbeam --runner (default direct)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--json", metavar="FILE", help="write the numbers here")
    ap.add_argument("--format", default="maildir",
                    choices=["maildir", "mbox", "sdbox", "mdbox", "imapc"],
                    help="source format: the generated Maildir, Dovecot's conversion of it, or "
                    "imapc (the Maildir served by the private Dovecot over IMAP)")
    ap.add_argument("--dest", default="maildir", choices=["maildir", "imap"],
                    help="mailbeam's destination: the user's Maildir, or the private Dovecot over "
                    "IMAP (doveadm import writes the Maildir either way: the baseline)")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="mailbeam-bench-", dir="/tmp"))
    os.chmod(work, 0o755)
    server = DovecotServer(base=work / "dovecot")
    failed = False
    try:
        t = time.perf_counter()
        src = generate_source(work / "source" / "Maildir", args.messages, args.folders, args.seed)
        os.chmod(work / "source", 0o755)
        print(
            f"generated {src.messages} messages, {src.bytes / 1e6:.1f} MB, "
            f"{len(src.counts)} folders in {time.perf_counter() - t:.1f} s under {work}",
            flush=True,
        )
        server.start()
        server.add_user(DOVEADM_USER)
        mb_user = server.add_user(MAILBEAM_USER)
        password = work / "password"
        password.write_text("pw\n")
        imap_options: list[str] = []
        if args.format == "imapc":
            served = server.add_user("bench-imapsrc")
            shutil.copytree(src.maildir, served.maildir, copy_function=shutil.copy2)
            server.give_to(served.name, served.home)
            copy = served.maildir
            imapc = {"imapc_host": "127.0.0.1", "imapc_port": str(server.imap_port),
                     "imapc_user": served.name}
            source_location = copy_location = "imapc:"
            doveadm_options = [f"-o{k}={v}" for k, v in {**imapc, "imapc_password": "pw"}.items()]
            imap_options = [f"-p{k}={v}" for k, v in imapc.items()]
            imap_options.append(f"-pimapc_password_file={password}")
        else:
            source_location, copy_location, copy = _source_in_format(server, src, args.format)
            doveadm_options = []
        if args.dest == "imap":
            imap_options += ["--dest", f"imap://127.0.0.1:{server.imap_port}", "--dest-insecure",
                             "--dest-password-file", str(password)]

        doveadm_cmd = [
            "doveadm", "-c", str(server.config_path), *doveadm_options,
            "import", "-u", DOVEADM_USER, copy_location, "", "ALL",
        ]
        mailbeam_cmd = [
            *MAILBEAM, "import",
            "--userdb", f"passwd-file:{server.passwd_file}",
            "-u", MAILBEAM_USER,
            "--state-dir", str(work / "state"),
            "--progress", "none",
            "--runner", args.runner,
            *imap_options,
            source_location, "", "ALL",
        ]

        # Same start for both: no dirty pages waiting to be flushed, their input in the cache.
        copy_files = tree_files(copy)
        os.sync()
        warm(copy_files)
        print("running doveadm import ...", flush=True)
        d = timed("doveadm", doveadm_cmd, work)
        if d.exit_code != 0:
            raise SystemExit(f"doveadm import failed ({d.exit_code}):\n{d.output[-3000:]}")

        os.sync()
        warm(tree_files(copy if args.format == "imapc" else Path(source_location.split(":")[1])))
        print(f"  {d.seconds:.2f} s; running mailbeam import --runner {args.runner} ...",
              flush=True)
        m = timed("mailbeam", mailbeam_cmd, work, env=_mailbeam_env())
        if m.exit_code != 0:
            raise SystemExit(f"mailbeam import failed ({m.exit_code}):\n{m.output[-3000:]}")
        print(f"  {m.seconds:.2f} s", flush=True)

        # Correctness, briefly: the same counts per mailbox in both destinations.
        server.give_to(MAILBEAM_USER, mb_user.maildir)  # a no-op unless something is root-owned
        got_d = mailbox_counts(server, DOVEADM_USER)
        # A converted source holds what Dovecot could store in that format (an mbox mailbox is
        # a file: it cannot have child mailboxes), so doveadm's result is the reference there.
        expected = dict(src.counts) if args.format == "maildir" else dict(got_d)
        got_m = mailbox_counts(server, MAILBEAM_USER)
        if got_d != got_m or got_d != expected:
            failed = True
            names = sorted(set(got_d) | set(got_m) | set(expected))
            print("\nMISMATCH in messages per mailbox (generated / doveadm / mailbeam):",
                  file=sys.stderr)
            for name in names:
                row = (expected.get(name), got_d.get(name), got_m.get(name))
                mark = "" if len(set(row)) == 1 else "   <-- differs"
                print(f"  {name!r:28} {row[0]!s:>7} {row[1]!s:>7} {row[2]!s:>7}{mark}",
                      file=sys.stderr)
            return 1
        print(f"verified: {len(got_d)} mailboxes, same message counts in both destinations\n")

        # A converted source may hold fewer messages (mbox: no children under a mailbox file).
        src = replace(src, messages=sum(got_d.values())) if args.format != "maildir" else src
        print(_fmt_table(src, d, m))
        if args.json:
            data = {
                "messages": src.messages,
                "bytes": src.bytes,
                "folders": len(src.counts),
                "runner": args.runner,
                "format": args.format,
                "dest": args.dest,
                "seed": args.seed,
                "doveadm": {k: v for k, v in asdict(d).items() if k != "output"},
                "mailbeam": {k: v for k, v in asdict(m).items() if k != "output"},
                "doveadm_msgs_per_s": src.messages / d.seconds,
                "mailbeam_msgs_per_s": src.messages / m.seconds,
                "ratio": m.seconds / d.seconds,
                "ratio_target": RATIO_TARGET,
                "ratio_goal": RATIO_GOAL,
                "counts": got_d,
            }
            Path(args.json).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return 0
    except BaseException:
        failed = True
        raise
    finally:
        server.stop()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
        if failed and not args.keep:
            print("(re-run with --keep to inspect the trees and logs)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
