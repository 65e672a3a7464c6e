import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mar import roles, summary, views
from mar.models import Encounter, Pause
from mar.summary import summaries_for, summary_invalidate
from tests import factories


def test_board_lists_todays_encounters_with_their_state(client_as) -> None:
    client = client_as(roles.NURSE)
    now = timezone.now()
    today = factories.encounter_create(arrived_at=now, location_label="7")
    signed_yesterday = factories.encounter_create(
        arrived_at=now - timedelta(days=1, minutes=5), status=Encounter.Status.SIGNED
    )
    page = client.get(reverse("mar:board")).content.decode()
    assert today.patient.name in page
    assert "In progress" in page
    assert signed_yesterday.patient.name not in page


def test_board_shows_what_is_running(client_as) -> None:
    client = client_as(roles.NURSE)
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(minutes=40))
    order = factories.order_create(encounter, factories.drug_get("carboplatin", "chemo"))
    factories.administration_create(
        encounter, order, site=None, start=now - timedelta(minutes=35), stop=None
    )
    page = client.get(reverse("mar:board")).content.decode()
    assert "Running: carboplatin, 35" in page


def test_board_counts_running_minutes_less_pauses_as_the_chart_does(client_as) -> None:
    """screens.md: the card shows what is running now ("carboplatin, 35 min"); a pause is not
    running time, and a drug paused now says so."""
    client = client_as(roles.NURSE)
    now = timezone.now()
    encounter = factories.encounter_create(arrived_at=now - timedelta(minutes=90))
    carboplatin = factories.order_create(encounter, factories.drug_get("carboplatin", "chemo"))
    vancomycin = factories.order_create(encounter, factories.drug_get("vancomycin", "therapeutic"))
    resumed = factories.administration_create(
        encounter, carboplatin, site=None, start=now - timedelta(minutes=60), stop=None
    )
    Pause.objects.create(
        administration=resumed,
        start=now - timedelta(minutes=40),
        end=now - timedelta(minutes=15),
    )
    paused = factories.administration_create(
        encounter, vancomycin, site=None, start=now - timedelta(minutes=30), stop=None
    )
    Pause.objects.create(administration=paused, start=now - timedelta(minutes=10), end=None)
    page = client.get(reverse("mar:board")).content.decode()
    assert "Running: carboplatin, 35 min" in page  # 60 min since start, 25 of them paused
    assert "Paused: vancomycin, 20 min" in page  # 30 min since start, paused for the last 10


def _board_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("mar:board")).status_code == 200
    return len(captured)


def test_board_queries_stay_fixed_as_encounters_and_records_grow(client_as) -> None:
    """The board reads each open encounter's stored summary (mar/summary.py) in one query; the
    records of encounters without one are read in bulk (five queries whatever their number)."""
    client = client_as(roles.NURSE)
    encounters = [factories.chemo_encounter_create(arrived_at=timezone.now()) for _ in range(3)]
    _board_queries(client)  # the summaries made (none was stored: made by the factories)
    small = _board_queries(client)
    for encounter in encounters:
        order = encounter.orders.first()
        for n in range(10):
            factories.administration_create(
                encounter, order, site=encounter.sites.first(), method="push", stop=None,
                start=factories.MORNING + timedelta(hours=6, minutes=n),
            )  # fmt: skip
        summary_invalidate(encounter_ids=[encounter.pk])
    recomputed = _board_queries(client)
    # The bulk bridge (6), the summaries stored (3), and what runs on the cards whose records
    # changed with its pauses (2: kept cards read neither, mar/board_cards.py).
    assert recomputed <= small + 6 + 3 + 2
    # What runs on a card is kept under its summary's moment (mar/board_cards.py): a summary
    # stored anew is read with its card's rows once more, then kept.
    assert _board_queries(client) <= small + 2
    assert _board_queries(client) == small
    for _ in range(5):
        factories.chemo_encounter_create(arrived_at=timezone.now())
    assert _board_queries(client) <= recomputed
    _board_queries(client)
    assert _board_queries(client) == small


def test_the_board_runs_no_engine_once_the_summaries_are_stored(client_as, monkeypatch) -> None:
    """Issue 19: the board's cost does not grow with the engine runs of the day."""
    client = client_as(roles.NURSE)
    for _ in range(3):
        factories.chemo_encounter_create(arrived_at=timezone.now())
    cards = re.findall(r'data-testid="(?:state|open-items)">(.*?)</', board(client))

    def no_engine(*args, **kwargs):
        raise AssertionError("the board ran the engine")

    monkeypatch.setattr(summary, "code_record", no_engine)
    assert re.findall(r'data-testid="(?:state|open-items)">(.*?)</', board(client)) == cards
    assert len(cards) == 6


def board(client) -> str:
    return client.get(reverse("mar:board")).content.decode()


def test_board_shows_each_state_and_open_item_count(client_as) -> None:
    client = client_as(roles.NURSE)
    now = timezone.now()
    factories.encounter_create(arrived_at=now, location_label="1")  # nothing given yet
    running = factories.encounter_create(arrived_at=now - timedelta(hours=1), location_label="2")
    order = factories.order_create(running, factories.drug_get("carboplatin", "chemo"))
    site = factories.site_create(running)
    factories.administration_create(
        running, order, site=site, start=now - timedelta(minutes=30), stop=None
    )
    missing = factories.encounter_create(arrived_at=now - timedelta(hours=1), location_label="3")
    untagged = factories.order_create(missing, factories.drug_get("newdrug", None))
    factories.administration_create(
        missing, untagged, site=factories.site_create(missing),
        start=now - timedelta(minutes=50), stop=now - timedelta(minutes=10),
    )  # fmt: skip
    ready = factories.encounter_create(arrived_at=now - timedelta(hours=1), location_label="4")
    factories.administration_create(
        ready, factories.order_create(ready, factories.drug_get("ondansetron"), dose="8 mg"),
        site=factories.site_create(ready), start=now - timedelta(minutes=20), stop=None,
        method="push",
    )  # fmt: skip
    signed = factories.encounter_create(arrived_at=now, location_label="5")
    Encounter.objects.filter(pk=signed.pk).update(status=Encounter.Status.SIGNED)

    html = client.get(reverse("mar:board")).content.decode()
    states = re.findall(r'data-testid="state">([^<]+)<', html)
    assert states == ["In progress", "In progress", "Items missing", "Ready to sign", "Signed"]
    # carboplatin running without a stop: RAC-7 (an error until it stops).
    assert "Running: carboplatin, 30 min" in html
    assert html.count('data-testid="open-items"') == 4
    assert "DOC-4" not in html  # the board counts; the chart explains
    missing_card = html.split('data-testid="encounter-card"')[3]
    assert re.search(r'text-bg-danger">1</span> open checklist item', missing_card)


@pytest.mark.parametrize(
    ("role", "status"),
    [(roles.NURSE, 200), (roles.ADMIN, 200), (roles.CODER, 403), (roles.PHARMACIST, 403)],
)
def test_the_board_is_the_nurses(client_as, role, status) -> None:
    assert client_as(role).get(reverse("mar:board")).status_code == status


def test_anonymous_is_sent_to_log_in_from_the_board(db) -> None:
    response = Client().get(reverse("mar:board"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_signed_encounters_card_says_a_coders_query_waits_for_the_nurse(client_as) -> None:
    """The nurse answers a coder's query with an addendum: the card of the signed encounter says
    "Query from coding", even one signed days ago, until an addendum answers it."""
    from coding.models import DocumentationQuery
    from mar.services.signature import addendum_store
    from tests.coding.review_helpers import reviewed

    client = client_as(roles.NURSE)
    coder = factories.user_create(username="coder-board", role="coder")
    now = timezone.now()
    queried, run, _ = reviewed(arrived_at=now - timedelta(days=3))
    quiet, _, _ = reviewed(arrived_at=now)
    query = DocumentationQuery.objects.create(
        encounter=queried, run=run, rule="", question="A push?", asked_by=coder
    )

    def card(encounter: Encounter) -> str:
        page = client.get(reverse("mar:board")).content.decode()
        cards = re.findall(r'<a class="card board-card.*?</a>', page, re.S)
        mine = [c for c in cards if reverse("mar:encounter", args=[encounter.pk]) in c]
        return mine[0] if mine else ""

    assert "Query from coding" in card(queried)
    assert card(quiet) and "Query from coding" not in card(quiet)
    nurse = factories.user_create(username="nurse-board", role="nurse")
    addendum_store(
        encounter=queried, user=nurse, what="push at 10:05", why="query", answers=[query.pk]
    )
    assert card(queried) == ""  # answered: an encounter signed days ago leaves the board


def test_the_board_shows_a_page_of_cards_at_a_time_so_its_cost_is_fixed(
    client_as, monkeypatch
) -> None:
    """Issue 19: with many visits open the board shows BOARD_PAGE cards (by unit, then chair),
    with the pages to go on; a page reads only its own cards' rows, so its queries are the same
    with 3 visits open or 7, and the other pages' records are not read."""
    monkeypatch.setattr(views, "BOARD_PAGE", 2)
    client = client_as(roles.NURSE)
    encounters = [
        factories.encounter_create(arrived_at=timezone.now(), location_label=f"{n}")
        for n in range(1, 4)
    ]
    summaries_for(encounters)  # stored, as every change stores its own
    first = board(client)
    assert first.count('data-testid="encounter-card"') == 2
    assert "Visits 1–2 of 3" in first and "Page 1 of 2" in first
    queries = _board_queries(client)
    more = [
        factories.encounter_create(arrived_at=timezone.now(), location_label=f"{n}")
        for n in range(4, 8)
    ]
    summaries_for(more)
    assert _board_queries(client) == queries
    last = client.get(reverse("mar:board"), {"page": 4}).content.decode()
    assert last.count('data-testid="encounter-card"') == 1
    assert "Visits 7–7 of 7" in last and 'rel="prev"' in last and 'rel="next"' not in last
    # Every open visit is on exactly one page.
    seen = set()
    for number in range(1, 5):
        html = client.get(reverse("mar:board"), {"page": number}).content.decode()
        seen.update(re.findall(r'href="/mar/encounters/(\d+)/"', html))
    assert seen == {str(e.pk) for e in encounters + more}


def test_board_lists_chairs_in_the_rooms_order_not_as_text(client_as) -> None:
    """QA: chair 10 sat between chairs 1 and 2. Chairs and beds are in number order within a
    unit ("Chair 2" before "Chair 10"), a label's letters first ("Bay 3" before "Chair 1")."""
    client = client_as(roles.NURSE)
    now = timezone.now()
    unit = f"Order-{now.timestamp():.0f}"
    labels = ["Chair 10", "Chair 2", "Bay 3", "Chair 1", "Bay 12"]
    names = {
        label: factories.encounter_create(
            arrived_at=now, unit=unit, location_label=label
        ).patient.name
        for label in labels
    }
    page = client.get(reverse("mar:board")).content.decode()
    shown = sorted(labels, key=lambda label: page.index(names[label]))
    assert shown == ["Bay 3", "Bay 12", "Chair 1", "Chair 2", "Chair 10"]
