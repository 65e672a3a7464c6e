"""The engine's hand-written constructors take exactly the fields a dataclass would (issue 19).

The record's and result's classes stay dataclasses (fields, repr, equality, hash) but write their
own `__init__`: mypyc compiles a hand-written one to C, while the one `dataclasses` generates stays
interpreted Python (about a fifth of the compiled engine's time). These tests hold each
constructor to what `@dataclass` would have generated: the same parameters in the same order,
the same defaults, every field set, and `__post_init__` run where there is one.
"""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, date, datetime
from typing import Any

import pytest

from .pure import pure

# The pure classes: a compiled class' constructor has no Python signature to read.
record, result = pure("record"), pure("result")
Administration, Dose, Encounter = record.Administration, record.Dose, record.Encounter
Flush, Order, Pause, RateEvent, Site = (
    record.Flush, record.Order, record.Pause, record.RateEvent, record.Site
)  # fmt: skip
Charge, Finding, NotCharged, Result = (
    result.Charge, result.Finding, result.NotCharged, result.Result
)  # fmt: skip
Line, Service, SiteGroup = pure("book").Line, pure("classify").Service, pure("hierarchy").SiteGroup

HAND_WRITTEN = [
    Administration,
    Dose,
    Encounter,
    Flush,
    Order,
    Pause,
    RateEvent,
    Site,
    Service,
    Line,
    SiteGroup,
    Charge,
    Finding,
    NotCharged,
    Result,
]


def _as_dataclass_would(cls: type) -> list[tuple[str, Any]]:
    """(name, default) of each init field; a default factory's default is None (made inside)."""
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            out.append((f.name, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            out.append((f.name, None))
        else:
            out.append((f.name, inspect.Parameter.empty))
    return out


@pytest.mark.parametrize("cls", HAND_WRITTEN, ids=lambda c: c.__name__)
def test_constructor_takes_the_fields_in_order_with_their_defaults(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [(p.name, p.default) for p in params] == _as_dataclass_would(cls)
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)


@pytest.mark.parametrize("cls", HAND_WRITTEN, ids=lambda c: c.__name__)
def test_constructor_is_the_classes_own_not_the_generated_one(cls: type) -> None:
    # dataclass(init=False): a later edit that drops it would silently bring the generated one
    # back (and the interpreted cost with it).
    assert "__init__" in vars(cls)
    assert vars(cls)["__dataclass_params__"].init is False


def test_every_field_is_set_from_its_argument_and_post_init_runs() -> None:
    start = datetime(2026, 4, 9, 9, 0, tzinfo=UTC)
    stop = datetime(2026, 4, 9, 10, 0, tzinfo=UTC)
    args = {
        "id": "a1", "drug": " Vancomycin ", "drug_class": "therapeutic", "route": "iv",
        "method": "infusion", "start": start, "stop": stop, "site": "s1", "order": "o1",
        "pauses": (Pause(start, start),), "purpose": None, "bag": "b1", "started_by": "ems",
        "lesions": 2, "pump": None, "planned_hours": 1.5, "primary": True,
        "dose": Dose(1.0, "g"), "hcpcs": "J3370", "billing_unit": Dose(500.0, "mg"),
        "rates": (RateEvent(start, 125.0),), "volume_infused_ml": 250.0, "bag_volume_ml": 250.0,
    }  # fmt: skip
    adm = Administration(*args.values())
    assert {name: getattr(adm, name) for name in args} == args
    assert adm.drug_key == "vancomycin"  # derived in __post_init__
    assert adm.spans == ((start.timestamp(), stop.timestamp()),)


def test_a_default_factory_gives_each_instance_its_own_list() -> None:
    day = date(2026, 4, 9)
    first, second = Line("96365", 1, day, ("a1",), "why", 0.0), Line("96366", 1, day, (), "", 0.0)
    first.modifiers.append("59")
    assert second.modifiers == [] and second.rules == []
    assert SiteGroup("main").services is not SiteGroup("main").services
