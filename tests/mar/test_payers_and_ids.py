"""The shared billing fields: NPI (Luhn over 80840), NDC (11 digits), payers and their policy."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from coding.engine.record import Policy
from mar.models import DrugNdc, Order, Payer, PayerPolicy, policy_clean, policy_defaults
from mar.payers import payer_policy_first, payer_policy_set
from mar.validators import luhn_check_digit, ndc_normalise, npi_normalise, validate_npi
from tests import factories


def test_npi_check_digit_is_luhn_over_the_80840_prefix() -> None:
    # CMS's worked example: 123456789 takes check digit 3.
    assert npi_normalise("1234567893") == "1234567893"
    with pytest.raises(ValueError, match="check digit"):
        npi_normalise("1234567890")


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.sampled_from("12"))
def test_npi_any_payload_with_its_check_digit_is_accepted_and_any_other_digit_refused(
    payload: str, first: str
) -> None:
    nine = first + payload
    right = luhn_check_digit("80840" + nine)
    assert npi_normalise(nine + str(right)) == nine + str(right)
    for wrong in set(range(10)) - {right}:
        with pytest.raises(ValueError):
            npi_normalise(nine + str(wrong))


@pytest.mark.parametrize("bad", ["123456789", "12345678933", "0234567893", "12345 7893", "abc"])
def test_npi_refuses_what_is_not_ten_digits_starting_1_or_2(bad: str) -> None:
    with pytest.raises(ValueError):
        npi_normalise(bad)


def test_order_npi_field_validates_its_check_digit() -> None:
    validate_npi("")  # blank: not known yet
    validate_npi("1234567893")
    with pytest.raises(ValidationError):
        validate_npi("1234567890")
    field = Order._meta.get_field("ordering_provider_npi")
    assert validate_npi in field.validators


@pytest.mark.parametrize(
    ("labeled", "eleven"),
    [
        ("0409-4888-02", "00409488802"),
        ("12345-678-90", "12345067890"),
        ("12345-6789-0", "12345678900"),
        ("12345-6789-01", "12345678901"),
        ("12345678901", "12345678901"),
    ],
)
def test_ndc_ten_digit_labels_are_padded_to_eleven_in_the_short_segment(
    labeled: str, eleven: str
) -> None:
    assert ndc_normalise(labeled) == eleven


@pytest.mark.parametrize("bad", ["1234567890", "123-4567-89", "12345-6789-012", "ABCDE-1234-12"])
def test_ndc_refuses_ambiguous_or_malformed_codes(bad: str) -> None:
    with pytest.raises(ValueError):
        ndc_normalise(bad)


def test_drug_ndc_full_clean_refuses_a_non_11_digit_code(db: None) -> None:
    drug = factories.drug_get("ondansetron")
    ndc = DrugNdc(drug=drug, ndc="0409-4888-02")
    with pytest.raises(ValidationError):
        ndc.full_clean()
    DrugNdc(drug=drug, ndc="00409488802", unit="ML").full_clean()


def test_policy_defaults_are_every_key_of_the_engines_policy() -> None:
    assert set(policy_defaults()) == set(Policy.__dataclass_fields__)
    assert Policy(**policy_defaults()) == Policy()


def test_policy_clean_fills_missing_keys_and_refuses_unknown_keys_or_values() -> None:
    assert policy_clean({"second_site_modifier": "XU"})["second_site_modifier"] == "XU"
    assert policy_clean({})["hydration_segments"] == "total"
    assert policy_clean({"concurrent_min_overlap": 0})["concurrent_min_overlap"] == 0  # any overlap
    with pytest.raises(ValidationError) as raised:
        policy_clean({"second_site_modifier": "XX", "colour": "red", "concurrent_min_overlap": -1})
    assert set(raised.value.message_dict) == {
        "second_site_modifier",
        "colour",
        "concurrent_min_overlap",
    }


def test_payer_policy_is_versioned_with_a_reason_and_unchanged_values_make_no_version(
    coder_user,
) -> None:
    payer = Payer.objects.create(name="Medicare Part B", financial_class="medicare")
    first = payer_policy_first(payer=payer, by=None)
    assert (first.version, first.values) == (1, policy_defaults())
    with pytest.raises(ValidationError):
        payer_policy_set(
            payer=payer, values={"second_site_modifier": "XU"}, reason=" ", by=coder_user
        )
    second = payer_policy_set(
        payer=payer,
        values={"second_site_modifier": "XU"},
        reason="MAC wants X{EPSU}",
        by=coder_user,
    )
    assert second is not None and second.version == 2
    assert payer.current_policy() == second
    assert second.as_engine_policy()["second_site_modifier"] == "XU"
    again = payer_policy_set(
        payer=payer, values=dict(second.values), reason="same again", by=coder_user
    )
    assert again is None
    assert PayerPolicy.objects.filter(payer=payer).count() == 2
