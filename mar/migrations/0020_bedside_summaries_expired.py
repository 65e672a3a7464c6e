"""RAC-7 at the bedside changed (coding/engine/checks.py): the pause a running infusion is in now
is info, not an error. The stored summaries of records in progress were computed with the old
rule (a card paused now counted as an open error on the board and the checklist until its next
change). Mark those stored so far expired: the next reader recomputes each (a summary is derived
data, never the record). Signed records' summaries are computed as the signature judges the
record, which did not change."""

from datetime import UTC, datetime

from django.db import migrations

EXPIRED = datetime(2000, 1, 1, tzinfo=UTC)


def expire_in_progress(apps, schema_editor):
    summary = apps.get_model("mar", "EncounterSummary")
    summary.objects.exclude(encounter__status="signed").update(valid_until=EXPIRED)


class Migration(migrations.Migration):
    dependencies = [("mar", "0019_order_change")]

    operations = [migrations.RunPython(expire_in_progress, migrations.RunPython.noop)]
