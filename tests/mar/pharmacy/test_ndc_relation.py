"""A package's relation to the billing unit stated as billing units per NDC unit
(`DrugNdc.billing_units_per_ndc_unit`) on the pharmacy's side: corrected from the other form
(audited, both fields' old and new values said), and kept exact when the drug's billing unit is
restated (mar/pharmacy/services.py `_package_rescaled`)."""

from decimal import Decimal

import pytest

from mar.audit.models import EVENTS
from mar.models import DrugNdc
from mar.pharmacy.services import drug_ndc_update
from tests.mar.pharmacy.test_billing import paclitaxel_visit, save
from tests.mar.pharmacy.test_services import current, sign

pytestmark = pytest.mark.django_db


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_package_stored_as_0_1667_ml_is_corrected_to_6_billing_units_per_ml(
    pharmacist_user,
) -> None:
    drug, _ = paclitaxel_visit()
    vial = DrugNdc.objects.create(
        drug=drug, ndc="99999000901", unit="ML", units_per_billing_unit=Decimal("0.1667")
    )
    corrected = drug_ndc_update(
        ndc=vial, package_description="", unit="ML", units_per_billing_unit=None,
        billing_units_per_ndc_unit=Decimal(6), reason="label says 6 mg/mL", user=pharmacist_user,
    )  # fmt: skip
    assert corrected.said == (
        "NDC units per billing unit 0.1667 -> (none); billing units per NDC unit (none) -> 6"
    )
    vial.refresh_from_db()
    assert (vial.units_per_billing_unit, vial.billing_units_per_ndc_unit) == (None, Decimal(6))
    event = EVENTS[DrugNdc].objects.get(pgh_obj_id=vial.pk, pgh_label="update")
    assert event.billing_units_per_ndc_unit == Decimal(6)
    assert event.pgh_context.metadata["changes"] == {
        "units_per_billing_unit": ["0.1667", "(none)"],
        "billing_units_per_ndc_unit": ["(none)", "6"],
    }


@pytest.mark.parametrize(
    ("billing_unit", "stated", "now", "said"),
    [
        # 6 per mL of 1 mg units: per 4 mg it is 1.5 per mL, stated the same way
        (
            "4 mg",
            {"billing_units_per_ndc_unit": Decimal(6)},
            (None, Decimal("1.5")),
            "billing units per NDC unit 6 -> 1.5 (scaled with it)",
        ),
        # per 3 mg: 2 per mL, or 0.5 mL per unit; the form stated stays
        (
            "3 mg",
            {"billing_units_per_ndc_unit": Decimal(6)},
            (None, Decimal(2)),
            "billing units per NDC unit 6 -> 2 (scaled with it)",
        ),
        # 0.5 mL per 1 mg restated per 3 mg: 1.5 mL, exact as stated
        (
            "3 mg",
            {"units_per_billing_unit": Decimal("0.5")},
            (Decimal("1.5"), None),
            "units per billing unit 0.5 -> 1.5 (scaled with it)",
        ),
        # 0.5 mL per 1 mg restated per 0.3 mg: 0.15 mL, exact
        (
            "0.3 mg",
            {"units_per_billing_unit": Decimal("0.5")},
            (Decimal("0.15"), None),
            "units per billing unit 0.5 -> 0.15 (scaled with it)",
        ),
        # 3 mg/mL (3 per mL of 1 mg units) restated per 7 mg: 3/7 per mL or 7/3 mL, neither
        # exact: rounded in the form stated, and said
        (
            "7 mg",
            {"billing_units_per_ndc_unit": Decimal(3)},
            (None, Decimal("0.4286")),
            "billing units per NDC unit 3 -> 0.4286 (scaled with it, rounded to 4 places: "
            "check it)",
        ),
    ],
)
def test_a_restated_billing_unit_scales_a_package_exactly_in_the_form_that_stays_exact(
    billing_unit, stated, now, said, nurse_user, pharmacist_user,
    django_capture_on_commit_callbacks,
) -> None:  # fmt: skip
    drug, encounter = paclitaxel_visit()
    vial = DrugNdc.objects.create(drug=drug, ndc="99999000901", unit="ML", **stated)
    sign(encounter, nurse_user)
    with django_capture_on_commit_callbacks(execute=True):
        save(drug, pharmacist_user, billing_unit=billing_unit)
    vial.refresh_from_db()
    assert (vial.units_per_billing_unit, vial.billing_units_per_ndc_unit) == now
    assert f"NDC 99999000901 {said}" in current(encounter).reason


def test_a_package_stated_one_way_that_is_inexact_after_is_stated_the_other_way(
    nurse_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """0.5 mL per 1 mg (2 mg/mL) restated per 3 mg is 1.5 mL: exact. 2 per mL of 1 mg units
    restated per 3 mg is 2/3 per mL, not exact, but 1.5 mL per unit is: stored that way."""
    drug, encounter = paclitaxel_visit()
    vial = DrugNdc.objects.create(
        drug=drug, ndc="99999000901", unit="ML", billing_units_per_ndc_unit=Decimal(2)
    )
    sign(encounter, nurse_user)
    with django_capture_on_commit_callbacks(execute=True):
        save(drug, pharmacist_user, billing_unit="3 mg")
    vial.refresh_from_db()
    assert (vial.units_per_billing_unit, vial.billing_units_per_ndc_unit) == (Decimal("1.5"), None)
    assert (
        "NDC 99999000901 billing units per NDC unit 2 -> units per billing unit 1.5 "
        "(scaled with it)" in current(encounter).reason
    )
