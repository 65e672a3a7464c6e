"""CLAIM-DX for an indication that is not a billable code of the ICD-10-CM list loaded: a category
(C50.9) or a code the list lacks (H06.2). Records saved before order entry checked it, and
orders an interface kept, reach the claim with it: the coder's review says so (QA walkthrough:
both went to the export's diagnoses and the HL7 DG1 unremarked)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from coding.claim import claim_findings, record_facts
from coding.models import ChargeRun
from coding.review import effective_lines
from coding.services import charge_run_generate
from mar import roles
from mar.models import Encounter, Order
from tests import factories

pytestmark = pytest.mark.django_db


def signed_with_indications(chemo: str, antiemetic: str) -> Encounter:
    """The factory's chemotherapy visit, its orders' indications as saved before the check."""
    encounter = factories.chemo_encounter_create()
    Order.objects.filter(encounter=encounter, drug__name="paclitaxel").update(indication=chemo)
    Order.objects.filter(encounter=encounter, drug__name="ondansetron").update(
        indication=antiemetic, indication_code=antiemetic
    )
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    encounter.refresh_from_db()
    charge_run_generate(encounter_id=encounter.pk)
    return encounter


def dx_findings(encounter: Encounter) -> list[str]:
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    findings = claim_findings(
        encounter, effective_lines(run), run=run, facts=record_facts(encounter, run=run)
    )
    return sorted(f.message for f in findings if f.rule == "CLAIM-DX")


def test_a_category_and_a_code_outside_the_list_are_claim_findings() -> None:
    encounter = signed_with_indications("C50.9", "H06.2")
    assert dx_findings(encounter) == [
        "the order for ondansetron: indication H06.2 is not a billable ICD-10-CM code in the list "
        "loaded (a sample of 109 codes, not the full code set); the claim carries it as its "
        "lines' diagnosis: check it",
        "the order for paclitaxel: indication C50.9 is not a billable ICD-10-CM code in the list "
        "loaded: a category, its codes are C50.911, C50.912, C50.919; the claim carries it as "
        "its lines' diagnosis: ask for the specific code",
    ]


def test_codes_of_the_list_are_no_finding() -> None:
    assert dx_findings(signed_with_indications("C50.911", "R11.2")) == []


def test_the_review_page_shows_the_finding(client_as) -> None:
    encounter = signed_with_indications("C50.9", "R11.2")
    page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    text = page.content.decode()
    assert "CLAIM-DX" in text
    assert "indication C50.9 is not a billable ICD-10-CM code in the list loaded" in text
