"""What the billing system holds for each encounter, and what the next export must send.

The ledger (coding.models.LedgerEntry) keeps every transaction sent: charges (CG) and credits
(CD) reversing an earlier charge. The charges standing at billing are the CG entries no CD
reversed. The next export compares them with the encounter's accepted lines, line by line on
what the claim carries for the service (`Sendable.signature`): a standing charge with an
identical accepted line stays as it is (same transaction id: stable line ids); a standing
charge with none is credited; an accepted line with none is charged anew. Nothing changed:
nothing is sent.

What is compared: the code, modifiers, units, date of service and administrations covered, and
of the line's `detail` (coding/claim.py) everything but what only names or describes: the
revenue code, unit price and amount, the NDC with its unit and quantity, the diagnoses, the
ordering provider's NPI, the performer's id. Not compared (`claim_terms`): the charge master's
`description` and people's display names (`performed_by.name`; `ordered_by.name` when the
ordering provider has an NPI, which identifies them; with none, the name is all that does and
counts). So a renamed nurse, a reworded description, a reloaded charge master whose price on the
date of service is unchanged, a new preferred NDC (a billed line keeps the NDC it was billed
with, claim.py `ndc_choice`) re-send nothing: a billed line is re-sent only when what the claim
carries for that service changed (a unit more, a price corrected for that date, another
diagnosis). A run's drug lines carry the NDC facts the run was made with (claim.py
`formulary_snapshot`): a re-export of a run, and the credit of one of its lines, carry the NDC
its export did whatever the formulary says since; a new run reads the formulary as it is
then, and `ndc_changes` says where its export would change a billed line's NDC. A detail key
a new claim element adds is compared until named here: re-sending is never silent loss.

The NDC quantity is compared as sent, except for the rule it was rounded by: charges sent before
2026-12-07 rounded it half-even (0.3125 ML went as 0.312), exports now round half-up (0.313;
coding/claim.py `NDC_ROUNDING`). Each entry keeps its rule (`LedgerEntry.ndc_rounding`), and a
standing charge that differs from an accepted line only in its quantity, where the line's exact
quantity (`Sendable.ndc_exact`) rounded under the charge's rule is what the charge carries,
stays as it is: the same quantity, nothing to credit or charge again. Any other change of the
quantity (units, the package's relation, another NDC) is re-sent as before.

Each entry keeps the visit's account number it went under (`LedgerEntry.account_number`). A
standing charge sent without the number the visit has now (registration entered it after
export) is never kept: it is credited and its line charged again under the number, so the
bill carries it and each service stands once (`sent_without_account`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from coding import review_reads
from coding.claim import NDC_ROUNDING, NDC_ROUNDINGS, quantity_text, rounded_quantity
from coding.models import LedgerEntry


def claim_terms(detail: dict[str, Any]) -> dict[str, Any]:
    """The line's detail less what only names or describes (the charge master's description; the
    performer's display name, its id compared; the ordering provider's name when an NPI
    identifies them): what a change of re-sends."""
    terms = {key: value for key, value in detail.items() if key != "description"}
    performed = terms.get("performed_by")
    if isinstance(performed, dict):
        terms["performed_by"] = {k: v for k, v in performed.items() if k != "name"}
    ordered = terms.get("ordered_by")
    if isinstance(ordered, dict) and ordered.get("npi"):
        terms["ordered_by"] = {k: v for k, v in ordered.items() if k != "name"}
    return terms


@dataclass(frozen=True)
class Sendable:
    """A line as the billing system would receive it (what a charge records in the ledger)."""

    code: str
    modifiers: tuple[str, ...]
    units: int
    date: date
    administrations: tuple[str, ...]
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # The exact NDC quantity `detail["ndc_quantity"]` is rounded from (an accepted line's;
    # coding/claim.py `ndc_exact`), and the rule it is (or was, sent) rounded by.
    ndc_exact: Fraction | None = field(default=None, compare=False, hash=False)
    ndc_rounding: str = field(default=NDC_ROUNDING, compare=False, hash=False)

    @property
    def signature(self) -> str:
        """What the claim carries for this service: equal signatures, nothing to re-send."""
        return self._signature(claim_terms(self.detail))

    def signature_rounded(self, rounding: str) -> str | None:
        """The signature this line would have with its exact NDC quantity rounded under another
        rule (None: no NDC quantity, or the same text)."""
        if self.ndc_exact is None or "ndc_quantity" not in self.detail:
            return None
        text = quantity_text(rounded_quantity(self.ndc_exact, rounding))
        if text == self.detail["ndc_quantity"]:
            return None
        return self._signature(claim_terms({**self.detail, "ndc_quantity": text}))

    def _signature(self, terms: dict[str, Any]) -> str:
        return json.dumps(
            [
                self.code,
                list(self.modifiers),
                self.units,
                self.date.isoformat(),
                sorted(self.administrations),
                terms,
            ],
            sort_keys=True,
            default=str,
        )

    @classmethod
    def of_entry(cls, entry: LedgerEntry) -> Sendable:
        return cls(
            entry.code,
            tuple(entry.modifiers),
            entry.units,
            entry.date,
            tuple(entry.administrations),
            dict(entry.detail),
            ndc_rounding=entry.ndc_rounding,
        )


@dataclass
class Difference:
    """What one encounter's next export sends: credits of standing charges, new charges.

    `new` holds the indexes (into the desired lines) of the lines to charge; `kept` maps the
    index of each unchanged line to the standing charge it matches."""

    credits: list[LedgerEntry]
    new: list[int]
    kept: dict[int, LedgerEntry]

    @property
    def empty(self) -> bool:
        return not self.credits and not self.new


def standing_charges(encounter_id: int) -> list[LedgerEntry]:
    """The encounter's charges the billing system holds now (sent, not reversed)."""
    return review_reads.standing_charges(encounter_id)  # its SQL compiled once


def standing_charges_of(encounter_ids: Iterable[int]) -> dict[int, list[LedgerEntry]]:
    """`standing_charges` of several encounters, in one read."""
    found: dict[int, list[LedgerEntry]] = defaultdict(list)
    ids = sorted(set(encounter_ids))
    if ids:
        for entry in LedgerEntry.objects.filter(
            encounter_id__in=ids, kind=LedgerEntry.Kind.CHARGE, reversed_by__isnull=True
        ).order_by("pk"):
            found[entry.encounter_id].append(entry)
    return dict(found)


def sent_without_account(standing: Iterable[LedgerEntry], account_number: str) -> list[LedgerEntry]:
    """The standing charges billing holds under another account number than the visit's now:
    sent before registration entered it (mar/registration/services.py `encounter_account_set`,
    a blank number filled), so the bill that went out had none. None once the visit has no
    number (nothing to send) or every charge went under it."""
    if not account_number:
        return []
    return [entry for entry in standing if entry.account_number != account_number]


def ledger_difference(
    standing: Iterable[LedgerEntry], desired: list[Sendable], *, account_number: str | None = None
) -> Difference:
    """`account_number`: the visit's now (the export's and the review page's): a standing
    charge sent without it (`sent_without_account`) is never kept, so it is credited and its
    line charged again under the number: billing holds each service once, under the account."""
    standing = list(standing)
    stale = {e.pk for e in sent_without_account(standing, account_number or "")}
    pool: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in standing:
        if entry.pk in stale:
            pool["stale"].append(entry)  # no line's signature: credited
            continue
        pool[Sendable.of_entry(entry).signature].append(entry)
    kept: dict[int, LedgerEntry] = {}
    unmatched: list[int] = []
    for index, line in enumerate(desired):
        matches = pool.get(line.signature)
        if matches:
            kept[index] = matches.pop(0)
        else:
            unmatched.append(index)
    new: list[int] = []
    for index in unmatched:
        # Sent under another rounding rule: the same exact quantity is the same charge.
        line = desired[index]
        entry = None
        for rounding in NDC_ROUNDINGS:
            signature = line.signature_rounded(rounding)
            matches = pool.get(signature, []) if signature is not None else []
            entry = next((e for e in matches if e.ndc_rounding == rounding), None)
            if entry is not None:
                matches.remove(entry)
                break
        if entry is not None:
            kept[index] = entry
        else:
            new.append(index)
    credits = sorted((e for entries in pool.values() for e in entries), key=lambda e: e.pk)
    return Difference(credits=credits, new=new, kept=kept)


def next_transaction_number(encounter_id: int) -> int:
    return LedgerEntry.objects.filter(encounter_id=encounter_id, kind="CG").count() + 1


def ndc_label(detail: dict[str, Any]) -> str:
    """A line's NDC as the review page shows it: "NDC 00703321701 50.01 ML" ("" none)."""
    text = _ndc_text(detail)
    return f"NDC {text}" if text else ""


def _ndc_text(detail: dict[str, Any]) -> str:
    if not detail.get("ndc"):
        return ""
    return f"{detail['ndc']} {detail.get('ndc_quantity', '')} {detail.get('ndc_unit', '')}"


def ndc_changes(credits: list[LedgerEntry], charges: list[Sendable]) -> list[str]:
    """Where the next export changes the NDC of a billed line: a credited charge and a new
    charge of the same service (date, modifiers, administrations; the code may differ, a HCPCS
    code changed) whose NDC or N4 unit differ, or whose NDC quantity differs for the same units;
    each said as "NDC changes on J9267 ×300 03-02: billed <NDC>, sent now <NDC>" ("without an
    NDC" when none), the line sent in its place named when its code or units differ ("J7040 ×2
    03-02 (sent now as J7030 ×1)"). The review page shows them with what the next export sends."""
    said: list[str] = []
    waiting = list(charges)
    for entry in credits:
        service = (entry.date, tuple(entry.modifiers), sorted(entry.administrations))
        charge = next(
            (c for c in waiting if (c.date, c.modifiers, sorted(c.administrations)) == service),
            None,
        )
        if charge is None:
            continue  # credited only: nothing sent in its place
        waiting.remove(charge)
        was, now = entry.detail or {}, charge.detail
        package = (was.get("ndc"), was.get("ndc_unit")) == (now.get("ndc"), now.get("ndc_unit"))
        quantity = entry.units != charge.units or was.get("ndc_quantity") == now.get("ndc_quantity")
        if package and quantity:
            continue  # the same NDC (its quantity for other units)
        mods = "-".join(entry.modifiers)
        line = f"{entry.code}{'-' + mods if mods else ''} \u00d7{entry.units}"
        instead = ""
        if charge.code != entry.code or charge.units != entry.units:
            # Another code or units in its place: both named, so the billed line is not read as
            # sent again (QA: "NDC changes on J7040 x2" while J7040 was credited for J7030 x1).
            instead = (
                f" (sent now as {charge.code}{'-' + mods if mods else ''} \u00d7{charge.units})"
            )
        said.append(
            f"NDC changes on {line} {entry.date.strftime('%m-%d')}{instead}: "
            f"billed {_ndc_text(was) or 'without an NDC'}, "
            f"sent now {_ndc_text(now) or 'without an NDC'}"
        )
    return said
