"""Each role lands on its own start page; the pages list real data."""

import re

import pytest
from django.urls import reverse

from mar import roles
from tests import factories

START = {
    roles.NURSE: reverse("mar:board"),
    roles.PHARMACIST: reverse("pharmacy:worklist"),
    roles.CODER: reverse("coding:worklist"),
    roles.ADMIN: reverse("admin:index"),
}


@pytest.mark.parametrize("role", sorted(START))
def test_home_redirects_each_role_to_its_start_page(client_as, role: str) -> None:
    response = client_as(role).get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == START[role]


@pytest.mark.parametrize("role", sorted(START))
def test_each_start_page_renders_for_its_role(client_as, role: str) -> None:
    response = client_as(role).get(START[role])
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_user_without_a_role_is_told_so(client) -> None:
    client.force_login(factories.user_create(username="norole"))
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert b"No role assigned" in response.content


@pytest.mark.parametrize(
    ("role", "url"),
    [
        (roles.NURSE, reverse("coding:worklist")),
        (roles.NURSE, reverse("pharmacy:worklist")),
        (roles.CODER, reverse("mar:board")),
        (roles.PHARMACIST, reverse("coding:worklist")),
    ],
)
def test_other_roles_start_pages_are_refused(client_as, role: str, url: str) -> None:
    assert client_as(role).get(url).status_code == 403


def test_the_nav_shows_the_role_and_a_post_logout(client_as) -> None:
    page = client_as(roles.NURSE).get(reverse("mar:board")).content.decode()
    assert "nurse</span>" in page
    assert f'method="post" action="{reverse("logout")}"' in page


def test_pages_send_the_csrf_token_with_htmx_requests(client_as) -> None:
    page = client_as(roles.NURSE).get(reverse("mar:board")).content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    assert "htmx" in page


def test_pages_load_their_scripts_and_styles_from_the_app_not_a_cdn(client_as) -> None:
    # The random CSRF token can hold the letters "cdn"; what matters is where assets come from.
    page = client_as(roles.NURSE).get(reverse("mar:board")).content.decode()
    sources = re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"', page)
    assert any("htmx" in source for source in sources)
    assert sources
    assert all(source.startswith("/") and not source.startswith("//") for source in sources)


def test_logout_is_a_post(client_as) -> None:
    client = client_as(roles.NURSE)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("mar:board")).status_code == 302


@pytest.mark.parametrize(
    ("bare", "first_page", "role"),
    [
        ("/mar/", "mar:board", roles.NURSE),
        ("/coding/", "coding:worklist", roles.CODER),
        ("/interfaces/", "hl7:messages", roles.ADMIN),
    ],
)
def test_an_apps_bare_address_leads_to_its_first_page_not_a_404(
    client, client_as, bare: str, first_page: str, role: str
) -> None:
    response = client_as(role).get(bare)
    assert (response.status_code, response["Location"]) == (302, reverse(first_page))
    assert client_as(role).get(bare, follow=True).status_code == 200
    assert client.get(bare)["Location"].startswith(reverse("login"))  # signed out: sign in
