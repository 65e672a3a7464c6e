"""Issue 13, every line traceable: the coder's review page shows the rule ids the engine applied
to each line and to each administration not charged; ChargeLine stores them (`rules`)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from coding.engine.rules import RULES
from coding.services import charge_run_generate
from mar import roles
from mar.models import Administration, Encounter
from mar.record import administration_record_id
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db


def _rows(html: str) -> dict[str, str]:
    """Each charge line's table row by its code (the page's rows carry `data-code`)."""
    rows = re.findall(
        r'<tr class="charge-line[^"]*"[^>]*data-code="([^"]+)"[^>]*>(.*?)</tr>', html, re.S
    )
    return dict(rows)


def test_each_line_on_the_review_page_shows_the_rule_ids_the_engine_applied(client_as) -> None:
    encounter, run, _ = reviewed(billable=True, waste=Decimal(0))
    lines = list(run.lines.all())
    assert lines and all(line.rules for line in lines)
    assert {r for line in lines for r in line.rules} <= set(RULES)
    # The engine's lines store what its JSON result says, in claim order.
    engine_lines = [line for line in lines if line.position < 1000]
    assert [line.rules for line in engine_lines] == [c["rules"] for c in run.result["charges"]]
    initial = next(line for line in lines if line.code == "96413")
    assert {"IV-HIERARCHY", "IV-INITIAL-INFUSION"} <= set(initial.rules)
    drug = next(line for line in lines if line.code == "J9267")
    assert drug.rules == ["DRUG-BILLING-UNITS", "DRUG-JZ-NO-WASTE"]

    html = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    rows = _rows(html.content.decode())
    for line in lines:
        for rule in line.rules:
            assert f"<code>{rule}</code>" in rows[line.code], (line.code, rule)


def test_a_push_within_96376s_clock_is_listed_not_charged_with_its_rule_ids(client_as) -> None:
    encounter = factories.chemo_encounter_create()
    push = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
    again = factories.administration_create(
        encounter, push.order, site=push.site, start=push.start + timedelta(minutes=10),
        stop=None, method=Administration.Method.PUSH,
    )  # fmt: skip
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    record_id = administration_record_id(again.pk)
    entry = next(n for n in run.result["not_charged"] if n["administration"] == record_id)
    assert "PUSH-96376-CLOCK" in entry["rules"]

    html = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    item = re.search(
        rf'<li class="list-group-item" data-covers="{record_id}">(.*?)</li>',
        html.content.decode(),
        re.S,
    )
    assert item is not None
    for rule in entry["rules"]:
        assert f"<code>{rule}</code>" in item.group(1)
