"""A drug retired from the formulary (mar.pharmacy.services.drug_retire) is refused for a new
order, in the same words wherever the order comes from: the clerk's or nurse's order entry
(beside the drug field), an HL7 order (in the ACK, as an unknown drug is) and a FHIR import (in
the OperationOutcome). What was already ordered or given of it is not touched: the bedside
starts and charts those orders, and their charges stand.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from mar.models import Drug


class DrugRetired(ValidationError):
    """A new order names a retired drug (keyed "drug"): callers that would otherwise try another
    way to find the drug (the FHIR import's fallback to a new, untagged drug) stop here."""

    def __init__(self, drug: Drug) -> None:
        self.drug = drug
        super().__init__({"drug": [drug_retired_words(drug)]})


def drug_retired_words(drug: Drug) -> str:
    """'ondansetron is retired from the formulary (2026-12-06, no longer stocked): choose
    another drug.'"""
    why = [
        f"{timezone.localdate(drug.retired_at):%Y-%m-%d}" if drug.retired_at else "",
        drug.retired_reason,
    ]
    said = ", ".join(part for part in why if part)
    return (
        f"{drug.name} is retired from the formulary{f' ({said})' if said else ''}: "
        "choose another drug."
    )


def drug_retired_check(drug: Drug, *, written_at: datetime | None = None) -> Drug:
    """The drug, when it may be ordered anew; DrugRetired otherwise. `written_at`: when an order
    brought from another system's record was written (a FHIR import of a past visit): an order
    written before the drug's retirement is history, not a new order, and stands."""
    if drug.active:
        return drug
    if written_at is not None and drug.retired_at is not None and written_at < drug.retired_at:
        return drug
    raise DrugRetired(drug)
