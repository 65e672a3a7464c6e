"""Fixtures for the fault tests: their own PostgreSQL (one per session, migrated once) and Redis."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.servers import Postgres, Redis, app_env, missing_binaries

# Not in pytest-django's transaction: these tests talk to their own servers via subprocesses.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def fault_pg() -> Iterator[Postgres]:
    reason = missing_binaries()
    if reason:
        pytest.skip(reason)
    pg = Postgres()
    try:
        pg.init()
        import subprocess
        import sys

        from tests.faults.servers import ROOT

        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT, env=app_env(pg, None), capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def fault_redis() -> Iterator[Redis]:
    if missing_binaries():
        pytest.skip(missing_binaries() or "")
    redis = Redis()
    yield redis
    redis.stop()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path
