"""What each line carries to a claim beside its code and units (issue 14, claim-ready lines).

`claim_details(encounter, lines)` gives, per line as it will be sent, a plain JSON dict:
- from the charge master (coding/chargemaster.py): `revenue_code`, `description`,
  `unit_price` and `amount` (units x price), as strings of dollars and cents; absent when the
  code is not priced;
- on a drug line (its code is the HCPCS of the drug of an administration it covers): `ndc`
  (11 digits), `ndc_unit` (the 837I N4 unit: UN, ML, GR, ME, F2) and `ndc_quantity` (the
  amount of the package given in its NDC unit: units x the formulary's NDC units per billing
  unit, or units / its billing units per NDC unit, whichever the pharmacist stated, computed
  exactly and rounded half-up to 3 decimals once, at the end: `ndc_quantity`). The NDC is
  the one scanned at the bedside when the formulary lists it for the drug, else the one the
  administration's lines were billed with while the formulary still lists it, else the drug's
  preferred active NDC, else its first active one (`ndc_choice`). A drug line covers the
  administrations of one HCPCS code, date of service, modifier and scanned NDC
  (coding/drug_lines.py), so a line of several administrations carries the NDC they share,
  its quantity for the line's total units.
  **A run's lines read the formulary as it stood when the run was made**: the drug's name,
  HCPCS code and billing unit and the NDC chosen, with its N4 unit and NDC units per billing
  unit, are stored with the run under the encounter's lock (`formulary_snapshot`,
  `ChargeRun.formulary_snapshot`, coding/services.py). A pharmacist's change after (another
  HCPCS code, a package listed, retired or preferred, an NDC edited) never strips or changes
  the NDC of a run's lines: the run is made again when not yet exported, flagged when it was
  (coding/formulary_changes.py), and only a new run reads the formulary as it is then. A run
  stored before runs kept these (None) reads today's formulary (`ndc_for`). A coder's correction
  keeps them while the line's code is the drug's (the quantity for the corrected units), and
  when she changed it to an unclassified drug code (`UNCLASSIFIED_DRUG_CODES`: J3490, J9999...,
  the drug named by its NDC; the quantity then of the drug line's units as generated, the
  drug given). A drug line changed to any other code goes without an NDC, and says so
  (`ndc_missing`: on the review page's line and as a CLAIM-NDC finding);
- `diagnoses`: the ICD-10-CM codes of the orders of the administrations it covers (the order's
  `indication_code`, else its indication when that is a code), in the validated form (C50.911);
  a line covering no administration takes every coded indication of the encounter;
- `ordered_by` {name, npi}: the ordering provider of those orders (the NPI only when its check
  digit is right, mar/validators.py); `performed_by` {name, id}: the nurse who charted the
  administration (else the encounter's nurse).

The dict is the line's `detail` in the ledger (coding/ledger.py): a change to any of it (a new
price, another NDC) is a change the billing system hears about as a credit and a new charge;
so a re-export of a run, or the credit of one of its lines, carries the NDC its export did.
The exports (CSV, HL7, FHIR) and the review page render it from here, so they agree.

`claim_findings` says what a claim will miss (never blocking: the coder sees it on the review
page): CLAIM-DX an indication that is not an ICD-10-CM code, or not a billable code of the list
loaded (a category such as C50.9, or a code the list lacks: mar/registration/icd10.py),
CLAIM-NDC a drug line with no NDC in the formulary or a drug line a coder changed to a code that
is not its drug's, CLAIM-NPI an order with no ordering provider or an NPI whose check digit is
wrong, CLAIM-HCPCS a drug (not a hydration fluid) charged for its administration whose own drug
line was not made because the formulary gives it no HCPCS code or billing unit (the drug lines
skip such a drug: coding/drug_lines.py), unless a pharmacist decided it has no drug line on
purpose (packaged, or supplied free or by the patient: `Drug.no_drug_line`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Protocol, TypeVar

from coding import review_reads
from coding.chargemaster import ChargeMaster, charge_master_for, line_amount
from coding.engine import Finding
from coding.models import ChargeRun, LedgerEntry
from mar.models import Administration, DrugClass, DrugNdc, Encounter, Order
from mar.record import administration_record_id
from mar.registration.icd10 import CODE_RE as ICD10_RE
from mar.registration.icd10 import icd10_billable_problem, normalise_code
from mar.validators import npi_normalise


class LineLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def units(self) -> int: ...
    @property
    def date(self) -> date: ...
    @property
    def administrations(self) -> tuple[str, ...]: ...
    @property
    def original(self) -> dict[str, Any] | None: ...  # the generated line a coder corrected


# HCPCS Level II's "not otherwise classified" drug codes: a drug with no code of its own, or
# one the payer wants billed so, is claimed under them and named by its NDC. A coder's
# correction of a drug line to one of them is still the line of the same drug.
UNCLASSIFIED_DRUG_CODES = frozenset(
    {
        "J3490",  # unclassified drugs
        "J3590",  # unclassified biologics
        "J7599",  # immunosuppressive drug, not otherwise classified
        "J7699",  # NOC drugs, inhalation solution administered through DME
        "J7799",  # NOC drugs, other than inhalation drugs, administered through DME
        "J7999",  # compounded drug, not otherwise classified
        "J8499",  # prescription drug, oral, non chemotherapeutic, NOS
        "J8597",  # antiemetic drug, oral, not otherwise specified
        "J8999",  # prescription drug, oral, chemotherapeutic, NOS
        "J9999",  # not otherwise classified, antineoplastic drugs
        "C9399",  # unclassified drugs or biologicals (hospital outpatient)
    }
)


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


# How an NDC quantity is rounded to the 3 decimals the 837I takes. Exports before 2026-12-07
# rounded half-even (Python's default: 0.3125 went as 0.312); they round half-up now (0.313).
# Each ledger entry keeps the rule it was sent under (`LedgerEntry.ndc_rounding`), so a line
# whose exact quantity did not change is not re-sent for the rule alone (coding/ledger.py).
HALF_EVEN = "half-even"
HALF_UP = "half-up"
NDC_ROUNDINGS = {HALF_EVEN: ROUND_HALF_EVEN, HALF_UP: ROUND_HALF_UP}
NDC_ROUNDING = HALF_UP  # the rule an export sends new charges under


def quantity_text(value: Decimal) -> str:
    """An NDC quantity as the 837I takes it: up to 3 decimals (rounded half-up), no trailing
    zeros, a whole number without a decimal point."""
    text = f"{value.quantize(Decimal('0.001'), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rounded_quantity(exact: Fraction, rounding: str | None = None) -> Decimal:
    """An exact NDC quantity rounded to 3 decimals once, under `rounding` (`NDC_ROUNDINGS`;
    None: `NDC_ROUNDING`, the rule exports use now)."""
    rule = NDC_ROUNDINGS[rounding or NDC_ROUNDING]
    scaled = exact * 1000
    whole, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest > scaled.denominator or (
        2 * rest == scaled.denominator and (rule == ROUND_HALF_UP or whole % 2)
    ):
        whole += 1
    return Decimal(whole).scaleb(-3)


def ndc_quantity(
    units: int, ndc_units_per_billing_unit: Fraction, rounding: str | None = None
) -> Decimal:
    """The NDC quantity of `units` billing units: the amount of the package given, in its NDC
    unit, computed exactly (a Fraction: 300 x 1/6 is 50, never 300 x 0.1667 = 50.01) and
    rounded half-up to 3 decimals once, at the end (the 837I CTP04 / UB-04 convention: at most
    3 decimals; `rounding`: another rule, `rounded_quantity`)."""
    return rounded_quantity(ndc_units_per_billing_unit * units, rounding)


def price_detail(line: LineLike, master: ChargeMaster) -> dict[str, Any]:
    price = master.get(line.code, line.date)  # the price in effect on the date of service
    if price is None:
        return {}
    return {
        "revenue_code": price.revenue_code,
        "description": price.description,
        "unit_price": money(price.unit_price),
        "amount": money(line_amount(price, line.units)),
    }


def order_diagnosis(order: Order) -> str | None:
    """The order's ICD-10-CM code in the validated form, or None when it names none."""
    for text in (order.indication_code, order.indication):
        if text and text.strip():
            code = normalise_code(text)
            if ICD10_RE.match(code):
                return code
    return None


def order_npi(order: Order) -> str | None:
    try:
        return npi_normalise(order.ordering_provider_npi or "")
    except ValueError:
        return None


def person_name(user: Any) -> str:
    return (user.get_full_name() or user.get_username()).strip()


@dataclass(frozen=True)
class DrugFacts:
    """An administration's drug as a run's claim reads it: from the run's formulary snapshot
    (`formulary_snapshot`), with the NDC its drug lines carry; or from today's formulary (a run
    stored before runs kept it: the NDC then chosen per line, `ndc_for`)."""

    name: str
    hcpcs: str
    billed_in_units: bool  # a HCPCS code and a billing unit: the drug lines bill it
    ndc: str = ""  # the NDC its drug lines carry ("": none)
    ndc_unit: str = ""
    # NDC units in one billing unit of the HCPCS, exactly (the formulary's NDC units per billing
    # unit, or 1 / its billing units per NDC unit).
    per_unit: Fraction = Fraction(1)


@dataclass
class RecordFacts:
    """The rows the details read, fetched once for all the lines of an encounter."""

    encounter: Encounter
    administrations: dict[str, Administration] = field(default_factory=dict)
    # The run's own formulary facts by administration record id (`ChargeRun.formulary_snapshot`);
    # None: a run stored before runs kept them, or lines of no run: today's formulary is read.
    drugs: dict[str, DrugFacts] | None = None
    # Today's formulary, read only when `drugs` is None:
    ndcs: dict[int, list[DrugNdc]] = field(default_factory=dict)
    # The NDC each standing charge was billed with, by (code, administration record id).
    billed_ndcs: dict[tuple[str, str], str] = field(default_factory=dict)


def record_facts(
    encounter: Encounter,
    *,
    run: ChargeRun | None,
    billed: Iterable[LedgerEntry] | None = None,
    administrations: Iterable[Administration] | None = None,
) -> RecordFacts:
    """`run`: the run the lines are of; its formulary snapshot is what they read (None, or a run
    stored before runs kept one: today's formulary and, for the NDC a billed line keeps, the
    standing charges). `billed`: the encounter's standing charges when the caller has read them
    (else read, when needed); `administrations`: the encounter's, with their drug, order's drug
    and who charted each, when the caller has read them (the review page:
    coding/review_reads.py `administrations`)."""
    facts = RecordFacts(encounter)
    # Prepared reads (coding/review_reads.py): the SQL compiled once.
    if administrations is None:
        administrations = review_reads.facts_administrations(encounter.pk, encounter=encounter)
    for adm in administrations:
        facts.administrations[administration_record_id(adm.pk)] = adm
    snapshot = run.formulary_snapshot if run is not None else None
    if snapshot is not None:
        facts.drugs = {record_id: drug_facts(entry) for record_id, entry in snapshot.items()}
        return facts  # what its lines carry is the run's: no NDC, no charge to read
    if billed is None:
        billed = review_reads.standing_charges(encounter.pk, encounter=encounter)
    for entry in sorted(billed, key=lambda e: e.pk):  # the latest charge last: it wins
        ndc = (entry.detail or {}).get("ndc")
        if ndc:
            for record_id in entry.administrations:
                facts.billed_ndcs[(entry.code, record_id)] = ndc
    drug_ids = sorted({adm.drug_id for adm in facts.administrations.values()})
    for ndc in review_reads.ndcs(drug_ids) if drug_ids else []:
        facts.ndcs.setdefault(ndc.drug_id, []).append(ndc)
    return facts


# The keys of a formulary snapshot's entry saying the NDC its drug lines carry: its N4 unit
# and its relation to the billing unit as the pharmacist stated it, `ndc_per_unit` (NDC units
# per billing unit) or `ndc_billing_units_per_unit` (billing units per NDC unit), never both.
NDC_KEYS = ("ndc", "ndc_unit", "ndc_per_unit", "ndc_billing_units_per_unit")


def ndc_entry(ndc: DrugNdc | None) -> dict[str, str]:
    """The NDC a drug line carries as a formulary snapshot keeps it ({}: none). A package whose
    relation is stated as NDC units per billing unit (or not at all: 1) is kept as before,
    `ndc_per_unit`, so a run made before the other key existed reads the same and is no
    formulary change; one stated as billing units per NDC unit has `ndc_billing_units_per_unit`
    instead (`drug_facts` reads either)."""
    if ndc is None:
        return {}
    entry = {"ndc": ndc.ndc, "ndc_unit": ndc.unit}
    if ndc.billing_units_per_ndc_unit is not None:
        entry["ndc_billing_units_per_unit"] = f"{ndc.billing_units_per_ndc_unit.normalize():f}"
    else:
        per_unit = ndc.units_per_billing_unit or Decimal(1)
        entry["ndc_per_unit"] = f"{per_unit.normalize():f}"
    return entry


def snapshot_per_unit(entry: Mapping[str, str]) -> Fraction:
    """NDC units in one billing unit, exactly, of a formulary snapshot's entry (`ndc_entry`):
    1 / `ndc_billing_units_per_unit` when kept, else `ndc_per_unit` (a run stored before the
    first key existed has only this one), else 1."""
    inverse = entry.get("ndc_billing_units_per_unit")
    if inverse:
        return 1 / Fraction(Decimal(inverse))
    return Fraction(Decimal(entry.get("ndc_per_unit") or 1))


def billed_by_administration(entries: Iterable[LedgerEntry]) -> dict[str, str]:
    """The NDC each administration's drug lines were billed with, by record id, from standing
    charges (the latest charge with one wins)."""
    billed: dict[str, str] = {}
    for entry in sorted(entries, key=lambda e: e.pk):
        ndc = (entry.detail or {}).get("ndc")
        if ndc:
            for record_id in entry.administrations:
                billed[record_id] = ndc
    return billed


def formulary_snapshot(
    *,
    encounter_id: int,
    administrations: Iterable[Administration],
    ndcs: Mapping[int, Sequence[DrugNdc]],
    billed: Mapping[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """What a run made now reads of the formulary, per administration (record id): its drug's
    name, HCPCS code and billing unit, and for a drug with a HCPCS code the NDC its drug lines
    carry (`ndc_choice`; the NDC a line was billed with is the one the administration's standing
    charges carry) with its N4 unit and NDC units per billing unit. Stored with the run under
    the encounter's lock (coding/services.py), its lines carry these whatever the formulary
    says later. `administrations`: the encounter's, with their drug; `ndcs`: their drugs' NDCs,
    preferred first (`review_reads.ndcs`). The standing charges are read only when a drug of the
    record has a HCPCS code; `billed`: the NDC each administration was billed with
    (`billed_by_administration`), when read already."""
    administrations = list(administrations)
    if billed is None:
        billed = {}
        if any(adm.drug.hcpcs_code for adm in administrations):
            billed = billed_by_administration(review_reads.standing_charges(encounter_id))
    snapshot: dict[str, dict[str, str]] = {}
    for adm in sorted(administrations, key=lambda a: a.pk):
        record_id = administration_record_id(adm.pk)
        drug = adm.drug
        entry = {
            "drug": drug.name,
            "hcpcs": drug.hcpcs_code,
            "billing_unit": drug.billing_unit_label,
        }
        if drug.hcpcs_code:
            scanned = adm.ndc if isinstance(adm.ndc, str) else ""
            stocked = ndcs.get(adm.drug_id, [])
            entry.update(ndc_entry(ndc_choice(scanned, stocked, billed.get(record_id))))
        snapshot[record_id] = entry
    return snapshot


def drug_facts(entry: Mapping[str, str]) -> DrugFacts:
    """An administration's entry of a run's formulary snapshot, read back."""
    hcpcs = entry.get("hcpcs", "")
    return DrugFacts(
        name=entry.get("drug", ""),
        hcpcs=hcpcs,
        billed_in_units=bool(hcpcs and entry.get("billing_unit")),
        ndc=entry.get("ndc", ""),
        ndc_unit=entry.get("ndc_unit", ""),
        per_unit=snapshot_per_unit(entry),
    )


def _covered(line: LineLike, facts: RecordFacts) -> list[Administration]:
    return [facts.administrations[a] for a in line.administrations if a in facts.administrations]


def _drug(adm: Administration, facts: RecordFacts) -> DrugFacts:
    """The administration's drug as the run's claim reads it (the run's snapshot, else today's
    formulary)."""
    if facts.drugs is not None:
        kept = facts.drugs.get(administration_record_id(adm.pk))
        if kept is not None:
            return kept
    drug = adm.drug
    return DrugFacts(drug.name, drug.hcpcs_code, bool(drug.hcpcs_code and drug.billing_unit_amount))


def _line_ndc(adm: Administration, facts: RecordFacts, code: str) -> DrugFacts | None:
    """The NDC (with its N4 unit and NDC units per billing unit) a drug line of `code` covering
    this administration carries: the run's, when it kept them; else today's (`ndc_for`)."""
    if facts.drugs is not None:
        kept = facts.drugs.get(administration_record_id(adm.pk))
        return kept if kept is not None and kept.ndc else None
    ndc = ndc_for(adm, facts, code)
    if ndc is None:
        return None
    drug = _drug(adm, facts)
    return DrugFacts(
        drug.name,
        drug.hcpcs,
        drug.billed_in_units,
        ndc.ndc,
        ndc.unit,
        ndc.ndc_units_per_billing_unit_exact,
    )


def ndc_for(adm: Administration, facts: RecordFacts, code: str = "") -> DrugNdc | None:
    """The NDC a drug line of `code` covering this administration carries by today's formulary
    (a run stored before runs kept their formulary facts): `ndc_choice`, the NDC billed being
    the one a standing charge of `code` covering the administration was billed with."""
    billed = facts.billed_ndcs.get((code, administration_record_id(adm.pk)))
    return ndc_choice(adm.ndc, facts.ndcs.get(adm.drug_id, []), billed)


class _Stocked(Protocol):
    @property
    def ndc(self) -> str: ...
    @property
    def active(self) -> bool: ...


Stocked = TypeVar("Stocked", bound=_Stocked)


def ndc_choice(scanned: str, stocked: Sequence[Stocked], billed: str | None) -> Stocked | None:
    """The NDC a drug line carries for a dose: the one scanned at the bedside (the record) when
    the formulary lists it for the drug; else, for a line already billed, the NDC it was billed
    with while the formulary still lists it for the drug (active or retired, preferred or not:
    reference data changing does not re-send a billed line); else the drug's preferred active
    NDC, else its first active one. `stocked`: the drug's NDCs, preferred first."""
    found = next((n for n in stocked if scanned and n.ndc == scanned), None)
    if found is None and billed:
        found = next((n for n in stocked if n.ndc == billed), None)
    return found if found is not None else preferred_ndc(stocked)


def preferred_ndc(stocked: Sequence[Stocked]) -> Stocked | None:
    """The NDC a claim carries for a dose of the drug not scanned (nor billed before): its
    preferred active one, else its first active one. `stocked`: the drug's NDCs as
    `review_reads.ndcs` reads them, preferred first (coding/drug_lines.py groups the doses not
    scanned by it)."""
    return next((n for n in stocked if n.active), None)


def _drug_line(line: LineLike, facts: RecordFacts) -> tuple[Administration, int] | None:
    """The administration whose drug a line bills (a scanned dose first: a line holds the doses
    not scanned with those scanned with the drug's preferred NDC, coding/drug_lines.py, and the
    scan is what the bedside saw), and the units in the drug's billing unit its NDC quantity is
    of. A line bills a covered administration's drug when its code is the drug's HCPCS code
    in the formulary as the run read it (`_drug`): the line's units, as corrected. A drug line
    a coder corrected to an unclassified drug code (`UNCLASSIFIED_DRUG_CODES`) still bills its
    drug: the units of the drug line as generated, the drug given (the unclassified code's
    units are not the drug's billing units). None: the line bills no drug of the record."""
    covered = sorted(_covered(line, facts), key=lambda adm: not adm.ndc)
    for adm in covered:
        hcpcs = _drug(adm, facts).hcpcs
        if hcpcs and hcpcs == line.code:
            return adm, line.units
    was = _corrected_from(line)
    if was is not None and line.code in UNCLASSIFIED_DRUG_CODES:
        for adm in covered:
            hcpcs = _drug(adm, facts).hcpcs
            if hcpcs and hcpcs == was.get("code"):
                return adm, int(was.get("units") or 0)
    return None


def _corrected_from(line: LineLike) -> dict[str, Any] | None:
    """The generated line a coder changed to another code (None: not corrected, or the code
    kept)."""
    was = line.original
    return was if was and was.get("code") and was.get("code") != line.code else None


def _line_package(line: LineLike, facts: RecordFacts) -> tuple[DrugFacts, int] | None:
    """The NDC a drug line carries and the billing units its quantity is of (None: none)."""
    billed = _drug_line(line, facts)
    if billed is None:
        return None
    adm, units = billed
    ndc = _line_ndc(adm, facts, line.code)
    return None if ndc is None else (ndc, units)


def ndc_detail(line: LineLike, facts: RecordFacts) -> dict[str, Any]:
    package = _line_package(line, facts)
    if package is None:
        return {}
    ndc, units = package
    return {
        "ndc": ndc.ndc,
        "ndc_unit": ndc.ndc_unit,
        "ndc_quantity": quantity_text(ndc_quantity(units, ndc.per_unit)),
    }


def ndc_exact(line: LineLike, facts: RecordFacts) -> Fraction | None:
    """The exact NDC quantity a line's `ndc_quantity` is rounded from (None: no NDC): the
    ledger compares it with a charge sent under another rounding rule (coding/ledger.py)."""
    package = _line_package(line, facts)
    if package is None:
        return None
    ndc, units = package
    return ndc.per_unit * units


def ndc_missing(line: LineLike, facts: RecordFacts) -> str | None:
    """Why a line that bills, or billed before the coder changed its code, a drug of the record
    goes without an NDC (the review page shows it on the line, and it is a CLAIM-NDC finding);
    None when it carries one, or never was a drug's line."""
    if _drug_line(line, facts) is not None:
        if ndc_detail(line, facts):
            return None
        return (
            f"{line.code}: the formulary lists no active NDC for this drug; the drug line goes "
            "without one"
        )
    was = _corrected_from(line)
    if was is None:
        return None
    drug = next(
        (
            d
            for d in (_drug(adm, facts) for adm in _covered(line, facts))
            if d.hcpcs and d.hcpcs == was.get("code")
        ),
        None,
    )
    if drug is None:
        return None
    return (
        f"{line.code}, corrected from {drug.hcpcs}: not {drug.name}'s code in the formulary "
        f"nor an unclassified drug code, so the line goes without the NDC of the {drug.name} "
        "given"
    )


def people_detail(line: LineLike, facts: RecordFacts) -> dict[str, Any]:
    covered = _covered(line, facts)
    orders = [adm.order for adm in covered if adm.order is not None]
    if not covered:
        orders = [adm.order for adm in facts.administrations.values() if adm.order is not None]
    out: dict[str, Any] = {}
    diagnoses: list[str] = []
    for order in orders:
        code = order_diagnosis(order)
        if code and code not in diagnoses:
            diagnoses.append(code)
    if diagnoses:
        out["diagnoses"] = diagnoses
    prescriber = next((o for o in orders if o.ordering_provider.strip()), None)
    if prescriber is not None:
        out["ordered_by"] = {
            "name": prescriber.ordering_provider.strip(),
            "npi": order_npi(prescriber) or "",
        }
    nurse = next((adm.created_by for adm in covered if adm.created_by is not None), None)
    nurse = nurse or facts.encounter.nurse or facts.encounter.signed_by
    if nurse is not None:
        out["performed_by"] = {"name": person_name(nurse), "id": nurse.get_username()}
    return out


def claim_details(
    encounter: Encounter,
    lines: Sequence[LineLike],
    *,
    run: ChargeRun | None,
    master: ChargeMaster | None = None,
    facts: RecordFacts | None = None,
) -> list[dict[str, Any]]:
    """One detail dict per line, in order (a few queries for all of them). `run`: the run the
    lines are of (its formulary facts: `record_facts`); `facts`, when given, were read for it."""
    if master is None:
        master = charge_master_for(line.code for line in lines)
    if facts is None:
        facts = record_facts(encounter, run=run)
    return [
        {**price_detail(line, master), **ndc_detail(line, facts), **people_detail(line, facts)}
        for line in lines
    ]


def claim_findings(
    encounter: Encounter,
    lines: Sequence[LineLike],
    *,
    run: ChargeRun | None,
    facts: RecordFacts | None = None,
) -> list[Finding]:
    """What the claim will lack (not blocking): CLAIM-DX, CLAIM-NDC, CLAIM-NPI, CLAIM-HCPCS.
    `run` and `facts` as `claim_details`'s."""
    if facts is None:
        facts = record_facts(encounter, run=run)
    found: list[Finding] = []
    covered_ids = {a for line in lines for a in line.administrations}
    orders: dict[int, tuple[Order, list[str]]] = {}
    for record_id, adm in sorted(facts.administrations.items(), key=lambda kv: kv[1].pk):
        if adm.order is not None and record_id in covered_ids:
            orders.setdefault(adm.order.pk, (adm.order, []))[1].append(record_id)
    for order, adms in orders.values():
        what = f"the order for {order.drug.name}"
        diagnosis = order_diagnosis(order)
        problem = icd10_billable_problem(diagnosis) if diagnosis is not None else None
        if problem is not None:
            # A category (C50.9) or a code the list loaded does not have, whoever entered it
            # (an interface keeps it; an order saved before the check): it goes on the claim.
            found.append(
                Finding(
                    "CLAIM-DX",
                    "warning",
                    f"{what}: {problem.finding}",
                    tuple(adms),
                    "order.indication",
                )
            )
        elif diagnosis is None:
            said = (order.indication_code or order.indication or "").strip()
            found.append(
                Finding(
                    "CLAIM-DX",
                    "warning",
                    f"{what}: indication {said!r} is not an ICD-10-CM code; its lines go "
                    "with no diagnosis"
                    if said
                    else f"{what} has no indication: its lines go with no diagnosis",
                    tuple(adms),
                    "order.indication",
                )
            )
        if not order.ordering_provider.strip():
            found.append(
                Finding(
                    "CLAIM-NPI",
                    "warning",
                    f"{what} names no ordering provider",
                    tuple(adms),
                    "order.ordering_provider",
                )
            )
        elif order_npi(order) is None:
            npi = order.ordering_provider_npi or ""
            found.append(
                Finding(
                    "CLAIM-NPI",
                    "warning",
                    f"{what}: {order.ordering_provider} has "
                    + (f"NPI {npi!r}, not a valid NPI" if npi else "no NPI")
                    + "; sent without one",
                    tuple(adms),
                    "order.ordering_provider_npi",
                )
            )
    found.extend(_drugs_without_a_code(facts, covered_ids))
    for line in lines:
        missing = ndc_missing(line, facts)
        if missing is not None:
            found.append(Finding("CLAIM-NDC", "warning", missing, tuple(line.administrations)))
    return found


def _drugs_without_a_code(facts: RecordFacts, covered_ids: set[str]) -> list[Finding]:
    """CLAIM-HCPCS, one per drug: its administration is charged (a line covers it) but the drug
    itself is not, for want of a HCPCS code and billing unit in the formulary. Hydration fluids
    are left out (most are not billed in units here); an untagged drug is DOC-4's; a drug a
    pharmacist decided has no drug line (`Drug.no_drug_line`) is left out while so."""
    by_drug: dict[int, tuple[str, list[str]]] = {}
    for record_id, adm in sorted(facts.administrations.items(), key=lambda kv: kv[1].pk):
        drug = _drug(adm, facts)  # the formulary as the run read it
        if record_id not in covered_ids or drug.billed_in_units:
            continue
        # The class it was coded with: the pharmacist's on its order, else the drug's.
        coded_as = (adm.order.drug_class if adm.order is not None else None) or adm.drug.drug_class
        if coded_as in (None, "", DrugClass.HYDRATION):
            continue
        # A pharmacist decided it has no drug line (packaged, or supplied free or by the
        # patient): read from the formulary as it is now, as the worklist's badge reads it (the
        # decision changes no line, so no new run is made for it).
        if adm.drug.no_drug_line:
            continue
        by_drug.setdefault(adm.drug_id, (drug.name, []))[1].append(record_id)
    return [
        Finding(
            "CLAIM-HCPCS",
            "warning",
            f"{name}: the formulary gives it no HCPCS code and billing unit, so no drug line was "
            "made: its administration is charged, the drug itself is not (a pharmacist adds the "
            "code, then a new run makes the line)",
            tuple(adms),
        )
        for name, adms in by_drug.values()
    ]


def money_total(details: Sequence[dict[str, Any]]) -> Decimal:
    return sum((Decimal(d["amount"]) for d in details if "amount" in d), Decimal("0.00"))
