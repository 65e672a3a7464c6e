"""Builders for the coder-review tests: a signed encounter with its charge run and review item."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from coding.models import ChargeRun, ReviewItem
from coding.review import effective_lines
from coding.services import charge_run_generate
from mar.models import Addendum, Administration, Drug, DrugNdc, Encounter, Flush, Order
from tests import factories


def encounter_signed(
    *, nurse: User | None = None, billable: bool = False, waste: Decimal | None = None,
    hydration_minutes: int | None = None, **fields: object,
) -> Encounter:  # fmt: skip
    """The factory's chemotherapy visit, then signed (as the signing service leaves it);
    `hydration_minutes`: the hydration (08:00) charted that long instead of 60 minutes.

    Everything is charted before the signature: a signed record changes only with an addendum.
    """
    encounter = factories.chemo_encounter_create(**fields)
    if hydration_minutes is not None:
        hydration_charted(encounter, hydration_minutes)
    if billable:
        paclitaxel_billable(encounter=encounter, waste=waste)
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse, signed_at=timezone.now(), nurse=nurse
    )
    encounter.refresh_from_db()
    return encounter


# The hydration charted to 09:40, past the chemotherapy's start (09:15): its 100 charted minutes
# bear a coder's 96361 x2 (EDIT-INFUSION-TIME counts them all), while the engine, counting only
# the minutes it ran alone, still makes 96361 x1 (and RAC-6 asks whether they shared a bag).
HYDRATION_BEARING_TWO = 100


def hydration_charted(encounter: Encounter, minutes: int) -> Administration:
    """The hydration of the factory's visit (started 08:00) charted to stop `minutes` later."""
    adm = Administration.objects.get(encounter=encounter, drug__name="sodium chloride 0.9%")
    Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=minutes))
    adm.refresh_from_db()
    return adm


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
    hydration_minutes: int | None = None, **fields: object,
) -> tuple[Encounter, ChargeRun, ReviewItem]:  # fmt: skip
    encounter = encounter_signed(
        nurse=nurse, billable=billable, waste=waste, hydration_minutes=hydration_minutes, **fields
    )
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


def lines_sum(run: ChargeRun) -> dict:
    """The units the run's lines send as they stand (corrections applied), per code, modifiers
    and date, totals of none left out: what billing holds once the run is exported, to set
    beside coding/exports.py `ledger_sum` (the state machines' "sent equals accepted")."""
    total: dict = {}
    for line in effective_lines(run):
        key = (line.code, tuple(line.modifiers), line.date)
        total[key] = total.get(key, 0) + line.units
    return {k: v for k, v in total.items() if v}


ONDANSETRON_NDCS = ("00409400101", "00781305195")  # two packages the test formulary lists


def ondansetron_twice(
    *, dose: Decimal = Decimal("4.5"), scanned: tuple[str, str] = ("", ""), **fields: object
) -> Encounter:
    """The factory's chemotherapy visit with a second ondansetron push, each charted `dose` mg of
    ondansetron billed as J2405 (1 mg per unit, multi-dose: no JW/JZ), the second package the
    preferred one (0.5 mL per billing unit); `scanned`: the NDC scanned for each push. Then
    signed. The two pushes are on one date of service: one J2405 line of ceil(2 x `dose`)."""
    encounter = factories.chemo_encounter_create(extra_pushes=1, **fields)
    drug = Drug.objects.get(name="ondansetron")
    drug.hcpcs_code, drug.billing_unit_amount, drug.billing_unit = "J2405", Decimal(1), "mg"
    drug.container = Drug.Container.MULTI_DOSE
    drug.save()
    for ndc in ONDANSETRON_NDCS:
        DrugNdc.objects.get_or_create(
            drug=drug, ndc=ndc,
            defaults={"unit": "ML", "units_per_billing_unit": Decimal("0.5"),
                      "preferred": ndc == ONDANSETRON_NDCS[1]},
        )  # fmt: skip
    pushes = Administration.objects.filter(encounter=encounter, drug=drug).order_by("start", "pk")
    for adm, ndc in zip(pushes, scanned, strict=True):
        Administration.objects.filter(pk=adm.pk).update(
            dose_value=dose, dose_unit="mg", stop=adm.start + timedelta(minutes=2), ndc=ndc
        )
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    encounter.refresh_from_db()
    return encounter


def hydration_and_ondansetron(
    *, hydration_ordered: bool = True, push_minutes: int = 2
) -> Encounter:
    """A visit without chemotherapy, signed: hydration 08:00-09:00 (ordered for hydration, or,
    `hydration_ordered=False`, ordered with no purpose: RAC-1), a flush, then ondansetron 8 mg
    pushed at 09:05 (A2 of the record), charted to stop `push_minutes` later. Its charges: 96374
    (the push, the initial service: the engine codes the method charted) and 96361 (the
    hydration's hour, an add-on)."""
    t = factories.MORNING
    encounter = factories.encounter_create()
    site = factories.site_create(encounter)
    fluid = factories.order_create(
        encounter, factories.drug_get("sodium chloride 0.9%", "hydration"), indication="E86.0",
        purpose=Order.Purpose.HYDRATION if hydration_ordered else "", dose="1000 mL",
    )  # fmt: skip
    antiemetic = factories.order_create(
        encounter, factories.drug_get("ondansetron"), indication="R11.2", dose="8 mg"
    )
    factories.administration_create(
        encounter, fluid, site=site, start=t, stop=t + timedelta(minutes=60),
        purpose=Administration.Purpose.HYDRATION,
    )  # fmt: skip
    Flush.objects.create(encounter=encounter, site=site, at=t + timedelta(minutes=63))
    factories.administration_create(
        encounter, antiemetic, site=site, start=t + timedelta(minutes=65),
        stop=t + timedelta(minutes=65 + push_minutes), method=Administration.Method.PUSH,
        dose_value=Decimal(8), dose_unit="mg",
    )  # fmt: skip
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    encounter.refresh_from_db()
    return encounter


def ondansetron_infused(
    encounter: Encounter, author: User | None = None, *, minutes: int = 20
) -> ChargeRun:
    """The nurse's addendum: the ondansetron was infused over `minutes`, not pushed (96374
    becomes 96365 when it is the initial service). Returns the run it makes."""
    with transaction.atomic():  # the signed-record guard wants both in one transaction
        addendum_for_test(encounter, author)
        adm = Administration.objects.get(encounter=encounter, drug__name="ondansetron")
        Administration.objects.filter(pk=adm.pk).update(
            method=Administration.Method.INFUSION, stop=adm.start + timedelta(minutes=minutes)
        )
    run, _ = charge_run_generate(encounter_id=encounter.pk, trigger=ChargeRun.Trigger.ADDENDUM)
    return run


def held_after_rerun(item: ReviewItem, coder: User) -> ReviewItem:
    """The item after a new run made while `coder` had it in review: still hers, in review (a
    re-run never takes a claim: coding/review.py `review_item_sync`)."""
    item = ReviewItem.objects.get(pk=item.pk)
    assert (item.state, item.claimed_by_id) == (ReviewItem.State.IN_REVIEW, coder.pk)
    return item


def dexamethasone_visit(*, nurse: User | None = None) -> Encounter:
    """The QA's visit: the factory's chemotherapy visit with a dexamethasone infusion after the
    paclitaxel, 14 minutes (15 or less: a push, with the ondansetron push one line 96375 x2),
    then signed."""
    encounter = factories.chemo_encounter_create()
    order = factories.order_create(encounter, factories.drug_get("dexamethasone"), dose="10 mg")
    site = encounter.sites.first()
    start = factories.MORNING + timedelta(minutes=260)
    factories.administration_create(
        encounter, order, site=site, start=start, stop=start + timedelta(minutes=14),
        dose_value=Decimal(10), dose_unit="mg",
    )  # fmt: skip
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse, signed_at=timezone.now(), nurse=nurse
    )
    encounter.refresh_from_db()
    return encounter


def dexamethasone_addenda(encounter: Encounter, nurse: User) -> tuple[ChargeRun, ChargeRun]:
    """The QA's two addenda, each its run: the dexamethasone stop moved 2 minutes later (16
    minutes: an infusion, 96367), then a flush charted late (no charge changes)."""
    dex = Administration.objects.get(encounter=encounter, drug__name="dexamethasone")
    stop = timezone.localtime(dex.stop, encounter.zone)
    with transaction.atomic():
        Addendum.objects.create(
            encounter=encounter, author=nurse,
            what=f"A{dex.pk} dexamethasone stop {stop:%H:%M} -> "
            f"{stop + timedelta(minutes=2):%H:%M}",
            why="stop time charted from the pump, not the wall clock",
        )  # fmt: skip
        Administration.objects.filter(pk=dex.pk).update(stop=dex.stop + timedelta(minutes=2))
    second, _ = charge_run_generate(
        encounter_id=encounter.pk, trigger="addendum",
        reason="stop time charted from the pump, not the wall clock",
    )  # fmt: skip
    with transaction.atomic():
        Addendum.objects.create(
            encounter=encounter, author=nurse, what="flush before the dexamethasone",
            why="flush given and not charted",
        )  # fmt: skip
        Flush.objects.create(
            encounter=encounter, site=dex.site, at=dex.start - timedelta(minutes=1)
        )
    third, _ = charge_run_generate(
        encounter_id=encounter.pk, trigger="addendum", reason="flush given and not charted"
    )
    return second, third


def in_review_with(coder: User, item: ReviewItem) -> ReviewItem:
    """The item in review with `coder`: claimed now when it is new; hers already when her
    answered query brought it back to her (coding/review.py `_answered`)."""
    from coding.review import review_claim

    held = ReviewItem.objects.get(pk=item.pk)
    if held.state == ReviewItem.State.IN_REVIEW and held.claimed_by_id == coder.pk:
        return held
    claimed = review_claim(user=coder, item_id=item.pk)
    assert claimed is not None, f"not claimable: {held.state}, {held.claimed_by_id}"
    return claimed
