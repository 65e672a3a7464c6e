"""The demo (bin/demo) runs on SQLite with Celery eager: every role's pages answer there too.

The suite runs on PostgreSQL; a query SQLite refuses (an ORDER BY or LIMIT inside a UNION, say)
would pass it and break the demo. This runs the demo command on a fresh SQLite file in a
subprocess, signs in as each demo user and opens the pages that user works in (the
administrator: the Django admin's every list), and imports a visit through the FHIR API with a
token."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import io
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment
from django.urls import reverse

assert connection.vendor == "sqlite", connection.vendor
call_command("migrate", verbosity=0)
call_command("demo", stdout=io.StringIO())
setup_test_environment()

from django.contrib.auth.models import User
from coding.models import ChargeRun
from mar.models import Encounter

open_visit = Encounter.objects.filter(status=Encounter.Status.IN_PROGRESS).first()
signed = ChargeRun.objects.filter(is_current=True).first().encounter
pages = {
    "nurse": [reverse("mar:board"), reverse("mar:encounter", args=[open_visit.pk]),
              reverse("mar:encounter_checklist", args=[open_visit.pk])],
    "pharmacist": [reverse("pharmacy:worklist"), reverse("pharmacy:formulary")],
    "coder": [reverse("coding:worklist"), reverse("coding:encounter_charges", args=[signed.pk]),
              reverse("coding:exports"), reverse("coding:report_findings"),
              reverse("coding:report_reconciliation")],
}
failed = []
for role, urls in pages.items():
    user = User.objects.filter(groups__name=role).order_by("pk").first()
    client = Client()
    client.force_login(user)
    for url in urls:
        status = client.get(url).status_code
        print(role, url, status)
        if status != 200:
            failed.append((role, url, status))
# The Django admin as the demo's administrator: its index and every model's list (the audit
# trail's events list is PostgreSQL's only, and is not offered on SQLite).
from django.contrib import admin
admin_client = Client()
admin_client.force_login(User.objects.get(username="admin"))
admin_urls = [reverse("admin:index")] + [
    reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for model in admin.site._registry
]
for url in admin_urls:
    status = admin_client.get(url).status_code
    if status != 200:
        failed.append(("admin", url, status))
print("admin pages", len(admin_urls))
# Another system's FHIR import (a token, not a user) writes a whole visit on SQLite too: the
# audit context of a token's request is PostgreSQL's only (it broke every statement here).
import json
from coding.fhir.auth import api_token_create
from tests.coding.fhir.bundles import chemo_visit_bundle
_token, key = api_token_create(name="Other EHR MAR", scopes=["read", "import"])
response = Client().post(
    "/fhir/R4/", json.dumps(chemo_visit_bundle()), content_type="application/fhir+json",
    headers={"Authorization": f"Bearer {key}"},
)
print("fhir import", response.status_code)
if response.status_code != 200:
    failed.append(("fhir import", response.status_code, response.content[:500]))
assert Encounter.objects.filter(account_number="EXT-V-501").exists() or failed
assert not failed, failed
print("ALL-OK")
"""


@pytest.mark.slow
def test_every_roles_pages_answer_on_the_demos_sqlite(tmp_path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ENV", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "ALL-OK" in out.stdout
