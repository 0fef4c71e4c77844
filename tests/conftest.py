"""Shared fixtures: the session's private Dovecot (see tests/dovecot.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from dovecot import DovecotServer

_NO_DOVEADM = (
    "doveadm not found: install Debian's dovecot-imapd to run the end-to-end tests against "
    "the real Dovecot (.ci/run does)"
)


def _dovecot_required() -> bool:
    return os.environ.get("MAILBEAM_REQUIRE_DOVECOT", "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip @pytest.mark.dovecot tests without doveadm, unless MAILBEAM_REQUIRE_DOVECOT=1."""
    if shutil.which("doveadm") is not None or _dovecot_required():
        return
    skip = pytest.mark.skip(reason=_NO_DOVEADM)
    for item in items:
        if item.get_closest_marker("dovecot") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A running private Dovecot, shared by the session; add users with a unique name per test."""
    if shutil.which("doveadm") is None:
        if _dovecot_required():
            pytest.fail(f"MAILBEAM_REQUIRE_DOVECOT is set but {_NO_DOVEADM}", pytrace=False)
        pytest.skip(_NO_DOVEADM)
    with DovecotServer() as server:
        yield server
