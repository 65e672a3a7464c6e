"""Read and search as FHIR R4 JSON: Patient, Encounter, MedicationRequest,
MedicationAdministration, ChargeItem; paging; _lastUpdated; tokens and scopes."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from coding.fhir.auth import api_token_create, api_token_revoke
from coding.models import ApiCall, ChargeRun
from mar.models import Patient
from tests import factories

pytestmark = pytest.mark.django_db

BASE = "/fhir/R4/"


def test_metadata_says_what_is_served(client) -> None:
    body = client.get(BASE + "metadata").json()
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"
    kinds = {r["type"] for r in body["rest"][0]["resource"]}
    assert kinds == {
        "Patient",
        "Encounter",
        "MedicationRequest",
        "MedicationAdministration",
        "ChargeItem",
    }


def test_a_patient_reads_with_mrn_gender_and_birth_date(reader) -> None:
    patient = factories.patient_create(name="Rivera, Ana", sex="F", birth_date="1961-04-09")
    body = reader.get(f"{BASE}Patient/{patient.pk}").json()
    assert body["resourceType"] == "Patient"
    assert body["identifier"][0]["value"] == patient.mrn
    assert (body["gender"], body["birthDate"]) == ("female", "1961-04-09")
    assert body["name"][0] == {"text": "Rivera, Ana", "family": "Rivera", "given": ["Ana"]}
    assert body["meta"]["lastUpdated"]


def test_the_encounter_and_its_orders_administrations_and_charges(reader, coded_encounter) -> None:
    e = coded_encounter
    encounter = reader.get(f"{BASE}Encounter/{e.pk}").json()
    assert (encounter["status"], encounter["subject"]["reference"]) == (
        "finished",
        f"Patient/{e.patient_id}",
    )
    requests = reader.get(BASE + "MedicationRequest", {"encounter": e.pk}).json()
    assert requests["total"] == e.orders.count()
    administrations = reader.get(
        BASE + "MedicationAdministration", {"context": f"Encounter/{e.pk}"}
    )
    adm = administrations.json()["entry"][0]["resource"]
    assert adm["effectivePeriod"]["start"]
    assert adm["request"]["reference"].startswith("MedicationRequest/")
    assert "dosage" in adm and "route" in adm["dosage"]
    charges = reader.get(BASE + "ChargeItem", {"encounter": e.pk}).json()
    run = ChargeRun.objects.get(encounter=e, is_current=True)
    assert charges["total"] == run.lines.count() > 0
    item = charges["entry"][0]["resource"]
    assert item["context"]["reference"] == f"Encounter/{e.pk}"
    # every administration a charge names is readable by that reference
    for ref in item["service"]:
        assert reader.get(BASE + ref["reference"]).status_code == 200
    assert reader.get(f"{BASE}ChargeItem/{item['id']}").json()["id"] == item["id"]


def test_a_medication_administration_carries_dose_and_performer(reader) -> None:
    encounter = factories.chemo_encounter_create()
    adm = encounter.administrations.first()
    adm.dose_value, adm.dose_unit = 85, "mg"
    adm.created_by = factories.user_create(username="rn-ana", role="nurse")
    adm.save()
    body = reader.get(f"{BASE}MedicationAdministration/A{adm.pk}").json()
    assert body["dosage"]["dose"] == {"value": 85, "unit": "mg"}
    assert body["performer"][0]["actor"]["display"] == "rn-ana"
    assert body["status"] in ("completed", "in-progress")


def test_search_pages_with_next_links(reader) -> None:
    for n in range(5):
        factories.patient_create(name=f"Page, Test {n}")
    first = reader.get(BASE + "Patient", {"name": "Page", "_count": 2}).json()
    assert (first["total"], len(first["entry"])) == (5, 2)
    seen = [e["resource"]["id"] for e in first["entry"]]
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    while next_url:
        page = reader.get(next_url.replace("http://testserver", "")).json()
        seen += [e["resource"]["id"] for e in page["entry"]]
        next_url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert len(seen) == len(set(seen)) == 5


def test_last_updated_filters(reader) -> None:
    old = factories.patient_create(name="Old, Record")
    Patient.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=10))
    new = factories.patient_create(name="New, Record")
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    found = reader.get(BASE + "Patient", {"_lastUpdated": f"ge{since}", "name": "Record"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(new.pk)]
    before = reader.get(BASE + "Patient", {"_lastUpdated": f"lt{since}", "name": "Record"}).json()
    assert [e["resource"]["id"] for e in before["entry"]] == [str(old.pk)]


def test_identifier_search(reader) -> None:
    patient = factories.patient_create(mrn="Z-77")
    found = reader.get(BASE + "Patient", {"identifier": "urn:infusion-mar:mrn|Z-77"}).json()
    assert found["entry"][0]["resource"]["id"] == str(patient.pk)


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("Observation", {}, 404),
        ("Patient/999999", {}, 404),
        ("Patient", {"_lastUpdated": "yesterday"}, 400),
        ("Patient", {"colour": "blue"}, 400),
        ("Patient", {"_count": "-1"}, 400),
        ("Encounter", {"patient": "Patient/abc"}, 400),
        ("ChargeItem/run1-lineX", {}, 404),
        # A date of the right shape that is no date was a 500 (Django's parser raises on it).
        ("Patient", {"_lastUpdated": "gt2026-13-45"}, 400),
        ("Encounter", {"_lastUpdated": "2026-02-30T10:00:00Z"}, 400),
        # A birth date that is no date found nothing instead of saying so.
        ("Patient", {"birthdate": "notadate"}, 400),
        ("Patient", {"birthdate": "1961-02-30"}, 400),
        # Asked for XML, the answer was JSON: 406, as FHIR's http page asks.
        ("Patient", {"_format": "xml"}, 406),
        ("Patient/1", {"_format": "application/fhir+xml"}, 406),
    ],
)
def test_errors_answer_an_operation_outcome(reader, path, params, status) -> None:
    response = reader.get(BASE + path, params)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response["Content-Type"] == "application/fhir+json"


def test_a_birthdate_and_json_formats_still_search(reader) -> None:
    patient = factories.patient_create(name="Rivera, Ana", sex="F", birth_date="1961-04-09")
    for fmt in ("json", "application/fhir+json", "application/json"):
        body = reader.get(BASE + "Patient", {"birthdate": "1961-04-09", "_format": fmt}).json()
        assert [e["resource"]["id"] for e in body["entry"]] == [str(patient.pk)]


def test_no_token_a_revoked_token_and_a_session_are_refused(client, admin_role_user) -> None:
    token, key = api_token_create(name="Gone", scopes=["read"])
    assert client.get(BASE + "Patient").status_code == 401
    client.force_login(admin_role_user)  # a signed-in person is not an integration
    assert client.get(BASE + "Patient").status_code == 401
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get(BASE + "Patient", headers=headers).status_code == 200
    api_token_revoke(token=token, user=admin_role_user)
    response = client.get(BASE + "Patient", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_read_token_cannot_import(reader) -> None:
    response = reader.post(BASE, {"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert response.status_code == 403


def test_every_call_is_in_the_audit_trail(reader) -> None:
    reader.get(BASE + "Patient")
    reader.get(BASE + "Nothing")
    calls = list(ApiCall.objects.order_by("pk").values_list("token__name", "path", "status"))
    assert calls == [("Analytics", "/fhir/R4/Patient", 200), ("Analytics", "/fhir/R4/Nothing", 404)]


def test_the_key_is_stored_only_as_its_hash() -> None:
    token, key = api_token_create(name="Hashing", scopes=["read"])
    assert key not in (token.key_hash, token.key_prefix) and len(token.key_hash) == 64


def test_the_token_command_makes_and_revokes(client) -> None:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("fhir_token", "Epic MAR", "--scope", "read", stdout=out)
    key = out.getvalue().rsplit(": ", 1)[1].strip()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get(BASE + "Patient", headers=headers).status_code == 200
    call_command("fhir_token", "Epic MAR", "--revoke", stdout=io.StringIO())
    assert client.get(BASE + "Patient", headers=headers).status_code == 401


def test_over_plain_http_where_https_is_required_the_api_refuses_not_redirects(reader) -> None:
    """A 301 to https:// came after the token had crossed the network in the clear, and a client
    following it may re-send a POSTed Bundle as a GET: refused with a 403 that says so, the call
    logged with its token; the rest of the site still redirects, and HTTPS is served."""
    with override_settings(
        SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
    ):
        plain = reader.get(BASE + "Patient")
        assert plain.status_code == 403
        assert "HTTPS only" in plain.json()["issue"][0]["diagnostics"]
        assert ApiCall.objects.get(status=403).token is not None
        assert reader.client.get(BASE + "metadata").status_code == 403
        assert reader.client.get("/accounts/login/").status_code == 301
        secure = reader.client.get(
            BASE + "Patient", headers={**reader.headers, "X-Forwarded-Proto": "https"}
        )
        assert secure.status_code == 200
