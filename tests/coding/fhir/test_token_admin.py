"""API tokens are made and revoked by an admin in the Django admin (issue 16): the key is shown
once when made, works as a Bearer token, and stops working when revoked (who and when kept)."""

import re

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client

from coding.models import ApiToken
from tests import factories

pytestmark = pytest.mark.django_db
METADATA_FREE = "/fhir/R4/Patient"


@pytest.fixture
def admin_client(db) -> tuple[Client, User]:
    client = Client()
    user = User.objects.create_superuser("root", password=factories.PASSWORD)
    client.force_login(user)
    return client, user


def test_an_admin_makes_a_token_sees_its_key_once_and_revokes_it(admin_client) -> None:
    client, user = admin_client
    response = client.post(
        "/admin/coding/apitoken/add/", {"name": "Interface engine", "scopes": ["read"]}
    )
    assert response.status_code == 302
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    key = re.search(r"copy it now\): (\S+)", " ".join(shown))
    assert key, shown
    token = ApiToken.objects.get(name="Interface engine")
    assert key.group(1) not in (token.key_hash, "")  # only its hash is stored
    api = Client()
    bearer = {"Authorization": f"Bearer {key.group(1)}"}
    assert api.get(METADATA_FREE, headers=bearer).status_code == 200

    response = client.post(
        "/admin/coding/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == user
    assert api.get(METADATA_FREE, headers=bearer).status_code == 401
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Revoked: Interface engine" in m for m in shown), shown


def test_an_issued_tokens_scopes_cannot_be_widened_in_the_admin(admin_client) -> None:
    client, _user = admin_client
    client.post("/admin/coding/apitoken/add/", {"name": "Reader", "scopes": ["read"]})
    token = ApiToken.objects.get(name="Reader")
    client.post(
        f"/admin/coding/apitoken/{token.pk}/change/",
        {"name": "Reader", "scopes": '["read", "import"]'},
    )
    token.refresh_from_db()
    assert token.scopes == ["read"]


@pytest.mark.parametrize(
    ("scopes", "said"),
    [
        ([], "Choose at least one scope."),
        (["write"], "Select a valid choice. write is not one of the available choices."),
        ('["read"]', "is not one of the available choices"),  # JSON typed as before
    ],
)
def test_a_token_without_a_known_scope_is_refused_beside_the_field_not_a_500(
    admin_client, scopes, said
) -> None:
    client, _user = admin_client
    response = client.post("/admin/coding/apitoken/add/", {"name": "Lab", "scopes": scopes})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert said in " ".join(errors["scopes"])
    assert not ApiToken.objects.exists()


def test_a_second_token_for_an_integration_named_in_another_case_is_refused_not_a_500(
    admin_client,
) -> None:
    client, _user = admin_client
    client.post("/admin/coding/apitoken/add/", {"name": "Epic MAR", "scopes": ["read"]})
    response = client.post("/admin/coding/apitoken/add/", {"name": "epic mar", "scopes": ["read"]})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "An integration named Epic MAR already has a token" in " ".join(errors["name"])
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["Epic MAR"]


def test_the_add_form_offers_the_scopes_as_checkboxes(admin_client) -> None:
    client, _user = admin_client
    page = client.get("/admin/coding/apitoken/add/").content.decode()
    assert 'type="checkbox" name="scopes" value="read"' in page
    assert 'type="checkbox" name="scopes" value="import"' in page
