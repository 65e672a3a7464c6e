"""A stateful property test: a charge already billed is never lost or doubled, and is re-sent
only when what the claim carries for the service changed (coding/ledger.py, coding/claim.py).

Sequences of exports, charge master reloads effective after the date of service (new prices,
codes dropped), a pharmacist's change of the preferred NDC, the nurse renamed, addenda on a
line that changes no charge, and real changes of the record (the chemotherapy's length and the
drug's dose: units) on one signed encounter. After every step: what billing holds (charges
minus credits) equals the accepted lines of the last export, and the current accepted lines
whenever the encounter stands exported; and while it stands exported, the next export would
send nothing (the reference data changed, not what was claimed). An export after only
reference-data changes sends nothing for the encounter.
"""

import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from coding.chargemaster import BEGINNING, charge_master_load, charge_master_parse
from coding.claim import claim_details
from coding.exports import export_create, ledger_sum, sendable
from coding.ledger import ledger_difference, standing_charges
from coding.models import ChargeMasterItem, ChargeRun, LedgerEntry, ReviewItem
from coding.review import effective_lines, review_accept, review_claim
from coding.services import charge_run_generate
from mar.models import Administration, DrugNdc, Encounter, Order
from mar.pharmacy.services import drug_ndc_prefer
from tests import factories
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "coding" / "data" / "charge_master_sample.csv"
SERVICE_DAY = date(2026, 3, 2)  # the factory's visit
NDCS = ("00703321701", "00703321601")
VALID_NPI = "1234567893"


def lines_sum(run: ChargeRun) -> dict:
    total: dict = {}
    for line in effective_lines(run):
        key = (line.code, tuple(line.modifiers), line.date)
        total[key] = total.get(key, 0) + line.units
    return {k: v for k, v in total.items() if v}


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
        self.rows = charge_master_parse(SAMPLE.read_text())
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
        self.sent_model: dict = {}
        self.exported_once = False
        self.claim_changed = False  # a real change of the record since the last export

    def _item(self) -> ReviewItem:
        return ReviewItem.objects.select_related("run").get(pk=self.item.pk)

    def _run_again(self, change) -> None:
        """An addendum: `change` made to the record, and the antiemetic push charted a minute
        longer or shorter (so there is always a new run, back to review)."""
        addendum_for_test(self.encounter, self.coder)
        change()
        push = Administration.objects.get(encounter=self.encounter, drug__name="ondansetron")
        minutes = 3 if push.stop - push.start == timedelta(minutes=2) else 2
        Administration.objects.filter(pk=push.pk).update(
            stop=push.start + timedelta(minutes=minutes)
        )
        charge_run_generate(encounter_id=self.encounter.pk, trigger="addendum")

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

    @rule()
    def prefer_other_ndc(self) -> None:
        drug = Administration.objects.get(encounter=self.encounter, drug__name="paclitaxel").drug
        other = DrugNdc.objects.filter(drug=drug, ndc__in=NDCS, preferred=False).first()
        if other is not None:
            drug_ndc_prefer(ndc=other, user=self.pharmacist)

    @rule(last=st.sampled_from(["Lopez", "Lopez-Reyes", "Reyes"]))
    def rename_nurse(self, last: str) -> None:
        User.objects.filter(pk=self.nurse.pk).update(last_name=last)

    # --- billing ----------------------------------------------------------------------

    @rule()
    def accept_and_export(self) -> None:
        item = self._item()
        if item.state == ReviewItem.State.NEW:
            item = review_claim(user=self.coder, item_id=item.pk)
        if item.state == ReviewItem.State.IN_REVIEW and item.claimed_by_id == self.coder.pk:
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
