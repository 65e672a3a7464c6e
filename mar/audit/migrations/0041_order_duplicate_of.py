# Order.duplicate_of and SafetyOverride kind "duplicate": a duplicate order confirmed at entry.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0040_ledgerentryevent_ndc_rounding"),
        ("mar", "0031_order_duplicate_of"),
    ]

    operations = [
        migrations.AddField(
            model_name="orderevent",
            name="duplicate_of",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="mar.order",
            ),
        ),
        migrations.AlterField(
            model_name="safetyoverrideevent",
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
