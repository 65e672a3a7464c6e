"""Five failed sign-ins for one username from one address in 15 minutes lock that pair out."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mar.audit.models import LoginFailure
from tests import factories

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def attempt(password: str, *, username: str = "nurse1", ip: str = "10.0.0.7") -> bool:
    """Post the sign-in form; True if it signed in."""
    client = Client(REMOTE_ADDR=ip)
    response = client.post(LOGIN, {"username": username, "password": password})
    return response.status_code == 302 and "_auth_user_id" in client.session


def test_the_right_password_signs_in(nurse_user) -> None:
    assert attempt(factories.PASSWORD)


def test_five_failures_lock_out_even_the_right_password(nurse_user) -> None:
    for _ in range(5):
        assert not attempt("wrong")
    assert not attempt(factories.PASSWORD)
    assert LoginFailure.objects.filter(username="nurse1", ip="10.0.0.7").count() == 6


def test_four_failures_do_not_lock_and_a_success_clears_them(nurse_user) -> None:
    for _ in range(4):
        assert not attempt("wrong")
    assert attempt(factories.PASSWORD)
    assert not LoginFailure.objects.filter(username="nurse1").exists()
    for _ in range(4):
        assert not attempt("wrong")
    assert attempt(factories.PASSWORD)


def test_the_lockout_is_per_username_and_address(nurse_user, coder_user) -> None:
    for _ in range(5):
        attempt("wrong")
    assert attempt(factories.PASSWORD, ip="10.0.0.8")  # the same nurse at another station
    assert attempt(factories.PASSWORD, username="coder1")  # another user at this station


def test_the_lockout_ends_after_the_window(nurse_user, settings) -> None:
    for _ in range(5):
        attempt("wrong")
    assert not attempt(factories.PASSWORD)
    window = timedelta(seconds=settings.LOCKOUT_WINDOW_SECONDS)
    LoginFailure.objects.update(at=timezone.now() - window - timedelta(seconds=1))
    assert attempt(factories.PASSWORD)


def test_the_admin_sign_in_is_locked_out_too(admin_role_user) -> None:
    client = Client(REMOTE_ADDR="10.0.0.9")
    for _ in range(5):
        client.post("/admin/login/", {"username": "admin1", "password": "wrong"})
    client.post("/admin/login/", {"username": "admin1", "password": factories.PASSWORD})
    assert "_auth_user_id" not in client.session


def test_the_defaults_are_five_in_fifteen_minutes(settings) -> None:
    assert settings.LOCKOUT_FAILURES == 5
    assert settings.LOCKOUT_WINDOW_SECONDS == 15 * 60


def test_a_locked_out_user_is_told_why(nurse_user) -> None:
    client = Client(REMOTE_ADDR="10.0.0.7")
    for _ in range(5):
        response = client.post(LOGIN, {"username": "nurse1", "password": "wrong"})
    assert b"Too many failed sign-ins" in response.content
    response = client.post(LOGIN, {"username": "nurse1", "password": factories.PASSWORD})
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_behind_the_proxy_the_address_is_the_last_forwarded_hop(nurse_user, settings) -> None:
    settings.LOCKOUT_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    for _ in range(5):
        Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 10.9.9.9").post(
            LOGIN, {"username": "nurse1", "password": "wrong"}
        )
    assert LoginFailure.objects.filter(ip="10.9.9.9").count() == 5
    # Another tablet behind the same proxy is not locked out; a forged first hop changes nothing.
    other = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.8")
    other.post(LOGIN, {"username": "nurse1", "password": factories.PASSWORD})
    assert "_auth_user_id" in other.session
    forged = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 10.9.9.9")
    forged.post(LOGIN, {"username": "nurse1", "password": factories.PASSWORD})
    assert "_auth_user_id" not in forged.session
