"""A stop charted by addendum after the signature (rac-checklist DOC-3 on a signed record; the
engine's checks.py `Lateness`, the record's `encounter.signed_at`).

QA: signed at 11:53, the stop changed by addendum to 11:58 at 11:59: the chart said "... (11:58)
is in the future", a red error the nurse could not fix, and the coder's review said nothing.
Chosen: the addendum is allowed (an infusion signed while it ran truly stops after the
signature), and said as it is, a warning the chart and the coder's run share; a stop after the
wall clock is still refused as in the future."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from coding.services import charge_run_generate
from mar.chart_context import evaluate
from mar.models import Administration
from mar.services import charting
from mar.services.charting import ChartError, SignBlocked
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db


def _signed_while_running(nurse_user):
    encounter, adm = running_visit()
    try:
        charting.encounter_sign(encounter=encounter, user=nurse_user)
    except SignBlocked as blocked:
        reasons = {charting.finding_key(f): "still running" for f in blocked.open_errors}
        charting.encounter_sign(encounter=encounter, user=nurse_user, reasons=reasons)
    encounter.refresh_from_db()
    return encounter, Administration.objects.get(pk=adm.pk)


def _stop(adm: Administration, stop, now, nurse_user) -> Administration:
    return charting.administration_update(
        administration=adm, version=adm.version, changes={"stop": stop}, now=now,
        user=nurse_user, addendum_why="stop read from the pump after signing",
    )  # fmt: skip


def doc3(findings):
    return [(f["severity"], f["message"]) for f in findings if f["rule"] == "DOC-3"]


def test_a_stop_after_the_signature_is_allowed_and_said_as_it_is(nurse_user):
    encounter, adm = _signed_while_running(nurse_user)
    signed_at = encounter.signed_at
    now = signed_at + timedelta(minutes=6)
    _stop(adm, signed_at + timedelta(minutes=5), now, nurse_user)
    encounter.refresh_from_db()

    _record, result, _error = evaluate(encounter, timezone.now())
    chart = doc3([f.to_json() for f in result.findings])
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    assert doc3(run.result["findings"]) == chart
    ((severity, message),) = chart
    assert severity == "warning"
    assert "is after the record was signed" in message and "in the future" not in message


def test_a_stop_after_the_wall_clock_is_still_refused_as_in_the_future(nurse_user):
    encounter, adm = _signed_while_running(nurse_user)
    now = encounter.signed_at + timedelta(minutes=2)
    with pytest.raises(ChartError) as refused:
        _stop(adm, now + timedelta(minutes=3), now, nurse_user)
    assert "is in the future" in refused.value.errors["stop"][0]
