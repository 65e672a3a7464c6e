"""Dose arithmetic (mar/dosing.py) against published worked values."""

from datetime import date
from decimal import Decimal as D

import pytest

from mar.dosing import (
    AUC,
    PER_KG,
    PER_M2,
    DosingError,
    age_on,
    beyond_tolerance,
    bsa_mosteller,
    calculated_dose,
    calvert_dose,
    crcl_cockcroft_gault,
    difference_percent,
)


def test_mosteller_bsa() -> None:
    # sqrt(180 x 80 / 3600) = sqrt(4) = 2.00 m²; 170 cm, 70 kg: 1.82 m² (Mosteller 1987 tables)
    assert bsa_mosteller(height_cm=D(180), weight_kg=D(80)) == D("2.00")
    assert bsa_mosteller(height_cm=D(170), weight_kg=D(70)) == D("1.82")


def test_cockcroft_gault_male_and_female() -> None:
    # (140 - 60) x 72 / (72 x 1.0) = 80 mL/min; a woman 0.85 of it: 68
    assert crcl_cockcroft_gault(
        age_years=60, weight_kg=D(72), creatinine_mg_dl=D("1.0"), sex="male"
    ) == D("80.0")
    assert crcl_cockcroft_gault(
        age_years=60, weight_kg=D(72), creatinine_mg_dl=D("1.0"), sex="female"
    ) == D("68.0")
    # Textbook: 65-year-old woman, 60 kg, SCr 1.2: 75 x 60 / 86.4 x 0.85 = 44.3 mL/min
    assert crcl_cockcroft_gault(
        age_years=65, weight_kg=D(60), creatinine_mg_dl=D("1.2"), sex="female"
    ) == D("44.3")


def test_cockcroft_gault_needs_sex() -> None:
    with pytest.raises(DosingError, match="sex"):
        crcl_cockcroft_gault(age_years=60, weight_kg=D(72), creatinine_mg_dl=D(1), sex="")


def test_calvert_auc_5_gfr_100_is_625_mg() -> None:
    assert calvert_dose(auc=D(5), crcl=D(100)).dose == D(625)


def test_calvert_caps_gfr_at_125() -> None:
    calculated = calvert_dose(auc=D(6), crcl=D(160))
    assert calculated.dose == D(900)  # 6 x 150, the FDA's maximum for AUC 6
    assert "capped" in calculated.how


def test_dose_per_m2_and_per_kg() -> None:
    assert calculated_dose(basis=PER_M2, amount=D(175), bsa=D("1.82")).dose == D("318.5")
    assert calculated_dose(basis=PER_KG, amount=D(5), weight_kg=D(70)).dose == D("350.0")
    assert calculated_dose(basis=AUC, amount=D(5), crcl=D(80)).dose == D(525)


def test_a_missing_measure_is_said() -> None:
    with pytest.raises(DosingError, match="height and weight"):
        calculated_dose(basis=PER_M2, amount=D(175))


def test_ten_percent_tolerance() -> None:
    assert difference_percent(ordered=D(350), calculated=D("318.5")) == D("9.9")
    assert not beyond_tolerance(D("9.9"))
    assert beyond_tolerance(difference_percent(ordered=D(360), calculated=D("318.5")))
    assert beyond_tolerance(D("-10.1"))


def test_age_on_a_day() -> None:
    assert age_on(date(1960, 12, 4), date(2026, 12, 3)) == 65
    assert age_on(date(1960, 12, 3), date(2026, 12, 3)) == 66
