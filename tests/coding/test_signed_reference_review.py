"""A signed record is judged at its signature by the nurse's chart and the coder's run alike
(rac-checklist DOC-3; the record's `encounter.signed_at`, mar/record.py; the engine's checks.py
`Lateness`): the same findings, and a time after the signature is said as it is.

QA: signed at 11:53, the stop changed by addendum to 11:58: the chart said "The stop time of
teprotumumab (2026-12-07 11:58) is in the future", the coder's review of the same run said
nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from coding.services import charge_run_generate
from mar.chart_context import evaluate
from mar.models import Encounter
from mar.summary import summary_evaluate
from tests import factories

pytestmark = pytest.mark.django_db


def doc3(findings) -> list[tuple[str, str, str]]:
    return sorted(
        (f["severity"], f.get("field") or "", f["message"])
        for f in findings
        if f["rule"] == "DOC-3"
    )


def test_the_chart_and_the_coder_see_the_same_stop_after_the_signature():
    """Paclitaxel stops 12:15; the record was signed at 12:10 (signed while it ran, its stop
    charted since): the chart's checklist, its stored summary and the coder's run all say the
    stop is after the record was signed, a warning, never "in the future"."""
    encounter = factories.chemo_encounter_create()
    signed_at = factories.MORNING + timedelta(hours=4, minutes=10)
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=signed_at
    )
    encounter.refresh_from_db()
    assert encounter.is_signed

    run, _ = charge_run_generate(encounter_id=encounter.pk)
    coder = doc3(run.result["findings"])
    _record, result, error = evaluate(encounter, timezone.now())
    assert error == "" and result is not None
    chart = doc3([f.to_json() for f in result.findings])
    summary = doc3(summary_evaluate(encounter=encounter, now=timezone.now()).summary.findings)

    assert (
        coder
        == chart
        == summary
        == [
            (
                "warning",
                "stop",
                "The stop time of paclitaxel (2026-03-02 12:15) is after the record was signed "
                "(12:10)",
            )
        ]
    )
    assert run.input_snapshot["encounter"]["signed_at"] == "2026-03-02T12:10:00-05:00"
    # Still charged: a warning does not take the administration out (DOC-3 errors do).
    assert {line.code for line in run.lines.all()} >= {"96413", "96415"}
