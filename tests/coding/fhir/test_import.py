"""A transaction Bundle from another EHR's MAR: imported whole, read-only in the chart, coded
(findings, charges) and on the coders' worklist; refused whole when anything is wrong."""

import copy

import pghistory.models
import pytest
from django.urls import reverse

from coding.models import ApiCall, ChargeRun, ReviewItem
from mar.models import Administration, Encounter, Order, Patient
from tests import factories
from tests.coding.fhir.bundles import chemo_visit_bundle

pytestmark = pytest.mark.django_db

BASE = "/fhir/R4/"


@pytest.fixture
def formulary(db: None) -> None:
    factories.drug_get("sodium chloride 0.9%", "hydration")
    factories.drug_get("ondansetron")
    factories.drug_get("paclitaxel", "chemo")


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_an_imported_visit_is_coded_and_queued_for_the_coder(
    importer, formulary, client_as, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = importer.post(BASE, chemo_visit_bundle())
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["type"] == "transaction-response"
    assert len(body["entry"]) == 8
    encounter = Encounter.objects.get(account_number="EXT-V-501")
    assert (encounter.imported_from, encounter.status) == ("Other EHR MAR", "signed")
    assert encounter.patient.name == "Okoye, Chidi"
    assert Order.objects.get(encounter=encounter, drug__name="paclitaxel").dose == "175 mg/m²"
    push = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
    assert (push.method, push.site.location) == ("push", "left forearm peripheral IV")
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    codes = set(run.lines.values_list("code", flat=True))
    assert "96413" in codes  # chemotherapy infusion, first hour
    assert ReviewItem.objects.filter(encounter=encounter).exists()
    worklist = client_as("coder").get(reverse("coding:worklist")).content.decode()
    assert "Okoye, Chidi" in worklist
    chart = client_as("nurse").get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert "imported: read-only here" in chart
    assert "?addendum=1" not in chart
    call = ApiCall.objects.get(method="POST")
    assert (call.status, call.encounters) == (200, [encounter.pk])
    contexts = pghistory.models.Context.objects.filter(metadata__api_token="Other EHR MAR")
    assert contexts.exists()


def test_the_imported_record_reads_back_through_the_api(importer, formulary) -> None:
    importer.post(BASE, chemo_visit_bundle())
    encounter = Encounter.objects.get(account_number="EXT-V-501")
    admins = importer.get(BASE + "MedicationAdministration", {"encounter": encounter.pk}).json()
    assert admins["total"] == 3


def test_a_drug_the_formulary_lacks_is_added_untagged_for_pharmacy(importer, formulary) -> None:
    bundle = chemo_visit_bundle()
    bundle["entry"][3]["resource"]["medicationCodeableConcept"] = {"text": "fosaprepitant"}
    assert importer.post(BASE, bundle).status_code == 200
    assert Order.objects.get(drug__name="fosaprepitant").drug.drug_class is None


def test_the_same_visit_twice_is_a_conflict(importer, formulary) -> None:
    assert importer.post(BASE, chemo_visit_bundle()).status_code == 200
    again = importer.post(BASE, chemo_visit_bundle())
    assert again.status_code == 409
    assert again.json()["issue"][0]["code"] == "duplicate"
    assert Encounter.objects.filter(account_number="EXT-V-501").count() == 1


@pytest.mark.parametrize(
    ("spoil", "expect"),
    [
        (lambda b: b.update(type="batch"), "transaction"),
        (lambda b: b["entry"][0]["resource"].update(gender="sometimes"), "gender"),
        (lambda b: b["entry"][1]["resource"]["period"].pop("start"), "period.start"),
        (
            lambda b: b["entry"][6]["resource"].update(request={"reference": "urn:uuid:nothing"}),
            "request",
        ),
        (
            lambda b: b["entry"].append(
                {
                    "resource": {
                        "resourceType": "Observation",
                        "status": "final",
                        "code": {"text": "x"},
                    }
                }
            ),
            "Observation",
        ),
        (
            lambda b: b["entry"][2]["resource"]["dosageInstruction"][0].update(
                route={"text": "oral"}
            ),
            "route",
        ),
        # Each of these was a 500 on PostgreSQL (a DataError naming no field) or was stored.
        (
            lambda b: b["entry"][3]["resource"].update(
                medicationCodeableConcept={"text": "x" * 300}
            ),
            "At most 200 characters",
        ),
        (
            lambda b: b["entry"][0]["resource"].update(name=[{"text": "Okoye\x00, Chidi"}]),
            "Bundle.entry[0].resource.name[0].text: a control character",
        ),
        (
            lambda b: b["entry"][2]["resource"]["dosageInstruction"][0]["doseAndRate"][0][
                "doseQuantity"
            ].update(unit="milligrams per square metre of body surface"),
            "dose_unit: At most 20 characters",
        ),
        (
            lambda b: b["entry"][1]["resource"]["period"].update(end="2026-03-01T12:00:00-05:00"),
            "the visit ends before it starts",
        ),
        (
            lambda b: (
                b["entry"][6]["resource"]
                .setdefault("dosage", {})
                .update(dose={"value": -5, "unit": "mg"})
            ),
            "The dose is a number above zero",
        ),
    ],
    ids=[
        "not-transaction",
        "bad-gender",
        "no-start",
        "dangling-reference",
        "other-type",
        "oral-route",
        "drug-name-longer-than-the-formulary-keeps",
        "nul-in-a-name",
        "dose-unit-longer-than-kept",
        "visit-ends-before-it-starts",
        "negative-dose-given",
    ],
)
def test_a_bad_bundle_is_refused_whole_with_an_operation_outcome(
    importer, formulary, spoil, expect
) -> None:
    bundle = chemo_visit_bundle()
    spoil(bundle)
    response = importer.post(BASE, bundle)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert expect in " ".join(i["diagnostics"] for i in body["issue"])
    assert not Patient.objects.filter(mrn="EXT-501").exists()
    assert not Order.objects.exists()


def test_garbage_is_refused(importer) -> None:
    response = importer.client.post(
        BASE, b"{not json", content_type="application/fhir+json", headers=importer.headers
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_json_nested_too_deeply_is_refused_not_a_500(importer) -> None:
    response = importer.client.post(
        BASE,
        b"[" * 100_000 + b"]" * 100_000,
        content_type="application/fhir+json",
        headers=importer.headers,
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["issue"][0]["diagnostics"]


def _administration(bundle: dict, ref: str) -> dict:
    return next(e for e in bundle["entry"] if e.get("fullUrl") == f"urn:uuid:{ref}")


def test_an_administration_not_done_is_not_charged_and_its_order_is_not_given(
    importer, formulary, django_capture_on_commit_callbacks
) -> None:
    """FHIR R4 MedicationAdministration.status not-done: the drug was not given. Charting it as
    given would bill a push never made; its order is documented not given, with the reason."""
    bundle = chemo_visit_bundle()
    antiemetic = _administration(bundle, "g2")["resource"]
    antiemetic["status"] = "not-done"
    antiemetic["statusReason"] = [{"text": "patient declined: no nausea"}]
    with django_capture_on_commit_callbacks(execute=True):
        response = importer.post(BASE, bundle)
    assert response.status_code == 200, response.json()
    encounter = Encounter.objects.get(account_number="EXT-V-501")
    assert not Administration.objects.filter(encounter=encounter, drug__name="ondansetron")
    order = Order.objects.get(encounter=encounter, drug__name="ondansetron")
    assert (order.disposition, order.disposition_reason) == (
        "not_given",
        "patient declined: no nausea",
    )
    codes = set(
        ChargeRun.objects.get(encounter=encounter, is_current=True).lines.values_list(
            "code", flat=True
        )
    )
    assert "96375" not in codes and "J2405" not in codes and "96413" in codes
    entry = response.json()["entry"][bundle["entry"].index(_administration(bundle, "g2"))]
    assert entry["response"]["status"] == "200 OK"
    assert entry["response"]["location"] == f"MedicationRequest/{order.pk}"
    assert "not given" in entry["response"]["outcome"]["issue"][0]["diagnostics"]


def test_an_administration_entered_in_error_is_left_out(importer, formulary) -> None:
    bundle = chemo_visit_bundle()
    _administration(bundle, "g2")["resource"]["status"] = "entered-in-error"
    response = importer.post(BASE, bundle)
    assert response.status_code == 200, response.json()
    encounter = Encounter.objects.get(account_number="EXT-V-501")
    assert not Administration.objects.filter(encounter=encounter, drug__name="ondansetron")
    order = Order.objects.get(encounter=encounter, drug__name="ondansetron")
    assert order.disposition == ""  # nothing said of it: DOC-6 asks the coder's attention
    assert Administration.objects.filter(encounter=encounter).count() == 2


def test_a_not_done_beside_a_given_administration_of_the_same_order_changes_nothing(
    importer, formulary
) -> None:
    bundle = chemo_visit_bundle()
    again = copy.deepcopy(_administration(bundle, "g2"))
    again["fullUrl"] = "urn:uuid:g2-again"
    again["resource"]["status"] = "not-done"
    bundle["entry"].append(again)
    response = importer.post(BASE, bundle)
    assert response.status_code == 200, response.json()
    encounter = Encounter.objects.get(account_number="EXT-V-501")
    order = Order.objects.get(encounter=encounter, drug__name="ondansetron")
    assert order.disposition == "" and order.administrations.count() == 1
    last = response.json()["entry"][-1]["response"]
    assert "given by another administration" in last["outcome"]["issue"][0]["diagnostics"]


def test_the_transaction_response_lists_the_entries_in_the_requests_order(
    importer, formulary
) -> None:
    """FHIR: a transaction-response's entries are in the order of the request's, whatever
    order the server processes them in (here patients first, administrations last)."""
    bundle = chemo_visit_bundle()
    bundle["entry"].reverse()  # administrations first, the patient last
    response = importer.post(BASE, bundle)
    assert response.status_code == 200, response.json()
    kinds = [e["response"]["location"].split("/")[0] for e in response.json()["entry"]]
    assert kinds == [e["resource"]["resourceType"] for e in bundle["entry"]]


def test_an_order_cancelled_in_the_other_ehr_is_documented_not_given(importer, formulary) -> None:
    """MedicationRequest.status cancelled with no administration: not to give, said on the
    order (not an open "ordered, not given" question for the coder)."""
    bundle = chemo_visit_bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e.get("fullUrl") != "urn:uuid:g2"]
    request = next(e for e in bundle["entry"] if e.get("fullUrl") == "urn:uuid:antiemetic")
    request["resource"]["status"] = "cancelled"
    response = importer.post(BASE, bundle)
    assert response.status_code == 200, response.json()
    order = Order.objects.get(encounter__account_number="EXT-V-501", drug__name="ondansetron")
    assert order.disposition == "not_given"
    assert order.disposition_reason == "order cancelled in Other EHR MAR"
