"""Issue 19: an htmx answer to a bedside change is built from the record the change saved and
holds only what the change touched, so its cost does not grow with the rest of the record.

- A card change (field save, pause, resume, stop) answers with that card; a flush with its site
  chip: the checklist, sign-off and timeline out of band, built from the record the write read
  and the engine's result on it (`summary.written_kept`): the bridge runs once per request and
  the queries are the same for a visit of 4 administrations and one of 29.
- A start answers with what a start changes (what is running, the orders, the sites, the scan
  panel, the checklist, sign-off, timeline), all out of band (HX-Reswap: none): the cards of what
  is finished are neither built nor sent.
"""

from datetime import timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mar import record as bridge
from mar import roles
from mar.models import Administration, DrugClass, Encounter, EncounterSummary
from tests import factories

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _card_post(client, adm: Administration, bag: str):
    adm.refresh_from_db()
    zone = ZoneInfo(adm.encounter.timezone)
    data = {
        "start": adm.start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "stop": adm.stop.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if adm.stop else "",
        "method": adm.method, "site": adm.site_id or "", "bag": bag, "purpose": adm.purpose,
        "started_by": adm.started_by, "pump": adm.pump, "planned_hours": "",
        "version": adm.version,
    }  # fmt: skip
    url = reverse("mar:adm_update", args=[adm.encounter_id, adm.pk])
    return client.post(url, {f"a{adm.pk}-{k}": v for k, v in data.items()}, **HX)


def _oob_findings(html: str, pk: int) -> str:
    """The list of findings of administration `pk`'s card, as an answer sends it again out of
    band ("" if it does not)."""
    marker = f'<div id="adm-{pk}-findings" data-testid="adm-findings" hx-swap-oob="true">'
    if marker not in html:
        return ""
    part = html[html.index(marker) :]
    return part[: part.index("</div>")]


def _first(encounter: Encounter) -> Administration:
    return encounter.administrations.order_by("pk").first()


def _card_save_queries(client, encounter: Encounter) -> int:
    adm = _first(encounter)
    _card_post(client, adm, "B1")  # warm the session
    adm.refresh_from_db()
    with CaptureQueriesContext(connection) as captured:
        response = _card_post(client, adm, "B2")
    assert response.status_code == 200
    assert f'id="adm-{adm.pk}"' in response.content.decode()
    return len(captured)


def test_a_card_saves_answer_costs_the_same_queries_whatever_the_size_of_the_record(
    client_as,
) -> None:
    client = client_as(roles.NURSE)
    small = factories.chemo_encounter_create()
    large = factories.chemo_encounter_create(extra_pushes=25)
    assert _card_save_queries(client, small) == _card_save_queries(client, large)


def test_a_card_saves_answer_reads_the_record_once_the_writes_own_read(client_as) -> None:
    """The write checks the record through the bridge (DOC-3); the answer reuses that record and
    the engine's result on it instead of reading and coding it a second time."""
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create(extra_pushes=3)
    adm = _first(encounter)
    with mock.patch.object(bridge, "_record_dict", wraps=bridge._record_dict) as reads:
        response = _card_post(client, adm, "B7")
    assert response.status_code == 200
    assert reads.call_count == 1


def _checklist_section(html: str) -> str:
    start = html.index('<section id="checklist"')
    return html[start : html.index("</section>", start)]


def test_a_card_saves_answer_shows_the_checklist_of_the_record_it_saved(client_as) -> None:
    """Reusing the write's record is not a stale answer: after the push's site is cleared on its
    card, the answer's checklist is the one a fresh read of the chart shows, and not the one
    before the change."""
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    adm = encounter.administrations.filter(method=Administration.Method.PUSH).first()
    assert adm is not None and adm.site_id is not None
    before = _checklist_section(_card_post(client, adm, "B1").content.decode())
    adm.refresh_from_db()
    zone = ZoneInfo(encounter.timezone)
    data = {
        "start": adm.start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "stop": adm.stop.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if adm.stop else "",
        "method": adm.method, "site": "", "bag": "B1", "purpose": adm.purpose,
        "started_by": adm.started_by, "pump": adm.pump, "planned_hours": "",
        "version": adm.version,
    }  # fmt: skip
    url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    answer = client.post(url, {f"a{adm.pk}-{k}": v for k, v in data.items()}, **HX)
    after = _checklist_section(answer.content.decode())
    fresh = _checklist_section(
        client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    )
    assert after != before
    assert after.replace(' hx-swap-oob="true"', "").split() == fresh.split()


def test_a_flushs_answer_costs_the_same_queries_whatever_the_size_of_the_record(
    client_as,
) -> None:
    client = client_as(roles.NURSE)

    def flush_queries(encounter: Encounter) -> int:
        site = encounter.sites.get()
        url = reverse("mar:site_flush", args=[encounter.pk, site.pk])
        again = {f"flush{site.pk}-again": "1"}  # a second flush in the minute, as meant
        client.post(url, again, **HX)  # warm the session
        with CaptureQueriesContext(connection) as captured:
            assert client.post(url, again, **HX).status_code == 200
        return len(captured)

    small = factories.chemo_encounter_create()
    large = factories.chemo_encounter_create(extra_pushes=25)
    assert flush_queries(small) == flush_queries(large)


def _start(client, encounter: Encounter, order, method: str):
    site = encounter.sites.get()
    data = {f"o{order.pk}-method": method, f"o{order.pk}-at": "", f"o{order.pk}-site": site.pk}
    return client.post(reverse("mar:order_start", args=[encounter.pk, order.pk]), data, **HX)


def test_a_starts_answer_sends_what_is_running_and_not_the_finished_cards(client_as) -> None:
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create(extra_pushes=3)
    finished = list(encounter.administrations.values_list("pk", flat=True))
    fluid = encounter.orders.get(drug__name="sodium chloride 0.9%")
    response = _start(client, encounter, fluid, "infusion")
    assert response.status_code == 200
    assert response["HX-Reswap"] == "none"  # every part is out of band
    html = response.content.decode()
    new = encounter.administrations.exclude(pk__in=finished).get()
    assert f'id="adm-{new.pk}"' in html
    assert '<div id="running-slot" hx-swap-oob="morph">' in html
    # The finished cards are not sent; one that shares a finding with the new one has its list
    # of findings sent again, out of band, so it says so too.
    assert not [pk for pk in finished if f'id="adm-{pk}"' in html]
    for pk in finished:
        if f'id="adm-{pk}-findings"' in html:
            assert 'class="ck-' in _oob_findings(html, pk)
    for part in ('id="checklist"', 'id="timeline"', 'id="scan"'):
        assert part in html
    # The fluid was given before: its row alone, in place (the other orders did not change).
    assert f'id="order-{fluid.pk}" data-testid="order-row" hx-swap-oob="morph"' in html
    assert html.count('data-testid="order-row"') == 1 and 'id="orders"' not in html
    # Its site chip's actions (what runs on it changed: the discontinue form names it), not
    # the whole chip (its care and details forms did not change) nor the sites section.
    site = encounter.sites.get()
    assert f'<div id="site-{site.pk}-actions" hx-swap-oob="morph">' in html
    assert f"Running on S{site.pk}" in html
    assert 'data-testid="site-chip"' not in html and 'id="sites"' not in html
    assert 'data-testid="site-condition-form"' not in html
    assert f'id="site-{site.pk}-details"' not in html
    # The scan panel out of band (a start may use the last scan), not the measures below it,
    # which a start does not change and htmx would drop (they are not out of band).
    scan = html[html.index('<section id="scan"') :]
    assert 'hx-swap-oob="morph"' in scan[: scan.index(">")]
    assert 'id="measures"' not in html and 'data-testid="measure-form"' not in html


def _start_at(client, encounter: Encounter, order, at: str, site=None):
    site = site or encounter.sites.order_by("pk").first()
    data = {f"o{order.pk}-method": "infusion", f"o{order.pk}-at": at, f"o{order.pk}-site": site.pk}
    return client.post(reverse("mar:order_start", args=[encounter.pk, order.pk]), data, **HX)


def test_a_start_while_others_run_sends_only_the_new_card_on_top_of_them(client_as) -> None:
    """Issue 19: a start costs one card, not one per infusion running; the new one is the
    newest, so it goes on top of the running list (newest first) and the others stay as they
    are on the page (typed values included)."""
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    other_site = factories.site_create(encounter)
    fluid = encounter.orders.get(drug__name="sodium chloride 0.9%")
    first = _start_at(client, encounter, fluid, "")
    assert first.status_code == 200
    running = encounter.administrations.order_by("-pk").first()
    html = _start_at(client, encounter, fluid, "", site=other_site).content.decode()
    new = encounter.administrations.order_by("-pk").first()
    assert new.pk != running.pk and new.stop is None and running.stop is None
    assert '<div id="running-list" hx-swap-oob="afterbegin">' in html
    assert f'id="adm-{new.pk}"' in html
    assert f'id="adm-{running.pk}"' not in html
    assert 'id="running-slot"' not in html
    first_site = encounter.sites.order_by("pk").first()
    assert f'id="site-{other_site.pk}-actions"' in html  # the site it started on
    assert f'id="site-{first_site.pk}-' not in html  # the site nothing started on


def test_a_late_start_older_than_what_runs_sends_the_running_cards_whole(client_as) -> None:
    """Charted late (a start time before the running one's): its place is not on top, so what
    is running is sent whole, in its order."""
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    fluid = encounter.orders.get(drug__name="sodium chloride 0.9%")
    assert _start_at(client, encounter, fluid, "").status_code == 200
    running = encounter.administrations.order_by("-pk").first()
    earlier = (running.start - timedelta(minutes=5)).astimezone(ZoneInfo(encounter.timezone))
    html = _start_at(client, encounter, fluid, earlier.strftime("%Y-%m-%dT%H:%M")).content.decode()
    new = encounter.administrations.order_by("-pk").first()
    assert new.pk != running.pk
    assert '<div id="running-slot" hx-swap-oob="morph">' in html
    assert f'id="adm-{new.pk}"' in html and f'id="adm-{running.pk}"' in html
    assert html.index(f'id="adm-{running.pk}"') < html.index(f'id="adm-{new.pk}"')


def test_a_push_started_goes_to_the_top_of_the_administrations(client_as) -> None:
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    antiemetic = encounter.orders.get(drug__name="ondansetron")
    html = _start(client, encounter, antiemetic, "push").content.decode()
    new = encounter.administrations.order_by("-pk").first()
    assert new is not None and new.method == Administration.Method.PUSH
    assert '<div id="administrations-list" hx-swap-oob="afterbegin">' in html
    assert f'id="adm-{new.pk}"' in html
    # "Nothing given yet" is swapped out: there were administrations already.
    assert '<div id="administrations-empty" hx-swap-oob="morph"></div>' in html
    # A push does not run: "Running now" is not sent (a card stopped there since the page was
    # drawn stays where the nurse left it).
    assert 'id="running-slot"' not in html


def test_a_starts_answer_costs_the_same_queries_whatever_the_number_finished(client_as) -> None:
    client = client_as(roles.NURSE)

    def start_queries(encounter: Encounter) -> int:
        antiemetic = encounter.orders.get(drug__name="ondansetron")
        _start(client, encounter, antiemetic, "push")  # warm the session
        with CaptureQueriesContext(connection) as captured:
            assert _start(client, encounter, antiemetic, "push").status_code == 200
        return len(captured)

    small = factories.chemo_encounter_create()
    large = factories.chemo_encounter_create(extra_pushes=25)
    assert start_queries(small) == start_queries(large)


def test_a_start_reads_the_encounters_sites_once(client_as, monkeypatch) -> None:
    """Issue 19: the sites the start form was checked against are the ones its answer shows (a
    start does not change them): one read of them a start, not one for the form and another
    for the answer."""
    from mar import chart_reads

    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    fluid = encounter.orders.get(drug__name="sodium chloride 0.9%")
    calls = []
    read = chart_reads.sites

    def counted(*args, **kwargs):
        calls.append(args)
        return read(*args, **kwargs)

    monkeypatch.setattr(chart_reads, "sites", counted)
    html = _start_at(client, encounter, fluid, "").content.decode()
    site = encounter.sites.order_by("pk").first()
    assert f'id="site-{site.pk}-actions"' in html and f"Running on S{site.pk}" in html
    assert len(calls) == 1


def test_a_start_sharing_a_finding_with_what_runs_sends_that_card_again(client_as) -> None:
    """A second infusion on the same site overlaps the first (RAC-6 names both): the new card
    goes on top, and the running card already on the page is sent again, out of band, with the
    finding."""
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    fluid = encounter.orders.get(drug__name="sodium chloride 0.9%")
    assert _start_at(client, encounter, fluid, "").status_code == 200
    running = encounter.administrations.order_by("-pk").first()
    html = _start_at(client, encounter, fluid, "").content.decode()
    new = encounter.administrations.order_by("-pk").first()
    assert '<div id="running-list" hx-swap-oob="afterbegin">' in html
    assert f'id="adm-{running.pk}"' not in html  # not the whole card: its forms did not change
    assert "RAC-6" in _oob_findings(html, running.pk)  # the first card says the overlap
    assert f'id="adm-{new.pk}"' in html


def _site_post(client, adm: Administration, site_pk: int | str):
    adm.refresh_from_db()
    zone = ZoneInfo(adm.encounter.timezone)
    data = {
        "start": adm.start.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "stop": adm.stop.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if adm.stop else "",
        "method": adm.method, "site": site_pk, "bag": adm.bag, "purpose": adm.purpose,
        "started_by": adm.started_by, "pump": adm.pump, "planned_hours": "",
        "version": adm.version,
    }  # fmt: skip
    url = reverse("mar:adm_update", args=[adm.encounter_id, adm.pk])
    return client.post(url, {f"a{adm.pk}-{k}": v for k, v in data.items()}, **HX)


def test_a_card_save_that_undoes_or_makes_an_overlap_sends_the_other_card_again(
    client_as,
) -> None:
    """RAC-6 names both infusions running at once on one site. Moving the second to another
    site clears it from the first card's own list too: that list is sent again, out of band,
    without it (not the card: nothing else on it changed); moving it back sends it again with
    it. A save that changes no finding sends nothing of another card."""
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    other_site = factories.site_create(encounter)
    fluid = encounter.orders.get(drug__name="sodium chloride 0.9%")
    assert _start_at(client, encounter, fluid, "").status_code == 200
    first = encounter.administrations.order_by("-pk").first()
    assert _start_at(client, encounter, fluid, "").status_code == 200
    second = encounter.administrations.order_by("-pk").first()
    assert "RAC-6" in client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()

    moved = _site_post(client, second, other_site.pk).content.decode()
    card = _oob_findings(moved, first.pk)
    assert card, "the first card's overlap was undone: its list is sent again"
    assert "RAC-6" not in card

    back = _site_post(client, second, second.site_id).content.decode()
    card = _oob_findings(back, first.pk)
    assert card and "RAC-6" in card  # the overlap again, on the first card's own list

    same = _card_post(client, second, "B9").content.decode()  # a bag label: no finding changes
    assert not _oob_findings(same, first.pk)


def test_a_late_flush_between_two_drugs_sends_both_cards_again_without_the_finding(
    client_as,
) -> None:
    """RAC-5: ondansetron (09:05-09:07) then paclitaxel (09:15) on one site with no flush
    between. A flush charted late at 09:10 clears it from both cards' own lists: the answer
    (the site chip) sends both cards' lists of findings again, out of band."""
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    site = encounter.sites.get()
    push = encounter.administrations.get(method=Administration.Method.PUSH)
    chemo = encounter.administrations.get(drug__name="paclitaxel")
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert 'data-rule="RAC-5"' in page
    at = (factories.MORNING + timedelta(minutes=70)).strftime("%Y-%m-%dT%H:%M")
    url = reverse("mar:site_flush", args=[encounter.pk, site.pk])
    answer = client.post(url, {f"flush{site.pk}-at": at, f"flush{site.pk}-late": "on"}, **HX)
    assert answer.status_code == 200
    html = answer.content.decode()
    for adm in (push, chemo):
        card = _oob_findings(html, adm.pk)
        assert card, f"A{adm.pk} lost a finding: it is sent again"
        assert "RAC-5" not in card
    assert 'data-rule="RAC-5"' not in _checklist_section(html)


def test_with_no_findings_stored_before_a_change_its_answer_sends_every_named_cards_list(
    client_as,
) -> None:
    """A record never shown nor changed through the chart (imported, say) has no stored
    findings to compare with: the first change's answer sends the list of findings of every
    card a finding names now, so none can be left saying something stale."""
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    assert not EncounterSummary.objects.filter(encounter=encounter).exists()
    fluid = encounter.administrations.get(drug__name="sodium chloride 0.9%")
    push = encounter.administrations.get(method=Administration.Method.PUSH)
    chemo = encounter.administrations.get(drug__name="paclitaxel")
    html = _card_post(client, fluid, "B3").content.decode()
    assert "RAC-5" in _oob_findings(html, push.pk)  # no flush between the push and paclitaxel
    assert "RAC-5" in _oob_findings(html, chemo.pk)
    # Once stored, the next change that alters nothing sends no other card's list.
    again = _card_post(client, fluid, "B4").content.decode()
    assert not _oob_findings(again, push.pk) and not _oob_findings(again, chemo.pk)


def test_a_starts_answer_moves_its_orders_row_alone_to_the_orders_given(client_as) -> None:
    """Issue 19: a start's answer sends its order's row, not every order with its forms. The
    visit's first order given makes the list of orders given (the section whole); later, the
    row leaves the orders to give for its place among those given (before the next one given in
    the orders' order, or last) and the count follows; given again, it is sent in place."""
    client = client_as(roles.NURSE)
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    factories.site_create(encounter, placed_at=timezone.now() - timedelta(hours=1))
    first, middle, last = (
        factories.order_create(encounter, factories.drug_get(name), dose="8 mg")
        for name in ("ondansetron", "diphenhydramine", "famotidine")
    )

    html = _start(client, encounter, middle, "push").content.decode()
    assert '<section id="orders"' in html and 'hx-swap-oob="morph"' in html
    assert html.count('data-testid="order-row"') == 3  # the first order given: section whole

    html = _start(client, encounter, last, "push").content.decode()
    assert '<section id="orders"' not in html
    assert html.count('data-testid="order-row"') == 1
    assert f'<div id="order-{last.pk}" hx-swap-oob="delete"></div>' in html
    assert '<div hx-swap-oob="beforeend:#orders-given">' in html  # after the middle one
    assert '<span id="orders-given-count" hx-swap-oob="true">2</span>' in html

    html = _start(client, encounter, first, "push").content.decode()
    assert html.count('data-testid="order-row"') == 1
    assert f'<div id="order-{first.pk}" hx-swap-oob="delete"></div>' in html
    assert f'<div hx-swap-oob="beforebegin:#order-{middle.pk}">' in html
    assert '<span id="orders-given-count" hx-swap-oob="true">3</span>' in html

    html = _start(client, encounter, first, "push").content.decode()  # given again
    assert html.count('data-testid="order-row"') == 1
    assert f'id="order-{first.pk}" data-testid="order-row" hx-swap-oob="morph"' in html
    assert 'hx-swap-oob="delete"' not in html and 'id="orders-given-count"' not in html


# Issue 19 (twenty-sixth session): a start's statements and a stop's, held. A start (htmx), the
# session warm: the session, the user, the user's roles; the order with its encounter, the sites
# (the start form's); the encounter's row locked (FOR UPDATE, a prepared read as every change's);
# then in one statement the order as it is now, the administration an earlier tap with the same
# key created and the wristband scan that confirmed the patient; the insert; the record read for
# the engine; the summary stored (returning the one before); the answer: the orders, the
# administrations, their pauses, the acknowledgements, the flushes, the scans, the new card's rate
# changes and overrides. (It was 20: the earlier tap, the order and the wristband scan were three
# statements, each compiled by the ORM at every start.) A stop: the session, the user, the roles;
# the administration with its encounter; the encounter locked; the administration locked; its
# open pause; the update; the record; the summary; the answer: the sites, the card's
# administration, its pauses, the acknowledgements, its rate changes and overrides (16, as before,
# each now compiled once but the update, which writes the stop and the version alone).
# SQLite reads the bridge's six each on its own (5 more) and the summary before storing it (1).
# The sign-off's notes of a calculated dose given without its measures (chart_context.
# sign_dose_notes): this visit gives paclitaxel 175 mg/m² with no height or weight, so its
# measures are read, once (the start: one statement more; shared with the Start boxes when the
# started order is the calculated one); a card's answer reads the orders given too (the stop:
# two more). The Start boxes' drugs with no NDC on file ("it cannot be scanned") are read with
# the orders (mar/chart_reads.py `orders`: one statement fewer than ndcgap's own read, 20 -> 19).
# Fixed whatever the number of orders.
START_QUERIES = 19 if connection.vendor == "postgresql" else 25
STOP_QUERIES = 18 if connection.vendor == "postgresql" else 24


def _statements(captured: CaptureQueriesContext) -> list[str]:
    """What a request sent, but the savepoints: the test's own transaction makes the request's
    transaction (a BEGIN and COMMIT, not counted) a savepoint and its release."""
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_a_start_and_a_stop_cost_their_statements(client_as) -> None:
    client = client_as(roles.NURSE)
    encounter = factories.chemo_encounter_create()
    fluid = encounter.orders.get(drug__name="sodium chloride 0.9%")
    client.get(reverse("mar:encounter", args=[encounter.pk]))  # the session warm
    at = (timezone.now() - timedelta(minutes=10)).astimezone(ZoneInfo(encounter.timezone))
    data = {
        f"o{fluid.pk}-method": "infusion",
        f"o{fluid.pk}-at": at.strftime("%Y-%m-%d %H:%M"),
        f"o{fluid.pk}-site": encounter.sites.get().pk,
        f"o{fluid.pk}-request_key": "a-tap-of-this-test",
    }
    url = reverse("mar:order_start", args=[encounter.pk, fluid.pk])
    with CaptureQueriesContext(connection) as started:
        assert client.post(url, data, **HX).status_code == 200
    adm = encounter.administrations.get(request_key="a-tap-of-this-test")
    assert len(_statements(started)) == START_QUERIES, "\n".join(_statements(started))
    url = reverse("mar:adm_stop", args=[encounter.pk, adm.pk])
    data = {f"at{adm.pk}-at": "", f"at{adm.pk}-version": adm.version}
    with CaptureQueriesContext(connection) as stopped:
        assert client.post(url, data, **HX).status_code == 200
    adm.refresh_from_db()
    assert adm.stop is not None
    assert len(_statements(stopped)) == STOP_QUERIES, "\n".join(_statements(stopped))


# Issue 19 (thirty-second session): a flush's statements, held. A second flush of a site in the
# same minute is asked first ("chart it again?"); the site's other flushes are the record read's
# (after the insert, under the encounter's lock), not a read of their own, so a first flush in
# its minute costs what a flush said to be meant again ("again") costs. The flush (htmx), the
# session warm: the session, the user, the user's roles; the site with its encounter; the
# encounter locked; the insert; the record read for the engine (the site's flushes with it);
# the summary stored (returning the one before); the answer: the summary, the site's chip and
# the checklist's reads (the administrations, their pauses, the acknowledgements, the flushes,
# the orders given). It was 15 for a first flush in a minute (the same-minute read before the
# insert), 14 with "again". A visit giving a calculated dose reads its measures too (one more).
FLUSH_QUERIES = 14 if connection.vendor == "postgresql" else 20
# Asked (a second flush in the minute, "again" not said): as above up to the record read, then
# the transaction rolled back, the insert with it (nothing charted, no summary stored), and the
# answer: the record read again (without the flush) for the summary (stored already: kept as
# it was), the answer's reads as above and the site's form drawn again with the question. It
# was 16: the insert and the read of the record with it are one statement more than the
# same-minute read, on the path of a double tap, for one fewer on every first flush in a minute.
ASKED_FLUSH_QUERIES = 17 if connection.vendor == "postgresql" else 27


def _flush_post(client, encounter: Encounter, data: dict[str, str]) -> tuple[str, list[str]]:
    site = encounter.sites.get()
    url = reverse("mar:site_flush", args=[encounter.pk, site.pk])
    with CaptureQueriesContext(connection) as captured:
        response = client.post(url, data, **HX)
    assert response.status_code == 200
    return response.content.decode(), _statements(captured)


def _visit() -> Encounter:
    """A visit with one site and carboplatin 450 mg running (a dose as written: no measures
    read for the sign-off's notes, as the benchmark's visits)."""
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    drug = factories.drug_get("carboplatin", DrugClass.CHEMO)
    order = factories.order_create(encounter, drug, dose="450 mg")
    start = now - timedelta(minutes=60)
    factories.administration_create(encounter, order, site=site, start=start, stop=None)
    return encounter


def _typed(encounter: Encounter, at) -> dict[str, str]:
    """A flush given at a typed minute (the chart's clock)."""
    site = encounter.sites.get()
    local = at.astimezone(ZoneInfo(encounter.timezone)).strftime("%Y-%m-%d %H:%M")
    return {f"flush{site.pk}-at": local, f"flush{site.pk}-late": "on"}


def test_a_first_flush_in_its_minute_costs_what_a_flush_meant_again_costs(client_as) -> None:
    client = client_as(roles.NURSE)
    encounter = _visit()
    site = encounter.sites.get()
    client.get(reverse("mar:encounter", args=[encounter.pk]))  # the session warm
    first = timezone.now() - timedelta(minutes=20)
    _html, charted = _flush_post(client, encounter, _typed(encounter, first))
    assert encounter.flushes.count() == 1
    assert len(charted) == FLUSH_QUERIES, "\n".join(charted)
    # The same minute again, said to be meant: charted, at the same cost.
    again = {**_typed(encounter, first), f"flush{site.pk}-again": "1"}
    _html, meant = _flush_post(client, encounter, again)
    assert encounter.flushes.count() == 2
    assert len(meant) == FLUSH_QUERIES, "\n".join(meant)
    # The next minute is another minute: charted without asking, at the same cost.
    _html, later = _flush_post(client, encounter, _typed(encounter, first + timedelta(minutes=1)))
    assert encounter.flushes.count() == 3
    assert len(later) == FLUSH_QUERIES, "\n".join(later)


def test_a_second_flush_in_a_minute_is_asked_and_nothing_is_written(client_as) -> None:
    client = client_as(roles.NURSE)
    encounter = _visit()
    client.get(reverse("mar:encounter", args=[encounter.pk]))  # the session warm
    typed = _typed(encounter, timezone.now() - timedelta(minutes=20))
    _flush_post(client, encounter, typed)
    (flush,) = encounter.flushes.all()
    summary = EncounterSummary.objects.get(encounter=encounter)
    html, asked = _flush_post(client, encounter, typed)
    hhmm = flush.at.astimezone(ZoneInfo(encounter.timezone)).strftime("%H:%M")
    assert f"A flush of S{flush.site_id} was charted at {hhmm}: chart it again?" in html
    assert list(encounter.flushes.all()) == [flush]  # the insert rolled back with the rest
    kept = EncounterSummary.objects.get(encounter=encounter)
    assert (kept.computed_at, kept.findings) == (summary.computed_at, summary.findings)
    assert len(asked) == ASKED_FLUSH_QUERIES, "\n".join(asked)
