"""Signing asks for a confirmation that says what is signed (bedside finding 1): the sign-off
panel says how many administrations and flushes the record holds, the checklist's warnings still
listed, and that after signing changes need an addendum; its "I have checked it" box is posted
with the form, and the server refuses a sign post without it (said beside the box), signing
nothing. The confirmation names what the nurse saw: a record changed since (another nurse
charted) is refused the same way, with what it holds now."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from coding.models import ChargeOutbox, ChargeRun
from mar import roles
from mar.models import Encounter, FindingAcknowledgement, Flush
from tests import factories
from tests.mar.chart_helpers import SIGN_CONFIRMED, running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
ADDENDUM = "After signing, the record is locked: changes need an addendum."


def _sign_panel(html: str) -> str:
    start = html.index('<section id="sign"')
    return html[start : html.index("</section>", start)]


def _confirm_error(html: str) -> str:
    match = re.search(r'id="error_\d+_id_confirm"[^>]*>\s*<strong>(.*?)</strong>', html, re.S)
    assert match, "no error beside the confirmation"
    return match.group(1)


def _nothing_signed(encounter: Encounter) -> None:
    encounter.refresh_from_db()
    assert encounter.status == Encounter.Status.IN_PROGRESS
    assert encounter.signed_at is None and encounter.signed_by is None
    assert not ChargeRun.objects.filter(encounter=encounter).exists()
    assert not ChargeOutbox.objects.filter(encounter_id=encounter.pk).exists()


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_a_sign_post_without_the_confirmation_is_refused_beside_it_and_signs_nothing(
    client_as, chemo_encounter, headers
) -> None:
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_sign", args=[chemo_encounter.pk])
    response = client.post(url, **headers)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Tick the box to confirm what you are signing" in _confirm_error(html)
    assert "Nothing was signed." in _confirm_error(html)
    _nothing_signed(chemo_encounter)
    # The same post with the box ticked signs.
    response = client.post(url, SIGN_CONFIRMED, **headers)
    assert response.status_code == 302 or response.headers.get("HX-Refresh") == "true"
    chemo_encounter.refresh_from_db()
    assert chemo_encounter.status == Encounter.Status.SIGNED


def test_the_sign_off_says_what_is_signed_on_the_chart_its_poll_and_an_answer(
    client_as, chemo_encounter
) -> None:
    """The chart page, the checklist's 60-second refresh (its sign-off out of band) and a
    change's answer say the same: 3 administrations and 1 flush, and the addendum rule."""
    client = client_as(roles.NURSE)
    page = _sign_panel(
        client.get(reverse("mar:encounter", args=[chemo_encounter.pk])).content.decode()
    )
    said = "You are signing 3 administrations and 1 flush."
    assert said in page and ADDENDUM in page
    assert 'name="confirm"' in page and 'data-testid="sign-confirm"' in page
    poll = client.get(reverse("mar:encounter_checklist", args=[chemo_encounter.pk]), **HX)
    assert said in _sign_panel(poll.content.decode())
    # Another flush charted: the answer's sign-off counts it.
    site = chemo_encounter.sites.get()
    answer = client.post(
        reverse("mar:site_flush", args=[chemo_encounter.pk, site.pk]), **HX
    ).content.decode()
    assert "You are signing 3 administrations and 2 flushes." in _sign_panel(answer)


def test_the_sign_off_lists_the_warnings_still_open_on_the_checklist(client_as) -> None:
    """A warning does not stop signing, but the nurse confirms it knowingly: it is listed."""
    encounter = factories.chemo_encounter_create()
    adm = encounter.administrations.get(drug__name="ondansetron")
    adm.site = None  # "Access site missing …": a warning
    adm.save()
    client = client_as(roles.NURSE)
    page = _sign_panel(client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())
    assert "1 warning still listed on the checklist:" in page
    assert "Access site missing for ondansetron" in page


def test_a_record_changed_since_the_confirmation_is_refused_naming_what_it_holds_now(
    client_as, chemo_encounter
) -> None:
    client = client_as(roles.NURSE)
    page = client.get(reverse("mar:encounter", args=[chemo_encounter.pk])).content.decode()
    seen = re.search(r'name="seen" value="([^"]*)"', page)
    assert seen
    # Another nurse charts a flush meanwhile.
    site = chemo_encounter.sites.get()
    Flush.objects.create(
        encounter=chemo_encounter, site=site, at=site.placed_at + timedelta(minutes=1)
    )
    url = reverse("mar:encounter_sign", args=[chemo_encounter.pk])
    html = client.post(url, {**SIGN_CONFIRMED, "seen": seen.group(1)}).content.decode()
    error = _confirm_error(html)
    assert (
        "The record changed since you looked: it now holds 3 administrations and 2 flushes" in error
    )
    _nothing_signed(chemo_encounter)
    assert 'name="confirm"' in html and "checked" not in html.split('name="confirm"')[1][:80]


def test_a_reason_missing_and_the_confirmation_missing_are_said_together(client_as) -> None:
    """Every problem of a submission at once: the reason box of an open error and the box."""
    encounter, _adm = running_visit()
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_sign", args=[encounter.pk])
    html = client.post(url).content.decode()
    names = re.findall(r'name="(ack_[0-9a-f]{12})"', html)
    assert names
    reasons = {name: "pump ran on" for name in names}
    html = client.post(url, reasons).content.decode()
    assert "Tick the box to confirm" in _confirm_error(html)
    assert html.count('value="pump ran on"') == len(names)  # what she typed is kept
    assert "Resolve this item" not in html
    _nothing_signed(encounter)
    assert not FindingAcknowledgement.objects.filter(encounter=encounter).exists()
    # Neither the reasons nor the box: both said at once.
    html = client.post(url).content.decode()
    assert "Resolve this item, or give a reason to sign anyway." in html
    assert "Tick the box to confirm" in _confirm_error(html)
    response = client.post(url, {**reasons, **SIGN_CONFIRMED})
    assert response.status_code == 302
