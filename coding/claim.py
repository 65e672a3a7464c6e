"""What each line carries to a claim beside its code and units (issue 14, claim-ready lines).

`claim_details(encounter, lines)` gives, per line as it will be sent, a plain JSON dict:
- from the charge master (coding/chargemaster.py): `revenue_code`, `description`,
  `unit_price` and `amount` (units x price), as strings of dollars and cents; absent when the
  code is not priced;
- on a drug line (its code is the HCPCS of the drug of an administration it covers): `ndc`
  (11 digits), `ndc_unit` (the 837I N4 unit: UN, ML, GR, ME, F2) and `ndc_quantity` (units x
  the formulary's NDC units per billing unit). The NDC is the one scanned at the bedside when
  the formulary lists it for the drug, else the drug's preferred active NDC, else its first
  active one. A drug line covers the administrations of one HCPCS code, date of service,
  modifier and scanned NDC (coding/drug_lines.py), so a line of several administrations
  carries the NDC they share, its quantity for the line's total units. A coder's correction
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
price, another NDC) is a change the billing system hears about as a credit and a new charge.
The exports (CSV, HL7, FHIR) and the review page render it from here, so they agree.

`claim_findings` says what a claim will miss (never blocking: the coder sees it on the review
page): CLAIM-DX an indication that is not an ICD-10-CM code, CLAIM-NDC a drug line with no NDC
in the formulary or a drug line a coder changed to a code that is not its drug's, CLAIM-NPI an
order with no ordering provider or an NPI whose check digit is wrong, CLAIM-HCPCS a drug (not a
hydration fluid) charged for its administration whose own drug line was not made because the
formulary gives it no HCPCS code or billing unit (the drug lines skip such a drug:
coding/drug_lines.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from coding import review_reads
from coding.chargemaster import ChargeMaster, charge_master_for, line_amount
from coding.engine import Finding
from coding.models import LedgerEntry
from mar.models import Administration, DrugClass, DrugNdc, Encounter, Order
from mar.record import administration_record_id
from mar.registration.icd10 import CODE_RE as ICD10_RE
from mar.registration.icd10 import normalise_code
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


def quantity_text(value: Decimal) -> str:
    """An NDC quantity as the 837I takes it: up to 3 decimals, no trailing zeros."""
    text = f"{value.quantize(Decimal('0.001')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


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


@dataclass
class RecordFacts:
    """The rows the details read, fetched once for all the lines of an encounter."""

    encounter: Encounter
    administrations: dict[str, Administration] = field(default_factory=dict)
    ndcs: dict[int, list[DrugNdc]] = field(default_factory=dict)
    # The NDC each standing charge was billed with, by (code, administration record id).
    billed_ndcs: dict[tuple[str, str], str] = field(default_factory=dict)


def record_facts(
    encounter: Encounter,
    *,
    billed: Iterable[LedgerEntry] | None = None,
    administrations: Iterable[Administration] | None = None,
) -> RecordFacts:
    """`billed`: the encounter's standing charges when the caller has read them (else read);
    `administrations`: the encounter's, with their drug, order's drug and who charted each, when
    the caller has read them (the review page: coding/review_reads.py `administrations`)."""
    facts = RecordFacts(encounter)
    if billed is None:
        billed = review_reads.standing_charges(encounter.pk, encounter=encounter)
    for entry in sorted(billed, key=lambda e: e.pk):  # the latest charge last: it wins
        ndc = (entry.detail or {}).get("ndc")
        if ndc:
            for record_id in entry.administrations:
                facts.billed_ndcs[(entry.code, record_id)] = ndc
    # Prepared reads (coding/review_reads.py): the SQL compiled once.
    if administrations is None:
        administrations = review_reads.facts_administrations(encounter.pk, encounter=encounter)
    for adm in administrations:
        facts.administrations[administration_record_id(adm.pk)] = adm
    drug_ids = sorted({adm.drug_id for adm in facts.administrations.values()})
    for ndc in review_reads.ndcs(drug_ids) if drug_ids else []:
        facts.ndcs.setdefault(ndc.drug_id, []).append(ndc)
    return facts


def _covered(line: LineLike, facts: RecordFacts) -> list[Administration]:
    return [facts.administrations[a] for a in line.administrations if a in facts.administrations]


def ndc_for(adm: Administration, facts: RecordFacts, code: str = "") -> DrugNdc | None:
    """The NDC a drug line of `code` covering this administration carries: the one scanned at
    the bedside (the record) when the formulary lists it for the drug; else, for a line already
    billed, the NDC it was billed with while the formulary still lists it for the drug (active
    or retired, preferred or not: reference data changing does not re-send a billed line);
    else the drug's preferred active NDC, else its first active one."""
    stocked = facts.ndcs.get(adm.drug_id, [])
    scanned = next((n for n in stocked if adm.ndc and n.ndc == adm.ndc), None)
    if scanned is not None:
        return scanned
    billed = facts.billed_ndcs.get((code, administration_record_id(adm.pk)))
    kept = next((n for n in stocked if billed and n.ndc == billed), None)
    if kept is not None:
        return kept
    return preferred_ndc(stocked)


def preferred_ndc(stocked: Sequence[DrugNdc]) -> DrugNdc | None:
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
    in the formulary: the line's units, as corrected. A drug line a coder corrected to an
    unclassified drug code (`UNCLASSIFIED_DRUG_CODES`) still bills its drug: the units of the
    drug line as generated, the drug given (the unclassified code's units are not the drug's
    billing units). None: the line bills no drug of the record."""
    covered = sorted(_covered(line, facts), key=lambda adm: not adm.ndc)
    for adm in covered:
        if adm.drug.hcpcs_code and adm.drug.hcpcs_code == line.code:
            return adm, line.units
    was = _corrected_from(line)
    if was is not None and line.code in UNCLASSIFIED_DRUG_CODES:
        for adm in covered:
            if adm.drug.hcpcs_code and adm.drug.hcpcs_code == was.get("code"):
                return adm, int(was.get("units") or 0)
    return None


def _corrected_from(line: LineLike) -> dict[str, Any] | None:
    """The generated line a coder changed to another code (None: not corrected, or the code
    kept)."""
    was = line.original
    return was if was and was.get("code") and was.get("code") != line.code else None


def ndc_detail(line: LineLike, facts: RecordFacts) -> dict[str, Any]:
    billed = _drug_line(line, facts)
    if billed is None:
        return {}
    adm, units = billed
    ndc = ndc_for(adm, facts, line.code)
    if ndc is None:
        return {}
    per_unit = ndc.units_per_billing_unit or Decimal(1)
    return {
        "ndc": ndc.ndc,
        "ndc_unit": ndc.unit,
        "ndc_quantity": quantity_text(per_unit * units),
    }


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
            adm.drug
            for adm in _covered(line, facts)
            if adm.drug.hcpcs_code and adm.drug.hcpcs_code == was.get("code")
        ),
        None,
    )
    if drug is None:
        return None
    return (
        f"{line.code}, corrected from {drug.hcpcs_code}: not {drug.name}'s code in the formulary "
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
    master: ChargeMaster | None = None,
    facts: RecordFacts | None = None,
) -> list[dict[str, Any]]:
    """One detail dict per line, in order (a few queries for all of them)."""
    if master is None:
        master = charge_master_for(line.code for line in lines)
    if facts is None:
        facts = record_facts(encounter)
    return [
        {**price_detail(line, master), **ndc_detail(line, facts), **people_detail(line, facts)}
        for line in lines
    ]


def claim_findings(
    encounter: Encounter, lines: Sequence[LineLike], *, facts: RecordFacts | None = None
) -> list[Finding]:
    """What the claim will lack (not blocking): CLAIM-DX, CLAIM-NDC, CLAIM-NPI, CLAIM-HCPCS."""
    if facts is None:
        facts = record_facts(encounter)
    found: list[Finding] = []
    covered_ids = {a for line in lines for a in line.administrations}
    orders: dict[int, tuple[Order, list[str]]] = {}
    for record_id, adm in sorted(facts.administrations.items(), key=lambda kv: kv[1].pk):
        if adm.order is not None and record_id in covered_ids:
            orders.setdefault(adm.order.pk, (adm.order, []))[1].append(record_id)
    for order, adms in orders.values():
        what = f"the order for {order.drug.name}"
        if order_diagnosis(order) is None:
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
    are left out (most are not billed in units here); an untagged drug is DOC-4's."""
    by_drug: dict[int, tuple[str, list[str]]] = {}
    for record_id, adm in sorted(facts.administrations.items(), key=lambda kv: kv[1].pk):
        drug = adm.drug
        if record_id not in covered_ids or (drug.hcpcs_code and drug.billing_unit_amount):
            continue
        # The class it was coded with: the pharmacist's on its order, else the drug's.
        coded_as = (adm.order.drug_class if adm.order is not None else None) or drug.drug_class
        if coded_as in (None, "", DrugClass.HYDRATION):
            continue
        by_drug.setdefault(drug.pk, (drug.name, []))[1].append(record_id)
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
