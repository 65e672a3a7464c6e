"""The review page marks what changed since the run before (coding/run_changes.py): a line new
since run N, what a changed line was in run N, the lines no longer charged listed under the table;
nothing on the first run or when nothing changed, and no query more. A run is named by its number
within the encounter (run 1, 2, 3), its global id in the tooltip."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import dateformat, timezone

from coding import views
from coding.services import charge_run_generate
from mar import roles
from mar.models import Administration
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = pytest.mark.django_db


def page_of(client, encounter) -> str:
    response = client.get(reverse("coding:encounter_charges", args=[encounter.pk]))
    assert response.status_code == 200
    return response.content.decode()


def markers(page: str) -> list[str]:
    return re.findall(r'data-testid="run-change"[^>]*>([^<]*)<', page)


def text(html: str) -> str:
    """What the coder reads: the tags (a run's tooltip span) taken out."""
    return re.sub(r"<[^>]+>", "", html)


def row_of(page: str, code: str) -> str:
    """The charge line's row (its first, when the code is on several)."""
    start = page.index(f'data-code="{code}"')
    return page[start : page.index("</tr>", start)]


def addendum(encounter, author, *, chemo_minutes: int | None = None, hydration: bool = True):
    """An addendum changing the record, then the new run: the chemotherapy infusion shortened to
    `chemo_minutes`; the hydration cut to 20 minutes (not billable) when `hydration` is False."""
    addendum_for_test(encounter, author)
    if chemo_minutes is not None:
        chemo = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
        Administration.objects.filter(pk=chemo.pk).update(
            stop=chemo.start + timedelta(minutes=chemo_minutes)
        )
    if not hydration:
        fluid = Administration.objects.get(encounter=encounter, purpose="hydration")
        Administration.objects.filter(pk=fluid.pk).update(stop=fluid.start + timedelta(minutes=20))
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created
    return run


def test_the_first_run_shows_no_markers(client_as) -> None:
    encounter, _, _ = reviewed()
    page = page_of(client_as(roles.CODER), encounter)
    assert markers(page) == [] and 'data-testid="run-gone"' not in page


def test_after_an_addendum_a_changed_line_says_what_it_was_and_a_gone_line_is_listed(
    client_as, coder_user
) -> None:
    encounter, first, _ = reviewed()
    before = {line.code: line for line in first.lines.all()}
    assert before["96415"].units == 2 and "96361" in before  # what the addendum will change
    client = client_as(roles.CODER)
    run = addendum(encounter, coder_user, chemo_minutes=130, hydration=False)
    now = {line.code: line for line in run.lines.all()}
    assert now["96415"].units == 1 and "96361" not in now
    page = page_of(client, encounter)
    assert "(run 2," in text(page)
    assert markers(page) == ["was ×2 in run 1"]
    assert f'title="charge run #{first.pk}">was ×2 in run 1' in row_of(page, "96415")
    assert 'data-testid="run-change"' not in row_of(page, "96413")  # unchanged: unmarked
    gone = re.search(r'data-testid="run-gone">(.*?)</p>', page, re.S)
    assert gone is not None
    assert "No longer charged since run 1:" in text(gone.group(1))
    hydration = before["96361"]
    assert re.findall(r'data-testid="gone-line">([^<]*)<', gone.group(1)) == [
        f"96361 ×{hydration.units} ({', '.join(hydration.administrations)})"
    ]


def test_a_line_new_since_the_run_before_is_marked_new(client_as, coder_user) -> None:
    """The record's chemotherapy shortened so far that 96415 drops out, then back: the line is
    new since the run before, whichever runs came earlier."""
    encounter, _, _ = reviewed()
    shortened = addendum(encounter, coder_user, chemo_minutes=70)
    assert "96415" not in {line.code for line in shortened.lines.all()}
    lengthened = addendum(encounter, coder_user, chemo_minutes=180)
    page = page_of(client_as(roles.CODER), encounter)
    assert lengthened.pk > shortened.pk
    assert "(run 3," in text(page)
    assert "new since run 2" in row_of(page, "96415")
    assert 'data-testid="run-gone"' not in page


def test_nothing_is_marked_when_the_new_run_has_the_same_lines(client_as, coder_user) -> None:
    """A new run whose lines are those of the run before (a change that moves no charge)."""
    encounter, first, _ = reviewed()
    run = addendum(encounter, coder_user, chemo_minutes=179)  # 170 minutes of infusion: same units
    assert run.pk != first.pk
    assert sorted((ln.code, ln.units) for ln in run.lines.all()) == sorted(
        (ln.code, ln.units) for ln in first.lines.all()
    )
    page = page_of(client_as(roles.CODER), encounter)
    assert markers(page) == [] and 'data-testid="run-gone"' not in page


def test_the_markers_cost_the_review_page_no_query(client_as, coder_user, monkeypatch) -> None:
    encounter, _, _ = reviewed()
    addendum(encounter, coder_user, chemo_minutes=130, hydration=False)
    client = client_as(roles.CODER)
    page_of(client, encounter)  # the statements prepared on this connection
    with CaptureQueriesContext(connection) as marked:
        assert markers(page_of(client, encounter))
    monkeypatch.setattr(views, "changes_since_preceding", lambda runs, run, **_: None)
    with CaptureQueriesContext(connection) as unmarked:
        assert not markers(page_of(client, encounter))
    assert len(marked.captured_queries) == len(unmarked.captured_queries)


def test_after_several_runs_the_markers_are_since_the_charges_the_coder_accepted(
    client_as, coder_user
) -> None:
    """Each addendum makes its own run: a coder who accepted run 1 and comes back after runs 2
    and 3 sees what changed since run 1 (what she accepted), not only since run 2."""
    from coding.review import review_accept, review_claim

    encounter, first, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    review_accept(item=item, user=coder_user)
    item.refresh_from_db()
    assert item.accepted_run_id == first.pk
    client = client_as(roles.CODER)
    second = addendum(encounter, coder_user, chemo_minutes=130)  # 96415 x2 -> x1
    third = addendum(encounter, coder_user, chemo_minutes=130, hydration=False)  # 96361 gone
    item.refresh_from_db()
    assert item.accepted_run_id == first.pk  # kept while the item went back to NEW
    page = page_of(client, encounter)
    assert "(run 3," in text(page)
    assert "was ×2 in run 1" in row_of(page, "96415")  # run 2 alone would not say it
    assert "No longer charged since run 1:" in text(page)
    since = re.search(r'data-testid="changes-since">(.*?)</p>', page, re.S)
    assert since is not None
    assert text(since.group(1)) == "Marked: what changed since run 1, the charges last accepted."
    assert "run 2" not in " ".join(markers(page))
    # The banner names this run's reason; every run since the charges accepted is listed with
    # its own in the box "Changed since ... reviewed run 1" (tests/coding/test_since_review.py),
    # which takes the place of the line "Also since run 1" (the runs between).
    assert 'data-testid="runs-between"' not in page
    box = re.search(r'data-testid="since-review".*?</section>', page, re.S)
    assert box is not None
    # who accepted run 1, and when, kept while new runs came: the box names her (the viewer)
    item.refresh_from_db()
    assert item.accepted_at is not None
    on = dateformat.format(timezone.localtime(item.accepted_at), "j M H:i")
    assert f"Changed since run 1 was reviewed by you on {on}" in text(box.group(0))
    runs_listed = re.findall(r'data-testid="since-review-run">(.*?)\(', box.group(0), re.S)
    assert [text(r).strip() for r in runs_listed] == ["run 2", "run 3"]
    assert f'title="charge run #{second.pk}">run 2<' in box.group(0)
    assert f'title="charge run #{third.pk}">run 3<' in box.group(0)


def test_without_an_acceptance_the_markers_are_since_the_run_before(client_as, coder_user) -> None:
    encounter, first, _item = reviewed()
    client = client_as(roles.CODER)
    second = addendum(encounter, coder_user, chemo_minutes=130)
    addendum(encounter, coder_user, chemo_minutes=130, hydration=False)
    page = page_of(client, encounter)
    assert "Marked: what changed since run 2, the run before this one." in text(page)
    assert f'title="charge run #{second.pk}">run 2<' in page
    assert 'data-testid="run-change"' not in row_of(page, "96415")  # same as in run 2
    assert "No longer charged since run 2:" in text(page)
    assert 'data-testid="runs-between"' not in page  # the run before: nothing between


def test_runs_are_numbered_within_the_encounter_not_by_their_global_id(
    client_as, coder_user
) -> None:
    """Another encounter's runs made between this one's: its runs' ids are not 1..n (here, a
    gap), yet the page names them run 1, 2, 3 everywhere, each id kept in its tooltip."""
    encounter, first, _ = reviewed()
    other, _, _ = reviewed()
    addendum(other, coder_user, chemo_minutes=130)  # another encounter's run between
    second = addendum(encounter, coder_user, chemo_minutes=130)
    third = addendum(encounter, coder_user, chemo_minutes=130, hydration=False)
    assert third.pk - first.pk > 2  # the ids leave gaps: the ids are not the numbers
    page = page_of(client_as(roles.CODER), encounter)
    assert "(run 3," in text(page)
    assert "Marked: what changed since run 2, the run before this one." in text(page)
    assert "No longer charged since run 2:" in text(page)
    previous = re.findall(r"<summary>(Previous .*?) \(", page)
    assert [text(label) for label in previous] == ["Previous run 2", "Previous run 1"]
    for run, number in ((first, 1), (second, 2), (third, 3)):
        assert f'title="charge run #{run.pk}">run {number}<' in page
    assert f">run {third.pk}<" not in page and f"run {third.pk}," not in text(page)
