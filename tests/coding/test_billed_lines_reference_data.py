"""A charge already billed is re-sent only when what the claim carries for that service changed
(coding/ledger.py, coding/claim.py): reference data changing after billing (a price loaded from
a later date, a new preferred NDC, a nurse's or a prescriber's name, a description) re-sends
nothing at the next export, after an addendum elsewhere; a change of what is claimed does."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User

from coding.chargemaster import charge_master_load, charge_master_parse
from coding.claim import claim_details
from coding.exports import ExportOutcome, export_create
from coding.ledger import Sendable, claim_terms
from coding.models import ChargeRun, LedgerEntry, ReviewItem
from coding.review import effective_lines, review_accept, review_claim
from coding.services import charge_run_generate
from mar.models import Administration, DrugNdc, Encounter, Order
from mar.pharmacy.services import drug_ndc_prefer
from tests.coding.review_helpers import addendum_for_test, reviewed
from tests.coding.test_claim_lines import PREFERRED, SCANNED, signed_encounter

pytestmark = pytest.mark.django_db

HEADER = "code,revenue_code,description,unit_price\n"


def bill(coder: User, encounter: Encounter) -> ExportOutcome:
    """Claim, accept and export the encounter as it stands."""
    item = ReviewItem.objects.get(encounter=encounter)
    if item.state == ReviewItem.State.NEW:
        item = review_claim(user=coder, item_id=item.pk)
    review_accept(item=item, user=coder)
    return export_create(user=coder)


def addendum_elsewhere(encounter: Encounter, author: User, change=None) -> None:
    """An addendum on a line that does not change the charges: the antiemetic push charted a
    minute longer (with `change` made to the record too: what the engine's record does not
    carry, such as the NDC scanned or the prescriber, makes no new run of its own). A new run,
    back to review: the coder accepts it again."""
    addendum_for_test(encounter, author)
    if change is not None:
        change()
    adm = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
    Administration.objects.filter(pk=adm.pk).update(stop=adm.stop + timedelta(minutes=1))
    charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    assert ReviewItem.objects.get(encounter=encounter).state == ReviewItem.State.NEW


def sent(outcome: ExportOutcome) -> list[tuple[str, str]]:
    if outcome.export is None:
        return []
    return [(e.kind, e.code) for e in LedgerEntry.objects.filter(export=outcome.export)]


def billed_ndcs(encounter: Encounter) -> set[str]:
    return {
        e.detail["ndc"]
        for e in LedgerEntry.objects.filter(encounter=encounter, kind="CG", reversed_by=None)
        if "ndc" in e.detail
    }


@pytest.fixture
def billed(coder_user):
    """The claim-lines visit (paclitaxel J9267 with the preferred NDC, no NDC scanned;
    prescribers with and without a valid NPI; a named nurse) priced and billed once."""
    charge_master_load(
        rows=charge_master_parse(
            HEADER + "96360,0260,Hydration,185\n96361,0260,Hydration add-on,55\n"
            "96375,0260,IV push sequential,65\n96413,0335,Chemo IV up to 1 h,540\n"
            "96415,0335,Chemo IV add-on,110\nJ9267,0636,paclitaxel 1 mg,40\n"
        )
    )  # the first load: from the beginning
    encounter = signed_encounter()
    assert sent(bill(coder_user, encounter))
    assert billed_ndcs(encounter) == {PREFERRED}
    return encounter


def test_a_price_loaded_from_after_the_date_of_service_re_sends_nothing(billed, coder_user) -> None:
    charge_master_load(
        rows=charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,600\n"),
        effective_from=date(2026, 3, 3),  # the day after the service: replaces every code
    )
    addendum_elsewhere(billed, coder_user)
    outcome = bill(coder_user, billed)
    assert sent(outcome) == []
    assert outcome.unchanged  # marked exported, nothing sent
    assert ReviewItem.objects.get(encounter=billed).state == ReviewItem.State.EXPORTED


def test_a_new_preferred_ndc_does_not_re_send_a_billed_drug_line(
    billed, coder_user, pharmacist_user
) -> None:
    drug_ndc_prefer(ndc=DrugNdc.objects.get(ndc=SCANNED), user=pharmacist_user)
    addendum_elsewhere(billed, coder_user)
    assert sent(bill(coder_user, billed)) == []
    assert billed_ndcs(billed) == {PREFERRED}


def test_a_drug_line_never_billed_takes_the_current_preferred_ndc(
    billed, coder_user, pharmacist_user
) -> None:
    drug_ndc_prefer(ndc=DrugNdc.objects.get(ndc=SCANNED), user=pharmacist_user)
    fresh, run, _ = reviewed(billable=True)  # another visit with paclitaxel, never billed
    details = claim_details(fresh, effective_lines(run), run=run)
    assert {d["ndc"] for d in details if "ndc" in d} == {SCANNED}
    run = ChargeRun.objects.get(encounter=billed, is_current=True)
    details = claim_details(billed, effective_lines(run), run=run)
    assert {d["ndc"] for d in details if "ndc" in d} == {PREFERRED}  # the billed visit's


def test_a_billed_ndc_no_longer_listed_for_the_drug_gives_way_to_the_preferred(
    billed, coder_user, pharmacist_user
) -> None:
    drug_ndc_prefer(ndc=DrugNdc.objects.get(ndc=SCANNED), user=pharmacist_user)
    DrugNdc.objects.filter(ndc=PREFERRED).delete()  # the package is gone from the formulary
    addendum_elsewhere(billed, coder_user)
    out = sent(bill(coder_user, billed))
    assert sorted(out) == [("CD", "J9267"), ("CD", "J9267"), ("CG", "J9267"), ("CG", "J9267")]
    assert billed_ndcs(billed) == {SCANNED}


def test_a_scanned_ndc_wins_over_the_one_billed(billed, coder_user) -> None:
    """The record decides: an addendum that charts the NDC scanned re-sends the drug lines."""
    addendum_elsewhere(
        billed, coder_user,
        lambda: Administration.objects.filter(encounter=billed, drug__name="paclitaxel").update(
            ndc=SCANNED
        ),
    )  # fmt: skip
    assert sorted(sent(bill(coder_user, billed))) == [
        ("CD", "J9267"), ("CD", "J9267"), ("CG", "J9267"), ("CG", "J9267"),
    ]  # fmt: skip
    assert billed_ndcs(billed) == {SCANNED}


def test_a_nurse_renamed_after_billing_re_sends_nothing(billed, coder_user) -> None:
    User.objects.filter(username="rn-lopez").update(first_name="Maria", last_name="Lopez-Reyes")
    addendum_elsewhere(billed, coder_user)
    assert sent(bill(coder_user, billed)) == []
    names = {e.detail["performed_by"]["name"] for e in LedgerEntry.objects.filter(encounter=billed)}
    assert names == {"Maria Lopez"}  # billing keeps the name it was sent


def test_a_prescriber_renamed_keeps_the_line_when_the_npi_identifies_them(
    billed, coder_user
) -> None:
    """The chemo order's prescriber has a valid NPI: her name changing re-sends nothing. The
    antiemetic's has none valid: the name is all that identifies him, a new one is re-sent."""
    chemo = Order.objects.filter(encounter=billed, drug__name="paclitaxel")
    addendum_elsewhere(billed, coder_user, lambda: chemo.update(ordering_provider="Ana M. Ortiz"))
    assert sent(bill(coder_user, billed)) == []

    antiemetic = Order.objects.filter(encounter=billed, drug__name="ondansetron")
    addendum_elsewhere(
        billed, coder_user, lambda: antiemetic.update(ordering_provider="Benjamin Cole")
    )
    out = sent(bill(coder_user, billed))
    assert out and {code for _, code in out} == {"96375"}
    assert sorted(kind for kind, _ in out) == ["CD", "CG"]


def test_a_reworded_description_re_sends_nothing_a_corrected_price_does(billed, coder_user) -> None:
    charge_master_load(
        rows=charge_master_parse(f"{HEADER}96413,0335,Chemotherapy IV infusion to 1 hour,540\n"),
        replace=False, effective_from=date(2026, 1, 1),
    )  # fmt: skip
    addendum_elsewhere(billed, coder_user)
    assert sent(bill(coder_user, billed)) == []

    charge_master_load(
        rows=charge_master_parse(f"{HEADER}96413,0335,Chemotherapy IV infusion to 1 hour,545\n"),
        replace=False, effective_from=date(2026, 3, 2),  # a correction for the service's date
    )  # fmt: skip
    addendum_elsewhere(billed, coder_user)
    assert sent(bill(coder_user, billed)) == [("CD", "96413"), ("CG", "96413")]


def test_more_units_after_billing_are_re_sent_with_the_ndc_billed(
    billed, coder_user, pharmacist_user
) -> None:
    """A real change of the record (the dose given) re-sends the drug line; it keeps the NDC it
    was billed with (the package given did not change), though another is preferred now."""
    drug_ndc_prefer(ndc=DrugNdc.objects.get(ndc=SCANNED), user=pharmacist_user)
    addendum_for_test(billed, coder_user)
    adm = Administration.objects.get(encounter=billed, drug__name="paclitaxel")
    Administration.objects.filter(pk=adm.pk).update(dose_value=adm.dose_value + 10)
    charge_run_generate(encounter_id=billed.pk, trigger="addendum")
    out = sent(bill(coder_user, billed))
    assert ("CD", "J9267") in out and ("CG", "J9267") in out
    assert billed_ndcs(billed) == {PREFERRED}


def test_what_is_compared_is_what_the_claim_carries_and_every_detail_key_is_decided(
    billed,
) -> None:
    """Every key claim_details writes is compared except the descriptive ones (description,
    people's names where an id or NPI identifies them): a key added to the details is compared
    until the ledger names it descriptive."""
    run = ChargeRun.objects.get(encounter=billed, is_current=True)
    details = claim_details(billed, effective_lines(run), run=run)
    keys = {key for d in details for key in d}
    assert keys == {
        "revenue_code", "description", "unit_price", "amount", "ndc", "ndc_unit",
        "ndc_quantity", "diagnoses", "ordered_by", "performed_by",
    }  # fmt: skip
    detail = next(d for d in details if "ndc" in d and d["ordered_by"]["npi"])
    terms = claim_terms(detail)
    assert "description" not in terms
    assert terms["performed_by"] == {"id": detail["performed_by"]["id"]}
    assert terms["ordered_by"] == {"npi": detail["ordered_by"]["npi"]}
    for key in ("revenue_code", "unit_price", "amount", "ndc", "ndc_unit", "ndc_quantity"):
        assert terms[key] == detail[key]
    line = Sendable("J9267", (), 1, date(2026, 3, 2), ("A1",), detail)
    renamed = {**detail, "performed_by": {**detail["performed_by"], "name": "Someone Else"}}
    assert Sendable("J9267", (), 1, date(2026, 3, 2), ("A1",), renamed).signature == line.signature
    repriced = {**detail, "unit_price": "41.00"}
    assert Sendable("J9267", (), 1, date(2026, 3, 2), ("A1",), repriced).signature != (
        line.signature
    )
    no_npi = {"ordered_by": {"name": "Ben Cole", "npi": ""}}
    assert claim_terms(no_npi) == no_npi  # with no NPI the name identifies the prescriber
