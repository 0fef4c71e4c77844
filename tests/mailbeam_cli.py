"""Running the real ``mailbeam`` command from tests (a separate process, as a user would)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["MAILBEAM", "mailbeam", "mailbeam_popen"]

#: The console script installed next to this interpreter, else ``python -m pipeline``.
_SCRIPT = Path(sys.executable).parent / "mailbeam"
MAILBEAM = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pipeline"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def mailbeam(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``mailbeam ARGS…`` to the end; stdout and stderr captured as text."""
    return subprocess.run(
        [*MAILBEAM, *args], check=False, capture_output=True, text=True, cwd=cwd, env=_env(),
        timeout=timeout,
    )


def mailbeam_popen(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start ``mailbeam ARGS…`` in the background (for kill-and-resume tests)."""
    return subprocess.Popen(
        [*MAILBEAM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=cwd, env=_env(),
    )
