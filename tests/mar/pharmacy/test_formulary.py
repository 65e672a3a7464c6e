from decimal import Decimal

import pytest

from mar.models import Drug
from mar.pharmacy.formulary import DEFAULT_FORMULARY, billing_unit_parse, formulary_load_csv

pytestmark = pytest.mark.django_db


def test_it_loads_the_starter_formulary_with_classes_and_billing_units() -> None:
    count = formulary_load_csv(path=DEFAULT_FORMULARY)
    assert count == Drug.objects.count() > 60
    carboplatin = Drug.objects.get(name="carboplatin")
    assert carboplatin.drug_class == "chemo"
    assert carboplatin.hcpcs_code == "J9045"
    assert carboplatin.billing_unit_label == "50 mg"


def test_loading_twice_changes_nothing() -> None:
    formulary_load_csv()
    formulary_load_csv()
    assert Drug.objects.filter(name="carboplatin").count() == 1


def test_without_update_it_keeps_the_pharmacists_changes() -> None:
    formulary_load_csv()
    Drug.objects.filter(name="denosumab").update(drug_class="therapeutic")
    formulary_load_csv(update_existing=False)
    assert Drug.objects.get(name="denosumab").drug_class == "therapeutic"


def test_billing_units_split_into_amount_and_unit() -> None:
    assert billing_unit_parse("0.5 mg") == (Decimal("0.5"), "mg")
    assert billing_unit_parse("1000 units") == (Decimal(1000), "units")
    assert billing_unit_parse("") == (None, "")
    with pytest.raises(ValueError):
        billing_unit_parse("mg 50")


@pytest.mark.parametrize("typed", ["0 mg", "0.0 mg", "-5 mg"])
def test_a_billing_unit_of_zero_or_less_is_told_its_amount_must_be_above_zero(typed) -> None:
    # Not "must be 'amount unit' like '50 mg', not '0 mg'": it is written that way.
    with pytest.raises(ValueError, match="billing unit amount must be above zero"):
        billing_unit_parse(typed)
