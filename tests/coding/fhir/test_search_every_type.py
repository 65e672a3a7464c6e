"""FHIR R4 search on every served type (issue 16): paging with next links and `_lastUpdated`
for Encounter, MedicationRequest, MedicationAdministration and ChargeItem as for Patient; a
MedicationAdministration carries its timing and the rate it ran at, and reads back as R4."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from fhir.resources.R4B.medicationadministration import MedicationAdministration

from coding.models import ChargeRun
from coding.services import charge_run_generate
from mar.models import Administration, Encounter, Order, RateChange
from tests import factories

pytestmark = pytest.mark.django_db

BASE = "/fhir/R4/"


def _ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def _all_pages(reader, resource: str, params: dict) -> list[str]:
    page = reader.get(BASE + resource, {**params, "_count": 2}).json()
    seen = _ids(page)
    total = page["total"]
    while True:
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        page = reader.get(following[0].replace("http://testserver", "")).json()
        assert page["total"] == total
        seen += _ids(page)
    assert len(seen) == len(set(seen)) == total
    return seen


def _visits(patient, n: int) -> list[Encounter]:
    """Charted chemotherapy visits of one patient (signed by `_sign` once any ageing is done:
    the signed-record guard refuses changes after the signature)."""
    return [factories.chemo_encounter_create(patient=patient) for _ in range(n)]


def _sign(*visits: Encounter) -> None:
    for encounter in visits:
        Encounter.objects.filter(pk=encounter.pk).update(status=Encounter.Status.SIGNED)
        charge_run_generate(encounter_id=encounter.pk)


@pytest.mark.parametrize(
    ("resource", "params_for", "expected_for"),
    [
        (
            "Encounter",
            lambda p: {"patient": f"Patient/{p}"},
            lambda visits: Encounter.objects.filter(pk__in=[v.pk for v in visits]).count(),
        ),
        (
            "MedicationRequest",
            lambda p: {"patient": f"Patient/{p}"},
            lambda visits: Order.objects.filter(encounter__in=visits).count(),
        ),
        (
            "MedicationAdministration",
            lambda p: {"patient": f"Patient/{p}"},
            lambda visits: Administration.objects.filter(encounter__in=visits).count(),
        ),
        (
            "ChargeItem",
            lambda p: {"patient": f"Patient/{p}"},
            lambda visits: sum(
                ChargeRun.objects.get(encounter=v, is_current=True).lines.count() for v in visits
            ),
        ),
    ],
)
def test_search_pages_every_type_with_next_links_and_no_repeats(
    reader, resource, params_for, expected_for
) -> None:
    patient = factories.patient_create(name="Pager, Pat")
    visits = _visits(patient, 3)
    _sign(*visits)
    seen = _all_pages(reader, resource, params_for(patient.pk))
    assert len(seen) == expected_for(visits) > 2  # more than one page of two


def _age(model, pks, days: int) -> None:
    model.objects.filter(pk__in=pks).update(updated_at=timezone.now() - timedelta(days=days))


@pytest.mark.parametrize(
    ("resource", "model", "rows"),
    [
        ("Encounter", Encounter, lambda e: [e.pk]),
        ("MedicationRequest", Order, lambda e: list(e.orders.values_list("pk", flat=True))),
        (
            "MedicationAdministration",
            Administration,
            lambda e: list(e.administrations.values_list("pk", flat=True)),
        ),
    ],
)
def test_last_updated_filters_every_clinical_type(reader, resource, model, rows) -> None:
    patient = factories.patient_create(name="Since, Sam")
    old, new = _visits(patient, 2)
    _age(model, rows(old), days=10)
    _sign(old, new)
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    params = {"patient": f"Patient/{patient.pk}"}
    recent = _ids(reader.get(BASE + resource, {**params, "_lastUpdated": f"ge{since}"}).json())
    earlier = _ids(reader.get(BASE + resource, {**params, "_lastUpdated": f"lt{since}"}).json())
    old_ids = {r["resource"]["id"] for r in reader.get(BASE + resource, params).json()["entry"]}
    assert earlier and recent
    assert not set(earlier) & set(recent)
    assert set(earlier) | set(recent) == old_ids
    expected_old = {str(pk) for pk in rows(old)}
    if resource == "MedicationAdministration":
        expected_old = {f"A{pk}" for pk in rows(old)}
    assert set(earlier) == expected_old


def test_last_updated_filters_charge_items_by_when_the_run_was_made(reader) -> None:
    patient = factories.patient_create(name="Billed, Bo")
    old, new = _visits(patient, 2)
    _sign(old, new)
    ChargeRun.objects.filter(encounter=old).update(created_at=timezone.now() - timedelta(days=10))
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    params = {"patient": f"Patient/{patient.pk}"}
    recent = reader.get(BASE + "ChargeItem", {**params, "_lastUpdated": f"ge{since}"}).json()
    earlier = reader.get(BASE + "ChargeItem", {**params, "_lastUpdated": f"lt{since}"}).json()
    contexts = lambda b: {e["resource"]["context"]["reference"] for e in b["entry"]}  # noqa: E731
    assert contexts(recent) == {f"Encounter/{new.pk}"}
    assert contexts(earlier) == {f"Encounter/{old.pk}"}


def test_a_medication_administration_carries_its_period_and_the_rate_it_ran_at(reader) -> None:
    encounter = factories.chemo_encounter_create()
    adm = encounter.administrations.filter(method=Administration.Method.INFUSION).last()
    assert adm is not None and adm.stop is not None
    Administration.objects.filter(pk=adm.pk).update(rate_ml_h=Decimal("100"))
    url = f"{BASE}MedicationAdministration/A{adm.pk}"
    body = reader.get(url).json()
    resource = MedicationAdministration.model_validate(body)  # reads back as R4(B)
    assert resource.effectivePeriod is not None
    assert resource.effectivePeriod.start == adm.start
    assert resource.effectivePeriod.end == adm.stop
    assert body["dosage"]["rateQuantity"] == {"value": 100, "unit": "mL/h"}
    # A titration: the rate it ran at last is the one reported.
    nurse = get_user_model().objects.create_user("rn-titrate")
    RateChange.objects.create(
        administration=adm, at=adm.start + timedelta(minutes=30), rate_ml_h=Decimal("150"),
        reason="tolerated", by=nurse,
    )  # fmt: skip
    assert reader.get(url).json()["dosage"]["rateQuantity"] == {"value": 150, "unit": "mL/h"}


def test_a_running_administration_has_an_open_period(reader) -> None:
    encounter = factories.chemo_encounter_create()
    adm = encounter.administrations.filter(method=Administration.Method.INFUSION).last()
    assert adm is not None
    Administration.objects.filter(pk=adm.pk).update(stop=None)
    body = reader.get(f"{BASE}MedicationAdministration/A{adm.pk}").json()
    assert body["status"] == "in-progress"
    assert "end" not in body["effectivePeriod"] and body["effectivePeriod"]["start"]


def test_a_push_is_completed_at_its_moment_without_a_stop(reader) -> None:
    """FHIR R4 MedicationAdministration.status: a push is given at once (no period end)."""
    encounter = factories.chemo_encounter_create()
    push = encounter.administrations.exclude(method=Administration.Method.INFUSION).first()
    assert push is not None
    Administration.objects.filter(pk=push.pk).update(stop=None)
    body = reader.get(f"{BASE}MedicationAdministration/A{push.pk}").json()
    assert body["status"] == "completed"


def test_a_signed_records_infusion_with_no_stop_is_unknown_not_in_progress(reader) -> None:
    """After the signature nothing runs: an infusion whose stop was never charted (the nurse
    acknowledged RAC-7) has an unknown status, not in-progress."""
    encounter = factories.chemo_encounter_create()
    adm = encounter.administrations.filter(method=Administration.Method.INFUSION).last()
    assert adm is not None
    Administration.objects.filter(pk=adm.pk).update(stop=None)
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=adm.start + timedelta(hours=2)
    )
    body = reader.get(f"{BASE}MedicationAdministration/A{adm.pk}").json()
    assert body["status"] == "unknown"
    assert "end" not in body["effectivePeriod"]


@pytest.mark.parametrize(
    ("disposition", "signed", "status"),
    [
        ("", False, "active"),
        ("", True, "completed"),
        ("held", False, "on-hold"),
        ("held", True, "cancelled"),
        ("not_given", False, "cancelled"),
        ("refused", True, "cancelled"),
    ],
)
def test_a_medication_requests_status_says_whether_it_was_given(
    reader, disposition: str, signed: bool, status: str
) -> None:
    """FHIR R4 MedicationRequest.status: an order documented not given, held or refused is not
    `completed` (it read as given), with the nurse's reason as statusReason."""
    encounter = factories.encounter_create()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    Order.objects.filter(pk=order.pk).update(
        disposition=disposition, disposition_reason="BP low" if disposition else ""
    )
    if signed:
        Encounter.objects.filter(pk=encounter.pk).update(
            status=Encounter.Status.SIGNED, signed_at=timezone.now()
        )
    body = reader.get(f"{BASE}MedicationRequest/{order.pk}").json()
    assert body["status"] == status
    assert body.get("statusReason", {}).get("text") == ("BP low" if disposition else None)
