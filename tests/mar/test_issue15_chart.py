"""The chart shows the engine's issue 13/15 checks (tests/engine/test_issue15_checks.py for the
boundaries): DOC-6 for an order neither given nor documented, linked to the order's disposition
field, blocking the signature until documented or acknowledged."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from mar import roles
from mar.models import Administration, Encounter
from mar.services import charting
from mar.services.charting import SignBlocked, finding_key
from mar.summary import findings_of, summary_for
from tests import factories
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db


def _items(html: str, rule: str) -> list[str]:
    """The checklist items of one rule, as rendered."""
    return re.findall(
        rf'<li class="ck-item [^"]*" data-rule="{rule}" data-testid="checklist-item">(.*?)</li>',
        html,
        flags=re.S,
    )


def _chart(client, encounter: Encounter) -> str:
    return client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()


def _stopped_visit_with_an_order_not_given():
    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=45))
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    return encounter, order


def test_doc6_the_chart_lists_an_order_not_given_and_jumps_to_its_disposition_field(
    client_as,
) -> None:
    encounter, order = _stopped_visit_with_an_order_not_given()
    html = _chart(client_as(roles.NURSE), encounter)
    items = _items(html, "DOC-6")
    assert len(items) == 1
    assert f'href="#id_d{order.pk}-disposition"' in items[0]
    assert f"ondansetron 8 mg (O{order.pk})" in items[0]
    assert f'id="id_d{order.pk}-disposition"' in html  # the jump lands on the field
    assert 'name="ack_' in html  # the sign-off asks for it to be resolved or acknowledged


def test_doc6_documenting_the_order_as_held_clears_the_item_and_the_board_count(
    client_as, nurse_user
) -> None:
    encounter, order = _stopped_visit_with_an_order_not_given()
    client = client_as(roles.NURSE)
    assert [f.rule for f in findings_of(summary_for(encounter))].count("DOC-6") == 1
    client.post(
        reverse("mar:order_disposition", args=[encounter.pk, order.pk]),
        {f"d{order.pk}-disposition": "held", f"d{order.pk}-reason": "BP 80/50"},
    )
    html = _chart(client, encounter)
    assert _items(html, "DOC-6") == []
    assert "DOC-6" not in {f.rule for f in findings_of(summary_for(encounter))}


def test_doc6_blocks_the_signature_until_acknowledged_with_a_reason(nurse_user) -> None:
    encounter, _order = _stopped_visit_with_an_order_not_given()
    with pytest.raises(SignBlocked) as blocked:
        charting.encounter_sign(encounter=encounter, user=nurse_user)
    open_rules = [f.rule for f in blocked.value.open_errors]
    assert "DOC-6" in open_rules
    reasons = {finding_key(f): "pharmacy delay, reordered" for f in blocked.value.open_errors}
    signed = charting.encounter_sign(encounter=encounter, user=nurse_user, reasons=reasons)
    assert signed.is_signed
    assert encounter.acknowledgements.filter(rule="DOC-6").count() == 1
