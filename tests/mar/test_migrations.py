"""mar 0023's index on Encounter.unit is built without blocking writes on PostgreSQL.

A plain CREATE INDEX takes a SHARE lock on the visits' table for the whole build: on a large
table every registration, A04 and chart change waits. On PostgreSQL the migration builds it
CONCURRENTLY (outside a transaction: the migration is not atomic); SQLite (the demo) has no
such thing and gets a plain CREATE INDEX. The migration's state is AddIndex's
(`makemigrations --check` clean), and its name is unchanged: a database that applied it is
left as it is."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parents[2]
MIGRATION = "0023_encounter_unit_index"
INDEX = "mar_encounter_unit_idx"


def sql_of(migration: str, *, backwards: bool = False) -> str:
    out = io.StringIO()
    call_command("sqlmigrate", "mar", migration, backwards=backwards, stdout=out)
    return out.getvalue()


def test_the_unit_index_migration_is_not_atomic() -> None:
    """CREATE INDEX CONCURRENTLY cannot run in a transaction block."""
    migration = MigrationLoader(None, ignore_no_migrations=True).get_migration("mar", MIGRATION)
    assert migration.atomic is False


@pytest.mark.postgresql("CREATE INDEX CONCURRENTLY is PostgreSQL's")
@pytest.mark.django_db(transaction=True)  # sqlmigrate of a non-atomic migration: no transaction
def test_on_postgresql_the_unit_index_is_built_concurrently() -> None:
    forwards = sql_of(MIGRATION)
    assert f'CREATE INDEX CONCURRENTLY "{INDEX}" ON "mar_encounter" ("unit")' in forwards
    assert "BEGIN;" not in forwards  # not in a transaction block
    assert f'DROP INDEX CONCURRENTLY IF EXISTS "{INDEX}"' in sql_of(MIGRATION, backwards=True)


@pytest.mark.postgresql("the index's validity is PostgreSQL's")
@pytest.mark.django_db
def test_on_postgresql_the_test_database_migrated_has_a_valid_unit_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [INDEX],
        )
        assert cursor.fetchall() == [(True,)]


SQLITE_SCRIPT = r"""
import io
import django
django.setup()
from django.core.management import call_command
from django.db import connection

assert connection.vendor == "sqlite", connection.vendor

def unit_indexes():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "mar_encounter")
    return sorted(
        name for name, c in constraints.items() if c["index"] and c["columns"] == ["unit"]
    )

call_command("migrate", "mar", "0023", verbosity=0)
assert unit_indexes() == ["mar_encounter_unit_idx"], unit_indexes()
out = io.StringIO()
call_command("sqlmigrate", "mar", "0023", stdout=out)
assert 'CREATE INDEX "mar_encounter_unit_idx"' in out.getvalue(), out.getvalue()
assert "CONCURRENTLY" not in out.getvalue(), out.getvalue()
call_command("migrate", "mar", "0022", verbosity=0)
assert unit_indexes() == [], unit_indexes()
call_command("migrate", verbosity=0)
assert unit_indexes() == ["mar_encounter_unit_idx"], unit_indexes()
print("ok")
"""


def test_on_a_fresh_sqlite_database_the_unit_index_migrates_forwards_and_back(tmp_path) -> None:
    """The demo's SQLite: a plain CREATE INDEX (no CONCURRENTLY there), and back."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    done = subprocess.run(
        [sys.executable, "-c", SQLITE_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
