"""CLAIM-HCPCS on the coder's worklist row, not only on the review page: a drug charged for its
administration but given no drug line (the formulary has no HCPCS code or billing unit for it)
is a lost charge the coder should see before opening the visit (QA walkthrough: teprotumumab
went out with 96409/96413 only). The row names the drug; the review page's finding says which
administrations."""

from decimal import Decimal

import pytest
from django.urls import reverse

from coding.claim import claim_findings, record_facts
from coding.corrections import effective_lines
from coding.models import ChargeRun
from coding.services import charge_run_generate
from mar import roles
from mar.models import Drug, DrugClass, Encounter, Order
from tests import factories

pytestmark = pytest.mark.django_db

MARKER = 'data-testid="drug-not-charged"'


def signed_visit(*, antiemetic_class: str = "") -> Encounter:
    """The factory's chemotherapy visit, signed: ondansetron has no HCPCS code in the test
    formulary, paclitaxel neither, the hydration fluid neither (fluids are left out);
    `antiemetic_class` the pharmacist's class on ondansetron's order (before the signature)."""
    encounter = factories.chemo_encounter_create()
    Order.objects.filter(encounter=encounter, drug__name="ondansetron").update(
        class_override=antiemetic_class
    )
    Encounter.objects.filter(pk=encounter.pk).update(status=Encounter.Status.SIGNED)
    return encounter


def row_of(client, encounter: Encounter) -> str:
    page = client.get(reverse("coding:worklist")).content.decode()
    start = page.index(f'data-encounter="{encounter.pk}"')
    return page[start : page.index("</tr>", start)]


def bill(name: str, hcpcs: str) -> None:
    drug = Drug.objects.get(name=name)
    drug.hcpcs_code, drug.billing_unit_amount, drug.billing_unit = hcpcs, Decimal(1), "mg"
    drug.save()


def test_the_row_names_the_drug_the_review_pages_claim_hcpcs_names(client_as) -> None:
    encounter = signed_visit()
    bill("paclitaxel", "J9267")
    run, _ = charge_run_generate(encounter_id=encounter.pk, trigger="manual")
    run = ChargeRun.objects.get(pk=run.pk)
    findings = claim_findings(
        encounter, effective_lines(run), run=run, facts=record_facts(encounter, run=run)
    )
    [missing] = [f for f in findings if f.rule == "CLAIM-HCPCS"]
    assert missing.message.startswith("ondansetron:")
    row = row_of(client_as(roles.CODER), encounter)
    assert MARKER in row
    assert "CLAIM-HCPCS: ondansetron not charged" in row


def test_the_marker_goes_once_the_pharmacist_adds_the_code_and_unit(client_as) -> None:
    """The row kept drawn (coding/worklist_rows.py) is not shown for the drug billed since."""
    encounter = signed_visit()
    client = client_as(roles.CODER)
    assert "CLAIM-HCPCS: ondansetron not charged" in row_of(client, encounter)
    bill("ondansetron", "J2405")
    assert "CLAIM-HCPCS: paclitaxel not charged" in row_of(client, encounter)
    bill("paclitaxel", "J9267")
    assert MARKER not in row_of(client, encounter)  # the hydration fluid is never named


def test_an_order_classed_hydration_or_an_untagged_drug_is_not_marked(client_as) -> None:
    """As CLAIM-HCPCS: a fluid is not billed in units; an untagged drug is DOC-4's (not
    charged at all, the checklist and the review page say so)."""
    fluid_ordered = signed_visit(antiemetic_class=DrugClass.HYDRATION)
    bill("paclitaxel", "J9267")
    client = client_as(roles.CODER)
    assert MARKER not in row_of(client, fluid_ordered)
    untagged = signed_visit()
    Drug.objects.filter(name="ondansetron").update(drug_class=None)
    assert MARKER not in row_of(client, untagged)
