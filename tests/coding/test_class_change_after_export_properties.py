"""A stateful property test of a drug's class changing over the life of billed charges
(coding/class_after_export.py, coding/formulary_changes.py, coding/ledger.py).

On one signed chemotherapy visit (saline hydration, an ondansetron push, paclitaxel): the
pharmacist changes saline's or ondansetron's class (through her service, the charges refreshed
as after her commit), overrides or un-overrides the class on the saline order; the coder
accepts and exports, re-runs the charges under the class now or says the billed claim stands,
takes exported charges back ("Correct after billing") and accepts them again; the nurse writes
an addendum that makes a new run. After every step:
- the worklist row shows a pending class change ("Drug class changed after export") exactly
  when the current run was exported and the classes its record was coded with differ from
  those the administrations have now (read afresh through the record's bridge), unless the coder
  said the billed claim stands and no step altered that difference since;
- a current run not exported was coded with the classes now (it is regenerated);
- what billing holds (charges less credits) is the lines of the last export, and while the
  encounter stands exported the next export would send nothing: nothing billed is sent twice
  nor lost; every credit reverses a charge still standing once.
"""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.test import Client, TestCase
from django.urls import reverse
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from coding import review_reads
from coding.claim import claim_details
from coding.class_after_export import class_change_rerun, class_change_stands
from coding.corrections import correction_resolve, corrections_waiting
from coding.exports import export_create, ledger_sum, sendable
from coding.ledger import ledger_difference, standing_charges
from coding.models import ChargeRun, LedgerEntry, ReviewItem
from coding.review import effective_lines, review_accept, review_claim, review_reopen
from coding.services import charge_run_generate
from mar.models import Administration, Drug, DrugClass, Encounter, Order
from mar.pharmacy.services import drug_class_change, order_class_override
from mar.record import record_dict_from_encounter
from tests import factories
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = pytest.mark.django_db

SALINE = "sodium chloride 0.9%"
CLASSES = [DrugClass.HYDRATION, DrugClass.THERAPEUTIC, DrugClass.CHEMO]
TOGGLE = {
    SALINE: (DrugClass.HYDRATION, DrugClass.THERAPEUTIC),
    "ondansetron": (DrugClass.THERAPEUTIC, DrugClass.CHEMO),
}


def lines_sum(run: ChargeRun) -> dict:
    total: dict = {}
    for line in effective_lines(run):
        key = (line.code, tuple(line.modifiers), line.date)
        total[key] = total.get(key, 0) + line.units
    return {k: v for k, v in total.items() if v}


def difference_of(run: ChargeRun, encounter: Encounter) -> list[tuple]:
    """The administrations the run coded with another class than the record gives them now,
    read through the record's bridge (not coding's own comparison)."""
    now = {
        adm["id"]: adm.get("drug_class") or None
        for adm in record_dict_from_encounter(encounter)["administrations"]
    }
    return sorted(
        (adm["id"], adm.get("drug_class") or None, now[adm["id"]])
        for adm in run.input_snapshot["administrations"]
        if (adm.get("drug_class") or None) != now.get(adm["id"])
    )


class ClassOverTime(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex
        self.coder = factories.user_create(username=f"coder-c{tag}", role="coder")
        self.pharmacist = factories.user_create(username=f"rph-c{tag}", role="pharmacist")
        # Every example starts from the formulary's classes (the drugs are shared).
        Drug.objects.filter(name=SALINE).update(drug_class=DrugClass.HYDRATION)
        Drug.objects.filter(name="ondansetron").update(drug_class=DrugClass.THERAPEUTIC)
        self.encounter, _, self.item = reviewed()
        self.client = Client()
        self.client.force_login(self.coder)
        self.sent_model: dict = {}
        self.accept_and_export()  # the charges billed first, as QA found them
        # The run and difference the coder said the billed claim stands for, while no step has
        # altered it since.
        self.stood: tuple[int, list[tuple]] | None = None

    def _item(self) -> ReviewItem:
        return ReviewItem.objects.select_related("run").get(pk=self.item.pk)

    def _run(self) -> ChargeRun:
        return ChargeRun.objects.get(encounter=self.encounter, is_current=True)

    # --- the pharmacist ---------------------------------------------------------------

    @rule(
        name=st.sampled_from([SALINE, "ondansetron"]), third=st.sampled_from([False] * 3 + [True])
    )
    def change_class(self, name: str, third: bool) -> None:
        """Each drug's class toggled between two (so a change is often a change back to what
        was billed), or now and then a third."""
        drug = Drug.objects.get(name=name)
        pair = TOGGLE[name]
        to_class = pair[0] if drug.drug_class != pair[0] else pair[1]
        if third:
            to_class = next(c for c in CLASSES if c not in pair)
            if drug.drug_class == to_class:
                return
        with TestCase.captureOnCommitCallbacks(execute=True):
            drug_class_change(drug=drug, to_class=to_class, reason="property", user=self.pharmacist)

    @rule(to_class=st.sampled_from([None, *CLASSES]))
    def override_saline_order(self, to_class: str | None) -> None:
        order = Order.objects.get(encounter=self.encounter, drug__name=SALINE)
        if (order.class_override or None) == to_class:
            return
        with TestCase.captureOnCommitCallbacks(execute=True):
            order_class_override(
                order=order, drug_class=to_class, reason="property", user=self.pharmacist
            )

    # --- the nurse ----------------------------------------------------------------------

    @rule()
    def addendum(self) -> None:
        """An addendum: the push charted a minute longer or shorter, a new run."""
        addendum_for_test(self.encounter, self.coder)
        push = Administration.objects.get(encounter=self.encounter, drug__name="ondansetron")
        minutes = 3 if push.stop - push.start == timedelta(minutes=2) else 2
        Administration.objects.filter(pk=push.pk).update(
            stop=push.start + timedelta(minutes=minutes)
        )
        charge_run_generate(encounter_id=self.encounter.pk, trigger="addendum")

    # --- the coder ----------------------------------------------------------------------

    @rule(note=st.sampled_from(["", "payer asked"]))
    def rerun(self, note: str) -> None:
        try:
            class_change_rerun(item=self._item(), user=self.coder, reason=note)
        except ValidationError:
            assert not self._pending_truth()
            return

    @rule()
    def stands(self) -> None:
        run = self._run()
        difference = difference_of(run, self.encounter)
        try:
            class_change_stands(item=self._item(), user=self.coder, reason="contract")
        except ValidationError:
            assert not self._pending_truth()
            return
        self.stood = (run.pk, difference)

    @rule()
    def correct_after_billing(self) -> None:
        item = self._item()
        if item.state != ReviewItem.State.EXPORTED:
            return
        item = review_reopen(item=item, user=self.coder)
        review_accept(item=item, user=self.coder)

    @rule()
    def accept_and_export(self) -> None:
        item = self._item()
        if item.state == ReviewItem.State.NEW:
            item = review_claim(user=self.coder, item_id=item.pk)
        if item.state == ReviewItem.State.IN_REVIEW and item.claimed_by_id == self.coder.pk:
            for correction in corrections_waiting(item.run):
                correction_resolve(
                    item=item, user=self.coder, correction=correction, decision="drop",
                    reason="re-coded since",
                )  # fmt: skip
            review_accept(item=item, user=self.coder)
        try:
            export_create(user=self.coder)
        except ValidationError:
            return
        item = self._item()
        if item.state == ReviewItem.State.EXPORTED:
            self.sent_model = lines_sum(item.run)

    # --- what must hold -----------------------------------------------------------------

    def _pending_truth(self) -> bool:
        """Read after every step (the invariants): a decision that the claim stands is
        forgotten at the first step that alters the run's difference or makes another run
        current, as the flag is raised again then."""
        run = self._run()
        difference = difference_of(run, self.encounter)
        if self.stood is not None and self.stood != (run.pk, difference):
            self.stood = None
        if run.exported_at is None:
            return False
        return bool(difference) and self.stood != (run.pk, difference)

    @invariant()
    def the_worklist_shows_a_pending_class_change_exactly_when_the_classes_differ(self) -> None:
        truth = self._pending_truth()
        (row,) = review_reads.worklist_encounters([self.encounter.pk])
        assert row.class_changed == truth
        page = self.client.get(reverse("coding:worklist")).content.decode()
        start = page.index(f'data-encounter="{self.encounter.pk}"')
        shown = 'data-testid="class-changed"' in page[start : page.index("</tr>", start)]
        assert shown == truth

    @invariant()
    def a_run_not_exported_is_coded_with_the_classes_now(self) -> None:
        run = self._run()
        if run.exported_at is None:
            assert difference_of(run, self.encounter) == []

    @invariant()
    def billing_holds_the_last_export_and_nothing_is_sent_twice(self) -> None:
        assert ledger_sum(self.encounter.pk) == self.sent_model
        entries = LedgerEntry.objects.filter(encounter=self.encounter)
        # A charge is reversed at most once, and only a charge of this encounter.
        assert (
            not entries.filter(kind="CD").values("reverses").annotate(n=Count("pk")).filter(n__gt=1)
        )
        for credit in entries.filter(kind="CD").select_related("reverses"):
            assert credit.reverses.kind == "CG"
            assert credit.reverses.encounter_id == self.encounter.pk
        item = self._item()
        if item.state == ReviewItem.State.EXPORTED:
            # Billing holds the accepted lines: the next export would send nothing.
            assert ledger_sum(self.encounter.pk) == lines_sum(item.run)
            lines = effective_lines(item.run)
            encounter = Encounter.objects.get(pk=self.encounter.pk)
            details = claim_details(encounter, lines, run=item.run)
            desired = [sendable(line, d) for line, d in zip(lines, details, strict=True)]
            difference = ledger_difference(standing_charges(self.encounter.pk), desired)
            assert difference.empty, (difference.credits, difference.new)


def test_a_pending_class_change_is_shown_exactly_while_the_billed_classes_differ() -> None:
    run_state_machine_as_test(
        ClassOverTime,
        settings=settings(
            max_examples=12,
            stateful_step_count=14,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
