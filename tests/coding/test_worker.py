"""The whole chain on real parts: sign -> Redis -> a real Celery worker -> charges in PostgreSQL."""

import pytest

from coding.models import ChargeRun
from coding.tasks import generate_charges
from mar.services.signature import signature_store
from tests import factories
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_signing_produces_charges_through_redis(worker, nurse_user) -> None:
    encounter = factories.chemo_encounter_create()
    signature_store(encounter=encounter, user=nurse_user)

    assert wait_for(lambda: ChargeRun.objects.filter(encounter=encounter).exists())
    run = ChargeRun.objects.get(encounter=encounter)
    assert run.is_current
    assert run.lines.filter(code="96413").exists()


def test_delivering_the_task_twice_makes_one_run(worker) -> None:
    encounter = factories.chemo_encounter_create()
    first = generate_charges.delay(encounter.pk)
    second = generate_charges.delay(encounter.pk)
    assert first.get(timeout=30) == second.get(timeout=30)
    assert ChargeRun.objects.filter(encounter=encounter).count() == 1
