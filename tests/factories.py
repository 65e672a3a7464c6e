"""Plain functions that build records for tests. Reuse them; keep them boring.

Times default to a fixed morning (2026-03-02, America/New_York) so tests never depend on the clock.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Group, User
from django.utils import timezone

from mar.models import (
    AccessSite,
    Administration,
    Drug,
    DrugClass,
    Encounter,
    EntryMethod,
    Flush,
    Order,
    Patient,
    Pause,
)
from mar.registration.services import OrderEntry

NEW_YORK = ZoneInfo("America/New_York")
MORNING = datetime(2026, 3, 2, 8, 0, tzinfo=NEW_YORK)
PASSWORD = "test-password-123"


def user_create(*, username: str, role: str | None = None) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if role is not None:
        # get_or_create: a transactional test's flush removes the groups the migration made.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def drug_get(name: str, drug_class: str | None = DrugClass.THERAPEUTIC) -> Drug:
    drug, _ = Drug.objects.get_or_create(name=name, defaults={"drug_class": drug_class})
    return drug


_patients = 0


def patient_create(**fields: object) -> Patient:
    global _patients
    _patients += 1
    defaults: dict[str, object] = {"name": f"Patient {_patients}", "mrn": f"T{_patients:06d}"}
    defaults.update(fields)
    while Patient.objects.filter(mrn=defaults["mrn"]).exists():
        _patients += 1
        defaults["mrn"] = f"T{_patients:06d}"
    return Patient.objects.create(**defaults)


_accounts = 0


def encounter_create(**fields: object) -> Encounter:
    """A visit; registered with an account number of its own (a claim without one is held before
    export: EDIT-ACCOUNT) unless `account_number` is given ("" for none)."""
    global _accounts
    _accounts += 1
    defaults: dict[str, object] = {
        "unit": "Infusion Center",
        "location_label": "1",
        "arrived_at": MORNING,
        "timezone": "America/New_York",
        "account_number": f"TV{_accounts:06d}",
    }
    defaults.update(fields)
    while (
        "account_number" not in fields
        and Encounter.objects.filter(account_number=defaults["account_number"]).exists()
    ):
        _accounts += 1
        defaults["account_number"] = f"TV{_accounts:06d}"
    if "patient" not in defaults:
        defaults["patient"] = patient_create()
    return Encounter.objects.create(**defaults)


def site_create(encounter: Encounter, **fields: object) -> AccessSite:
    defaults: dict[str, object] = {
        "kind": AccessSite.Kind.PERIPHERAL_IV,
        "location": "left forearm",
        "placed_at": MORNING,
    }
    defaults.update(fields)
    return AccessSite.objects.create(encounter=encounter, **defaults)


def order_create(
    encounter: Encounter, drug: Drug, *, indication: str = "C34.90", **fields: object
) -> Order:
    defaults: dict[str, object] = {"dose": "per protocol", "route": "iv", "indication": indication}
    defaults.update(fields)
    return Order.objects.create(encounter=encounter, drug=drug, **defaults)


def administration_create(
    encounter: Encounter,
    order: Order,
    *,
    site: AccessSite | None,
    start: datetime,
    stop: datetime | None,
    **fields: object,
) -> Administration:
    defaults: dict[str, object] = {"route": order.route, "method": Administration.Method.INFUSION}
    defaults.update(fields)
    return Administration.objects.create(
        encounter=encounter, order=order, drug=order.drug, site=site, start=start, stop=stop,
        **defaults,
    )  # fmt: skip


def chemo_encounter_create(*, extra_pushes: int = 0, **fields: object) -> Encounter:
    """A complete, codable chemotherapy visit on one peripheral IV (scenario P07 plus extras).

    Hydration 08:00-09:00, ondansetron push 09:05, flush 09:03, paclitaxel 09:15-12:15 with a
    10-minute pause; then `extra_pushes` more ondansetron pushes, each with a flush, to make the
    record as large as a test needs. A signed visit is charted first and signed last, as a nurse
    would: the signed-record guard refuses changes after the signature.
    """
    status = fields.pop("status", Encounter.Status.IN_PROGRESS)
    encounter = encounter_create(**fields)
    site = site_create(encounter)
    fluid = order_create(
        encounter,
        drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
        indication="E86.0",
        purpose=Order.Purpose.HYDRATION,
        dose="1000 mL",
    )
    antiemetic = order_create(encounter, drug_get("ondansetron"), indication="R11.2", dose="8 mg")
    chemo = order_create(encounter, drug_get("paclitaxel", DrugClass.CHEMO), dose="175 mg/m2")

    t = MORNING
    administration_create(
        encounter, fluid, site=site, start=t, stop=t + timedelta(minutes=60),
        purpose=Administration.Purpose.HYDRATION,
    )  # fmt: skip
    Flush.objects.create(encounter=encounter, site=site, at=t + timedelta(minutes=63))
    administration_create(
        encounter, antiemetic, site=site, start=t + timedelta(minutes=65),
        stop=t + timedelta(minutes=67), method=Administration.Method.PUSH,
        dose_value=Decimal(8), dose_unit="mg",
    )  # fmt: skip
    infusion = administration_create(
        encounter, chemo, site=site, start=t + timedelta(minutes=75),
        stop=t + timedelta(minutes=255), dose_value=Decimal(300), dose_unit="mg",
    )  # fmt: skip
    Pause.objects.create(
        administration=infusion,
        start=t + timedelta(minutes=100),
        end=t + timedelta(minutes=110),
    )
    for n in range(extra_pushes):
        at = t + timedelta(minutes=260 + 40 * n)
        Flush.objects.create(encounter=encounter, site=site, at=at - timedelta(minutes=1))
        administration_create(
            encounter, antiemetic, site=site, start=at, stop=None,
            method=Administration.Method.PUSH,
        )  # fmt: skip
    if status != Encounter.Status.IN_PROGRESS:
        encounter.status = status
        encounter.signed_at = MORNING + timedelta(hours=6)
        encounter.save(update_fields=["status", "signed_at"])
    return encounter


def ondansetron_entry(dose: str = "8", placer: str = "P1") -> OrderEntry:
    """An electronic order of ondansetron `dose` mg IV (R11.2, Dr. Amara Okafor) under placer
    number `placer`, as order entry and the interfaces give `order_enter`."""
    return OrderEntry(
        drug=drug_get("ondansetron"),
        dose_value=Decimal(dose),
        dose_unit="mg",
        indication="R11.2",
        ordering_provider="Dr. Amara Okafor",
        entry_method=EntryMethod.ELECTRONIC,
        placer_number=placer,
    )


def ondansetron_order() -> Order:
    """`ondansetron_entry()` entered on a visit that arrived an hour ago, in progress."""
    from mar.registration.services import order_enter

    encounter = encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    return order_enter(encounter=encounter, entry=ondansetron_entry())
