"""Issue 15 (bedside): the remaining items, each reproduced through the views and services.

11: a running administration sits at the top of the chart, within reach, in a calm "Running"
state (not a red error on its card). 10: the time fields are 24-hour text, parsed on the server.
7: discontinuing a site asks first, says what runs on it, can be undone; assess and discontinue
take a late-entry time; a site's placed time can be corrected. 8: a resume before its pause is
said about the resume, beside it. 12: placing a site, starting an order, saving a card say so.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.audit.models import EVENTS
from mar.models import AccessSite, DrugClass
from tests import factories
from tests.mar.chart_helpers import local, running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _chart(client, encounter) -> str:
    return client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()


# --- item 11: running at the top -------------------------------------------------------------


def test_a_running_infusion_sits_above_every_order_not_yet_given(client_as) -> None:
    """Item 11: six orders not yet given; the running carboplatin's card (and its Stop) comes
    before the orders, the sites and the times, in its own "Running now" section."""
    encounter, adm = running_visit()
    for name in ("ondansetron", "dexamethasone", "paclitaxel", "famotidine", "diphenhydramine"):
        factories.order_create(encounter, factories.drug_get(name, DrugClass.CHEMO), dose="1 mg")
    html = _chart(client_as(roles.NURSE), encounter)
    card = html.index(f'id="adm-{adm.pk}"')
    stop = html.index('data-testid="stop"')
    assert card < stop < html.index('id="orders"')
    assert card < html.index('id="sites"') and card < html.index('id="encounter-times"')
    running = html[html.index('data-testid="running-now"') : html.index('id="orders"')]
    assert f'id="adm-{adm.pk}"' in running
    # The card appears once (no duplicate ids), not again under Administrations.
    assert html.count(f'id="adm-{adm.pk}"') == 1


def test_a_running_card_shows_running_not_a_red_stop_missing(client_as) -> None:
    """Item 11: on the running card, the state is the blue "Running" badge; the stop not yet
    charted is not shown there as a red RAC-7 error (the checklist keeps the engine's items)."""
    encounter, adm = running_visit()
    html = _chart(client_as(roles.NURSE), encounter)
    card = html[html.index(f'id="adm-{adm.pk}"') :]
    card = card[: card.index("</article>")]
    assert "adm-state-running" in card and "Running" in card
    findings = re.findall(r'<ul class="adm-findings.*?</ul>', card, re.S)
    assert not any("RAC-7" in block for block in findings)


def test_a_stopped_infusion_is_not_in_running_now(client_as) -> None:
    encounter, adm = running_visit()
    adm.stop = timezone.now() - timedelta(minutes=5)
    adm.save()
    html = _chart(client_as(roles.NURSE), encounter)
    assert 'data-testid="running-now"' not in html
    assert html.index('id="orders"') < html.index(f'id="adm-{adm.pk}"')


# --- item 7: sites: discontinue asks and can be undone, late entry, placed time corrected -----


def test_discontinuing_a_site_with_an_infusion_running_asks_first_naming_it(client_as) -> None:
    """Item 7: the chip's "Discontinue…" says what runs on the site; a post without the
    confirmation is refused beside it, naming the infusion; nothing changes."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    html = _chart(client, encounter)
    warning = html[html.index('data-testid="discontinue-running"') :]
    assert "carboplatin" in warning[: warning.index("</div>")]
    assert f"and stop A{adm.pk}" in html
    url = reverse("mar:site_discontinue", args=[encounter.pk, adm.site_id])
    html = client.post(url, **HX).content.decode()
    assert f"carboplatin (A{adm.pk}) is running on S{adm.site_id}" in html
    assert f'id="site-{adm.site_id}-discontinue" open' in html
    assert AccessSite.objects.get(pk=adm.site_id).discontinued_at is None
    adm.refresh_from_db()
    assert adm.stop is None


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_confirmed_discontinue_at_a_late_time_stops_the_infusion_then_and_can_be_reopened(
    client_as,
) -> None:
    """Item 7: discontinued at a typed earlier time (late entry), the running infusion stops at
    that time too, and the message says so; "Reopen" undoes the discontinue, audited with who."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    site_pk = adm.site_id
    at = timezone.now() - timedelta(minutes=10)
    response = client.post(
        reverse("mar:site_discontinue", args=[encounter.pk, site_pk]),
        {f"discontinue{site_pk}-at": local(at), f"discontinue{site_pk}-stop_running": "1"},
        **HX,
    )
    html = response.content.decode()
    site = AccessSite.objects.get(pk=site_pk)
    assert site.discontinued_at == at.replace(second=0, microsecond=0)
    adm.refresh_from_db()
    assert adm.stop == site.discontinued_at
    assert f"S{site_pk} discontinued at {local(at)[-5:]}" in html
    assert f"carboplatin (A{adm.pk}) stopped with it" in html
    assert 'data-testid="reopen"' in html

    html = client.post(reverse("mar:site_reopen", args=[encounter.pk, site_pk]), **HX)
    html = html.content.decode()
    assert AccessSite.objects.get(pk=site_pk).discontinued_at is None
    assert f"S{site_pk} reopened" in html
    events = EVENTS[AccessSite].objects.filter(pgh_obj_id=site_pk).order_by("pgh_id")
    assert [e.discontinued_at is None for e in events] == [True, False, True]
    last = events.last()
    assert last.pgh_context is not None
    assert last.pgh_context.metadata["action"] == "site_reopen"
    assert last.pgh_context.metadata["user"] == User.objects.get(username="nurse1").pk


def test_assessed_at_a_typed_time_is_a_late_entry(client_as) -> None:
    encounter, adm = running_visit()
    at = timezone.now() - timedelta(minutes=25)
    html = (
        client_as(roles.NURSE)
        .post(
            reverse("mar:site_assess", args=[encounter.pk, adm.site_id]),
            {f"assess{adm.site_id}-at": local(at)},
            **HX,
        )
        .content.decode()
    )
    assert AccessSite.objects.get(pk=adm.site_id).assessed_at == at.replace(second=0, microsecond=0)
    assert f"S{adm.site_id} assessed at {local(at)[-5:]}" in html


def test_a_discontinue_before_the_site_was_placed_is_refused_beside_the_time(client_as) -> None:
    encounter, adm = running_visit()
    site = AccessSite.objects.get(pk=adm.site_id)
    html = (
        client_as(roles.NURSE)
        .post(
            reverse("mar:site_discontinue", args=[encounter.pk, site.pk]),
            {
                f"discontinue{site.pk}-at": local(site.placed_at - timedelta(minutes=30)),
                f"discontinue{site.pk}-stop_running": "1",
            },
            **HX,
        )
        .content.decode()
    )
    assert f'id="error_1_id_discontinue{site.pk}-at"' in html
    assert "cannot be discontinued before that" in html
    assert AccessSite.objects.get(pk=site.pk).discontinued_at is None


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_sites_placed_time_is_corrected_version_checked_and_audited(client_as) -> None:
    """Item 7: the placed time charted wrong is corrected in the site's Details; a correction
    from a page that saw an older placed time is refused, naming the time saved meanwhile."""
    encounter, adm = running_visit()
    site = AccessSite.objects.get(pk=adm.site_id)
    client = client_as(roles.NURSE)
    url = reverse("mar:site_update", args=[encounter.pk, site.pk])
    seen = site.placed_at
    corrected = seen - timedelta(minutes=15)
    data = {
        f"s{site.pk}-location": site.location,
        f"s{site.pk}-separate_site_reason": "",
        f"s{site.pk}-placed_at": local(corrected),
        f"s{site.pk}-placed_was": seen.isoformat(),
    }
    html = client.post(url, data, **HX).content.decode()
    site.refresh_from_db()
    assert site.placed_at == corrected.replace(second=0, microsecond=0)
    assert f"placed at {local(corrected)[-5:]}" in html
    events = EVENTS[AccessSite].objects.filter(pgh_obj_id=site.pk).order_by("pgh_id")
    assert events.last().pgh_context.metadata["action"] == "site_placed_correct"
    # Another page, still showing the first placed time, tries its own correction: refused.
    stale = {**data, f"s{site.pk}-placed_at": local(seen - timedelta(minutes=5))}
    html = client.post(url, stale, **HX).content.decode()
    assert "changed the placed time" in html and local(corrected).replace("T", " ") in html
    assert AccessSite.objects.get(pk=site.pk).placed_at == site.placed_at


# --- item 8: a resume before its pause ---------------------------------------------------------


def _paused(adm):
    from mar.services import charting

    pause = charting.administration_pause(
        administration=adm, version=adm.version, at=adm.start + timedelta(minutes=20)
    )
    adm.refresh_from_db()
    return pause


def test_a_resume_typed_before_its_pause_is_said_about_the_resume_beside_it(client_as) -> None:
    """Item 8: the message speaks of the resume and sits beside "Resumed at", not "Paused at"."""
    encounter, adm = running_visit()
    pause = _paused(adm)
    html = (
        client_as(roles.NURSE)
        .post(
            reverse("mar:pause_update", args=[encounter.pk, pause.pk]),
            {
                f"p{pause.pk}-start": local(pause.start),
                f"p{pause.pk}-end": local(pause.start - timedelta(minutes=10)),
                f"p{pause.pk}-version": adm.version,
            },
            **HX,
        )
        .content.decode()
    )
    beside_end = html[html.index(f'id="error_1_id_p{pause.pk}-end"') :][:400]
    assert "The resume time" in beside_end and "is before the pause" in beside_end
    assert f'id="error_1_id_p{pause.pk}-start"' not in html
    assert "is not within its start and stop" not in html
    pause.refresh_from_db()
    assert pause.end is None


def test_the_service_refuses_a_resume_before_its_pause_naming_the_resume(nurse_user) -> None:
    from mar.services import charting

    _encounter, adm = running_visit()
    pause = _paused(adm)
    with pytest.raises(charting.ChartError) as refused:
        charting.pause_update(
            pause=pause, version=adm.version, start=pause.start,
            end=pause.start - timedelta(minutes=5),
        )  # fmt: skip
    assert list(refused.value.errors) == ["end"]
    assert "resume time" in refused.value.errors["end"][0]
    with pytest.raises(charting.ChartError) as refused:
        charting.administration_resume(
            administration=adm, version=adm.version, at=pause.start - timedelta(minutes=5)
        )
    assert list(refused.value.errors) == ["end"]


# --- item 12: every change says so ------------------------------------------------------------


def _messages(html: str) -> str:
    start = html.index('id="messages"')
    return html[start : start + 1500]


def test_placing_a_site_starting_an_order_and_saving_a_card_say_so(client_as) -> None:
    """Item 12: like "Flush charted", each change confirms itself in the page's messages."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    placed = timezone.now() - timedelta(minutes=30)
    html = client.post(
        reverse("mar:site_place", args=[encounter.pk]),
        {"site-kind": "peripheral_iv", "site-location": "L hand", "site-placed_at": local(placed),
         "site-separate_site_reason": "the first one infiltrated"},
        **HX,
    ).content.decode()  # fmt: skip
    site = AccessSite.objects.filter(encounter=encounter).order_by("-pk").first()
    assert f"S{site.pk} Peripheral IV L hand placed at {local(placed)[-5:]}." in _messages(html)

    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    html = client.post(
        reverse("mar:order_start", args=[encounter.pk, order.pk]),
        {f"o{order.pk}-method": "push", f"o{order.pk}-site": site.pk},
        **HX,
    ).content.decode()
    started = order.administrations.get()
    assert "ondansetron started at" in _messages(html)
    assert f"(A{started.pk}, push)" in _messages(html)

    from tests.mar.chart_helpers import card_data

    adm.refresh_from_db()
    html = client.post(
        reverse("mar:adm_update", args=[encounter.pk, adm.pk]),
        card_data(adm, bag="B2"),
        **HX,
    ).content.decode()
    assert f"carboplatin (A{adm.pk}) saved at" in _messages(html)


# --- item 13: the pharmacist decided the class ------------------------------------------------


def test_after_a_pharmacists_class_override_rac2_says_who_decided_not_correct_the_drug(
    client_as, role_users
) -> None:
    """Item 13: a fluid charted with purpose hydration whose order a pharmacist re-classed as
    therapeutic: the engine's RAC-2 says "correct the drug", which the nurse cannot; the chart
    says which pharmacist decided which class and what is left to her (the purpose)."""
    from mar.pharmacy.services import order_class_override

    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    order = factories.order_create(
        encounter, factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
        dose="1000 mL", purpose="hydration",
    )  # fmt: skip
    factories.administration_create(
        encounter, order, site=site, start=now - timedelta(minutes=90),
        stop=now - timedelta(minutes=30), purpose="hydration",
    )  # fmt: skip
    pharmacist = role_users[roles.PHARMACIST]
    order_class_override(
        order=order, drug_class="therapeutic", reason="carrier of a KCl dose", user=pharmacist
    )
    client = client_as(roles.NURSE)
    html = _chart(client, encounter)
    checklist = html[html.index('data-testid="checklist"') :]
    assert "RAC-2" in checklist
    assert "correct the drug" not in html
    said = f"Pharmacist {pharmacist.get_username()} classed sodium chloride 0.9% as therapeutic"
    assert said in checklist
    decision = html[html.index('data-testid="class-decision"') :][:300]
    assert pharmacist.get_username() in decision and "therapeutic" in decision
    assert "carrier of a KCl dose" in decision
    # The 60-second refresh says the same: the first computing the summary the override marked
    # expired, the next from the one it stored (the drug and purpose read with the encounter).
    for _ in range(2):
        poll = client.get(reverse("mar:encounter_checklist", args=[encounter.pk]), **HX)
        assert said in poll.content.decode()
        assert "correct the drug" not in poll.content.decode()


# --- item 14: the board's last 24 hours, or a chosen day ---------------------------------------


def test_the_board_shows_the_last_24_hours_not_only_todays_date(client_as) -> None:
    """Item 14: at 01:00 last evening's signed visits are still on the board (the last 24 h);
    one from 30 hours ago is not, unless its day is chosen in the date field."""
    from mar.models import Encounter

    now = timezone.now()
    evening = factories.encounter_create(
        arrived_at=now - timedelta(hours=6), status=Encounter.Status.SIGNED
    )
    older = factories.encounter_create(
        arrived_at=now - timedelta(hours=30), status=Encounter.Status.SIGNED
    )
    client = client_as(roles.NURSE)
    page = client.get(reverse("mar:board")).content.decode()
    assert evening.patient.name in page
    assert older.patient.name not in page
    assert "last 24 hours" in page and 'type="date"' in page

    day = timezone.localdate(older.arrived_at)
    page = client.get(reverse("mar:board"), {"date": day.isoformat()}).content.decode()
    assert older.patient.name in page
    assert f'value="{day.isoformat()}"' in page
    if timezone.localdate(evening.arrived_at) != day:
        assert evening.patient.name not in page

    page = client.get(reverse("mar:board"), {"date": "03/02/2026"}).content.decode()
    assert "Choose a day" in page
    assert evening.patient.name in page  # an unreadable day: the last 24 hours


# --- item 15: small things --------------------------------------------------------------------


def test_no_template_has_a_django_comment_spanning_lines() -> None:
    """Item 15: Django's {# #} is one line; one spanning lines prints on the page (it did on
    every charges table). Longer comments use {% comment %}."""
    from pathlib import Path

    from django.conf import settings

    roots = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]]
    offenders = []
    for root in roots:
        for path in root.rglob("*.html"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if line.count("{#") > line.count("#}"):
                    offenders.append(f"{path.relative_to(root)}:{number}")
    assert roots and not offenders


def test_favicon_ico_is_served_and_linked(client, client_as) -> None:
    """Item 15: /favicon.ico was a 404 on every page."""
    from django.contrib.staticfiles import finders
    from django.templatetags.static import static

    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"] == static("favicon.ico")
    found = finders.find("favicon.ico")
    assert found and open(found, "rb").read(4) == b"\x00\x00\x01\x00"  # an ICO file
    page = client_as(roles.NURSE).get(reverse("mar:board")).content.decode()
    assert f'rel="icon" href="{static("favicon.ico")}"' in page


def test_the_stale_version_message_points_up_to_the_box_shown_above(client_as) -> None:
    """Item 15: the box with the other nurse's version is above the form: the message said
    "shown below"."""
    from tests.mar.chart_helpers import card_data

    encounter, adm = running_visit()
    stale = card_data(adm, bag="B1")
    adm.bag = "B9"
    adm.version += 1
    adm.save()
    html = (
        client_as(roles.NURSE)
        .post(reverse("mar:adm_update", args=[encounter.pk, adm.pk]), stale, **HX)
        .content.decode()
    )
    assert "shown below" not in html
    assert "in the box above" in html
    assert html.index('data-testid="conflict"') < html.index("in the box above")


def test_a_verify_with_htmx_lists_the_order_under_recently_verified(client_as) -> None:
    """Item 15: "Recently verified" stayed "None yet" after a verify (the row alone came back)."""
    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    client = client_as(roles.PHARMACIST)
    page = client.get(reverse("pharmacy:orders")).content.decode()
    recent = page[page.index('id="recently-verified"') :]
    assert "None yet." in recent[: recent.index("</tbody>")]
    html = client.post(reverse("pharmacy:order_verify", args=[order.pk]), **HX).content.decode()
    recent = html[html.index('id="recently-verified"') :]
    assert 'hx-swap-oob="true"' in html[html.index("<tbody") :][:200]
    recent = recent[: recent.index("</tbody>")]
    assert "None yet." not in recent and f'id="order-{order.pk}"' in recent


# --- item 10: the time fields are 24-hour text, read on the server ------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-03-02 14:30", "2026-03-02T19:30:00+00:00"),
        ("2026-03-02T14:30", "2026-03-02T19:30:00+00:00"),
        ("  2026-03-02   14:30 ", "2026-03-02T19:30:00+00:00"),
        ("2026-11-01 01:30-05:00", "2026-11-01T06:30:00+00:00"),  # the repeated hour, offset
    ],
)
def test_a_24_hour_time_is_read_on_the_encounters_wall_clock(typed: str, expected: str) -> None:
    from datetime import UTC

    from mar.forms import LocalTimeField

    read = LocalTimeField(zone=factories.NEW_YORK).clean(typed)
    assert read.astimezone(UTC).isoformat() == expected


@pytest.mark.parametrize("typed", ["03/02/2026 2:30 PM", "2026-03-02 2:30 PM", "2:30 PM", "noon"])
def test_a_12_hour_or_partial_time_is_refused_saying_24_hour(typed: str) -> None:
    from django.core.exceptions import ValidationError

    from mar.forms import LocalTimeField

    with pytest.raises(ValidationError) as refused:
        LocalTimeField(zone=factories.NEW_YORK).clean(typed)
    assert "24-hour" in refused.value.messages[0]


def test_time_fields_render_as_24_hour_text_not_the_12_hour_picker(client_as) -> None:
    encounter, adm = running_visit()
    html = _chart(client_as(roles.NURSE), encounter)
    assert 'type="datetime-local"' not in html
    start = html[html.index(f'name="a{adm.pk}-start"') - 200 :][:600]
    assert 'type="text"' in start and 'placeholder="HH:MM or YYYY-MM-DD HH:MM"' in start
    assert f'value="{local(adm.start).replace("T", " ")}"' in start
