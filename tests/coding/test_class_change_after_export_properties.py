"""A stateful property test of a drug's class, billing data and NDCs changing over the life of
billed charges (coding/class_after_export.py, coding/formulary_changes.py, coding/ledger.py).

On one signed chemotherapy visit (saline hydration, two ondansetron pushes billed as J2405, the
first scanned with a package not preferred, the second not scanned; paclitaxel billed as
J9267): the pharmacist changes saline's or ondansetron's class (through her service, the charges
refreshed as after her commit), overrides or un-overrides the class on the saline order,
changes paclitaxel's HCPCS code or container, makes another ondansetron package preferred, or
retires or reactivates the one preferred at first; the coder accepts and exports, re-runs the
charges under the formulary now or says the billed claim stands, takes exported charges back
("Correct after billing") and accepts them again; the nurse writes an addendum that makes a new
run. After every step:
- the worklist row shows a pending change ("Drug class changed after export", "Billing data
  ...", or both, as the difference is) exactly when the current run was exported and the
  classes its record was coded with, or the billing data and NDCs its drug lines were made
  with, differ from those the formulary gives now (read afresh: the classes through the
  record's bridge, the billing data and NDCs from the drug's rows by the claim's rules, not
  coding's own comparison), unless the coder said the billed claim stands and no step altered
  that difference since;
- a current run not exported was made with the classes, billing data and NDCs now (it is
  regenerated);
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
from mar.models import Administration, Drug, DrugClass, DrugNdc, Encounter, Order
from mar.pharmacy.services import (
    drug_class_change,
    drug_ndc_prefer,
    drug_ndc_reactivate,
    drug_ndc_retire,
    drug_save,
    order_class_override,
)
from mar.record import record_dict_from_encounter
from tests import factories
from tests.coding.review_helpers import (
    ONDANSETRON_NDCS,
    addendum_for_test,
    lines_sum,
    ondansetron_twice,
    paclitaxel_billable,
)

pytestmark = pytest.mark.django_db

SALINE = "sodium chloride 0.9%"
CLASSES = [DrugClass.HYDRATION, DrugClass.THERAPEUTIC, DrugClass.CHEMO]
TOGGLE = {
    SALINE: (DrugClass.HYDRATION, DrugClass.THERAPEUTIC),
    "ondansetron": (DrugClass.THERAPEUTIC, DrugClass.CHEMO),
}


def class_difference_of(run: ChargeRun, encounter: Encounter) -> list[tuple]:
    """The administrations the run coded with another class than the record gives them now,
    read through the record's bridge (not coding's own comparison)."""
    now = {
        adm["id"]: adm.get("drug_class") or None
        for adm in record_dict_from_encounter(encounter)["administrations"]
    }
    return sorted(
        (adm["id"], "drug_class", adm.get("drug_class") or None, now[adm["id"]])
        for adm in run.input_snapshot["administrations"]
        if (adm.get("drug_class") or None) != now.get(adm["id"])
    )


def billing_difference_of(run: ChargeRun, encounter: Encounter) -> list[tuple]:
    """What the run's drug lines were made with (its billing and formulary snapshots) that the
    drugs' rows give otherwise now, worked out from the rows by the claim's rules: the HCPCS
    code, billing unit and container; the NDC a dose groups under (scanned and listed, else the
    preferred, else the first active); the NDC a line carries (that, else the NDC the dose's
    standing charge carries while listed, else the preferred or first active), asked of the
    administration whose NDC each drug line carries (its first scanned, else its first, of the
    line's code)."""
    billed: dict[str, str] = {}
    for entry in LedgerEntry.objects.filter(
        encounter=encounter, kind="CG", reversed_by=None
    ).order_by("pk"):
        for record_id in entry.administrations if entry.detail.get("ndc") else ():
            billed[record_id] = entry.detail["ndc"]
    administrations = {
        f"A{adm.pk}": adm
        for adm in Administration.objects.filter(encounter=encounter).select_related("drug")
    }
    snapshot = run.formulary_snapshot or {}
    readers = set()
    for line in run.lines.filter(position__gte=1000):
        covered = sorted(line.administrations, key=lambda a: not administrations[a].ndc)
        readers.add(next((a for a in covered if snapshot.get(a, {}).get("hcpcs") == line.code), ""))
    out = []
    for adm in administrations.values():
        record_id = f"A{adm.pk}"
        drug = adm.drug
        listed = list(DrugNdc.objects.filter(drug=drug).order_by("-preferred", "ndc"))
        codes = {n.ndc for n in listed}
        default = next((n.ndc for n in listed if n.active), "")
        made = snapshot.get(record_id)
        if made is not None:
            now = {"hcpcs": drug.hcpcs_code, "billing_unit": drug.billing_unit_label}
            if record_id in readers:  # the NDC its line carries
                scanned = adm.ndc if adm.ndc in codes else ""
                kept = billed.get(record_id) if billed.get(record_id) in codes else ""
                now["ndc"] = (scanned or kept or default) if drug.hcpcs_code else ""
            for key, value in now.items():
                if made.get(key, "") != value:
                    out.append((record_id, key, made.get(key, ""), value))
        inputs = (run.billing_snapshot or {}).get(record_id)
        if inputs is not None:
            if inputs["container"] != drug.container:
                out.append((record_id, "container", inputs["container"], drug.container))
            if "claim_ndc" in inputs:
                now_group = adm.ndc if adm.ndc in codes else default
                if inputs["claim_ndc"] != now_group:
                    out.append((record_id, "claim_ndc", inputs["claim_ndc"], now_group))
    return sorted(out)


def difference_of(run: ChargeRun, encounter: Encounter) -> list[tuple]:
    return class_difference_of(run, encounter) + billing_difference_of(run, encounter)


class ClassOverTime(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex
        self.coder = factories.user_create(username=f"coder-c{tag}", role="coder")
        self.pharmacist = factories.user_create(username=f"rph-c{tag}", role="pharmacist")
        # Every example starts from the formulary's classes, billing data and NDCs (the drugs
        # are shared).
        Drug.objects.filter(name=SALINE).update(drug_class=DrugClass.HYDRATION)
        Drug.objects.filter(name="ondansetron").update(drug_class=DrugClass.THERAPEUTIC)
        DrugNdc.objects.filter(drug__name="ondansetron").update(
            active=True, retired_at=None, retired_by=None, retired_reason="",
            preferred=False,
        )  # fmt: skip
        DrugNdc.objects.filter(ndc=ONDANSETRON_NDCS[1]).update(preferred=True)
        # Two pushes of ondansetron (J2405, two packages listed, the second preferred), the
        # first scanned with the first package: two J2405 lines, one per NDC.
        self.encounter = ondansetron_twice(scanned=(ONDANSETRON_NDCS[0], ""))
        addendum_for_test(self.encounter, self.coder)  # the waste charted (none) after signing
        paclitaxel_billable(encounter=self.encounter)  # J9267, 1 mg, single-dose
        charge_run_generate(encounter_id=self.encounter.pk)
        self.item = ReviewItem.objects.get(encounter=self.encounter)
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

    @rule(field=st.sampled_from(["hcpcs", "container"]))
    def change_paclitaxel_billing(self, field: str) -> None:
        """Paclitaxel's HCPCS code (J9267 <-> J9264) or container (single <-> multi-dose)
        toggled through the drug's form, so a change is often a change back."""
        drug = Drug.objects.get(name="paclitaxel")
        hcpcs, container = drug.hcpcs_code, drug.container
        if field == "hcpcs":
            hcpcs = "J9264" if hcpcs == "J9267" else "J9267"
        else:
            single = Drug.Container.SINGLE_DOSE
            container = Drug.Container.MULTI_DOSE if container == single else single
        with TestCase.captureOnCommitCallbacks(execute=True):
            drug_save(
                drug=drug, name=drug.name, synonyms=drug.synonyms, hcpcs=hcpcs,
                billing_unit="1 mg", note=drug.class_note, user=self.pharmacist,
                container=container, reason="the FDA label read again",
            )  # fmt: skip

    @rule(which=st.sampled_from([0, 1]))
    def prefer_ondansetron_package(self, which: int) -> None:
        """Another package preferred: the push not scanned groups under it now."""
        ndc = DrugNdc.objects.get(drug__name="ondansetron", ndc=ONDANSETRON_NDCS[which])
        if ndc.preferred or not ndc.active:
            return
        with TestCase.captureOnCommitCallbacks(execute=True):
            drug_ndc_prefer(ndc=ndc, user=self.pharmacist)

    @rule()
    def retire_or_reactivate_the_second_package(self) -> None:
        """The package preferred at first retired (no package preferred then: the first active
        one is the default), or stocked again."""
        ndc = DrugNdc.objects.get(drug__name="ondansetron", ndc=ONDANSETRON_NDCS[1])
        with TestCase.captureOnCommitCallbacks(execute=True):
            if ndc.active:
                drug_ndc_retire(ndc=ndc, reason="property", user=self.pharmacist)
            else:
                drug_ndc_reactivate(ndc=ndc, user=self.pharmacist)

    # --- the nurse ----------------------------------------------------------------------

    @rule()
    def addendum(self) -> None:
        """An addendum: the first push charted a minute longer or shorter, a new run."""
        addendum_for_test(self.encounter, self.coder)
        push = (
            Administration.objects.filter(encounter=self.encounter, drug__name="ondansetron")
            .order_by("start", "pk")
            .first()
        )
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
    def the_worklist_shows_a_pending_change_exactly_when_classes_or_billing_data_differ(
        self,
    ) -> None:
        truth = self._pending_truth()
        (row,) = review_reads.worklist_rows([self.encounter.pk])
        assert bool(row.after_export) == truth
        page = self.client.get(reverse("coding:worklist")).content.decode()
        start = page.index(f'data-encounter="{self.encounter.pk}"')
        cell = page[start : page.index("</tr>", start)]
        shown = 'data-testid="class-changed"' in cell
        assert shown == truth
        if truth:  # the row says what changed, as the difference is
            run = self._run()
            classes = bool(class_difference_of(run, self.encounter))
            billing = bool(billing_difference_of(run, self.encounter))
            what = {
                (True, False): "Drug class changed after export",
                (False, True): "Billing data changed after export",
                (True, True): "Drug class and billing data changed after export",
            }[(classes, billing)]
            assert row.after_export_what + " changed after export" == what
            assert what in cell

    @invariant()
    def a_run_not_exported_is_made_with_the_formulary_now(self) -> None:
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


def test_a_pending_change_is_shown_exactly_while_the_billed_classes_or_billing_data_differ() -> (
    None
):
    run_state_machine_as_test(
        ClassOverTime,
        settings=settings(
            max_examples=12,
            stateful_step_count=14,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
