"""A session idle for SESSION_IDLE_SECONDS (30 minutes by default) ends; activity extends it."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def signed_in(client: Client) -> bool:
    response = client.get("/")
    return not response.headers.get("Location", "").startswith("/accounts/login/")


def test_an_idle_session_ends(client, nurse_user) -> None:
    client.force_login(nurse_user)
    assert signed_in(client)
    # 31 minutes without a request: the server-side expiry has passed.
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert not signed_in(client)


def test_each_request_pushes_the_expiry_on(client, nurse_user, settings) -> None:
    client.force_login(nurse_user)
    Session.objects.update(expire_date=timezone.now() + timedelta(minutes=1))
    assert signed_in(client)
    expiry = Session.objects.get().expire_date
    idle = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert expiry > timezone.now() + idle - timedelta(minutes=1)


def test_activity_pushes_the_expiry_on_at_most_once_a_minute(client, nurse_user) -> None:
    """The session row is written when the last push is a minute old, not on every request
    (issue 19: three queries a request); the idle sign-off stays within a minute of 30."""
    client.force_login(nurse_user)
    assert signed_in(client)  # the first request pushes
    pushed = Session.objects.get().expire_date
    with CaptureQueriesContext(connection) as captured:
        assert signed_in(client)
    assert Session.objects.get().expire_date == pushed
    assert not any("django_session" in q["sql"] and "UPDATE" in q["sql"] for q in captured)
    later = time.time() + 61
    with mock.patch("config.session.time.time", return_value=later):
        assert signed_in(client)
    assert Session.objects.get().expire_date > pushed


def test_the_idle_time_is_thirty_minutes_and_configurable(settings) -> None:
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_PUSH_SECONDS == 60
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ENV"}
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); "
         "from django.conf import settings; print(settings.SESSION_COOKIE_AGE)"],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings",
                       "SESSION_IDLE_SECONDS": "600"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "600"


def test_a_form_posted_without_a_session_signs_in_back_to_its_page_not_a_405() -> None:
    """Without JavaScript the post is lost, but signing in leads to the page it came from."""
    encounter, run, _ = reviewed()
    line = run.lines.first()
    page_url = reverse("coding:encounter_charges", args=[encounter.pk])
    response = Client().post(
        reverse("coding:line_correct", args=[encounter.pk, line.pk]),
        {"reason": "wrong units"},
        HTTP_REFERER=f"http://testserver{page_url}",
    )
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={page_url}"
    elsewhere = Client().post(
        reverse("coding:line_correct", args=[encounter.pk, line.pk]),
        {"reason": "wrong units"},
        HTTP_REFERER="http://evil.example/coding/",
    )
    assert elsewhere["Location"] == f"{reverse('login')}?next=/"


def test_a_form_posted_without_a_session_is_said_not_sent_on_the_sign_in_page() -> None:
    """Without JavaScript (the pages' forms ask first, static/js/session.js): the sign-in page
    says the form was not sent and that what was typed is to be typed again (QA: a bare "Sign
    in" page, then the order form empty, and nothing said)."""
    encounter = factories.encounter_create()
    page_url = reverse("registration:order_new", args=[encounter.pk])
    client = Client()
    response = client.post(
        page_url, {"drug": "oxaliplatin"}, HTTP_REFERER=f"http://testserver{page_url}"
    )
    assert response["Location"] == f"{reverse('login')}?next={page_url}"
    login_page = client.get(response["Location"]).content.decode()
    assert "before this form was sent: nothing of it was saved" in login_page
    assert "type it again and send it" in login_page
    assert "choose it again" not in login_page


def test_a_file_posted_without_a_session_is_said_to_be_chosen_again() -> None:
    """A file input cannot be kept by the browser across the sign-in page: said plainly."""
    page_url = reverse("coding:charge_master_upload")
    client = Client()
    response = client.post(
        page_url,
        {"effective_from": "2026-12-01", "file": SimpleUploadedFile("cdm.csv", b"code,price\n")},
        HTTP_REFERER=f"http://testserver{page_url}",
    )
    assert response.status_code == 302
    login_page = client.get(response["Location"]).content.decode()
    assert "A file you chose is not kept either" in login_page
    assert "choose it again" in login_page
