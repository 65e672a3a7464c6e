"""View glue for the bedside chart: everything one render of the chart needs, in fixed queries.

The checklist is the engine's: `code_record(record_from_encounter(encounter), now=now)`, whose
`.findings` are exactly `check_record`'s (coding/engine/__init__.py), computed once per render so
the panel, the timeline's charged/uncharged marks and the sign-off read the same result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.forms import Form
from django.utils import timezone

from coding.engine import Finding, Record, RecordError, Result, code_record
from mar import merge
from mar.forms import (
    VASCULAR_KINDS,
    AddendumForm,
    AdministrationForm,
    AtForm,
    DispositionForm,
    EncounterTimesForm,
    FlushForm,
    FlushRemoveForm,
    PauseForm,
    SignForm,
    SiteForm,
    SiteUpdateForm,
    StartForm,
    ordered_method,
)
from mar.models import (
    ADMINISTRATION_CARD_FIELDS,
    AccessSite,
    Administration,
    Encounter,
    EncounterSummary,
    FindingAcknowledgement,
    Flush,
    Order,
)
from mar.record import (
    administration_record_id,
    pk_from_record_id,
    record_from_encounter,
    record_id,
)
from mar.services import charting
from mar.services.charting import acknowledgement_key, finding_key, flush_named, open_errors
from mar.summary import findings_of, summary_for
from mar.timeline import Timeline, build_timeline

_FLUSH_INDEX = re.compile(r"^flushes\[(\d+)\]")
# The engine's names for the dose (DRUG-DOSE) and the card's fields for them.
DOSE_FIELDS = {"dose": "dose_value", "dose.unit": "dose_unit", "dose.value": "dose_value"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
# Engine fields that are a field of the administration card, id="id_a<pk>-<name>".


@dataclass
class Item:
    """One checklist line: the engine's finding, where to fix it, and any acknowledgement."""

    finding: Finding
    key: str
    anchor: str
    acknowledgement: FindingAcknowledgement | None = None


@dataclass
class Group:
    title: str
    anchor: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Checklist:
    groups: list[Group]
    record_error: str = ""
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    open_errors: list[Finding] = field(default_factory=list)

    @property
    def open_items(self) -> int:
        """What the board counts: errors not acknowledged, and warnings."""
        return len(self.open_errors) + self.warnings


@dataclass
class Card:
    administration: Administration
    form: AdministrationForm
    pauses: list[tuple[Any, PauseForm]]
    at_form: AtForm
    paused: bool
    running: bool
    elapsed_minutes: int | None
    findings: list[Item]
    conflict: Administration | None = None

    @property
    def top_findings(self) -> list[Item]:
        """The card's findings shown at its top: all but those shown beside the dose."""
        return [item for item in self.findings if (item.finding.field or "") not in DOSE_FIELDS]

    @property
    def dose_findings(self) -> list[Item]:
        """DRUG-DOSE: no dose, or one the billing unit cannot use, said beside the dose."""
        return [item for item in self.findings if (item.finding.field or "") in DOSE_FIELDS]

    @property
    def conflict_fields(self) -> list[str]:
        """After a conflict: the fields where what she typed differs from what was saved
        meanwhile (shown in the conflict box, so she sees what saving again would change)."""
        typed = getattr(self.form, "cleaned_data", None)
        if self.conflict is None or typed is None:
            return []
        differs = []
        for name in ADMINISTRATION_CARD_FIELDS:
            if name not in typed:
                continue  # refused beside its field: said there
            saved = getattr(self.conflict, "site_id" if name == "site" else name)
            mine = typed.get(name)
            if isinstance(mine, datetime) and isinstance(saved, datetime):
                saved = saved.replace(second=0, microsecond=0)
            if (mine or None) != (saved or None):
                differs.append(str(self.form.fields[name].label).lower())
        return differs

    @property
    def folded(self) -> bool:
        """A finished card with nothing to fix shows its form folded (the page stays short)."""
        return not (
            self.running
            or self.findings
            or self.conflict
            or self.form.errors
            or self.at_form.errors
            or any(form.errors for _pause, form in self.pauses)
        )


def evaluate(encounter: Encounter, now: datetime) -> tuple[Any, Result | None, str]:
    """(record, result, error message): the engine's view of the record as it stands."""
    try:
        record = record_from_encounter(encounter)
    except RecordError as exc:
        return None, None, f"{exc.field}: {exc.message}"
    return record, code_record(record, now=now), ""


def checklist_build(
    findings: Iterable[Finding] | None,
    record_error: str,
    acknowledgements: list[FindingAcknowledgement],
    administrations: dict[str, Administration],
    sites: dict[int, AccessSite],
    *,
    record: Record | None = None,
    flushes: Iterable[Flush] = (),
) -> Checklist:
    """`findings`: the engine's (None: the record cannot be read). `flushes` (a queryset is read
    only if a finding names a flush) for the links to them, in time order as the bridge reads them
    when `record` is not given."""
    if findings is None:
        return Checklist(groups=[], record_error=record_error)
    acks = {acknowledgement_key(a): a for a in acknowledgements}
    findings = sorted(findings, key=lambda f: f.sort_key())
    flush_anchor = _flush_anchors(record, flushes)
    groups: dict[str, Group] = {}
    for finding in findings:
        first = finding.administrations[0] if finding.administrations else ""
        if first not in groups:
            adm = administrations.get(first)
            title = f"{adm.drug.name} ({first})" if adm else "The visit"
            # The visit's heading links nowhere (it would jump to the checklist itself).
            groups[first] = Group(title, f"adm-{first[1:]}" if adm else "")
        key = finding_key(finding)
        anchor = (
            flush_anchor(finding.field)
            or _order_anchor(record, finding.field)
            or _anchor(finding, administrations, sites)
        )
        groups[first].items.append(Item(finding, key, anchor, acks.get(key)))
    checklist = Checklist(groups=list(groups.values()))
    for finding in findings:
        if finding.severity == "error":
            checklist.errors += 1
        elif finding.severity == "warning":
            checklist.warnings += 1
        else:
            checklist.infos += 1
    checklist.open_errors = open_errors(findings, set(acks))
    return checklist


_ORDER_FIELD = re.compile(r"^orders\[(\d+)\]\.(disposition_reason|disposition)$")


def _order_anchor(record: Record | None, field: str | None) -> str:
    """For a finding naming an order's disposition (DOC-6: "orders[1].disposition", the record's
    second order): the field on that order's row where the nurse documents it."""
    match = _ORDER_FIELD.match(field or "")
    if match is None or record is None or int(match[1]) >= len(record.orders):
        return ""
    pk = pk_from_record_id(record.orders[int(match[1])].id)
    return f"id_d{pk}-{'reason' if match[2] == 'disposition_reason' else 'disposition'}"


def _flush_anchors(record: Record | None, flushes: Iterable[Flush]) -> Callable[[str | None], str]:
    """For a finding naming one flush ("flushes[2]", DOC-3: in the future): the id of that
    flush's row on its site chip, where it is removed; "" for any other finding."""
    by_time: dict[tuple[str | None, int], int] | None = None

    def anchor(field: str | None) -> str:
        nonlocal by_time
        if record is None:  # the i-th flush in time order, as the bridge lists them
            match = _FLUSH_INDEX.match(field or "")
            if match is None:
                return ""
            in_order = list(flushes)
            index = int(match[1])
            return f"flush-{in_order[index].pk}" if index < len(in_order) else "sites"
        named = flush_named(record, field)
        if named is None:
            return ""
        if by_time is None:  # the bridge reads times to the second
            by_time = {}
            for flush in flushes:
                key = (record_id("S", flush.site_id), int(flush.at.timestamp()))
                by_time.setdefault(key, flush.pk)
        pk = by_time.get((named.site, int(named.at.timestamp())))
        if pk is not None:
            return f"flush-{pk}"
        return f"site-{pk_from_record_id(named.site)}" if named.site else "sites"

    return anchor


def _anchor(
    finding: Finding, administrations: dict[str, Administration], sites: dict[int, AccessSite]
) -> str:
    """The id of the element that fixes the finding (the jump target of its link)."""
    name = finding.field or ""
    if name == "encounter.arrived_at":
        return "id_enc-arrived_at"
    if name == "encounter.observation_at":
        return "id_enc-observation_at"
    adm = administrations.get(finding.administrations[0]) if finding.administrations else None
    if adm is None:
        return "checklist"
    if name in ADMINISTRATION_CARD_FIELDS:
        return f"id_a{adm.pk}-{name}"
    if name in DOSE_FIELDS:
        return f"id_a{adm.pk}-{DOSE_FIELDS[name]}"
    if name.startswith("pauses["):
        pauses = list(adm.pauses.all())
        index = int(name[len("pauses[") : name.index("]")])
        if index < len(pauses):
            suffix = "end" if name.endswith(".end") else "start"
            return f"id_p{pauses[index].pk}-{suffix}"
    if name == "site.separate_site_reason":
        site_id = _site_of(finding, administrations)
        if site_id is not None:
            return f"id_s{site_id}-separate_site_reason"
    if name == "flushes":
        site_id = _site_of(finding, administrations)
        if site_id in sites:
            return f"site-{site_id}"
    if name.startswith("order") and adm.order_id is not None:
        return f"order-{adm.order_id}"
    return f"adm-{adm.pk}"


def _site_of(finding: Finding, administrations: dict[str, Administration]) -> int | None:
    for adm_id in finding.administrations:
        adm = administrations.get(adm_id)
        if adm is not None and adm.site_id is not None:
            return adm.site_id
    return None


def chart_context(
    encounter: Encounter,
    *,
    now: datetime | None = None,
    bound: dict[str, Form] | None = None,
    conflict: Administration | None = None,
) -> dict[str, Any]:
    """Everything the chart's templates need. `bound` replaces a form by its key with the one the
    nurse posted (errors and typed values kept); keys: 'site', 'times', 'sign', 'addendum',
    'start-O<pk>', 'site-S<pk>', 'flush-S<pk>' (a site's flush), 'flush-F<pk>' (removing a
    flush), 'a<pk>', 'p<pk>'."""
    now = now or timezone.now()
    bound = bound or {}
    zone = encounter.zone
    record, result, record_error = evaluate(encounter, now)

    sites = list(encounter.sites.all())
    site_by_pk = {s.pk: s for s in sites}
    orders = list(encounter.orders.select_related("drug", "verified_by", "disposition_by"))
    adms = list(
        encounter.administrations.select_related("drug", "order", "site").prefetch_related("pauses")
    )
    adm_by_id = {administration_record_id(a.pk): a for a in adms}
    acknowledgements = list(encounter.acknowledgements.all())
    flushes = list(encounter.flushes.all())
    checklist = checklist_build(
        result.findings if result else None, record_error, acknowledgements, adm_by_id,
        site_by_pk, record=record,
        flushes=flushes,
    )  # fmt: skip

    items_by_adm: dict[str, list[Item]] = {}
    for group in checklist.groups:
        for item in group.items:
            for adm_id in item.finding.administrations:
                items_by_adm.setdefault(adm_id, []).append(item)

    cards = []

    # Newest running first, then the rest newest first.
    def newest_running_first(a: Administration) -> tuple[bool, float, int]:
        running = a.stop is None and a.method == Administration.Method.INFUSION
        return (not running, -a.start.timestamp(), -a.pk)

    for adm in sorted(adms, key=newest_running_first):
        cards.append(_card(encounter, adm, sites, now, bound, conflict, items_by_adm))

    given = {a.order_id for a in adms}
    open_sites = [s for s in sites if s.discontinued_at is None]
    order_rows = [
        (
            order,
            order.pk in given,
            bound.get(f"start-O{order.pk}")
            or StartForm(
                encounter=encounter,
                sites=sites,
                prefix=f"o{order.pk}",
                initial={"method": ordered_method(order)},
            ),
            bound.get(f"disposition-O{order.pk}")
            or DispositionForm(
                prefix=f"d{order.pk}",
                initial={"disposition": order.disposition, "reason": order.disposition_reason},
            ),
        )
        for order in orders
    ]
    site_rows = [_site_row(encounter, site, flushes, bound) for site in sites]
    has_vascular = any(s.kind in VASCULAR_KINDS for s in open_sites)
    timeline: Timeline | None = (
        build_timeline(record, result, now=now) if record is not None else None
    )
    return {
        "encounter": encounter,
        "now": now,
        "zone": zone,
        "checklist": checklist,
        "timeline": timeline,
        "sites": site_rows,
        "orders": order_rows,
        "given_orders": sum(1 for row in order_rows if row[1]),
        "cards": cards,
        "flushes": flushes,
        "addenda": list(encounter.addenda.select_related("author")),
        "acknowledgements": acknowledgements,
        "site_form": bound.get("site")
        or SiteForm(
            encounter=encounter,
            prefix="site",
            has_vascular_site=has_vascular,
            initial={"kind": AccessSite.Kind.PERIPHERAL_IV},
        ),
        "times_form": bound.get("times")
        or EncounterTimesForm(
            encounter=encounter,
            prefix="enc",
            initial={
                **charting.encounter_times(encounter),
                "base": merge.snapshot(charting.encounter_times(encounter)),
            },
        ),
        "sign_form": bound.get("sign") or SignForm(open_errors=checklist.open_errors),
        "addendum_form": bound.get("addendum")
        or AddendumForm(encounter=encounter, sites=sites, prefix="addendum"),
        "sign_blocked": bool(checklist.open_errors) or bool(record_error),
        "order_purposes": Order.Purpose,
    }


@dataclass
class SiteRow:
    """A site chip: the site, its details form, its flush form and its flushes (each with the
    form that removes it)."""

    site: AccessSite
    form: Form
    flush_form: Form
    flushes: list[tuple[Flush, Form]]

    @property
    def last_flush(self) -> Flush | None:
        return self.flushes[-1][0] if self.flushes else None


def _site_row(
    encounter: Encounter, site: AccessSite, flushes: list[Flush], bound: dict[str, Form]
) -> SiteRow:
    form = bound.get(f"site-S{site.pk}") or SiteUpdateForm(
        encounter=encounter,
        prefix=f"s{site.pk}",
        initial={
            **charting.site_details(site),
            "base": merge.snapshot(charting.site_details(site)),
        },
    )
    flush_form = bound.get(f"flush-S{site.pk}") or FlushForm(
        encounter=encounter, prefix=f"flush{site.pk}"
    )
    rows: list[tuple[Flush, Form]] = [
        (flush, bound.get(f"flush-F{flush.pk}") or FlushRemoveForm(prefix=f"f{flush.pk}"))
        for flush in flushes  # in time order
        if flush.site_id == site.pk
    ]
    return SiteRow(site=site, form=form, flush_form=flush_form, flushes=rows)


def running_minutes(adm: Administration, now: datetime) -> int:
    """Minutes an infusion has run: start to stop (or now) less its pauses, as the nurse counts
    them at the bedside (prefetch `pauses` when calling this for many)."""
    end = adm.stop or now
    seconds = (end - adm.start).total_seconds()
    for pause in adm.pauses.all():
        seconds -= ((pause.end or end) - pause.start).total_seconds()
    return max(0, int(seconds // 60))


def is_paused(adm: Administration) -> bool:
    """A pause not yet resumed."""
    return any(pause.end is None for pause in adm.pauses.all())


def _card(
    encounter: Encounter,
    adm: Administration,
    sites: list[AccessSite],
    now: datetime,
    bound: dict[str, Form],
    conflict: Administration | None,
    items_by_adm: dict[str, list[Item]],
) -> Card:
    form = bound.get(f"a{adm.pk}")
    if not isinstance(form, AdministrationForm):
        form = AdministrationForm(
            encounter=encounter,
            sites=sites,
            prefix=f"a{adm.pk}",
            initial=AdministrationForm.initial_for(adm),
        )
    pauses = []
    for pause in adm.pauses.all():
        pause_form = bound.get(f"p{pause.pk}")
        if not isinstance(pause_form, PauseForm):
            pause_form = PauseForm(
                encounter=encounter,
                prefix=f"p{pause.pk}",
                initial={"start": pause.start, "end": pause.end, "version": adm.version},
            )
        pauses.append((pause, pause_form))
    paused = is_paused(adm)
    running = adm.stop is None and adm.method == Administration.Method.INFUSION
    elapsed = None
    if adm.method == Administration.Method.INFUSION:
        elapsed = running_minutes(adm, now)
    at_form = bound.get(f"at-a{adm.pk}")
    if not isinstance(at_form, AtForm):
        at_form = AtForm(
            encounter=encounter, prefix=f"at{adm.pk}", initial={"version": adm.version}
        )
    return Card(
        administration=adm,
        form=form,
        pauses=pauses,
        at_form=at_form,
        paused=paused,
        running=running,
        elapsed_minutes=elapsed,
        findings=items_by_adm.get(administration_record_id(adm.pk), []),
        conflict=conflict if conflict is not None and conflict.pk == adm.pk else None,
    )


def board_summary(
    encounter: Encounter,
    *,
    summary: EncounterSummary | None,
    running: bool,
    given: int,
) -> tuple[str, int, int]:
    """(state, open errors, warnings) for a board card: signed / in progress / items missing /
    ready to sign, from the encounter's stored summary (mar/summary.py): no engine run.

    In progress: something is still running or nothing was given yet. Open items: the engine's
    errors not acknowledged, and its warnings.
    """
    if encounter.is_signed or summary is None:
        return "signed", 0, 0
    if summary.record_error:
        return "items missing", 1, 0
    findings = findings_of(summary)
    acknowledged = {acknowledgement_key(a) for a in encounter.acknowledgements.all()}
    errors = open_errors(findings, acknowledged)
    warnings = sum(1 for f in findings if f.severity == "warning")
    if running or not given:
        state = "in progress"
    elif errors:
        state = "items missing"
    else:
        state = "ready to sign"
    return state, len(errors), warnings


def checklist_context(encounter: Encounter, *, now: datetime | None = None) -> dict[str, Any]:
    """Just what the checklist panel needs (the htmx refresh and the benchmark measure this):
    the stored summary (mar/summary.py), no bridge and no engine run."""
    now = now or timezone.now()
    summary = summary_for(encounter, now=now)
    findings = None if summary.record_error else findings_of(summary)
    sites = {s.pk: s for s in encounter.sites.all()}
    adms = {
        administration_record_id(a.pk): a
        for a in encounter.administrations.select_related("drug").prefetch_related("pauses")
    }
    acknowledgements = list(encounter.acknowledgements.all())
    checklist = checklist_build(
        findings, summary.record_error, acknowledgements, adms, sites,
        flushes=encounter.flushes.order_by("at", "pk"),
    )  # fmt: skip
    return {"encounter": encounter, "checklist": checklist, "now": now}
