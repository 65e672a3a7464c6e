"""DrugNdc.billing_units_per_ndc_unit: a package's relation to its drug's HCPCS billing unit
stated the other way round (billing units in one NDC unit), so that a concentration whose NDC
units per billing unit is no terminating decimal is stored exactly (paclitaxel 6 mg/mL billed
per 1 mg: 6 billing units per ML, not 0.1667 ML per billing unit); at most one of the two
(`mar_drug_ndc_one_relation`).

Existing rows keep their NDC units per billing unit as they are, the new field blank: their
claims read as before (both blank is 1, as before). Nothing is converted: a stored 0.1667 may be
a rounded 1/6 or a label's own 0.1667, which only the pharmacist can tell (the pharmacy page's
correction states it again, audited, the charges brought up to date).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    # Written beside mar 0028 (another change); the merge re-points this after it.
    dependencies = [
        ("mar", "0028_ratechange_amended_by_addendum"),
    ]

    operations = [
        migrations.AddField(
            model_name="drugndc",
            name="billing_units_per_ndc_unit",
            field=models.DecimalField(
                blank=True,
                decimal_places=4,
                help_text="Billing units of the HCPCS in one NDC unit (e.g. 6 per 1 ML of a "
                "6 mg/mL package billed per 1 mg); instead of NDC units per billing unit, when "
                "that one is not a terminating decimal",
                max_digits=12,
                null=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="drugndc",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("units_per_billing_unit__isnull", True),
                    ("billing_units_per_ndc_unit__isnull", True),
                    _connector="OR",
                ),
                name="mar_drug_ndc_one_relation",
                violation_error_message=(
                    "Give either the NDC units per billing unit or the billing units per NDC "
                    "unit, not both."
                ),
            ),
        ),
    ]
