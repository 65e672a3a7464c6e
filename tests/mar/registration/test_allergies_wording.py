"""A patient's allergies are said in the same words on every screen that shows them: the chart,
registration's patient page, order entry and the pharmacist's review (QA: of one patient the chart
said "Allergies: none recorded", the order form "Allergies: not recorded"). Blank is all the
model knows (`Patient.allergies` is free text; HL7 AL1 fills it, a FHIR import does not): "not
recorded". "No known drug allergies" is what was recorded as such ("NKDA", as registration's
help asks), said in words, never made up from a blank (tests/mar/test_allergies_none_known.py)."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import ALLERGIES_NOT_RECORDED, Encounter
from tests import factories

pytestmark = pytest.mark.django_db


def pages(encounter: Encounter) -> list[tuple[str, str]]:
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    return [
        (roles.NURSE, reverse("mar:encounter", args=[encounter.pk])),
        (roles.CLERK, reverse("registration:patient", args=[encounter.patient_id])),
        (roles.CLERK, reverse("registration:order_new", args=[encounter.pk])),
        (roles.PHARMACIST, reverse("pharmacy:order_review", args=[order.pk])),
    ]


def allergies_said(html: str) -> str:
    """What the page says after its "Allergies" label, its tags taken out."""
    text = re.sub(r"<[^>]+>", " ", html)
    found = re.search(r"Allergies:?\s+(\S[^\n]*?)\s*(?:\n|$)", text)
    assert found, "no allergies shown"
    return " ".join(found.group(1).split())


@pytest.mark.parametrize(
    ("allergies", "said"),
    [
        ("", ALLERGIES_NOT_RECORDED),
        ("NKDA", "No known drug allergies"),
        ("penicillin (hives)", "penicillin (hives)"),
    ],
    ids=["blank-not-recorded", "nkda-in-words", "recorded"],
)
def test_every_screen_says_the_allergies_in_the_same_words(client_as, allergies, said) -> None:
    patient = factories.patient_create(allergies=allergies)
    encounter = factories.encounter_create(patient=patient, arrived_at=timezone.now())
    for role, url in pages(encounter):
        response = client_as(role).get(url)
        assert response.status_code == 200, url
        assert allergies_said(response.content.decode()) == said, url


def test_blank_allergies_are_not_recorded_in_every_template() -> None:
    assert ALLERGIES_NOT_RECORDED == "not recorded"
    templates = Path(settings.BASE_DIR, "templates")
    said_otherwise = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.htm*")
        if re.search(r"none recorded|allergies\|default", path.read_text())
    ]
    assert said_otherwise == []
