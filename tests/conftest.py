"""Shared fixtures: a user and a logged-in client per role, and sample encounters.

Fixture names: nurse_user, pharmacist_user, coder_user, admin_role_user, clerk_user,
role_users (dict),
client_as (factory: client_as("coder")), chemo_encounter. Record builders live in
tests/factories.py.

`@pytest.mark.postgresql("what only PostgreSQL has")`: a test of behaviour SQLite lacks (the
audit trail's and the guard's triggers, row locks, prepared statements) is skipped, with that
reason, when the database is not PostgreSQL (no DATABASE_URL: SQLite, the demo's). CI runs
on PostgreSQL, where nothing is skipped.
"""

from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client

from mar import roles
from tests import factories


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.db import connection

    for item in items:
        marker = item.get_closest_marker("postgresql")
        if marker is None:
            continue
        if not marker.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.postgresql needs a reason")
        if connection.vendor != "postgresql":
            reason = f"PostgreSQL only ({connection.vendor} here): {marker.args[0]}"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def _triggers_kept_through_a_flush() -> Iterator[None]:
    """A test on a real transaction (the browser's, the worker's) ends with Django's `flush`,
    which empties the tables (TRUNCATE) and sends `post_migrate`, on which django-pgtrigger
    installs every trigger again: 2.5-9 s a test here, for triggers a TRUNCATE leaves in place.
    Installed after a `migrate` (which names its plan: the test database's creation, the
    migration tests') as before; not after a flush (no plan)."""
    import pgtrigger.apps
    from django.apps import apps
    from django.db.models.signals import post_migrate

    sender = apps.get_app_config("pgtrigger")

    def install_after_migrate(using: str, **kwargs: object) -> None:
        if "plan" in kwargs:
            pgtrigger.apps.install_on_migrate(using, **kwargs)

    post_migrate.disconnect(pgtrigger.apps.install_on_migrate, sender=sender)
    post_migrate.connect(install_after_migrate, sender=sender, weak=False)
    yield
    post_migrate.disconnect(install_after_migrate, sender=sender)
    post_migrate.connect(pgtrigger.apps.install_on_migrate, sender=sender)


@pytest.fixture(autouse=True)
def _celery_eager(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run tasks in-process unless the test is marked integration (which needs the real worker).

    Otherwise a test that commits a signature would leave a message in Redis for nobody.
    """
    from config.celery import app

    if request.node.get_closest_marker("integration"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _board_cards_forgotten() -> None:
    """Each test starts with no board card and no worklist row's charges kept (mar/board_cards.py,
    coding/worklist_charges.py, the same cache): a key names an encounter or a run by id, which a
    rolled-back test's rows could share on SQLite."""
    from django.core.cache import caches

    caches["board"].clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # Production's PBKDF2 takes ~0.5 s a user: tests need a hash, not its strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests sign in "from" other addresses (the lockout's); the development loopback guard has
    # its own tests (tests/config/test_settings.py).
    if "config.security.LoopbackOnlyMiddleware" in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [
            m for m in settings.MIDDLEWARE if m != "config.security.LoopbackOnlyMiddleware"
        ]


@pytest.fixture
def nurse_user(db: None) -> User:
    return factories.user_create(username="nurse1", role=roles.NURSE)


@pytest.fixture
def pharmacist_user(db: None) -> User:
    return factories.user_create(username="pharm1", role=roles.PHARMACIST)


@pytest.fixture
def coder_user(db: None) -> User:
    return factories.user_create(username="coder1", role=roles.CODER)


@pytest.fixture
def admin_role_user(db: None) -> User:
    user = factories.user_create(username="admin1", role=roles.ADMIN)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def clerk_user(db: None) -> User:
    return factories.user_create(username="clerk1", role=roles.CLERK)


@pytest.fixture
def role_users(
    nurse_user: User,
    pharmacist_user: User,
    coder_user: User,
    admin_role_user: User,
    clerk_user: User,
) -> dict[str, User]:
    return {
        roles.NURSE: nurse_user,
        roles.PHARMACIST: pharmacist_user,
        roles.CODER: coder_user,
        roles.ADMIN: admin_role_user,
        roles.CLERK: clerk_user,
    }


@pytest.fixture
def client_as(role_users: dict[str, User]) -> Callable[[str], Client]:
    def make(role: str) -> Client:
        client = Client()
        client.force_login(role_users[role])
        return client

    return make


@pytest.fixture
def chemo_encounter(db: None):
    return factories.chemo_encounter_create()


@pytest.fixture
def worker():
    """A real Celery worker consuming from REDIS_URL (tests marked integration)."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from config.celery import app

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (bin/test sets it)")
    assert not app.conf.task_always_eager
    app.control.purge()  # messages left by an interrupted earlier run
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING") as w:
        yield w
