"""What changed since the run a coder last reviewed (coding/run_changes.py `lines_diff`,
`last_reviewed`, `reasons_since`) and the review page's box "Changed since run N was reviewed
by you on 5 Dec 14:02".

QA (HIM coder, after the nurse's addendum): the coder reviewed run 1 and sent a query; the nurse
answered with two addenda (the dexamethasone stop 02:20 -> 02:22, then a missed flush); the coder
came back. The charges went from 96375 x2 to 96375 x1 + 96367 x1 but nothing marked it: the
markers compared with run 2 (the first addendum's), and "Why this run was made" gave only the
flush's reason, which changed no charge."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import dateformat, timezone

from coding import views
from coding.drug_lines import DRUG_LINE_POSITION_BASE
from coding.models import ChargeLine, ChargeRun, DocumentationQuery, ReviewItem
from coding.review import (
    charge_line_correct,
    query_send,
    review_accept,
    review_claim,
    review_release,
)
from coding.run_changes import (
    ADDED,
    CHANGED,
    REMOVED,
    ReviewAct,
    last_reviewed,
    lines_diff,
    reasons_since,
)
from coding.services import charge_run_generate
from mar import roles
from tests.coding.review_helpers import dexamethasone_addenda, dexamethasone_visit
from tests.factories import MORNING

DAY = date(2026, 3, 2)


def line(pk: int, code: str, units: int = 1, modifiers=(), adms=("A1",), position=None, **kw):
    return ChargeLine(
        pk=pk, position=pk if position is None else position, code=code, units=units,
        modifiers=list(modifiers), date=kw.get("day", DAY), administrations=list(adms),
    )  # fmt: skip


def kinds(diff) -> list[tuple[str, str, str, str]]:
    return [(d.kind, d.code, d.was_text, d.now_text) for d in diff]


# --- the diff, plain -----------------------------------------------------------------------


def test_the_qa_case_reads_one_push_fewer_and_an_infusion_added() -> None:
    """96375 x2 (A2, A4) became 96375 x1 (A2) + 96367 x1 (A4)."""
    was = [line(1, "96413", adms=["A3"]), line(2, "96375", 2, adms=["A2", "A4"])]
    now = [
        line(11, "96413", adms=["A3"]),
        line(12, "96375", 1, adms=["A2"]),
        line(13, "96367", 1, adms=["A4"]),
    ]
    _, diff = lines_diff(was, now)
    assert kinds(diff) == [
        (CHANGED, "96375", "96375 ×2 (A2, A4)", "96375 ×1 (A2)"),
        (ADDED, "96367", "", "96367 ×1 (A4)"),
    ]
    assert diff[0].fields == ("units 2 → 1", "covers A2, A4 → A2")


def test_unchanged_lines_are_not_listed_and_nothing_changed_is_empty() -> None:
    was = [line(1, "96413", adms=["A3"]), line(2, "96361", adms=["A1"])]
    now = [line(11, "96413", adms=["A3"]), line(12, "96361", adms=["A1"])]
    pairs, diff = lines_diff(was, now)
    assert diff == [] and len(pairs) == 2


def test_a_line_gone_is_removed_and_listed_after_the_current_lines() -> None:
    was = [line(1, "96361", adms=["A1"]), line(2, "96413", adms=["A3"])]
    now = [line(11, "96413", adms=["A3"]), line(12, "96375", adms=["A2"])]
    _, diff = lines_diff(was, now)
    assert kinds(diff) == [
        (ADDED, "96375", "", "96375 ×1 (A2)"),
        (REMOVED, "96361", "96361 ×1 (A1)", ""),
    ]


def test_a_changed_modifier_is_one_changed_line_old_to_new() -> None:
    was = [line(1, "96365", adms=["A5"])]
    now = [line(11, "96365", modifiers=["59"], adms=["A5"])]
    _, diff = lines_diff(was, now)
    assert kinds(diff) == [(CHANGED, "96365", "96365 ×1 (A5)", "96365-59 ×1 (A5)")]
    assert diff[0].fields == ("modifiers none → 59",)


def test_a_drug_line_whose_units_changed_is_changed() -> None:
    base = DRUG_LINE_POSITION_BASE
    was = [line(1, "J9267", 300, modifiers=["JZ"], adms=["A3"], position=base)]
    now = [line(11, "J9267", 280, modifiers=["JZ"], adms=["A3"], position=base)]
    _, diff = lines_diff(was, now)
    assert [(d.kind, d.drug, d.fields) for d in diff] == [(CHANGED, True, ("units 300 → 280",))]


def test_a_drug_line_recoded_is_one_line_whose_hcpcs_changed_not_a_removal_and_an_addition() -> (
    None
):
    """The pharmacist gave the drug another HCPCS code: the same doses, another code."""
    base = DRUG_LINE_POSITION_BASE
    was = [line(1, "J2405", 8, adms=["A2"], position=base)]
    now = [line(11, "J2406", 4, adms=["A2"], position=base)]
    _, diff = lines_diff(was, now)
    assert kinds(diff) == [(CHANGED, "J2406", "J2405 ×8 (A2)", "J2406 ×4 (A2)")]
    assert diff[0].fields == ("HCPCS J2405 → J2406", "units 8 → 4")


def test_an_engine_line_of_another_code_is_not_paired() -> None:
    """Only drug lines pair across codes: an engine line of another code is another service."""
    was = [line(1, "96375", adms=["A4"])]
    now = [line(11, "96367", adms=["A4"])]
    _, diff = lines_diff(was, now)
    assert [d.kind for d in diff] == [ADDED, REMOVED]


# --- which run was last reviewed -----------------------------------------------------------


def run_at(pk: int, minute: int) -> SimpleNamespace:
    return SimpleNamespace(pk=pk, created_at=datetime(2026, 3, 2, 9, minute))


def test_the_last_reviewed_run_is_the_latest_earlier_run_a_coder_acted_on() -> None:
    runs = [run_at(1, 0), run_at(2, 10), run_at(3, 20)]
    acts = [
        ReviewAct(1, "accepted it"),
        ReviewAct(2, "sent a query", at=datetime(2026, 3, 2, 9, 12)),
    ]
    assert last_reviewed(runs, runs[2], acts) == acts[1]
    assert last_reviewed(runs, runs[2], []) is None


def test_a_review_of_the_current_run_ended_by_accept_or_query_leaves_nothing_to_compare() -> None:
    runs = [run_at(1, 0), run_at(2, 10)]
    for what in ReviewAct.CONCLUDING:
        acts = [ReviewAct(1, "sent a query"), ReviewAct(2, what)]
        assert last_reviewed(runs, runs[1], acts) is None
    # A correction of the current run is a review under way: still since run 1.
    acts = [ReviewAct(1, "sent a query"), ReviewAct(2, "corrected a line")]
    assert last_reviewed(runs, runs[1], acts) == acts[0]


def test_every_run_since_has_its_reasons_and_each_addendum_goes_with_the_run_it_made() -> None:
    runs = [run_at(1, 0), run_at(2, 10), run_at(3, 20)]
    first = SimpleNamespace(pk=7, at=datetime(2026, 3, 2, 9, 9))
    second = SimpleNamespace(pk=8, at=datetime(2026, 3, 2, 9, 19))
    later = SimpleNamespace(pk=9, at=datetime(2026, 3, 2, 9, 30))
    before = SimpleNamespace(pk=6, at=datetime(2026, 2, 28, 9, 0))
    reasons = reasons_since(runs, runs[2], 1, [later, second, first, before])
    assert [(r.run.pk if r.run else None, [a.pk for a in r.addenda]) for r in reasons] == [
        (2, [7]),
        (3, [8]),
        (None, [9]),
    ]


# --- the review page -----------------------------------------------------------------------

pytestmark = pytest.mark.django_db


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def on(at: datetime) -> str:
    """A time as the box's heading says it, in the hospital's zone: "2 Mar 09:14"."""
    return dateformat.format(timezone.localtime(at), "j M H:i")


def heading_of(page: str) -> str:
    match = re.search(r'data-testid="since-review-heading">(.*?)</h3>', page, re.S)
    return text(match.group(1)).strip() if match else ""


def box_of(page: str) -> str:
    match = re.search(r'<section[^>]*data-testid="since-review".*?</section>', page, re.S)
    return match.group(0) if match else ""


def qa_steps(coder, nurse) -> tuple[ChargeRun, ChargeRun, ChargeRun]:
    """The QA's steps: run 1 reviewed and queried; two addenda answer, each its run."""
    encounter = dexamethasone_visit(nurse=nurse)
    first, _ = charge_run_generate(encounter_id=encounter.pk)
    assert sorted(
        (ln.code, ln.units) for ln in first.lines.all() if ln.code.startswith("9637")
    ) == [("96375", 2)]
    item = ReviewItem.objects.get(encounter=encounter)
    review_claim(user=coder, item_id=item.pk)
    query_send(item=item, user=coder, finding=None, question="Was the dexamethasone a push?")
    second, third = dexamethasone_addenda(encounter, nurse)
    return first, second, third


def test_the_qa_steps_show_what_changed_since_run_1_with_both_addenda(
    client_as, coder_user, nurse_user
) -> None:
    first, second, third = qa_steps(coder_user, nurse_user)
    codes = sorted((ln.code, ln.units) for ln in third.lines.all() if ln.code.startswith("963"))
    assert ("96375", 1) in codes and ("96367", 1) in codes
    page = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[first.encounter_id]))
        .content.decode()
    )
    box = box_of(page)
    assert box, "no box"
    said = text(box)
    query = DocumentationQuery.objects.get(run=first)
    assert heading_of(box) == f"Changed since run 1 was reviewed by you on {on(query.asked_at)}"
    assert "run 1: you sent a query" in said
    rows = re.findall(r'since-review-line" data-kind="(\w+)" data-line-code="(\w+)"', box)
    assert rows == [("changed", "96375"), ("added", "96367")]
    assert "96375 ×2" in said and "units 2 → 1" in said
    # Both addenda, in order, each linked to its entry in the Addenda list, with who and when.
    addenda = re.findall(r'href="#addendum-(\d+)"', box)
    assert len(addenda) == 2
    for pk in addenda:
        assert f'id="addendum-{pk}"' in page
    assert said.index("stop time charted from the pump") < said.index("flush given and not")
    assert said.count(f"by {nurse_user.username}") == 2
    # The markers beside the lines are since run 1 too (run 2 alone changed no more than run 3):
    # the answered query brought the item back in review with her, her claim on run 1 kept.
    assert "Marked: what changed since run 1, the charges when you claimed them." in text(page)
    assert 'data-testid="runs-between"' not in page  # the box lists them


def test_with_no_charge_changed_the_box_says_so_and_still_lists_the_reasons(
    client_as, coder_user, nurse_user
) -> None:
    """Reviewed (queried) on run 2, then the flush's addendum: no charge changed since run 2."""
    encounter = dexamethasone_visit(nurse=nurse_user)
    charge_run_generate(encounter_id=encounter.pk)
    item = ReviewItem.objects.get(encounter=encounter)
    second, third = dexamethasone_addenda(encounter, nurse_user)
    item.refresh_from_db()
    review_claim(user=coder_user, item_id=item.pk)
    ChargeRun.objects.filter(pk=third.pk).update(is_current=False)  # review run 2 as current
    ChargeRun.objects.filter(pk=second.pk).update(is_current=True)
    ReviewItem.objects.filter(pk=item.pk).update(run=second)
    item.refresh_from_db()
    query_send(item=item, user=coder_user, finding=None, question="Was a flush given?")
    ChargeRun.objects.filter(pk=second.pk).update(is_current=False)
    ChargeRun.objects.filter(pk=third.pk).update(is_current=True)
    ReviewItem.objects.filter(pk=item.pk).update(run=third, state=ReviewItem.State.NEW)
    page = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[encounter.pk]))
        .content.decode()
    )
    said = text(box_of(page))
    query = DocumentationQuery.objects.get(run=second)
    assert (
        heading_of(page)
        == f"No charge changed since run 2 was reviewed by you on {on(query.asked_at)}"
    )
    assert "run 2: you sent a query" in said  # who reviewed it, also when nothing changed
    assert 'data-testid="since-review-line"' not in page
    assert "flush given and not charted" in said and said.count("Addendum") == 1


def test_no_box_on_the_first_run_nor_once_the_current_run_was_accepted(
    client_as, coder_user, nurse_user
) -> None:
    first, _, third = qa_steps(coder_user, nurse_user)
    item = ReviewItem.objects.get(encounter_id=first.encounter_id)
    client = client_as(roles.CODER)
    url = reverse("coding:encounter_charges", args=[first.encounter_id])
    assert box_of(client.get(url).content.decode())
    review_claim(user=coder_user, item_id=item.pk)
    item.refresh_from_db()
    review_accept(item=item, user=coder_user)
    assert not box_of(client.get(url).content.decode())


def test_another_coders_review_is_named(client_as, coder_user, nurse_user) -> None:
    from tests import factories

    other = factories.user_create(username="coder-b", role=roles.CODER)
    first, _, _ = qa_steps(other, nurse_user)
    page = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[first.encounter_id]))
        .content.decode()
    )
    query = DocumentationQuery.objects.get(run=first)
    assert (
        heading_of(page) == f"Changed since run 1 was reviewed by coder-b on {on(query.asked_at)}"
    )


def accepted_by_b_after_a_corrected(
    nurse, *, corrected: bool = True
) -> tuple[object, object, ChargeRun, ReviewItem]:
    """Coder A corrects a line of run 1 and releases it (`corrected`); coder B claims it and
    accepts it, later; then the nurse's addenda make runs 2 and 3."""
    from tests import factories

    a = factories.user_create(username="coder-a", role=roles.CODER)
    b = factories.user_create(username="coder-b", role=roles.CODER)
    encounter = dexamethasone_visit(nurse=nurse)
    first, _ = charge_run_generate(encounter_id=encounter.pk)
    item = ReviewItem.objects.get(encounter=encounter)
    if corrected:
        item = review_claim(user=a, item_id=item.pk)
        push = first.lines.get(code="96375")
        charge_line_correct(
            item=item, user=a, line=push, action="change", code="96375", units=push.units + 1,
            modifiers=[], reason="a third push charted in the notes",
        )  # fmt: skip
        review_release(item=item, user=a)
    item = review_claim(user=b, item_id=item.pk)
    item = review_accept(item=item, user=b)
    dexamethasone_addenda(encounter, nurse)
    item.refresh_from_db()
    return a, b, first, item


def test_the_box_names_who_accepted_the_run_reviewed_when_charges_came_after(
    client_as, coder_user, nurse_user
) -> None:
    """The coder's ask: "Changes since run 1 was reviewed by <coder> on 5 Dec 14:02" after a new
    run. Who accepted run 1 and when are kept with it (`ReviewItem.accepted_by`), so the box names
    B, who accepted it last, not A, who corrected it before (unnamed acceptance, the box used to
    name A's correction or no one)."""
    a, b, first, item = accepted_by_b_after_a_corrected(nurse_user)
    assert (item.state, item.accepted_run_id, item.accepted_by) == ("new", first.pk, b)
    page = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[first.encounter_id]))
        .content.decode()
    )
    assert (
        heading_of(page) == f"Changed since run 1 was reviewed by coder-b on {on(item.accepted_at)}"
    )
    assert f"run 1: coder-b accepted it {timezone.localtime(item.accepted_at):%m-%d %H:%M}" in text(
        box_of(page)
    )
    assert "coder-a" not in heading_of(page)


def test_a_coder_reviewing_the_new_run_is_not_named_for_the_run_before(
    client_as, coder_user, nurse_user
) -> None:
    """A reviewer of a later run (the current one, under way) is never named for the run
    compared with: B accepted run 1; A claims the run since and corrects a line of it."""
    a, b, first, item = accepted_by_b_after_a_corrected(nurse_user)
    item = review_claim(user=a, item_id=item.pk)
    current = ChargeRun.objects.get(encounter_id=first.encounter_id, is_current=True)
    charge_line_correct(
        item=item, user=a, line=current.lines.get(code="96413"), action="change",
        code="96413", units=1, modifiers=["59"], reason="a distinct site",
    )  # fmt: skip
    page = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[first.encounter_id]))
        .content.decode()
    )
    assert heading_of(page).startswith("Changed since run 1 was reviewed by coder-b on ")


def test_a_run_corrected_under_her_claim_is_the_one_compared_with(
    client_as, coder_user, nurse_user
) -> None:
    """Found by the stateful test: she claimed run 1, the stop's addendum made run 2 under her,
    she corrected a line of run 2, then the flush's addendum made run 3. The box compares with
    run 2, the run she last reviewed (as the worklist's badge does), naming her and when; it
    was not shown (the lines compared with run 1, the run claimed)."""
    from tests import factories

    a = factories.user_create(username="coder-a", role=roles.CODER)
    encounter = dexamethasone_visit(nurse=nurse_user)
    charge_run_generate(encounter_id=encounter.pk)
    item = review_claim(user=a, item_id=ReviewItem.objects.get(encounter=encounter).pk)
    second, third = dexamethasone_addenda(encounter, nurse_user)
    # the flush changed no charge: run 2 corrected, then run 3, as the addenda would make them
    ChargeRun.objects.filter(pk=third.pk).update(is_current=False)
    ChargeRun.objects.filter(pk=second.pk).update(is_current=True)
    ReviewItem.objects.filter(pk=item.pk).update(run=second)
    item.refresh_from_db()
    chemo = second.lines.get(code="96413")
    correction = charge_line_correct(
        item=item, user=a, line=chemo, action="change", code="96413", units=chemo.units,
        modifiers=["59"], reason="a distinct site",
    )  # fmt: skip
    ChargeRun.objects.filter(pk=second.pk).update(is_current=False)
    ChargeRun.objects.filter(pk=third.pk).update(is_current=True)
    ReviewItem.objects.filter(pk=item.pk).update(run=third)
    client = client_as(roles.CODER)
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert heading_of(page) == (
        f"No charge changed since run 2 was reviewed by coder-a on {on(correction.at)}"
    )
    assert "changed-since-review" not in worklist_row(client, encounter.pk)


def test_an_acceptance_not_kept_reads_as_before(client_as, coder_user, nurse_user) -> None:
    """An item accepted before who accepted was kept with the run (a new run cleared it): the
    heading says "since run 1 was reviewed", naming no one."""
    _, _, first, item = accepted_by_b_after_a_corrected(nurse_user, corrected=False)
    # As such an item stands: its run accepted, who and when not kept.
    ReviewItem.objects.filter(pk=item.pk).update(accepted_by=None, accepted_at=None)
    page = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[first.encounter_id]))
        .content.decode()
    )
    assert heading_of(page) == "Changed since run 1 was reviewed"
    assert "run 1: a coder accepted it; now run 3." in text(box_of(page))


def test_the_box_costs_the_review_page_no_query(
    client_as, coder_user, nurse_user, monkeypatch
) -> None:
    first, _, _ = qa_steps(coder_user, nurse_user)
    client = client_as(roles.CODER)
    url = reverse("coding:encounter_charges", args=[first.encounter_id])
    client.get(url)  # the statements prepared on this connection
    with CaptureQueriesContext(connection) as boxed:
        assert box_of(client.get(url).content.decode())
    monkeypatch.setattr(views, "last_reviewed", lambda *a, **k: None)
    with CaptureQueriesContext(connection) as plain:
        assert not box_of(client.get(url).content.decode())
    assert len(boxed.captured_queries) == len(plain.captured_queries)


# --- the worklist ---------------------------------------------------------------------------


def worklist_row(client, encounter_id: int) -> str:
    page = client.get(reverse("coding:worklist")).content.decode()
    start = page.index(f'data-encounter="{encounter_id}"')
    return page[start : page.index("</tr>", start)]


def test_the_worklist_row_says_charges_changed_since_review_until_the_coder_accepts(
    client_as, coder_user, nurse_user
) -> None:
    client = client_as(roles.CODER)
    encounter = dexamethasone_visit(nurse=nurse_user)
    charge_run_generate(encounter_id=encounter.pk)
    item = ReviewItem.objects.get(encounter=encounter)
    assert "changed-since-review" not in worklist_row(client, encounter.pk)  # never reviewed
    review_claim(user=coder_user, item_id=item.pk)
    query_send(item=item, user=coder_user, finding=None, question="Was it a push?")
    assert "changed-since-review" not in worklist_row(client, encounter.pk)  # queried
    dexamethasone_addenda(encounter, nurse_user)
    row = worklist_row(client, encounter.pk)
    assert "charges changed since review" in text(row)
    review_claim(user=coder_user, item_id=item.pk)
    assert "charges changed since review" in text(worklist_row(client, encounter.pk))
    item.refresh_from_db()
    review_accept(item=item, user=coder_user)
    assert "changed-since-review" not in worklist_row(client, encounter.pk)


def test_a_new_run_that_changed_no_charge_since_review_gets_no_badge(
    client_as, coder_user, nurse_user
) -> None:
    """Reviewed on run 1, then a run of the same lines (the flush alone): nothing to say."""
    client = client_as(roles.CODER)
    encounter = dexamethasone_visit(nurse=nurse_user)
    first, _ = charge_run_generate(encounter_id=encounter.pk)
    item = ReviewItem.objects.get(encounter=encounter)
    review_claim(user=coder_user, item_id=item.pk)
    query_send(item=item, user=coder_user, finding=None, question="A flush?")
    from django.db import transaction

    from mar.models import Addendum, Flush

    with transaction.atomic():
        Addendum.objects.create(encounter=encounter, author=nurse_user, what="flush", why="late")
        site = encounter.sites.first()
        Flush.objects.create(encounter=encounter, site=site, at=MORNING + timedelta(minutes=200))
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created
    assert "changed-since-review" not in worklist_row(client, encounter.pk)


def test_a_line_taken_back_to_the_engines_is_said_as_such_not_as_a_re_review() -> None:
    """QA: after "Back to the engine's line" the box said "you re-reviewed a correction"."""
    from coding.models import ChargeCorrection
    from coding.run_changes import review_acts

    at = datetime(2026, 3, 2, 11, 0)

    def correction(state: str) -> SimpleNamespace:
        return SimpleNamespace(carried_from_id=1, state=state, decided_at=at, decided_by="coder-1")

    run = SimpleNamespace(
        pk=7,
        corrections=SimpleNamespace(
            all=lambda: [
                correction(ChargeCorrection.State.BACK),
                correction(ChargeCorrection.State.KEPT),
            ]
        ),
        edit_overrides=SimpleNamespace(all=lambda: []),
    )
    said = [act.what for act in review_acts([run])]
    assert said == ["took a line back to the engine's", "re-reviewed a correction"]
