"""Builders for the coder-review tests: a signed encounter with its charge run and review item."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import User
from django.utils import timezone

from coding.models import ChargeRun, ReviewItem
from coding.services import charge_run_generate
from mar.models import Addendum, Administration, Drug, Encounter
from tests import factories


def encounter_signed(
    *, nurse: User | None = None, billable: bool = False, waste: Decimal | None = None,
    **fields: object,
) -> Encounter:  # fmt: skip
    """The factory's chemotherapy visit, then signed (as the signing service leaves it).

    Everything is charted before the signature: a signed record changes only with an addendum.
    """
    encounter = factories.chemo_encounter_create(**fields)
    if billable:
        paclitaxel_billable(encounter=encounter, waste=waste)
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse, signed_at=timezone.now(), nurse=nurse
    )
    encounter.refresh_from_db()
    return encounter


def paclitaxel_billable(
    *,
    encounter: Encounter,
    waste: Decimal | None = None,
    waste_unit: str = "mg",
    container: str = Drug.Container.SINGLE_DOSE,
) -> Drug:
    """Give paclitaxel its HCPCS code (J9267, 1 mg) and chart the waste on this encounter.

    The test formulary stocks it in single-dose containers (JW/JZ apply) unless told otherwise.
    """
    drug = Drug.objects.get(name="paclitaxel")
    drug.hcpcs_code = "J9267"
    drug.billing_unit_amount = Decimal(1)
    drug.billing_unit = "mg"
    drug.container = container
    drug.save()
    Administration.objects.filter(encounter=encounter, drug=drug).update(
        waste_value=waste, waste_unit=waste_unit
    )
    return drug


def reviewed(
    *, nurse: User | None = None, billable: bool = False, waste: Decimal | None = None,
    **fields: object,
) -> tuple[Encounter, ChargeRun, ReviewItem]:  # fmt: skip
    encounter = encounter_signed(nurse=nurse, billable=billable, waste=waste, **fields)
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    return encounter, run, ReviewItem.objects.get(encounter=encounter)


def addendum_for_test(encounter: Encounter, author: User | None = None) -> Addendum:
    """The addendum that lets a test change a signed record (mar/audit/guard.py checks it at
    commit)."""
    if author is None:
        author = User.objects.filter(is_active=True).first() or factories.user_create(
            username="addendum-author"
        )
    return Addendum.objects.create(
        encounter=encounter, what="test change", why="test", author=author
    )


def jw_lines(run) -> list[tuple[str, int]]:
    """The run's lines with the JW modifier (wasted drug), as (code, units), read so on any
    database (a JSON `contains` lookup is PostgreSQL's only)."""
    return [(line.code, line.units) for line in run.lines.order_by("pk") if "JW" in line.modifiers]
