"""What an htmx answer on the chart carries out of band, so that no part of the page is left
stale: the checklist refresh brings the sign-off panel and the top bar's sign state; a card saved
as an addendum brings the addenda and the coder's queries; every change replaces the messages."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from mar import roles
from mar.models import Flush
from mar.services import charting
from mar.services.signature import signature_store
from tests import factories
from tests.mar.chart_helpers import card_data, running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def oob(html: str, element_id: str) -> str:
    """The element swapped out of band with this id (its opening tag and what follows); a part
    with fields the nurse types in is morphed in ("morph"), the rest replaced ("true")."""
    match = re.search(
        rf'<[a-z]+ id="{element_id}"[^>]*hx-swap-oob="(?:true|morph)"[^>]*>(.*)', html, re.S
    )
    assert match, f"#{element_id} is not swapped out of band"
    return match.group(1)


def test_the_checklist_refresh_brings_the_sign_panel_and_sign_state_out_of_band(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_checklist", args=[encounter.pk])
    html = client.get(url, **HX).content.decode()
    # Running (issue 15, item 9): not an item that costs a charge; signing asks for its stop.
    assert "Running: 1 infusion to stop before signing" in oob(html, "sign-state")
    assert 'data-testid="sign-running-note"' in oob(html, "sign")
    assert 'name="ack_' not in oob(html, "sign")
    assert '<section id="checklist"' in html and 'id="checklist" hx-swap-oob' not in html

    charting.administration_stop(
        administration=adm, version=adm.version, at=adm.start + timedelta(minutes=30)
    )
    html = client.get(url, **HX).content.decode()
    assert "Ready to sign" in oob(html, "sign-state")
    assert "No open errors: ready to sign." in oob(html, "sign")

    plain = client.get(url).content.decode()  # readable on its own: the panel alone
    assert 'id="sign"' not in plain and 'id="sign-state"' not in plain


def test_a_card_saved_as_an_addendum_brings_the_addenda_out_of_band(client_as) -> None:
    nurse = factories.user_create(username="nurse-oob", role=roles.NURSE)
    encounter = factories.chemo_encounter_create()
    signature_store(encounter=encounter, user=nurse)
    adm = encounter.administrations.get(drug__name="paclitaxel")
    data = card_data(adm, bag="P-7", addendum_why="bag label read back")
    response = client_as(roles.NURSE).post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]), data, **HX
    )
    html = response.content.decode()
    assert "bag label read back" in oob(html, "addenda")
    assert 'id="queries-slot"' in html


def test_an_htmx_change_replaces_the_old_messages(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    flushed = client.post(
        reverse("mar:site_flush", args=[encounter.pk, adm.site_id]), {}, **HX
    ).content.decode()
    assert "Flush charted on S" in oob(flushed, "messages")
    assert Flush.objects.filter(encounter=encounter).count() == 1
    saved = client.post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]), card_data(adm, bag="B2"), **HX
    ).content.decode()
    messages = re.search(r'<div id="messages" hx-swap-oob="true">(.*?)</div>', saved, re.S)
    # The flush's message is replaced by the card's own (issue 15, item 12: a save says so).
    assert messages and "Flush charted" not in messages.group(1)
    assert f"carboplatin (A{adm.pk}) saved at" in messages.group(1)
