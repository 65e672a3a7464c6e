"""config/form_refill.py: a plain form posted after the session ended (no JavaScript) is kept on
the server for the user who was signed in, and after she signs in again its page comes back
(a GET, never the post sent again) with what she typed filled in and said at the top; once, for
her only, for 15 minutes, never a password, the CSRF token or a file, nothing when too long."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from coding.models import ChargeCorrection
from coding.review import review_claim
from config.form_refill import (
    PRESS_AGAIN,
    REFILLED,
    STASH_KEY,
    STASH_MAX_CHARS,
    STASH_SALT,
    STASH_SECONDS,
    WHO_COOKIE,
)
from mar.models import Drug, Order
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db

ORDER = {
    "drug": "oxaliplatin",
    "dose_value": "85",
    "dose_basis": "per_m2",
    "duration_minutes": "120",
    "indication": "C18.9 Malignant neoplasm of colon, unspecified",
    "ordering_provider": "Dr. Amara Okafor",
    "ordering_provider_npi": "1234567893",
    "entry_method": "verbal",
    "entry_key": "k-typed-once",
}


def on_the_page(user, page: str) -> Client:
    """Signed in and on the form's page (which names her on this browser: WHO_COOKIE)."""
    client = Client()
    client.force_login(user)
    assert client.get(page).status_code == 200
    assert WHO_COOKIE in client.cookies
    return client


def idle_sign_off() -> None:
    """The session ended on the server; the browser still names it."""
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))


def posted_signed_out(client: Client, action: str, page: str, data: dict, **extra) -> str:
    """Posted without a session: the sign-in page, whose words are returned."""
    response = client.post(action, data, HTTP_REFERER=f"http://testserver{page}", **extra)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.path, parse_qs(location.query)["next"]) == (reverse("login"), [page])
    return client.get(response["Location"]).content.decode()


def sign_in(client: Client, username: str, page: str) -> str:
    """Signed in through the sign-in page: back on the form's page (GET), its HTML returned."""
    response = client.post(
        reverse("login"), {"username": username, "password": factories.PASSWORD, "next": page}
    )
    assert response.status_code == 302 and response["Location"] == page
    answer = client.get(page)
    assert answer.status_code == 200
    return answer.content.decode()


def stash_in(client: Client) -> dict | None:
    value = client.session.get(STASH_KEY)
    return None if value is None else signing.loads(value, salt=STASH_SALT)


# --- three forms ----------------------------------------------------------------------------


def test_an_order_typed_when_the_session_ended_comes_back_filled_for_the_same_clerk(
    clerk_user,
) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    page = reverse("registration:order_new", args=[encounter.pk]) + "?from=chart"
    client = on_the_page(clerk_user, page)
    idle_sign_off()

    said = posted_signed_out(client, page, page, ORDER)
    assert "before this form was sent: nothing of it was saved" in said
    assert "What you typed is kept for 15 minutes: sign in again as the same user" in said
    assert not Order.objects.exists()

    html = sign_in(client, "clerk1", page)
    assert REFILLED in html  # at the top
    assert html.index(REFILLED) < html.index("Enter an order for")
    assert 'value="1234567893"' in html and 'value="Dr. Amara Okafor"' in html
    assert 'value="k-typed-once"' in html  # the form's own key: sent again, entered once
    assert '<option value="per_m2" selected>' in html
    assert '<option value="verbal" selected>' in html
    assert not Order.objects.exists()  # shown, never sent by itself
    # Once: the page opened again is the empty form.
    again = client.get(page).content.decode()
    assert REFILLED not in again and "1234567893" not in again
    assert stash_in(client) is None


def test_the_pharmacists_drug_edit_comes_back_filled_after_the_session_rows_were_removed(
    pharmacist_user,
) -> None:
    """The session row gone (flushed on the server): who signed in is known from the signed
    cookie set at sign-in."""
    drug = factories.drug_get("paclitaxel", "chemo")
    page = reverse("pharmacy:drug_edit", args=[drug.pk])
    client = on_the_page(pharmacist_user, page)
    Session.objects.all().delete()
    data = {
        "name": "paclitaxel",
        "synonyms": "Taxol, PTX",
        "hcpcs": drug.hcpcs_code,
        "billing_unit": drug.billing_unit_label,
        "note": "",
        "container": drug.container,
        "reason": "the FDA label read again",
    }
    said = posted_signed_out(client, page, page, data)
    assert "What you typed is kept" in said
    html = sign_in(client, "pharm1", page)
    assert REFILLED in html
    assert 'value="Taxol, PTX"' in html
    assert "the FDA label read again" in html
    drug.refresh_from_db()
    assert drug.synonyms != "Taxol, PTX"  # not saved: she sends it


def test_a_coders_correction_comes_back_filled_in_its_open_fold(coder_user) -> None:
    """The form posts to its own address (line_correct), not its page: the page is the one it
    was on (Referer, same origin), and the fold holding the form is opened."""
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    line = run.lines.get(code="96415")
    page = reverse("coding:encounter_charges", args=[encounter.pk])
    action = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    client = on_the_page(coder_user, page)
    idle_sign_off()
    prefix = f"l{line.pk}"
    data = {
        f"{prefix}-action": "change",
        f"{prefix}-code": "96415",
        f"{prefix}-units": "1",
        f"{prefix}-modifiers": "",
        f"{prefix}-reason": "pump log: stopped at 11:40, a long reason",
    }
    posted_signed_out(client, action, page, data)
    html = sign_in(client, "coder1", page)
    assert REFILLED in html
    assert "pump log: stopped at 11:40, a long reason</textarea>" in html
    assert f'name="{prefix}-units" value="1"' in html
    assert "<details open><summary>Correct 96415</summary>" in html
    assert not ChargeCorrection.objects.exists()


def test_a_nurses_card_typed_without_javascript_comes_back_filled_on_the_chart(
    nurse_user,
) -> None:
    """The chart's card form carries no data-session-check (JavaScript sends it by htmx);
    posted plainly after the session ended, it comes back filled on the chart, its fold open,
    and nothing of it saved (QA: "that form is not on the page now" was said instead)."""
    from mar.models import Administration
    from tests.mar.chart_helpers import running_visit

    encounter, adm = running_visit()
    page = reverse("mar:encounter", args=[encounter.pk])
    action = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    client = on_the_page(nurse_user, page)
    idle_sign_off()
    prefix = f"a{adm.pk}"
    data = {f"{prefix}-bag": "BAG-NOJS-1", f"{prefix}-version": str(adm.version)}
    posted_signed_out(client, action, page, data)
    html = sign_in(client, nurse_user.username, page)
    assert REFILLED in html
    assert re.search(rf'name="{prefix}-bag"[^>]*value="BAG-NOJS-1"', html)
    assert "not on the page now" not in html
    assert Administration.objects.get(pk=adm.pk).bag == ""


def test_a_button_pressed_signed_out_is_said_to_be_pressed_again(coder_user) -> None:
    """A form of a button only (the worklist's "Claim the next"): nothing typed to show; the
    page says nothing was done, to press it again."""
    page = reverse("coding:worklist")
    client = on_the_page(coder_user, page)
    idle_sign_off()
    posted_signed_out(client, reverse("coding:claim_next"), page, {})
    html = sign_in(client, "coder1", page)
    assert PRESS_AGAIN in html and REFILLED not in html


# --- the stash's rules ----------------------------------------------------------------------


def order_page(clerk_user) -> tuple[Client, str]:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    page = reverse("registration:order_new", args=[encounter.pk])
    client = on_the_page(clerk_user, page)
    idle_sign_off()
    return client, page


def test_another_user_signing_in_gets_nothing_of_it_and_it_is_gone(clerk_user) -> None:
    """Patient data: a stash is its owner's only, and is dropped unread when someone else
    signs in on that browser."""
    other = factories.user_create(username="clerk2", role="clerk")
    client, page = order_page(clerk_user)
    posted_signed_out(client, page, page, ORDER)
    html = sign_in(client, other.username, page)
    assert REFILLED not in html and "1234567893" not in html
    assert stash_in(client) is None
    client.logout()
    html = sign_in(client, "clerk1", page)  # the owner afterwards: nothing left
    assert REFILLED not in html and "1234567893" not in html


def test_a_password_the_csrf_token_and_a_file_are_never_kept(clerk_user) -> None:
    client, page = order_page(clerk_user)
    data = {
        **ORDER,
        "csrfmiddlewaretoken": "x" * 64,
        "password": "hunter2-secret",
        "scan": SimpleUploadedFile("label.png", b"\x89PNG..."),
    }
    said = posted_signed_out(client, page, page, data)
    assert "A file you chose is not kept either" in said
    stash = stash_in(client)
    assert stash is not None
    names = [name for name, _ in stash["fields"]]
    assert "password" not in names and "csrfmiddlewaretoken" not in names and "scan" not in names
    assert "hunter2" not in str(stash) and "PNG" not in str(stash)
    html = sign_in(client, "clerk1", page)
    assert "A file you chose was not kept" in html
    assert "A password typed in it was not kept" in html


def test_what_is_too_long_to_keep_is_not_kept_and_said(clerk_user) -> None:
    client, page = order_page(clerk_user)
    data = {**ORDER, "ordering_provider": "x" * (STASH_MAX_CHARS + 1)}
    said = posted_signed_out(client, page, page, data)
    assert f"too long to keep (more than {STASH_MAX_CHARS:,} characters)" in said
    assert "type it again and send it" in said
    assert stash_in(client) is None
    html = sign_in(client, "clerk1", page)
    assert REFILLED not in html


def test_the_stash_is_forgotten_after_15_minutes(clerk_user) -> None:
    client, page = order_page(clerk_user)
    posted_signed_out(client, page, page, ORDER)
    later = time.time() + 15 * 60 + 1
    with mock.patch("django.core.signing.time.time", return_value=later):
        html = sign_in(client, "clerk1", page)
    assert REFILLED not in html and "1234567893" not in html
    assert stash_in(client) is None


def test_a_stash_waits_while_its_owner_is_elsewhere_then_fills_its_page_once(clerk_user) -> None:
    client, page = order_page(clerk_user)
    posted_signed_out(client, page, page, ORDER)
    sign_in(client, "clerk1", page.replace("/orders/new/", "/"))  # her visit page first
    html = client.get(page).content.decode()
    assert REFILLED in html and 'value="1234567893"' in html
    assert REFILLED not in client.get(page).content.decode()


def test_a_page_that_answers_a_redirect_does_not_take_the_stash(coder_user) -> None:
    """Taken only with the page drawn: an address that leads elsewhere (/coding/ to the
    worklist) leaves it waiting, not dropped unseen."""
    client = on_the_page(coder_user, reverse("coding:worklist"))
    idle_sign_off()
    posted_signed_out(client, reverse("coding:claim_next"), "/coding/", {})
    response = client.post(
        reverse("login"), {"username": "coder1", "password": factories.PASSWORD, "next": "/coding/"}
    )
    assert client.get(response["Location"]).status_code == 302
    assert stash_in(client) is not None


def test_nobody_known_on_the_browser_nothing_is_kept() -> None:
    """No session and no sign-in cookie (cookies cleared): whose it is is unknown, so it is
    kept for nobody, and said."""
    encounter = factories.encounter_create()
    page = reverse("registration:order_new", args=[encounter.pk])
    client = Client()
    said = posted_signed_out(client, page, page, ORDER)
    assert "Who was signed in is not known on this browser" in said
    assert stash_in(client) is None


def test_signing_out_forgets_who_signed_in_on_the_browser(clerk_user) -> None:
    """A page left open after signing out: its form, posted, is kept for nobody."""
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    page = reverse("registration:order_new", args=[encounter.pk])
    client = on_the_page(clerk_user, page)
    client.post(reverse("logout"))
    assert client.cookies[WHO_COOKIE].value == ""
    said = posted_signed_out(client, page, page, ORDER)
    assert "Who was signed in is not known on this browser" in said


def test_a_page_from_another_site_or_no_page_keeps_nothing(clerk_user) -> None:
    client, page = order_page(clerk_user)
    response = client.post(page, ORDER, HTTP_REFERER="http://evil.example/registration/")
    assert response["Location"] == f"{reverse('login')}?next=/"
    assert stash_in(client) is None


def test_an_edited_drug_name_is_a_field_like_another(pharmacist_user) -> None:
    """Names holding "pass" or "secret" are never kept; others are, whatever they hold."""
    drug = factories.drug_get("mesna", "therapeutic")
    page = reverse("pharmacy:drug_edit", args=[drug.pk])
    client = on_the_page(pharmacist_user, page)
    idle_sign_off()
    posted_signed_out(client, page, page, {"name": "mesna", "passcode": "1", "secret_note": "s"})
    stash = stash_in(client)
    assert stash is not None and [n for n, _ in stash["fields"]] == ["name"]
    assert Drug.objects.get(pk=drug.pk).name == "mesna"


# --- over time: the invariant a nurse relies on ---------------------------------------------


class SharedBrowser(RuleBasedStateMachine):
    """One browser, two pharmacists, the drug form: signed in and out, sessions ending, forms
    sent while signed out, minutes passing, the page opened. What was typed while signed out
    shows on the page only to the user who was signed in before, only within 15 minutes of
    sending it, and only once; never to anyone else."""

    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex[:8]
        self.users = {
            who: factories.user_create(username=f"{who}-{tag}", role="pharmacist")
            for who in ("a", "b")
        }
        drug = factories.drug_get(f"testdrug-{tag}")
        self.page = reverse("pharmacy:drug_edit", args=[drug.pk])
        self.client = Client()
        self.now = float(int(time.time()))
        self.clock = mock.patch("django.core.signing.time.time", side_effect=lambda: self.now)
        self.clock.start()
        self.signed_in: str | None = None
        self.previous: str | None = None  # who this browser knows was signed in
        self.stash: tuple[str, str, float] | None = None  # owner, what was typed, when
        self.sent = 0

    def teardown(self) -> None:
        self.clock.stop()

    def _on_the_page(self, html: str) -> None:
        """The invariant: what shows is the stash, for its owner, within 15 minutes; once."""
        shown = re.findall(r"typed-\d+-", html)
        expected = []
        if self.stash is not None:
            owner, typed, at = self.stash
            if owner == self.signed_in and self.now - at <= STASH_SECONDS:
                expected = [typed]
        assert shown == expected
        assert (REFILLED in html) == bool(expected)
        self.stash = None  # taken, or dropped: not hers, or too old

    @initialize(who=st.sampled_from(["a", "b"]))
    def first_sign_in(self, who: str) -> None:
        self.sign_in(who)

    @precondition(lambda self: self.signed_in is None)
    @rule(who=st.sampled_from(["a", "b"]))
    def sign_in(self, who: str) -> None:
        """Through the sign-in page, which leads back to the form's page."""
        username = self.users[who].username
        response = self.client.post(
            reverse("login"),
            {"username": username, "password": factories.PASSWORD, "next": self.page},
        )
        assert response.status_code == 302 and response["Location"] == self.page
        self.signed_in = self.previous = who
        self._on_the_page(self.client.get(self.page).content.decode())

    @precondition(lambda self: self.signed_in is not None)
    @rule()
    def sign_out(self) -> None:
        self.client.post(reverse("logout"))
        self.signed_in = self.previous = self.stash = None

    @rule(then_minutes=st.sampled_from([0, 4, 15, 16]))
    def session_ends_then_sent(self, then_minutes: int) -> None:
        """The session ended (on the server; the browser still names it), the form is sent,
        and some minutes pass."""
        Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
        self.signed_in = None
        self.sent += 1
        typed = f"typed-{self.sent}-"
        self.client.post(
            self.page,
            {"synonyms": typed, "reason": "label read again"},
            HTTP_REFERER=f"http://testserver{self.page}",
        )
        self.stash = None if self.previous is None else (self.previous, typed, self.now)
        self.now += then_minutes * 60

    @precondition(lambda self: self.signed_in is not None)
    @rule()
    def open_the_page_again(self) -> None:
        self._on_the_page(self.client.get(self.page).content.decode())


def test_what_was_typed_shows_only_to_its_user_within_15_minutes_and_once() -> None:
    run_state_machine_as_test(
        SharedBrowser,
        settings=settings(
            max_examples=40,
            stateful_step_count=14,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
