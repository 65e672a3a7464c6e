"""The one port from the clinical record to charge coding.

`mar` imports nothing of `coding` but the engine (an import-linter contract in pyproject.toml
keeps it so). What the record needs of coding goes through this port, which `coding` fills in
its `AppConfig.ready()` (coding/ports.py): `charges_port()` is then coding's implementation.

The port says *that* charges are owed, and by whom they are awaited; coding decides *how*:
- `charges_owed`: a signature or an addendum made the encounter's charges owed. Called inside
  the transaction that made them owed (coding writes an outbox row and sends its task by name
  after commit).
- `charges_refresh`: a pharmacist's decision (a class, a drug's billing data) may have made the
  current charge runs of signed encounters stale; coding regenerates them (or flags a run
  already exported) and returns (regenerated encounter ids, flagged run ids).
- `open_queries`: the coders' documentation queries neither answered nor withdrawn (rows with
  `encounter_id`, `rule`, `administrations`, `question`, `asked_by`, `asked_at`), for the
  board's "Query from coding" marker and the addendum form's "It answers the coder's query".
- `queries_answered`: the nurse says her addendum answers these open queries (an answer in
  words). Called in the addendum's transaction; the coders' corrections that waited on them
  come back for re-review there too (no new run may be made: the record may be unchanged).
  (An addendum whose change answers a query, its finding cleared or what it names changed, is
  found by coding when the new run is stored.)
- `charge_master_standing`: is this HCPCS code in the charge master (priced, with a revenue
  code) on a date? Asked by the pharmacist's drug form and page (mar/pharmacy/services.py
  `hcpcs_charge_master_warning`): a drug's code the charge master does not price is saved with
  a warning, as the coder's worklist would later say it (EDIT-CDM, coding/chargemaster.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from mar.models import Addendum, Administration, Drug


@dataclass(frozen=True)
class FormularyChange:
    """A pharmacist's decision that may change how administrations are coded or billed.

    `administrations`: those the decision governs (a queryset). Exactly one of `drug_class` (a
    class decision: the class they are now coded with; None = untagged), `billing_of` (the
    drug whose HCPCS code, billing unit or container changed) or `ndcs_of` (the drug whose
    NDCs changed: one added, corrected, retired, reactivated or made preferred) says what
    changed.
    """

    administrations: QuerySet[Administration]
    reason: str
    drug_class: str | None = None
    billing_of: Drug | None = None
    ndcs_of: Drug | None = None


@dataclass(frozen=True)
class ChargeMasterStanding:
    """A code in the charge master on a date (`charge_master_standing`). `loaded`: the hospital
    loaded a charge master at all (none loaded: nothing is priced, and the coder's EDIT-CDM is
    not raised either); `priced`: a version of the code prices it that day; `priced_from`: when
    not priced that day, the first later date a loaded version prices it (a load effective in
    the future), else None; `ended_on`: when not priced that day but priced before, the date a
    load stopped listing it, else None."""

    loaded: bool
    priced: bool
    priced_from: date | None = None
    ended_on: date | None = None


class ChargesPort(Protocol):
    def charges_owed(self, *, encounter_id: int, trigger: str, reason: str = "") -> None: ...

    def charges_refresh(self, *, change: FormularyChange) -> tuple[list[int], list[int]]: ...

    def open_queries(self) -> QuerySet[Any]: ...

    def queries_answered(self, *, addendum: Addendum, query_ids: Sequence[int]) -> None: ...

    def charge_master_standing(self, *, code: str, on: date) -> ChargeMasterStanding: ...


_port: ChargesPort | None = None


def charges_port_register(port: ChargesPort) -> None:
    """Called once by coding's AppConfig.ready()."""
    global _port
    _port = port


def charges_port() -> ChargesPort:
    if _port is None:
        raise ImproperlyConfigured("No charges port: is the coding app installed?")
    return _port
