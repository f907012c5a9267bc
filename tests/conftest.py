"""Shared fixtures: a clean backend state per test, and the real services when they are reachable."""

from __future__ import annotations

import os

import pytest

from course_lib import backends
from course_lib.backends import settings
from course_lib.lab import browser

COURSE_VARS = [settings.DATABASE_URL, settings.REDIS_URL, settings.S3_ENDPOINT, settings.BACKENDS,
               settings.REQUIRE_SERVICES, settings.LEARNER]
# `make test-fast` sets it: the inner loop skips what needs the real services, a browser or a subprocess.
FAST = "COURSE_FAST"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(FAST) == "1":
        skip = pytest.mark.skip(reason=f"{FAST}=1: starts a subprocess (make test runs it)")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)


def services_reachable() -> bool:
    return settings.port_open("127.0.0.1", 3306) and settings.port_open("127.0.0.1", 6379)


def require_services() -> None:
    """Skip when MariaDB/Redis are absent, unless the run demands them (CI sets COURSE_REQUIRE_SERVICES=1)."""
    if os.environ.get(FAST) == "1":
        pytest.skip(f"{FAST}=1: the inner loop runs on the embedded backends only (make test runs this)")
    if not services_reachable():
        if os.environ.get(settings.REQUIRE_SERVICES) == "1":
            pytest.fail("COURSE_REQUIRE_SERVICES=1 but MariaDB (3306) or Redis (6379) is not reachable")
        pytest.skip("MySQL/MariaDB and Redis are not running on 127.0.0.1")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """No COURSE_* variables, a private build dir, and no backend left over from another test."""
    for var in COURSE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(settings.BUILD_DIR, str(tmp_path / "build"))
    backends.shutdown()
    yield monkeypatch
    backends.shutdown()


@pytest.fixture
def mariadb_engine():
    """An engine on the real MariaDB/MySQL at the standard port (skipped or failed when absent)."""
    require_services()
    backend = backends.sql_backend.connect(settings.MYSQL_DEFAULT_URL)
    yield backend.engine
    backend.engine.dispose()


@pytest.fixture(params=["sqlite", "mariadb"])
def sql_engine(request, tmp_path):
    """Each test that takes it runs twice: on a fresh SQLite file, and on the real MariaDB when reachable."""
    if request.param == "mariadb":
        return request.getfixturevalue("mariadb_engine")
    return backends.sql_backend.connect(f"sqlite:///{tmp_path / 'test.sqlite'}").engine


# Debian's Chromium, driven by Playwright (no browser download), with the flags course_lib.lab.browser uses.
CHROMIUM = str(browser.CHROMIUM)
CHROMIUM_ARGS = browser.CHROMIUM_ARGS


def require_chromium() -> None:
    """Skip without Chromium, except in CI, where .ci/run installs it and a skip would hide a failure."""
    from pathlib import Path

    if os.environ.get(FAST) == "1":
        pytest.skip(f"{FAST}=1: no browser in the inner loop (make test runs this)")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (sudo apt-get install -y chromium)")
