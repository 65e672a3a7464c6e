"""The formulary as CSV: reading and checking rows, writing the export, the demo's loader.

Columns (the starter file mar/data/formulary.csv):
name, synonyms (';'-separated), class (empty = untagged), hcpcs, billing_unit ("50 mg"), note
(the evidence for the class: the import refuses a row giving a drug its first class without it,
mar/pharmacy/services.py `formulary_import`);
and optionally container: single_dose, multi_dose (or "single-dose", "multi-dose", any case) or
empty for not stated. A file without the container column leaves each drug's container as it is.
Optionally, together, retired_on (YYYY-MM-DD) and retired_reason: a retired drug's date and
reason, both empty for an active drug; a date needs its reason, a reason its date. A file without
them (an older export, the starter file) says nothing of retirement. The export always writes
container, retired_on and retired_reason, in that order, after the six.

`formulary_rows_read` checks every row before anything is written and reports each problem with
its line number (the header is line 1); the pharmacist's import (mar/pharmacy/services.py)
refuses the whole file when there is any. `formulary_load_csv` is the demo's loader of a trusted
file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from mar.csv_safe import cell_restore, csv_rows_write
from mar.models import Drug, DrugClass

DEFAULT_FORMULARY = Path(__file__).resolve().parent.parent / "data" / "formulary.csv"
COLUMNS = ("name", "synonyms", "class", "hcpcs", "billing_unit", "note")
RETIREMENT_COLUMNS = ("retired_on", "retired_reason")
OPTIONAL_COLUMNS = ("container", *RETIREMENT_COLUMNS)
EXPORT_COLUMNS = (*COLUMNS, *OPTIONAL_COLUMNS)
# HCPCS Level II (a letter and four digits, J9045) or a CPT-style five-digit code.
HCPCS_RE = re.compile(r"^(?:[A-Z]\d{4}|\d{4}[0-9A-Z])$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Drug.billing_unit_amount is DecimalField(max_digits=12, decimal_places=4).
_AMOUNT_MAX_DECIMALS = 4
_AMOUNT_MAX_INTEGER_DIGITS = 8
_NAME_MAX = Drug._meta.get_field("name").max_length or 200
_SYNONYMS_MAX = Drug._meta.get_field("synonyms").max_length or 500
_UNIT_MAX = Drug._meta.get_field("billing_unit").max_length or 20


def billing_unit_parse(value: str) -> tuple[Decimal | None, str]:
    """'50 mg' -> (Decimal('50'), 'mg'); '' -> (None, ''); anything else raises ValueError."""
    value = value.strip()
    if not value:
        return None, ""
    amount_text, _, unit = value.partition(" ")
    unit = unit.strip()
    message = f"billing unit must be 'amount unit' like '50 mg', not {value!r}"
    try:
        amount = Decimal(amount_text)
    except InvalidOperation:
        raise ValueError(message) from None
    if not amount.is_finite() or not unit:
        raise ValueError(message)
    if amount <= 0:  # '0 mg' is written right: its amount is what is wrong
        raise ValueError(f"billing unit amount must be above zero, not {value!r}")
    exponent = amount.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if decimals > _AMOUNT_MAX_DECIMALS or amount >= 10**_AMOUNT_MAX_INTEGER_DIGITS:
        raise ValueError(f"billing unit amount {amount_text!r} is out of range")
    if len(unit) > _UNIT_MAX:
        raise ValueError(f"billing unit {unit!r} is longer than {_UNIT_MAX} characters")
    return amount, unit


def container_parse(value: str) -> str:
    """'single_dose', 'Single-Dose' -> 'single_dose'; '' -> '' (not stated); else ValueError."""
    key = value.strip().casefold().replace("-", "_")
    if key in Drug.Container.values or key == "":
        return key
    allowed = ", ".join(Drug.Container.values)
    raise ValueError(f"unknown container {value.strip()!r} (one of {allowed}, or empty)")


@dataclass(frozen=True)
class DrugFields:
    name: str
    synonyms: str
    hcpcs_code: str
    billing_unit_amount: Decimal | None
    billing_unit: str
    container: str


def drug_fields_check(
    *, name: str, synonyms: str, hcpcs: str, billing_unit: str, container: str = ""
) -> tuple[DrugFields, dict[str, str]]:
    """A formulary entry's fields, cleaned, and the problems found, keyed by field.

    Shared by the CSV import and the pharmacist's drug form, so both accept the same entries.
    """
    problems: dict[str, str] = {}
    name = " ".join(name.split())
    if not name:
        problems["name"] = "name is missing"
    elif len(name) > _NAME_MAX:
        problems["name"] = f"name is longer than {_NAME_MAX} characters"

    code = hcpcs.strip().upper()
    if code and not HCPCS_RE.match(code):
        problems["hcpcs"] = f"bad HCPCS code {hcpcs.strip()!r} (a letter and 4 digits: J9045)"

    amount: Decimal | None = None
    unit = ""
    try:
        amount, unit = billing_unit_parse(billing_unit)
    except ValueError as exc:
        problems["billing_unit"] = str(exc)
    if code and amount is None and "billing_unit" not in problems:
        problems["billing_unit"] = "a HCPCS code needs its billing unit ('50 mg')"

    synonyms = synonyms_clean(synonyms)
    if len(synonyms) > _SYNONYMS_MAX:
        problems["synonyms"] = f"synonyms are longer than {_SYNONYMS_MAX} characters"

    try:
        container = container_parse(container)
    except ValueError as exc:
        problems["container"] = str(exc)
        container = ""
    fields = DrugFields(
        name=name,
        synonyms=synonyms,
        hcpcs_code=code,
        billing_unit_amount=amount,
        billing_unit=unit,
        container=container,
    )
    return fields, problems


@dataclass(frozen=True)
class FormularyRow:
    line: int
    name: str
    synonyms: str
    drug_class: str | None
    hcpcs_code: str
    billing_unit_amount: Decimal | None
    billing_unit: str
    note: str
    # None: the file has no container column, and the drug's container is left as it is.
    container: str | None = None
    # False: the file has no retirement columns (an older export): it says nothing of retirement.
    retirement_said: bool = False
    # The retirement the row states (both or neither): None, "" for an active drug's row.
    retired_on: date | None = None
    retired_reason: str = ""


def retirement_check(retired_on: str, retired_reason: str) -> tuple[date | None, list[str]]:
    """A row's retirement columns: (the date, or None when both are empty; the problems, each
    naming its column). The reason's own rules (required, its length) are the drug page's
    (mar.pharmacy.services.drug_retire); a date needs its reason and a reason its date."""
    if not retired_on and not retired_reason:
        return None, []
    if not retired_on:
        return None, [
            "retired_on is empty but retired_reason is given: write the date the drug is "
            "retired (YYYY-MM-DD), or leave both empty for an active drug"
        ]
    problems: list[str] = []
    day: date | None = None
    if DATE_RE.match(retired_on):
        try:
            day = date.fromisoformat(retired_on)
        except ValueError:
            day = None
    if day is None:
        problems.append(
            f"retired_on must be a date like 2026-12-06 (YYYY-MM-DD), not {retired_on!r}"
        )
    elif day > timezone.localdate():
        problems.append(
            f"retired_on {retired_on} is in the future: an import retires a drug when it is "
            "imported (retire it on its page on the day)"
        )
    if not retired_reason:
        problems.append(
            f"retired_reason is empty: say why the drug is retired (retired_on {retired_on}), "
            "as on its page"
        )
    return day, problems


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def _decode_utf8(data: str | bytes) -> tuple[str, RowError | None]:
    if isinstance(data, str):
        return data, None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", RowError(line, "the file is not UTF-8 text (save it as 'CSV UTF-8')")
    return text, None


def _decode(data: str | bytes) -> tuple[str, RowError | None]:
    text, error = _decode_utf8(data)
    if error is None and "\x00" in text:
        # PostgreSQL text cannot hold NUL; a CSV never has one (a UTF-16 or binary file does).
        line = text[: text.index("\x00")].count("\n") + 1
        return "", RowError(line, "the file has a NUL character: it is not a UTF-8 CSV text file")
    return text, error


def formulary_rows_read(data: str | bytes) -> tuple[list[FormularyRow], list[RowError]]:
    """Every row of a formulary CSV, checked; returns (rows, errors). Writes nothing."""
    text, error = _decode(data)
    if error is not None:
        return [], [error]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        return [], [RowError(1, f"unreadable CSV: {exc}")]
    if not header:
        return [], [RowError(1, "the file is empty: a header line is expected")]
    missing = [column for column in COLUMNS if column not in [h.strip() for h in header]]
    if missing:
        columns = "column" if len(missing) == 1 else "columns"
        return [], [RowError(1, f"missing {columns}: {', '.join(missing)}")]
    reader.fieldnames = [h.strip() for h in header]
    has_container = "container" in reader.fieldnames
    has_retirement = [column for column in RETIREMENT_COLUMNS if column in reader.fieldnames]
    if len(has_retirement) == 1:
        (other,) = set(RETIREMENT_COLUMNS) - set(has_retirement)
        return [], [
            RowError(
                1,
                f"column {has_retirement[0]} without {other}: the retirement columns go "
                "together (both, or neither)",
            )
        ]

    classes = set(DrugClass.values)
    rows: list[FormularyRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, f"unreadable CSV: {exc}"))
            break
        line = reader.line_num
        if None in raw:
            errors.append(RowError(line, f"more fields than the {len(header)} columns"))
            continue
        # cell_restore: a cell the export neutralised ("'=...") reads back as it was.
        value = {key: cell_restore((raw.get(key) or "").strip()) for key in EXPORT_COLUMNS}
        fields, field_problems = drug_fields_check(
            name=value["name"],
            synonyms=value["synonyms"],
            hcpcs=value["hcpcs"],
            billing_unit=value["billing_unit"],
            container=value["container"],
        )
        problems = list(field_problems.values())
        name = fields.name
        if name and "name" not in field_problems:
            if name.casefold() in first_line:
                first = first_line[name.casefold()]
                problems.insert(0, f"duplicate name {name!r} (first on line {first})")
            else:
                first_line[name.casefold()] = line

        drug_class = value["class"] or None
        if drug_class is not None and drug_class not in classes:
            allowed = ", ".join(DrugClass.values)
            problems.append(f"unknown class {drug_class!r} (one of {allowed}, or empty)")

        retired_on, retirement_problems = retirement_check(
            value["retired_on"], value["retired_reason"]
        )
        problems.extend(retirement_problems)

        if problems:
            errors.extend(RowError(line, problem) for problem in problems)
            continue
        rows.append(
            FormularyRow(
                line=line,
                name=fields.name,
                synonyms=fields.synonyms,
                drug_class=drug_class,
                hcpcs_code=fields.hcpcs_code,
                billing_unit_amount=fields.billing_unit_amount,
                billing_unit=fields.billing_unit,
                note=value["note"],
                container=fields.container if has_container else None,
                retirement_said=bool(has_retirement),
                retired_on=retired_on,
                retired_reason=value["retired_reason"] if retired_on else "",
            )
        )
    if not rows and not errors:
        errors.append(RowError(1, "no drugs in the file"))
    return rows, errors


def synonyms_clean(value: str) -> str:
    """'Taxol ;  ; paclitaxel inj' -> 'Taxol;paclitaxel inj'."""
    return ";".join(part.strip() for part in value.split(";") if part.strip())


def formulary_csv_write(drugs: Iterable[Drug]) -> str:
    """The formulary as CSV text, in the columns the import reads back (mar/csv_safe.py: every
    field quoted, a cell a spreadsheet would run as a formula neutralised). A retired drug's
    retired_on is the local date of its retirement; both columns are empty for an active drug."""
    return csv_rows_write(
        EXPORT_COLUMNS,
        (
            [
                drug.name,
                drug.synonyms,
                drug.drug_class or "",
                drug.hcpcs_code,
                drug.billing_unit_label,
                drug.class_note,
                drug.container,
                *retirement_cells(drug),
            ]
            for drug in drugs
        ),
    )


def retirement_cells(drug: Drug) -> tuple[str, str]:
    """(retired_on, retired_reason) as the export writes them and the import compares them:
    the local date of the retirement and its reason; ("", "") for an active drug."""
    if drug.active or drug.retired_at is None:
        return "", ""
    return timezone.localdate(drug.retired_at).isoformat(), drug.retired_reason


# The starter formulary's allergy classes (Drug.allergy_classes, read by the start's allergy
# check and shown at order entry and verification, mar/services/safety.py `allergy_conflicts`):
# the standard drug-allergy classes of its drugs, where one applies. Without them a patient
# allergic to "penicillin" was given piperacillin-tazobactam without a word (QA). A pharmacist
# changes a drug's on its page (mar.pharmacy.services.drug_allergy_classes_set); the loader and
# migration mar 0026 fill only a drug whose allergy classes are empty.
STARTER_ALLERGY_CLASSES: dict[str, str] = {
    "carboplatin": "platinum",
    "cisplatin": "platinum",
    "oxaliplatin": "platinum",
    "paclitaxel": "taxane",
    "docetaxel": "taxane",
    "fluorouracil": "fluoropyrimidine",
    "doxorubicin": "anthracycline",
    "piperacillin-tazobactam": "penicillin; beta-lactam",
    "ceftriaxone": "cephalosporin; beta-lactam",
    "cefazolin": "cephalosporin; beta-lactam",
    "azithromycin": "macrolide",
    "gentamicin": "aminoglycoside",
    "vancomycin": "glycopeptide",
    "ketorolac": "NSAID",
    "morphine": "opioid",
    "fentanyl": "opioid",
    "lorazepam": "benzodiazepine",
    "prochlorperazine": "phenothiazine",
    "promethazine": "phenothiazine",
    "ondansetron": "5-HT3 antagonist",
    "palonosetron": "5-HT3 antagonist",
    "dexamethasone": "corticosteroid",
    "methylprednisolone": "corticosteroid",
    "diphenhydramine": "antihistamine",
    "zoledronic acid": "bisphosphonate",
    "epoetin alfa": "erythropoiesis-stimulating agent",
    "darbepoetin alfa": "erythropoiesis-stimulating agent",
    "filgrastim": "G-CSF",
    "pegfilgrastim": "G-CSF",
}


def starter_allergy_classes_fill() -> int:
    """Give the starter formulary's drugs their allergy classes (STARTER_ALLERGY_CLASSES), each
    only where its allergy classes are empty: a pharmacist's own are never overwritten. Returns
    the number of drugs filled."""
    filled = 0
    for name, classes in STARTER_ALLERGY_CLASSES.items():
        filled += Drug.objects.filter(name__iexact=name, allergy_classes="").update(
            allergy_classes=classes
        )
    return filled


@transaction.atomic
def formulary_load_csv(*, path: Path = DEFAULT_FORMULARY, update_existing: bool = True) -> int:
    """Create (and unless told not to, update) one Drug per row, keyed by name.

    For the demo and tests: a trusted file, no change history. No retirement either (one has
    its who and why): the retirement columns are the pharmacist's import's (`formulary_import`);
    this loader leaves each drug's retirement as it is. Returns the number of rows read. With
    update_existing=False a drug already in the formulary is left as the pharmacist keeps it.
    The starter drugs' allergy classes are filled where empty (`starter_allergy_classes_fill`).
    Raises ValueError naming the file and line of the first bad row.
    """
    rows, errors = formulary_rows_read(path.read_bytes())
    if errors:
        raise ValueError(f"{path.name} {errors[0]}")
    method = Drug.objects.update_or_create if update_existing else Drug.objects.get_or_create
    for row in rows:
        defaults: dict[str, object] = {
            "synonyms": row.synonyms,
            "drug_class": row.drug_class,
            "hcpcs_code": row.hcpcs_code,
            "billing_unit_amount": row.billing_unit_amount,
            "billing_unit": row.billing_unit,
            "class_note": row.note,
        }
        if row.container is not None:
            defaults["container"] = row.container
        method(name=row.name, defaults=defaults)
    starter_allergy_classes_fill()
    return len(rows)
