"""A calculated dose given without its measures, said at sign-off (QA, clinical safety: a record
with carboplatin "AUC 5" given was signed on a visit that never recorded the weight or the
creatinine, and the sign-off said nothing, though the pharmacist's review, the queue's row and
the Start box had warned).

The sign-off panel (mar/_sign.jinja) lists each order given whose dose is calculated (per kg, per
m², by AUC) from measures the visit has not recorded, with `safety.calculated_dose_note`'s
sentence, in amber: a warning that never stops the signature, and no RAC checklist item (the
measures behind a dose are a safety matter, not the documentation a charge rests on). Every
answer that draws the panel draws the notes (the chart, the checklist's poll, a card's, a site's
and a start's answer), and its statements stay fixed whatever the number of orders."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mar import chart_reads, roles
from mar.chart_context import sign_dose_notes
from mar.dosing import dose_shown
from mar.models import DrugClass, Encounter, Order
from mar.services import measures
from tests import factories
from tests.mar.chart_helpers import SIGN_CONFIRMED

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NOTE_PER_KG = "Calculated dose (10 mg/kg): no weight recorded on this visit to check it against."
NOTE_PACLITAXEL = (
    "Calculated dose (175 mg/m2): no height or weight recorded on this visit to check it against."
)


def _sign_panel(html: str) -> str:
    start = html.index('<section id="sign"')
    return html[start : html.index("</section>", start)]


def _visit() -> Encounter:
    today = timezone.now().date()
    patient = factories.patient_create(sex="F", birth_date=date(today.year - 60, 1, 1))
    return factories.encounter_create(
        patient=patient, arrived_at=timezone.now() - timedelta(hours=2)
    )


CHEMO = ("carboplatin", "paclitaxel", "teprotumumab")


def _given(encounter: Encounter, drug: str, dose: str, **fields: object) -> Order:
    """An order of `drug` at `dose`, given (a push ten minutes ago, on the visit's site)."""
    site = encounter.sites.first() or factories.site_create(
        encounter, placed_at=timezone.now() - timedelta(hours=2)
    )
    kind = DrugClass.CHEMO if drug in CHEMO else DrugClass.THERAPEUTIC
    order = factories.order_create(encounter, factories.drug_get(drug, kind), dose=dose, **fields)
    at = timezone.now() - timedelta(minutes=10)
    factories.administration_create(encounter, order, site=site, start=at, stop=at, method="push")
    return order


def _weigh(encounter: Encounter, user, kg: str = "70") -> None:
    measures.measure_chart(
        encounter=encounter, kind="weight_kg", value=Decimal(kg), method="measured",
        measured_at=timezone.now() - timedelta(minutes=5), user=user,
    )  # fmt: skip


def _note_line(order: Order, note: str) -> str:
    """The note's line as the sign-off shows it (a dose per m² with its superscript:
    `dose_shown`)."""
    return (
        f'<li data-testid="sign-dose-note" data-order="{order.pk}"><strong>{order.drug.name}'
        f"</strong> (order O{order.pk}): {dose_shown(note)}</li>"
    )


def test_the_sign_off_notes_an_order_given_whose_dose_was_calculated_from_no_measure(
    client_as,
) -> None:
    """Only the order given per kg without a weight: not a fixed dose, not an order not given
    (its Start box says it), in amber, with the way to the measures."""
    encounter = _visit()
    per_kg = _given(encounter, "teprotumumab", "10 mg/kg")
    fixed = _given(encounter, "ondansetron", "8 mg")
    waiting = factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="AUC 5"
    )
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])).content
    panel = _sign_panel(html.decode())
    assert '<div class="alert alert-warning py-2 mb-2" data-testid="sign-dose-notes">' in panel
    assert "Calculated dose given without its measures:" in panel
    assert _note_line(per_kg, NOTE_PER_KG) in panel
    assert panel.count('data-testid="sign-dose-note"') == 1
    assert f'data-order="{fixed.pk}"' not in panel and f'data-order="{waiting.pk}"' not in panel
    assert "This does not stop the signature" in panel and 'href="#measures"' in panel
    # the order not given still warns in its Start box, not at sign-off
    assert "Calculated dose (AUC 5)" in html.decode() and "Calculated dose (AUC 5)" not in panel


def test_no_note_once_the_measures_are_recorded_nor_for_a_flat_dose(client_as, nurse_user) -> None:
    encounter = _visit()
    _given(encounter, "teprotumumab", "10 mg/kg")
    _given(encounter, "ondansetron", "8 mg")
    _weigh(encounter, nurse_user)
    client = client_as(roles.NURSE)
    panel = _sign_panel(client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())
    assert 'data-testid="sign-dose-notes"' not in panel and "Calculated dose" not in panel
    flat = _visit()
    _given(flat, "ondansetron", "8 mg")
    _given(flat, "sodium chloride 0.9%", "1000 mL")
    panel = _sign_panel(client.get(reverse("mar:encounter", args=[flat.pk])).content.decode())
    assert 'data-testid="sign-dose-notes"' not in panel


def test_two_orders_calculated_are_each_noted_with_what_their_own_dose_lacks(client_as) -> None:
    encounter = _visit()
    auc = _given(encounter, "carboplatin", "AUC 5")
    per_m2 = _given(encounter, "paclitaxel", "175 mg/m2")
    panel = _sign_panel(
        client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    )
    assert "Calculated doses given without their measures:" in panel
    first = _note_line(
        auc,
        "Calculated dose (AUC 5): no creatinine or weight recorded on this visit to check it "
        "against.",
    )
    second = _note_line(per_m2, NOTE_PACLITAXEL)
    assert first in panel and second in panel
    assert panel.index(first) < panel.index(second)  # in the orders' order


def test_a_structured_basis_is_noted_from_the_polls_one_statement_as_from_the_orm(
    client_as,
) -> None:
    """A "per protocol" dose with `dose_basis` AUC 5.5: the poll reads the orders given with
    the encounter (their dose's value as text, back as its Decimal) and says what the chart
    page says."""
    encounter = _visit()
    order = _given(
        encounter, "carboplatin", "per protocol", dose_basis="auc", dose_value=Decimal("5.5")
    )
    expected = _note_line(
        order,
        "Calculated dose (AUC 5.5): no creatinine or weight recorded on this visit to check it "
        "against.",
    )
    client = client_as(roles.NURSE)
    page = _sign_panel(client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())
    poll = client.get(reverse("mar:encounter_checklist", args=[encounter.pk]), **HX)
    assert expected in page and expected in _sign_panel(poll.content.decode())
    read = chart_reads.encounter_and_summary(encounter.pk, 0)[0]
    joined, alone = chart_reads.orders_given(read), chart_reads.given_orders_read(encounter.pk)
    assert [(o.pk, o.drug.name, o.dose, o.dose_basis, o.dose_value) for o in joined] == [
        (o.pk, o.drug.name, o.dose, o.dose_basis, o.dose_value) for o in alone
    ]
    assert [n.note for n in sign_dose_notes(read, joined)] == [
        n.note for n in sign_dose_notes(encounter, alone)
    ]


def test_the_polls_and_a_changes_answers_draw_the_notes_and_drop_them_once_weighed(
    client_as, nurse_user
) -> None:
    """The checklist's poll morphs the sign-off out of band, and so do a card's, a site's and a
    start's answers: each carries the notes, or the panel would lose them; once the weight is
    recorded, the next one drops it."""
    encounter = _visit()
    order = _given(encounter, "teprotumumab", "10 mg/kg")
    adm = encounter.administrations.get()
    site = encounter.sites.get()
    client = client_as(roles.NURSE)
    line = _note_line(order, NOTE_PER_KG)
    poll_url = reverse("mar:encounter_checklist", args=[encounter.pk])
    assert line in _sign_panel(client.get(poll_url, **HX).content.decode())
    flush = client.post(reverse("mar:site_flush", args=[encounter.pk, site.pk]), **HX)
    assert line in _sign_panel(flush.content.decode())
    adm.refresh_from_db()
    zone = encounter.zone
    card = client.post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
        {
            f"a{adm.pk}-{k}": v
            for k, v in {
                "start": adm.start.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "stop": adm.stop.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "method": adm.method,
                "site": site.pk,
                "bag": "BAG-1",
                "purpose": "",
                "started_by": adm.started_by,
                "pump": "",
                "planned_hours": "",
                "version": adm.version,
            }.items()
        },
        **HX,
    )
    assert card.status_code == 200
    assert line in _sign_panel(card.content.decode())
    fluid = factories.order_create(
        encounter, factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
        dose="1000 mL", purpose=Order.Purpose.HYDRATION,
    )  # fmt: skip
    at = (timezone.now() - timedelta(minutes=2)).astimezone(zone)
    start = client.post(
        reverse("mar:order_start", args=[encounter.pk, fluid.pk]),
        {
            f"o{fluid.pk}-method": "infusion",
            f"o{fluid.pk}-at": at.strftime("%Y-%m-%d %H:%M"),
            f"o{fluid.pk}-site": site.pk,
            f"o{fluid.pk}-request_key": "sign-dose-note-start",
        },
        **HX,
    )
    assert start.status_code == 200 and encounter.administrations.count() == 2
    assert line in _sign_panel(start.content.decode())
    _weigh(encounter, nurse_user)
    assert "sign-dose-note" not in _sign_panel(client.get(poll_url, **HX).content.decode())


def test_the_note_does_not_stop_the_signature(client_as, chemo_encounter) -> None:
    """The chemotherapy visit gives paclitaxel 175 mg/m2 with no height or weight: the sign-off
    says so, and the signature goes through with only the confirmation ticked (no reason asked,
    no checklist item)."""
    client = client_as(roles.NURSE)
    paclitaxel = chemo_encounter.orders.get(drug__name="paclitaxel")
    page = client.get(reverse("mar:encounter", args=[chemo_encounter.pk])).content.decode()
    panel = _sign_panel(page)
    assert _note_line(paclitaxel, NOTE_PACLITAXEL) in panel
    assert "No open errors: ready to sign." in panel
    start = page.index('<section id="checklist"')
    assert "Calculated dose" not in page[start : page.index("</section>", start)]
    response = client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    assert response.status_code == 302
    chemo_encounter.refresh_from_db()
    assert chemo_encounter.status == Encounter.Status.SIGNED


def test_a_signed_record_reads_no_notes(client_as) -> None:
    """The sign-off is drawn on a record in progress only: a signed one's chart has no notes."""
    signed = factories.chemo_encounter_create(status=Encounter.Status.SIGNED)
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[signed.pk])).content.decode()
    assert "sign-dose-note" not in page


def _count(client, url: str, **headers: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, **headers).status_code == 200
    return len(captured)


def test_the_statements_stay_fixed_whatever_the_number_of_calculated_orders(client_as) -> None:
    """The chart page reads nothing more (the measures it reads for its panels, read once); the
    poll reads the orders given with the encounter (PostgreSQL) and the visit's measures in one
    statement more only when an order given is calculated, however many are."""
    client = client_as(roles.NURSE)
    flat, one, three = _visit(), _visit(), _visit()
    _given(flat, "ondansetron", "8 mg")
    _given(one, "teprotumumab", "10 mg/kg")
    for dose in ("10 mg/kg", "AUC 5", "175 mg/m2"):
        _given(three, "carboplatin", dose)
    for encounter in (flat, one, three):  # the session warm, each summary stored
        client.get(reverse("mar:encounter", args=[encounter.pk]))
        client.get(reverse("mar:encounter_checklist", args=[encounter.pk]), **HX)
    chart = [_count(client, reverse("mar:encounter", args=[e.pk])) for e in (flat, one, three)]
    assert chart[0] == chart[1] == chart[2]
    poll = [
        _count(client, reverse("mar:encounter_checklist", args=[e.pk]), **HX)
        for e in (flat, one, three)
    ]
    # SQLite reads the orders given on their own: one statement more for each, still fixed.
    assert poll[1] == poll[2] == poll[0] + 1
