"""The administration record the engine reads: typed, already validated, never changed.

The dataclasses are not `frozen` (a frozen dataclass sets each field through
`object.__setattr__`, and reading builds thousands of them a second), but they are immutable by
convention: nothing assigns to a record after `reading.parse_record` made it. They keep the
equality and hash of frozen ones (`unsafe_hash`), and tests/engine/test_record_unchanged.py
proves that coding a record leaves it as it was and that no engine module assigns to one.

Each class writes its own `__init__` (`dataclass(init=False)`): the same parameters, defaults and
`__post_init__` as the generated one (tests/engine/test_constructors.py), but one mypyc compiles
to C, where the generated one stays interpreted Python, about a fifth of the compiled engine's
time (issue 19, target 4). The result's classes (result.py) and the coding drafts (`Service`,
`Line`, `SiteGroup`) do the same.

`reading.parse_record` builds these from an `infusion-record/1` document (record-format.md); the
database bridge (`mar/record.py`) builds the same document, so the engine has one input shape.
Times are timezone-aware datetimes; the encounter's zone turns them into local dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, get_args

PROLONGED_PUMP_HOURS = 8

DrugClass = Literal["chemo", "chemo_hormonal", "therapeutic", "hydration"]
Route = Literal["iv", "sq", "im", "ia", "intralesional", "intrathecal", "intracavitary"]
Method = Literal["infusion", "push", "injection"]
Purpose = Literal["hydration", "vehicle", "kvo"]
SiteKind = Literal[
    "peripheral_iv",
    "picc",
    "port",
    "central_line",
    "midline",
    "subcutaneous",
    "intramuscular",
    "intra_arterial",
    "other",
]
Setting = Literal["facility", "office"]
Disposition = Literal["not_given", "held", "refused"]

# The allowed values, read off the types above so they cannot drift apart.
DRUG_CLASSES: tuple[DrugClass, ...] = get_args(DrugClass)
ROUTES: tuple[Route, ...] = get_args(Route)
METHODS: tuple[Method, ...] = get_args(Method)
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
SITE_KINDS: tuple[SiteKind, ...] = get_args(SiteKind)
SETTINGS: tuple[Setting, ...] = get_args(Setting)
DISPOSITIONS: tuple[Disposition, ...] = get_args(Disposition)


@dataclass(frozen=True, slots=True)
class Policy:
    """The payer profile: choices where published sources disagree (coding-rules.md §7).

    `concurrent_min_overlap` 0 means any overlap. `second_line_without_reason`: an infusion on a
    second IV line with no documented reason is one site group with the first (`one_line`: no
    sequential time for minutes that ran at the same time; NCCI ch. XI, one initial service) or
    keeps its own minutes (`own_minutes`). `split_dose_window_minutes`: syringes of one drug by
    one route within this window are one injection session (`split_dose_injections`).
    """

    hydration_segments: Literal["total", "continuous"] = "total"
    second_site_modifier: Literal["59", "XU", "XS"] = "59"
    second_encounter_modifier: Literal["59", "XE"] = "59"
    distinct_modifier_scope: Literal["initial", "all"] = "initial"
    concurrent_min_overlap: int = 16  # 0: any overlap (coding-rules §7 "any minutes")
    same_drug_reinfusion: Literal["sequential", "additional_hour"] = "sequential"
    split_dose_injections: Literal["one", "each"] = "one"
    facility_pump_code: Literal["96416", "G0498"] = "96416"
    second_line_without_reason: Literal["one_line", "own_minutes"] = "one_line"
    split_dose_window_minutes: int = 30


# The whole-number policy keys and the least each takes (the most is POLICY_MAX_MINUTES).
POLICY_MINUTES_MIN: dict[str, int] = {
    "concurrent_min_overlap": 0,
    "split_dose_window_minutes": 0,
}
POLICY_MAX_MINUTES = 24 * 60


POLICY_CHOICES: dict[str, tuple[object, ...]] = {
    "hydration_segments": ("total", "continuous"),
    "second_site_modifier": ("59", "XU", "XS"),
    "second_encounter_modifier": ("59", "XE"),
    "distinct_modifier_scope": ("initial", "all"),
    "same_drug_reinfusion": ("sequential", "additional_hour"),
    "split_dose_injections": ("one", "each"),
    "facility_pump_code": ("96416", "G0498"),
    "second_line_without_reason": ("one_line", "own_minutes"),
}


# POSIX seconds of the moments a record names. A bedside system names the same minute many
# times (a stop, the next start, a flush) and reading hands out one datetime per text, whose hash
# Python keeps, so a moment's seconds are looked up instead of computed again (`timestamp()` asks
# the tzinfo for its offset). Equal datetimes are the same instant, except two in one zone that
# differ only by `fold` (the hour a DST change repeats): those are never cached.
_SECONDS: dict[datetime, float] = {}
_SECONDS_CACHE_LIMIT = 100_000


def seconds(moment: datetime) -> float:
    """`moment.timestamp()`, each moment computed once."""
    if moment.fold:
        return moment.timestamp()
    found = _SECONDS.get(moment)
    if found is None:
        found = moment.timestamp()
        if len(_SECONDS) >= _SECONDS_CACHE_LIMIT:
            _SECONDS.clear()
        _SECONDS[moment] = found
    return found


@dataclass(init=False, slots=True, unsafe_hash=True)
class Encounter:
    id: str
    timezone: str
    setting: Setting = "facility"
    date_of_service: date | None = None
    arrived_at: datetime | None = None
    observation_at: datetime | None = None
    sequence_of_day: int = 1
    # The visit is in an emergency department (RAC-8's advice to mark an EMS start is said
    # there only; an infusion center is told to check the start time).
    emergency_department: bool = False
    # When the record was signed (None: still being charted). A signed record is judged as the
    # signature judged it, whoever asks (the chart, the coder's run): checks.py.
    signed_at: datetime | None = None
    # The visit's account number billing uses (None: the clerk left it empty): EDIT-ACCOUNT.
    account_number: str | None = None

    def __init__(
        self,
        id: str,
        timezone: str,
        setting: Setting = "facility",
        date_of_service: date | None = None,
        arrived_at: datetime | None = None,
        observation_at: datetime | None = None,
        sequence_of_day: int = 1,
        emergency_department: bool = False,
        signed_at: datetime | None = None,
        account_number: str | None = None,
    ) -> None:
        self.id = id
        self.timezone = timezone
        self.setting = setting
        self.date_of_service = date_of_service
        self.arrived_at = arrived_at
        self.observation_at = observation_at
        self.sequence_of_day = sequence_of_day
        self.emergency_department = emergency_department
        self.signed_at = signed_at
        self.account_number = account_number


@dataclass(init=False, slots=True, unsafe_hash=True)
class Site:
    id: str
    kind: SiteKind
    location: str = ""
    separate_site_reason: str | None = None

    def __init__(
        self,
        id: str,
        kind: SiteKind,
        location: str = "",
        separate_site_reason: str | None = None,
    ) -> None:
        self.id = id
        self.kind = kind
        self.location = location
        self.separate_site_reason = separate_site_reason


@dataclass(init=False, slots=True, unsafe_hash=True)
class Order:
    id: str
    drug: str
    dose: str | None = None
    route: str | None = None
    indication: str | None = None
    purpose: Literal["hydration"] | None = None
    duration_minutes: int | None = None
    # An order not given: documented as not given, held or refused, with the reason (DOC-6).
    disposition: Disposition | None = None
    disposition_reason: str | None = None

    def __init__(
        self,
        id: str,
        drug: str,
        dose: str | None = None,
        route: str | None = None,
        indication: str | None = None,
        purpose: Literal["hydration"] | None = None,
        duration_minutes: int | None = None,
        disposition: Disposition | None = None,
        disposition_reason: str | None = None,
    ) -> None:
        self.id = id
        self.drug = drug
        self.dose = dose
        self.route = route
        self.indication = indication
        self.purpose = purpose
        self.duration_minutes = duration_minutes
        self.disposition = disposition
        self.disposition_reason = disposition_reason


@dataclass(init=False, slots=True, unsafe_hash=True)
class Pause:
    start: datetime
    end: datetime | None

    def __init__(
        self,
        start: datetime,
        end: datetime | None,
    ) -> None:
        self.start = start
        self.end = end


@dataclass(init=False, slots=True, unsafe_hash=True)
class Dose:
    value: float
    unit: str

    def __init__(
        self,
        value: float,
        unit: str,
    ) -> None:
        self.value = value
        self.unit = unit


@dataclass(init=False, slots=True, unsafe_hash=True)
class RateEvent:
    """The rate an infusion ran at from `at` on (its start rate, then each change), in mL/h."""

    at: datetime
    ml_h: float

    def __init__(
        self,
        at: datetime,
        ml_h: float,
    ) -> None:
        self.at = at
        self.ml_h = ml_h


@dataclass(init=False, slots=True, unsafe_hash=True)
class Administration:
    id: str
    drug: str
    drug_class: DrugClass | None
    route: Route
    method: Method
    start: datetime
    stop: datetime | None = None
    site: str | None = None
    order: str | None = None
    pauses: tuple[Pause, ...] = ()
    purpose: Purpose | None = None
    bag: str | None = None
    started_by: Literal["facility", "ems"] = "facility"
    lesions: int | None = None
    pump: Literal["portable", "implanted"] | None = None
    planned_hours: float | None = None
    primary: bool = False
    dose: Dose | None = None
    # The drug's HCPCS code and billing unit ("J9045", 10 mg), when it is billed in drug units:
    # the dose given must be charted in a unit that converts to it (DRUG-DOSE).
    hcpcs: str | None = None
    billing_unit: Dose | None = None
    # Rates and volumes (issue 17): the rates it ran at, in order of time; the volume the pump
    # says was infused when it stopped; the bag's volume (DOC-VOLUME).
    rates: tuple[RateEvent, ...] = ()
    volume_infused_ml: float | None = None
    bag_volume_ml: float | None = None
    # Derived once: POSIX seconds and the running spans (start to stop less pauses), because
    # every rule module asks for them and datetime arithmetic is the engine's hot path.
    start_ts: float = field(init=False, repr=False, compare=False)
    stop_ts: float | None = field(init=False, repr=False, compare=False)
    spans: tuple[tuple[float, float], ...] = field(init=False, repr=False, compare=False)
    # "The same drug": the drug's name trimmed and lowercased (RAC-5, DOC-1, services' drug keys).
    drug_key: str = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        id: str,
        drug: str,
        drug_class: DrugClass | None,
        route: Route,
        method: Method,
        start: datetime,
        stop: datetime | None = None,
        site: str | None = None,
        order: str | None = None,
        pauses: tuple[Pause, ...] = (),
        purpose: Purpose | None = None,
        bag: str | None = None,
        started_by: Literal["facility", "ems"] = "facility",
        lesions: int | None = None,
        pump: Literal["portable", "implanted"] | None = None,
        planned_hours: float | None = None,
        primary: bool = False,
        dose: Dose | None = None,
        hcpcs: str | None = None,
        billing_unit: Dose | None = None,
        rates: tuple[RateEvent, ...] = (),
        volume_infused_ml: float | None = None,
        bag_volume_ml: float | None = None,
    ) -> None:
        self.id = id
        self.drug = drug
        self.drug_class = drug_class
        self.route = route
        self.method = method
        self.start = start
        self.stop = stop
        self.site = site
        self.order = order
        self.pauses = pauses
        self.purpose = purpose
        self.bag = bag
        self.started_by = started_by
        self.lesions = lesions
        self.pump = pump
        self.planned_hours = planned_hours
        self.primary = primary
        self.dose = dose
        self.hcpcs = hcpcs
        self.billing_unit = billing_unit
        self.rates = rates
        self.volume_infused_ml = volume_infused_ml
        self.bag_volume_ml = bag_volume_ml
        self.__post_init__()

    def __post_init__(self) -> None:
        self.drug_key = self.drug.strip().lower()
        start = seconds(self.start)
        stop = seconds(self.stop) if self.stop is not None else None
        end = stop
        if end is None and self.is_prolonged_pump:
            end = start + (self.planned_hours or 0) * 3600  # ends outside the encounter (96416)
        spans: tuple[tuple[float, float], ...] = ()
        if end is not None and end > start:
            spans = ((start, end),)
            for pause in self.pauses:
                p_start = seconds(pause.start)
                p_end = seconds(pause.end) if pause.end is not None else end
                if p_end <= p_start:
                    continue  # an implausible pause (DOC-3) takes no time out
                spans = tuple(
                    part
                    for s, e in spans
                    for part in ((s, min(e, p_start)), (max(s, p_end), e))
                    if part[1] > part[0]
                )
        self.start_ts = start
        self.stop_ts = stop
        self.spans = spans

    @property
    def is_prolonged_pump(self) -> bool:
        """A pump set up for an infusion planned to run more than 8 hours (96416 / 96425): it
        ends outside the encounter, so its planned hours stand in for the stop."""
        return self.pump is not None and (self.planned_hours or 0) > PROLONGED_PUMP_HOURS

    @property
    def is_fluid(self) -> bool:
        """A prepackaged fluid: the only thing that can be hydration, vehicle or KVO."""
        return self.drug_class == "hydration"


@dataclass(init=False, slots=True, unsafe_hash=True)
class Flush:
    site: str | None
    at: datetime

    def __init__(
        self,
        site: str | None,
        at: datetime,
    ) -> None:
        self.site = site
        self.at = at


@dataclass(slots=True, unsafe_hash=True)
class Record:
    encounter: Encounter
    sites: tuple[Site, ...] = ()
    orders: tuple[Order, ...] = ()
    administrations: tuple[Administration, ...] = ()
    flushes: tuple[Flush, ...] = ()
    policy: Policy = field(default_factory=Policy)

    def site(self, site_id: str | None) -> Site | None:
        for site in self.sites:
            if site.id == site_id:
                return site
        return None

    def order(self, order_id: str | None) -> Order | None:
        for order in self.orders:
            if order.id == order_id:
                return order
        return None
