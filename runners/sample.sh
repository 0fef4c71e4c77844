#!/usr/bin/env bash
# Run mailbeam's main job on the bundled sample: a generated backup of three users (nested and
# non-ASCII folders, every flag, keywords, new/ and cur/, dovecot-uidlist on some folders) is
# imported with the local runner into sample-restore/ under the checkout, and the report printed.
# Run it twice: the second run finds the job complete and copies nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

if [ ! -x .venv/bin/mailbeam ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[test]'
fi
py=.venv/bin/python

out=$top/sample-restore
if [ ! -d "$out/backup" ]; then
    mkdir -p "$out/home"
    "$py" - "$out" <<'PY'
import sys
from pathlib import Path

sys.path.insert(0, ".")
from tests.corpus import make_corpus

out = Path(sys.argv[1])
users = ["alice", "bob", "carol@example.org"]
make_corpus(out / "backup", users, seed=7)
uid, gid = 1000, 1000
lines = [f"{u}::{uid}:{gid}::{out / 'home' / u}::" for u in users]
(out / "users").write_text("\n".join(lines) + "\n")
PY
fi

set +e
.venv/bin/mailbeam import --userdb "passwd-file:$out/users" -A -s \
    --state-dir "$out/state" --dest "maildir:~/Maildir" --progress log \
    "maildir:$out/backup/%u/Maildir" Restored ALL
code=$?
set -e
job=$(ls "$out/state")
cat "$out/state/$job/report.json"
echo
echo "sample: exit code $code; restored mail is under $out/home/<user>/Maildir"
exit $code
