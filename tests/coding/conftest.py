"""Fixtures of the coding tests."""

import pytest


@pytest.fixture
def example_corrections_not_held_for_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests about corrections across runs, not edits (`pytest.mark.usefixtures`): their
    example corrections (96361 ×2 on 60 minutes of hydration, 96415 ×3 on 140 of paclitaxel) are
    not borne out by the charted time, which EDIT-INFUSION-TIME holds
    (tests/coding/test_record_edits_review.py); there it is set aside, as a coder's override
    would."""
    monkeypatch.setattr("coding.review.infusion_time_edits", lambda lines, record: [])
