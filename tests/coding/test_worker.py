"""The whole chain on real parts: sign -> Redis -> a real Celery worker -> charges in PostgreSQL."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from coding.models import ChargeRun
from coding.tasks import generate_charges
from config.celery import app
from mar.services import encounter_sign
from tests import factories

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def worker():  # type: ignore[no-untyped-def]
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (bin/test sets it)")
    assert not app.conf.task_always_eager
    app.control.purge()  # messages left by an interrupted earlier run
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING") as w:
        yield w


def test_signing_produces_charges_through_redis(worker, nurse_user) -> None:  # type: ignore[no-untyped-def]
    encounter = factories.chemo_encounter_create()
    encounter_sign(encounter=encounter, user=nurse_user)

    assert wait_for(lambda: ChargeRun.objects.filter(encounter=encounter).exists())
    run = ChargeRun.objects.get(encounter=encounter)
    assert run.is_current
    assert run.lines.filter(code="96413").exists()


def test_delivering_the_task_twice_makes_one_run(worker) -> None:  # type: ignore[no-untyped-def]
    encounter = factories.chemo_encounter_create()
    first = generate_charges.delay(encounter.pk)
    second = generate_charges.delay(encounter.pk)
    assert first.get(timeout=30) == second.get(timeout=30)
    assert ChargeRun.objects.filter(encounter=encounter).count() == 1
