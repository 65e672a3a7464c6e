"""Loading the formulary from CSV (name, synonyms, class, hcpcs, billing_unit, note).

A first, all-or-nothing loader for the demo and tests; the pharmacist's import with per-line
error reports is issue 5's.
"""

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from mar.models import Drug, DrugClass

DEFAULT_FORMULARY = Path(__file__).resolve().parent / "data" / "formulary.csv"


def billing_unit_parse(value: str) -> tuple[Decimal | None, str]:
    """'50 mg' -> (Decimal('50'), 'mg'); '' -> (None, '')."""
    value = value.strip()
    if not value:
        return None, ""
    amount, _, unit = value.partition(" ")
    try:
        return Decimal(amount), unit.strip()
    except InvalidOperation:
        raise ValueError(f"billing unit must be 'amount unit', not {value!r}") from None


@transaction.atomic
def formulary_load_csv(*, path: Path = DEFAULT_FORMULARY, update_existing: bool = True) -> int:
    """Create (and unless told not to, update) one Drug per row, keyed by name.

    Returns the number of rows read. With update_existing=False a drug already in the formulary
    is left as the pharmacist keeps it.
    """
    classes = set(DrugClass.values)
    count = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            drug_class = row["class"].strip() or None
            if drug_class is not None and drug_class not in classes:
                raise ValueError(f"{path.name} line {line}: unknown class {drug_class!r}")
            try:
                amount, unit = billing_unit_parse(row["billing_unit"])
            except ValueError as exc:
                raise ValueError(f"{path.name} line {line}: {exc}") from None
            method = (
                Drug.objects.update_or_create if update_existing else Drug.objects.get_or_create
            )
            method(
                name=row["name"].strip(),
                defaults={
                    "synonyms": row["synonyms"].strip(),
                    "drug_class": drug_class,
                    "hcpcs_code": row["hcpcs"].strip(),
                    "billing_unit_amount": amount,
                    "billing_unit": unit,
                    "class_note": row["note"].strip(),
                },
            )
            count += 1
    return count
