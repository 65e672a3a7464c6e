"""NCCI PTP pair logic (coding/engine/ptp.py): indicator 1 passes with a distinct-procedure
modifier, indicator 0 never, 9 never applies; a pair applies from its effective date to the day
before its deletion date, and only to codes billed on the same day."""

from dataclasses import dataclass
from datetime import date

import pytest

from coding.engine.ptp import PtpPair, ptp_edits

DAY = date(2026, 3, 2)


@dataclass(frozen=True)
class Line:
    code: str
    modifiers: tuple[str, ...] = ()
    date: date = DAY
    administrations: tuple[str, ...] = ()


def pairs(*items: PtpPair) -> dict[tuple[str, str], list[PtpPair]]:
    out: dict[tuple[str, str], list[PtpPair]] = {}
    for p in items:
        out.setdefault((p.column1, p.column2), []).append(p)
    return out


def pair(indicator: str, *, effective=date(2010, 1, 1), deletion=None) -> PtpPair:
    return PtpPair("96413", "96374", effective, deletion, indicator)


def test_indicator_1_without_a_distinct_modifier_is_an_edit() -> None:
    (edit,) = ptp_edits(
        [Line("96413", administrations=("A1",)), Line("96374", administrations=("A2",))],
        pairs(pair("1")),
    )
    assert edit.rule == "EDIT-PTP"
    assert edit.message.startswith("96374 is bundled into 96413 on 2026-03-02")
    assert "modifier indicator 1" in edit.message
    assert edit.administrations == ("A1", "A2")


@pytest.mark.parametrize("modifier", ["59", "XE", "XS", "XP", "XU"])
def test_indicator_1_passes_with_a_distinct_procedure_modifier(modifier: str) -> None:
    assert ptp_edits([Line("96413"), Line("96374", (modifier,))], pairs(pair("1"))) == []


def test_indicator_1_does_not_pass_with_another_modifier() -> None:
    assert len(ptp_edits([Line("96413"), Line("96374", ("25",))], pairs(pair("1")))) == 1


def test_indicator_0_never_passes_even_with_59() -> None:
    (edit,) = ptp_edits([Line("96413"), Line("96374", ("59",))], pairs(pair("0")))
    assert "modifier indicator 0" in edit.message


def test_indicator_9_never_applies() -> None:
    assert ptp_edits([Line("96413"), Line("96374")], pairs(pair("9"))) == []


def test_codes_on_different_days_are_not_a_pair() -> None:
    lines = [Line("96413"), Line("96374", date=date(2026, 3, 3))]
    assert ptp_edits(lines, pairs(pair("0"))) == []


def test_a_pair_applies_from_its_effective_date_to_the_day_before_its_deletion() -> None:
    lines = [Line("96413"), Line("96374")]
    assert ptp_edits(lines, pairs(pair("0", effective=date(2026, 3, 3)))) == []
    assert ptp_edits(lines, pairs(pair("0", deletion=DAY))) == []
    assert len(ptp_edits(lines, pairs(pair("0", deletion=date(2026, 3, 3))))) == 1


def test_the_order_is_column_1_then_column_2_only() -> None:
    reverse = {("96374", "96413"): []}
    assert ptp_edits([Line("96413"), Line("96374")], reverse) == []
    assert ptp_edits([Line("96374"), Line("96413")], pairs(pair("0"))) != []


def test_one_edit_per_pair_and_day_however_many_lines() -> None:
    lines = [Line("96413"), Line("96374"), Line("96374", administrations=("A9",))]
    assert len(ptp_edits(lines, pairs(pair("1")))) == 1
