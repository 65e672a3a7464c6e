# Order.duplicate_of and SafetyOverride kind "duplicate": a duplicate order confirmed at entry.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mar", "0030_signed_summaries_judged_at_signature"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="duplicate_of",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="mar.order",
            ),
        ),
        migrations.AlterField(
            model_name="safetyoverride",
            name="kind",
            field=models.CharField(
                choices=[
                    ("wrong_patient", "Wrong patient"),
                    ("wrong_drug", "Wrong drug"),
                    ("expired", "Expired lot"),
                    ("retired", "Retired package"),
                    ("allergy", "Allergy"),
                    ("cross_sensitivity", "Cross-sensitivity"),
                    ("unverified", "Started before verification (emergency)"),
                    ("duplicate", "Duplicate order confirmed"),
                ],
                max_length=20,
            ),
        ),
    ]
