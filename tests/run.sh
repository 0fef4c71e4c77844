#!/usr/bin/env bash
# Install what the tests need and run them: bash tests/run.sh [PYTEST ARGS...]
#
# - Debian's dovecot-imapd (doveadm), when running as root and doveadm is missing.
# - A venv in .venv (MAILBEAM_VENV to change) made with python3 (PYTHON to change), with
#   `pip install -e '.[test]'`; reinstalled only when pyproject.toml is newer than the last install.
#   MAILBEAM_PYTHON=/path/to/python skips both and uses that interpreter as it is.
# - pytest exit code 5 ("no tests collected") is turned into a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

install_dovecot() {
    command -v doveadm >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: doveadm not found; the Dovecot tests will be skipped" \
             "(as root on Debian this script installs dovecot-imapd)" >&2
        return 0
    fi
    echo "run.sh: installing dovecot-imapd" >&2
    # Do not let the package start a system Dovecot (nor fail when it cannot start): the tests
    # start their own private instance. Keep an existing policy-rc.d.
    local policy=/usr/sbin/policy-rc.d added=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null
    if [ -n "$added" ]; then rm -f "$policy"; fi
}

python_for_tests() {
    if [ -n "${MAILBEAM_PYTHON:-}" ]; then
        echo "$MAILBEAM_PYTHON"
        return
    fi
    local venv="${MAILBEAM_VENV:-.venv}"
    local stamp="$venv/.mailbeam-installed"
    if [ ! -x "$venv/bin/python" ]; then
        "${PYTHON:-python3}" -m venv "$venv" >&2
    fi
    if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "run.sh: pip install -e '.[test]' into $venv" >&2
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' >&2
        touch "$stamp"
    fi
    echo "$venv/bin/python"
}

install_dovecot
python="$(python_for_tests)"

rc=0
"$python" -m pytest "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "run.sh: pytest collected no tests; treating that as a failure" >&2
    exit 1
fi
exit "$rc"
