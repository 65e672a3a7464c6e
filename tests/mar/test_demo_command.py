import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from coding.models import ChargeRun, MueLimit
from mar.demo import DEMO_USERS
from mar.models import Drug, Encounter

pytestmark = pytest.mark.django_db


def test_demo_loads_users_formulary_and_a_day_with_charges(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=out)
    for spec in DEMO_USERS:
        user = authenticate(username=spec.username, password=spec.password)
        assert user is not None
        assert user.groups.filter(name=spec.role).exists()
        assert spec.password in out.getvalue()
    assert Drug.objects.filter(drug_class__isnull=True).exists()
    signed = Encounter.objects.filter(status=Encounter.Status.SIGNED)
    assert signed.count() >= 3
    assert Encounter.objects.filter(status=Encounter.Status.IN_PROGRESS).exists()
    for encounter in signed:
        run = ChargeRun.objects.get(encounter=encounter, is_current=True)
        assert run.lines.exists() or run.findings.exists()
    assert MueLimit.objects.exists()  # the coder's per-day unit edits have limits to check


def test_demo_is_idempotent(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    counts = (Encounter.objects.count(), ChargeRun.objects.count(), Drug.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", stdout=io.StringIO())
    assert (Encounter.objects.count(), ChargeRun.objects.count(), Drug.objects.count()) == counts
