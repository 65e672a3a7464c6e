"""Records for the chart's tests, charted relative to the real clock (the views use now)."""

import dataclasses
from datetime import timedelta
from typing import Any

from django.forms import Form
from django.utils import timezone

from mar.lazy_forms import LazyForm
from mar.models import Administration, DrugClass, Encounter, Order
from tests import factories

# The sign-off's "I have checked what I am signing" box, ticked (bedside finding 1): a sign post
# without it is refused.
SIGN_CONFIRMED = {"confirm": "on"}


def running_visit(**fields: object) -> tuple[Encounter, Administration]:
    """Arrived 2 h ago, one peripheral IV, carboplatin running for the last 60 minutes."""
    now = timezone.now()
    fields.setdefault("arrived_at", now - timedelta(hours=2))
    encounter = factories.encounter_create(**fields)
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    order = factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="AUC 5"
    )
    adm = factories.administration_create(
        encounter, order, site=site, start=now - timedelta(minutes=60), stop=None
    )
    return encounter, adm


def hydration_order(encounter: Encounter) -> Order:
    return factories.order_create(
        encounter,
        factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION),
        indication="E86.0",
        purpose=Order.Purpose.HYDRATION,
        dose="1000 mL",
    )


def local(moment) -> str:
    """A time as typed in a time field (24-hour) on the encounter's (New York) wall clock."""
    return moment.astimezone(factories.NEW_YORK).strftime("%Y-%m-%dT%H:%M")


def card_data(adm: Administration, **overrides: object) -> dict[str, object]:
    """The administration card's POST data as the page would send it, with overrides."""
    values: dict[str, object] = {
        "start": local(adm.start),
        "stop": local(adm.stop) if adm.stop else "",
        "method": adm.method,
        "site": adm.site_id or "",
        "bag": adm.bag,
        "purpose": adm.purpose,
        "started_by": adm.started_by,
        "pump": adm.pump,
        "planned_hours": "",
        "dose_value": adm.dose_value if adm.dose_value is not None else "",
        "dose_unit": adm.dose_unit,
        "waste_value": adm.waste_value if adm.waste_value is not None else "",
        "waste_unit": adm.waste_unit,
        "version": adm.version,
    }
    values.update(overrides)
    return {f"a{adm.pk}-{name}": value for name, value in values.items()}


def forms_in(value: Any, seen: set[int] | None = None) -> list[Form]:
    """Every form in a chart's context (dicts, lists, tuples and dataclasses walked), once each."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, Form):
        return [value]
    if isinstance(value, LazyForm):  # built at its first read (mar/lazy_forms.py): read it
        return forms_in(value._made(), seen)
    if isinstance(value, dict):
        return [f for v in value.values() for f in forms_in(v, seen)]
    if isinstance(value, list | tuple):
        return [f for v in value for f in forms_in(v, seen)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        values = [getattr(value, fld.name) for fld in dataclasses.fields(value)]
        return [f for v in values for f in forms_in(v, seen)]
    return []
