"""The Django admin shows charge runs, their lines and findings read-only.

A run is made by `charge_run_store` (its drug lines, review item, ledger in one transaction);
a line changes only by the coder's correction, with a reason. Before, `ChargeRunAdmin` and its
line and finding inlines were plain: an admin changed a line's code or units, or deleted a run,
and the worklist, the ledger and the exports read it as if the engine or a coder had."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from coding.models import ChargeLine, ChargeRun
from coding.services import charge_run_generate
from tests import factories
from tests.coding.review_helpers import encounter_signed
from tests.mar.test_admin import change_form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password=factories.PASSWORD))
    return client


def test_the_admin_cannot_change_or_delete_a_charge_run_or_its_lines(admin) -> None:
    run, _ = charge_run_generate(encounter_id=encounter_signed(billable=True).pk)
    lines = list(ChargeLine.objects.filter(run=run).values_list("pk", "code", "units"))
    assert lines
    url = f"/admin/coding/chargerun/{run.pk}/change/"
    page = admin.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    data = change_form_data(page)
    for key in list(data):
        if key.endswith("-units"):
            data[key] = "99"
        if key.endswith("-DELETE"):
            data[key] = "on"
    data["is_current"] = ""
    assert admin.post(url, data).status_code == 403
    assert (
        admin.post(f"/admin/coding/chargerun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert admin.post("/admin/coding/chargerun/add/", {}).status_code == 403
    assert ChargeRun.objects.get(pk=run.pk).is_current
    assert list(ChargeLine.objects.filter(run=run).values_list("pk", "code", "units")) == lines
