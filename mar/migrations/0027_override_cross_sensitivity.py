"""SafetyOverride's kind "cross_sensitivity": an allergy override whose warning was a
cross-sensitivity only (mar/services/safety.py `allergy_override_kind`).

The overrides recorded before are relabelled where it can be told reliably: the message keeps
the warning as it was shown, after the stage's prefix ("At order entry: ", "At verification: ",
none at a start), and a warning that was a cross-sensitivity only begins "Cross-sensitivity: "
(a direct match always comes first, "Allergy: ..."). Nothing else of the row changes (who, when,
the reason, what was shown); the relabel is in the audit trail with its own action. A warning
worded otherwise (none known) stays "allergy". Reversed, they are "allergy" again.
"""

from django.db import migrations, models

PREFIXES = ("", "At order entry: ", "At verification: ")
CROSS = "Cross-sensitivity: "


def _context(connection):  # the audit trail's context for the relabel (PostgreSQL only)
    import contextlib

    if connection.vendor != "postgresql":
        return contextlib.nullcontext()
    import pghistory

    return pghistory.context(
        action="safety_override_kind_relabel",
        reason="mar 0027: a cross-sensitivity-only allergy override gets its own kind",
    )


def relabel(apps, schema_editor):
    SafetyOverride = apps.get_model("mar", "SafetyOverride")
    query = models.Q()
    for prefix in PREFIXES:
        query |= models.Q(message__startswith=prefix + CROSS)
    with _context(schema_editor.connection):
        SafetyOverride.objects.filter(query, kind="allergy").update(kind="cross_sensitivity")


def unlabel(apps, schema_editor):
    SafetyOverride = apps.get_model("mar", "SafetyOverride")
    with _context(schema_editor.connection):
        SafetyOverride.objects.filter(kind="cross_sensitivity").update(kind="allergy")


class Migration(migrations.Migration):
    dependencies = [
        ("mar", "0026_order_entry_key"),
    ]

    operations = [
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
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(relabel, unlabel),
    ]
