"""A rate change's row corrected by addendum after the record was signed says so on the card
(QA: only the Addenda list said it, so what a nurse or an auditor read on the card could not
tell a corrected row from an original one).

`rates.rate_change_update` marks the row (`RateChange.amended_at`, `amended_by`: the addendum's
time and author) in the addendum's transaction; the card draws "corrected by addendum HH:MM by
<name>" beside the row's text (`data-testid="rate-row-amended"`, mar/_rate_row_amended.jinja),
for the nurse and for every reader of the chart, and the chart's timeline says the same on the
row's rate mark (`data-amended`, its tooltip). A row corrected before the signature is the
original record and carries no mark, as a row removed before it leaves no trace; a row removed
after it is gone from the card, its addendum in the Addenda.
"""

import html as html_lib
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mar import chart_reads, roles
from mar.jinja import jinja
from mar.models import Addendum, RateChange
from mar.services import rates
from mar.services.charting import ChartError
from mar.timeline import rate_amended_words
from tests import factories
from tests.mar.test_rate_change_correct import HX, charted_at_125, edit_data, signed

pytestmark = pytest.mark.django_db


def _page(client, encounter, query: str = "") -> str:
    url = reverse("mar:encounter", args=[encounter.pk]) + query
    return html_lib.unescape(client.get(url).content.decode())


def _row(page: str, rc: RateChange) -> str:
    """The row's own line on the card: its text and any mark, before its forms."""
    at = page.index(f'id="rate-{rc.pk}"')
    return page[at : page.index('class="rate-row-actions"', at)]


def _hhmm(moment) -> str:
    return moment.astimezone(factories.NEW_YORK).strftime("%H:%M")


def test_a_correction_after_signing_marks_the_row_with_its_addendums_time_and_author(
    nurse_user,
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    adm = signed(encounter, adm, nurse_user)
    rates.rate_change_update(
        rate_change=rc,
        rate_ml_h=Decimal(152),
        at=rc.at,
        version=adm.version,
        user=nurse_user,
        addendum_why="pump history read again",
    )
    saved = RateChange.objects.get(pk=rc.pk)
    addendum = Addendum.objects.get(encounter=encounter)
    assert (saved.amended_at, saved.amended_by) == (addendum.at, nurse_user)


def test_a_correction_before_signing_is_the_original_record_and_leaves_no_mark(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    rates.rate_change_update(
        rate_change=rc, rate_ml_h=Decimal(152), at=rc.at, version=adm.version, user=nurse_user
    )
    signed(encounter, adm, nurse_user)
    saved = RateChange.objects.get(pk=rc.pk)
    assert (saved.amended_at, saved.amended_by) == (None, None)
    page = _page(client_as(roles.NURSE), encounter, "?addendum=1")
    assert "→ 152 mL/h" in _row(page, rc)
    assert 'data-testid="rate-row-amended"' not in page


def test_saving_a_signed_row_as_it_was_marks_nothing(nurse_user) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    adm = signed(encounter, adm, nurse_user)
    with pytest.raises(ChartError):  # "Nothing changed: no addendum written."
        rates.rate_change_update(
            rate_change=rc,
            rate_ml_h=rc.rate_ml_h,
            at=rc.at,
            version=adm.version,
            user=nurse_user,
            addendum_why="checked again",
        )
    assert RateChange.objects.get(pk=rc.pk).amended_at is None


def test_the_card_marks_the_row_corrected_by_addendum_and_only_that_row(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    other = rates.rate_change_record(
        administration=adm,
        rate_ml_h=Decimal(90),
        at=adm.start + timedelta(minutes=30),
        reason="nausea",
        user=nurse_user,
    )
    adm = signed(encounter, adm, nurse_user)
    client = client_as(roles.NURSE)
    before = _page(client, encounter, "?addendum=1")  # the card kept as drawn
    assert 'data-testid="rate-row-amended"' not in before
    url = reverse("mar:rate_update", args=[encounter.pk, rc.pk])
    data = edit_data(rc, adm, rate_ml_h="152", addendum_why="pump history read again")
    answer = html_lib.unescape(client.post(url, data, **HX).content.decode())
    amended_at = RateChange.objects.get(pk=rc.pk).amended_at
    mark = f"corrected by addendum {_hhmm(amended_at)} by {nurse_user.get_username()}"
    assert mark in _row(answer, rc)  # the card the correction answers with
    page = _page(client, encounter, "?addendum=1")
    assert mark in _row(page, rc)
    assert 'data-testid="rate-row-amended"' in _row(page, rc)
    assert "corrected by addendum" not in _row(page, other)
    # The chart's timeline says the same on the row's mark (its tooltip), and only there.
    assert page.count("data-amended=") == 1
    assert f'data-rate="152 mL/h" data-amended="{mark}"' in page
    assert f'data-amended="{mark}"' in answer  # the timeline the correction answers with
    # Every reader of the chart (no forms: the rows alone) sees it on the row too.
    read = _page(client_as(roles.PHARMACIST), encounter)
    assert 'data-testid="rate-edit-form"' not in read
    line = read[read.index("→ 152 mL/h") :]
    assert mark in line[: line.index("</li>")]
    line = read[read.index("→ 90 mL/h") :]
    assert "corrected by addendum" not in line[: line.index("</li>")]


def test_a_mark_on_another_day_than_the_row_says_its_date() -> None:
    """An addendum written days after the visit: HH:MM alone would read as the visit's day."""
    at = timezone.now().replace(hour=15, minute=0)
    row = SimpleNamespace(
        at=at,
        amended_at=at + timedelta(days=2, minutes=7),
        amended_by=SimpleNamespace(get_username=lambda: "nurse2"),
    )
    drawn = jinja().get_template("mar/_rate_row_amended.jinja").render({"rc": row})
    local = row.amended_at.astimezone(timezone.get_current_timezone())
    assert f"corrected by addendum {local:%Y-%m-%d %H:%M} by nurse2" in drawn
    same_day = SimpleNamespace(**(vars(row) | {"amended_at": at + timedelta(minutes=7)}))
    drawn = jinja().get_template("mar/_rate_row_amended.jinja").render({"rc": same_day})
    local = same_day.amended_at.astimezone(timezone.get_current_timezone())
    assert f"corrected by addendum {local:%H:%M} by nurse2" in drawn


# --- corrected more than once after the signature (QA: the mark said only the last) -----------


def _correct(rc: RateChange, rate: int, user, why: str) -> None:
    rc = RateChange.objects.get(pk=rc.pk)
    adm = rc.administration
    rates.rate_change_update(
        rate_change=rc, rate_ml_h=Decimal(rate), at=rc.at, version=adm.version, user=user,
        addendum_why=why,
    )  # fmt: skip


def _chart_queries(client, encounter) -> tuple[str, int]:
    """The chart page, read twice (the second with its card kept), its queries counted."""
    _page(client, encounter, "?addendum=1")
    with CaptureQueriesContext(connection) as counted:
        page = _page(client, encounter, "?addendum=1")
    return page, len(counted)


def test_a_row_corrected_twice_after_signing_says_twice_and_the_last_on_card_and_timeline(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    signed(encounter, adm, nurse_user)
    client = client_as(roles.NURSE)
    _correct(rc, 152, nurse_user, "pump history read again")
    once_page, once_queries = _chart_queries(client, encounter)
    first = RateChange.objects.get(pk=rc.pk)
    once = f"corrected by addendum {_hhmm(first.amended_at)} by {nurse_user.get_username()}"
    assert once in _row(once_page, rc)
    assert f'data-amended="{once}"' in once_page

    second_nurse = factories.user_create(username="nurse2-twice", role=roles.NURSE)
    _correct(rc, 150, second_nurse, "pump log printed: 150")
    assert Addendum.objects.filter(encounter=encounter).count() == 2  # the Addenda have both
    last = RateChange.objects.get(pk=rc.pk)
    twice = f"corrected by addendum twice, last {_hhmm(last.amended_at)} by nurse2-twice"
    page, queries = _chart_queries(client, encounter)
    assert twice in _row(page, rc)
    assert f'data-rate="150 mL/h" data-amended="{twice}"' in page  # the timeline's mark
    # Read in the rows' own statement: the page reads no more for it.
    assert queries == once_queries

    _correct(rc, 148, nurse_user, "pump log read a third time")
    page, queries = _chart_queries(client, encounter)
    assert "corrected by addendum 3 times, last " in _row(page, rc)
    assert queries == once_queries


def test_the_count_is_of_corrections_after_the_signature_only(client_as, nurse_user) -> None:
    """A correction before it is the original record (no mark): one after it says "once"."""
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    _correct(rc, 140, nurse_user, "")
    signed(encounter, adm, nurse_user)
    _correct(rc, 152, nurse_user, "pump history read again")
    (read,) = chart_reads.rate_changes([adm.pk])
    assert read.amended_times == 1
    page = _page(client_as(roles.NURSE), encounter, "?addendum=1")
    assert "twice" not in _row(page, rc) and "corrected by addendum " in _row(page, rc)


@pytest.mark.parametrize(
    ("times", "said"), [(0, ""), (1, ""), (2, "twice, last "), (3, "3 times, last ")]
)
def test_the_marks_words_say_how_many_times(times: int, said: str) -> None:
    at = timezone.now().replace(hour=15, minute=0)
    row = SimpleNamespace(
        at=at,
        amended_at=at + timedelta(minutes=7),
        amended_by=SimpleNamespace(get_username=lambda: "nurse2"),
        amended_times=times,
    )
    drawn = jinja().get_template("mar/_rate_row_amended.jinja").render({"rc": row})
    local = row.amended_at.astimezone(timezone.get_current_timezone())
    assert f"corrected by addendum {said}{local:%H:%M} by nurse2" in drawn
    assert rate_amended_words(row, timezone.get_current_timezone()) == (
        f"corrected by addendum {said}{local:%H:%M} by nurse2"
    )
