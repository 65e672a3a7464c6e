"""API tokens for the FHIR tests, and a signed chemo encounter with its charges."""

import pytest
from django.test import Client

from coding.fhir.auth import api_token_create
from coding.services import charge_run_generate
from mar.models import Encounter
from tests import factories


class Api:
    """A client that sends the token's key as a Bearer header."""

    def __init__(self, key: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str, params: dict[str, object] | None = None):
        return self.client.get(path, params or {}, headers=self.headers)

    def post(self, path: str, body: object):
        import json

        return self.client.post(
            path, json.dumps(body), content_type="application/fhir+json", headers=self.headers
        )


@pytest.fixture
def reader(db: None) -> Api:
    _token, key = api_token_create(name="Analytics", scopes=["read"])
    return Api(key)


@pytest.fixture
def importer(db: None) -> Api:
    _token, key = api_token_create(name="Other EHR MAR", scopes=["read", "import"])
    return Api(key)


@pytest.fixture
def coded_encounter(db: None) -> Encounter:
    encounter = factories.chemo_encounter_create()
    Encounter.objects.filter(pk=encounter.pk).update(status=Encounter.Status.SIGNED)
    charge_run_generate(encounter_id=encounter.pk)
    encounter.refresh_from_db()
    return encounter
