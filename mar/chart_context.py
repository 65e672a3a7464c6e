"""View glue for the bedside chart: everything one render of the chart needs, in fixed queries.

The checklist is the engine's: `code_record(record_from_encounter(encounter), now=now)`, whose
`.findings` are exactly `check_record`'s (coding/engine/__init__.py), computed once per render so
the panel, the timeline's charged/uncharged marks and the sign-off read the same result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property, partial
from typing import Any

from django.forms import Form
from django.utils import timezone
from markupsafe import Markup

from coding.engine import Finding, Record, RecordError, Result, code_record
from coding.engine.checks import is_running_finding
from mar import chart_reads as reads
from mar import merge
from mar.care_context import ChartRows
from mar.forms import (
    VASCULAR_KINDS,
    AddendumForm,
    AdministrationForm,
    AtForm,
    DispositionForm,
    EncounterTimesForm,
    FlushForm,
    FlushRemoveForm,
    PauseAddForm,
    PauseAtForm,
    PauseForm,
    ResumeAtForm,
    SignCounts,
    SignForm,
    SiteAssessForm,
    SiteDiscontinueForm,
    SiteForm,
    SiteUpdateForm,
    StartForm,
    ordered_method,
    query_choices,
)
from mar.lazy_forms import lazy, sent_with_errors
from mar.models import (
    ADMINISTRATION_CARD_FIELDS,
    AccessSite,
    Administration,
    DrugClass,
    DrugClassChange,
    Encounter,
    EncounterSummary,
    FindingAcknowledgement,
    Flush,
    Order,
)
from mar.ports import charges_port
from mar.record import (
    administration_record_id,
    pk_from_record_id,
    record_from_encounter,
    record_id,
)
from mar.services import charting, measures, rates, safety
from mar.services.charting import acknowledgement_key, finding_key, flush_named, open_errors
from mar.summary import Written, findings_of, signed_moment, summary_evaluate, summary_for
from mar.timeline import Timeline, chart_timeline

_FLUSH_INDEX = re.compile(r"^flushes\[(\d+)\]")
# The engine's names for the dose (DRUG-DOSE) and the card's fields for them.
DOSE_FIELDS = {"dose": "dose_value", "dose.unit": "dose_unit", "dose.value": "dose_value"}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
# The engine's names for the volumes (DOC-VOLUME), the fields of the card's Volumes form.
VOLUME_FIELDS = ("volume_infused_ml", "bag_volume_ml")
# Engine fields that are a field of the administration card, id="id_a<pk>-<name>".


@dataclass
class Item:
    """One checklist line: the engine's finding, where to fix it, and any acknowledgement."""

    finding: Finding
    key: str  # finding_key(finding), when the record has acknowledgements to match; else ""
    anchor: str
    acknowledgement: FindingAcknowledgement | None = None
    # What the nurse reads, when the chart knows better than the engine's words (a pharmacist's
    # class decision: not hers to "correct"); else the finding's message.
    note: str = ""

    @property
    def text(self) -> str:
        return self.note or self.finding.message

    @property
    def running(self) -> bool:
        """An infusion running at the bedside (RAC-7 info): shown as Running, not a gap."""
        return is_running_finding(self.finding)


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
    # Infusions running at the bedside: not open items; the signature asks for their stops.
    running: list[Finding] = field(default_factory=list)
    # The pause each infusion on hold is in now (RAC-7 info on its pause), by its administrations.
    on_hold: dict[tuple[str, ...], Finding] = field(default_factory=dict)

    @property
    def running_notes(self) -> list[str]:
        """What the sign-off says of each infusion not stopped: one paused now says so ('…is
        paused (since 06:52): chart when it resumes, or stop it'), where the panel said '…is
        running (started 05:42)' under the card's Paused (walk20)."""
        return [self.on_hold.get(f.administrations, f).message for f in self.running]

    @property
    def open_warnings(self) -> list[Item]:
        """The warnings still listed: they do not stop a signature, which names them."""
        return [
            item
            for group in self.groups
            for item in group.items
            if item.finding.severity == "warning"
        ]

    @property
    def open_items(self) -> int:
        """What the board counts: errors not acknowledged, and warnings."""
        return len(self.open_errors) + self.warnings

    def items_by_administration(self) -> dict[str, list[Item]]:
        """Each administration's items (by record id), for its card."""
        items: dict[str, list[Item]] = {}
        for group in self.groups:
            for item in group.items:
                for adm_id in item.finding.administrations:
                    items.setdefault(adm_id, []).append(item)
        return items


def top_findings(findings: list[Item], running: bool) -> list[Item]:
    """A card's findings shown at its top: all but those shown beside the dose, and, on a
    running infusion, its stop not yet charted (issue 15, item 11): running is a state, shown
    by the blue "Running" badge beside Stop, not a red error on the card."""
    return [
        item
        for item in findings
        if (item.finding.field or "") not in DOSE_FIELDS
        and not (running and item.finding.rule == "RAC-7" and item.finding.field == "stop")
    ]


@dataclass
class CardFindings:
    """The list of findings at the top of a card another change altered: an answer sends only
    that list again (`mar/_adm_findings.jinja`, out of band), not the card and its forms."""

    administration: Administration
    findings: list[Item]
    running: bool

    @property
    def top_findings(self) -> list[Item]:
        return top_findings(self.findings, self.running)


@dataclass
class Card:
    administration: Administration
    form: AdministrationForm
    pauses: list[tuple[Any, PauseForm]]
    at_form: AtForm | None  # a refused pause, resume or stop's, with its errors
    paused: bool
    running: bool
    elapsed_minutes: int | None
    findings: list[Item]
    conflict: Administration | None = None
    # Pause / Resume with their time field (late entry), on a running infusion: the refused one
    # as typed, else a fresh one; "Add a pause" (both times) on a running or stopped infusion.
    pause_at: PauseAtForm | None = None
    resume_at: ResumeAtForm | None = None
    pause_add: PauseAddForm | None = None
    # The card's addendum form prefilled with a change sent from a page drawn before the
    # signature (`chart_context(prefill=...)`): what it holds, as she typed it ("Bag id: 'X'").
    prefilled: list[str] = field(default_factory=list)
    # The card as drawn for this response, when kept while unchanged (mar/chart_cards.py); None:
    # the page's template draws it.
    html: Markup | None = None
    # Its care panel as kept (mar/chart_cards.py `care_panels`), drawn into a card drawn now.
    care_html: Markup | None = None
    # Its "Add a pause…" as kept (mar/chart_cards.py `_pause_adds`), drawn into a card drawn now.
    pause_add_html: Markup | None = None
    # The page's moment, for the note of an infusion run past its expected end; a kept card
    # draws that note's minutes and whether it shows as slots (`overrun_slots`: minutes,
    # hidden), filled per response (mar/chart_cards.py).
    now: datetime | None = None
    overrun_slots: tuple[str, str] | None = None

    @cached_property
    def expected_end(self) -> ExpectedEnd | None:
        """When a running infusion (not paused now) should end (`expected_end`)."""
        if not self.running or self.paused:
            return None
        return expected_end(self.administration)

    @property
    def overrun_minutes(self) -> int | str:
        """Whole minutes now is past the expected end (0: not past it yet, or none known)."""
        if self.overrun_slots is not None:
            return self.overrun_slots[0]
        end = self.expected_end
        if end is None or self.now is None:
            return 0
        return overrun_minutes(end.at, self.now)

    @property
    def overrun_hidden(self) -> str:
        """The note's `hidden` attribute (" hidden") while the infusion is not past its end."""
        if self.overrun_slots is not None:
            return self.overrun_slots[1]
        return "" if self.overrun_minutes else " hidden"

    @property
    def top_findings(self) -> list[Item]:
        return top_findings(self.findings, self.running)

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
    def at_alerts(self) -> list[str]:
        """A refused pause, resume or stop's messages for the card's alert: all but those drawn
        beside the time field of the Pause or Resume form drawn (a stop has none; a card no
        longer running or paused as the refused form was draws that form no more)."""
        if self.at_form is None:
            return []
        drawn = self.at_form is self.pause_at or self.at_form is self.resume_at
        return [
            str(message)
            for name, messages in self.at_form.errors.items()
            if not (drawn and name == "at")
            for message in messages
        ]

    @property
    def folded(self) -> bool:
        """A finished card with nothing to fix shows its form folded (the page stays short)."""
        # Only a form the nurse sent has errors: a lazy one is not built to say it has none
        # (mar/lazy_forms.py; the pause forms and "Add a pause…" may be kept drawn).
        return not (
            self.running
            or self.findings
            or self.conflict
            or sent_with_errors(self.form)
            or (self.at_form is not None and self.at_form.errors)
            or any(sent_with_errors(form) for _pause, form in self.pauses)
            or sent_with_errors(self.pause_add)
        )


def evaluate(
    encounter: Encounter, now: datetime, *, signing: bool = False
) -> tuple[Any, Result | None, str]:
    """(record, result, error message): the engine's view of the record as it stands (at the
    bedside, or as the signature checks it: `signing`)."""
    try:
        record = record_from_encounter(encounter)
    except RecordError as exc:
        return None, None, f"{exc.field}: {exc.message}"
    if (signed_at := signed_moment(encounter)) is not None:
        # As the signature judged it (mar/summary.py, `_computed`), not as running at `now`.
        return record, code_record(record, now=signed_at, signing=True), ""
    return record, code_record(record, now=now, signing=signing), ""


def _evaluated(
    encounter: Encounter, now: datetime, written: Written | None
) -> tuple[Record | None, Result | None, str]:
    """What the change just saved (`written`, while its findings hold at `now`), or the record
    read and coded afresh."""
    if written is None or not written.usable(now):
        written = summary_evaluate(encounter=encounter, now=now)
    return written.record, written.result, written.summary.record_error


def checklist_build(
    findings: Iterable[Finding] | None,
    record_error: str,
    acknowledgements: list[FindingAcknowledgement],
    administrations: dict[str, Administration],
    sites: dict[int, AccessSite],
    *,
    record: Record | None = None,
    flushes: Iterable[Flush] = (),
    decisions: dict[int, DrugClassChange] | None = None,
) -> Checklist:
    """`findings`: the engine's (None: the record cannot be read). `flushes` (a queryset is read
    only if a finding names a flush) for the links to them, in time order as the bridge reads them
    when `record` is not given."""
    if findings is None:
        return Checklist(groups=[], record_error=record_error)
    acks = {acknowledgement_key(a): a for a in acknowledgements}
    findings = sorted(findings, key=lambda f: f.sort_key())
    flush_anchor = _flush_anchors(record, flushes)
    on_hold = {
        f.administrations: f
        for f in findings
        if f.rule == "RAC-7" and f.severity == "info" and (f.field or "").startswith("pauses[")
    }
    groups: dict[str, Group] = {}
    for finding in findings:
        if is_running_finding(finding) and finding.administrations in on_hold:
            # Paused now: its pause says so; "… is running" beside it contradicted it (walk20).
            continue
        first = finding.administrations[0] if finding.administrations else ""
        if first not in groups:
            adm = administrations.get(first)
            title = f"{adm.drug.name} ({first})" if adm else "The visit"
            # The visit's heading links nowhere (it would jump to the checklist itself).
            groups[first] = Group(title, f"adm-{first[1:]}" if adm else "")
        key = finding_key(finding) if acks else ""  # a key only matters to match an acknowledgement
        anchor = (
            flush_anchor(finding.field)
            or _order_anchor(record, finding.field)
            or _anchor(finding, administrations, sites)
        )
        note = _decision_note(finding, administrations.get(first), decisions or {})
        groups[first].items.append(Item(finding, key, anchor, acks.get(key), note))
    checklist = Checklist(groups=list(groups.values()))
    for finding in findings:
        if finding.severity == "error":
            checklist.errors += 1
        elif finding.severity == "warning":
            checklist.warnings += 1
        else:
            checklist.infos += 1
    checklist.open_errors = open_errors(findings, set(acks))
    checklist.running = [f for f in findings if is_running_finding(f)]
    checklist.on_hold = on_hold
    return checklist


def pharmacist_decisions(encounter: Encounter) -> dict[int, DrugClassChange]:
    """The pharmacist's class override standing on each order of the encounter (its latest
    decision: who, to what class, why), by order id. One query."""
    decisions: dict[int, DrugClassChange] = {}
    changes = (
        DrugClassChange.objects.filter(
            order__encounter=encounter, order__class_override__isnull=False
        )
        .exclude(order__class_override="")
        .select_related("by", "drug")
        .order_by("-at", "-pk")
    )
    for change in changes:
        if change.order_id is not None:
            decisions.setdefault(change.order_id, change)
    return decisions


def _decision_note(
    finding: Finding, adm: Administration | None, decisions: dict[int, DrugClassChange]
) -> str:
    """RAC-2 on an order whose class a pharmacist overrode tells the nurse to "correct the drug",
    which is not hers to do (issue 15, item 13): say who decided, and what is left to her."""
    if finding.rule != "RAC-2" or adm is None or adm.order_id is None:
        return ""
    decision = decisions.get(adm.order_id)
    if decision is None or decision.to_class is None or finding.field != "purpose":
        return ""
    decided = DrugClass(decision.to_class).label.lower()
    purpose = adm.get_purpose_display().lower() if adm.purpose else "a fluid purpose"
    return (
        f"Pharmacist {decision.by.get_username()} classed {adm.drug.name} as {decided} on this "
        f"order ({decision.reason}): it is coded as {decided}. Its purpose says {purpose}: "
        "clear the purpose unless it was given as a fluid, or ask the pharmacist."
    )


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
    if name in VOLUME_FIELDS:  # DOC-VOLUME: the card's Volumes form (mar/_adm_care.jinja)
        return f"id_v{adm.pk}-{name}"
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
    started: int | None = None,
    written: Written | None = None,
    sites: list[AccessSite] | None = None,
    prefill: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the chart's templates need. `bound` replaces a form by its key with the one the
    nurse posted (errors and typed values kept); keys: 'site', 'times', 'sign', 'addendum',
    'start-O<pk>', 'site-S<pk>', 'flush-S<pk>' (a site's flush), 'flush-F<pk>' (removing a
    flush), 'a<pk>', 'p<pk>'.

    `started` (an administration's pk): the answer to a start, which shows the new card (and
    the running ones only when it is not the newest of them: `running_insert` is then False),
    the lists of findings of the cards it altered (`touched_cards`) and the chip of its site;
    nothing is built for the other cards and sites. `written`: the record the change saved and the
    engine's result on it (see `answer_context`); `sites`: the encounter's sites, when the view
    read them already (a start, which does not change them). `prefill`: on a signed record,
    the addendum forms' fields given by their names ("a12-bag", "addendum-what"): a change sent
    from a page drawn before the signature, offered as an addendum (`views._signed_since`)."""
    now = now or timezone.now()
    bound = bound or {}
    prefill = prefill if prefill is not None and encounter.is_signed else {}
    zone = encounter.zone
    record, result, record_error = _evaluated(encounter, now, written)

    # The chart's reads, their SQL compiled once (mar/chart_reads.py, issue 19).
    if sites is None:
        sites = reads.sites(encounter.pk, encounter=encounter)
    site_by_pk = {s.pk: s for s in sites}
    orders = reads.orders(encounter.pk, encounter=encounter)
    adms = reads.with_pauses(reads.administrations(encounter.pk, encounter=encounter))
    adm_by_id = {administration_record_id(a.pk): a for a in adms}
    acknowledgements = reads.acknowledgements(encounter.pk, encounter=encounter)
    flushes = reads.flushes(encounter.pk, encounter=encounter)
    # Only a record with a pharmacist's override asks (the page's queries stay fixed).
    overridden = any(order.class_override for order in orders)
    decisions = pharmacist_decisions(encounter) if overridden else {}
    for order in [*orders, *(a.order for a in adms if a.order is not None)]:
        order.class_decision = decisions.get(order.pk)  # type: ignore[attr-defined]
    # An order entered as a second one beside the same order, confirmed at entry: who confirmed
    # it and when, on its row (only a visit with one asks: the page's queries stay fixed).
    # The first order names the later one confirmed as its duplicate, from the same statement.
    duplicates, duplicated = safety.duplicate_notes_both(orders)
    for order in orders:
        order.duplicate_note = duplicates.get(order.pk, "")  # type: ignore[attr-defined]
        order.duplicated_note = duplicated.get(order.pk, "")  # type: ignore[attr-defined]
    checklist = checklist_build(
        result.findings if result else None, record_error, acknowledgements, adm_by_id,
        site_by_pk, record=record,
        flushes=flushes, decisions=decisions,
    )  # fmt: skip

    items_by_adm = checklist.items_by_administration()

    cards = []

    # Newest running first, then the rest newest first.
    def newest_running_first(a: Administration) -> tuple[bool, float, int]:
        return (not _is_running(a, encounter), -a.start.timestamp(), -a.pk)

    # A start's answer: when other infusions run and the new one is the newest of them, it goes
    # on top of them (`running_insert`) and theirs are not built again (issue 19: a start no
    # longer costs a card per infusion running); when it runs and is not the newest (a late
    # start) or nothing else runs, what runs is sent whole (`running_whole`); when it does not
    # run (a push), "Running now" is not sent at all. A card that shares a finding with the new
    # one (an overlap on one site, no flush between them) and is not sent whole has its list of
    # findings sent again, out of band, so it says it as the checklist does.
    started_adm = next((a for a in adms if a.pk == started), None)
    running_insert = running_whole = False
    shared = _altered(written, result) - {started} if started_adm is not None else set()
    if started_adm is not None and _is_running(started_adm, encounter):
        others = [a for a in adms if a.pk != started and _is_running(a, encounter)]
        newest = max(((a.start, a.pk) for a in others), default=None)
        running_insert = newest is not None and (started_adm.start, started_adm.pk) > newest
        running_whole = not running_insert
    touched_cards: list[CardFindings] = []
    for adm in sorted(adms, key=newest_running_first):
        whole = started is None or adm.pk == started
        if whole or (_is_running(adm, encounter) and running_whole):
            cards.append(
                _card(encounter, adm, sites, now, bound, conflict, items_by_adm, prefill=prefill)
            )
        elif adm.pk in shared:
            touched_cards.append(_card_findings(encounter, adm, items_by_adm))

    given = {a.order_id for a in adms}
    # The sign-off's notes of a calculated dose given without its measures: the visit's measures
    # read only when an order given is calculated, and given to the care panels, which read
    # them for the measures panel and the Start boxes (no read more).
    given_orders = [order for order in orders if order.pk in given]
    visit_measures = None
    if not encounter.is_signed and any(
        safety.order_dose_needs(order) is not None for order in given_orders
    ):
        visit_measures = measures.encounter_measures(encounter)
    open_sites = [s for s in sites if s.discontinued_at is None]
    # A start's answer sends its order's row alone (`order_move`), moved to the orders given when
    # it is the first time it is given; the other rows did not change (each row's scan and safety
    # checks are its own order's) and are neither built nor sent. The first order given of the
    # visit makes the list of orders given: the section is then sent whole.
    order_move = _order_move(orders, adms, started_adm) if started_adm is not None else None
    shown_orders = [order_move.order] if order_move is not None else orders
    order_rows = [
        (
            order,
            order.pk in given,
            bound.get(f"start-O{order.pk}")
            or lazy(
                partial(
                    StartForm,
                    encounter=encounter,
                    sites=sites,
                    prefix=f"o{order.pk}",
                    initial={"method": ordered_method(order), "order_revision": order.revision},
                )
            ),
            # "Not given / held / refused" is drawn for an order not given, or one so marked
            # (mar/_order.jinja): its form is built only there (issue 19).
            (
                bound.get(f"disposition-O{order.pk}")
                or lazy(
                    partial(
                        DispositionForm,
                        prefix=f"d{order.pk}",
                        initial={
                            "disposition": order.disposition,
                            "reason": order.disposition_reason,
                        },
                    )
                )
            )
            if order.pk not in given or order.disposition
            else None,
        )
        for order in shown_orders
    ]
    running_on: dict[int, list[Administration]] = {}
    for adm in sorted(adms, key=lambda a: (a.start, a.pk)):
        if _is_running(adm, encounter) and adm.site_id:
            running_on.setdefault(adm.site_id, []).append(adm)
    site_rows = [
        _site_row(encounter, site, flushes, bound, running_on.get(site.pk))
        for site in sites
        # a start changes only its own site's chip (what runs on it)
        if started is None or (started_adm is not None and site.pk == started_adm.site_id)
    ]
    has_vascular = any(s.kind in VASCULAR_KINDS for s in open_sites)
    timeline: Timeline | None = None
    if record is not None:
        timeline = chart_timeline(encounter, record, result, now=bedside_now(encounter, now))
    sign_counted = SignCounts(len(adms), len(flushes))
    open_queries = (
        list(
            charges_port()
            .open_queries()
            .filter(encounter_id=encounter.pk)
            .select_related("asked_by")
            .order_by("asked_at", "pk")
        )
        if encounter.is_signed
        else None
    )
    return {
        "encounter": encounter,
        "now": now,
        "zone": zone,
        "checklist": checklist,
        "timeline": timeline,
        "sites": site_rows,
        "orders": order_rows,
        "order_move": order_move,
        "given_orders": sum(1 for order in orders if order.pk in given),
        # what the checklist's poll compares with the orders returned now (bedside finding 3)
        "orders_returned": " ".join(str(order.pk) for order in orders if order.is_returned),
        "cards": cards,
        # Running administrations sit at the top of the chart, within reach (issue 15, item 11).
        "running_cards": [card for card in cards if card.running],
        "running_insert": running_insert,
        "running_whole": running_whole,
        "touched_cards": touched_cards,
        "other_cards": [card for card in cards if not card.running],
        "others_given": sum(1 for adm in adms if not _is_running(adm, encounter)),
        "flushes": flushes,
        # Only a signed record takes an addendum (signature.addendum_store), and a signature is
        # never undone (the database's guard, mar/audit/guard.py): none to read before it.
        "addenda": reads.addenda(encounter.pk, encounter=encounter) if encounter.is_signed else [],
        "acknowledgements": acknowledgements,
        # Not in a start's answer (neither the sites' section nor the visit's times is sent).
        "site_form": None
        if started is not None
        else bound.get("site")
        or lazy(
            partial(
                SiteForm,
                encounter=encounter,
                prefix="site",
                has_vascular_site=has_vascular,
                initial={"kind": AccessSite.Kind.PERIPHERAL_IV},
            )
        ),
        # what the "+ Add site" form asks (a reason for a second vascular site), read without
        # building the form (mar/chart_cards.py keeps it drawn)
        "site_asks_reason": has_vascular,
        "times_form": None
        if started is not None
        else bound.get("times")
        or lazy(  # built when drawn: the panel is kept while unchanged (mar/chart_cards.py)
            partial(
                EncounterTimesForm,
                encounter=encounter,
                prefix="enc",
                initial={
                    **charting.encounter_times(encounter),
                    "base": merge.snapshot(charting.encounter_times(encounter)),
                },
            )
        ),
        # The sign-off form is drawn on a record in progress, the addendum's on a signed one
        # (mar/_sign.jinja): only that one is built (issue 19).
        "sign_form": None
        if encounter.is_signed
        else (
            bound.get("sign")
            or lazy(partial(SignForm, open_errors=checklist.open_errors, counts=sign_counted))
        ),
        # what the sign-off's key reads of its form (mar/chart_cards.py `sign_draw`)
        "sign_counts": sign_counted,
        "addendum_form": (
            bound.get("addendum")
            or AddendumForm(
                encounter=encounter,
                sites=sites,
                queries=query_choices(open_queries or ()),
                prefix="addendum",
                initial={
                    key.removeprefix("addendum-"): value
                    for key, value in prefill.items()
                    if key.startswith("addendum-") and key != "addendum-why"
                },
            )
        )
        if encounter.is_signed
        else None,
        # The coders' open queries, read once for the addendum's choices and the banner
        # (mar/_queries.html reads them itself where a view gives none).
        "open_queries": open_queries,
        "sign_blocked": bool(checklist.open_errors) or bool(record_error),
        "sign_dose_notes": []
        if encounter.is_signed
        else sign_dose_notes(encounter, given_orders, visit_measures),
        "order_purposes": Order.Purpose,
        # what was read, for the care panels (`care_context(rows=...)`)
        "rows": ChartRows(
            orders=orders, administrations=adms, sites=sites, measures=visit_measures
        ),
    }


def answer_context(
    encounter: Encounter,
    *,
    card: int | None = None,
    site: int | None = None,
    now: datetime | None = None,
    bound: dict[str, Form] | None = None,
    conflict: Administration | None = None,
    written: Written | None = None,
) -> dict[str, Any]:
    """What the htmx answer about one card (`card`: an administration's pk) or one site chip
    (`site`) renders: that card or chip, the checklist, the sign-off, the timeline and, on a
    signed record, the addenda (issue 19). Nothing is built for the rest of the chart.

    `written`: the record as the change just saved it and the engine's result on it
    (`summary.written_kept`): used while its findings have not aged, so the answer reads neither
    the record through the bridge nor runs the engine again. Its queries are fixed whatever the
    size of the record (tests/mar/test_views_answer.py)."""
    now = now or timezone.now()
    bound = bound or {}
    record, result, record_error = _evaluated(encounter, now, written)
    sites = reads.sites(encounter.pk, encounter=encounter)
    site_by_pk = {s.pk: s for s in sites}
    # Every other card whose own list of findings the change altered (an overlap made or undone
    # by a changed time, a flush now between two infusions) is sent again out of band, so it
    # says what the checklist says.
    altered = _altered(written, result) - {card}
    # Only the administrations this answer shows: the card, those the findings name (the
    # checklist's headings and links), those altered, and what runs on the chip's site.
    named = named_administrations(result.findings if result else ())
    wanted = sorted(named | altered | ({card} if card is not None else set()))
    if site is not None:
        adms = reads.administrations_named_or_running_on(
            encounter.pk, wanted, site, encounter=encounter
        )
    else:
        adms = reads.administrations_named(encounter.pk, wanted, encounter=encounter)
    reads.with_pauses(adms)
    adm_by_id = {administration_record_id(a.pk): a for a in adms}
    acknowledgements = reads.acknowledgements(encounter.pk, encounter=encounter)
    flushes = reads.flushes(encounter.pk, encounter=encounter) if site is not None else None
    overridden = any(a.order is not None and a.order.class_override for a in adms)
    decisions = pharmacist_decisions(encounter) if overridden else {}
    for adm in adms:
        if adm.order is not None:
            adm.order.class_decision = decisions.get(adm.order.pk)  # type: ignore[attr-defined]
    checklist = checklist_build(
        result.findings if result else None, record_error, acknowledgements, adm_by_id,
        site_by_pk, record=record,
        flushes=flushes if flushes is not None else encounter.flushes.all(),
        decisions=decisions,
    )  # fmt: skip
    items_by_adm = checklist.items_by_administration()
    cards = [
        _card(encounter, adm, sites, now, bound, conflict, items_by_adm)
        for adm in adms
        if adm.pk == card
    ]
    touched_cards = [
        _card_findings(encounter, adm, items_by_adm) for adm in adms if adm.pk in altered
    ]
    site_rows = []
    if site is not None and site in site_by_pk:
        running = [
            adm
            for adm in sorted(adms, key=lambda a: (a.start, a.pk))
            if _is_running(adm, encounter) and adm.site_id == site
        ]
        site_rows = [_site_row(encounter, site_by_pk[site], flushes or [], bound, running)]
    context: dict[str, Any] = {
        "encounter": encounter,
        "now": now,
        "zone": encounter.zone,
        "checklist": checklist,
        "timeline": chart_timeline(encounter, record, result, now=bedside_now(encounter, now))
        if record is not None
        else None,
        "cards": cards,
        "touched_cards": touched_cards,
        "sites": site_rows,
        "sign_form": None  # drawn on a record in progress only (mar/_sign.jinja)
        if encounter.is_signed
        else (
            bound.get("sign")
            or lazy(
                partial(SignForm, open_errors=checklist.open_errors, counts=sign_counts(record))
            )
        ),
        "sign_counts": sign_counts(record),
        "sign_blocked": bool(checklist.open_errors) or bool(record_error),
        # the orders given read in one statement, their visit's measures in one more only when
        # one is calculated (the answer's queries stay fixed)
        "sign_dose_notes": []
        if encounter.is_signed
        else sign_dose_notes(encounter, reads.orders_given(encounter)),
    }
    if encounter.is_signed:
        context["addenda"] = list(encounter.addenda.select_related("author"))
    return context


@dataclass(frozen=True)
class SignDoseNote:
    """An order given whose dose is calculated (per kg, per m², by AUC) from measures this
    visit has not recorded: the sign-off says it beside what is signed, a warning that never
    stops the signature (`safety.calculated_dose_note`). It is not a RAC checklist item nor an
    engine finding: the measures behind a dose are a safety matter, not the documentation a
    charge rests on (docs/rac-checklist.md), and the record the engine reads carries none."""

    order: Order
    note: str


def sign_dose_notes(
    encounter: Encounter,
    given: Iterable[Order],
    visit_measures: measures.Measures | None = None,
) -> list[SignDoseNote]:
    """The sign-off's notes: of the orders `given` (each with its drug and its encounter, this
    one), those calculated from measures the visit has not recorded, in their order. The
    visit's measures are read in one statement, and only when one of them is calculated
    (`safety.calculated_dose_notes`), unless given (`visit_measures`, read already)."""
    listed = list(given)
    known = {encounter.pk: visit_measures} if visit_measures is not None else None
    notes = safety.calculated_dose_notes(listed, known=known)
    return [SignDoseNote(order, notes[order.pk]) for order in listed if notes[order.pk]]


def sign_counts(record: Record | None) -> SignCounts | None:
    """What the sign-off says a signature covers, from the record the engine read (its rows are
    the encounter's administrations and flushes); None when the record cannot be read."""
    if record is None:
        return None
    return SignCounts(len(record.administrations), len(record.flushes))


def named_administrations(findings: Iterable[Finding]) -> set[int]:
    """The administrations (pks) the findings name: the rows a checklist of them reads."""
    return {
        pk_from_record_id(adm_id)
        for finding in findings
        for adm_id in finding.administrations
        if adm_id.startswith("A")
    }


def _altered(written: Written | None, result: Result | None) -> set[int]:
    """The administrations whose own list of findings the change that wrote `written` altered:
    the findings stored before it against the engine's `result` after it (none stored before,
    e.g. a record imported and never shown: every administration a finding names now)."""
    if written is None:
        return set()
    after = (
        written.summary.findings
        if result is written.result
        else [f.to_json() for f in result.findings]
        if result is not None
        else []
    )
    return findings_altered(written.before or [], after)


def _finding_key(finding: dict[str, Any]) -> tuple[Any, ...]:
    return (
        finding["rule"],
        finding["severity"],
        finding["message"],
        tuple(finding["administrations"]),
        finding.get("field"),
    )


def findings_altered(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> set[int]:
    """The administrations (pks) named by a finding stored `before` a change and not found by
    the engine `after` it, or the reverse: each one's own list of findings changed (findings as
    `Finding.to_json` writes them)."""
    if before == after:  # most changes alter no finding
        return set()
    changed = {_finding_key(f) for f in before} ^ {_finding_key(f) for f in after}
    return {
        pk_from_record_id(adm_id) for key in changed for adm_id in key[3] if adm_id.startswith("A")
    }


@dataclass
class SiteRow:
    """A site chip: the site, its details form, its flush form and its flushes (each with the
    form that removes it)."""

    site: AccessSite
    encounter: Encounter
    flush_form: Form
    flushes: list[tuple[Flush, Form | None]]  # each with its remove form (see _site_row)
    assess_form: Form | None = None
    discontinue_form: Form | None = None
    running: list[Administration] = field(default_factory=list)  # infusions running on it
    bound_form: Form | None = None  # the details form as the nurse posted it
    # The chip's parts kept drawn (mar/chart_cards.py `sites_draw`): "care", "actions", "details".
    kept: dict[str, Markup] = field(default_factory=dict)

    @cached_property
    def form(self) -> Form:
        """The site's details form, built when a template draws it: the answer to a flush or a
        start sends the chip's other parts, not its details (issue 19)."""
        if self.bound_form is not None:
            return self.bound_form
        site = self.site
        return SiteUpdateForm(
            encounter=self.encounter,
            prefix=f"s{site.pk}",
            initial={
                **charting.site_details(site),
                "base": merge.snapshot(charting.site_details(site)),
                "placed_at": site.placed_at,
                "placed_was": site.placed_at.isoformat() if site.placed_at else "",
            },
        )

    @property
    def last_flush(self) -> Flush | None:
        return self.flushes[-1][0] if self.flushes else None


def _site_row(
    encounter: Encounter,
    site: AccessSite,
    flushes: list[Flush],
    bound: dict[str, Form],
    running: list[Administration] | None = None,
) -> SiteRow:
    # Built when drawn (mar/lazy_forms.py): a chip kept drawn (mar/chart_cards.py) reads none.
    assess_form = bound.get(f"assess-S{site.pk}") or lazy(
        lambda: SiteAssessForm(encounter=encounter, prefix=f"assess{site.pk}")
    )
    discontinue_form = bound.get(f"discontinue-S{site.pk}") or lazy(
        lambda: SiteDiscontinueForm(encounter=encounter, prefix=f"discontinue{site.pk}")
    )
    flush_form = bound.get(f"flush-S{site.pk}") or lazy(
        lambda: FlushForm(encounter=encounter, prefix=f"flush{site.pk}")
    )
    # A flush's remove form has a field only on a signed record (the addendum's reason): on a
    # record in progress none is built unless posted back with an error (issue 19: a site with
    # dozens of flushes built a form for each on every flush).
    signed = encounter.is_signed
    rows: list[tuple[Flush, Form | None]] = [
        (
            flush,
            bound.get(f"flush-F{flush.pk}")
            or (lazy(partial(FlushRemoveForm, prefix=f"f{flush.pk}")) if signed else None),
        )
        for flush in flushes  # in time order
        if flush.site_id == site.pk
    ]
    return SiteRow(
        site=site,
        encounter=encounter,
        flush_form=flush_form,
        flushes=rows,
        assess_form=assess_form,
        discontinue_form=discontinue_form,
        running=running or [],
        bound_form=bound.get(f"site-S{site.pk}"),
    )


def _is_running(adm: Administration, encounter: Encounter) -> bool:
    """An infusion with no stop runs while the record is charted; on a signed record its stop was
    never charted (the signature asked for it: RAC-7), and nothing runs."""
    return (
        adm.stop is None
        and adm.method == Administration.Method.INFUSION
        and not encounter.is_signed
    )


def bedside_now(encounter: Encounter, now: datetime) -> datetime | None:
    """`now` for what is drawn against the clock (the timeline's running bars and its now
    line): none on a signed record, which is drawn as it was signed."""
    return None if encounter.is_signed else now


@dataclass(frozen=True)
class OrderMove:
    """Where a start's answer puts its order's row (mar/_order_moved.jinja): in place when the
    order was given before (`again`), else out of the orders to give and into the orders given,
    before the next order given in the orders' own order (`before`, a pk) or last."""

    order: Order
    again: bool
    before: int | None


def _order_move(
    orders: list[Order], adms: list[Administration], started: Administration
) -> OrderMove | None:
    """None when the section is to be sent whole: the start has no order of this visit, or it
    is the first order given (the list of orders given does not exist on the page yet)."""
    order = next((o for o in orders if o.pk == started.order_id), None)
    if order is None:
        return None
    given_before = {a.order_id for a in adms if a.pk != started.pk}
    if order.pk in given_before:
        return OrderMove(order=order, again=True, before=None)
    if not given_before & {o.pk for o in orders}:
        return None
    after = orders[orders.index(order) + 1 :]
    later = (o.pk for o in after if o.pk in given_before)
    return OrderMove(order=order, again=False, before=next(later, None))


@dataclass(frozen=True)
class ExpectedEnd:
    at: datetime
    basis: str  # what it was reckoned from: "250 mL at 500 mL/h", "ordered over 60 min"


def expected_end(adm: Administration) -> ExpectedEnd | None:
    """When an infusion should end, when that can be known (QA: 250 mL at 500 mL/h ran 93 min
    and nothing said it should have ended after 30): its volume to be infused (else its bag)
    at the rates it ran at, from the start rate charted; else its order's duration. Either
    way its pauses (each resumed; one still open: not known) do not count. Reads its pauses
    and rate changes (prefetch them for many)."""
    pauses = [(p.start, p.end) for p in adm.pauses.all()]
    if any(end is None for _start, end in pauses):
        return None
    closed = [(start, end) for start, end in pauses if end is not None]
    volume = adm.vtbi_ml or adm.bag_volume_ml
    segments = rates.rate_segments(adm)
    if volume and segments and adm.rate_ml_h is not None:
        # mL an hour at each moment, the remaining volume run down interval by interval.
        at = _run_down(adm.start, [(t, r / 60) for t, r in segments], closed, volume)
        if at is not None:
            return ExpectedEnd(at, f"{volume.normalize():f} mL at {_rates_said(segments)}")
    order = adm.order
    if order is not None and order.duration_minutes:
        at = _run_down(adm.start, [(adm.start, Decimal(1))], closed, order.duration_minutes)
        if at is not None:
            return ExpectedEnd(at, f"ordered over {order.duration_minutes} min")
    return None


def _rates_said(segments: list[tuple[datetime, Decimal]]) -> str:
    said = [f"{rate.normalize():f}" for _at, rate in segments]
    return f"{said[0]} mL/h" if len(set(said)) == 1 else f"{' then '.join(said)} mL/h"


def _run_down(
    start: datetime,
    per_minute: list[tuple[datetime, Decimal]],
    pauses: list[tuple[datetime, datetime]],
    amount: Decimal | int,
) -> datetime | None:
    """The moment `amount` is used up from `start`, at `per_minute` (from each moment on)
    except while paused; None when it never is (a rate of 0 at the end)."""
    left = Decimal(amount)
    moments = sorted(
        {start}
        | {t for t, _r in per_minute if t > start}
        | {t for p in pauses for t in p if t > start}
    )
    for i, at in enumerate(moments):
        rate = next((r for t, r in reversed(per_minute) if t <= at), Decimal(0))
        if any(p_start <= at < p_end for p_start, p_end in pauses):
            continue
        following = moments[i + 1] if i + 1 < len(moments) else None
        if rate <= 0:
            continue
        minutes = left / rate
        if following is None or at + timedelta(minutes=float(minutes)) <= following:
            return at + timedelta(minutes=float(minutes))
        left -= rate * Decimal((following - at).total_seconds()) / 60
    return None


def overrun_minutes(end: datetime, now: datetime) -> int:
    """Whole minutes `now` is past `end` (0 until a whole minute is)."""
    return max(0, int((now - end).total_seconds() // 60))


def running_minutes(adm: Administration, now: datetime) -> int:
    """Minutes an infusion has run: start to stop (or now) less its pauses, as the nurse counts
    them at the bedside (prefetch `pauses` when calling this for many)."""
    return minutes_run(adm.start, adm.stop, [(p.start, p.end) for p in adm.pauses.all()], now)


def minutes_run(
    start: datetime,
    stop: datetime | None,
    pauses: Iterable[tuple[datetime, datetime | None]],
    now: datetime,
) -> int:
    """Start to stop (or now) less the pauses (each to its end, or to the stop or now), in
    whole minutes."""
    end = stop or now
    seconds = (end - start).total_seconds()
    for paused, resumed in pauses:
        seconds -= ((resumed or end) - paused).total_seconds()
    return max(0, int(seconds // 60))


def is_paused(adm: Administration) -> bool:
    """A pause not yet resumed."""
    return any(pause.end is None for pause in adm.pauses.all())


def _card_findings(
    encounter: Encounter, adm: Administration, items_by_adm: dict[str, list[Item]]
) -> CardFindings:
    return CardFindings(
        administration=adm,
        findings=items_by_adm.get(administration_record_id(adm.pk), []),
        running=_is_running(adm, encounter),
    )


def _card(
    encounter: Encounter,
    adm: Administration,
    sites: list[AccessSite],
    now: datetime,
    bound: dict[str, Form],
    conflict: Administration | None,
    items_by_adm: dict[str, list[Item]],
    *,
    prefill: Mapping[str, str] | None = None,
) -> Card:
    form = bound.get(f"a{adm.pk}")
    prefilled: list[str] = []
    if not isinstance(form, AdministrationForm):
        initial = AdministrationForm.initial_for(adm)
        for name in ADMINISTRATION_CARD_FIELDS:
            key = f"a{adm.pk}-{name}"
            if prefill and key in prefill:
                initial[name] = prefill[key]
                prefilled.append(name)
        form = lazy(
            partial(
                AdministrationForm,
                encounter=encounter, sites=sites, prefix=f"a{adm.pk}", initial=initial,
            )
        )  # fmt: skip
    pauses = []
    for pause in adm.pauses.all():
        pause_form = bound.get(f"p{pause.pk}")
        if not isinstance(pause_form, PauseForm):
            pause_form = lazy(
                partial(
                    PauseForm,
                    encounter=encounter,
                    prefix=f"p{pause.pk}",
                    initial={
                        "start": pause.start,
                        "end": pause.end,
                        "reason": pause.reason,
                        "version": adm.version,
                    },
                )
            )
        pauses.append((pause, pause_form))
    running = _is_running(adm, encounter)
    paused = not encounter.is_signed and is_paused(adm)
    elapsed = None
    if adm.method == Administration.Method.INFUSION and (running or adm.stop is not None):
        elapsed = running_minutes(adm, now)
    # Only a refused pause, resume or stop has a form to show (its errors); none is built else.
    at_form = bound.get(f"at-a{adm.pk}")
    if not isinstance(at_form, AtForm):
        at_form = None
    pause_at = resume_at = pause_add = None
    if not encounter.is_signed and adm.method == Administration.Method.INFUSION:
        if running:
            prefix = f"at{adm.pk}"
            if paused:
                resume_at = at_form if isinstance(at_form, ResumeAtForm) else None
                resume_at = resume_at or lazy(
                    partial(ResumeAtForm, encounter=encounter, prefix=prefix)
                )
            else:
                pause_at = at_form if isinstance(at_form, PauseAtForm) else None
                pause_at = pause_at or lazy(
                    partial(PauseAtForm, encounter=encounter, prefix=prefix)
                )
        if running or adm.stop is not None:
            added = bound.get(f"pa{adm.pk}")
            pause_add = (
                added
                if isinstance(added, PauseAddForm)
                else lazy(
                    partial(
                        PauseAddForm,
                        encounter=encounter,
                        prefix=f"pa{adm.pk}",
                        initial={"version": adm.version},
                    )
                )  # fmt: skip
            )
    return Card(
        administration=adm,
        form=form,
        pauses=pauses,
        at_form=at_form,
        paused=paused,
        running=running,
        elapsed_minutes=elapsed,
        now=now,
        findings=items_by_adm.get(administration_record_id(adm.pk), []),
        conflict=conflict if conflict is not None and conflict.pk == adm.pk else None,
        pause_at=pause_at,
        resume_at=resume_at,
        pause_add=pause_add,
        prefilled=[f"{form[name].label}: {form[name].value() or '(empty)'}" for name in prefilled],
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


def checklist_context(
    encounter: Encounter,
    *,
    now: datetime | None = None,
    stored: list[EncounterSummary] | None = None,
) -> dict[str, Any]:
    """Just what the checklist panel needs (the htmx refresh and the benchmark measure this):
    the stored summary (mar/summary.py; `stored`: as read with the encounter), no bridge and no
    engine run."""
    now = now or timezone.now()
    summary = summary_for(encounter, now=now, stored=stored)
    findings = None if summary.record_error else findings_of(summary)
    # Only the rows the findings name are read (issue 19): their administrations (with their
    # pauses when a finding is about one), the sites when a finding is about flushes, the
    # acknowledgements when there is a finding at all. The GET's read of the encounter brought
    # the acknowledgements and the administrations its stored summary names (PostgreSQL,
    # `checklist_rows`): used when that summary is the one shown, not one computed since.
    read_with = reads.checklist_rows(encounter) if stored and summary is stored[0] else None
    fields = {f.field or "" for f in findings or ()}
    named = named_administrations(findings or ())
    adms: dict[str, Administration] = {}
    if named:
        rows = (
            read_with.administrations
            if read_with is not None
            else reads.administrations_named(encounter.pk, sorted(named), encounter=encounter)
        )
        if any(name.startswith("pauses[") for name in fields):
            reads.with_pauses(rows)
        adms = {administration_record_id(a.pk): a for a in rows}
    sites = (
        {s.pk: s for s in reads.sites(encounter.pk, encounter=encounter)}
        if "flushes" in fields
        else {}
    )
    acknowledgements = (
        []
        if not findings
        else read_with.acknowledgements
        if read_with is not None
        else reads.acknowledgements(encounter.pk, encounter=encounter)
    )
    checklist = checklist_build(
        findings, summary.record_error, acknowledgements, adms, sites,
        # read only for a finding naming a flush (its queryset is not even built otherwise)
        flushes=encounter.flushes.order_by("at", "pk")
        if any(_FLUSH_INDEX.match(name) for name in fields) else (),
        decisions=pharmacist_decisions(encounter)
        if any(f.rule == "RAC-2" for f in findings or ()) else None,
    )  # fmt: skip
    return {"encounter": encounter, "checklist": checklist, "now": now}
