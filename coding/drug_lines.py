"""HCPCS drug lines: the drug supplied, beside the engine's administration codes.

The arithmetic (units after conversion, one line per HCPCS code, date of service, modifier and
scanned NDC with the day's total units, JW/JZ by the formulary's container, the DRUG-UNIT and
DRUG-WASTE findings, the DRUG-DOSE not-charged entries) is the engine's
(`coding/engine/drug_units.py` `encounter_drug_lines`); this module reads the rows, hands every
administration's dose, waste, scanned NDC and billing data to it at once, and stores the lines
of the same run after the engine's (positions from DRUG_LINE_POSITION_BASE).

The NDC an administration is grouped by is the one the claim carries for a dose never billed
(coding/claim.py `ndc_choice`): the one scanned at the bedside when the formulary lists it for
the drug, else the drug's preferred active NDC (else its first active one). A scanned NDC the
formulary does not list is not billed, so it groups like no scan at all; a dose not scanned
groups with the doses scanned with the drug's preferred NDC, so a day never has two lines of
one code with the same NDC (a claim's line per HCPCS code, date of service and NDC: RULEBOOK
DRUG-DAY-TOTAL).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo

from coding import review_reads
from coding.claim import preferred_ndc
from coding.engine.drug_units import DrugGiven, amount_label, dose_missing, encounter_drug_lines
from coding.models import ChargeFinding, ChargeLine, ChargeRun
from mar.models import Administration, Drug, DrugClass, DrugNdc
from mar.record import administration_record_id

DRUG_LINE_POSITION_BASE = 1000


@dataclass
class DrugLines:
    lines: list[dict[str, object]] = field(default_factory=list)
    findings: list[dict[str, object]] = field(default_factory=list)
    not_charged: list[dict[str, object]] = field(default_factory=list)


def claim_ndc(
    adm: Administration,
    *,
    stocked: Collection[tuple[int, str]] | None,
    preferred: Mapping[int, str] | None,
) -> str:
    """The NDC a dose's drug line groups under (DRUG-DAY-TOTAL: one line per code, day and NDC
    the claim carries): the NDC scanned if the formulary lists it for the drug, else the drug's
    NDC a claim carries for a dose not scanned (`preferred`), else none."""
    # An Administration not read from the database has its db_default, not a string.
    scanned = adm.ndc.strip() if isinstance(adm.ndc, str) else ""
    if scanned and stocked is not None and (adm.drug_id, scanned) not in stocked:
        scanned = ""  # not the formulary's: the claim does not carry it
    if not scanned and preferred is not None:
        scanned = preferred.get(adm.drug_id, "")  # what the claim carries for it
    return scanned


def drug_lines_compute(
    administrations: list[Administration],
    zone: tzinfo,
    *,
    stocked: Collection[tuple[int, str]] | None = None,
    preferred: Mapping[int, str] | None = None,
) -> DrugLines:
    """The drug lines and the notes for administrations that could not be billed as drug units.

    `zone`: the encounter's (`Encounter.zone`), which dates each line. `stocked`: the (drug id,
    NDC) pairs the formulary lists, for the scanned NDCs (None: every scanned NDC counts).
    `preferred`: the NDC the claim carries for a dose of each drug not scanned (its preferred
    active one; None: such doses group apart from every scanned one).
    """
    out = DrugLines()
    given: list[DrugGiven] = []
    ordered = sorted(administrations, key=lambda a: (a.start, a.pk))
    for adm in ordered:
        drug = adm.drug
        record_id = administration_record_id(adm.pk)
        if not drug.hcpcs_code or not drug.billing_unit_amount:
            continue  # fluids and drugs billed in the pharmacy's own way: no HCPCS unit here
        if adm.dose_value is None:
            out.not_charged.append(
                dose_missing(record_id, drug.name, drug.hcpcs_code, drug.billing_unit_label)
            )
            continue
        scanned = claim_ndc(adm, stocked=stocked, preferred=preferred)
        given.append(
            DrugGiven(
                administration=record_id,
                day=adm.start.astimezone(zone).date(),
                drug=drug.name,
                hcpcs=drug.hcpcs_code,
                billing_unit_label=drug.billing_unit_label,
                per_unit=drug.billing_unit_amount,
                billing_unit=drug.billing_unit,
                container=drug.container,
                dose_value=adm.dose_value,
                dose_unit=adm.dose_unit,
                waste_value=adm.waste_value,
                waste_unit=adm.waste_unit or "",
                ndc=scanned,
                packaged=drug.drug_class == DrugClass.HYDRATION,  # the product, not the use
            )
        )
    items = encounter_drug_lines(given)  # one call: the lines group across administrations
    out.lines.extend(items.lines)
    out.findings.extend(items.findings)
    out.not_charged.extend(items.not_charged)
    # The not-charged entries in the record's order (dose missing and dose unit alike).
    position = {administration_record_id(adm.pk): n for n, adm in enumerate(ordered)}
    out.not_charged.sort(key=lambda entry: position.get(str(entry["administration"]), -1))
    return out


def formulary_ndcs(
    administrations: list[Administration],
    ndcs: dict[int, list[DrugNdc]] | None = None,
) -> tuple[set[tuple[int, str]], dict[int, str]]:
    """The (drug id, NDC) pairs the formulary lists among the administrations' scanned NDCs, and
    each drug's NDC a claim carries for a dose not scanned (coding/claim.py `preferred_ndc`).
    Nothing when nothing was scanned: the doses of a code and day then group together whatever
    the NDC. `ndcs`: the drugs' NDCs, preferred first, when read already (`drug_ndcs`)."""
    scanned = {adm.ndc for adm in administrations if adm.ndc}
    if not scanned:
        return set(), {}
    by_drug = drug_ndcs(administrations) if ndcs is None else ndcs
    stocked = {(drug_id, n.ndc) for drug_id, ndcs in by_drug.items() for n in ndcs}
    preferred = {
        drug_id: default.ndc
        for drug_id, ndcs in by_drug.items()
        if (default := preferred_ndc(ndcs)) is not None
    }
    return {pair for pair in stocked if pair[1] in scanned}, preferred


def drug_ndcs(administrations: list[Administration]) -> dict[int, list[DrugNdc]]:
    """The formulary's NDCs of the administrations' drugs, by drug id, preferred first (one read,
    none when there is no administration)."""
    by_drug: dict[int, list[DrugNdc]] = {}
    drug_ids = sorted({adm.drug_id for adm in administrations})
    for ndc in review_reads.ndcs(drug_ids) if drug_ids else []:
        by_drug.setdefault(ndc.drug_id, []).append(ndc)
    return by_drug


def drug_billing(drug: Drug) -> dict[str, str]:
    """The formulary's data the drug lines read: a change to any of it changes the lines."""
    return {
        "hcpcs": drug.hcpcs_code,
        "billing_unit": drug.billing_unit_label,
        "container": drug.container,
    }


@dataclass(frozen=True)
class DrugLineRows:
    """What an encounter's drug lines are computed from, read once per run (`drug_line_rows`):
    its administrations with their drug, their drugs' NDCs (`drug_ndcs`), and of these the
    (drug id, NDC) pairs listed among the doses scanned and each drug's NDC for a dose not
    scanned (`formulary_ndcs`). The billing snapshot (`drug_line_inputs`), the lines stored
    (`drug_lines_store`) and the run's formulary snapshot (coding/claim.py
    `formulary_snapshot`: the NDC each drug line carries) are all made from it."""

    administrations: list[Administration]
    stocked: set[tuple[int, str]]
    preferred: dict[int, str]
    ndcs: dict[int, list[DrugNdc]] = field(default_factory=dict)


def drug_line_rows(encounter_id: int) -> DrugLineRows:
    administrations = list(
        Administration.objects.filter(encounter_id=encounter_id).select_related("drug")
    )
    ndcs = drug_ndcs(administrations)
    stocked, preferred = formulary_ndcs(administrations, ndcs)
    return DrugLineRows(administrations, stocked, preferred, ndcs)


def drug_line_inputs(rows: DrugLineRows) -> dict[str, dict[str, str]]:
    """What the drug lines are computed from, per administration with a dose: compared with the
    current run's, so a change to waste, to the scanned NDC (the lines group by it) or to the
    formulary's billing data alone makes a new run. "ndc" only when one was scanned, so the
    inputs of a record without scans read as they did before the lines grouped by NDC; on a
    record with a scan, "claim_ndc" too: the NDC each dose groups under (`claim_ndc`), which
    the formulary's NDCs decide (a package listed, the one preferred), so a pharmacist's change
    to them makes a new run too (coding/formulary_changes.py)."""
    administrations = rows.administrations
    grouped: dict[int, str] = {}
    if any(adm.ndc for adm in administrations):
        grouped = {
            adm.pk: claim_ndc(adm, stocked=rows.stocked, preferred=rows.preferred)
            for adm in administrations
        }
    return {
        administration_record_id(adm.pk): {
            **drug_billing(adm.drug),
            "dose": amount_label(adm.dose_value, adm.dose_unit),
            "waste": "" if adm.waste_value is None else amount_label(
                adm.waste_value, adm.waste_unit or adm.dose_unit
            ),
            **({"ndc": adm.ndc} if adm.ndc else {}),
            **({"claim_ndc": grouped[adm.pk]} if grouped else {}),
        }
        for adm in sorted(administrations, key=lambda a: a.pk)
        if adm.dose_value is not None
    }  # fmt: skip


def drug_lines_store(*, run: ChargeRun, rows: DrugLineRows | None = None) -> DrugLines:
    """Add the run's drug lines (and drug findings) after the engine's, from the record's rows,
    and the administrations whose drug line was not made to the run's `not_charged`. `rows`:
    the encounter's drug lines' rows as the run's billing snapshot was made from them (read
    here when not given)."""
    if rows is None:
        rows = drug_line_rows(run.encounter_id)
    computed = drug_lines_compute(
        rows.administrations, run.encounter.zone, stocked=rows.stocked, preferred=rows.preferred
    )
    ChargeLine.objects.bulk_create(
        ChargeLine(run=run, position=DRUG_LINE_POSITION_BASE + n, **line)  # type: ignore[arg-type]
        for n, line in enumerate(computed.lines)
    )
    ChargeFinding.objects.bulk_create(
        ChargeFinding(run=run, position=DRUG_LINE_POSITION_BASE + n, **finding)  # type: ignore[arg-type]
        for n, finding in enumerate(computed.findings)
    )
    if computed.not_charged:
        # Beside the engine's not-charged entries, those of the drug lines (DRUG-DOSE): the
        # review page lists them under "Not charged", each with its reason and rule.
        result = dict(run.result or {})
        result["not_charged"] = [*result.get("not_charged", []), *computed.not_charged]
        run.result = result
        run.save(update_fields=["result"])
    return computed


def is_drug_line(line: ChargeLine) -> bool:
    return line.position >= DRUG_LINE_POSITION_BASE
