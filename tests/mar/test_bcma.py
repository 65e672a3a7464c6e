"""Barcode reading (mar/bcma.py): real barcode strings, published NDC conversions."""

from datetime import date

import pytest

from mar.bcma import (
    GS,
    BarcodeError,
    gs1_expiry,
    gtin_check_digit,
    gtin_to_ndc10,
    ndc11_candidates,
    ndc_to_11,
    parse_drug_barcode,
    wristband_mrn,
)
from mar.validators import ndc_display

TODAY = date(2026, 12, 3)


@pytest.mark.parametrize(
    ("ndc10", "ndc11"),
    [
        # FDA/CMS's published conversions: the short segment gets a leading zero.
        ("1234-5678-90", "01234567890"),  # 4-4-2 -> 0XXXX-XXXX-XX
        ("12345-678-90", "12345067890"),  # 5-3-2 -> XXXXX-0XXX-XX
        ("12345-6789-0", "12345678900"),  # 5-4-1 -> XXXXX-XXXX-0X
        ("12345-6789-01", "12345678901"),  # already 5-4-2
        ("0409-4888-02", "00409488802"),  # Hospira sodium chloride 0.9% flush, 4-4-2
    ],
)
def test_ndc_10_to_11_pads_the_short_segment(ndc10: str, ndc11: str) -> None:
    assert ndc_to_11(ndc10) == ndc11


def test_a_plain_10_digit_ndc_may_be_any_of_its_three_forms() -> None:
    assert set(ndc11_candidates("1234567890")) == {"01234567890", "12345067890", "12345678900"}


def test_an_ndc11_prints_as_5_4_2() -> None:
    assert ndc_display("00409488802") == "00409-4888-02"


@pytest.mark.parametrize(
    ("body", "check"),
    [("03600029145", 2), ("400638133393", 1), ("0031234567890", 6)],  # UPC / EAN examples
)
def test_gtin_check_digit_matches_published_examples(body: str, check: int) -> None:
    assert gtin_check_digit(body) == check


def test_upc_a_carries_the_ndc_after_its_leading_3() -> None:
    scan = parse_drug_barcode("312345678906")
    assert scan.ndc10 == "1234567890"
    assert "01234567890" in scan.ndc11
    assert scan.symbology == "upc"


def test_a_upc_with_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(BarcodeError, match="check digit"):
        parse_drug_barcode("312345678907")


def test_gtin_14_of_a_case_keeps_its_ndc() -> None:
    assert gtin_to_ndc10("50312345678901") == "1234567890"


def test_a_gtin_that_is_not_a_drug_is_refused() -> None:
    with pytest.raises(BarcodeError, match="not a drug"):
        gtin_to_ndc10("04006381333931")


def test_gs1_datamatrix_with_group_separators() -> None:
    raw = f"]d20100312345678906172512311012AB34{GS}21SERIAL77"
    scan = parse_drug_barcode(raw, today=TODAY)
    assert (scan.gtin, scan.lot, scan.serial) == ("00312345678906", "12AB34", "SERIAL77")
    assert scan.expiry == date(2025, 12, 31)
    assert scan.expired(TODAY)
    assert scan.symbology == "gs1"


def test_gs1_lot_last_needs_no_separator_and_order_of_ais_is_free() -> None:
    scan = parse_drug_barcode("0100312345678906172712001021ZX", today=TODAY)
    # AI 10 runs to the end: "21ZX" is its lot, not a serial.
    assert scan.lot == "21ZX"
    assert scan.expiry == date(2027, 12, 31)  # DD 00: last day of the month
    assert not scan.expired(TODAY)


def test_gs1_human_readable_form() -> None:
    scan = parse_drug_barcode("(01)00312345678906(17)270630(10)A1B2", today=TODAY)
    assert (scan.ndc10, scan.lot, scan.expiry) == ("1234567890", "A1B2", date(2027, 6, 30))


def test_gs1_separator_sent_as_a_text_standin() -> None:
    scan = parse_drug_barcode("010031234567890610LOT9<GS>17270101", today=TODAY)
    assert (scan.lot, scan.expiry) == ("LOT9", date(2027, 1, 1))


def test_gs1_expiry_century_follows_the_gs1_window() -> None:
    assert gs1_expiry("991231", today=TODAY) == date(1999, 12, 31)
    assert gs1_expiry("760101", today=TODAY) == date(2076, 1, 1)


def test_gs1_unknown_ai_is_refused() -> None:
    with pytest.raises(BarcodeError, match="identifier"):
        parse_drug_barcode("0100312345678906991234")


def test_hyphenated_ndc_typed_in() -> None:
    assert parse_drug_barcode("0409-4888-02").ndc11 == ("00409488802",)


def test_nonsense_is_not_a_drug_barcode() -> None:
    with pytest.raises(BarcodeError):
        parse_drug_barcode("hello")


def test_wristband_prefix_is_dropped() -> None:
    assert wristband_mrn(" MRN: 100234 \n") == "100234"
