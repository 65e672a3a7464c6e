"""The chart shows the engine's issue 13/15 checks (tests/engine/test_issue15_checks.py for the
boundaries): DOC-6 for an order neither given nor documented, linked to the order's disposition
field, blocking the signature until documented or acknowledged; DRUG-DOSE beside the dose on the
card, and for the coder with the drug line under "Not charged"; an infusion running at the bedside
shown as running (not an open item on the chart or the board), its stop asked for at signing;
issue 17: the rates in the record, DOC-VOLUME linked to the volume field, rate marks on the
timeline."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from coding.services import charge_run_generate
from mar import roles
from mar.models import Administration, Drug, Encounter
from mar.record import record_dict_from_encounter
from mar.services import charting, rates
from mar.services.charting import SignBlocked, finding_key
from mar.summary import findings_of, summary_for
from tests import factories
from tests.coding.review_helpers import paclitaxel_billable
from tests.mar.chart_helpers import SIGN_CONFIRMED, running_visit

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


# --- DRUG-DOSE: a drug billed in HCPCS units without a billable dose ---------------------------


def _billed_carboplatin(encounter: Encounter) -> Administration:
    adm = encounter.administrations.get()
    Drug.objects.filter(pk=adm.drug_id).update(
        hcpcs_code="J9045", billing_unit_amount=Decimal(50), billing_unit="mg"
    )
    return adm


def _dose_findings(html: str) -> str:
    match = re.search(r'<ul [^>]*data-testid="dose-findings">(.*?)</ul>', html, flags=re.S)
    return match[1] if match else ""


@pytest.mark.parametrize(
    ("dose", "unit", "said"),
    [
        (None, "", "no drug charge: dose missing (J9045 per 50 mg)"),
        (Decimal(5), "AUC", "the unit AUC cannot be billed (J9045 per 50 mg)"),
        (Decimal(175), "mg/m2", "the unit mg/m2 cannot be billed"),
    ],
)
def test_drug_dose_the_card_says_it_beside_the_dose_and_links_to_the_field(
    client_as, dose, unit, said
) -> None:
    encounter, _ = running_visit()
    adm = _billed_carboplatin(encounter)
    Administration.objects.filter(pk=adm.pk).update(dose_value=dose, dose_unit=unit)
    record_adm = record_dict_from_encounter(encounter)["administrations"][0]
    assert record_adm["hcpcs"] == "J9045"
    assert record_adm["billing_unit"] == {"value": 50, "unit": "mg"}
    html = _chart(client_as(roles.NURSE), encounter)
    beside = _dose_findings(html)
    assert "DRUG-DOSE" in beside and said in beside
    field = "dose_unit" if unit else "dose_value"
    assert f'href="#id_a{adm.pk}-{field}"' in beside
    # Red in the checklist: the drug's charge is lost (screens.md: "items that would cost a charge
    # are red").
    assert re.search(r'class="ck-item ck-error[^"]*" data-rule="DRUG-DOSE"', html)


def test_drug_dose_with_no_drug_line_blocks_the_signature_until_a_reason_is_given(
    nurse_user,
) -> None:
    """QA: a carboplatin visit was signed with its drug line (J9045) missing and nothing asked.
    DRUG-DOSE with no drug line made is an error: signing asks a reason for it, kept."""
    encounter, adm = running_visit()
    _billed_carboplatin(encounter)
    Administration.objects.filter(pk=adm.pk).update(
        dose_value=None, dose_unit="", stop=adm.start + timedelta(minutes=45)
    )
    with pytest.raises(SignBlocked) as blocked:
        charting.encounter_sign(encounter=encounter, user=nurse_user)
    assert "DRUG-DOSE" in [f.rule for f in blocked.value.open_errors]
    reasons = {
        finding_key(f): "dose on the pharmacy label, asked" for f in blocked.value.open_errors
    }
    signed = charting.encounter_sign(encounter=encounter, user=nurse_user, reasons=reasons)
    assert signed.is_signed
    assert encounter.acknowledgements.filter(rule="DRUG-DOSE").count() == 1


def test_drug_dose_a_dose_in_mg_clears_it(client_as) -> None:
    encounter, _ = running_visit()
    adm = _billed_carboplatin(encounter)
    Administration.objects.filter(pk=adm.pk).update(dose_value=Decimal(450), dose_unit="mg")
    html = _chart(client_as(roles.NURSE), encounter)
    assert _dose_findings(html) == "" and _items(html, "DRUG-DOSE") == []


def test_drug_dose_the_coder_sees_the_finding_and_the_drug_line_under_not_charged(
    client_as,
) -> None:
    encounter = factories.chemo_encounter_create()
    paclitaxel_billable(encounter=encounter)
    adm = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
    Administration.objects.filter(pk=adm.pk).update(dose_value=None, dose_unit="")
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    charge_run_generate(encounter_id=encounter.pk)
    html = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[encounter.pk]))
        .content.decode()
    )
    findings_list = html[html.index('data-testid="findings"') :]
    findings_list = findings_list[: findings_list.index("</ul>")]
    assert "DRUG-DOSE" in findings_list and "no drug charge: dose missing" in findings_list
    not_charged = html[html.index('data-testid="not-charged"') :]
    not_charged = not_charged[: not_charged.index("</ul>")]
    assert f'data-covers="A{adm.pk}"' in not_charged
    assert "paclitaxel: no drug charge: dose missing (J9267 per 1 mg)" in not_charged


# --- Issue 15 item 9: a running infusion is not an open problem; signing stays strict ----------


def _board_card(html: str, encounter: Encounter) -> str:
    cards = html.split('data-testid="encounter-card"')[1:]
    return next(card for card in cards if encounter.patient.name in card)


def test_running_the_chart_shows_it_running_not_as_an_error_and_the_board_counts_nothing(
    client_as,
) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    html = _chart(client, encounter)
    rac7 = re.findall(r'<li class="ck-item (ck-\w+)[^"]*" data-rule="RAC-7"', html)
    assert rac7 == ["ck-info"]
    assert "carboplatin is running (started" in _items(html, "RAC-7")[0]
    assert 'data-testid="checklist-running">1 running<' in html
    assert 'data-testid="sign-running"' in html and "1 infusion to stop before signing" in html
    assert 'name="ack_' not in html  # nothing to acknowledge while it runs
    board = _board_card(client.get(reverse("mar:board")).content.decode(), encounter)
    assert "Checklist clear" in board and "open checklist item" not in board
    assert "Running: carboplatin" in board


def test_running_signing_asks_for_the_stop_as_an_error_to_resolve_or_acknowledge(
    client_as, nurse_user
) -> None:
    encounter, adm = running_visit()
    with pytest.raises(SignBlocked) as blocked:
        charting.encounter_sign(encounter=encounter, user=nurse_user)
    (stop_missing,) = [f for f in blocked.value.open_errors if f.rule == "RAC-7"]
    assert stop_missing.field == "stop" and "Stop time missing for carboplatin" in (
        stop_missing.message
    )
    client = client_as(roles.NURSE)
    html = client.post(reverse("mar:encounter_sign", args=[encounter.pk])).content.decode()
    field = f"ack_{finding_key(stop_missing)}"
    assert f'name="{field}"' in html  # the sign-off asks for a reason beside the item
    assert not Encounter.objects.get(pk=encounter.pk).is_signed
    client.post(reverse("mar:encounter_sign", args=[encounter.pk]), {field: "pump ran dry, stop "
                "time not known; see addendum", **SIGN_CONFIRMED})  # fmt: skip
    assert Encounter.objects.get(pk=encounter.pk).is_signed


def test_running_once_stopped_the_record_signs_without_a_reason(client_as, nurse_user) -> None:
    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=50))
    html = _chart(client_as(roles.NURSE), encounter)
    assert _items(html, "RAC-7") == [] and 'data-testid="sign-running"' not in html
    assert charting.encounter_sign(encounter=encounter, user=nurse_user).is_signed


# --- Issue 17: rates in the record, DOC-VOLUME on the chart, rate marks on the timeline --------


def _titrated_visit(nurse_user, *, infused: Decimal):
    """Carboplatin started 60 min ago at 100 mL/h, titrated to 200 mL/h 30 min in, stopped now:
    50 + 100 = 150 mL at the charted rates."""
    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(rate_ml_h=Decimal(100))
    adm.refresh_from_db()
    rates.rate_change_record(
        administration=adm,
        rate_ml_h=Decimal(200),
        at=adm.start + timedelta(minutes=30),
        reason="tolerating: titrated up per protocol",
        user=nurse_user,
    )
    charting.administration_stop(
        administration=adm,
        version=Administration.objects.get(pk=adm.pk).version,
        at=adm.start + timedelta(minutes=60),
    )
    rates.stop_volume_set(administration=adm, volume_infused_ml=infused)
    return encounter, adm


def test_doc_volume_the_record_carries_the_rates_and_the_chart_flags_a_volume_they_cannot_explain(
    client_as, nurse_user
) -> None:
    encounter, adm = _titrated_visit(nurse_user, infused=Decimal(400))
    document = record_dict_from_encounter(encounter)["administrations"][0]
    assert [r["ml_h"] for r in document["rates"]] == [100, 200]
    assert document["volume_infused_ml"] == 400
    # The stored summary was refreshed by the rate services: the board's count follows.
    assert "DOC-VOLUME" in {f.rule for f in findings_of(summary_for(encounter))}
    html = _chart(client_as(roles.NURSE), encounter)
    (item,) = _items(html, "DOC-VOLUME")
    assert "400 mL infused, but 60 min at the charted rates make 150 mL" in item
    assert f'href="#id_v{adm.pk}-volume_infused_ml"' in item
    assert f'id="id_v{adm.pk}-volume_infused_ml"' in html  # the jump lands on the field


def test_doc_volume_a_volume_the_rates_explain_is_not_flagged_and_the_timeline_marks_the_change(
    client_as, nurse_user
) -> None:
    encounter, adm = _titrated_visit(nurse_user, infused=Decimal(155))
    client = client_as(roles.NURSE)
    html = _chart(client, encounter)
    assert _items(html, "DOC-VOLUME") == []
    timeline = client.get(reverse("mar:encounter_timeline", args=[encounter.pk])).content.decode()
    bar = timeline[timeline.index(f'data-administration="A{adm.pk}"') :]
    bar = bar[: bar.index("</g>\n")]
    marks = re.findall(r'data-testid="rate-mark" data-rate="([^"]+)"', bar)
    assert marks == ["200 mL/h"]  # the change, not the start rate
    assert "rate 200 mL/h from" in bar


def test_running_with_other_errors_the_sign_panel_still_says_signing_asks_for_the_stop(
    client_as,
) -> None:
    """A running infusion next to an open error: the sign-off lists the error's reason field and
    says, as when nothing else is open, that signing will ask for the running one's stop (else
    the nurse gives her reasons, signs, and only then hears of it)."""
    encounter, adm = running_visit()
    factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")  # DOC-6
    html = _chart(client_as(roles.NURSE), encounter)
    sign = html[html.index('<section id="sign"') :]
    sign = sign[: sign.index("</section>")]
    assert 'name="ack_' in sign and "Sign with these reasons" in sign
    assert 'data-testid="sign-running-note"' in sign
    assert "carboplatin is running" in sign


def test_an_infusion_paused_now_is_said_paused_in_the_sign_panel_not_running(client_as) -> None:
    """walk20: the card said Paused and the checklist '… is paused (since …)', while the
    sign-off listed 'carboplatin is running (started …)', and the checklist said both."""
    from mar.models import Pause
    from mar.summary import summary_invalidate

    encounter, adm = running_visit()
    Pause.objects.create(administration=adm, start=timezone.now() - timedelta(minutes=5))
    summary_invalidate(encounter_ids=[encounter.pk])
    html = _chart(client_as(roles.NURSE), encounter)
    sign = html[html.index('<section id="sign"') :]
    sign = sign[: sign.index("</section>")]
    assert 'data-testid="sign-running-note"' in sign  # signing still asks for its stop
    assert "carboplatin is paused (since" in sign
    assert "carboplatin is running" not in sign
    checklist = html[html.index('data-testid="checklist"') :]
    checklist = checklist[: checklist.index("</section>")]
    assert "carboplatin is paused (since" in checklist
    assert "carboplatin is running" not in checklist


def test_drug_dose_the_whole_dose_charted_for_a_bag_stopped_early_is_said_beside_the_dose(
    client_as,
) -> None:
    """QA: a bag stopped at 100 of 250 mL with the whole 450 mg ordered charted as given billed
    the whole dose, with nothing said. DRUG-DOSE now asks for the amount that ran in, beside the
    dose; charting it clears the warning."""
    encounter, adm = running_visit()
    adm = _billed_carboplatin(encounter)
    adm.order.__class__.objects.filter(pk=adm.order_id).update(dose="450 mg")
    Administration.objects.filter(pk=adm.pk).update(
        dose_value=Decimal(450), dose_unit="mg", bag_volume_ml=Decimal(250),
        volume_infused_ml=Decimal(100), stop=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    beside = _dose_findings(_chart(client_as(roles.NURSE), encounter))
    assert "100 of 250 mL infused" in beside and "about 180 mg" in beside
    Administration.objects.filter(pk=adm.pk).update(dose_value=Decimal(180))
    assert _dose_findings(_chart(client_as(roles.NURSE), encounter)) == ""
