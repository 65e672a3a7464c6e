"""A change sent from a page drawn before the record was signed (QA walkthrough: a Bag id typed
in a second tab after the signature vanished, 200, no message, the card read-only again).

Nothing typed is lost silently: the card's save and every bedside action (flush, start, pause,
resume, stop; a site's assess, discontinue, reopen, details and condition; a flush removed; an
order not given; the encounter's times; the rate change, volumes and measures) on a record signed
since the page was drawn answer 409 (htmx) with a message saying
who signed it and when and what she typed, and a link to the addendum form prefilled with it;
nothing is changed. Without JavaScript: the message, and the addendum form prefilled."""

import html as html_lib
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import care_views, merge, roles, views
from mar.forms import plain_number
from mar.models import (
    AccessSite,
    Addendum,
    Administration,
    Flush,
    PatientMeasure,
    Pause,
    RateChange,
    SiteAssessment,
)
from mar.services import charting
from mar.services.signature import signature_store
from tests import factories
from tests.coding.test_review_refused_forms import form_on
from tests.mar.chart_helpers import card_data, hydration_order, local, running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _signed(encounter, user) -> str:
    """Signs the record (as another tab did); the time the message names."""
    signature_store(encounter=encounter, user=user)
    encounter.refresh_from_db()
    return timezone.localtime(encounter.signed_at, encounter.zone).strftime("%H:%M")


def _link(html: str) -> tuple[str, dict[str, list[str]], str]:
    start = html.index('data-testid="signed-addendum"')
    href = html.rfind('href="', 0, start)
    url = html_lib.unescape(html[href + 6 : html.index('"', href + 6)])
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query), parts.fragment


def _refused_as_signed(response, when: str, by: str, said: str) -> str:
    assert response.status_code == 409
    assert response["X-MAR-Signed"] == "1"
    text = html_lib.unescape(response.content.decode())
    assert f"Not saved: this record was signed at {when} by {by}." in text
    assert f"Your change — {said}" in text
    assert " — can be written as an addendum." in text
    return text


def test_a_card_field_saved_after_the_signature_is_refused_saying_so_and_offered_as_addendum(
    client_as, nurse_user
) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    page = card_data(adm)  # tab B, drawn before the signature
    when = _signed(encounter, nurse_user)
    page[f"a{adm.pk}-bag"] = "BAG-TAB-B"
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    response = client.post(url, page, **HX)
    text = _refused_as_signed(response, when, nurse_user.username, "Bag id: 'BAG-TAB-B'")
    assert "Your change — Bag id: 'BAG-TAB-B' — can be written as an addendum." in text
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag, saved.version) == ("", adm.version)  # nothing changed
    assert not Addendum.objects.filter(encounter=encounter).exists()
    # The link opens the card's addendum form with her bag id in it.
    path, query, anchor = _link(text)
    assert path == reverse("mar:encounter", args=[encounter.pk])
    assert query["addendum"] == ["1"] and query[f"a{adm.pk}-bag"] == ["BAG-TAB-B"]
    assert anchor == f"adm-{adm.pk}"
    chart = client.get(path, query).content.decode()
    assert f'name="a{adm.pk}-bag" value="BAG-TAB-B"' in chart
    assert 'data-testid="addendum-prefill"' in chart
    assert "Bag id: BAG-TAB-B" in chart


def test_the_prefilled_card_saves_as_an_addendum_with_a_reason(client_as, nurse_user) -> None:
    """What the link opened is saved as any addendum is: her value, with the reason."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    _signed(encounter, nurse_user)
    data = card_data(adm, bag="BAG-TAB-B", addendum_why="typed in another tab as it was signed")
    response = client.post(reverse("mar:adm_update", args=[encounter.pk, adm.pk]), data, **HX)
    assert response.status_code == 200
    assert Administration.objects.get(pk=adm.pk).bag == "BAG-TAB-B"
    assert Addendum.objects.filter(encounter=encounter, what__contains="BAG-TAB-B").exists()


def test_the_addendum_form_without_its_reason_still_says_so_beside_the_field(
    client_as, nurse_user
) -> None:
    """Drawn signed (the addendum's form posts its reason, even empty): the reason is asked for
    beside its field, as before; that is not a page drawn before the signature."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    _signed(encounter, nurse_user)
    data = card_data(adm, bag="B9", addendum_why="")
    response = client.post(reverse("mar:adm_update", args=[encounter.pk, adm.pk]), data, **HX)
    assert response.status_code == 200
    assert "changes go through an addendum (say why)" in response.content.decode()
    assert Administration.objects.get(pk=adm.pk).bag == ""


def test_a_card_signed_while_its_save_was_on_its_way_is_refused_the_same_way(
    client_as, nurse_user, monkeypatch
) -> None:
    """Signed after the view read the record, before the save's lock: the service's refusal
    answers the same message (no 200 with the card drawn read-only)."""
    encounter, adm = running_visit()
    stale = views._administration(encounter.pk, adm.pk)  # read as in progress
    monkeypatch.setattr(views, "_administration", lambda pk, adm_pk: stale)
    when = _signed(encounter, nurse_user)
    data = card_data(adm, bag="BAG-RACE")
    response = client_as(roles.NURSE).post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]), data, **HX
    )
    _refused_as_signed(response, when, nurse_user.username, "Bag id: 'BAG-RACE'")
    assert Administration.objects.get(pk=adm.pk).bag == ""


def test_a_card_saved_after_the_signature_without_javascript_opens_the_addendum_prefilled(
    client_as, nurse_user
) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    when = _signed(encounter, nurse_user)
    data = card_data(adm, bag="BAG-PLAIN")
    response = client.post(reverse("mar:adm_update", args=[encounter.pk, adm.pk]), data)
    assert response.status_code == 302
    assert f"a{adm.pk}-bag=BAG-PLAIN" in response["Location"]
    page = html_lib.unescape(client.get(response["Location"]).content.decode())
    assert f"Not saved: this record was signed at {when} by {nurse_user.username}." in page
    assert f'name="a{adm.pk}-bag" value="BAG-PLAIN"' in page
    assert Administration.objects.get(pk=adm.pk).bag == ""


@pytest.mark.parametrize("action", ["pause", "resume", "stop"])
def test_pause_resume_and_stop_after_the_signature_are_refused_saying_so(
    client_as, nurse_user, action
) -> None:
    encounter, adm = running_visit()
    if action == "resume":
        Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=10))
    pauses = Pause.objects.filter(administration=adm).count()
    client = client_as(roles.NURSE)
    when = _signed(encounter, nurse_user)
    at = adm.start + timedelta(minutes=30)
    data = {f"at{adm.pk}-version": adm.version, f"at{adm.pk}-at": local(at)}
    if action == "stop":
        data[f"at{adm.pk}-volume_infused_ml"] = "250"
    if action == "pause":
        data[f"at{adm.pk}-reason"] = "pump_alarm"
    url = reverse(f"mar:adm_{action}", args=[encounter.pk, adm.pk])
    response = client.post(url, data, **HX)
    hhmm = timezone.localtime(at, encounter.zone).strftime("%H:%M")
    said = {
        "pause": f"carboplatin (A{adm.pk}): Pause at {local(at)}, reason pump alarm",
        "resume": f"carboplatin (A{adm.pk}): Resume at {local(at)}",
        "stop": f"carboplatin (A{adm.pk}): Stop at {local(at)}, volume infused 250 mL",
    }[action]
    text = _refused_as_signed(response, when, nurse_user.username, said.replace(local(at), hhmm))
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.stop, saved.version) == (None, adm.version)
    assert Pause.objects.filter(administration=adm).count() == pauses
    _path, query, anchor = _link(text)
    typed = timezone.localtime(at, encounter.zone).strftime("%Y-%m-%d %H:%M")
    if action == "stop":  # the card's stop time, in its addendum form
        assert (query[f"a{adm.pk}-stop"], anchor) == ([typed], f"adm-{adm.pk}")
    else:  # said in the addendum's "What changed"
        assert anchor == "addendum" and typed in query["addendum-what"][0]


def test_a_flush_after_the_signature_is_refused_and_offered_as_the_addendums_missed_flush(
    client_as, nurse_user
) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    when = _signed(encounter, nurse_user)
    site = adm.site_id
    data = {f"flush{site}-solution": "heparin 10 units/mL", f"flush{site}-volume_ml": "5"}
    response = client.post(reverse("mar:site_flush", args=[encounter.pk, site]), data, **HX)
    text = _refused_as_signed(response, when, nurse_user.username, f"Flush on S{site} at ")
    assert "(heparin 10 units/mL 5 mL)" in text
    assert not Flush.objects.filter(encounter=encounter).exists()
    path, query, anchor = _link(text)
    assert anchor == "addendum"
    assert query["addendum-flush_site"] == [str(site)]
    assert query["addendum-flush_solution"] == ["heparin 10 units/mL"]
    chart = client.get(path, query).content.decode()
    assert f'<option value="{site}" selected>' in chart
    assert 'value="heparin 10 units/mL"' in chart


def test_a_start_after_the_signature_is_refused_saying_so(client_as, nurse_user) -> None:
    encounter = factories.chemo_encounter_create()
    order = encounter.orders.order_by("pk").first()
    client = client_as(roles.NURSE)
    started = Administration.objects.filter(order=order).count()
    when = _signed(encounter, nurse_user)
    data = {f"o{order.pk}-method": "infusion", f"o{order.pk}-request_key": "k1"}
    url = reverse("mar:order_start", args=[encounter.pk, order.pk])
    response = client.post(url, data, **HX)
    text = _refused_as_signed(
        response, when, nurse_user.username, f"Start {order.drug.name} (order O{order.pk}) at "
    )
    assert Administration.objects.filter(order=order).count() == started
    _path, query, _anchor = _link(text)
    assert f"{order.drug.name} (order O{order.pk}) started at" in query["addendum-what"][0]


@pytest.mark.postgresql("the card as drawn is read from the audit trail (triggers)")
def test_what_another_tab_saved_before_the_signature_is_not_said_to_be_hers(
    client_as, nurse_user
) -> None:
    """Tab A stopped the infusion, then signed; tab B still shows no stop. Her change is the
    bag id she typed, not the stop her page never showed (QA: "Stop: (empty)" was named)."""
    encounter, adm = running_visit()
    page = card_data(adm)  # tab B, drawn while it ran
    client = client_as(roles.NURSE)
    stop = {f"at{adm.pk}-version": adm.version}
    client.post(reverse("mar:adm_stop", args=[encounter.pk, adm.pk]), stop, **HX)
    _signed(encounter, nurse_user)
    page[f"a{adm.pk}-bag"] = "BAG-TAB-B"
    response = client.post(reverse("mar:adm_update", args=[encounter.pk, adm.pk]), page, **HX)
    text = html_lib.unescape(response.content.decode())
    assert "Your change — Bag id: 'BAG-TAB-B' — can be written as an addendum." in text
    _path, query, _anchor = _link(text)
    assert f"a{adm.pk}-stop" not in query  # the stop saved stays in the addendum's form


def test_a_pause_added_or_corrected_after_the_signature_is_refused_saying_so(
    client_as, nurse_user
) -> None:
    """The card's "Add a pause…" and a pause's own form, from a page drawn before the
    signature: said, with the times and reason as typed, nothing charted."""
    encounter, adm = running_visit()
    pause = Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=5))
    client = client_as(roles.NURSE)
    when = _signed(encounter, nurse_user)
    start, end = local(adm.start + timedelta(minutes=20)), local(adm.start + timedelta(minutes=30))
    added = {f"pa{adm.pk}-version": adm.version, f"pa{adm.pk}-start": start,
             f"pa{adm.pk}-end": end, f"pa{adm.pk}-reason": "reaction"}  # fmt: skip
    url = reverse("mar:pause_add", args=[encounter.pk, adm.pk])
    text = _refused_as_signed(
        client.post(url, added, **HX), when, nurse_user.username,
        f"carboplatin (A{adm.pk}): pause {start}–{end}, reason reaction",
    )  # fmt: skip
    assert "carboplatin" in _link(text)[1]["addendum-what"][0]
    corrected = {f"p{pause.pk}-version": adm.version, f"p{pause.pk}-start": start,
                 f"p{pause.pk}-end": end, f"p{pause.pk}-reason": ""}  # fmt: skip
    url = reverse("mar:pause_update", args=[encounter.pk, pause.pk])
    _refused_as_signed(
        client.post(url, corrected, **HX), when, nurse_user.username,
        f"carboplatin (A{adm.pk}): pause {start}–{end}",
    )  # fmt: skip
    assert list(Pause.objects.filter(administration=adm).values_list("start", "end")) == [
        (pause.start, None)
    ]


def _site_cases(encounter, adm) -> dict[str, tuple[str, dict[str, object], str]]:
    """Each site action of a page drawn before the signature: its url, what it posts, what the
    answer says of it."""
    site = adm.site
    s, named = site.pk, f"S{site.pk} {site}"
    at = adm.start + timedelta(minutes=30)
    hhmm = timezone.localtime(at, encounter.zone).strftime("%H:%M")
    snapshot = merge.snapshot(charting.site_details(site))
    return {
        "assess": ("mar:site_assess", {f"assess{s}-at": local(at)}, f"{named} assessed at {hhmm}"),
        "discontinue": (
            "mar:site_discontinue",
            {f"discontinue{s}-at": local(at), f"discontinue{s}-stop_running": "on"},
            f"{named} discontinued at {hhmm}, stopping what ran on it",
        ),
        "reopen": ("mar:site_reopen", {}, f"{named} reopened"),
        "update": (
            "mar:site_update",
            {
                f"s{s}-location": "right forearm",
                f"s{s}-base": snapshot,
                f"s{s}-placed_at": local(site.placed_at),
                f"s{s}-placed_was": site.placed_at.isoformat(),
                f"s{s}-separate_site_reason": "",
            },  # fmt: skip
            f"{named}: Location: 'right forearm'",  # the placed time, left as shown, unsaid
        ),
        "details": (
            "mar:site_details",
            {f"sd{s}-gauge": "20G", f"sd{s}-attempts": "2"},
            f"{named} details: Gauge: '20G', Attempts: '2'",
        ),
        "condition": (
            "mar:site_condition",
            {
                f"sc-s{s}-infiltration": "0",
                f"sc-s{s}-phlebitis": "0",
                f"sc-s{s}-note": "no redness",
            },  # fmt: skip
            f"{named} condition: Infiltration (INS 0–4): '0', Phlebitis (INS 0–4): '0', "
            "Note: 'no redness'",
        ),
    }


@pytest.mark.parametrize(
    "action", ["assess", "discontinue", "reopen", "update", "details", "condition"]
)
def test_a_site_action_after_the_signature_is_refused_saying_so(
    client_as, nurse_user, action
) -> None:
    """Assessed, Discontinue, Reopen, the site's details and placed time, its device and its
    condition, from a page drawn before the signature: said, offered as the addendum's "What
    changed", nothing changed on the site."""
    encounter, adm = running_visit()
    site = adm.site
    if action == "reopen":
        AccessSite.objects.filter(pk=site.pk).update(discontinued_at=adm.start)
        site.refresh_from_db()
    url_name, data, said = _site_cases(encounter, adm)[action]
    before = AccessSite.objects.filter(pk=site.pk).values().get()
    client = client_as(roles.NURSE)
    when = _signed(encounter, nurse_user)
    response = client.post(reverse(url_name, args=[encounter.pk, site.pk]), data, **HX)
    text = _refused_as_signed(response, when, nurse_user.username, said)
    if action == "update":
        assert "Placed at" not in text
    assert AccessSite.objects.filter(pk=site.pk).values().get() == before
    assert not SiteAssessment.objects.filter(site=site).exists()
    assert Administration.objects.get(pk=adm.pk).stop is None
    _path, query, anchor = _link(text)
    assert (query["addendum-what"], anchor) == ([said], "addendum")


def test_a_flush_removed_after_the_signature_is_refused_saying_so(client_as, nurse_user) -> None:
    encounter, adm = running_visit()
    flush = Flush.objects.create(
        encounter=encounter, site=adm.site, at=adm.start + timedelta(minutes=10)
    )
    client = client_as(roles.NURSE)
    when = _signed(encounter, nurse_user)
    url = reverse("mar:flush_remove", args=[encounter.pk, flush.pk])
    hhmm = timezone.localtime(flush.at, encounter.zone).strftime("%H:%M")
    _refused_as_signed(
        client.post(url, {}, **HX), when, nurse_user.username,
        f"Flush on S{adm.site_id} at {hhmm} removed",
    )  # fmt: skip
    assert Flush.objects.filter(pk=flush.pk).exists()
    # The addendum's own remove form (its reason posted, empty) still asks why beside it.
    response = client.post(url, {f"f{flush.pk}-addendum_why": ""}, **HX)
    assert response.status_code == 200
    assert "changes go through an addendum (say why)" in response.content.decode()
    assert Flush.objects.filter(pk=flush.pk).exists()


def test_an_order_not_given_after_the_signature_is_refused_saying_so(client_as, nurse_user) -> None:
    encounter, _adm = running_visit()
    order = hydration_order(encounter)
    client = client_as(roles.NURSE)
    when = _signed(encounter, nurse_user)
    data = {f"d{order.pk}-disposition": "held", f"d{order.pk}-reason": "BP 88/50"}
    url = reverse("mar:order_disposition", args=[encounter.pk, order.pk])
    text = _refused_as_signed(
        client.post(url, data, **HX), when, nurse_user.username,
        f"{order.drug.name} (order O{order.pk}): Not given: 'Held', Why: 'BP 88/50'",
    )  # fmt: skip
    assert "BP 88/50" in _link(text)[1]["addendum-what"][0]
    order.refresh_from_db()
    assert (order.disposition, order.disposition_reason) == ("", "")


def test_encounter_times_changed_after_the_signature_are_refused_saying_so(
    client_as, nurse_user
) -> None:
    """Only the time she changed from what her page showed is said (observation, left empty
    as shown, is not)."""
    encounter, _adm = running_visit()
    shown = charting.encounter_times(encounter)
    arrived = encounter.arrived_at - timedelta(minutes=15)
    client = client_as(roles.NURSE)
    when = _signed(encounter, nurse_user)
    data = {"enc-arrived_at": local(arrived), "enc-observation_at": "",
            "enc-base": merge.snapshot(shown)}  # fmt: skip
    url = reverse("mar:encounter_times", args=[encounter.pk])
    text = _refused_as_signed(
        client.post(url, data, **HX), when, nurse_user.username,
        f"Encounter times: Arrived at: '{local(arrived)}' — ",
    )  # fmt: skip
    assert "observation" not in text
    saved = type(encounter).objects.get(pk=encounter.pk)
    assert (saved.arrived_at, saved.observation_at) == (encounter.arrived_at, None)


@pytest.mark.parametrize("form", ["rate", "volumes", "measure"])
def test_a_care_form_sent_after_the_signature_is_refused_saying_so(
    client_as, nurse_user, form
) -> None:
    """The card's rate change and volumes, the patient's measures: said, nothing charted."""
    encounter, adm = running_visit()
    a = adm.pk
    url_name, args, data, said = {
        "rate": ("mar:adm_rate", [a],
                 {f"r{a}-rate_ml_h": "80", f"r{a}-reason": "titration", f"r{a}-version": 1},
                 f"carboplatin (A{a}) rate change: New rate (mL/h): '80', Reason: 'titration'"),
        "volumes": ("mar:adm_volumes", [a], {f"v{a}-bag_volume_ml": "250"},
                    f"carboplatin (A{a}) volumes: Bag volume (mL): '250'"),
        "measure": ("mar:measure_add", [],
                    {"m-kind": "weight_kg", "m-value": "70.5", "m-method": "measured"},
                    "Patient measure: Measure: 'Weight (kg)', Value: '70.5', How: 'Measured'"),
    }[form]  # fmt: skip
    client = client_as(roles.NURSE)
    when = _signed(encounter, nurse_user)
    response = client.post(reverse(url_name, args=[encounter.pk, *args]), data, **HX)
    _refused_as_signed(response, when, nurse_user.username, said)
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag_volume_ml, saved.version) == (adm.bag_volume_ml, adm.version)
    assert not RateChange.objects.filter(administration=adm).exists()
    assert not PatientMeasure.objects.filter(encounter=encounter).exists()


def test_a_rate_change_signed_while_on_its_way_is_refused_the_same_way(
    client_as, nurse_user, monkeypatch
) -> None:
    """Signed after the view read the record: the service's refusal (RecordSigned) is
    answered with the same message."""
    encounter, adm = running_visit()
    stale = care_views._administration(encounter.pk, adm.pk)  # read as in progress
    monkeypatch.setattr(care_views, "_administration", lambda pk, adm_pk: stale)
    when = _signed(encounter, nurse_user)
    data = {f"r{adm.pk}-rate_ml_h": "80", f"r{adm.pk}-reason": "titration"}
    response = client_as(roles.NURSE).post(
        reverse("mar:adm_rate", args=[encounter.pk, adm.pk]), data, **HX
    )
    said = f"carboplatin (A{adm.pk}) rate change: New rate (mL/h): '80', Reason: 'titration'"
    _refused_as_signed(response, when, nurse_user.username, said)
    assert not RateChange.objects.filter(administration=adm).exists()


# ---- Her change is what differs from what the card drew (QA, Chromium, two tabs) -----------------
# The message named the dose carried over from the order ("Dose given: '1000'"), which she never
# touched, and the addendum link prefilled it: the card was compared with the stored row (and a
# stored amount read as changed). It names, and prefills, only what she typed on her page.


def _hydration_started(client, encounter) -> Administration:
    """A bag of saline started from its order ("1000 mL"): the card draws the order's dose."""
    order = hydration_order(encounter)
    adm = charting.administration_start(
        order=order, site=encounter.sites.get(), start=timezone.now() - timedelta(minutes=20)
    )
    assert (plain_number(adm.dose_value), adm.dose_unit) == ("1000", "mL")
    return adm


def _card_as_drawn(client, encounter, adm) -> dict[str, str]:
    """The card's form on the chart page (tab B), each field as the browser would post it."""
    page = form_on(client.get(reverse("mar:encounter", args=[encounter.pk])), _card_url(adm))
    return {name: field["value"] for name, field in page.fields.items()}


def _card_url(adm) -> str:
    return reverse("mar:adm_update", args=[adm.encounter_id, adm.pk])


def _card_fields(query: dict[str, list[str]], adm) -> dict[str, list[str]]:
    return {k: v for k, v in query.items() if k.startswith(f"a{adm.pk}-")}


def test_the_dose_the_card_drew_from_the_order_and_she_left_is_not_named_nor_prefilled(
    client_as, nurse_user
) -> None:
    encounter, _running = running_visit()
    client = client_as(roles.NURSE)
    adm = _hydration_started(client, encounter)
    page = _card_as_drawn(client, encounter, adm)  # tab B, drawn before the signature
    assert page[f"a{adm.pk}-dose_value"] == "1000"  # drawn, never typed by her
    when = _signed(encounter, nurse_user)
    page[f"a{adm.pk}-bag"] = "BAG-TAB-B"
    text = _refused_as_signed(
        client.post(_card_url(adm), page, **HX), when, nurse_user.username, "Bag id: 'BAG-TAB-B'"
    )
    assert "Your change — Bag id: 'BAG-TAB-B' — can be written as an addendum." in text
    assert "Dose" not in text
    _path, query, _anchor = _link(text)
    assert _card_fields(query, adm) == {f"a{adm.pk}-bag": ["BAG-TAB-B"]}


def test_a_value_the_card_drew_but_never_saved_is_not_hers_to_name(client_as, nurse_user) -> None:
    """Compared with what the card showed, not what is stored: a card that drew a dose nothing
    saved (as a card prefilled from its order would) and posts it back untouched names only
    what she typed."""
    encounter, adm = running_visit()  # carboplatin, AUC 5: no dose stored
    client = client_as(roles.NURSE)
    page = _card_as_drawn(client, encounter, adm)
    drawn = json.loads(page[f"a{adm.pk}-drawn"])
    assert (drawn["dose_value"], drawn["dose_unit"]) == ("", "")
    drawn.update(dose_value="450", dose_unit="mg")  # shown so on her card
    page.update({f"a{adm.pk}-drawn": json.dumps(drawn), f"a{adm.pk}-dose_value": "450",
                 f"a{adm.pk}-dose_unit": "mg", f"a{adm.pk}-waste_value": "0"})  # fmt: skip
    when = _signed(encounter, nurse_user)
    text = _refused_as_signed(
        client.post(_card_url(adm), page, **HX), when, nurse_user.username, "Wasted (0 = none): '0'"
    )
    assert "Dose given" not in text and "mg" not in text.split("Your change")[1]
    assert _card_fields(_link(text)[1], adm) == {f"a{adm.pk}-waste_value": ["0"]}


def test_the_fields_she_typed_are_named_and_only_they_go_to_the_addendum(
    client_as, nurse_user
) -> None:
    """She corrected the dose the card drew and typed a bag id: both named, as she typed them,
    and the addendum link carries those two of the card's fields, nothing else."""
    encounter, _running = running_visit()
    client = client_as(roles.NURSE)
    adm = _hydration_started(client, encounter)
    page = _card_as_drawn(client, encounter, adm)
    when = _signed(encounter, nurse_user)
    page.update({f"a{adm.pk}-dose_value": "950", f"a{adm.pk}-bag": "B-7"})
    text = _refused_as_signed(
        client.post(_card_url(adm), page, **HX), when, nurse_user.username,
        "Bag id: 'B-7'; Dose given: '950' — ",
    )  # fmt: skip
    path, query, anchor = _link(text)
    assert _card_fields(query, adm) == {
        f"a{adm.pk}-bag": ["B-7"],
        f"a{adm.pk}-dose_value": ["950"],
    }
    assert (query["addendum"], anchor) == (["1"], f"adm-{adm.pk}")
    # The addendum's card holds hers, and the unit it drew (not prefilled: not hers).
    chart = html_lib.unescape(client.get(path, query).content.decode())
    assert f'name="a{adm.pk}-dose_value" value="950"' in chart
    assert f'name="a{adm.pk}-dose_unit" value="mL"' in chart
    assert "Not saved yet, from your page before the signature: Bag id: B-7; Dose given: 950." in (
        chart
    )


def test_the_same_value_written_otherwise_is_no_change(client_as, nurse_user) -> None:
    """'1000.0' for the '1000' drawn, ' mL' for 'mL': the same values, not hers to name."""
    encounter, _running = running_visit()
    client = client_as(roles.NURSE)
    adm = _hydration_started(client, encounter)
    page = _card_as_drawn(client, encounter, adm)
    _signed(encounter, nurse_user)
    page.update({f"a{adm.pk}-dose_value": "1000.0", f"a{adm.pk}-dose_unit": " mL",
                 f"a{adm.pk}-bag": "B-8"})  # fmt: skip
    text = html_lib.unescape(client.post(_card_url(adm), page, **HX).content.decode())
    assert "Your change — Bag id: 'B-8' — can be" in text
    assert _card_fields(_link(text)[1], adm) == {f"a{adm.pk}-bag": ["B-8"]}


def test_nothing_she_typed_differs_is_said_plainly(client_as, nurse_user) -> None:
    """A save sent with every field as the card drew it (Save pressed, a value typed and put
    back): the record was signed, nothing of hers was lost; the link opens the addendum with
    nothing of the card's prefilled."""
    encounter, _running = running_visit()
    client = client_as(roles.NURSE)
    adm = _hydration_started(client, encounter)
    page = _card_as_drawn(client, encounter, adm)
    when = _signed(encounter, nurse_user)
    response = client.post(_card_url(adm), page, **HX)
    assert (response.status_code, response["X-MAR-Signed"]) == (409, "1")
    text = html_lib.unescape(response.content.decode())
    assert (
        f"Nothing to save: this record was signed at {when} by {nurse_user.username}, and "
        "nothing you typed here differs from what it showed, so nothing of yours was lost."
    ) in text
    assert "Your change" not in text and "Not saved" not in text
    assert 'data-typed="no"' in text  # chart.js: the card is not counted unsaved
    assert _card_fields(_link(text)[1], adm) == {}
    # Without JavaScript: the same words over the addendum form, no "say why" for nothing.
    plain = client.post(_card_url(adm), page)
    shown = html_lib.unescape(client.get(plain["Location"]).content.decode())
    assert "nothing of yours was lost. A change to it now is an addendum." in shown
    assert "Say why below" not in shown


def test_encounter_times_left_as_shown_say_nothing_of_hers_was_lost(client_as, nurse_user) -> None:
    """A form that posts what it showed (`base`) and sent nothing changed: said plainly too."""
    encounter, _adm = running_visit()
    shown = charting.encounter_times(encounter)
    client = client_as(roles.NURSE)
    _signed(encounter, nurse_user)
    data = {"enc-arrived_at": local(encounter.arrived_at), "enc-observation_at": "",
            "enc-base": merge.snapshot(shown)}  # fmt: skip
    response = client.post(reverse("mar:encounter_times", args=[encounter.pk]), data, **HX)
    text = html_lib.unescape(response.content.decode())
    assert response.status_code == 409
    assert "nothing of yours was lost" in text and "Encounter times" not in text


def test_the_message_is_said_once_in_the_answer(client_as, nurse_user) -> None:
    """One message, one addendum link: chart.js puts it in the card's save line's place and the
    save line says nothing more (tests/browser/test_signed_since.py)."""
    encounter, _running = running_visit()
    client = client_as(roles.NURSE)
    adm = _hydration_started(client, encounter)
    page = _card_as_drawn(client, encounter, adm)
    _signed(encounter, nurse_user)
    page[f"a{adm.pk}-bag"] = "BAG-ONCE"
    text = html_lib.unescape(client.post(_card_url(adm), page, **HX).content.decode())
    assert text.count("this record was signed at") == 1
    assert text.count("BAG-ONCE") == 2  # said once, and once in the link
    assert text.count('data-testid="signed-addendum"') == 1
    assert text.count("Not saved") == 1


def test_after_a_conflict_her_value_still_unsaved_is_named_not_theirs(
    client_as, nurse_user
) -> None:
    """Tab B's bag id clashed with one tab A saved: the card came back with hers typed and
    theirs in the other fields (the dose A corrected). Signed, then B saves again: her bag id is
    named (still not saved), the dose A saved is not."""
    encounter, _running = running_visit()
    client = client_as(roles.NURSE)
    adm = _hydration_started(client, encounter)
    page = _card_as_drawn(client, encounter, adm)  # tab B
    tab_a = _card_as_drawn(client, encounter, adm)
    tab_a.update({f"a{adm.pk}-bag": "BAG-A", f"a{adm.pk}-dose_value": "900"})
    assert client.post(_card_url(adm), tab_a, **HX).status_code == 200
    page[f"a{adm.pk}-bag"] = "BAG-B"
    conflict = client.post(_card_url(adm), page, **HX)
    assert 'data-testid="conflict"' in conflict.content.decode()
    page = form_on(conflict, _card_url(adm)).fields
    page = {name: field["value"] for name, field in page.items()}
    assert (page[f"a{adm.pk}-bag"], page[f"a{adm.pk}-dose_value"]) == ("BAG-B", "900")
    when = _signed(encounter, nurse_user)
    text = _refused_as_signed(
        client.post(_card_url(adm), page, **HX), when, nurse_user.username, "Bag id: 'BAG-B' — "
    )
    assert "Dose" not in text
    assert _card_fields(_link(text)[1], adm) == {f"a{adm.pk}-bag": ["BAG-B"]}
