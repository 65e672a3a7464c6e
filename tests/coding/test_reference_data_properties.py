"""A stateful property test: a charge already billed is never lost or doubled, and is re-sent
only when what the claim carries for the service changed (coding/ledger.py, coding/claim.py).

Sequences of exports, charge master reloads effective after the date of service (new prices,
codes dropped), a pharmacist's change of the preferred NDC or of the drug's HCPCS code (through
the services, the charges refreshed as they are after commit), an NDC's units per billing unit
edited in the admin, the nurse renamed, addenda on a line that changes no charge, real changes
of the record (the chemotherapy's length and the drug's dose: units), the coder taking exported
charges back ("Correct after billing") and accepting them again, or correcting the drug line's
units, on one signed encounter. After every step: what billing holds (charges minus credits)
equals the accepted lines of the last export, and the current accepted lines whenever the
encounter stands exported; while it stands exported, the next export would send nothing (the
reference data changed, not what was claimed); every credit reverses its charge as sent, field
for field, NDC included; every drug charge standing carries an NDC (the drug always lists one).
An export after only reference-data changes sends nothing for the encounter.
"""

import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import TestCase
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from coding.chargemaster import BEGINNING, charge_master_load, charge_master_parse
from coding.claim import claim_details
from coding.corrections import correction_resolve, corrections_waiting
from coding.exports import export_create, ledger_sum, sendable
from coding.ledger import ledger_difference, standing_charges
from coding.models import ChargeMasterItem, ChargeRun, LedgerEntry, ReviewItem
from coding.review import (
    charge_line_correct,
    effective_lines,
    review_accept,
    review_claim,
    review_reopen,
)
from coding.services import charge_run_generate
from mar.models import Administration, Drug, DrugNdc, Encounter, Order
from mar.pharmacy.services import drug_ndc_prefer, drug_save
from tests import factories
from tests.coding.review_helpers import addendum_for_test, lines_sum, reviewed

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "coding" / "data" / "charge_master_sample.csv"
SERVICE_DAY = date(2026, 3, 2)  # the factory's visit
NDCS = ("00703321701", "00703321601")
VALID_NPI = "1234567893"


class ReferenceData(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex
        self.coder = factories.user_create(username=f"coder-r{tag}", role="coder")
        self.pharmacist = factories.user_create(username=f"rph-r{tag}", role="pharmacist")
        self.nurse = factories.user_create(username=f"rn-r{tag}", role="nurse")
        User.objects.filter(pk=self.nurse.pk).update(first_name="Maria", last_name="Lopez")
        # Each example starts from the sample charge master, in effect from the beginning.
        ChargeMasterItem.objects.all().delete()
        # The sample, and the code the pharmacist may recode paclitaxel to.
        self.rows = charge_master_parse(
            SAMPLE.read_text() + '"J9264",0636,"paclitaxel protein-bound, per 1 mg",12.00\n'
        )
        charge_master_load(rows=self.rows, effective_from=BEGINNING)
        self.encounter, _, self.item = reviewed(nurse=self.nurse, billable=True)
        drug = Administration.objects.get(encounter=self.encounter, drug__name="paclitaxel").drug
        DrugNdc.objects.filter(drug=drug).update(preferred=False)
        for n, ndc in enumerate(NDCS):
            DrugNdc.objects.update_or_create(
                drug=drug, ndc=ndc,
                defaults={"unit": "ML", "active": True, "preferred": n == 0,
                          "units_per_billing_unit": Decimal("0.1667")},
            )  # fmt: skip
        addendum_for_test(self.encounter, self.coder)  # the prescriber's NPI, on a signed record
        Order.objects.filter(encounter=self.encounter, drug=drug).update(
            ordering_provider="Ana Ortiz", ordering_provider_npi=VALID_NPI
        )
        # The packages listed after the first run was made (its drug line carried no NDC): the
        # charges made again, as a pharmacist's listing through her service has them made.
        charge_run_generate(encounter_id=self.encounter.pk, trigger="billing_change")
        self.sent_model: dict = {}
        self.exported_once = False
        self.claim_changed = False  # a real change of what is claimed since the last export
        # An NDC's units per billing unit edited since the last run was made: a new run reads
        # the formulary as it is then, so its drug lines' NDC quantity is claimed anew.
        self.per_unit_edited = False

    def _new_run_made(self) -> None:
        if self.per_unit_edited:
            self.claim_changed = True
            self.per_unit_edited = False

    def _item(self) -> ReviewItem:
        return ReviewItem.objects.select_related("run").get(pk=self.item.pk)

    def _run_again(self, change) -> None:
        """An addendum: `change` made to the record, and the antiemetic push charted a minute
        longer or shorter (so there is always a new run, back to review)."""
        before = ChargeRun.objects.get(encounter=self.encounter, is_current=True)
        addendum_for_test(self.encounter, self.coder)
        change()
        push = Administration.objects.get(encounter=self.encounter, drug__name="ondansetron")
        minutes = 3 if push.stop - push.start == timedelta(minutes=2) else 2
        Administration.objects.filter(pk=push.pk).update(
            stop=push.start + timedelta(minutes=minutes)
        )
        charge_run_generate(encounter_id=self.encounter.pk, trigger="addendum")
        self._new_run_made()
        # A pharmacist's billing-data change after export flagged the exported run and waited
        # (coding/formulary_changes.py): this run is the first to carry it (the drug line's new
        # HCPCS code), a change of what is claimed though the addendum itself changed no charge.
        after = ChargeRun.objects.get(encounter=self.encounter, is_current=True)
        if lines_sum(after) != lines_sum(before):
            self.claim_changed = True

    # --- the record -------------------------------------------------------------------

    @rule()
    def addendum_elsewhere(self) -> None:
        """An addendum on a line that changes no charge."""
        self._run_again(lambda: None)

    @rule(minutes=st.sampled_from([70, 100, 150, 180, 200]), more=st.sampled_from([0, 10, 25]))
    def addendum_units(self, minutes: int, more: int) -> None:
        """A real change: the chemotherapy's length (96415 units) and the dose (J9267 units)."""
        adm = Administration.objects.get(encounter=self.encounter, drug__name="paclitaxel")

        def change() -> None:
            Administration.objects.filter(pk=adm.pk).update(
                stop=adm.start + timedelta(minutes=minutes),
                dose_value=Decimal(175) + more,
            )

        self._run_again(change)
        self.claim_changed = True

    # --- reference data ---------------------------------------------------------------

    @rule(
        days=st.integers(1, 300),
        bump=st.sampled_from([Decimal("0.00"), Decimal("5.00"), Decimal("60.00")]),
        drop=st.booleans(),
    )
    def reload_charge_master(self, days: int, bump: Decimal, drop: bool) -> None:
        """The charge master reloaded with new prices from a date after the service (some codes
        dropped from then on)."""
        rows = [
            type(row)(
                row.code, row.revenue_code, row.description + " (rev.)", row.unit_price + bump
            )
            for row in self.rows
            if not (drop and row.code in ("96415", "96375"))
        ]
        charge_master_load(rows=rows, effective_from=SERVICE_DAY + timedelta(days=days))

    def _refreshed(self, change) -> None:
        """A pharmacist's change through her service, its charges refreshed as after its commit
        (a run not exported made again, an exported one flagged). A new run of other codes is a
        change of what is claimed."""
        before = ChargeRun.objects.get(encounter=self.encounter, is_current=True)
        with TestCase.captureOnCommitCallbacks(execute=True):
            change()
        after = ChargeRun.objects.get(encounter=self.encounter, is_current=True)
        if after.pk != before.pk:
            self._new_run_made()
            if lines_sum(after) != lines_sum(before):
                self.claim_changed = True

    def _paclitaxel(self) -> Drug:
        return Drug.objects.get(name="paclitaxel")

    @rule()
    def prefer_other_ndc(self) -> None:
        other = DrugNdc.objects.filter(
            drug=self._paclitaxel(), ndc__in=NDCS, preferred=False
        ).first()
        if other is not None:
            self._refreshed(lambda: drug_ndc_prefer(ndc=other, user=self.pharmacist))

    @rule()
    def recode_drug(self) -> None:
        """The pharmacist changes paclitaxel's HCPCS code (J9267 <-> J9264) on the drug's form."""
        drug = self._paclitaxel()
        code = "J9264" if drug.hcpcs_code == "J9267" else "J9267"

        def recode() -> None:
            drug_save(
                drug=drug, name=drug.name, synonyms=drug.synonyms, hcpcs=code,
                billing_unit="1 mg", note=drug.class_note, user=self.pharmacist,
                container=drug.container, reason="HCPCS code restated",
            )  # fmt: skip

        self._refreshed(recode)

    @rule(per_unit=st.sampled_from([Decimal("0.1667"), Decimal("0.2"), Decimal("0.5")]))
    def edit_ndc_in_admin(self, per_unit: Decimal) -> None:
        """An NDC's units per billing unit edited in the admin: no service, no refresh."""
        edited = DrugNdc.objects.filter(drug=self._paclitaxel(), ndc__in=NDCS).exclude(
            units_per_billing_unit=per_unit
        )
        if edited.update(units_per_billing_unit=per_unit):
            self.per_unit_edited = True

    @rule(last=st.sampled_from(["Lopez", "Lopez-Reyes", "Reyes"]))
    def rename_nurse(self, last: str) -> None:
        User.objects.filter(pk=self.nurse.pk).update(last_name=last)

    # --- billing ----------------------------------------------------------------------

    @rule()
    def correct_after_billing(self) -> None:
        """The coder takes exported charges back and accepts them again, unchanged: the next
        export sends nothing unless something claimed changed since."""
        item = self._item()
        if item.state != ReviewItem.State.EXPORTED:
            return
        item = review_reopen(item=item, user=self.coder)
        review_accept(item=item, user=self.coder)

    @rule(more=st.sampled_from([-10, 10]))
    def correct_drug_units(self, more: int) -> None:
        """The coder corrects the drug given's units (taking exported charges back first)."""
        item = self._item()
        if item.state == ReviewItem.State.EXPORTED:
            item = review_reopen(item=item, user=self.coder)
        elif item.state == ReviewItem.State.NEW:
            item = review_claim(user=self.coder, item_id=item.pk)
        if item.state != ReviewItem.State.IN_REVIEW or item.claimed_by_id != self.coder.pk:
            return
        line = next(
            (ln for ln in effective_lines(item.run) if ln.source == "drug" and not ln.modifiers),
            None,
        )
        if line is None or line.line_id is None:
            return
        charge_line_correct(
            item=item, user=self.coder, action="change",
            line=item.run.lines.get(pk=line.line_id), code=line.code, units=line.units + more,
            reason="property test",
        )  # fmt: skip
        self.claim_changed = True

    @rule()
    def accept_and_export(self) -> None:
        item = self._item()
        if item.state == ReviewItem.State.NEW:
            item = review_claim(user=self.coder, item_id=item.pk)
        if item.state == ReviewItem.State.IN_REVIEW and item.claimed_by_id == self.coder.pk:
            for correction in corrections_waiting(item.run):  # its line changed in a new run
                correction_resolve(
                    item=item, user=self.coder, correction=correction, decision="drop",
                    reason="re-coded since",
                )  # fmt: skip
                self.claim_changed = True
            review_accept(item=item, user=self.coder)
        before = LedgerEntry.objects.filter(encounter=self.encounter).count()
        try:
            export_create(user=self.coder)
        except ValidationError:
            return  # nothing accepted anywhere
        item = self._item()
        if item.state != ReviewItem.State.EXPORTED:
            return
        after = LedgerEntry.objects.filter(encounter=self.encounter).count()
        if self.exported_once and not self.claim_changed:
            assert after == before, "re-sent after only reference data changed"
        self.sent_model = lines_sum(item.run)
        self.exported_once = True
        self.claim_changed = False

    # --- what must hold ---------------------------------------------------------------

    @invariant()
    def billing_holds_the_accepted_lines(self) -> None:
        assert ledger_sum(self.encounter.pk) == self.sent_model
        item = self._item()
        if item.state == ReviewItem.State.EXPORTED:
            assert ledger_sum(self.encounter.pk) == lines_sum(item.run)

    @invariant()
    def every_credit_reverses_its_charge_as_sent(self) -> None:
        """A credit is the charge it reverses, field for field, its NDC, N4 unit and quantity
        included: billing is told exactly which line to take back."""
        credits = LedgerEntry.objects.filter(encounter=self.encounter, kind="CD")
        for credit in credits.select_related("reverses"):
            charge = credit.reverses
            assert charge is not None and charge.kind == "CG"
            assert (
                credit.transaction_id, credit.code, credit.modifiers, credit.units,
                credit.date, credit.administrations, credit.detail,
            ) == (
                charge.transaction_id, charge.code, charge.modifiers, charge.units,
                charge.date, charge.administrations, charge.detail,
            )  # fmt: skip

    @invariant()
    def every_drug_charge_standing_carries_an_ndc(self) -> None:
        """The drug always lists an active NDC: no drug line goes to billing without one."""
        for charge in standing_charges(self.encounter.pk):
            if charge.code.startswith("J"):
                assert charge.detail.get("ndc") in NDCS, charge.detail

    @invariant()
    def nothing_to_send_while_exported(self) -> None:
        item = self._item()
        if item.state != ReviewItem.State.EXPORTED:
            return
        lines = effective_lines(item.run)
        encounter = Encounter.objects.get(pk=self.encounter.pk)  # its nurse read afresh
        details = claim_details(encounter, lines, run=item.run)
        desired = [sendable(line, d) for line, d in zip(lines, details, strict=True)]
        difference = ledger_difference(standing_charges(self.encounter.pk), desired)
        assert difference.empty, (difference.credits, difference.new)


def test_reference_data_changes_never_re_send_a_billed_line() -> None:
    run_state_machine_as_test(
        ReferenceData,
        settings=settings(
            max_examples=10,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
