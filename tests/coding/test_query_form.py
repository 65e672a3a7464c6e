"""The query's list of findings (coding/forms.py QueryForm): each finding named by its rule and
its message, a long message cut at its last clause or between words, and marked cut."""

import pytest

from coding.forms import QueryForm
from coding.models import ChargeFinding

pytestmark = pytest.mark.django_db

WASTE = (
    "dexamethasone: the formulary does not say whether it comes in a single-dose container, "
    "so no JW or JZ modifier is added; ask pharmacy to record the container"
)


def label(message: str, rule: str = "DRUG-WASTE") -> str:
    field = QueryForm(run_id=None).fields["finding"]
    return field.label_from_instance(ChargeFinding(rule=rule, message=message))


def test_a_long_message_is_cut_between_words_and_says_it_was_cut() -> None:
    # walk20: "... in a single-dose container, so" (cut at 90 characters, mid-sentence, unmarked).
    assert label(WASTE) == (
        "DRUG-WASTE · dexamethasone: the formulary does not say whether it comes in a "
        "single-dose container…"
    )


def test_a_long_message_without_a_clause_is_cut_between_words() -> None:
    message = "stop time missing for the second bag of vancomycin charted after the pump alarm "
    message += "at the bedside and the end"
    shown = label(message).removeprefix("DRUG-WASTE · ")
    assert shown.endswith("…") and len(shown) <= 91
    kept = shown.removesuffix("…")
    assert message.startswith(kept + " ")  # a whole word last


def test_a_short_message_is_shown_whole() -> None:
    assert label("Stop time missing for A2", "RAC-7") == "RAC-7 · Stop time missing for A2"
