"""The review page's prepared reads (coding/review_reads.py) give exactly what their querysets give
through the ORM, row for row, field for field and join for join, on encounters with everything a
review page shows: runs old and current, lines, findings, corrections carried and made, an edit
overridden, a query answered by an addendum, charges sent to billing. And the page reads them as
the prefetches it replaced did: each child knows its parent, nothing more is read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coding import review_reads
from coding.claim import record_facts
from coding.exports import export_create
from coding.ledger import standing_charges
from coding.models import (
    ChargeFinding,
    ChargeRun,
    DocumentationQuery,
    EditOverride,
    LedgerEntry,
    ReviewItem,
)
from coding.review import charge_line_correct, review_accept, review_claim
from coding.services import charge_run_generate
from mar.models import Addendum, Administration, Drug, DrugNdc, Encounter
from tests.coding.review_helpers import addendum_for_test, reviewed
from tests.mar.test_prepared import ON_POSTGRESQL, _snapshot

pytestmark = pytest.mark.django_db


def _encounters(coder) -> list[Encounter]:
    """One encounter billed, corrected and charged again after an addendum (two runs, a
    correction carried, an override, a query answered); one only under review; and one
    encounter id no row has."""
    billed, run, item = reviewed(billable=True)
    paclitaxel = Drug.objects.get(name="paclitaxel")
    DrugNdc.objects.create(drug=paclitaxel, ndc="00703574811", unit="ML", preferred=False)
    DrugNdc.objects.create(drug=paclitaxel, ndc="00703574899", unit="ML", preferred=True)
    review_claim(user=coder, item_id=item.pk)
    push = run.lines.get(code="96375")
    charge_line_correct(
        item=item, user=coder, line=push, action="change", code="96375",
        units=1, modifiers=["59"], reason="second site per the flowsheet",
    )  # fmt: skip
    EditOverride.objects.create(
        run=run, rule="EDIT-MUE", message="units over the limit", reason="documented", by=coder
    )
    answer = Addendum.objects.create(encounter=billed, what="flush", why="query", author=coder)
    DocumentationQuery.objects.create(
        encounter=billed, run=run, rule="RAC-5", question="The flush?", asked_by=coder,
        answered_by_addendum=answer,
    )  # fmt: skip
    item.refresh_from_db()
    review_accept(item=item, user=coder)
    assert export_create(user=coder).export is not None
    addendum_for_test(billed, coder)
    chemo = Administration.objects.get(encounter=billed, drug__name="paclitaxel")
    Administration.objects.filter(pk=chemo.pk).update(stop=chemo.start + timedelta(minutes=150))
    _, created = charge_run_generate(encounter_id=billed.pk, trigger="addendum")
    assert created
    other, _, _ = reviewed()
    return [billed, other]


def _arguments(read: Any, encounter: Encounter) -> list[tuple[Any, ...]]:
    """Arguments by the build's parameter names: this encounter's id (and one no row has), and
    for a collection all of its ids, one, none, and all in reverse."""
    ids = {
        "run_ids": list(ChargeRun.objects.filter(encounter=encounter).values_list("pk", flat=True)),
        "drug_ids": sorted(set(encounter.administrations.values_list("drug_id", flat=True))),
        # A worklist page's: this encounter and another signed one.
        "encounter_ids": sorted(
            set(
                Encounter.objects.filter(status=Encounter.Status.SIGNED).values_list(
                    "pk", flat=True
                )
            )
            | {encounter.pk}
        ),
    }
    out: list[tuple[Any, ...]] = []
    for name in read.build.__code__.co_varnames[: read.build.__code__.co_argcount]:
        if name == "encounter_id":
            out += [(encounter.pk,), (0,)]
        else:
            every = ids[name]
            out += [(every,), (every[:1],), ([],), (list(reversed(every)),)]
    return out


def test_every_review_read_gives_the_orms_rows(coder_user) -> None:
    encounters = _encounters(coder_user)
    assert len(review_reads.READS) >= 16
    compared = 0
    for name, read in review_reads.READS.items():
        for encounter in encounters:
            for args in _arguments(read, encounter):
                got = [_snapshot(row) for row in read(*args)]
                assert got == [_snapshot(row) for row in read.build(*args)], (name, args)
                compared += len(got)
    assert compared > 60


def test_runs_come_with_their_children_as_the_prefetch_gave_them(coder_user) -> None:
    """`runs_with_children`: each run's lines, findings, corrections (with who and which line)
    and overrides, the same rows as `prefetch_related` gave, read with no query more."""
    encounter = _encounters(coder_user)[0]
    ours = review_reads.runs_with_children(encounter)
    theirs = list(
        ChargeRun.objects.filter(encounter=encounter).prefetch_related(
            "lines", "findings", "corrections__by", "corrections__decided_by",
            "corrections__line", "edit_overrides__by",
        )
    )  # fmt: skip
    assert [r.pk for r in ours] == [r.pk for r in theirs] and len(ours) == 2
    with CaptureQueriesContext(connection) as captured:
        for mine, orm in zip(ours, theirs, strict=True):
            for name in ("lines", "findings", "corrections", "edit_overrides"):
                rows = list(getattr(mine, name).all())
                # Their joins one level deep (a run here also knows its encounter, as
                # `encounter.charge_runs` would; the ORM's read of runs did not).
                assert [_snapshot(r, 2) for r in rows] == [
                    _snapshot(r, 2) for r in getattr(orm, name).all()
                ], name
                assert all(r.run is mine for r in rows)
            for correction in mine.corrections.all():
                assert correction.by.username and (correction.line is None or correction.line.code)
    assert captured.captured_queries == []
    assert any(r.corrections.all() for r in ours) and any(r.edit_overrides.all() for r in ours)


def test_a_worklist_page_reads_its_rows_as_the_prefetch_gave_them(coder_user) -> None:
    """`worklist_rows`: the page's encounters in the worklist's order, with the findings of their
    current run counted and whether any was sent to billing, each with its current run (only
    that one): the rows the ORM's prefetch gave, and nothing more read. (What each run's row says
    of its charges, from its lines and corrections, is coding/worklist_charges.py's:
    tests/coding/test_worklist_charges.py.)"""
    encounters = _encounters(coder_user)
    ids = [e.pk for e in encounters]
    ours = review_reads.worklist_rows(ids)
    current = ChargeRun.objects.filter(is_current=True).defer(
        "input_snapshot", "billing_snapshot", "result"
    )
    theirs = list(
        Encounter.objects.filter(pk__in=ids)
        .order_by("-arrived_at", "-pk")
        .prefetch_related(Prefetch("charge_runs", queryset=current, to_attr="current_runs"))
    )
    assert [e.pk for e in ours] == [e.pk for e in theirs]
    billed = next(e for e in ours if e.pk == encounters[0].pk)
    assert (
        billed.finding_count
        == ChargeFinding.objects.filter(run__encounter=billed, run__is_current=True).count()
    )
    for mine, orm in zip(ours, theirs, strict=True):
        assert [r.pk for r in mine.current_runs] == [r.pk for r in orm.current_runs]
        assert len(mine.current_runs) == 1 and mine.current_runs[0].encounter is mine
        for run, orm_run in zip(mine.current_runs, orm.current_runs, strict=True):
            assert _snapshot(run, -1) == _snapshot(orm_run, -1)  # the columns (encounter: above)
    # What the worklist's rows use of them reads nothing more.
    fresh = review_reads.worklist_rows(ids)
    with CaptureQueriesContext(connection) as captured:
        for row in fresh:
            assert row.patient.name and (row.review_item is None or row.review_item.state)
            for run in row.current_runs:
                assert run.encounter is row and run.error is not None
    assert captured.captured_queries == []
    assert review_reads.worklist_rows([]) == []


def test_the_claims_facts_and_the_standing_charges_read_as_before(coder_user) -> None:
    encounter = _encounters(coder_user)[0]
    facts = record_facts(encounter, run=None)  # today's formulary: its NDCs read
    orm = encounter.administrations.select_related("drug", "order__drug", "created_by")
    assert [_snapshot(a, 1) for a in facts.administrations.values()] == [
        _snapshot(a, 1) for a in orm
    ]
    assert facts.ndcs  # the billable drug's NDCs, preferred first
    for drug_id, stocked in facts.ndcs.items():
        assert [n.pk for n in stocked] == list(
            DrugNdc.objects.filter(drug_id=drug_id)
            .order_by("-preferred", "ndc")
            .values_list("pk", flat=True)
        )
    standing = standing_charges(encounter.pk)
    orm_standing = LedgerEntry.objects.filter(
        encounter_id=encounter.pk, kind=LedgerEntry.Kind.CHARGE, reversed_by__isnull=True
    ).order_by("pk")
    assert standing and [_snapshot(e) for e in standing] == [_snapshot(e) for e in orm_standing]


def test_the_review_page_reads_a_fixed_number_of_statements(coder_user) -> None:
    """The review page of a billed, corrected, re-run encounter: its reads are the prepared ones
    (on PostgreSQL each one EXECUTEd after its first PREPARE), and what it shows is all there."""
    encounter = _encounters(coder_user)[0]
    client = Client()
    client.force_login(coder_user)
    url = reverse("coding:encounter_charges", args=[encounter.pk])
    assert client.get(url).status_code == 200  # the statements prepared on this connection
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "second site per the flowsheet" in html and "The flush?" in html
    assert ReviewItem.objects.get(encounter=encounter).run.is_current
    # The administrations read once, for both; one read more (26): the item's acceptances in
    # the audit trail ("Accepted by ...; earlier by ...", `review_reads.acceptances`).
    assert len(captured.captured_queries) <= 26
    if connection.vendor == "postgresql":
        executed = [q for q in captured.captured_queries if q["sql"].startswith("EXECUTE ")]
        assert len(executed) >= 15


@ON_POSTGRESQL
def test_every_review_read_runs_as_a_statement_planned_once(coder_user) -> None:
    encounter = _encounters(coder_user)[0]
    for name, read in review_reads.READS.items():
        for args in _arguments(read, encounter):
            with CaptureQueriesContext(connection) as captured:
                read(*args)
            for query in captured.captured_queries:
                assert query["sql"].startswith(("PREPARE ", "EXECUTE ")), (name, args)
