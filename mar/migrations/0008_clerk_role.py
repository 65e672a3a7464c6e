"""The unit clerk's role (registration, visits, order entry: mar/registration/)."""

from django.db import migrations


def create_clerk(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.get_or_create(name="clerk")


def remove_clerk(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name="clerk").delete()


class Migration(migrations.Migration):
    dependencies = [("mar", "0007_payer_ndc_npi_account")]

    operations = [migrations.RunPython(create_clerk, remove_clerk)]
