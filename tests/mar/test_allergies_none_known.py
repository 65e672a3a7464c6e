"""A patient recorded with no known allergies ("NKDA", "NKA", "none", "no known allergies", in any
case) is said "No known drug allergies" (or "No known allergies") in a neutral style on every
screen that shows the allergies, never in the red bold of a real allergy (QA walkthrough:
"Allergies: NKDA" in red bold on the chart). A real allergy stays red and bold everywhere; blank
stays "not recorded", greyed. The allergy matcher reads no drug in a none-known entry."""

import re

import pytest
from django.utils import timezone

from mar.models import (
    ALLERGIES_NOT_RECORDED,
    NO_KNOWN_ALLERGIES,
    NO_KNOWN_DRUG_ALLERGIES,
    Patient,
    allergies_none_known,
)
from mar.services.safety import allergy_terms
from tests import factories
from tests.mar.registration.test_allergies_wording import pages


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("NKDA", NO_KNOWN_DRUG_ALLERGIES),
        ("nkda", NO_KNOWN_DRUG_ALLERGIES),
        (" NKDA. ", NO_KNOWN_DRUG_ALLERGIES),
        ("None", NO_KNOWN_DRUG_ALLERGIES),
        ("no known drug allergies", NO_KNOWN_DRUG_ALLERGIES),
        ("NKA", NO_KNOWN_ALLERGIES),
        ("No Known  Allergies", NO_KNOWN_ALLERGIES),
    ],
)
def test_none_known_is_said_in_words_whichever_way_it_was_typed(typed: str, said: str) -> None:
    patient = Patient(allergies=typed)
    assert allergies_none_known(typed) == said
    assert patient.allergies_said == said
    assert patient.allergies_state == Patient.AllergiesState.NONE_KNOWN
    assert allergy_terms(typed) == []  # no drug is read in it


@pytest.mark.parametrize("typed", ["NKDA; latex", "penicillin (none since 2010)", "nonsteroidal"])
def test_an_entry_naming_an_allergy_is_recorded_as_typed(typed: str) -> None:
    patient = Patient(allergies=typed)
    assert allergies_none_known(typed) == ""
    assert patient.allergies_said == typed
    assert patient.allergies_state == Patient.AllergiesState.RECORDED


def test_blank_is_not_recorded_not_none_known() -> None:
    patient = Patient(allergies="")
    assert patient.allergies_said == ALLERGIES_NOT_RECORDED
    assert patient.allergies_state == Patient.AllergiesState.NOT_RECORDED


def _shown(html: str) -> tuple[str, str]:
    """The classes and the words of the element the page shows the allergies in."""
    found = re.search(
        r'<(?:div|span|td)[^>]*class="([^"]*allergies-[a-z-]+[^"]*)"[^>]*>([^<]*)<', html
    )
    assert found, "no allergies shown"
    return found.group(1), found.group(2).removeprefix("Allergies: ")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("allergies", "said", "style"),
    [
        ("NKDA", NO_KNOWN_DRUG_ALLERGIES, "allergies-none-known"),
        ("penicillin (hives)", "penicillin (hives)", "allergies-recorded text-danger fw-semibold"),
        ("", ALLERGIES_NOT_RECORDED, "allergies-not-recorded text-body-secondary"),
    ],
    ids=["none-known-neutral", "allergy-red-bold", "not-recorded-greyed"],
)
def test_every_screen_shows_the_allergies_in_the_style_of_what_they_say(
    client_as, allergies: str, said: str, style: str
) -> None:
    patient = factories.patient_create(allergies=allergies)
    encounter = factories.encounter_create(patient=patient, arrived_at=timezone.now())
    for role, url in pages(encounter):
        html = client_as(role).get(url).content.decode()
        classes, words = _shown(html)
        assert (classes, words) == (style, said), url
        if style == "allergies-none-known":
            assert "text-danger" not in classes and "fw-semibold" not in classes
