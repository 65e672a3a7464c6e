"""A correction comes back for re-review only when the inputs of the code it corrected changed
(coding/corrections.py `basis_changes`, `_inputs`).

QA: a coder's correction of the chemotherapy's administration code came back for re-review when
the pharmacist changed the HCPCS code of the drug given in that infusion: the drug line's
billing data, not the administration code's. An administration code is made from the
administrations' times, methods, classes and sites (and their orders); a drug line from its
drug's billing data and the NDC it carries.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from coding.drug_lines import is_drug_line
from coding.models import ChargeCorrection, ChargeRun
from coding.review import charge_line_correct, review_claim
from coding.services import charge_run_generate
from mar.models import Administration, Drug, DrugNdc
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = pytest.mark.django_db

FIRST_NDC = "99999000110"
SECOND_NDC = "99999000210"


def chemo(encounter) -> Administration:
    return Administration.objects.get(encounter=encounter, drug__name="paclitaxel")


def billed_and_corrected(coder):
    """Paclitaxel billable with one package; the coder corrects the chemotherapy's
    administration code (a modifier) and paclitaxel's drug line (a unit more)."""
    encounter, run, item = reviewed(billable=True)
    DrugNdc.objects.create(
        drug=Drug.objects.get(name="paclitaxel"), ndc=FIRST_NDC, unit="ML",
        units_per_billing_unit=Decimal("0.1667"), preferred=True,
    )  # fmt: skip
    run, _ = charge_run_generate(
        encounter_id=encounter.pk, trigger=ChargeRun.Trigger.BILLING_CHANGE
    )
    item = review_claim(user=coder, item_id=item.pk)
    given = f"A{chemo(encounter).pk}"
    lines = [line for line in run.lines.order_by("position") if given in line.administrations]
    administration_code = next(line for line in lines if not is_drug_line(line))
    drug_line = next(line for line in lines if is_drug_line(line) and not line.modifiers)
    assert administration_code.code.startswith("964") and drug_line.code == "J9267"
    charge_line_correct(
        item=item, user=coder, line=administration_code, action="change",
        code=administration_code.code, units=administration_code.units, modifiers=["XU"],
        reason="separate site per the flowsheet",
    )  # fmt: skip
    charge_line_correct(
        item=item, user=coder, line=drug_line, action="change", code="J9267",
        units=drug_line.units + 1, modifiers=[], reason="overfill per the pharmacy log",
    )  # fmt: skip
    return encounter, run


def carried(run: ChargeRun) -> dict[str, ChargeCorrection]:
    """The run's corrections, by the code they corrected."""
    return {c.original.get("code") or c.corrected["code"]: c for c in run.corrections.all()}


def test_an_administration_codes_correction_stays_when_only_its_drugs_billing_changed(
    coder_user,
) -> None:
    encounter, first = billed_and_corrected(coder_user)
    code = next(c for c in carried_codes(first) if c.startswith("964"))
    # The pharmacist changes paclitaxel's billing unit (the record carries it): a new run.
    Drug.objects.filter(name="paclitaxel").update(billing_unit_amount=Decimal(2))
    run, created = charge_run_generate(
        encounter_id=encounter.pk, trigger=ChargeRun.Trigger.BILLING_CHANGE
    )
    assert created
    corrections = carried(run)
    # The infusion's code is made of the same times, class and site: carried silently.
    assert corrections[code].state == ChargeCorrection.State.CARRIED
    assert corrections[code].basis["changed"] == []
    # The drug line's billing changed under its correction: back for re-review, saying so.
    drug = corrections["J9267"]
    assert drug.state == ChargeCorrection.State.NEEDS_REVIEW
    said = " ".join(drug.basis["changed"])
    assert "billing unit 1 mg → 2 mg" in said and "billing data changed" in said, said


def test_a_drug_lines_correction_comes_back_when_its_ndc_changed_alone(coder_user) -> None:
    """Another package preferred: the drug line carries another NDC, the line's code and units
    the same. The administration code's correction is carried silently."""
    encounter, first = billed_and_corrected(coder_user)
    code = next(c for c in carried_codes(first) if c.startswith("964"))
    drug = Drug.objects.get(name="paclitaxel")
    DrugNdc.objects.filter(drug=drug).update(preferred=False)
    DrugNdc.objects.create(
        drug=drug, ndc=SECOND_NDC, unit="ML", units_per_billing_unit=Decimal("0.1667"),
        preferred=True,
    )  # fmt: skip
    run, created = charge_run_generate(
        encounter_id=encounter.pk, trigger=ChargeRun.Trigger.BILLING_CHANGE
    )
    assert created
    corrections = carried(run)
    assert corrections[code].state == ChargeCorrection.State.CARRIED
    back = corrections["J9267"]
    assert back.state == ChargeCorrection.State.NEEDS_REVIEW
    assert back.line is not None and back.line.code == "J9267"
    said = " ".join(back.basis["changed"])
    assert f"NDC its drug line carries changed ({FIRST_NDC}" in said and SECOND_NDC in said, said


def test_the_infusions_times_bring_back_the_administration_code_not_the_drug_line(
    coder_user, nurse_user
) -> None:
    """The nurse's addendum moves the chemotherapy's start and stop by ten minutes together
    (the same length, the same codes): the administration code's correction comes back; the
    drug line's (the same dose, billing and NDC) is carried silently."""
    encounter, first = billed_and_corrected(coder_user)
    code = next(c for c in carried_codes(first) if c.startswith("964"))
    adm = chemo(encounter)
    with transaction.atomic():
        addendum_for_test(encounter, nurse_user)
        Administration.objects.filter(pk=adm.pk).update(
            start=adm.start + timedelta(minutes=10), stop=adm.stop + timedelta(minutes=10)
        )
    run, created = charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert created
    corrections = carried(run)
    assert corrections[code].state == ChargeCorrection.State.NEEDS_REVIEW
    assert "start" in " ".join(corrections[code].basis["changed"])
    assert corrections["J9267"].state == ChargeCorrection.State.CARRIED
    assert corrections["J9267"].basis["changed"] == []


def carried_codes(run: ChargeRun) -> list[str]:
    return [c.original["code"] for c in run.corrections.all()]


def test_a_dose_changed_alone_is_not_said_as_the_drugs_billing_data() -> None:
    """QA: an addendum changing diphenhydramine's dose 50 -> 100 mg listed "the drug's billing
    data changed" beside the dose, while the formulary's data had not changed. The dose is the
    record's (said with its changes); the drug's billing data only when the formulary's did;
    waste and the NDCs each in words."""
    from coding.corrections import _billing_changes

    was = {"hcpcs": "J1200", "billing_unit": "50 mg", "container": "", "dose": "50 mg"}
    assert _billing_changes("A2", was, {**was, "dose": "100 mg"}) == []
    assert _billing_changes("A2", was, {**was, "hcpcs": "J1201"}) == [
        "A2: the drug's billing data changed"
    ]
    assert _billing_changes("A2", was, {**was, "waste": "10 mg"}) == ["A2: waste — → 10 mg"]
    assert _billing_changes("A2", was, was) == []
