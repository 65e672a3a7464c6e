"""Documentation completeness: the RAC problem list as checks (rac-checklist.md).

Each check is written here once. The bedside checklist, the form errors, the sign-off and charge
generation all read these findings, so they never disagree. Every check works on an incomplete
record (a running infusion has no stop yet: that is an open item, not a crash).

DOC-5 (hydration running alone for 31 minutes) needs the coding of the whole visit: hydration.py.
The terms these checks share with the charge rules (`is_vascular`, `carries_no_charge`, ...) are in
terms.py.

Scenarios: P15, P16, P20, P29, P31, P35 (and every scenario's `findings_include`).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from .drug_units import UnitMismatch, amount_convert, amount_label
from .record import Administration, Order, Pause, Record, seconds
from .result import Finding, Severity
from .terms import (
    carries_no_charge,
    date_hhmm,
    hhmm,
    is_documented_separate_site,
    is_vascular,
    may_be_fluid,
)
from .timing import MAX_HOURS_WITHOUT_PUMP, intersect, whole_minutes


def documentation_findings(
    record: Record, *, now: datetime | None = None, signing: bool = False
) -> list[Finding]:
    """Every RAC-1..9, DOC-1..4, DOC-6, DOC-VOLUME and DRUG-DOSE finding for the record.

    `now` enables the future-time check and means the bedside: an infusion started by then with
    no stop yet is running, which is not a gap (RAC-7 info, "running"). Without `now` (a record
    coded for its charges) or with `signing` (the signature's check), a stop still missing is
    the RAC-7 error."""
    if now is not None and now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (the record's times all are)")
    signed_at = record.encounter.signed_at
    late = Lateness(record.encounter.timezone, live=now, signed_at=signed_at)
    if signed_at is not None:
        # A signed record is judged as the signature judged it, whoever asks: the chart (which
        # passes the signature as `now`), the coder's run (no `now`) and an addendum's check
        # (the wall clock, kept in `late` for "in the future") see the same findings.
        now, signing = signed_at, True
    findings: list[Finding] = []
    orders = {o.id: o for o in record.orders}
    arrived = record.encounter.arrived_at
    for adm in record.administrations:
        order = orders.get(adm.order) if adm.order else None
        if adm.is_fluid or (adm.purpose == "hydration" and may_be_fluid(adm)):
            _hydration_orders(adm, order, findings)  # RAC-1, RAC-2, RAC-3: fluids
        elif adm.purpose is not None and not may_be_fluid(adm):
            findings.append(
                Finding(
                    "RAC-2",
                    "warning",
                    f"Purpose {adm.purpose} is for fluids, but {adm.drug} is tagged "
                    f"{adm.drug_class}: it is coded as that drug; clear the purpose or "
                    "correct the drug",
                    (adm.id,),
                    "purpose",
                )
            )
        _times(record, adm, now, findings, running=_is_running(adm, now, signing), late=late)
        _order_traces(adm, order, findings)
        if adm.drug_class is None:
            findings.append(
                Finding(
                    "DOC-4",
                    "error",
                    f"No pharmacist has classified {adm.drug} yet: "
                    "no charge for it until the drug is tagged in the formulary",
                    (adm.id,),
                    "drug_class",
                )
            )
        if adm.hcpcs is not None:
            _billable_dose(adm, findings)
            _dose_against_volume(adm, order, findings)
        if adm.volume_infused_ml is not None:
            _volumes(adm, findings)
        if is_vascular(adm) and adm.site is None:
            findings.append(
                Finding(
                    "RAC-4",
                    "warning",
                    f"Access site missing for {adm.drug}: name the line it was given through",
                    (adm.id,),
                    "site",
                )
            )
        if adm.started_by == "ems" or arrived is not None:  # RAC-8 needs EMS or an arrival
            _ems(record, adm, findings)
    now_ts = seconds(now) if now is not None else None
    if now is not None and now_ts is not None:
        _encounter_times_in_the_future(record, late, findings)
        zone = record.encounter.timezone
        for i, flush in enumerate(record.flushes):
            said = late.of(flush.at)
            if said is None:
                continue
            where = f"A flush on {flush.site or 'an unnamed site'}"
            at = date_hhmm(flush.at, zone)
            findings.append(
                Finding(
                    "DOC-3",
                    said[0],
                    f"{where} is charted in the future ({at})"
                    if said[1] == FUTURE
                    else f"{where} charted at {at} {said[1]}",
                    (),
                    f"flushes[{i}]",  # which flush: the form that charts it, the checklist's link
                )
            )
    # RAC-4, RAC-5 and RAC-6 look at what ran through each line; a vehicle or KVO never counts.
    on_sites = [
        a for a in record.administrations if a.site is not None and not carries_no_charge(a)
    ]
    _second_sites(record, on_sites, findings)
    _flushes_between_drugs(record, on_sites, now_ts, findings)
    _overlaps_without_bags(on_sites, now_ts, findings)
    _observation(record, findings)
    _order_dispositions(record, findings)
    return findings


DISPOSITION_WORDS = {"not_given": "not given", "held": "held", "refused": "refused"}


def _order_dispositions(record: Record, found: list[Finding]) -> None:
    """DOC-6: every order of the encounter is given (an administration is linked to it) or
    documented as not given, held or refused, with the reason.

    An error (the signature waits until it is resolved or acknowledged with a reason), at the
    bedside too: an order still to give is an open item of the visit. The field is the order's
    place in the record ("orders[1].disposition"), so the checklist jumps to that order's row.
    """
    given = {adm.order for adm in record.administrations if adm.order is not None}
    for i, order in enumerate(record.orders):
        if order.id in given:
            continue
        named = f"{order.drug} {order.dose}".strip() if order.dose else order.drug
        if order.disposition is None:
            found.append(
                Finding(
                    "DOC-6",
                    "error",
                    f"The order for {named} ({order.id}) was neither given nor documented as not "
                    "given, held or refused: start it, or say why it was not given",
                    (),
                    f"orders[{i}].disposition",
                )
            )
        elif not (order.disposition_reason or "").strip():
            found.append(
                Finding(
                    "DOC-6",
                    "error",
                    f"The order for {named} ({order.id}) is charted as "
                    f"{DISPOSITION_WORDS[order.disposition]} without a reason: say why",
                    (),
                    f"orders[{i}].disposition_reason",
                )
            )


def _hydration_orders(adm: Administration, order: Order | None, found: list[Finding]) -> None:
    if adm.is_fluid and adm.purpose is None:
        found.append(
            Finding(
                "RAC-2",
                "error",
                f"Purpose missing for {adm.drug}: say whether the fluid is hydration, "
                "a vehicle for a drug or KVO (unstated fluids are not charged)",
                (adm.id,),
                "purpose",
            )
        )
    if adm.purpose != "hydration":
        return
    if order is None or order.purpose != "hydration":
        found.append(
            Finding(
                "RAC-1",
                "error",
                f"No hydration order for {adm.drug}: hydration is charged only when a "
                "physician ordered fluids for hydration",
                (adm.id,),
                "order" if order is None else "order.purpose",
            )
        )
    if order is not None and not (order.indication or "").strip():
        # Said at once, not after RAC-1 is fixed: the live checklist shows every open item.
        found.append(
            Finding(
                "RAC-3",
                "error",
                f"The order for {adm.drug} gives no reason (diagnosis or indication): "
                "hydration without a documented need is not charged",
                (adm.id,),
                "order.indication",
            )
        )


def _billable_dose(adm: Administration, found: list[Finding]) -> None:
    """DRUG-DOSE: a drug billed in HCPCS units needs the dose given, charted in a unit that
    becomes its billing unit (mass g/mg/mcg, volume L/mL, or units: drug_units.py).

    A dose as ordered per body surface, per kilogram or as a target AUC (mg/m2, mg/kg, AUC) is
    not the amount given: no drug line can be made from it. An error (red: it costs the drug's
    charge, as the screens' rule has it; signing asks a reason) beside the dose at the bedside
    (the nurse charts the amount given) and, for the coder, the reason the drug line is not
    charged.
    """
    unit = adm.billing_unit
    per = (
        f"{adm.hcpcs} per {amount_label(Decimal(str(unit.value)), unit.unit)}"
        if unit
        else adm.hcpcs
    )
    if adm.dose is None:
        found.append(
            Finding(
                "DRUG-DOSE",
                "error",
                f"{adm.drug}: no drug charge: dose missing ({per}): chart the amount given",
                (adm.id,),
                "dose",
            )
        )
        return
    if unit is None:
        return  # no billing unit to compare with: the drug line says what it can
    try:
        amount_convert(Decimal(str(adm.dose.value)), adm.dose.unit, unit.unit)
    except UnitMismatch:
        given = amount_label(Decimal(str(adm.dose.value)), adm.dose.unit)
        found.append(
            Finding(
                "DRUG-DOSE",
                "error",
                f"{adm.drug}: no drug charge: dose {given}: the unit {adm.dose.unit or '(none)'} "
                f"cannot be billed ({per}): chart the amount given in {unit.unit}",
                (adm.id,),
                "dose.unit",
            )
        )


_ORDERED_AMOUNT = re.compile(r"^\s*(\d[\d,]*(?:\.\d+)?)\s*([A-Za-zµμ]+)\s*$")


def ordered_amount(dose: str | None) -> tuple[Decimal, str] | None:
    """An order's dose written as one amount ("3.375 g", "1,000 mg", "8 mg"), or None when it
    is anything else ("75 mg/m2", "per protocol", "AUC 5")."""
    match = _ORDERED_AMOUNT.match(dose or "")
    if match is None:
        return None
    return Decimal(match.group(1).replace(",", "")), match.group(2)


def _dose_against_volume(adm: Administration, order: Order | None, found: list[Finding]) -> None:
    """DRUG-DOSE: an infusion stopped well before its bag ran out, with the whole dose ordered
    still charted as given. The drug line bills the dose charted (DRUG-BILLING-UNITS), so a
    bag stopped at 25 of 100 mL would bill four times what ran in. Asked when the bag's volume
    and the volume infused are charted and differ by more than DOC-VOLUME's tolerance, and the
    order's dose is one amount the dose given converts to; a dose charted below the ordered
    amount is taken as reconciled."""
    infused, bag = adm.volume_infused_ml, adm.bag_volume_ml
    if adm.dose is None or order is None or adm.method != "infusion":
        return
    if infused is None or bag is None or bag <= 0 or bag - infused <= _tolerance(bag):
        return
    ordered = ordered_amount(order.dose)
    if ordered is None:
        return
    try:
        ordered_as_given = amount_convert(ordered[0], ordered[1], adm.dose.unit)
    except UnitMismatch:
        return
    given = Decimal(str(adm.dose.value))
    if given < ordered_as_given * Decimal("0.99"):
        return
    ran_in = (given * Decimal(str(infused)) / Decimal(str(bag))).quantize(Decimal("0.001"))
    found.append(
        Finding(
            "DRUG-DOSE",
            "warning",
            f"{adm.drug}: {infused:g} of {bag:g} mL infused, but the whole dose ordered "
            f"({amount_label(given, adm.dose.unit)}) is charted as given: chart the amount "
            f"that ran in (about {amount_label(ran_in, adm.dose.unit)}); the drug line bills "
            "the dose charted",
            (adm.id,),
            "dose",
        )
    )


# DOC-VOLUME's tolerance: the volume infused and the volume the charted minutes make at the
# charted rates may differ by up to 15% of the latter or 10 mL, whichever is more (a pump's
# accuracy, a bag's overfill, minutes rounded at the bedside); past both, the times or the rates
# charted are in doubt. The same tolerance over the bag's volume.
VOLUME_TOLERANCE_SHARE = 0.15
VOLUME_TOLERANCE_ML = 10.0


def _tolerance(reference: float) -> float:
    return max(VOLUME_TOLERANCE_ML, VOLUME_TOLERANCE_SHARE * reference)


def volume_at_charted_rates(adm: Administration) -> float | None:
    """mL infused over the running time (start to stop less pauses) at the rates charted, each
    from its moment to the next; None when no rate is charted from the start on."""
    if not adm.rates or adm.rates[0].at > adm.start or adm.stop is None:
        return None
    moments = [(event.at.timestamp(), event.ml_h) for event in adm.rates]
    total = 0.0
    for low, high in adm.spans:
        for i, (since, ml_h) in enumerate(moments):
            until = moments[i + 1][0] if i + 1 < len(moments) else high
            overlap = min(high, until) - max(low, since)
            if overlap > 0:
                total += ml_h * overlap / 3600
    return total


def _volumes(adm: Administration, found: list[Finding]) -> None:
    """DOC-VOLUME: the volume infused at the stop agrees with the charted minutes and rates.

    Warning when the volume the pump says was infused and the volume the charted running time
    makes at the charted rates (start rate, then each change) differ by more than 15% of the
    latter and more than 10 mL (VOLUME_TOLERANCE_*): the stop time, a pause or a rate change is
    likely charted wrong, and the minutes billed rest on them. Also when more was infused than
    the bag held, past the same tolerance. Not asked while the infusion runs (no stop) or when no
    rate is charted from its start.
    """
    infused = adm.volume_infused_ml
    if infused is None or adm.method != "infusion":
        return
    expected = volume_at_charted_rates(adm)
    if expected is not None and abs(infused - expected) > _tolerance(expected):
        # The minutes as counted for the codes and shown on the card (whole minutes run: a
        # stop at 18:40:39 after 18:05:00 is 35, not 36 rounded).
        minutes = whole_minutes(adm.spans)
        found.append(
            Finding(
                "DOC-VOLUME",
                "warning",
                f"{adm.drug}: {infused:g} mL infused, but {minutes} min at the charted rates make "
                f"{expected:.0f} mL: check the stop time, pauses and rate changes",
                (adm.id,),
                "volume_infused_ml",
            )
        )
    bag = adm.bag_volume_ml
    if bag is not None and infused - bag > _tolerance(bag):
        found.append(
            Finding(
                "DOC-VOLUME",
                "warning",
                f"{adm.drug}: {infused:g} mL infused is more than the bag held ({bag:g} mL)",
                (adm.id,),
                "volume_infused_ml",
            )
        )


class Lateness:
    """DOC-3's "nothing charted later than it could be": a time after `live` (the wall clock of
    whoever asks) is in the future, an error; on a signed record, a time after the signature
    (`signed_at`) but not in the future is said as it is, "after the record was signed", a
    warning: an addendum may chart the true stop of an infusion signed while it ran (QA: a signed
    chart said a stop charted by addendum after the signature was "in the future", an error the
    nurse could not fix). `of(moment)`: None, or the severity and the words after the time
    ("is in the future", "is after the record was signed (11:53)")."""

    def __init__(self, zone: str, *, live: datetime | None, signed_at: datetime | None) -> None:
        self.zone = zone
        self.signed_at = signed_at
        self.signed_ts = seconds(signed_at) if signed_at is not None else None
        # A signed record asked with the signature as `now` (the chart) has no wall clock past it.
        live_ts = seconds(live) if live is not None else None
        if live_ts is not None and self.signed_ts is not None and live_ts <= self.signed_ts:
            live_ts = None
        self.live_ts = live_ts

    def of(self, moment: datetime) -> tuple[Severity, str] | None:
        ts = seconds(moment)  # the instants compared, whatever their offsets
        if self.live_ts is not None and ts > self.live_ts:
            return "error", FUTURE
        signed_at = self.signed_at
        if signed_at is not None and self.signed_ts is not None and ts > self.signed_ts:
            zone = ZoneInfo(self.zone)
            same_day = moment.astimezone(zone).date() == signed_at.astimezone(zone).date()
            signed = hhmm(signed_at, self.zone) if same_day else date_hhmm(signed_at, self.zone)
            return "warning", f"is after the record was signed ({signed})"
        return None


FUTURE = "is in the future"


def _encounter_times_in_the_future(record: Record, late: Lateness, found: list[Finding]) -> None:
    """DOC-3: nothing in the future (or after the signature), the arrival and the change to
    observation included."""
    encounter = record.encounter
    for field, words, moment in (
        ("arrived_at", "arrival", encounter.arrived_at),
        ("observation_at", "change to observation", encounter.observation_at),
    ):
        said = late.of(moment) if moment is not None else None
        if moment is not None and said is not None:
            found.append(
                Finding(
                    "DOC-3",
                    said[0],
                    f"The {words} time ({date_hhmm(moment, encounter.timezone)}) {said[1]}",
                    (),
                    f"encounter.{field}",
                )
            )


def _order_traces(adm: Administration, order: Order | None, found: list[Finding]) -> None:
    """DOC-1: every administration traces to an order with drug, dose, route and indication."""
    if adm.purpose == "vehicle":
        return  # the diluent is part of the drug's order
    if order is None:
        if adm.purpose != "hydration":  # RAC-1 already says it, as an error
            found.append(
                Finding("DOC-1", "warning", f"No order linked to {adm.drug}", (adm.id,), "order")
            )
        return
    missing = []
    if not (order.dose or "").strip():
        missing.append("dose")
    if not (order.route or "").strip():
        missing.append("route")
    if adm.purpose != "hydration" and not (order.indication or "").strip():
        missing.append("indication")  # RAC-3 covers a hydration order's reason
    if missing:
        found.append(
            Finding(
                "DOC-1",
                "warning",
                f"The order for {adm.drug} lacks {', '.join(missing)}",
                (adm.id,),
                f"order.{missing[0]}",
            )
        )
    if order.drug.strip().lower() != adm.drug_key:
        found.append(
            Finding(
                "DOC-1",
                "warning",
                f"{adm.drug} was charted against an order for {order.drug}",
                (adm.id,),
                "order",
            )
        )
    if (
        order.duration_minutes
        and adm.stop is not None
        and not adm.pauses
        and adm.stop - adm.start == timedelta(minutes=order.duration_minutes)
    ):
        found.append(
            Finding(
                "DOC-2",
                "info",
                f"The stop time of {adm.drug} is exactly the ordered {order.duration_minutes} min "
                "after its start: confirm it is the time the infusion actually stopped",
                (adm.id,),
                "stop",
            )
        )


RUNNING = "is running"  # the words of a running infusion's RAC-7 info (`is_running_finding`)


def _is_running(adm: Administration, now: datetime | None, signing: bool) -> bool:
    """At the bedside (`now`, not signing): an infusion started by now with no stop yet."""
    return (
        now is not None
        and not signing
        and adm.method == "infusion"
        and adm.stop is None
        and adm.start <= now
    )


def is_running_finding(finding: Finding) -> bool:
    """The RAC-7 info of an infusion running at the bedside (the chart shows it as Running; the
    signature asks for its stop)."""
    return finding.rule == "RAC-7" and finding.severity == "info" and RUNNING in finding.message


def _times(
    record: Record,
    adm: Administration,
    now: datetime | None,
    found: list[Finding],
    *,
    running: bool = False,
    late: Lateness | None = None,
) -> None:
    """RAC-7 (times missing) and DOC-3 (times implausible; `late`: against what a time is too
    late, the wall clock or the signature)."""
    zone = record.encounter.timezone
    if adm.method == "infusion" and adm.stop is None and adm.route != "intralesional":
        if adm.is_prolonged_pump and adm.drug_class in (None, "chemo", "chemo_hormonal"):
            pass  # a chemotherapy pump (96416) ends outside the encounter: planned hours instead
        elif running:
            # A normally running infusion is not a gap while it runs (issue 15, item 9): said
            # for the nurse, never counted as an open item; the signature checks it strictly.
            found.append(
                Finding(
                    "RAC-7",
                    "info",
                    f"{adm.drug} {RUNNING} (started {hhmm(adm.start, zone)}): chart its stop time "
                    "when it ends (signing needs it)",
                    (adm.id,),
                    "stop",
                )
            )
        elif carries_no_charge(adm):
            found.append(
                Finding(
                    "RAC-7",
                    "warning",
                    f"Stop time missing for {adm.drug} ({adm.purpose}): chart when it was stopped "
                    "(it is never charged, but every infusion has a start and a stop)",
                    (adm.id,),
                    "stop",
                )
            )
        elif adm.is_fluid:
            found.append(
                Finding(
                    "RAC-7",
                    "error",
                    f"Stop time missing for {adm.drug}: hydration without a stop time is not "
                    "charged",
                    (adm.id,),
                    "stop",
                )
            )
        else:
            billed_as = {"iv": "a push", "ia": "a push", "sq": "an injection"}.get(adm.route)
            effect = (
                f"an infusion without a stop time is billed as {billed_as}"
                if billed_as
                else "its time cannot be counted"
            )
            if adm.is_prolonged_pump:
                effect = f"planned pump hours stand in only for chemotherapy (96416); {effect}"
            found.append(
                Finding(
                    "RAC-7",
                    "error",
                    f"Stop time missing for {adm.drug}: {effect}",
                    (adm.id,),
                    "stop",
                )
            )
    # The pause an infusion running at the bedside is in now: on hold, not a gap (walk19: the
    # moment she paused it for a reaction the chart said "1 item would cost a charge" and asked
    # a reason to sign anyway). Said for her, never counted, like the running infusion's stop;
    # the signature and the charges read it strictly, as before.
    on_hold = max(adm.pauses, key=lambda p: seconds(p.start)) if running and adm.pauses else None
    for i, pause in enumerate(adm.pauses):
        if pause.end is None and pause is on_hold:
            found.append(
                Finding(
                    "RAC-7",
                    "info",
                    f"{adm.drug} is paused (since {hhmm(pause.start, zone)}): chart when it "
                    "resumes, or stop it",
                    (adm.id,),
                    f"pauses[{i}].end",
                )
            )
        elif pause.end is None:
            found.append(
                Finding(
                    "RAC-7",
                    "error",
                    f"The pause of {adm.drug} at {hhmm(pause.start, zone)} has no resume time",
                    (adm.id,),
                    f"pauses[{i}].end",
                )
            )
    stop_ts = adm.stop_ts
    if adm.stop is not None and stop_ts is not None:
        if stop_ts < adm.start_ts or (stop_ts == adm.start_ts and adm.method == "infusion"):
            found.append(
                Finding(
                    "DOC-3",
                    "error",
                    f"The stop time of {adm.drug} ({date_hhmm(adm.stop, zone)}) is not after "
                    f"its start ({date_hhmm(adm.start, zone)})",
                    (adm.id,),
                    "stop",
                )
            )
        elif adm.pump is None and stop_ts - adm.start_ts > MAX_HOURS_WITHOUT_PUMP * 3600:
            found.append(
                Finding(
                    "DOC-3",
                    "error",
                    f"{adm.drug} ran more than {MAX_HOURS_WITHOUT_PUMP} hours without a pump: "
                    "check the dates",
                    (adm.id,),
                    "stop",
                )
            )
    for i, pause in enumerate(adm.pauses):
        end_of_run = adm.stop
        outside = pause.start < adm.start or (end_of_run is not None and pause.start > end_of_run)
        if pause.end is not None:
            outside = outside or pause.end < pause.start
            outside = outside or (end_of_run is not None and pause.end > end_of_run)
        if outside:
            found.append(
                Finding(
                    "DOC-3",
                    "error",
                    f"The pause of {adm.drug} at {date_hhmm(pause.start, zone)} is not within "
                    "its start and stop",
                    (adm.id,),
                    f"pauses[{i}]",
                )
            )
    _pauses_overlapping(adm, zone, found)
    if now is not None:
        now_ts = seconds(now)
        run_seconds = now_ts - adm.start_ts
        if (
            adm.stop is None
            and adm.method == "infusion"
            and adm.pump is None
            and run_seconds > MAX_HOURS_WITHOUT_PUMP * 3600
        ):
            started = adm.start.astimezone(ZoneInfo(zone))
            found.append(
                Finding(
                    "DOC-3",
                    "error",
                    f"{adm.drug} would have been running for more than {MAX_HOURS_WITHOUT_PUMP} "
                    f"hours without a pump (started {started:%Y-%m-%d %H:%M}): check the start "
                    "date",
                    (adm.id,),
                    "start",
                )
            )
        moments: list[tuple[str, str, datetime | None]] = [
            ("start", "start", adm.start),
            ("stop", "stop", adm.stop),
        ]
        for i, pause in enumerate(adm.pauses):
            moments.append((f"pauses[{i}].start", "pause", pause.start))
            moments.append((f"pauses[{i}].end", "resume", pause.end))
        for name, words, moment in moments:
            said = late.of(moment) if moment is not None and late is not None else None
            if moment is not None and said is not None:
                found.append(
                    Finding(
                        "DOC-3",
                        said[0],
                        f"The {words} time of {adm.drug} ({date_hhmm(moment, zone)}) {said[1]}",
                        (adm.id,),
                        name,
                    )
                )


def _pauses_overlapping(adm: Administration, zone: str, found: list[Finding]) -> None:
    """DOC-3: an infusion is paused or running, never paused twice at once. A pause that starts
    before an earlier one resumed (an open one: before the stop, or at all while it runs) is an
    error on the later pause, beside its field; one starting in the minute the other resumes is
    not. (The minutes would not count it twice: `Administration.spans` subtracts each paused
    moment once.) The record's pauses are in start order (reading.py)."""
    latest_end = float("-inf")  # the minute the furthest earlier pause reaches; inf: still open
    reaching: Pause | None = None  # that pause
    for i, pause in enumerate(adm.pauses):
        start = seconds(pause.start)
        if pause.end is not None and seconds(pause.end) < start:
            continue  # a resume before its pause: "not within its start and stop" says it
        # By the minute, as times are charted: resumed at 17:10:35 by the button and the next
        # pause typed as 17:10 follow one another.
        if reaching is not None and start // 60 < latest_end:
            other = hhmm(reaching.start, zone) + (
                f"-{hhmm(reaching.end, zone)}" if reaching.end is not None else " (not resumed)"
            )
            found.append(
                Finding(
                    "DOC-3",
                    "error",
                    f"The pause of {adm.drug} at {hhmm(pause.start, zone)} overlaps its pause of "
                    f"{other}: one pause ends before the next begins",
                    (adm.id,),
                    f"pauses[{i}]",
                )
            )
            continue
        if pause.end is not None:
            end = seconds(pause.end) // 60
        elif adm.stop_ts is not None:
            end = adm.stop_ts // 60
        else:
            end = float("inf")
        if end > latest_end:
            latest_end, reaching = end, pause


def _ems(record: Record, adm: Administration, found: list[Finding]) -> None:
    arrived = record.encounter.arrived_at
    if adm.started_by == "ems":
        if arrived is None:
            found.append(
                Finding(
                    "RAC-8",
                    "error",
                    f"{adm.drug} was started by EMS but the arrival time is not charted: "
                    "no minutes can be counted",
                    (adm.id,),
                    "encounter.arrived_at",
                )
            )
        else:
            found.append(
                Finding(
                    "RAC-8",
                    "warning",
                    f"{adm.drug} was started by EMS: only the minutes after arrival "
                    f"({hhmm(arrived, record.encounter.timezone)}) count",
                    (adm.id,),
                    "started_by",
                )
            )
    elif arrived is not None and adm.start < arrived:
        # EMS hands over in an emergency department only: elsewhere (an infusion center, an
        # office) a start before arrival is a start time typed wrong (QA), and the start is
        # what to check; the severity and the field are RAC-8's either way.
        if record.encounter.emergency_department:
            message = f"{adm.drug} started before the patient arrived: mark it as started by EMS"
        else:
            message = (
                f"{adm.drug} started before the patient's arrival at "
                f"{hhmm(arrived, record.encounter.timezone)}: check the start time"
            )
        found.append(Finding("RAC-8", "warning", message, (adm.id,), "started_by"))


def _second_sites(record: Record, on_sites: list[Administration], found: list[Finding]) -> None:
    """RAC-4: a second vascular site used for drugs documents why it was necessary.

    The IV services are coded against one initial service per line that needs its own (coding
    rules §3), so the first IV site without a documented reason is the encounter's line and
    every later one needs the reason; SQ infusion and intra-arterial sites have their own
    initial codes and are not second sites of the IV hierarchy.
    """
    first_use: dict[str, tuple[datetime, str]] = {}
    users: dict[str, list[str]] = defaultdict(list)
    for adm in on_sites:
        if adm.site is None or adm.route != "iv":
            continue
        users[adm.site].append(adm.id)
        first_use.setdefault(adm.site, (adm.start, adm.site))
    ordered = sorted(first_use, key=lambda site_id: first_use[site_id])
    undocumented = [
        site_id
        for site_id in ordered
        if (site := record.site(site_id)) is not None and not is_documented_separate_site(site)
    ]
    for site_id in undocumented[1:]:
        site = record.site(site_id)
        assert site is not None
        if site.separate_site_reason:
            message = (
                f"The reason given for second site {site_id} ({site.separate_site_reason!r}) "
                "does not show medical necessity (a restart, a second lumen or a convenience "
                "line is not a separate site)"
            )
        else:
            message = (
                f"Second access site {site_id} ({site.location or site.kind}) was used without "
                "a documented reason: no second initial service"
            )
        found.append(
            Finding(
                "RAC-4",
                "warning",
                message,
                tuple(users[site_id]),
                "site.separate_site_reason",
            )
        )


def _running_until(adm: Administration, now: float | None) -> float | None:
    """At the bedside (`now` known) an infusion with no stop yet is still running: until now.
    Without `now` (a signed record) its stop is missing (RAC-7) and nothing is assumed."""
    if now is None or adm.method != "infusion" or adm.stop is not None or adm.spans:
        return None
    return max(now, adm.start_ts)


def _end(adm: Administration, now: float | None) -> float:
    if now is not None and adm.stop is None:  # the only case `_running_until` answers
        running = _running_until(adm, now)
        if running is not None:
            return running
    stop = adm.stop_ts
    return stop if stop is not None and stop > adm.start_ts else adm.start_ts


def _running_spans(adm: Administration, now: float | None) -> tuple[tuple[float, float], ...]:
    running = _running_until(adm, now)
    return ((adm.start_ts, running),) if running is not None else adm.spans


def _flushes_between_drugs(
    record: Record, on_sites: list[Administration], now: float | None, found: list[Finding]
) -> None:
    """RAC-5: different drugs one after another through one site need a flush between them."""
    zone = record.encounter.timezone
    by_site: dict[str, list[Administration]] = defaultdict(list)
    for adm in on_sites:
        if adm.site is not None:
            by_site[adm.site].append(adm)
    flush_times: dict[str, list[float]] = defaultdict(list)
    for flush in record.flushes:  # already in order of time
        if flush.site is not None:
            flush_times[flush.site].append(seconds(flush.at))
    for site_id, adms in by_site.items():
        flushes = flush_times[site_id]
        previous: Administration | None = None
        previous_end = 0.0
        for adm in adms:  # already in order of start
            start = adm.start_ts
            if previous is not None and start >= previous_end:
                different = previous.drug_key != adm.drug_key
                same_bag = previous.bag is not None and previous.bag == adm.bag
                first_after = bisect_left(flushes, previous_end)
                flushed = first_after < len(flushes) and flushes[first_after] <= start
                if different and not same_bag and not flushed:
                    found.append(
                        Finding(
                            "RAC-5",
                            "warning",
                            f"No flush charted on {site_id} between {previous.drug} "
                            f"({hhmm(previous.start, zone)}) and {adm.drug} "
                            f"({hhmm(adm.start, zone)})",
                            (previous.id, adm.id),
                            "flushes",
                        )
                    )
            end = _end(adm, now)
            if previous is None or end >= previous_end:
                previous, previous_end = adm, end


def _overlaps_without_bags(
    on_sites: list[Administration], now: float | None, found: list[Finding]
) -> None:
    """RAC-6: overlapping infusions on one site are charted as one bag or as separate bags."""
    infusions = [a for a in on_sites if a.method == "infusion"]
    for i, first in enumerate(infusions):
        first_spans = _running_spans(first, now)
        if not first_spans:
            continue
        first_end = first_spans[-1][1]
        for second in infusions[i + 1 :]:
            if second.start_ts >= first_end:
                break  # in order of start: nothing later overlaps `first`
            if first.site != second.site or (first.bag and second.bag):
                continue
            if intersect(first_spans, _running_spans(second, now)):
                found.append(
                    Finding(
                        "RAC-6",
                        "warning",
                        f"{first.drug} and {second.drug} overlap on {first.site}: chart whether "
                        "they were mixed in one bag or hung as separate bags (coded "
                        "conservatively until then)",
                        (first.id, second.id),
                        "bag",
                    )
                )


def _observation(record: Record, found: list[Finding]) -> None:
    """RAC-9: the change to observation is charted; the encounter stays one."""
    at = record.encounter.observation_at
    if at is None:
        return
    running = tuple(
        a.id
        for a in record.administrations
        if a.start < at and (a.stop is None or a.stop > at) and a.method == "infusion"
    )
    found.append(
        Finding(
            "RAC-9",
            "info",
            "Placed in observation at "
            f"{hhmm(at, record.encounter.timezone)}: one encounter, no second initial service "
            "for the change of status",
            running,
            "encounter.observation_at",
        )
    )
