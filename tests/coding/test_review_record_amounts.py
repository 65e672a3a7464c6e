"""The coder's review page: the record's administrations table writes each dose and waste as an
amount ('3.375 g'), not as stored ('3.3750 g', the database's four places; QA), each amount
with its unit on one line (the narrow column broke '3.375 / g')."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from coding.services import charge_run_generate
from mar import roles
from mar.models import Administration, Encounter
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_record_table_writes_doses_and_waste_as_amounts(client_as) -> None:
    encounter = factories.chemo_encounter_create()
    Administration.objects.filter(encounter=encounter, drug__name="paclitaxel").update(
        dose_value=Decimal("3.3750"), dose_unit="g", waste_value=Decimal("0.2500"), waste_unit="g"
    )
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    charge_run_generate(encounter_id=encounter.pk)
    page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    html = page.content.decode()
    table = html[html.index('class="table table-sm small record-administrations"') :]
    table = table[: table.index("</table>")]
    cells = re.findall(r'<td data-testid="record-dose">(.*?)</td>', table, re.S)
    texts = [re.sub(r"<[^>]+>", "", cell) for cell in cells]
    assert "3.375 g / 0.25 g wasted" in texts, texts
    # each amount kept on one line with its unit (static/css/coding.css)
    assert '<span class="rec-amount">3.375 g</span>' in table
    assert '<span class="rec-amount">0.25 g</span>' in table
    assert "3.3750" not in table and "0.2500" not in table
