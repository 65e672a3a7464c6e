"""An account number entered after the visit's charges were exported (coding/ledger.py
`sent_without_account`): the bill that went out had none, so the charges are sent again under
it, as any change after export is: the worklist row and the review page say so, and the next
export credits each charge billed without the number and charges it again under it (PID-18,
the CSV's account_number, the FHIR context's identifier); each service stands once at billing.

QA: "An account number filled after export is not sent to billing": the re-run the number made
had the same lines, so the next export found nothing to send and billing never heard of it."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from coding import review_reads
from coding.exports import ACCOUNT_SYSTEM, _fhir_parse, export_create, ledger_sum
from coding.ledger import sent_without_account, standing_charges
from coding.models import ChargeRun, Export, LedgerEntry, ReviewItem
from coding.review import (
    charge_edits_for_run,
    edit_override_create,
    review_accept,
    review_claim,
    review_reopen,
)
from coding.services import charge_run_generate
from mar.models import Encounter
from mar.registration.services import encounter_account_set
from tests.coding.review_helpers import reviewed
from tests.coding.test_ledger_properties import Billing

pytestmark = pytest.mark.django_db

DESK = "registration desk"


def billed_without_account(coder):
    """A signed visit with no account number, its EDIT-ACCOUNT overridden, accepted and
    exported: billing holds its charges with no account number."""
    encounter, run, item = reviewed(account_number="")
    review_claim(user=coder, item_id=item.pk)
    (account,) = [e.finding for e in charge_edits_for_run(run).items]
    edit_override_create(
        item=item, user=coder, rule=account.rule, message=account.message,
        reason="Registration gives the account number on the paper claim today.",
    )  # fmt: skip
    review_accept(item=ReviewItem.objects.get(pk=item.pk), user=coder)
    first = export_create(user=coder).export
    assert first is not None
    charges = list(LedgerEntry.objects.filter(encounter=encounter, kind="CG").order_by("pk"))
    assert charges and {c.account_number for c in charges} == {""}
    return encounter, first, charges


def clerk_enters(client, encounter, number, capture):
    with capture(execute=True):
        response = client.post(
            reverse("registration:visit_account_set", args=[encounter.pk]),
            {"account_number": number},
        )
    assert response.status_code == 302
    encounter.refresh_from_db()


def accept_again(coder, encounter):
    item = ReviewItem.objects.get(encounter=encounter)
    if item.state == ReviewItem.State.EXPORTED:
        review_reopen(item=item, user=coder)  # "Correct after billing": held by her
    else:
        review_claim(user=coder, item_id=item.pk)
    review_accept(item=ReviewItem.objects.get(pk=item.pk), user=coder)


def test_the_number_entered_after_export_is_sent_again_and_nothing_is_billed_twice(
    coder_user, client_as, django_capture_on_commit_callbacks
) -> None:
    encounter, first, charges = billed_without_account(coder_user)
    units_before = ledger_sum(encounter.pk)
    coder = client_as("coder")
    page = coder.get(reverse("coding:worklist")).content.decode()
    assert 'data-testid="account-after-export"' not in page  # none entered yet: nothing to send

    clerk_enters(client_as("clerk"), encounter, "V-9100", django_capture_on_commit_callbacks)
    # Its own trigger: the coder reads that the account number was entered, not an addendum.
    assert ChargeRun.objects.get(encounter=encounter, is_current=True).trigger == "account"

    # The worklist row and the review page say the charges go again, and why.
    worklist = coder.get(reverse("coding:worklist")).content.decode()
    assert "Account number V-9100 arrived after export: send again" in worklist
    review = coder.get(reverse("coding:encounter_charges", args=[encounter.pk]))
    html = review.content.decode()
    assert 'data-testid="account-after-export"' in html
    assert f"Billing holds {len(charges)} charges sent without it" in html
    assert [e.pk for e in review.context["account_after_export"]] == [c.pk for c in charges]
    # What the next export sends, transaction for transaction: each billed charge credited and
    # charged again (the difference the page shows is the export's own plan).
    difference = review.context["billing_difference"]
    assert [e.pk for e in difference["credits"]] == [c.pk for c in charges]
    assert len(difference["charges"]) == len(charges) and difference["unchanged"] == 0

    accept_again(coder_user, encounter)
    # Accepted, not yet exported: the row still says it waits to go.
    assert "arrived after export" in coder.get(reverse("coding:worklist")).content.decode()
    second = export_create(user=coder_user).export
    assert second is not None and second.pk != first.pk

    sent = list(LedgerEntry.objects.filter(export=second).order_by("pk"))
    credits = [e for e in sent if e.kind == "CD"]
    new = [e for e in sent if e.kind == "CG"]
    assert [c.reverses_id for c in credits] == [c.pk for c in charges]
    assert sorted((e.code, e.units, e.date) for e in new) == sorted(
        (c.code, c.units, c.date) for c in charges
    )
    assert {e.account_number for e in sent} == {"V-9100"}
    # Nothing billed twice: every service stands once, as before, now under the number.
    assert ledger_sum(encounter.pk) == units_before
    standing = standing_charges(encounter.pk)
    assert {e.pk for e in standing} == {e.pk for e in new}
    assert sent_without_account(standing, "V-9100") == []

    # Parsed back: the number in every format, on every transaction.
    msg = parse_message(
        second.hl7_text.strip(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True
    )
    assert msg.pid.pid_18.cx_1.value == "V-9100"
    assert msg.pv1.pv1_19.cx_1.value == "V-9100"
    ft1s = [group.ft1 for group in msg.dft_p03_financial]
    assert [f.ft1_6.value for f in ft1s] == ["CD"] * len(charges) + ["CG"] * len(charges)
    assert [f.ft1_2.value for f in ft1s[: len(charges)]] == [c.transaction_id for c in charges]
    rows = list(csv.DictReader(io.StringIO(second.csv_text, newline="")))
    assert {r["account_number"] for r in rows} == {"V-9100"}
    credit_rows = [r for r in rows if r["transaction"] == "CD"]
    assert all("without account number V-9100 (entered since)" in r["why"] for r in credit_rows)
    from fhir.resources.R4B.bundle import Bundle

    bundle = _fhir_parse(Bundle, json.loads(second.fhir_json))
    items = [entry.resource for entry in bundle.entry]
    assert {(i.context.identifier.system, i.context.identifier.value) for i in items} == {
        (ACCOUNT_SYSTEM, "V-9100")
    }
    assert sorted(i.status for i in items) == ["billable"] * len(charges) + [
        "entered-in-error"
    ] * len(charges)

    # Sent: the row and the page no longer ask for it, and exporting again sends nothing.
    assert "arrived after export" not in coder.get(reverse("coding:worklist")).content.decode()
    html = coder.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert 'data-testid="account-after-export"' not in html
    exports = Export.objects.count()
    accept_again(coder_user, encounter)
    outcome = export_create(user=coder_user)
    assert outcome.export is None and Export.objects.count() == exports
    assert ledger_sum(encounter.pk) == units_before


def test_exported_again_under_the_number_the_coder_takes_back_from_billing(
    coder_user, client_as, django_capture_on_commit_callbacks
) -> None:
    """The number's re-run accepted and exported before this was sent (or the row exported by
    an earlier version that sent nothing): the item stands Exported, billing still lacks the
    number; the page says to take the charges back, and that re-sends them."""
    encounter, _, charges = billed_without_account(coder_user)
    Encounter.objects.filter(pk=encounter.pk).update(account_number="V-9200")
    ReviewItem.objects.filter(encounter=encounter).update(state=ReviewItem.State.EXPORTED)
    coder = client_as("coder")
    html = coder.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert "Account number V-9200 arrived after export" in html
    assert "Take them back into review (Correct after billing)" in html
    assert (
        "Account number V-9200 arrived after export"
        in coder.get(reverse("coding:worklist")).content.decode()
    )
    accept_again(coder_user, encounter)
    second = export_create(user=coder_user).export
    assert second is not None
    assert sorted(e.kind for e in LedgerEntry.objects.filter(export=second)) == sorted(
        ["CD", "CG"] * len(charges)
    )


def test_a_visit_billed_with_its_number_is_never_sent_again_for_it(coder_user, client_as) -> None:
    """Charges billed under the number the visit has: nothing said, nothing re-sent (the number
    is compared exactly as sent, per charge)."""
    encounter, _, item = reviewed(account_number="V-9300")
    review_claim(user=coder_user, item_id=item.pk)
    review_accept(item=ReviewItem.objects.get(pk=item.pk), user=coder_user)
    export_create(user=coder_user)
    assert {e.account_number for e in LedgerEntry.objects.filter(encounter=encounter)} == {"V-9300"}
    coder = client_as("coder")
    assert "arrived after export" not in coder.get(reverse("coding:worklist")).content.decode()
    accept_again(coder_user, encounter)
    assert export_create(user=coder_user).export is None


def test_still_no_number_nothing_to_send_again(coder_user, client_as) -> None:
    """Billed without a number that is still blank: nothing to send; the review page says
    nothing of it (the override of EDIT-ACCOUNT stands)."""
    encounter, _, _ = billed_without_account(coder_user)
    html = client_as("coder").get(reverse("coding:encounter_charges", args=[encounter.pk]))
    assert html.context["account_after_export"] == []
    assert sent_without_account(standing_charges(encounter.pk), "") == []


def test_the_migration_gives_each_entry_the_number_its_runs_record_carried(
    coder_user, django_capture_on_commit_callbacks
) -> None:
    """coding 0026: an entry billed before entries kept their number gets its run's (its
    record's, else the visit's for a record from before records carried it), so charges billed
    before the number arrived are sent again and the others are not."""
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("coding.migrations.0026_ledgerentry_account_number")
    without, _, charges = billed_without_account(coder_user)
    with django_capture_on_commit_callbacks(execute=True):
        encounter_account_set(encounter=without, account_number="V-9400", source=DESK)
    with_number, _, item = reviewed(account_number="V-9500")
    review_claim(user=coder_user, item_id=item.pk)
    review_accept(item=ReviewItem.objects.get(pk=item.pk), user=coder_user)
    export_create(user=coder_user)
    old_record = LedgerEntry.objects.filter(encounter=with_number).first().run
    snapshot = dict(old_record.input_snapshot)
    snapshot["encounter"] = {
        k: v for k, v in snapshot["encounter"].items() if k != "account_number"
    }
    ChargeRun.objects.filter(pk=old_record.pk).update(input_snapshot=snapshot)
    LedgerEntry.objects.update(account_number="")  # as the column came

    backfill.sent_under(apps, None)
    assert {e.account_number for e in LedgerEntry.objects.filter(encounter=without)} == {""}
    assert {e.account_number for e in LedgerEntry.objects.filter(encounter=with_number)} == {
        "V-9500"
    }
    assert len(sent_without_account(standing_charges(without.pk), "V-9400")) == len(charges)


class BillingAccountLater(Billing):
    """The Billing machine (tests/coding/test_ledger_properties.py: addenda, class changes,
    corrections, re-review, queries, accept, export) on a visit signed with no account number,
    its EDIT-ACCOUNT overridden when it holds acceptance, and registration entering the number
    at any step: what billing holds is what was accepted (units), every charge billed stands
    under the number once its run carrying it is exported, and the worklist says "send again"
    exactly while billing holds a charge sent without it."""

    def __init__(self) -> None:
        super().__init__(account_number="")
        self.account = ""

    @rule()
    def accept(self) -> None:
        item = self._claimed()
        if item is None:
            return
        run = ChargeRun.objects.get(pk=item.run_id)
        for edit in charge_edits_for_run(run).blocking:
            if edit.finding.rule == "EDIT-ACCOUNT":
                edit_override_create(
                    item=item, user=self.coder, rule=edit.finding.rule,
                    message=edit.finding.message, reason="Registration sends it later today.",
                )  # fmt: skip
        try:
            review_accept(item=ReviewItem.objects.get(pk=item.pk), user=self.coder)
        except ValidationError:
            pass  # corrections to re-review or an edit: the coder must act first

    @rule()
    def account_entered(self) -> None:
        if self.account:
            return
        self.account = f"V-{self.encounter.pk}"
        encounter_account_set(encounter=self.encounter, account_number=self.account, source=DESK)
        with self._rerun():  # the outbox's task, as it runs after the commit
            charge_run_generate(encounter_id=self.encounter.pk, trigger="addendum")

    @invariant()
    def billed_under_the_number_once_its_run_is_exported(self) -> None:
        stale = sent_without_account(standing_charges(self.encounter.pk), self.account)
        item = self._item()
        if item.state == ReviewItem.State.EXPORTED and self.account:
            carried = item.run.input_snapshot["encounter"].get("account_number")
            if carried == self.account:
                assert not stale, stale
        (row,) = review_reads.worklist_rows([self.encounter.pk])
        assert row.account_after_export == bool(stale)


def test_an_account_number_arriving_at_any_step_is_billed_once_under_it() -> None:
    run_state_machine_as_test(
        BillingAccountLater,
        settings=settings(
            max_examples=8,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
