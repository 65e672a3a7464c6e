"""mar 0029 (DrugNdc.billing_units_per_ndc_unit) keeps every package as it was.

A package stored before, with NDC units per billing unit given (0.1667, 0.5) or blank (1), keeps
that value after the migration, the new field blank: its claims read as before (nothing is
converted: only the pharmacist can tell a rounded 1/6 from a label's own 0.1667). Afterwards the
database refuses a package with both relations (`mar_drug_ndc_one_relation`). Run on a fresh
SQLite database (the demo's), migrated to mar 0028, rows written, then migrated forwards."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
from decimal import Decimal
import django
django.setup()
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

call_command("migrate", "mar", "0028", verbosity=0)
apps = MigrationExecutor(connection).loader.project_state(
    ("mar", "0028_ratechange_amended_by_addendum")
).apps
Drug, DrugNdc = apps.get_model("mar", "Drug"), apps.get_model("mar", "DrugNdc")
drug = Drug.objects.create(name="migration test drug")
for ndc, per_unit in (("99999000001", Decimal("0.1667")), ("99999000002", Decimal("0.5")),
                      ("99999000003", None)):
    DrugNdc.objects.create(drug=drug, ndc=ndc, unit="ML", units_per_billing_unit=per_unit)

call_command("migrate", verbosity=0)
from mar.models import DrugNdc as Now
kept = sorted(Now.objects.filter(drug__name="migration test drug").values_list(
    "ndc", "units_per_billing_unit", "billing_units_per_ndc_unit"))
assert kept == [("99999000001", Decimal("0.1667"), None), ("99999000002", Decimal("0.5"), None),
                ("99999000003", None, None)], kept
texts = [n.per_billing_unit_text for n in Now.objects.filter(drug__name="migration test drug")]
assert sorted(texts) == ["0.1667", "0.5", "1"], texts
try:
    with transaction.atomic():
        Now.objects.filter(ndc="99999000002").update(billing_units_per_ndc_unit=Decimal(2))
except IntegrityError:
    pass
else:
    raise AssertionError("both relations were stored")
print("ok")
"""


def test_the_ndc_relation_migration_keeps_the_values_stored_before(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
