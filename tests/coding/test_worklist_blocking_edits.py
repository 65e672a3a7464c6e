"""The worklist row says how many edits block the encounter's export (coding/worklist_charges.py
`RunCharges.blocking`, the review page's `charge_edits_for_run(...).blocking`: not overridden).

QA: the "Findings" column showed 0 for an encounter with 4 blocking export edits (edits are
worked out, not stored findings), and nothing on the worklist said its export was blocked."""

import re

import pytest
from django.urls import reverse

from coding.models import ChargeRun, MueLimit
from coding.review import charge_edits_for_run, edit_override_create, review_claim
from mar import roles
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db


def row_of(client, encounter) -> str:
    page = client.get(reverse("coding:worklist")).content.decode()
    row = page[page.index(f'data-encounter="{encounter.pk}"') :]
    return row[: row.index("</tr>")]


def blocking_said(row: str) -> str | None:
    found = re.search(r'data-testid="blocking-edits"[^>]*>([^<]*)<', row)
    return found.group(1) if found else None


def blocking(run: ChargeRun) -> list:
    return charge_edits_for_run(ChargeRun.objects.get(pk=run.pk)).blocking


def test_the_row_says_how_many_edits_block_export_as_the_review_page_counts_them(
    client_as, coder_user
) -> None:
    encounter, run, item = reviewed(account_number="")  # EDIT-ACCOUNT blocks
    client = client_as(roles.CODER)
    before = len(blocking(run))
    assert before >= 1
    said = "1 edit blocks export" if before == 1 else f"{before} edits block export"
    assert blocking_said(row_of(client, encounter)) == said

    # A limit loaded since (the row kept drawn is not shown stale): one edit more.
    code, units = next((line.code, line.units) for line in run.lines.all())
    MueLimit.objects.create(code=code, limit=max(units - 1, 0))
    assert len(blocking(run)) == before + 1
    assert blocking_said(row_of(client, encounter)) == f"{before + 1} edits block export"

    # Each overridden by the coder: no longer blocking, and the row says nothing.
    item = review_claim(user=coder_user, item_id=item.pk)
    for edit in blocking(run):
        edit_override_create(
            item=item, user=coder_user, rule=edit.finding.rule, message=edit.finding.message,
            reason="medically necessary, documented",
        )  # fmt: skip
    assert blocking(run) == []
    assert blocking_said(row_of(client, encounter)) is None


def test_a_row_with_no_blocking_edit_says_nothing_of_export(client_as) -> None:
    encounter, run, _ = reviewed()
    assert blocking(run) == []
    row = row_of(client_as(roles.CODER), encounter)
    assert blocking_said(row) is None and "block export" not in row
