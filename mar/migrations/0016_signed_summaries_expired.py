"""Signed records' stored summaries were computed as at the bedside (an infusion with no stop
"running", a finding that ages with the clock); they are now computed as the signature judged the
record (mar/summary.py, `_computed`). Mark those stored so far expired: the next reader
recomputes each (a summary is derived data, never the record)."""

from datetime import UTC, datetime

from django.db import migrations

EXPIRED = datetime(2000, 1, 1, tzinfo=UTC)


def expire_signed(apps, schema_editor):
    summary = apps.get_model("mar", "EncounterSummary")
    summary.objects.filter(encounter__status="signed").update(valid_until=EXPIRED)


class Migration(migrations.Migration):
    dependencies = [("mar", "0015_interfacemessage_reuses")]

    operations = [migrations.RunPython(expire_signed, migrations.RunPython.noop)]
