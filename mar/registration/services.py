"""Registering a patient, opening a visit, entering an order: keyword-only services.

Each refuses bad input with a ValidationError keyed by the field at fault, so the clerk's form
shows it beside the field, the HL7 listener names the segment and field (mar/hl7/), and the FHIR
import answers with an OperationOutcome. Duplicates are refused: an MRN already registered, the
same visit twice (the same patient arriving at the same minute, or an account number in use).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from mar.audit.context import history_context, history_context_apart
from mar.clock import date_hhmm
from mar.models import (
    AccessSite,
    Administration,
    DoseBasis,
    Drug,
    DrugClass,
    DrugNdc,
    Encounter,
    EntryMethod,
    Order,
    Patient,
    Payer,
    Route,
    SafetyOverride,
)
from mar.pharmacy.retired import DrugRetired, drug_retired_check
from mar.ports import charges_port
from mar.registration.icd10 import CodeProblem, icd10_billable_problem, icd10_resolve
from mar.services import dose_check, measures, safety
from mar.services.charting import ChartError, order_disposition_set
from mar.services.safety import allergy_warning
from mar.summary import summary_invalidate
from mar.validators import npi_normalise, text_problems

MRN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")
DOSE_UNITS = ("mg", "g", "mcg", "units", "mL", "mEq", "mmol", "international units")
RATE_UNITS = ("mL/h", "mg/h", "mcg/min", "units/h", "mg/kg/h", "units/kg/h")
_BASIS_SUFFIX = {DoseBasis.PER_M2: "/m²", DoseBasis.PER_KG: "/kg"}


def _fail(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def patient_fields_check(
    *, mrn: str, name: str, birth_date: date | None, sex: str, today: date | None = None
) -> None:
    errors = _patient_field_errors(mrn=mrn, name=name, birth_date=birth_date, sex=sex, today=today)
    if errors:
        raise ValidationError(errors)


def _patient_field_errors(
    *, mrn: str, name: str, birth_date: date | None, sex: str, today: date | None = None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not MRN_RE.match(mrn):
        errors["mrn"] = ["An MRN is 1-40 letters, digits or dashes."]
    if not name.strip():
        errors["name"] = ["Enter the patient's name."]
    errors.update(text_problems(Patient, {"name": name}))
    today = today or timezone.localdate()
    if birth_date is not None and birth_date > today:
        errors["birth_date"] = ["The birth date is in the future."]
    elif birth_date is not None and birth_date.year < 1890:
        errors["birth_date"] = ["The birth date is before 1890: check the year."]
    if sex not in {"", *Patient.Sex.values}:
        errors["sex"] = [f"Sex is one of {', '.join(Patient.Sex.values)} (or blank)."]
    return errors


def _patient_problems(
    *, mrn: str, name: str, birth_date: date | None, sex: str
) -> dict[str, list[str]]:
    """Everything registering refuses, the MRN already registered with the other problems."""
    errors = _patient_field_errors(mrn=mrn, name=name, birth_date=birth_date, sex=sex)
    if "mrn" not in errors:
        holder = Patient.objects.filter(mrn__iexact=mrn).first()
        if holder is not None:
            errors["mrn"] = [f"MRN {holder.mrn} is already registered: {holder.name}."]
    return errors


def patient_register_problems(typed: dict[str, Any]) -> ValidationError | None:
    """What registering would refuse in the fields that could be read (`typed`: a form's
    cleaned data, some fields missing when they could not be parsed): the clerk's screen shows
    these beside the fields together with what the form itself found, every problem at once."""
    errors = _patient_problems(
        mrn=str(typed.get("mrn", "")).strip(),
        name=str(typed.get("name", "")),
        birth_date=typed.get("birth_date"),
        sex=str(typed.get("sex", "")),
    )
    errors = {field: messages for field, messages in errors.items() if field in typed}
    return ValidationError(errors) if errors else None


@transaction.atomic
def patient_register(
    *, mrn: str, name: str, birth_date: date | None, sex: str = "", allergies: str = ""
) -> Patient:
    """A new patient; an MRN already registered is refused (naming who holds it)."""
    mrn = mrn.strip()
    name = " ".join(name.split())
    errors = _patient_problems(mrn=mrn, name=name, birth_date=birth_date, sex=sex)
    if errors:  # every problem at once, the MRN's with the others
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return Patient.objects.create(
                mrn=mrn, name=name, birth_date=birth_date, sex=sex, allergies=allergies.strip()
            )
    except IntegrityError:  # registered at the same moment by another clerk or the interface
        if not Patient.objects.filter(mrn__iexact=mrn).exists():
            raise
        raise _fail("mrn", f"MRN {mrn} is already registered.") from None


@transaction.atomic
def patient_update(*, patient: Patient, **changes: Any) -> Patient:
    """Demographics changed (HL7 A08, FHIR): the same checks as registering."""
    allowed = {"name", "birth_date", "sex", "allergies"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not patient fields: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(patient, field, " ".join(value.split()) if field == "name" else value)
    patient_fields_check(
        mrn=patient.mrn, name=patient.name, birth_date=patient.birth_date, sex=patient.sex
    )
    patient.save(update_fields=[*changes])
    return patient


def patient_find(query: str, *, limit: int = 25) -> list[Patient]:
    """By MRN (exact or starting with) or by name words, all of which must appear."""
    query = query.strip()
    if not query:
        return []
    by_name = Q()
    for word in query.split():
        by_name &= Q(name__icontains=word)
    found = Patient.objects.filter(Q(mrn__iexact=query) | Q(mrn__istartswith=query) | by_name)
    return list(found.order_by("name", "pk")[:limit])


@dataclass(frozen=True)
class VisitDuplicate:
    encounter: Encounter
    why: str


def _visit_duplicate(
    *, patient: Patient, arrived_at: datetime | None, account_number: str
) -> VisitDuplicate | None:
    if account_number:
        same = Encounter.objects.filter(**{"account_number__iexact": account_number}).first()
        if same is not None:
            return VisitDuplicate(same, f"account number {same.account_number} is already in use")
    if arrived_at is not None:
        minute = arrived_at.replace(second=0, microsecond=0)
        same = Encounter.objects.filter(
            patient=patient, arrived_at__gte=minute, arrived_at__lt=minute + timedelta(minutes=1)
        ).first()
        if same is not None:
            return VisitDuplicate(same, "this patient already has a visit arriving at that time")
    return None


# A unit spelled more than one way (in another case or with other spaces: typed so before
# `unit_as_known`, or by a way in that does not tidy it) takes the spelling most of its visits
# have, each spelling's visits counted up to this many: enough to tell a typo from the unit.
UNIT_SPELLING_COUNT_CAP = 1000

# Each spelling visits were opened in, once, from the index on Encounter.unit: the least, then
# the least above it, and so on (a "skip scan": an index step a spelling, however many visits).
_UNIT_SPELLINGS_SQL = """
WITH RECURSIVE spellings (unit) AS (
    SELECT MIN({unit}) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(later.{unit}) FROM {table} later WHERE later.{unit} > spellings.unit)
    FROM spellings WHERE spellings.unit IS NOT NULL
)
SELECT unit FROM spellings WHERE unit IS NOT NULL
"""


def _unit_spellings() -> list[str]:
    quote = connection.ops.quote_name
    sql = _UNIT_SPELLINGS_SQL.format(
        unit=quote(Encounter._meta.get_field("unit").column),
        table=quote(Encounter._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [unit for (unit,) in cursor.fetchall()]


def units_known() -> list[str]:
    """The units visits were opened in, each once, as most visits spell it, by name.

    Read for each visit opened and each new-visit form: what it reads grows with the units, not
    with the visits (an index step a spelling; the visits of a unit spelled two ways counted up
    to `UNIT_SPELLING_COUNT_CAP`, a tie going to the first spelling by code point)."""
    by_key: dict[str, list[str]] = {}
    for unit in _unit_spellings():
        key = " ".join(unit.split()).casefold()
        if key:
            by_key.setdefault(key, []).append(unit)
    chosen = []
    for spellings in by_key.values():
        if len(spellings) == 1:
            chosen.append(spellings[0])
            continue
        counted = {
            unit: Encounter.objects.filter(unit=unit)
            .order_by()  # not the model's ordering: it sorted every visit of the unit first
            .values("pk")[:UNIT_SPELLING_COUNT_CAP]
            .count()
            for unit in spellings
        }
        chosen.append(min(spellings, key=lambda unit: (-counted[unit], unit)))
    return sorted(chosen, key=str.casefold)


def unit_as_known(unit: str) -> str:
    """A unit as visits already spell it, when one matches it but for case and spaces
    ("infusion  center" is "Infusion Center"): a typo of case does not make a unit of its own on
    the board and in the coders' filter. A unit no visit was in is kept as typed."""
    typed = " ".join(unit.split())
    for known in units_known():
        if known.casefold() == typed.casefold():
            return known
    return typed


def _visit_fields_check(fields: Mapping[str, Any], *, now: datetime | None = None) -> None:
    """What a visit's fields must be, opened (`encounter_open`) or changed (`encounter_update`):
    only the fields given are checked (the unit already as `unit_as_known` spells it)."""
    errors: dict[str, list[str]] = {}
    if "unit" in fields and not fields["unit"]:
        errors["unit"] = ["Enter the unit (Infusion Center, Emergency Department...)."]
    if "setting" in fields and fields["setting"] not in Encounter.Setting.values:
        errors["setting"] = ["The setting is facility or office."]
    arrived_at = fields.get("arrived_at")
    now = now or timezone.now()
    if arrived_at is not None and arrived_at > now + timedelta(minutes=5):
        zone = timezone.get_current_timezone()  # the desk's wall clock, as the form reads it
        errors["arrived_at"] = [
            f"The arrival time ({date_hhmm(arrived_at, zone)}) is later than now "
            f"({date_hhmm(now, zone)})."
        ]
    texts = {
        name: fields[name]
        for name in ("location_label", "attending", "unit", "account_number")
        if name in fields
    }
    errors |= {k: v for k, v in text_problems(Encounter, texts).items() if k not in errors}
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def encounter_open(
    *,
    patient: Patient,
    unit: str,
    arrived_at: datetime | None,
    location_label: str = "",
    setting: str = Encounter.Setting.FACILITY,
    attending: str = "",
    account_number: str = "",
    payer: Payer | None = None,
    zone: str | None = None,
    nurse: AbstractBaseUser | None = None,
    now: datetime | None = None,
    second_visit_why: str | None = None,
    chair_confirmed: str | None = None,
) -> Encounter:
    """A visit for a registered patient. The same visit twice is refused; a second visit of the
    same patient on the same day gets the next sequence number (they left and came back).

    A visit opened at the desk (`second_visit_why` given, "" when none was typed) while the
    patient has another in progress is refused unless a reason is given (QA: a second visit
    opened without a word, and the wristband scan went to its empty chart while a bag ran on
    the first): the reason goes in the audit trail with the new visit. An interface (HL7 ADT,
    a FHIR import: `second_visit_why` None) opens it as the sending system says.

    Likewise a desk's visit (`chair_confirmed` given: the chair the clerk confirmed sharing,
    `chair_key`, "" when none) put in a chair or bed another patient's visit in progress holds
    in the same unit (QA: two patients in chair 2, the board showing two "2" cards) is refused
    beside the chair, naming who is in it since when (`chair_taken_words`), unless that chair
    is confirmed (a chair is shared briefly at a handover): the confirm goes in the audit trail
    with the new visit (`chair_shared_with`, what was shown). An interface (`chair_confirmed`
    None) is not asked: the sending system's location stands."""
    unit = unit_as_known(unit)
    _visit_fields_check(
        {
            "unit": unit,
            "setting": setting,
            "arrived_at": arrived_at,
            "location_label": location_label,
            "attending": attending,
            "account_number": account_number,
        },
        now=now,
    )
    Patient.objects.select_for_update().filter(pk=patient.pk).first()  # one visit at a time
    account_number = account_number.strip()
    duplicate = _visit_duplicate(
        patient=patient, arrived_at=arrived_at, account_number=account_number
    )
    if duplicate is not None:
        field = "account_number" if "account" in duplicate.why else "arrived_at"
        raise _fail(field, f"Already open: {duplicate.why} (visit {duplicate.encounter.pk}).")
    problems: dict[str, list[str]] = {}
    if second_visit_why is not None and not second_visit_why.strip():
        open_visits = visits_in_progress(patient)
        if open_visits:
            problems["second_visit_why"] = [
                f"Visit {open_visits[0].pk} of this patient is in progress: say why a second "
                "visit is opened while it is."
            ]
    taken = None
    if chair_confirmed is not None:
        taken = chair_taken(unit=unit, location_label=location_label, patient=patient)
    if taken is not None and chair_confirmed != chair_key(unit, location_label):
        problems["location_label"] = [chair_taken_words(taken)]
        problems["chair_confirm"] = [CHAIR_CONFIRM]
    if problems:  # said together, beside their fields
        raise ValidationError(problems)
    zone = zone or settings.TIME_ZONE
    fields: dict[str, Any] = {
        "patient": patient,
        "unit": unit,
        "location_label": location_label.strip(),
        "setting": setting,
        "attending": attending.strip(),
        "arrived_at": arrived_at,
        "timezone": zone,
        "nurse": nurse,
    }
    fields["account_number"] = account_number
    fields["payer"] = payer
    encounter = Encounter(**fields)
    encounter.sequence_of_day = _sequence_of_day(encounter)
    why = (second_visit_why or "").strip()
    said: dict[str, Any] = {}
    if taken is not None:  # confirmed: who it is shared with, and what the clerk was shown
        said = {
            "action": "visit_open_chair_shared",
            "chair_shared_with": taken.pk,
            "chair_shown": chair_taken_words(taken),
        }
    if why:  # a second visit, its chair shared or not
        said |= {"action": "visit_open_second", "why": why}
    if said:
        with history_context_apart(**said):
            encounter.save()
    else:
        encounter.save()
    return encounter


CHAIR_CONFIRM = (
    "Tick to put the patient in it anyway (a handover): your confirmation is kept in the "
    "audit trail."
)


def chair_key(unit: str, location_label: str) -> str:
    """A chair or bed of a unit, as the desk's confirm names it: case and spaces aside ("" for
    a visit with no chair)."""
    label = " ".join(location_label.split()).casefold()
    return f"{' '.join(unit.split()).casefold()}|{label}" if label else ""


def chair_taken(*, unit: str, location_label: str, patient: Patient) -> Encounter | None:
    """Another patient's visit in progress in the chair or bed `location_label` of `unit`
    (case aside), the earliest arrival; None for no chair. The patient's own visit in progress
    is the second visit's warning, not this."""
    label = " ".join(location_label.split())
    if not label:
        return None
    return (
        Encounter.objects.filter(
            status=Encounter.Status.IN_PROGRESS,
            unit__iexact=" ".join(unit.split()),
            location_label__iexact=label,
        )
        .exclude(patient=patient)
        .select_related("patient")
        .order_by("arrived_at", "pk")
        .first()
    )


def chair_taken_words(other: Encounter) -> str:
    """What the desk is told beside the chair another patient's visit in progress holds: whose
    it is and since when ("Chair 2" for a bare number, else the label as typed)."""
    label = other.location_label
    place = f"Chair {label}" if label.isdigit() else label
    since = ""
    if other.arrived_at is not None:
        arrived = timezone.localtime(other.arrived_at, other.zone)
        today = timezone.localtime(timezone.now(), other.zone).date()
        since = (
            f", in progress since {arrived:%H:%M}"
            if arrived.date() == today
            else (f", in progress since {arrived:%Y-%m-%d %H:%M}")
        )
    return (
        f"{place} is taken by {other.patient.name} (MRN {other.patient.mrn}, visit "
        f"{other.pk}){since}: choose another chair or confirm."
    )


VISIT_UPDATE_FIELDS = ("unit", "location_label", "setting", "attending", "arrived_at", "payer")


@transaction.atomic
def encounter_update(
    *, encounter: Encounter, now: datetime | None = None, **changes: Any
) -> list[str]:
    """A visit's unit, chair/bed (`location_label`), setting, attending, arrival or payer as
    another system now says (HL7 ADT^A08): the same checks as opening it, the unit spelled as
    visits spell it (`unit_as_known`, as `encounter_open`), so every
    way in puts a visit on the unit the board and the coders' filter group by. A field given with
    its value already (the unit in another case) is no change. A signed visit is not changed
    (its record changes by addendum): refused on `account_number`, the visit's number, when
    anything would change. The names of the fields changed, in the order of
    `VISIT_UPDATE_FIELDS`; the visit's stored summary invalidated when any did (an arrival is
    checked)."""
    unknown = set(changes) - set(VISIT_UPDATE_FIELDS)
    if unknown:
        raise ValueError(f"not visit fields: {sorted(unknown)}")
    if "unit" in changes:
        changes["unit"] = unit_as_known(changes["unit"])
    for name in ("location_label", "attending"):
        if name in changes:
            changes[name] = changes[name].strip()
    _visit_fields_check(changes, now=now)
    status = (
        Encounter.objects.select_for_update().values_list("status", flat=True).get(pk=encounter.pk)
    )
    changed = [
        name
        for name in VISIT_UPDATE_FIELDS
        if name in changes and getattr(encounter, name) != changes[name]
    ]
    if not changed:
        return []
    if status == Encounter.Status.SIGNED:
        raise _fail(
            "account_number",
            f"Visit {encounter.account_number or encounter.pk} is signed; its record changes by "
            "addendum.",
        )
    for name in changed:
        setattr(encounter, name, changes[name])
    encounter.save(update_fields=changed)
    summary_invalidate(encounter_ids=[encounter.pk])
    return changed


# The charge run an account number entered on a signed visit owes: queued as an addendum's is
# (the record's input changed; the coder's corrections carried), under its own trigger: the
# coder reads "account number entered", not an addendum no nurse wrote, and it answers no query
# (`queries_answer_by_run` takes an addendum's run only).
ACCOUNT_SET_TRIGGER = "account"


@transaction.atomic
def encounter_account_set(*, encounter: Encounter, account_number: str, source: str) -> bool:
    """The account number of a visit that has none, entered later by registration (the clerk,
    `source` "registration desk"; an ADT^A08's PV1-19, `source` "HL7 ADT^A08"): in progress or
    signed. Not the clinical record, so not an addendum: the signed-record guard lets exactly
    this change through (mar/audit/guard.py: a blank account number filled, nothing else).

    The checks of `encounter_open` (trimmed; unique, case-insensitive; the same messages). A
    visit whose number is set keeps it: the same number again is no change (False), another is
    refused, said beside the field. Set (True): the change goes in the audit trail under its own
    action (who, when, from where), the visit's stored summary is invalidated, and a signed
    visit's charges are owed again as an addendum owes them (`charges_owed`, its trigger): the
    new run's record carries the number (EDIT-ACCOUNT no longer raised), the coders' corrections
    are carried onto it (coding/corrections.py `corrections_carry`)."""
    _visit_fields_check({"account_number": account_number})
    account_number = account_number.strip()
    if not account_number:
        raise _fail("account_number", "Enter the account number.")
    locked = Encounter.objects.select_for_update().get(pk=encounter.pk)
    if locked.account_number:
        if locked.account_number.casefold() == account_number.casefold():
            return False
        if locked.is_signed:
            raise _fail(
                "account_number",
                f"Visit {locked.pk} is signed with account number {locked.account_number}: "
                "an account number already set is not changed on a signed visit.",
            )
        raise _fail(
            "account_number",
            f"Visit {locked.pk} already has account number {locked.account_number}: only a "
            "blank account number is entered here.",
        )
    duplicate = _visit_duplicate(
        patient=locked.patient, arrived_at=None, account_number=account_number
    )
    if duplicate is not None:
        raise _fail(
            "account_number", f"Already open: {duplicate.why} (visit {duplicate.encounter.pk})."
        )
    locked.account_number = account_number
    with history_context_apart(action="visit_account_set", source=source):
        locked.save(update_fields=["account_number", "updated_at"])
    encounter.account_number = account_number
    summary_invalidate(encounter_ids=[locked.pk])
    if locked.is_signed:
        charges_port().charges_owed(
            encounter_id=locked.pk,
            trigger=ACCOUNT_SET_TRIGGER,
            reason=f"Account number {account_number} entered by registration ({source}).",
        )
    return True


def visits_in_progress(patient: Patient) -> list[Encounter]:
    """The patient's visits in progress (not signed), the earliest arrival first."""
    return list(
        Encounter.objects.filter(patient=patient, status=Encounter.Status.IN_PROGRESS).order_by(
            "arrived_at", "pk"
        )
    )


def second_visit_warning(other: Encounter) -> str:
    """What the desk is told when the patient has a visit in progress already."""
    where = " ".join(p for p in (other.unit, other.location_label) if p)
    arrived = (
        f", arrived {timezone.localtime(other.arrived_at, other.zone):%Y-%m-%d %H:%M}"
        if other.arrived_at
        else ""
    )
    return (
        f"Visit {other.pk} of this patient is still in progress ({where}{arrived}): sign it "
        "first, or say why a second visit is opened while it is (it is kept in the audit trail)."
    )


def _sequence_of_day(encounter: Encounter) -> int:
    """1 for the patient's first visit of the day (on the encounter's clock), 2 for the next..."""
    if encounter.arrived_at is None:
        return 1
    zone = ZoneInfo(encounter.timezone)
    day = encounter.arrived_at.astimezone(zone).date()
    earlier = Encounter.objects.filter(
        patient=encounter.patient,
        arrived_at__lt=encounter.arrived_at,
        arrived_at__gte=encounter.arrived_at - timedelta(days=1),
    )
    same_day = [e for e in earlier if e.arrived_at and e.arrived_at.astimezone(zone).date() == day]
    return len(same_day) + 1


def drug_search(query: str, *, limit: int = 15) -> list[Drug]:
    """The formulary by name or synonym, names starting with the query first; a retired drug is
    never suggested (a new order of it is refused)."""
    query = " ".join(query.split())
    if not query:
        return []
    found = Drug.objects.filter(
        Q(name__icontains=query) | Q(synonyms__icontains=query), active=True
    )
    drugs = list(found.order_by("name")[: limit * 3])
    drugs.sort(key=lambda d: (not d.name.casefold().startswith(query.casefold()), d.name))
    return drugs[:limit]


def drug_names_like(typed: str, *, limit: int = 5) -> list[str]:
    """Formulary names (or synonyms) spelled close to what was typed: a typing error
    ('carboplatinn', 'oxaliplatine') that no name contains. Run only when nothing matched.
    Retired drugs are not offered."""
    folded = typed.casefold()
    spellings: dict[str, str] = {}
    for drug_name, synonyms in Drug.objects.filter(active=True).values_list("name", "synonyms"):
        for spelling in (drug_name, *synonyms.split(";")):
            if spelling.strip():
                spellings.setdefault(spelling.strip().casefold(), drug_name)
    found = difflib.get_close_matches(folded, list(spellings), n=limit, cutoff=0.8)
    return list(dict.fromkeys(spellings[spelling] for spelling in found))


def drug_find(text: str, *, retired_ok: bool = False) -> Drug:
    """The formulary drug a new order names (its name or one synonym, any case); ValidationError
    naming close matches otherwise. Order entry never adds a drug: the pharmacist does.

    A retired drug is refused (DrugRetired, saying when and why) unless `retired_ok`: an order
    already entered of it, sent again or changed (HL7 ORC-1 XO), is not a new order. A synonym
    an active drug shares with a retired one names the active one."""
    name = " ".join(text.split())
    if not name:
        raise _fail("drug", "Search the formulary and choose the drug.")
    found = Drug.objects.filter(name__iexact=name).first()
    if found is None:
        folded = name.casefold()
        for drug in Drug.objects.filter(synonyms__icontains=name).order_by("-active", "pk"):
            if any(part.strip().casefold() == folded for part in drug.synonyms.split(";")):
                found = drug
                break
    if found is not None:
        return found if retired_ok else drug_retired_check(found)
    close = [d.name for d in drug_search(name, limit=5)] or drug_names_like(name)
    if close:
        raise _fail("drug", f"“{name}” is not a formulary name; did you mean: {', '.join(close)}?")
    raise _fail("drug", f"“{name}” is not in the formulary: ask pharmacy to add it.")


def drug_for_code(
    *, identifier: str, text: str = "", system: str = "", retired_ok: bool = False
) -> Drug:
    """A coded drug from an interface (HL7 CE, FHIR CodeableConcept) as a formulary drug: by
    NDC, by HCPCS code when one drug has it, else by name or synonym; ValidationError (on
    "drug") when none matches.

    A retired drug is refused for a new order (DrugRetired, on "drug", saying when and why, as
    an unknown drug is refused), unless `retired_ok` (an order entered before the retirement,
    sent again or changed: found as it was then). For a new order, an HCPCS code a retired drug
    shares with one active drug names the active one."""
    check = (lambda drug: drug) if retired_ok else drug_retired_check
    digits = identifier.replace("-", "")
    if (
        system.upper() in {"NDC", "N4"}
        or "ndc" in system.lower()
        or (digits.isdigit() and len(digits) in (10, 11))
    ):
        ndc = DrugNdc.objects.filter(ndc=digits.zfill(11)).select_related("drug").first()
        if ndc is not None:
            return check(ndc.drug)
    if identifier:
        coded = Drug.objects.filter(hcpcs_code__iexact=identifier)
        # A new order: the active drug of the code; only a retired one has it: said so. An order
        # entered before: as it was found then (retired or not).
        by_hcpcs = [] if retired_ok else list(coded.filter(active=True)[:2])
        if not by_hcpcs:
            by_hcpcs = list(coded[:2])
        if len(by_hcpcs) == 1:
            return check(by_hcpcs[0])
    for name in (text, identifier):
        if name:
            try:
                return drug_find(name, retired_ok=retired_ok)
            except DrugRetired:
                raise
            except ValidationError:
                continue
    raise _fail(
        "drug",
        f"Unknown drug code {identifier or text!r} ({system or 'no coding system'}): "
        "not in the formulary.",
    )


def dose_text(value: Decimal, unit: str, basis: str) -> str:
    """What the chart and the pharmacist read: '85 mg/m²', 'AUC 5', '8 mg'."""
    amount = f"{value.normalize():f}"
    if basis == DoseBasis.AUC:
        return f"AUC {amount}"
    return f"{amount} {unit}{_BASIS_SUFFIX.get(basis, '')}"  # type: ignore[call-overload]


# The longest ordering provider's name a person may type (the column takes 200, for what an
# interface sends).
PROVIDER_NAME_MAX = 80


@dataclass(frozen=True)
class OrderEntry:
    """An order as entered: by a person (entry_method written/verbal/telephone, on behalf of the
    prescriber) or from an interface (electronic)."""

    drug: Drug | None  # None: not found (the caller has said why); the other fields still checked
    dose_value: Decimal | None
    dose_unit: str
    dose_basis: str = ""
    route: str = Route.IV
    duration_minutes: int | None = None
    rate_value: Decimal | None = None
    rate_unit: str = ""
    indication: str = ""  # an ICD-10-CM code, optionally followed by its words
    ordering_provider: str = ""
    ordering_provider_npi: str = ""
    entry_method: str = EntryMethod.ELECTRONIC
    purpose: str = ""
    # False for a record imported from another EHR: a missing indication or prescriber is the
    # checklist's finding there, not a reason to refuse the record.
    complete: bool = True
    placer_number: str = ""  # the ordering system's number (HL7 ORC-2)
    # Typed by the person entering it when the drug matches an allergy of the patient (the
    # warning beside the drug): why it is entered anyway. Kept as a SafetyOverride.
    allergy_reason: str = ""
    # The entry form's key (one per form drawn): the same form posted twice enters one order.
    entry_key: str = ""
    # Ticked by the person entering it when the same order is on the visit already (the warning
    # beside the drug, `order_duplicate_problems`): it is entered again on purpose.
    duplicate_confirmed: bool = False
    # Ticked by the person entering it when a dose/unit warning is said (`order_dose_problems`):
    # entered as written. Kept as a SafetyOverride (kind "dose"); the pharmacist's queue flags it.
    dose_confirmed: bool = False


ALLERGY_REASON_MISSING = (
    "Check with the prescriber. To enter it anyway, give the reason below (the prescriber "
    "confirmed it, a known intolerance, not an allergy): the pharmacist and the nurse see it."
)


def order_allergy_problems(patient: Patient, entry: OrderEntry) -> dict[str, list[str]]:
    """The allergy warning a person entering the order must answer: the patient's allergy that
    names its drug (mar/services/safety.py `allergy_warning`, the one matcher), beside the drug,
    and the reason asked for, beside its field; none once a reason is given."""
    if entry.drug is None or entry.allergy_reason.strip():
        return {}
    warning = allergy_warning(patient, entry.drug)
    if not warning:
        return {}
    return {"drug": [warning], "allergy_reason": [ALLERGY_REASON_MISSING]}


def order_duplicate(encounter: Encounter, entry: OrderEntry) -> Order | None:
    """The order of the visit that `entry` repeats: the same drug, dose (value, unit, basis) and
    route, still to give or given (not documented not given, held or refused: an ordering
    system's cancel is documented not given), entered at any time of the visit; the latest."""
    if entry.drug is None or entry.dose_value is None:
        return None
    unit = "" if entry.dose_basis == DoseBasis.AUC else entry.dose_unit.strip()
    return (
        encounter.orders.filter(
            drug=entry.drug,
            dose_value=entry.dose_value,
            dose_unit=unit,
            dose_basis=entry.dose_basis,
            route=entry.route,
            disposition="",
        )
        .select_related("drug", "entered_by")
        .order_by("-created_at", "-pk")
        .first()
    )


def order_duplicate_words(order: Order) -> str:
    """What the person entering the same order again is told, beside the drug."""
    who = order.entered_by.get_username() if order.entered_by is not None else "the ordering system"
    number = f"O{order.pk}" + (f", order {order.placer_number}" if order.placer_number else "")
    route = Route(order.route).label if order.route in Route.values else order.route
    return (
        f"The same order was entered at {timezone.localtime(order.created_at):%H:%M} by {who} "
        f"({number}): {order.drug.name} {order.dose} {route}. Enter it again anyway?"
    )


def order_duplicate_problems(encounter: Encounter, entry: OrderEntry) -> dict[str, list[str]]:
    """The same order on the visit already (the back button brought the form again; two people
    transcribing one written order): beside the drug, asked to confirm ("duplicate_confirm");
    none once confirmed. A person's entry only: an interface's order under a new placer number
    is a second order (a resend under the same number is entered once, `order_by_placer`)."""
    if entry.duplicate_confirmed:
        return {}
    earlier = order_duplicate(encounter, entry)
    if earlier is None:
        return {}
    return {"drug": [order_duplicate_words(earlier)], "duplicate_confirm": [DUPLICATE_CONFIRM]}


DUPLICATE_CONFIRM = "Tick to enter it as a second order, or go back to the visit."

DOSE_CONFIRM = (
    "Check with the prescriber. To enter it as written, tick the box: the pharmacist sees the "
    "warning and who confirmed it."
)


def visit_body(encounter: Encounter | None, drug: Drug | None) -> dose_check.Body | None:
    """The weight and height recorded for the visit, read (one statement) only when the drug
    has a maximum single dose by body size (mar/services/dose_check.py); None otherwise."""
    if encounter is None or not dose_check.needs_body(drug):
        return None
    return measures.encounter_measures(encounter).body


def order_dose_warnings_of(
    entry: OrderEntry, body: dose_check.Body | None = None
) -> dict[str, str]:
    """The dose/unit warnings of an order as entered (mar/services/dose_check.py: the unit fits
    the drug, the rate's unit fits, the formulary's maximum single dose, fixed or by the visit's
    weight or BSA, `body`: `visit_body`), by the field each is said beside."""
    return dose_check.dose_warnings(
        entry.drug,
        dose_value=entry.dose_value,
        dose_unit=entry.dose_unit,
        dose_basis=entry.dose_basis,
        rate_value=entry.rate_value,
        rate_unit=entry.rate_unit,
        body=body,
    )


def order_dose_notes_of(entry: OrderEntry, body: dose_check.Body | None = None) -> dict[str, str]:
    """What the dose check of an order as entered could not check (a maximum per kg or per m²
    with no weight or height recorded for the visit), by the field it is said beside: a note,
    not a warning to confirm (the pharmacist's queue flags the order)."""
    return dose_check.dose_notes(
        entry.drug,
        dose_value=entry.dose_value,
        dose_unit=entry.dose_unit,
        dose_basis=entry.dose_basis,
        body=body,
    )


def order_dose_problems(
    entry: OrderEntry, body: dose_check.Body | None = None
) -> dict[str, list[str]]:
    """The dose/unit warnings a person entering the order must confirm ("dose_confirm"), each
    beside its field; none once confirmed. Warnings, not refusals: an interface's order is not
    asked (the pharmacist's queue flags it). `body`: the visit's weight and height
    (`visit_body`)."""
    if entry.dose_confirmed:
        return {}
    found: dict[str, list[str]] = {
        field: [words] for field, words in order_dose_warnings_of(entry, body).items()
    }
    if found:
        found["dose_confirm"] = [DOSE_CONFIRM]
    return found


def order_dose_confirm_record(
    order: Order, entry: OrderEntry, user: AbstractBaseUser, body: dose_check.Body | None = None
) -> None:
    """The dose/unit warnings the person entering `order` confirmed: who and when, with what
    she was shown (a SafetyOverride of kind "dose"), for the pharmacist's queue and review."""
    warnings = order_dose_warnings_of(entry, body)
    if not warnings:
        return
    SafetyOverride.objects.create(
        encounter=order.encounter,
        kind=SafetyOverride.Kind.DOSE,
        message=f"{safety.ENTRY_PREFIX}{' '.join(warnings.values())}"[:300],
        reason="Entered as written: the warning confirmed at order entry.",
        order=order,
        by=user,
    )


def order_duplicate_said(encounter: Encounter, typed: Mapping[str, Any]) -> str:
    """The same order on the visit already, as the order form's fields describe it (`typed`: the
    form's cleaned data, the fields it could read) as soon as drug, dose and route are filled:
    what the submit would say beside the drug (`order_duplicate_words`), whether or not the box
    is ticked already; '' when none, or while the drug or dose cannot be read."""
    entry, _ = order_entry_typed(typed)
    earlier = order_duplicate(encounter, entry)
    return order_duplicate_words(earlier) if earlier is not None else ""


def order_dose_said(
    typed: Mapping[str, Any], encounter: Encounter | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """The dose/unit warnings of the order as the order form's fields describe it (`typed`: the
    form's cleaned data, the fields it could read), by the field each is said beside: the
    submit's own words (`order_dose_warnings_of`, with the visit's weight and height), whether
    or not the box is ticked already; none while the drug or dose cannot be read. Then what
    could not be checked (`order_dose_notes_of`), by field too."""
    entry, _ = order_entry_typed(typed)
    body = visit_body(encounter, entry.drug)
    return order_dose_warnings_of(entry, body), order_dose_notes_of(entry, body)


def order_fields_check(entry: OrderEntry) -> dict[str, Any]:
    """The checks every order passes, wherever it comes from; the fields to store."""
    errors: dict[str, list[str]] = {}
    if entry.drug is None:
        errors["drug"] = ["Search the formulary and choose the drug."]
    if (entry.complete or entry.dose_value is not None) and (
        entry.dose_value is None or entry.dose_value <= 0
    ):
        errors["dose_value"] = ["The dose is a number above zero."]
    if entry.dose_basis not in {"", *DoseBasis.values}:
        errors["dose_basis"] = ["The dose basis is per m², per kg or AUC (or none)."]
    if (
        entry.dose_value is not None
        and entry.dose_basis != DoseBasis.AUC
        and not entry.dose_unit.strip()
    ):
        errors["dose_unit"] = ["Give the dose's unit (mg, units...)."]
    if entry.route not in Route.values:
        errors["route"] = [f"Unknown route {entry.route!r}."]
    if entry.duration_minutes is not None and not 0 < entry.duration_minutes <= 7 * 24 * 60:
        errors["duration_minutes"] = ["The duration is 1 minute to 7 days."]
    if entry.rate_value is not None and entry.rate_value <= 0:
        errors["rate_value"] = ["The rate is a number above zero."]
    if entry.rate_value is not None and not entry.rate_unit.strip():
        errors["rate_unit"] = ["Give the rate's unit (mL/h...)."]
    provider = " ".join(entry.ordering_provider.split())
    if entry.complete and not provider:
        errors["ordering_provider"] = ["Name the ordering provider."]
    elif entry.entry_method != EntryMethod.ELECTRONIC and len(provider) > PROVIDER_NAME_MAX:
        # Typed by a person: a name as the provider signs it (QA: a 200-character run pasted
        # there made the visit page 4,358 px wide). An interface's order is kept as sent.
        errors["ordering_provider"] = [
            f"At most {PROVIDER_NAME_MAX} characters: the provider's name as they sign it "
            f"(Dr. Amara Okafor, MD). This one has {len(provider)}."
        ]
    npi = entry.ordering_provider_npi.strip()
    if npi:
        try:
            npi = npi_normalise(npi)
        except ValueError as exc:
            errors["ordering_provider_npi"] = [f"{exc}."]
    if entry.purpose not in {"", *Order.Purpose.values}:
        errors["purpose"] = ["The purpose is hydration, or none."]
    elif (
        entry.purpose == Order.Purpose.HYDRATION
        and entry.drug is not None
        and entry.drug.drug_class not in (None, "", DrugClass.HYDRATION)
    ):
        # Hydration is a fluid given for its own sake (RAC-1; the engine codes a drug tagged
        # otherwise as the drug it is, coding.engine.terms.may_be_fluid): the purpose on
        # dexamethasone was accepted and shown to nobody who could catch it (QA).
        errors["purpose"] = [
            f"Hydration is a fluid given for its own sake: {entry.drug.name} is tagged "
            f"{entry.drug.get_drug_class_display().lower()}. Leave the purpose empty."
        ]
    if entry.entry_method not in EntryMethod.values:
        errors["entry_method"] = ["How did the order come: written, verbal or telephone?"]
    texts = {"dose_unit": entry.dose_unit.strip(), "rate_unit": entry.rate_unit.strip()}
    texts["ordering_provider"] = " ".join(entry.ordering_provider.split())
    texts["placer_number"] = entry.placer_number.strip()
    errors |= {k: v for k, v in text_problems(Order, texts).items() if k not in errors}
    code, words = "", ""
    if entry.complete or entry.indication.strip():
        typed = entry.entry_method != EntryMethod.ELECTRONIC
        try:
            # Typed by a person: words are never taken for a code, even when one code matches
            # them (QA: "thyroid" saved as C73); the code typed or chosen from the list only.
            # From an interface the indication is taken as it is sent.
            diagnosis = icd10_resolve(entry.indication, words_match=not typed)
            code, words = diagnosis.code, diagnosis.description
        except ValueError as exc:
            errors["indication"] = [str(exc)]
        else:
            # Typed by a person: a category (C50.9) is refused, and a code not in the list when
            # the full list is loaded. From an interface the order is kept whatever its code (the
            # ordering system's order, not to be dropped): the coder sees it (CLAIM-DX).
            problem = icd10_billable_problem(code)
            if problem is not None and problem.refused and typed:
                errors["indication"] = [problem.message]
    if errors:
        raise ValidationError(errors)
    unit = "" if entry.dose_basis == DoseBasis.AUC else entry.dose_unit.strip()
    return {
        "drug": entry.drug,
        "dose": dose_text(entry.dose_value, unit, entry.dose_basis)
        if entry.dose_value is not None
        else "",
        "dose_value": entry.dose_value,
        "dose_unit": unit,
        "dose_basis": entry.dose_basis,
        "route": entry.route,
        "duration_minutes": entry.duration_minutes,
        "rate_value": entry.rate_value,
        "rate_unit": entry.rate_unit.strip() if entry.rate_value is not None else "",
        "indication_code": code,
        "indication": f"{code} {words}".strip()[:200],
        "ordering_provider": " ".join(entry.ordering_provider.split()),
        "ordering_provider_npi": npi,
        "entry_method": entry.entry_method,
        "purpose": entry.purpose,
        "placer_number": entry.placer_number.strip(),
    }


def order_indication_note(indication: str) -> CodeProblem | None:
    """The indication typed at order entry when it is accepted but is not a code of the
    ICD-10-CM list loaded (the shipped sample lacks it: mar/registration/icd10.py): what the
    person is told beside the field before the order is entered. None for a code of the list,
    for one refused (a category; outside the full list: `order_fields_check` says it) and for
    text that is no code (`icd10_resolve` says it)."""
    try:
        code = icd10_resolve(indication, words_match=False).code
    except ValueError:
        return None
    problem = icd10_billable_problem(code)
    return problem if problem is not None and not problem.refused else None


def order_entry_typed(typed: Mapping[str, Any]) -> tuple[OrderEntry, dict[str, list[str]]]:
    """The order a clerk's form describes, from the fields that could be read (`typed`: the
    form's cleaned data, without the fields it refused), with why its drug was not found."""
    errors: dict[str, list[str]] = {}
    drug = None
    if typed.get("drug"):
        try:
            drug = drug_find(typed["drug"])
        except ValidationError as exc:  # says why, with the close matches
            errors.update(exc.message_dict)
    rate_value = typed.get("rate_value")
    entry = OrderEntry(
        drug=drug,
        dose_value=typed.get("dose_value"),
        dose_unit=typed.get("dose_unit", ""),
        dose_basis=typed.get("dose_basis", ""),
        route=typed.get("route", Route.IV),
        duration_minutes=typed.get("duration_minutes"),
        rate_value=rate_value,
        rate_unit=typed.get("rate_unit", "") if rate_value is not None else "",
        indication=typed.get("indication", ""),
        ordering_provider=typed.get("ordering_provider", ""),
        ordering_provider_npi=typed.get("ordering_provider_npi", ""),
        entry_method=typed.get("entry_method", EntryMethod.WRITTEN),
        purpose=typed.get("purpose", ""),
        allergy_reason=typed.get("allergy_reason", ""),
        entry_key=typed.get("entry_key", ""),
        duplicate_confirmed=bool(typed.get("duplicate_confirm")),
        dose_confirmed=bool(typed.get("dose_confirm")),
    )
    return entry, errors


def order_entry_problems(
    typed: Mapping[str, Any],
    *,
    patient: Patient | None = None,
    encounter: Encounter | None = None,
) -> ValidationError | None:
    """What entering the order would refuse in the fields that could be read: shown beside them
    together with what the form itself refused, every problem at once (with `patient`, the
    allergy warning too; with `encounter`, the same order on the visit already)."""
    entry, errors = order_entry_typed(typed)
    found: dict[str, list[str]] = {}
    try:
        order_fields_check(entry)
    except ValidationError as exc:
        found.update(exc.message_dict)
    asked: dict[str, list[str]] = {}
    if patient is not None:
        asked = order_allergy_problems(patient, entry)
        asked = _joined(asked, order_dose_problems(entry, visit_body(encounter, entry.drug)))
    if encounter is not None:
        asked = _joined(asked, order_duplicate_problems(encounter, entry))
    found = _joined(asked, found)
    for field, messages in found.items():
        if (
            field in typed or field in {"allergy_reason", "duplicate_confirm", "dose_confirm"}
        ) and (field not in errors):
            errors[field] = messages
    return ValidationError(errors) if errors else None


# The order's fields checked as they are typed, beside them (the clerk's form: registration's
# `order_check` view), by the checks entering the order makes.
ORDER_FIELDS_CHECKED = ("drug", "indication")


def order_entry_field_problems(
    typed: Mapping[str, Any], field: str, *, patient: Patient
) -> dict[str, list[str]]:
    """What entering the order would refuse in `field` alone (one of ORDER_FIELDS_CHECKED), as
    soon as it is chosen or typed: `order_entry_problems` on the fields that could be read, so
    the same drug match (close names, a retired drug), the same allergy matcher and the same
    ICD-10-CM checks as the submit; for the drug, with the allergy reason it asks for
    ("allergy_reason"). The allergy is said whatever reason is typed already: a reason typed for
    another drug does not silence a new match."""
    problems = order_entry_problems({**typed, "allergy_reason": ""}, patient=patient)
    said = problems.message_dict if problems is not None else {}
    asked = (field, "allergy_reason") if field == "drug" else (field,)
    return {name: list(said[name]) for name in asked if name in said}


@transaction.atomic
def order_enter(
    *,
    encounter: Encounter,
    entry: OrderEntry,
    user: AbstractBaseUser | None = None,
    written_at: datetime | None = None,
) -> Order:
    """An order on an in-progress visit, waiting for a pharmacist's verification like any other.

    Typed by a nurse or clerk (written, verbal or telephone order), it records who entered it and
    on whose behalf (the ordering provider); from an interface, `user` is None. `written_at`: when
    an order brought from another system's record of a past visit was written (a drug retired
    since then does not refuse it: mar/pharmacy/retired.py).

    Idempotent per form: with an `entry.entry_key` (the entry form's), a second post of the same
    form (two presses at once; sent again after signing in) returns the order the first entered,
    under the visit's lock: one order."""
    locked = Encounter.objects.select_for_update().select_related("patient").get(pk=encounter.pk)
    if earlier := order_by_entry_key(locked, entry.entry_key):
        return earlier
    if locked.status == Encounter.Status.SIGNED:
        raise ValidationError("This visit is signed; an order is added by an addendum.")
    # A person entering it answers the allergy warning (an interface's order is warned of at the
    # pharmacist's verification and the nurse's start) and confirms an order the visit has
    # already (an interface's new placer number is a new order), said with every other problem
    # at once; the allergy's words before the duplicate's beside the drug.
    asked: dict[str, list[str]] = {}
    # The visit's weight and height, for a maximum by body size (a person's entry only).
    body = visit_body(locked, entry.drug) if user is not None else None
    if user is not None:
        asked = _joined(
            order_allergy_problems(locked.patient, entry), order_duplicate_problems(locked, entry)
        )
        asked = _joined(
            asked, order_dose_problems(entry, body)
        )  # a person confirms; an interface not
    try:
        fields = order_fields_check(entry)
    except ValidationError as exc:
        raise ValidationError(_joined(asked, exc.message_dict)) from None
    if asked:
        raise ValidationError(asked)
    # A new order, wherever it comes from (HL7, FHIR): its drug as it is now, not retired.
    drug_retired_check(Drug.objects.get(pk=fields["drug"].pk), written_at=written_at)
    if entry.entry_method != EntryMethod.ELECTRONIC:
        if user is None:
            raise _fail("entry_method", "A transcribed order records who entered it.")
        npi = fields["ordering_provider_npi"]
        on_behalf = fields["ordering_provider"] + (f" (NPI {npi})" if npi else "")
        fields["entered_on_behalf_of"] = on_behalf[:200]
    fields["entered_by"] = user
    # Confirmed by the person entering it as a second order beside the same one open on the
    # visit: the order it repeats goes with it (the latest such, as the warning named it).
    repeated = order_duplicate(locked, entry) if user is not None else None
    fields["duplicate_of"] = repeated
    if fields["placer_number"] and (earlier := order_by_placer(locked, fields["placer_number"])):
        raise _fail(
            "placer_number",
            f"Order {fields['placer_number']} is already on this visit ({earlier}, entered "
            f"{timezone.localtime(earlier.created_at):%Y-%m-%d %H:%M}).",
        )
    order = Order.objects.create(encounter=locked, entry_key=entry.entry_key.strip(), **fields)
    warning = allergy_warning(locked.patient, order.drug) if user is not None else ""
    if warning:  # entered past the allergy warning: who and why, for the pharmacist and nurse
        SafetyOverride.objects.create(
            encounter=locked,
            kind=safety.allergy_override_kind(warning),
            message=f"{safety.ENTRY_PREFIX}{warning}"[:300],
            reason=entry.allergy_reason.strip(),
            order=order,
            by=user,
        )
    if repeated is not None and user is not None:
        # Who confirmed entering a second order, when, and what they were shown: kept as the
        # allergy's override is (the overrides report, the pharmacist's queue, the chart's row).
        SafetyOverride.objects.create(
            encounter=locked,
            kind=SafetyOverride.Kind.DUPLICATE,
            message=f"{safety.ENTRY_PREFIX}{order_duplicate_words(repeated)}"[:300],
            reason=f"Confirmed: entered as a second order beside O{repeated.pk}.",
            order=order,
            by=user,
            at=order.created_at,
        )
    if user is not None:
        order_dose_confirm_record(order, entry, user, body)
    summary_invalidate(encounter_ids=[locked.pk])  # the board's and checklist's summary
    return order


def _joined(*found: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Problems by field, each field's messages in the order given."""
    joined: dict[str, list[str]] = {}
    for problems in found:
        for field, messages in problems.items():
            joined.setdefault(field, []).extend(m for m in messages if m not in joined[field])
    return joined


def order_by_entry_key(encounter: Encounter, entry_key: str) -> Order | None:
    """The visit's order entered from the form whose key is `entry_key` (order_new), if any."""
    if not entry_key.strip():
        return None
    return encounter.orders.filter(entry_key=entry_key.strip()).select_related("drug").first()


def order_by_placer(encounter: Encounter, placer_number: str) -> Order | None:
    """The visit's order the ordering system numbered `placer_number` (HL7 ORC-2), if any."""
    if not placer_number.strip():
        return None
    return encounter.orders.filter(placer_number=placer_number.strip()).first()


def order_same_as(order: Order, entry: OrderEntry) -> bool:
    """The order already entered is the one `entry` describes (a resend, not a change)."""
    fields = order_fields_check(entry)
    return all(
        getattr(order, name) == fields[name]
        for name in ("drug", "dose_value", "dose_unit", "dose_basis", "route", "rate_value")
    )


# What a change order (HL7 ORC-1 XO) may change, as the order's row names it: the order's fields
# that say it, and how each reads.
_CHANGE_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dose", ("dose_value", "dose_unit", "dose_basis")),
    ("route", ("route",)),
    ("rate", ("rate_value", "rate_unit")),
    ("duration", ("duration_minutes",)),
    ("indication", ("indication_code", "indication")),
    ("ordering provider", ("ordering_provider", "ordering_provider_npi")),
)


def _change_words(name: str, fields: Mapping[str, Any]) -> str:
    """One changeable part of an order as the chart reads it ('8 mg', 'IV', '4 mL/h', '30 min')."""
    if name == "dose":
        if fields["dose_value"] is None:
            return "(no dose)"
        return dose_text(fields["dose_value"], fields["dose_unit"], fields["dose_basis"])
    if name == "route":
        return str(Route(fields["route"]).label)
    if name == "rate":
        value = fields["rate_value"]
        return f"{value.normalize():f} {fields['rate_unit']}" if value is not None else "(none)"
    if name == "duration":
        minutes = fields["duration_minutes"]
        return f"{minutes} min" if minutes is not None else "(none)"
    if name == "indication":
        return fields["indication"] or "(none)"
    npi = fields["ordering_provider_npi"]
    return fields["ordering_provider"] + (f" (NPI {npi})" if npi else "")


@dataclass(frozen=True)
class OrderChange:
    """What a change order did: `changed` False for a resend of the order as it stands."""

    order: Order
    changed: bool
    note: str = ""


@transaction.atomic
def order_change(
    *, encounter: Encounter, entry: OrderEntry, now: datetime | None = None
) -> OrderChange:
    """The ordering system changed the order it numbered `entry.placer_number` (HL7 ORC-1 XO):
    its dose, route, rate, duration, indication or prescriber take the values of `entry`, checked
    as an order entered is (`order_fields_check`).

    Taken only while nothing was given of it: it then goes back to the pharmacist's queue
    (verification cleared: a high-alert order needs verifying again before it starts; a return
    to the prescriber cleared too: the change is the prescriber's answer), its row
    says what changed, and its `revision` goes up, so that a start from a chart drawn before
    the change is refused (mar/services/safety.py). Refused, naming the field: no such order; a
    different drug (a new order: the ordering system discontinues this one and sends it new);
    an order documented not given or withdrawn; a signed visit; an order already given (what
    was given stands: the ordering system discontinues it and sends a new order). The order as
    it stands sent again is a resend: nothing changes (`changed` False)."""
    now = now or timezone.now()
    placer = entry.placer_number.strip()
    locked = Encounter.objects.select_for_update().get(pk=encounter.pk)  # as a start locks it
    order = order_by_placer(locked, placer)
    if order is None:
        raise _fail("placer_number", f"No order {placer or '(none)'} on this visit to change.")
    fields = order_fields_check(entry)
    if fields["drug"] != order.drug:
        raise _fail(
            "drug",
            f"Order {placer} is {order.drug.name}; a change order cannot make it "
            f"{fields['drug'].name}: discontinue it and send the new drug as a new order.",
        )
    stored = {f: getattr(order, f) for _, names in _CHANGE_FIELDS for f in names}
    changes = [
        (part, _change_words(part, stored), _change_words(part, fields))
        for part, names in _CHANGE_FIELDS
        if any(stored[f] != fields[f] for f in names)
    ]
    if not changes:
        return OrderChange(order, changed=False)  # sent again: the order already says it
    if order.disposition:
        raise _fail(
            "placer_number",
            f"Order {placer} ({order}) is documented {order.get_disposition_display().lower()}"
            f"{': ' + order.disposition_reason if order.disposition_reason else ''}; "
            "it is not changed: send a new order.",
        )
    if locked.status == Encounter.Status.SIGNED:
        raise ValidationError("This visit is signed; its orders change by addendum only.")
    given = order.administrations.order_by("start").first()
    if given is not None:
        raise _fail(
            "placer_number",
            f"Order {placer} ({order}) was already given (A{given.pk}, "
            f"{given.get_method_display().lower()} started "
            f"{timezone.localtime(given.start, locked.zone):%Y-%m-%d %H:%M}): ORC-1 XO does "
            "not change it. Discontinue it (ORC-1 DC) and send the change as a new order (NW).",
        )
    note = "; ".join(f"{part} {was} → {becomes}" for part, was, becomes in changes)[:500]
    dose_changed = any(part == "dose" for part, _, _ in changes)
    update = {f: fields[f] for f in stored}
    update["dose"] = fields["dose"]
    if dose_changed:  # worked out from the dose as it was: no longer the prescriber's amount
        update["prescribed_amount"] = None
    update |= {
        "verified_by": None,
        "verified_at": None,
        # Returned by pharmacy: the prescriber answered; back in the queue to verify.
        "returned_by": None,
        "returned_at": None,
        "return_reason": "",
        "revision": order.revision + 1,
        "changed_at": now,
        "change_note": note,
    }
    for name, value in update.items():
        setattr(order, name, value)
    with history_context(action="order_change", source="HL7 ORC-1 XO", changed=note):
        order.save(update_fields=[*update, "updated_at"])
    summary_invalidate(encounter_ids=[locked.pk])  # the board's and checklist's summary
    return OrderChange(order, changed=True, note=note)


WITHDRAWN = {"CA": "cancelled", "DC": "discontinued"}  # HL7 ORC-1 order control codes


@transaction.atomic
def order_withdraw(*, encounter: Encounter, placer_number: str, control: str) -> Order:
    """The ordering system cancelled (CA) or discontinued (DC) the order it numbered
    `placer_number`: not given yet, it is documented not given, saying so (DOC-6 asks no more);
    already given, a cancel is refused (what was given stands: the nurse or the pharmacist
    documents what happened) and a discontinue changes nothing (what was given is charged)."""
    words = WITHDRAWN[control]
    locked = Encounter.objects.select_for_update().get(pk=encounter.pk)
    order = order_by_placer(locked, placer_number)
    if order is None:
        raise _fail("placer_number", f"No order {placer_number or '(none)'} on this visit.")
    given = order.administrations.order_by("start").first()
    if given is not None:
        if control == "DC":
            return order
        raise _fail(
            "placer_number",
            f"Order {placer_number} ({order}) was already given (A{given.pk} at "
            f"{timezone.localtime(given.start):%H:%M}): it cannot be cancelled.",
        )
    if locked.status == Encounter.Status.SIGNED:
        raise ValidationError("This visit is signed; a change to it is an addendum.")
    try:  # documented as the nurse documents an order not given (who: the ordering system)
        return order_disposition_set(
            order=order,
            disposition=Order.Disposition.NOT_GIVEN,
            reason=f"{words} by the ordering system (HL7 ORC-1 {control})",
            user=None,
        )
    except ChartError as exc:
        raise ValidationError([m for ms in exc.errors.values() for m in ms]) from None


@transaction.atomic
def administration_import(
    *,
    order: Order,
    start: datetime,
    stop: datetime | None,
    method: str,
    route: str,
    dose_value: Decimal | None = None,
    dose_unit: str = "",
    site_text: str = "",
) -> Administration:
    """An administration charted in another EHR (FHIR import), as it was charted: nothing is
    refused for a documentation gap, which the checklist then reports. A site named in words
    becomes the encounter's access site of that name (one per distinct name)."""
    encounter = order.encounter
    if method not in Administration.Method.values:
        raise _fail("method", f"Unknown method {method!r}.")
    if route not in Route.values:
        raise _fail("route", f"Unknown route {route!r}.")
    if stop is not None and stop < start:
        raise _fail("stop", "The administration ends before it starts.")
    if dose_value is not None and dose_value <= 0:
        raise _fail("dose_value", "The dose is a number above zero.")
    problems = text_problems(Administration, {"dose_unit": dose_unit})
    problems |= text_problems(AccessSite, {"location": site_text.strip()})
    if problems:
        raise ValidationError(problems)
    site = None
    if site_text.strip():
        folded = site_text.lower()
        kind = next((k for word, k in SITE_WORDS if word in folded), AccessSite.Kind.PERIPHERAL_IV)
        site = encounter.sites.filter(location=site_text.strip()[:100]).first()
        if site is None:
            site = AccessSite.objects.create(
                encounter=encounter, kind=kind, location=site_text.strip()[:100], placed_at=start
            )
        elif site.placed_at and start < site.placed_at:
            site.placed_at = start
            site.save(update_fields=["placed_at"])
    summary_invalidate(encounter_ids=[encounter.pk])
    return Administration.objects.create(
        encounter=encounter,
        order=order,
        drug=order.drug,
        site=site,
        route=route,
        method=method,
        start=start,
        stop=stop,
        purpose=order.purpose if order.purpose == Order.Purpose.HYDRATION else "",
        dose_value=dose_value,
        dose_unit=dose_unit,
        charted_at=timezone.now(),
    )


SITE_WORDS = (
    ("picc", AccessSite.Kind.PICC),
    ("port", AccessSite.Kind.PORT),
    ("central", AccessSite.Kind.CENTRAL_LINE),
    ("midline", AccessSite.Kind.MIDLINE),
    ("subcut", AccessSite.Kind.SUBCUTANEOUS),
    ("intramuscular", AccessSite.Kind.INTRAMUSCULAR),
    ("arter", AccessSite.Kind.INTRA_ARTERIAL),
)


@transaction.atomic
def encounter_import_close(*, encounter: Encounter, source: str, now: datetime) -> Encounter:
    """An imported record, complete as the other EHR signed it: marked imported (read-only
    here) and signed, and its charges owed through the port, so it gets its checklist findings
    and charges and goes to the coders' worklist like any other."""
    locked = Encounter.objects.select_for_update().get(pk=encounter.pk)
    locked.imported_from = source[:100]
    locked.status = Encounter.Status.SIGNED
    locked.signed_at = now
    locked.save(update_fields=["imported_from", "status", "signed_at"])
    charges_port().charges_owed(encounter_id=locked.pk, trigger="sign")
    return locked
