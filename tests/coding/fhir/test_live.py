"""One round trip over a real HTTP socket (live server): import a Bundle, search it back."""

import json
import urllib.error
import urllib.request

import pytest

from coding.fhir.auth import api_token_create
from tests import factories
from tests.coding.fhir.bundles import chemo_visit_bundle

pytestmark = pytest.mark.django_db(transaction=True)


def call(url: str, key: str, body: object | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method="POST" if data else "GET",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/fhir+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_import_then_search_over_http(live_server) -> None:
    for name, drug_class in (
        ("sodium chloride 0.9%", "hydration"),
        ("ondansetron", "therapeutic"),
        ("paclitaxel", "chemo"),
    ):
        factories.drug_get(name, drug_class)
    _token, key = api_token_create(name="Live EHR", scopes=["read", "import"])
    base = f"{live_server.url}/fhir/R4/"
    status, body = call(base, key, chemo_visit_bundle(mrn="LIVE-1", account="LIVE-V-1"))
    assert status == 200, body
    status, found = call(f"{base}Patient?identifier=LIVE-1", key)
    assert (status, found["total"]) == (200, 1)
    patient_id = found["entry"][0]["resource"]["id"]
    status, visits = call(f"{base}Encounter?patient={patient_id}", key)
    assert visits["entry"][0]["resource"]["status"] == "finished"
    status, charges = call(f"{base}ChargeItem?patient={patient_id}", key)
    assert status == 200 and charges["total"] > 0
    status, refused = call(f"{base}Patient", "mar_wrong")
    assert (status, refused["resourceType"]) == (401, "OperationOutcome")
