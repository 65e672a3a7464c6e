"""The coder's review draws the record's rate changes on its timeline: a row corrected by
addendum after the signature says so there too, as on the nurse's card ("corrected by addendum
HH:MM by <name>", the mark's tooltip and `data-amended`; mar.timeline.rate_corrections)."""

import html as html_lib
from decimal import Decimal

import pytest
from django.urls import reverse

from coding.models import ChargeRun
from coding.services import charge_run_generate
from mar import roles
from mar.models import RateChange
from mar.services import rates
from tests import factories
from tests.mar.test_rate_change_correct import charted_at_125, signed

pytestmark = pytest.mark.django_db


def _rate_marks(page: str) -> list[str]:
    """Each rate mark's opening tag on the timeline."""
    return [
        page[at : page.index(">", at)]
        for at in range(len(page))
        if page.startswith('<g class="tl-rate" data-mark="rate"', at)
    ]


def test_the_coders_timeline_marks_the_rate_row_corrected_after_signing(
    client_as, nurse_user
) -> None:
    encounter, adm, rc = charted_at_125(nurse_user, stopped=True)
    adm = signed(encounter, adm, nurse_user)
    charge_run_generate(encounter_id=encounter.pk)
    url = reverse("coding:encounter_charges", args=[encounter.pk])
    before = html_lib.unescape(client_as(roles.CODER).get(url).content.decode())
    assert [m for m in _rate_marks(before) if 'data-rate="125 mL/h"' in m]
    assert not [m for m in _rate_marks(before) if "data-amended" in m]

    rates.rate_change_update(
        rate_change=rc,
        rate_ml_h=Decimal(152),
        at=rc.at,
        version=adm.version,
        user=nurse_user,
        addendum_why="pump history read again",
    )
    charge_run_generate(encounter_id=encounter.pk, trigger=ChargeRun.Trigger.ADDENDUM)
    amended_at = RateChange.objects.get(pk=rc.pk).amended_at
    words = (
        f"corrected by addendum {amended_at.astimezone(factories.NEW_YORK):%H:%M} "
        f"by {nurse_user.get_username()}"
    )
    page = html_lib.unescape(client_as(roles.CODER).get(url).content.decode())
    (mark,) = [m for m in _rate_marks(page) if 'data-rate="152 mL/h"' in m]
    assert f'data-amended="{words}"' in mark
    assert f"({words})</title>" in page
