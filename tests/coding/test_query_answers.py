"""Which addendum answers a coder's query (coding/review.py): one that changes what the query
is about (its finding changed or cleared, the administration it names or that administration's
order changed; for a query about the record, any change of it), or one the nurse marks as
answering it. Any other addendum leaves it open, listed on it as "addendum since, not
answering".

QA: a query about RAC-1 (no hydration order) was marked "Answered by addendum" by an unrelated
addendum, the ondansetron charted as an infusion, while RAC-1 still stood."""

import pytest
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from coding.models import ChargeRun, DocumentationQuery, ReviewItem
from coding.review import query_send, review_claim
from coding.services import charge_run_generate
from mar import roles
from mar.models import Order
from mar.services.signature import addendum_store
from tests.coding.review_helpers import (
    addendum_for_test,
    hydration_and_ondansetron,
    ondansetron_infused,
)

pytestmark = pytest.mark.django_db


def queried(coder, *, rule: str = "RAC-1", administration: str = ""):
    """The visit of hydration (ordered with no purpose: RAC-1) and an ondansetron push, its
    charges claimed, and a query to the nurse: about `rule`'s finding, or (rule "") about the
    record, naming `administration` if given. Returns (encounter, run, item, query)."""
    encounter = hydration_and_ondansetron(hydration_ordered=False)
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    item = review_claim(user=coder, item_id=ReviewItem.objects.get(encounter=encounter).pk)
    finding = run.findings.get(rule=rule) if rule else None
    query = query_send(
        item=item, user=coder, finding=finding, question="Is there an order for hydration?",
        administration=administration,
    )  # fmt: skip
    return encounter, run, item, query


def administration_id(encounter, drug: str) -> str:
    return f"A{encounter.administrations.get(drug__name=drug).pk}"


def hydration_ordered(encounter, author) -> ChargeRun:
    """The nurse's addendum: the fluid's order was for hydration (RAC-1 cleared)."""
    with transaction.atomic():
        addendum_for_test(encounter, author)
        Order.objects.filter(encounter=encounter, drug__name="sodium chloride 0.9%").update(
            purpose=Order.Purpose.HYDRATION
        )
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created
    return run


def test_an_addendum_about_something_else_leaves_the_query_open(
    client_as, coder_user, nurse_user
) -> None:
    encounter, _, item, query = queried(coder_user)
    new_run = ondansetron_infused(encounter, nurse_user)  # the QA walkthrough's addendum
    assert new_run.findings.filter(rule="RAC-1").exists()
    query.refresh_from_db()
    assert query.is_open and query.answered_by_addendum is None
    # The charges changed, so the coders see them again; the query is still waiting.
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.NEW
    page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    shown = page.content.decode()
    shown = shown[shown.index('data-testid="query"') :]
    shown = shown[: shown.index("</li>")]
    assert "Open" in shown and "Answered" not in shown
    assert "Addendum since, not answering" in shown and "test change" in shown


def test_an_addendum_that_clears_the_finding_answers_the_query(coder_user, nurse_user) -> None:
    encounter, _, item, query = queried(coder_user)
    new_run = hydration_ordered(encounter, nurse_user)
    assert not new_run.findings.filter(rule="RAC-1").exists()
    query.refresh_from_db()
    answer = encounter.addenda.order_by("-at", "-pk").first()
    assert not query.is_open and query.answered_by_addendum == answer
    # Back in review with the coder who asked (tests/coding/test_query_answered_back.py).
    item = ReviewItem.objects.get(pk=item.pk)
    assert (item.state, item.claimed_by, item.returned_reason) == (
        ReviewItem.State.IN_REVIEW, coder_user, "Query answered by addendum"
    )  # fmt: skip


def test_an_addendum_changing_the_administration_asked_about_answers_only_that_query(
    coder_user, nurse_user
) -> None:
    encounter = hydration_and_ondansetron()
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    item = review_claim(user=coder_user, item_id=ReviewItem.objects.get(encounter=encounter).pk)
    about_push = query_send(
        item=item, user=coder_user, finding=None, question="A push, or infused?",
        administration=administration_id(encounter, "ondansetron"),
    )  # fmt: skip
    about_fluid = DocumentationQuery.objects.create(
        encounter=encounter, run=run, rule="", question="How much fluid?", asked_by=coder_user,
        administrations=[administration_id(encounter, "sodium chloride 0.9%")],
    )  # fmt: skip
    ondansetron_infused(encounter, nurse_user)
    about_push.refresh_from_db()
    about_fluid.refresh_from_db()
    assert not about_push.is_open and about_fluid.is_open


def test_a_query_about_the_record_is_answered_by_a_change_of_it(coder_user, nurse_user) -> None:
    encounter, _, _, query = queried(coder_user, rule="")
    ondansetron_infused(encounter, nurse_user)
    query.refresh_from_db()
    assert not query.is_open


def test_the_nurse_marks_the_query_her_addendum_answers_in_words(coder_user, nurse_user) -> None:
    """An answer written, not charted (the record unchanged: no new run): she says which query
    it answers; the others stay open."""
    encounter, run, item, query = queried(coder_user)
    other = DocumentationQuery.objects.create(
        encounter=encounter, run=run, rule="", question="Anything else?", asked_by=coder_user
    )
    addendum = addendum_store(
        encounter=encounter, user=nurse_user, what="the physician ordered hydration by phone",
        why="coding query", answers=[query.pk],
    )  # fmt: skip
    query.refresh_from_db()
    other.refresh_from_db()
    assert query.answered_by_addendum == addendum and other.is_open
    item = ReviewItem.objects.get(pk=item.pk)
    assert item.state == ReviewItem.State.IN_REVIEW and item.claimed_by == coder_user


def test_an_addendum_neither_marked_nor_changing_it_leaves_the_item_waiting(
    coder_user, nurse_user
) -> None:
    encounter, _, item, query = queried(coder_user)
    addendum_store(encounter=encounter, user=nurse_user, what="patient tolerated", why="note")
    charge_run_generate(encounter_id=encounter.pk, trigger="addendum")  # the same record
    query.refresh_from_db()
    assert query.is_open
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.QUERIED


def test_the_chart_offers_the_open_queries_on_the_addendum_and_says_what_did_not_answer(
    client_as, coder_user, nurse_user
) -> None:
    encounter, _, item, query = queried(coder_user)
    nurse = client_as(roles.NURSE)
    chart = reverse("mar:encounter", args=[encounter.pk])
    page = nurse.get(chart, {"addendum": "1"}).content.decode()
    assert f'name="addendum-answers" value="{query.pk}"' in page
    assert "RAC-1" in page[page.index('name="addendum-answers"') - 600 :]
    # An addendum about something else: the banner says it did not answer the query.
    ondansetron_infused(encounter, nurse_user)
    html = render_to_string("mar/_queries.html", {"encounter": encounter})
    assert "Is there an order for hydration?" in html and "not answering" in html
    # Ticked on the next addendum, it is answered: the banner goes.
    nurse.post(
        reverse("mar:addendum_add", args=[encounter.pk]),
        {
            "addendum-what": "ordered by phone, read back",
            "addendum-why": "coding query",
            "addendum-answers": [str(query.pk)],
        },
    )
    query.refresh_from_db()
    assert not query.is_open and query.answered_by_addendum.what == "ordered by phone, read back"
    assert "coder-queries" not in render_to_string("mar/_queries.html", {"encounter": encounter})


def test_the_banner_says_an_addendum_is_being_checked_while_its_charges_are_owed(
    coder_user, nurse_user
) -> None:
    """Right after her addendum, its run not made yet (the worker's, after commit), the nurse
    is not told it did not answer: it is checked with the new charges."""
    encounter, _, _, _ = queried(coder_user)
    addendum_store(encounter=encounter, user=nurse_user, what="order purpose set", why="query")
    html = render_to_string("mar/_queries.html", {"encounter": encounter})
    assert "charges are being regenerated" in html and "not answering" not in html


def test_a_later_addendum_that_brings_the_finding_back_is_said_on_the_answered_query(
    client_as, coder_user, nurse_user
) -> None:
    """QA: the nurse charted the flush RAC-5 asked about (the query answered), then moved a stop
    by another addendum and the gap was back while the query still read "Answered", nobody
    told. The review page says the finding is listed again, on the answered query."""
    encounter, _, _, query = queried(coder_user)
    hydration_ordered(encounter, nurse_user)  # answers the RAC-1 query
    query.refresh_from_db()
    assert query.answered_at is not None

    def shown() -> str:
        page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
        html = page.content.decode()
        html = html[html.index('data-testid="query"') :]
        return html[: html.index("</li>")]

    assert "Answered by addendum" in shown() and "query-finding-back" not in shown()
    with transaction.atomic():  # a later addendum undoes it: the order's purpose cleared
        addendum_for_test(encounter, nurse_user)
        Order.objects.filter(encounter=encounter, drug__name="sodium chloride 0.9%").update(
            purpose=""
        )
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created and run.findings.filter(rule="RAC-1").exists()
    again = shown()
    assert "Answered by addendum" in again
    assert 'data-testid="query-finding-back"' in again and "RAC-1 again" in again
