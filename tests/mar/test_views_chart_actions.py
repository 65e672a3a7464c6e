"""Charting through the views: every action as a plain POST (redirect) and with htmx (the chart
section back), the engine's input errors beside their fields, conflicts, sign-off and addenda."""

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from coding.models import ChargeRun
from mar import roles
from mar.models import (
    AccessSite,
    Addendum,
    Administration,
    Encounter,
    FindingAcknowledgement,
    Flush,
    Pause,
)
from tests import factories
from tests.mar.chart_helpers import (
    SIGN_CONFIRMED,
    card_data,
    hydration_order,
    local,
    running_visit,
)

HX = {"HTTP_HX_REQUEST": "true"}


def _action_urls(encounter: Encounter, adm: Administration) -> dict[str, str]:
    site = adm.site
    pause = Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=5),
                                 end=adm.start + timedelta(minutes=10))  # fmt: skip
    flush = Flush.objects.create(encounter=encounter, site=site, at=adm.start)
    args = [encounter.pk]
    return {
        "times": reverse("mar:encounter_times", args=args),
        "sign": reverse("mar:encounter_sign", args=args),
        "addendum": reverse("mar:addendum_add", args=args),
        "site_place": reverse("mar:site_place", args=args),
        "site_update": reverse("mar:site_update", args=[*args, site.pk]),
        "site_assess": reverse("mar:site_assess", args=[*args, site.pk]),
        "site_discontinue": reverse("mar:site_discontinue", args=[*args, site.pk]),
        "site_flush": reverse("mar:site_flush", args=[*args, site.pk]),
        "flush_remove": reverse("mar:flush_remove", args=[*args, flush.pk]),
        "order_start": reverse("mar:order_start", args=[*args, adm.order_id]),
        "adm_update": reverse("mar:adm_update", args=[*args, adm.pk]),
        "adm_pause": reverse("mar:adm_pause", args=[*args, adm.pk]),
        "adm_resume": reverse("mar:adm_resume", args=[*args, adm.pk]),
        "adm_stop": reverse("mar:adm_stop", args=[*args, adm.pk]),
        "pause_update": reverse("mar:pause_update", args=[*args, pause.pk]),
    }


ACTIONS = [
    "times", "sign", "addendum", "site_place", "site_update", "site_assess", "site_discontinue",
    "site_flush", "flush_remove", "order_start", "adm_update", "adm_pause", "adm_resume",
    "adm_stop", "pause_update",
]  # fmt: skip


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", [roles.CODER, roles.PHARMACIST])
def test_only_nurses_chart(client_as, action, role) -> None:
    encounter, adm = running_visit()
    url = _action_urls(encounter, adm)[action]
    assert client_as(role).post(url, {}).status_code == 403
    assert client_as(role).post(url, {}, **HX).status_code == 403
    assert Administration.objects.get(pk=adm.pk).version == adm.version


@pytest.mark.parametrize("action", ACTIONS)
def test_anonymous_posts_are_sent_to_log_in(db, action) -> None:
    encounter, adm = running_visit()
    response = Client().post(_action_urls(encounter, adm)[action], {})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("action", ["GET"])
def test_actions_refuse_get(client_as, action) -> None:
    encounter, adm = running_visit()
    url = reverse("mar:adm_stop", args=[encounter.pk, adm.pk])
    assert client_as(roles.NURSE).get(url).status_code == 405


def test_an_object_of_another_encounter_is_not_reachable(client_as) -> None:
    mine, _ = running_visit()
    _other, theirs = running_visit()
    url = reverse("mar:adm_stop", args=[mine.pk, theirs.pk])
    assert client_as(roles.NURSE).post(url, {f"at{theirs.pk}-version": 1}).status_code == 404
    assert Administration.objects.get(pk=theirs.pk).stop is None


# --- sites and flushes ------------------------------------------------------------------------


def test_placing_a_site_without_javascript_redirects_to_it(client_as) -> None:
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    response = client_as(roles.NURSE).post(
        reverse("mar:site_place", args=[encounter.pk]),
        {"site-kind": "port", "site-location": "right chest",
         "site-placed_at": local(timezone.now() - timedelta(minutes=30))},
    )  # fmt: skip
    site = AccessSite.objects.get(encounter=encounter)
    assert response.status_code == 302
    assert response["Location"].endswith(f"#site-{site.pk}")
    assert (site.kind, site.location) == ("port", "right chest")


def test_a_second_vascular_site_asks_why(client_as) -> None:
    encounter, _adm = running_visit()
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk]))
    assert "Why a second site is necessary" in page.content.decode()
    first = factories.encounter_create()
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[first.pk]))
    assert "Why a second site is necessary" not in page.content.decode()


def test_a_second_site_used_without_reason_shows_rac4_until_the_reason_is_given(client_as) -> None:
    encounter, adm = running_visit()
    second = factories.site_create(encounter, location="right forearm")
    other = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    factories.administration_create(
        encounter, other, site=second, start=adm.start + timedelta(minutes=5), stop=None,
        method="push",
    )  # fmt: skip
    client = client_as(roles.NURSE)
    checklist = reverse("mar:encounter_checklist", args=[encounter.pk])
    html = client.get(checklist).content.decode()
    assert 'data-rule="RAC-4"' in html
    assert f'href="#id_s{second.pk}-separate_site_reason"' in html
    client.post(
        reverse("mar:site_update", args=[encounter.pk, second.pk]),
        {f"s{second.pk}-location": "right forearm",
         f"s{second.pk}-separate_site_reason": "vesicant must run alone: incompatible drugs"},
    )  # fmt: skip
    assert 'data-rule="RAC-4"' not in client.get(checklist).content.decode()


def test_one_tap_flush_charts_a_flush_now_and_clears_rac5(client_as) -> None:
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter)
    fluid = hydration_order(encounter)
    drug = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    factories.administration_create(
        encounter, fluid, site=site, start=now - timedelta(minutes=90),
        stop=now - timedelta(minutes=40), purpose="hydration",
    )  # fmt: skip
    client = client_as(roles.NURSE)
    client.post(reverse("mar:site_flush", args=[encounter.pk, site.pk]), **HX)
    assert Flush.objects.filter(site=site).count() == 1
    response = client.post(
        reverse("mar:order_start", args=[encounter.pk, drug.pk]),
        {f"o{drug.pk}-method": "push", f"o{drug.pk}-site": site.pk},
        **HX,
    )
    assert 'data-rule="RAC-5"' not in response.content.decode()


def test_a_discontinued_site_takes_no_flush(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    client.post(
        reverse("mar:site_discontinue", args=[encounter.pk, adm.site_id]),
        {f"discontinue{adm.site_id}-stop_running": "1"},  # confirmed: carboplatin stops with it
    )
    assert AccessSite.objects.get(pk=adm.site_id).discontinued_at is not None
    response = client.post(reverse("mar:site_flush", args=[encounter.pk, adm.site_id]), **HX)
    assert "was discontinued" in response.content.decode()
    assert not Flush.objects.filter(site_id=adm.site_id).exists()


@pytest.mark.parametrize("action", ["place", "correct", "assess", "discontinue"])
def test_a_site_time_in_the_future_is_refused_beside_its_field(client_as, action) -> None:
    """DOC-3, nothing in the future, for a site's own times (walk19: a site "placed" two hours
    ahead was kept, the engine's record having no placed time to check): refused beside the
    field, nothing saved, what was typed kept."""
    encounter, adm = running_visit()
    site = AccessSite.objects.get(pk=adm.site_id)
    before = (site.placed_at, site.assessed_at, site.discontinued_at)
    ahead = local(timezone.now() + timedelta(hours=2))
    url, data, field = {
        "place": (
            reverse("mar:site_place", args=[encounter.pk]),
            {"site-kind": "peripheral_iv", "site-location": "right forearm",
             "site-placed_at": ahead, "site-separate_site_reason": "port will not draw back"},
            "site-placed_at",
        ),
        "correct": (
            reverse("mar:site_update", args=[encounter.pk, site.pk]),
            {f"s{site.pk}-location": site.location, f"s{site.pk}-placed_at": ahead,
             f"s{site.pk}-placed_was": site.placed_at.isoformat()},
            f"s{site.pk}-placed_at",
        ),
        "assess": (
            reverse("mar:site_assess", args=[encounter.pk, site.pk]),
            {f"assess{site.pk}-at": ahead},
            f"assess{site.pk}-at",
        ),
        "discontinue": (
            reverse("mar:site_discontinue", args=[encounter.pk, site.pk]),
            {f"discontinue{site.pk}-at": ahead, f"discontinue{site.pk}-stop_running": "1"},
            f"discontinue{site.pk}-at",
        ),
    }[action]  # fmt: skip
    html = client_as(roles.NURSE).post(url, data, **HX).content.decode()
    assert AccessSite.objects.filter(encounter=encounter).count() == 1
    site.refresh_from_db()
    assert (site.placed_at, site.assessed_at, site.discontinued_at) == before
    assert Administration.objects.get(pk=adm.pk).stop is None
    tag = re.search(rf'<input[^>]*name="{field}"[^>]*>', html)
    assert tag is not None
    assert f'value="{ahead}"' in tag.group()  # what she typed, kept
    after = html[tag.end() : tag.end() + 600]  # beside the field, below its input
    assert f'id="id_{field}_error"' in after
    # the time and now, each with its date (bedside finding 2)
    assert re.search(r"This time \(\d{4}-\d\d-\d\d \d\d:\d\d\) is later than now \(", after)


def test_assessing_a_site_records_when(client_as) -> None:
    encounter, adm = running_visit()
    client_as(roles.NURSE).post(reverse("mar:site_assess", args=[encounter.pk, adm.site_id]))
    assert AccessSite.objects.get(pk=adm.site_id).assessed_at is not None


# --- orders and administrations ---------------------------------------------------------------


def test_starting_an_order_carries_drug_dose_and_route_over(client_as) -> None:
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    site = factories.site_create(encounter)
    # Verified by pharmacy, and double-checked by a second nurse: a chemotherapy (issue 17).
    order = factories.order_create(encounter, factories.drug_get("rituximab", "chemo"),
                                   dose="375 mg/m2", route="iv", verified_at=timezone.now(),
                                   verified_by=factories.user_create(username="rph"))  # fmt: skip
    factories.user_create(username="nurse-two", role=roles.NURSE)
    client = client_as(roles.NURSE)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    # The only open site is preselected.
    assert f'<option value="{site.pk}" selected>' in page
    response = client.post(
        reverse("mar:order_start", args=[encounter.pk, order.pk]),
        {f"o{order.pk}-method": "infusion", f"o{order.pk}-site": site.pk,
         f"o{order.pk}-second_username": "nurse-two",
         f"o{order.pk}-second_password": factories.PASSWORD,
         f"o{order.pk}-double_check_confirmed": "on"},
        **HX,
    )  # fmt: skip
    adm = Administration.objects.get(encounter=encounter)
    assert (adm.drug, adm.order, adm.route, adm.site) == (order.drug, order, "iv", site)
    assert adm.stop is None
    assert abs((adm.start - timezone.now()).total_seconds()) < 60
    html = response.content.decode()
    # htmx: the parts a start changes, each out of band (issue 19), the new infusion running.
    assert response["HX-Reswap"] == "none"
    assert html.lstrip().startswith('<div id="running-slot" hx-swap-oob="morph">')
    assert 'data-rule="RAC-7"' in html  # running: no stop yet
    assert "375 mg/m²" in html  # shown with its superscript (mar.dosing.dose_shown)


def test_a_started_orders_dose_shows_as_ordered_not_to_four_places(client_as) -> None:
    """The dose carried over from the order ("1 g", the drug's HCPCS units) shows as "1" on the
    card, not "1.0000"; saving the card as shown keeps it."""
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("vancomycin"), dose="1 g")
    client = client_as(roles.NURSE)
    html = client.post(
        reverse("mar:order_start", args=[encounter.pk, order.pk]),
        {f"o{order.pk}-method": "infusion", f"o{order.pk}-site": ""},
        **HX,
    ).content.decode()
    adm = Administration.objects.get(order=order)
    assert f'name="a{adm.pk}-dose_value" value="1"' in html
    assert "1.0000" not in html
    response = client.post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]), card_data(adm, dose_value="1")
    )
    assert response.status_code == 302
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.dose_value, saved.dose_unit) == (1, "g")


def test_a_hydration_order_starts_as_hydration(client_as) -> None:
    encounter, _adm = running_visit()
    fluid = hydration_order(encounter)
    client_as(roles.NURSE).post(
        reverse("mar:order_start", args=[encounter.pk, fluid.pk]),
        {f"o{fluid.pk}-method": "infusion", f"o{fluid.pk}-site": ""},
    )
    assert Administration.objects.get(order=fluid).purpose == "hydration"


def test_pause_resume_stop_with_the_big_buttons(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    field = f"at{adm.pk}-version"
    client.post(reverse("mar:adm_pause", args=[encounter.pk, adm.pk]), {field: 1})
    pause = Pause.objects.get(administration=adm)
    assert pause.end is None
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert 'data-testid="resume"' in page
    client.post(reverse("mar:adm_resume", args=[encounter.pk, adm.pk]), {field: 2})
    pause.refresh_from_db()
    assert pause.end is not None
    response = client.post(reverse("mar:adm_stop", args=[encounter.pk, adm.pk]), {field: 3})
    assert response.status_code == 302
    adm.refresh_from_db()
    assert adm.stop is not None
    assert adm.version == 4


def test_stop_now_twice_is_refused_not_repeated(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    url = reverse("mar:adm_stop", args=[encounter.pk, adm.pk])
    client.post(url, {f"at{adm.pk}-version": 1})
    first_stop = Administration.objects.get(pk=adm.pk).stop
    response = client.post(url, {f"at{adm.pk}-version": 1}, **HX)
    assert "changed by someone else" in response.content.decode()
    assert Administration.objects.get(pk=adm.pk).stop == first_stop


def test_late_entry_edits_times_and_marks_a_push_or_bag(client_as) -> None:
    encounter, adm = running_visit()
    stop = adm.start + timedelta(minutes=45)
    response = client_as(roles.NURSE).post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
        card_data(adm, stop=local(stop), bag="B1", started_by="facility"),
    )
    assert response.status_code == 302
    adm.refresh_from_db()
    assert adm.stop.replace(second=0, microsecond=0) == stop.replace(second=0, microsecond=0)
    assert adm.bag == "B1"
    assert adm.version == 2


# --- the engine's input errors (DOC-3) beside their fields; nothing saved changes -------------


def _refused(client_as, adm, **overrides):
    encounter = adm.encounter
    before = Administration.objects.get(pk=adm.pk)
    response = client_as(roles.NURSE).post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]), card_data(adm, **overrides), **HX
    )
    after = Administration.objects.get(pk=adm.pk)
    assert (after.start, after.stop, after.version, after.bag) == (
        before.start, before.stop, before.version, before.bag,
    )  # fmt: skip
    return response.content.decode()


def test_a_stop_before_its_start_is_refused_beside_the_stop_field(client_as) -> None:
    _encounter, adm = running_visit()
    typed_stop = local(adm.start - timedelta(minutes=10))
    html = _refused(client_as, adm, stop=typed_stop, bag="typed-bag")
    assert "is not after its start" in html
    assert f'id="error_1_id_a{adm.pk}-stop"' in html  # crispy puts it under the stop field
    assert f'value="{typed_stop}"' in html  # the nurse's typing is kept
    assert 'value="typed-bag"' in html


def test_a_stop_before_its_start_names_only_the_stop_not_its_pause_too(client_as) -> None:
    """DOC-3: a stop typed before the start puts every pause outside the run; the nurse is told
    about the stop, beside it, and not given a second alert about the pause that follows from
    it. Nothing saved changes."""
    _encounter, adm = running_visit()
    Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=5),
                         end=adm.start + timedelta(minutes=10))  # fmt: skip
    html = _refused(client_as, adm, stop=local(adm.start - timedelta(minutes=30)))
    assert f'id="error_1_id_a{adm.pk}-stop"' in html
    assert "is not after its start" in html
    assert "is not within its start and stop" not in html


def test_a_pause_outside_a_right_start_and_stop_is_still_named(client_as) -> None:
    """DOC-3: when the start and stop are plausible, a stop typed before a pause leaves the
    pause outside the run: the pause is named beside the stop it lies after (the card has no
    pause field; "see why in the card" said neither which time nor what was saved), with the
    start as saved (tests/mar/test_card_times_together.py)."""
    _encounter, adm = running_visit()
    Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=20),
                         end=adm.start + timedelta(minutes=25))  # fmt: skip
    html = _refused(client_as, adm, stop=local(adm.start + timedelta(minutes=10)))
    beside_stop = html[html.index(f'id="error_1_id_a{adm.pk}-stop"') :][:400]
    paused = (adm.start + timedelta(minutes=20)).astimezone(factories.NEW_YORK)
    assert f"is not: the pause at {paused:%H:%M} is after it." in beside_stop


def test_a_time_in_the_future_is_refused(client_as) -> None:
    _encounter, adm = running_visit()
    html = _refused(client_as, adm, stop=local(timezone.now() + timedelta(hours=2)))
    assert "is in the future" in html


def test_more_than_24_hours_without_a_pump_is_refused(client_as) -> None:
    _encounter, adm = running_visit()
    # The line was in before the start typed (a start before its placing is refused first).
    AccessSite.objects.filter(pk=adm.site_id).update(placed_at=adm.start - timedelta(hours=31))
    html = _refused(client_as, adm, start=local(adm.start - timedelta(hours=30)),
                    stop=local(adm.start))  # fmt: skip
    assert "more than 24 hours without a pump" in html


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-post"])
def test_a_running_infusion_started_days_ago_is_refused_beside_its_start(client_as, htmx) -> None:
    """DOC-3 (nothing longer than 24 h without a pump): a running infusion (no stop) whose start
    is typed days early would have run for days. The card is refused beside its start field,
    the typed start and the rest of the nurse's typing are kept, and nothing saved changes."""
    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(bag="B1")
    # The line was in before the start typed (a start before its placing is refused first).
    AccessSite.objects.filter(pk=adm.site_id).update(placed_at=adm.start - timedelta(days=4))
    adm.refresh_from_db()
    typed_start = local(adm.start - timedelta(days=3))
    response = client_as(roles.NURSE).post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
        card_data(adm, start=typed_start, dose_value="300", dose_unit="mg"),
        **(HX if htmx else {}),
    )
    assert response.status_code == 200  # the card (or the page) again, not a redirect
    html = response.content.decode()
    assert f'id="error_1_id_a{adm.pk}-start"' in html  # crispy puts it under the start field
    assert "running for more than 24 hours without a pump" in html
    assert f'name="a{adm.pk}-start" value="{typed_start}"' in html  # the typing is kept
    assert f'name="a{adm.pk}-dose_value" value="300"' in html
    after = Administration.objects.get(pk=adm.pk)
    assert (after.start, after.stop, after.bag, after.dose_value, after.version) == (
        adm.start, None, "B1", adm.dose_value, adm.version,
    )  # fmt: skip


def test_starting_an_order_days_ago_is_refused_beside_the_start_time(client_as) -> None:
    """DOC-3 (more than 24 h without a pump), when an order is started with a late-entry time
    days early: refused beside that time, nothing created, the typed time kept."""
    encounter, _adm = running_visit()
    fluid = hydration_order(encounter)
    # Noon, 400 days ago: never the hour that happens twice when the clocks go back (at 00:03
    # on 2026-12-07 "400 days ago" was 01:03 on 2025-11-02, refused for that instead).
    typed = local((timezone.localtime() - timedelta(days=400)).replace(hour=12, minute=0))
    response = client_as(roles.NURSE).post(
        reverse("mar:order_start", args=[encounter.pk, fluid.pk]),
        {f"o{fluid.pk}-method": "infusion", f"o{fluid.pk}-site": "", f"o{fluid.pk}-at": typed},
        **HX,
    )
    html = response.content.decode()
    assert f'id="error_1_id_o{fluid.pk}-at"' in html
    assert "running for more than 24 hours without a pump" in html
    assert f'value="{typed}"' in html
    assert not Administration.objects.filter(order=fluid).exists()


def test_a_pause_outside_its_administration_is_refused(client_as) -> None:
    encounter, adm = running_visit()
    pause = Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=5),
                                 end=adm.start + timedelta(minutes=10))  # fmt: skip
    response = client_as(roles.NURSE).post(
        reverse("mar:pause_update", args=[encounter.pk, pause.pk]),
        {f"p{pause.pk}-start": local(adm.start - timedelta(minutes=30)),
         f"p{pause.pk}-end": local(adm.start - timedelta(minutes=20)),
         f"p{pause.pk}-version": adm.version},
        **HX,
    )  # fmt: skip
    assert "is not within its start and stop" in response.content.decode()
    pause.refresh_from_db()
    assert pause.start == adm.start + timedelta(minutes=5)


def test_a_dst_ambiguous_time_is_a_clear_field_error(client_as) -> None:
    _encounter, adm = running_visit()
    # 2026-11-01 01:30 happens twice in New York.
    html = _refused(client_as, adm, stop="2026-11-01T01:30")
    assert "happens twice in America/New_York" in html
    # The picker cannot take an offset: the field turns into text for one.
    assert f'type="text" name="a{adm.pk}-stop"' in html


def test_a_dst_skipped_time_is_a_clear_field_error(client_as) -> None:
    _encounter, adm = running_visit()
    html = _refused(client_as, adm, start="2026-03-08T02:30")
    assert "does not exist in America/New_York" in html


def test_an_offset_settles_an_ambiguous_time(client_as) -> None:
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(days=400))
    order = factories.order_create(encounter, factories.drug_get("ondansetron"))
    site = factories.site_create(encounter)
    adm = factories.administration_create(
        encounter, order, site=site, start=factories.MORNING.replace(month=10, day=31),
        stop=None, method="push",
    )  # fmt: skip
    response = client_as(roles.NURSE).post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
        card_data(adm, start="2026-11-01T01:30-05:00", method="push"),
    )
    assert response.status_code == 302
    adm.refresh_from_db()
    assert adm.start.isoformat() == "2026-11-01T06:30:00+00:00"


def test_a_stored_time_in_the_repeated_dst_hour_is_shown_and_kept_not_blanked(client_as) -> None:
    """A nurse never loses charted data: the picker cannot show a time with an offset, so such a
    time is shown as text, and saving the card unchanged keeps it."""
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(days=400))
    order = factories.order_create(encounter, factories.drug_get("ondansetron"))
    site = factories.site_create(encounter)
    first_0130 = datetime.fromisoformat("2026-11-01T01:30-04:00")  # EDT, before the clocks go back
    adm = factories.administration_create(
        encounter, order, site=site, start=first_0130 - timedelta(minutes=40), stop=first_0130
    )
    client = client_as(roles.NURSE)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert f'type="text" name="a{adm.pk}-stop" value="2026-11-01T01:30-04:00"' in page
    response = client.post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
        card_data(adm, stop="2026-11-01T01:30-04:00", bag="B7"),
    )
    assert response.status_code == 302
    adm.refresh_from_db()
    assert (adm.stop, adm.bag) == (first_0130, "B7")


# --- two nurses, one administration -----------------------------------------------------------


def test_a_stale_save_is_shown_both_versions_and_never_overwrites(client_as) -> None:
    encounter, adm = running_visit()
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    client = client_as(roles.NURSE)
    # Nurse A saves bag B1 from version 1.
    client.post(url, card_data(adm, bag="B1"))
    # Nurse B, still on version 1, saves bag B2.
    html = client.post(url, card_data(adm, bag="B2"), **HX).content.decode()
    assert Administration.objects.get(pk=adm.pk).bag == "B1"
    assert 'data-testid="conflict"' in html
    assert "Saved meanwhile (version 2)" in html and "bag B1" in html
    assert 'value="B2"' in html  # B's version stays in the form
    assert f'name="a{adm.pk}-version" value="2"' in html
    # Saving again is deliberate: now it goes through.
    client.post(url, card_data(adm, bag="B2", version=2))
    assert Administration.objects.get(pk=adm.pk).bag == "B2"


# --- the encounter's times --------------------------------------------------------------------


def test_arrival_time_is_charted_for_rac8(client_as) -> None:
    encounter, adm = running_visit(arrived_at=None)
    Administration.objects.filter(pk=adm.pk).update(started_by="ems")
    client = client_as(roles.NURSE)
    checklist = reverse("mar:encounter_checklist", args=[encounter.pk])
    html = client.get(checklist).content.decode()
    assert 'href="#id_enc-arrived_at"' in html
    client.post(reverse("mar:encounter_times", args=[encounter.pk]),
                {"enc-arrived_at": local(adm.start + timedelta(minutes=10))})  # fmt: skip
    encounter.refresh_from_db()
    assert encounter.arrived_at is not None
    assert "arrival time is not charted" not in client.get(checklist).content.decode()


# --- sign-off, read-only, addendum ------------------------------------------------------------


def test_sign_is_refused_while_an_error_is_neither_resolved_nor_acknowledged(client_as) -> None:
    encounter, _adm = running_visit()
    response = client_as(roles.NURSE).post(reverse("mar:encounter_sign", args=[encounter.pk]))
    assert response.status_code == 200
    assert "Resolve this item, or give a reason to sign anyway." in response.content.decode()
    encounter.refresh_from_db()
    assert encounter.status == Encounter.Status.IN_PROGRESS


def test_sign_with_a_reason_stores_the_acknowledgement(
    client_as, django_capture_on_commit_callbacks
) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    # Running at the bedside is not an error; signing asks for its stop (RAC-7, an error) and
    # answers with the sign-off's reason box for it.
    page = client.post(reverse("mar:encounter_sign", args=[encounter.pk])).content.decode()
    import re

    names = re.findall(r'name="(ack_[0-9a-f]{12})"', page)
    assert names
    data = {name: "pump ran on after discharge; stop time unknown" for name in names}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("mar:encounter_sign", args=[encounter.pk]), {**data, **SIGN_CONFIRMED}
        )
    assert response.status_code == 302
    encounter.refresh_from_db()
    assert encounter.status == Encounter.Status.SIGNED
    ack = FindingAcknowledgement.objects.get(encounter=encounter, rule="RAC-7")
    assert ack.administrations == f"A{adm.pk}"
    assert ack.field == "stop"
    assert ack.reason.startswith("pump ran on")
    # The charges were generated (eager Celery in this test).
    assert ChargeRun.objects.filter(encounter=encounter, is_current=True).exists()


def test_each_reason_to_sign_anyway_stays_with_its_own_finding(client_as) -> None:
    """Sign-off: two visit-level errors of one rule (DOC-3: two flushes in the future, charted
    before the check refused them) each get their own reason box. A submit with only one reason
    keeps it beside its finding, asks for the other, and stores nothing; then each reason is
    stored with its own finding."""
    import re

    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=30))
    soon, later = timezone.now() + timedelta(hours=1), timezone.now() + timedelta(hours=2)
    for at in (soon, later):
        Flush.objects.create(encounter=encounter, site=adm.site, at=at)
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter_sign", args=[encounter.pk])
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    # Each box follows its finding's message in the sign-off panel.
    boxes = dict(
        re.findall(r'\((\d{4}-\d\d-\d\d \d\d:\d\d)\)</div>.*?name="(ack_[0-9a-f]{12})"', page, re.S)
    )
    first, second = (
        boxes[f"{m.astimezone(factories.NEW_YORK):%Y-%m-%d %H:%M}"] for m in (soon, later)
    )
    assert first != second

    html = client.post(url, {first: "flush pre-charted for the next bag"}).content.decode()
    assert Encounter.objects.get(pk=encounter.pk).status == Encounter.Status.IN_PROGRESS
    assert not FindingAcknowledgement.objects.filter(encounter=encounter).exists()
    kept = re.findall(r'name="(ack_[0-9a-f]{12})"(?: value="([^"]*)")?', html)
    assert dict(kept) == {first: "flush pre-charted for the next bag", second: ""}
    assert html.count("Resolve this item, or give a reason to sign anyway.") == 1

    response = client.post(url, {first: "flush pre-charted for the next bag",
                                 second: "clock of the pump was wrong",
                                 **SIGN_CONFIRMED})  # fmt: skip
    assert response.status_code == 302
    acks = {a.message: a.reason for a in FindingAcknowledgement.objects.filter(encounter=encounter)}
    assert acks == {
        f"A flush on S{adm.site_id} is charted in the future "
        f"({soon.astimezone(factories.NEW_YORK):%Y-%m-%d %H:%M})": "flush pre-charted for the "
        "next bag",
        f"A flush on S{adm.site_id} is charted in the future "
        f"({later.astimezone(factories.NEW_YORK):%Y-%m-%d %H:%M})": "clock of the pump was wrong",
    }


def test_a_complete_record_signs_and_becomes_read_only(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    """screens.md: after signing, the same screen is read-only with an "addendum" button."""
    client = client_as(roles.NURSE)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED
        )
    assert response.status_code == 302
    chart = reverse("mar:encounter", args=[chemo_encounter.pk])
    page = client.get(chart).content.decode()
    assert 'data-testid="signed"' in page
    assert 'data-testid="sign-form"' not in page
    assert "96413" in page  # the charges, generated after commit
    # Read-only: every form's fields disabled, no save button, one "Addendum" button.
    assert "<fieldset disabled>" in page and '<fieldset class="contents" disabled>' in page
    assert "<fieldset>" not in page and "Save as addendum" not in page
    assert "Add addendum" not in page and 'data-testid="flush-remove"' not in page
    assert page.count('data-testid="addendum-open"') == 1
    assert f'href="{chart}?addendum=1#addendum"' in page
    # The button opens the addendum: the forms, each saved as an addendum with its reason.
    page = client.get(chart, {"addendum": "1"}).content.decode()
    assert "Add addendum" in page and "Save as addendum" in page
    assert "<fieldset disabled>" not in page
    assert 'data-testid="addendum-close"' in page
    adm = chemo_encounter.administrations.first()
    # A card saved from a page drawn before the signature: refused, saying so, offered as an
    # addendum (tests/mar/test_signed_since.py).
    response = client.post(
        reverse("mar:adm_update", args=[chemo_encounter.pk, adm.pk]),
        card_data(adm, bag="late"),
        **HX,
    )
    assert response.status_code == 409
    assert "can be written as an addendum" in response.content.decode()
    assert Administration.objects.get(pk=adm.pk).bag == ""


def test_an_addendum_records_what_and_why_and_regenerates_charges(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    client = client_as(roles.NURSE)
    site = chemo_encounter.sites.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("mar:addendum_add", args=[chemo_encounter.pk]),
            {
                "addendum-what": "Flush between ondansetron and paclitaxel was given",
                "addendum-why": "coder query",
                "addendum-flush_site": site.pk,
                "addendum-flush_at": "2026-03-02T09:10",
            },  # fmt: skip
        )
    assert response.status_code == 302
    addendum = Addendum.objects.get(encounter=chemo_encounter)
    assert addendum.why == "coder query"
    assert "Flush charted on S" in addendum.what
    assert Flush.objects.filter(encounter=chemo_encounter).count() == 2
    # The previous run is kept for comparison; the new one is current.
    runs = ChargeRun.objects.filter(encounter=chemo_encounter)
    assert runs.count() == 2
    assert runs.filter(is_current=True, trigger="addendum").exists()


def test_an_addendum_names_a_changed_field_in_words_and_its_number_as_typed(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    """Coders and auditors read the addendum: "dose value: 1000 -> 450", not the code's field
    name and the stored four decimals ("dose_value: 1000.0000 -> 450")."""
    client = client_as(roles.NURSE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    adm = chemo_encounter.administrations.get(drug__name="paclitaxel")
    Administration.objects.filter(pk=adm.pk).update(dose_value=Decimal("1000"), dose_unit="mg")
    adm.refresh_from_db()
    url = reverse("mar:adm_update", args=[chemo_encounter.pk, adm.pk])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, card_data(adm, dose_value="450", addendum_why="pharmacy log"))
    addendum = Addendum.objects.get(encounter=chemo_encounter)
    assert addendum.what == f"A{adm.pk} paclitaxel: dose value: 1000 -> 450"


def test_a_signed_card_changes_only_as_an_addendum_with_a_reason(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    client = client_as(roles.NURSE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    adm = chemo_encounter.administrations.get(drug__name="paclitaxel")
    url = reverse("mar:adm_update", args=[chemo_encounter.pk, adm.pk])
    new_stop = "2026-03-02T12:25"
    # The addendum's card form, its reason left empty: asked for beside it.
    html = client.post(url, card_data(adm, stop=new_stop, addendum_why=""), **HX).content.decode()
    assert "changes go through an addendum (say why)" in html
    assert Administration.objects.get(pk=adm.pk).stop == adm.stop
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, card_data(adm, stop=new_stop, addendum_why="pump log"))
    assert response.status_code == 302
    # Without JavaScript, back to the chart with the addendum still open, at the card.
    assert response["Location"].endswith(f"?addendum=1#adm-{adm.pk}")
    addendum = Addendum.objects.get(encounter=chemo_encounter)
    assert addendum.what == f"A{adm.pk} paclitaxel: stop: 2026-03-02 12:15 -> 2026-03-02 12:25"
    assert addendum.why == "pump log"
    assert ChargeRun.objects.get(encounter=chemo_encounter, is_current=True).trigger == "addendum"
    # Save pressed again after the autosave wrote it: said saved, not "Nothing changed".
    saved = Administration.objects.get(pk=adm.pk)  # the card as the autosave's answer drew it
    again = client.post(url, card_data(saved, stop=new_stop, addendum_why="pump log"), **HX)
    assert "Already saved: your addendum of " in again.content.decode()
    assert Addendum.objects.filter(encounter=chemo_encounter).count() == 1


def test_a_signed_pause_changes_only_as_an_addendum_with_a_reason(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    """Issue 4: after signing, a pause's times (which change the minutes counted) are corrected
    only through an addendum (what, why, who, when), which regenerates the charges."""
    client = client_as(roles.NURSE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    adm = chemo_encounter.administrations.get(drug__name="paclitaxel")
    pause = adm.pauses.get()
    url = reverse("mar:pause_update", args=[chemo_encounter.pk, pause.pk])
    data = {
        f"p{pause.pk}-start": local(pause.start),
        f"p{pause.pk}-end": "2026-03-02T10:00",  # resumed at 10:00, not 09:50
        f"p{pause.pk}-version": adm.version,
    }
    # The addendum's pause form, its reason left empty: asked for beside it.
    html = client.post(url, {**data, f"p{pause.pk}-addendum_why": ""}, **HX).content.decode()
    assert "changes go through an addendum (say why)" in html
    assert Pause.objects.get(pk=pause.pk).end == pause.end
    assert not Addendum.objects.filter(encounter=chemo_encounter).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**data, f"p{pause.pk}-addendum_why": "pump log"})
    assert response.status_code == 302
    addendum = Addendum.objects.get(encounter=chemo_encounter)
    assert addendum.what == (
        f"A{adm.pk} paclitaxel pause: resumed: 2026-03-02 09:50 -> 2026-03-02 10:00"
    )
    assert addendum.why == "pump log"
    run = ChargeRun.objects.get(encounter=chemo_encounter, is_current=True)
    assert run.trigger == "addendum"
    assert "160 min counted" in " ".join(line.why for line in run.lines.all())


def test_a_signed_sites_reason_and_the_arrival_change_only_as_addenda(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    """Issue 4: after signing, the separate-site reason (RAC-4) and the arrival time (RAC-8) are
    corrected only through an addendum with a reason; each regenerates the charges."""
    client = client_as(roles.NURSE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    site = chemo_encounter.sites.get()
    site_url = reverse("mar:site_update", args=[chemo_encounter.pk, site.pk])
    site_data = {f"s{site.pk}-location": "right forearm",
                 f"s{site.pk}-separate_site_reason": ""}  # fmt: skip
    # The addendum's forms, their reason left empty: asked for beside it (a page drawn before
    # the signature is answered as signed since: tests/mar/test_signed_since.py).
    why_empty = {f"s{site.pk}-addendum_why": ""}
    html = client.post(site_url, {**site_data, **why_empty}, **HX).content.decode()
    assert "changes go through an addendum (say why)" in html
    assert AccessSite.objects.get(pk=site.pk).location == site.location
    times_url = reverse("mar:encounter_times", args=[chemo_encounter.pk])
    times_data = {"enc-arrived_at": "2026-03-02T07:45", "enc-observation_at": ""}
    html = client.post(times_url, {**times_data, "enc-addendum_why": ""}, **HX).content.decode()
    assert "changes go through an addendum (say why)" in html
    assert Encounter.objects.get(pk=chemo_encounter.pk).arrived_at == chemo_encounter.arrived_at
    assert not Addendum.objects.filter(encounter=chemo_encounter).exists()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(site_url, {**site_data, f"s{site.pk}-addendum_why": "charted on wrong arm"})
        client.post(times_url, {**times_data, "enc-addendum_why": "triage log"})
    addenda = list(Addendum.objects.filter(encounter=chemo_encounter).order_by("pk"))
    assert [a.why for a in addenda] == ["charted on wrong arm", "triage log"]
    assert addenda[0].what == f"S{site.pk}: location: left forearm -> right forearm"
    assert addenda[1].what == "Encounter: arrived: 2026-03-02 08:00 -> 2026-03-02 07:45"
    assert AccessSite.objects.get(pk=site.pk).location == "right forearm"


def test_an_addendum_needs_what_and_why(client_as, chemo_encounter) -> None:
    client = client_as(roles.NURSE)
    client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    response = client.post(
        reverse("mar:addendum_add", args=[chemo_encounter.pk]), {"addendum-what": "x"}
    )
    assert response.status_code == 200
    assert "Say why it changed: the reason is kept with the addendum." in response.content.decode()
    assert not Addendum.objects.filter(encounter=chemo_encounter).exists()


@pytest.mark.parametrize(
    ("flush_site", "flush_at", "field", "message"),
    [
        (
            True,
            "yesterday-ish",
            "flush_at",
            "Enter the 24-hour time, such as 14:30 (today), or the date and the time, such as "
            "2026-03-02 14:30.",
        ),
        (True, "", "flush_at", "Say when the missed flush was given."),
        (False, "2026-03-02T09:10", "flush_site", "Say which site the missed flush was given on."),
    ],
)
def test_an_addendum_flush_that_cannot_be_charted_says_why_beside_its_field(
    client_as, chemo_encounter, django_capture_on_commit_callbacks, flush_site, flush_at, field,
    message,
) -> None:  # fmt: skip
    """RAC-5's usual answer, a missed flush charted by addendum: a time that cannot be read is
    named as such beside the time (not "needs both its site and its time" when both were
    given); a missing site or time is named beside the one missing. Nothing is saved."""
    client = client_as(roles.NURSE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    site = chemo_encounter.sites.get()
    html = client.post(
        reverse("mar:addendum_add", args=[chemo_encounter.pk]),
        {"addendum-what": "missed flush", "addendum-why": "coder query",
         "addendum-flush_site": site.pk if flush_site else "", "addendum-flush_at": flush_at},
        **HX,
    ).content.decode()  # fmt: skip
    assert f'id="error_1_id_addendum-{field}"' in html
    assert message in html
    assert "needs both" not in html
    assert ">\nmissed flush</textarea>" in html  # the nurse's words are kept
    assert not Addendum.objects.filter(encounter=chemo_encounter).exists()
    assert Flush.objects.filter(encounter=chemo_encounter).count() == 1


def test_a_flush_given_earlier_is_charted_at_its_time(client_as) -> None:
    encounter, adm = running_visit()
    at = adm.start + timedelta(minutes=3)
    client_as(roles.NURSE).post(
        reverse("mar:site_flush", args=[encounter.pk, adm.site_id]),
        {f"flush{adm.site_id}-at": local(at)},
    )
    flush = Flush.objects.get(site_id=adm.site_id)
    assert flush.at == at.replace(second=0, microsecond=0)


def test_a_card_change_answers_with_the_card_and_the_checklist_out_of_band(client_as) -> None:
    encounter, adm = running_visit()
    html = (
        client_as(roles.NURSE)
        .post(
            reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
            card_data(adm, stop=local(adm.start + timedelta(minutes=40))),
            **HX,
        )
        .content.decode()
    )
    assert html.lstrip().startswith("<article")
    assert f'id="adm-{adm.pk}"' in html
    assert 'id="checklist"' in html and 'hx-swap-oob="true"' in html
    assert 'data-rule="RAC-7"' not in html  # the stop cleared it
    assert 'id="timeline"' in html
    assert 'id="chart"' not in html


def test_saving_a_card_keeps_the_seconds_of_a_time_left_as_shown(client_as) -> None:
    encounter, adm = running_visit()
    assert adm.start.second or adm.start.microsecond  # "now" minus an hour, to the microsecond
    client_as(roles.NURSE).post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]), card_data(adm, bag="B1")
    )
    saved = Administration.objects.get(pk=adm.pk)
    assert saved.bag == "B1"
    assert saved.start == adm.start


def test_an_admin_may_chart(client_as) -> None:
    encounter, adm = running_visit()
    response = client_as(roles.ADMIN).post(
        reverse("mar:adm_stop", args=[encounter.pk, adm.pk]), {f"at{adm.pk}-version": 1}
    )
    assert response.status_code == 302
    assert Administration.objects.get(pk=adm.pk).stop is not None


# --- dose given and waste: the drug's HCPCS units and JW/JZ (coding/drug_lines.py) -------------


def test_the_card_charts_the_dose_given_and_the_amount_wasted(client_as) -> None:
    encounter, adm = running_visit()
    response = client_as(roles.NURSE).post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
        card_data(adm, dose_value="300", dose_unit=" mg ", waste_value="20", waste_unit=""),
    )
    assert response.status_code == 302
    adm.refresh_from_db()
    assert (adm.dose_value, adm.dose_unit) == (300, "mg")
    assert (adm.waste_value, adm.waste_unit) == (20, "mg")  # wasted in the unit of the dose


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"dose_value": "300", "dose_unit": ""}, "dose_unit", "Say the unit of the dose"),
        ({"dose_value": "0", "dose_unit": "mg"}, "dose_value", "more than zero"),
        ({"waste_value": "20", "waste_unit": "mg"}, "waste_value", "Chart the dose given"),
        ({"dose_value": "300", "dose_unit": "mg", "waste_value": "-1"}, "waste_value", ""),
    ],
)
def test_a_dose_or_waste_that_cannot_be_billed_is_refused_beside_its_field(
    client_as, overrides, field, message
) -> None:
    _encounter, adm = running_visit()
    html = _refused(client_as, adm, bag="typed-bag", **overrides)
    assert f'id="error_1_id_a{adm.pk}-{field}"' in html
    assert message in html
    assert 'value="typed-bag"' in html  # the nurse's typing is kept
    after = Administration.objects.get(pk=adm.pk)
    assert (after.dose_value, after.waste_value) == (adm.dose_value, adm.waste_value)


def test_waste_charted_after_signing_is_an_addendum_and_its_jw_line_follows(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    from tests.coding.review_helpers import jw_lines, paclitaxel_billable

    paclitaxel_billable(encounter=chemo_encounter, waste=None)  # single-dose: JW/JZ apply
    client = client_as(roles.NURSE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    signed_run = ChargeRun.objects.get(encounter=chemo_encounter, is_current=True)
    assert jw_lines(signed_run) == []
    adm = chemo_encounter.administrations.get(drug__name="paclitaxel")
    url = reverse("mar:adm_update", args=[chemo_encounter.pk, adm.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, card_data(adm, waste_value="20", addendum_why="vial log"))
    assert response.status_code == 302
    addendum = Addendum.objects.get(encounter=chemo_encounter)
    assert "waste value: (none) -> 20" in addendum.what
    run = ChargeRun.objects.get(encounter=chemo_encounter, is_current=True)
    assert run.pk != signed_run.pk and run.trigger == "addendum"
    assert jw_lines(run) == [("J9267", 20)]
