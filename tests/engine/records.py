"""Build `infusion-record/1` documents concisely, so each engine test reads like the rule it checks.

    rec = record(
        infusion("A1", "vancomycin", start=0, minutes=91),
        push("A2", "ondansetron", at=100),
    )
    assert billed(run(rec)) == {"96365": 1, "96366": 1, "96375": 1}

Times are minutes after 08:00 on 2026-03-02 (America/New_York), or ISO strings passed through.
Every administration gets a complete order and its site unless the test says otherwise
(`order=None`, `site=None`), so a test only spells out the gap it is about.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from coding.engine import Result, code_record, parse_record

DAY = "2026-03-02"
BASE = datetime(2026, 3, 2, 8, 0)
ZONE = "America/New_York"
AUTO: Any = object()  # "fill in a complete default"

SALINE = "sodium chloride 0.9%"
SITE_KIND_FOR_ROUTE = {"sq": "subcutaneous", "im": "intramuscular", "ia": "intra_arterial"}


def t(when: int | str | None) -> str | None:
    """Minutes after 08:00 on the test day as a local ISO time; strings and None pass through."""
    if when is None or isinstance(when, str):
        return when
    return (BASE + timedelta(minutes=when)).isoformat(timespec="minutes")


def adm(
    id: str = "A1",
    drug: str = "vancomycin",
    drug_class: str | None = "therapeutic",
    *,
    route: str = "iv",
    method: str = "infusion",
    start: int | str = 0,
    stop: int | str | None = AUTO,
    minutes: int | None = None,
    site: str | None = AUTO,
    order: str | None = AUTO,
    pauses: tuple[tuple[int | str, int | str | None], ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    """One administration; `minutes` sets the stop that many minutes after the start."""
    if stop is AUTO:
        if minutes is not None:
            assert isinstance(start, int), "minutes= needs a start in minutes"
            stop = start + minutes
        else:
            stop = None
    if site is AUTO:
        site = {"sq": "SQ1", "im": "IM1", "ia": "IA1"}.get(route, "S1")
        if route in ("intralesional", "intrathecal", "intracavitary"):
            site = None
    if order is AUTO:
        order = f"O-{drug}"
    out: dict[str, Any] = {
        "id": id,
        "drug": drug,
        "drug_class": drug_class,
        "route": route,
        "method": method,
        "site": site,
        "order": order,
        "start": t(start),
        "stop": t(stop),
    }
    if pauses:
        out["pauses"] = [{"start": t(a), "end": t(b)} for a, b in pauses]
    out.update(extra)
    return out


def infusion(id: str, drug: str = "vancomycin", drug_class: str = "therapeutic", **kw: Any):
    return adm(id, drug, drug_class, method="infusion", **kw)


def chemo(id: str, drug: str = "cisplatin", **kw: Any) -> dict[str, Any]:
    return adm(id, drug, "chemo", **kw)


def push(id: str, drug: str = "ondansetron", drug_class: str = "therapeutic", *, at: int | str = 0,
         **kw: Any) -> dict[str, Any]:  # fmt: skip
    """A push charted with only the moment it was given (no stop: not a gap)."""
    return adm(id, drug, drug_class, method="push", start=at, **kw)


def hydration(id: str, *, start: int | str = 0, minutes: int | None = None, **kw: Any):
    """Saline charted for hydration, with a hydration order that gives a reason."""
    kw.setdefault("purpose", "hydration")
    return adm(id, SALINE, "hydration", start=start, minutes=minutes, **kw)


def site(id: str, kind: str = "peripheral_iv", reason: str | None = None, **kw: Any):
    out = {"id": id, "kind": kind, "location": kw.pop("location", "left forearm"), **kw}
    if reason is not None:
        out["separate_site_reason"] = reason
    return out


def order(id: str, drug: str, **kw: Any) -> dict[str, Any]:
    out = {"id": id, "drug": drug, "dose": "per protocol", "route": "iv", "indication": "R11.2"}
    out.update(kw)
    return out


def flush(at: int | str, site: str | None = "S1") -> dict[str, Any]:
    return {"site": site, "at": t(at)}


def record(
    *administrations: dict[str, Any],
    sites: list[dict[str, Any]] | None = None,
    orders: list[dict[str, Any]] | None = None,
    flushes: list[dict[str, Any]] | None = None,
    policy: dict[str, Any] | None = None,
    **encounter: Any,
) -> dict[str, Any]:
    """An infusion-record/1 document. Sites and orders the administrations name are added with
    complete defaults unless given; `encounter` keywords go into the encounter object."""
    sites = list(sites or [])
    orders = list(orders or [])
    site_ids = {s["id"] for s in sites}
    order_ids = {o["id"] for o in orders}
    for a in administrations:
        if a.get("site") is not None and a["site"] not in site_ids:
            sites.append(site(a["site"], SITE_KIND_FOR_ROUTE.get(a["route"], "peripheral_iv")))
            site_ids.add(a["site"])
        if a.get("order") is not None and a["order"] not in order_ids:
            hydrating = a.get("purpose") == "hydration"
            extra = {"purpose": "hydration", "indication": "E86.0"} if hydrating else {}
            orders.append(order(a["order"], a["drug"], route=a["route"], **extra))
            order_ids.add(a["order"])
    for f in flushes or []:
        if f.get("site") is not None and f["site"] not in site_ids:
            sites.append(site(f["site"]))
            site_ids.add(f["site"])
    enc = {"id": "ENC-T", "setting": "facility", "timezone": ZONE}
    for key, value in encounter.items():
        enc[key] = t(value) if key in ("arrived_at", "observation_at") else value
    doc: dict[str, Any] = {
        "format": "infusion-record/1",
        "encounter": enc,
        "sites": sites,
        "orders": orders,
        "administrations": list(administrations),
        "flushes": list(flushes or []),
    }
    if policy is not None:
        doc["policy"] = policy
    return doc


# --- reading results ------------------------------------------------------------------------------


def run(doc: dict[str, Any], now: datetime | None = None) -> Result:
    return code_record(parse_record(doc), now=now)


def billed(result: Result) -> dict[str, int]:
    """Total units per code, modifiers joined on: {"96365": 1, "96374-59": 1}."""
    out: Counter[str] = Counter()
    for c in result.charges:
        out["-".join((c.code, *sorted(c.modifiers)))] += c.units
    return dict(out)


def rules(result: Result, severity: str | None = None) -> set[str]:
    return {f.rule for f in result.findings if severity is None or f.severity == severity}


def findings(result: Result, rule: str) -> list[Any]:
    return [f for f in result.findings if f.rule == rule]


def not_charged(result: Result) -> dict[str, str]:
    return {n.administration: n.reason for n in result.not_charged}
