"""Signed records are now judged at their signature by the engine itself (the record carries
`encounter.signed_at`; a time after it is a DOC-3 warning "after the record was signed", not an
error "in the future"), and the record carries the visit's account number (EDIT-ACCOUNT). The
summaries stored for signed records never expire on their own: mark them expired so the next
reader recomputes each (a summary is derived data, never the record)."""

from datetime import UTC, datetime

from django.db import migrations

EXPIRED = datetime(2000, 1, 1, tzinfo=UTC)


def expire_signed(apps, schema_editor):
    summary = apps.get_model("mar", "EncounterSummary")
    summary.objects.filter(encounter__status="signed").update(valid_until=EXPIRED)


class Migration(migrations.Migration):
    dependencies = [("mar", "0029_ndc_billing_units_per_ndc_unit")]

    operations = [migrations.RunPython(expire_signed, migrations.RunPython.noop)]
