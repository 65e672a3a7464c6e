"""config/session.py: an ended session answers htmx with 401 + X-Session-Expired (never the
sign-in page to swap into a card, never Django's CSRF page); background polls do not extend an
idle session; the sign-in dialog's endpoint signs in again and hands over a fresh CSRF token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from tests import factories
from tests.mar.chart_helpers import card_data, running_visit

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
POLL = {"HX-Request": "true", "X-MAR-Background": "1"}


def expire_sessions() -> None:
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))


def test_an_htmx_change_after_the_session_ended_gets_401_not_the_sign_in_page(
    client, nurse_user
) -> None:
    encounter, adm = running_visit()
    client.force_login(nurse_user)
    expire_sessions()
    url = f"/mar/encounters/{encounter.pk}/administrations/{adm.pk}/"
    response = client.post(url, card_data(adm, bag="B9"), headers=HTMX)
    assert response.status_code == 401
    assert response.headers["X-Session-Expired"] == "1"
    assert b"<form" not in response.content
    # Without htmx: the sign-in page, as before.
    plain = client.get(f"/mar/encounters/{encounter.pk}/")
    assert plain.status_code == 302 and plain.headers["Location"].startswith("/accounts/login/")


def test_an_htmx_post_without_session_or_csrf_cookie_gets_401_not_the_csrf_page(
    nurse_user,
) -> None:
    encounter, adm = running_visit()
    client = Client(enforce_csrf_checks=True)  # no cookies at all: both expired
    url = f"/mar/encounters/{encounter.pk}/administrations/{adm.pk}/"
    response = client.post(url, card_data(adm, bag="B9"), headers=HTMX)
    assert response.status_code == 401
    assert response.headers["X-Session-Expired"] == "1"


def test_a_stale_token_with_a_live_session_asks_the_page_to_refresh_it(nurse_user) -> None:
    encounter, adm = running_visit()
    client = Client(enforce_csrf_checks=True)
    client.force_login(nurse_user)
    url = f"/mar/encounters/{encounter.pk}/administrations/{adm.pk}/"
    response = client.post(url, card_data(adm), headers={**HTMX, "X-CSRFToken": "stale" * 7})
    assert response.status_code == 403
    assert response.headers["X-CSRF-Refresh"] == "1"
    plain = client.post(url, card_data(adm))
    assert plain.status_code == 403 and b"CSRF" in plain.content  # Django's page without htmx


def test_the_checklist_poll_does_not_push_the_idle_expiry_on(client, nurse_user) -> None:
    encounter, _adm = running_visit()
    client.force_login(nurse_user)
    soon = timezone.now() + timedelta(minutes=2)
    Session.objects.update(expire_date=soon)
    response = client.get(f"/mar/encounters/{encounter.pk}/checklist/", headers=POLL)
    assert response.status_code == 200
    assert Session.objects.get().expire_date == soon
    assert "sessionid" not in response.cookies  # nor the cookie's expiry
    # What the nurse does herself pushes it on.
    client.get(f"/mar/encounters/{encounter.pk}/checklist/", headers=HTMX)
    assert Session.objects.get().expire_date > soon + timedelta(minutes=20)


def test_a_poll_after_the_idle_sign_off_gets_401(client, nurse_user) -> None:
    encounter, _adm = running_visit()
    client.force_login(nurse_user)
    expire_sessions()
    response = client.get(f"/mar/encounters/{encounter.pk}/checklist/", headers=POLL)
    assert response.status_code == 401


def test_signing_in_again_from_the_dialog_gives_a_new_token_that_saves(nurse_user) -> None:
    encounter, adm = running_visit()
    client = Client(enforce_csrf_checks=True)
    first = client.get("/accounts/resume/").json()
    assert first["ok"] is False and first["csrf_token"]
    wrong = client.post(
        "/accounts/resume/",
        {"username": "nurse1", "password": "nope"},
        headers={"X-CSRFToken": first["csrf_token"]},
    )
    assert wrong.status_code == 400 and wrong.json()["errors"]
    answer = client.post(
        "/accounts/resume/",
        {"username": "nurse1", "password": factories.PASSWORD},
        headers={"X-CSRFToken": first["csrf_token"]},
    ).json()
    assert answer["ok"] and answer["username"] == "nurse1"
    url = f"/mar/encounters/{encounter.pk}/administrations/{adm.pk}/"
    saved = client.post(
        url, card_data(adm, bag="B9"), headers={**HTMX, "X-CSRFToken": answer["csrf_token"]}
    )
    assert saved.status_code == 200
    adm.refresh_from_db()
    assert adm.bag == "B9"


def test_an_expired_answer_leaves_the_session_cookie_alone(client, nurse_user) -> None:
    """A slow request's 401, answered after she signed in again from the dialog, must not
    delete the new session's cookie (Django deletes an ended session's cookie): the next save
    was refused and the sign-in box opened again."""
    encounter, adm = running_visit()
    client.force_login(nurse_user)
    Session.objects.all().delete()  # the idle sign-off
    url = f"/mar/encounters/{encounter.pk}/administrations/{adm.pk}/"
    response = client.post(url, card_data(adm, bag="B9"), headers=HTMX)
    assert response.status_code == 401 and response.headers["X-Session-Expired"] == "1"
    assert "sessionid" not in response.cookies
    # A request without the header (a plain page) still has the ended session's cookie deleted.
    plain = client.get(f"/mar/encounters/{encounter.pk}/")
    assert plain.status_code == 302
    assert plain.cookies["sessionid"].value == ""


def test_a_stale_token_answer_leaves_the_session_cookie_alone(nurse_user) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(nurse_user)
    session = client.session
    session["_idle_pushed_at"] = 0  # due a push: the session is saved, its cookie sent
    session.save()
    encounter, adm = running_visit()
    url = f"/mar/encounters/{encounter.pk}/administrations/{adm.pk}/"
    client.cookies["csrftoken"] = "a" * 32
    response = client.post(url, card_data(adm), headers={**HTMX, "X-CSRFToken": "b" * 32})
    assert response.status_code == 403 and response.headers["X-CSRF-Refresh"] == "1"
    assert "sessionid" not in response.cookies


def test_the_dialogs_question_leaves_the_session_cookie_alone_and_signing_in_sets_it(
    client, nurse_user
) -> None:
    """The plain forms' question (GET /accounts/resume/), answered late, must not delete the
    new session's cookie either; signing in from the dialog still sets it."""
    client.force_login(nurse_user)
    Session.objects.all().delete()
    asked = client.get("/accounts/resume/")
    assert asked.json()["ok"] is False
    assert "sessionid" not in asked.cookies
    signed = client.post(
        "/accounts/resume/", {"username": "nurse1", "password": factories.PASSWORD}
    )
    assert signed.json()["ok"] and signed.cookies["sessionid"].value
