"""Settings come from the environment; production passes check --deploy with no warnings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL)"
)


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ENV", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_services_it_uses_sqlite_and_eager_celery() -> None:
    out = run(["-c", PRINT_SETTINGS])
    assert out.returncode == 0, out.stderr
    engine, eager, broker = out.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert eager == "True"
    assert broker.startswith("memory://")


def test_with_urls_it_uses_postgresql_and_redis() -> None:
    out = run(
        ["-c", PRINT_SETTINGS],
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/anything",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "django.db.backends.postgresql",
        "False",
        "redis://127.0.0.1:6379/3",
    ]


def test_production_passes_check_deploy_without_warnings() -> None:
    out = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_ENV="production",
        SECRET_KEY="p" * 20 + "a-long-random-production-secret-key-0123456789",
        ALLOWED_HOSTS="mar.example.org",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/anything",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    out = run(["manage.py", "check"], DJANGO_ENV="production", ALLOWED_HOSTS="mar.example.org")
    assert out.returncode != 0
    assert "SECRET_KEY must be set" in out.stderr


def test_sessions_end_after_idle_time(settings) -> None:
    # Pushed on by activity at most a minute late (config/session.py), not by every request.
    assert settings.SESSION_PUSH_SECONDS <= 60
    assert settings.SESSION_COOKIE_AGE <= 60 * 60


def test_production_refuses_sqlite() -> None:
    """The audit trail and the signed-record guard are PostgreSQL triggers: no SQLite there."""
    out = run(
        ["manage.py", "check"],
        DJANGO_ENV="production",
        SECRET_KEY="p" * 20 + "a-long-random-production-secret-key-0123456789",
        ALLOWED_HOSTS="mar.example.org",
    )
    assert out.returncode != 0
    assert "needs PostgreSQL" in out.stderr


PRINT_GUARD = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.MIDDLEWARE[0], '0.0.0.0' in s.ALLOWED_HOSTS)"
)


def test_development_mode_answers_only_on_loopback() -> None:
    """DJANGO_ENV unset (DEBUG, the public key): the guard is the first middleware."""
    out = run(["-c", PRINT_GUARD])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["config.security.LoopbackOnlyMiddleware", "False"]


def test_the_loopback_guard_refuses_other_machines() -> None:
    from django.http import HttpResponse
    from django.test import RequestFactory

    from config.security import LoopbackOnlyMiddleware

    guard = LoopbackOnlyMiddleware(lambda request: HttpResponse("ok"))
    factory = RequestFactory()
    for address in ("127.0.0.1", "::1", "127.0.0.5"):
        assert guard(factory.get("/", REMOTE_ADDR=address)).status_code == 200
    for address in ("10.0.0.7", "192.168.1.2", "0.0.0.0", "", "not-an-address"):
        refused = guard(factory.get("/", REMOTE_ADDR=address))
        assert refused.status_code == 403
        assert b"development mode" in refused.content


@pytest.mark.django_db
def test_health_check_answers_head_and_get(client) -> None:
    assert client.head("/healthz").status_code == 200
    assert client.get("/healthz").content == b"ok"


@pytest.mark.django_db
def test_without_postgresql_every_page_says_there_is_no_audit_trail(client, settings) -> None:
    from django.db import connection

    assert settings.AUDIT_TRAIL is (connection.vendor == "postgresql")
    settings.AUDIT_TRAIL = True  # as on PostgreSQL: no banner
    assert b"demo-banner" not in client.get("/accounts/login/").content
    settings.AUDIT_TRAIL = False  # as on SQLite (bin/demo)
    html = client.get("/accounts/login/").content.decode()
    assert "no audit trail and no signed-record guard" in html


TWO_WRITERS = """
import threading, time
import django
django.setup()
from django.db import connection, transaction
with connection.cursor() as c:
    c.execute("CREATE TABLE two_writers (n INTEGER)")
connection.close()
errors = []
def write(n):
    try:
        with transaction.atomic():
            with connection.cursor() as c:
                c.execute("SELECT count(*) FROM two_writers")  # a read, then a write
                time.sleep(0.5)
                c.execute("INSERT INTO two_writers VALUES (%s)", [n])
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()
threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with connection.cursor() as c:
    c.execute("SELECT count(*) FROM two_writers")
    print(c.fetchone()[0], errors)
"""


def test_two_writes_at_once_on_the_demos_sqlite_wait_rather_than_fail(tmp_path) -> None:
    """QA (the SQLite demo): an autosave and a button press at once answered 500 "database is
    locked". Two transactions that each read and then write, at once: the second waits for the
    first (IMMEDIATE transactions, a timeout) and both are saved."""
    out = run(["-c", TWO_WRITERS], DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(None, 1) == ["2", "[]\n"]
