"""The coder's worklist rows, each kept drawn while what it shows is as it was (issue 19).

Drawing 50 rows (dates, links, counts, the codes, the money, the state and who has it) was about
a third of a full worklist page (benchmarks/README.md, twenty-third session). A row shows only
values the page reads at every load anyway: the encounter's date, patient, unit and place; its
run's charges as coding/worklist_charges.py gives them (with the edits that block export);
the findings counted; the drug given
with no drug line (CLAIM-HCPCS; not one a pharmacist decided has none); the review item's
state, its reason and who has it; whether it was sent to billing and changed since; whether
a pharmacist's change of a drug's class or billing data waits for the coder on charges billed
(and of which); whether the account number arrived after export (billing holds charges sent
without it). Those values themselves (and the time zone the date is shown in) make the key
a drawn row is kept under, so a row drawn for other values is never shown. The claim button's
CSRF token differs with every response: a row is drawn with a slot in its place (a random
string, new with each process), which the page fills with its own token.

The cache is `CACHES["board"]` (memory per process, as the board's cards).
tests/coding/test_worklist_charges.py holds the page with rows kept to the page drawn with
nothing kept, after any sequence of changes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from django.core.cache import caches
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils import timezone
from markupsafe import Markup

from mar.jinja import jinja
from mar.models import Encounter

CACHE = "board"
_VERSION = "8"  # bump when the row's template or what it reads changes
TEMPLATE = "coding/_worklist_row.jinja"
_TOKEN_SLOT = f"csrf-slot-{secrets.token_hex(16)}"


def _shown(encounter: Any) -> tuple[Any, ...]:
    """Every value the row's template reads (coding/_worklist_row.jinja)."""
    item = encounter.item
    run = encounter.run
    return (
        encounter.pk,
        encounter.arrived_at,
        encounter.patient.name,
        encounter.patient.mrn,
        encounter.unit,
        encounter.location_label,
        encounter.finding_count,
        getattr(encounter, "drug_not_charged", None),
        run.pk if run is not None else None,
        bool(run.error) if run is not None else None,
        encounter.priced,
        encounter.lines_total,
        encounter.units_total,
        encounter.corrected,
        encounter.amount_total,
        encounter.unpriced,
        getattr(encounter, "blocking", 0),
        tuple(encounter.charge_labels),
        (
            item.state,
            item.returned_reason,
            item.claimed_by.get_username() if item.claimed_by is not None else "",
        )
        if item is not None
        else None,
        encounter.changed_after_billing,
        encounter.back_from_billing,
        getattr(encounter, "changed_since_review", False),
        getattr(encounter, "after_export_what", ""),
        encounter.account_number if getattr(encounter, "account_after_export", False) else "",
        timezone.get_current_timezone_name(),
    )


def row_key(encounter: Encounter) -> str:
    digest = hashlib.sha256(repr(_shown(encounter)).encode()).hexdigest()
    return f"worklist-row:{_VERSION}:{encounter.pk}:{digest}"


def rows_html(
    request: HttpRequest, encounters: Sequence[Encounter], *, kept: bool = True
) -> list[Markup]:
    """Each row drawn (kept, or drawn now and kept), with this response's CSRF token."""
    template = jinja().get_template(TEMPLATE)

    def drawn(encounter: Encounter) -> str:
        return template.render({"encounter": encounter, "csrf_token": _TOKEN_SLOT})

    if kept:
        cache = caches[CACHE]
        keys = {e.pk: row_key(e) for e in encounters}
        found = cache.get_many(list(keys.values()))
        missed = {keys[e.pk]: drawn(e) for e in encounters if keys[e.pk] not in found}
        if missed:
            cache.set_many(missed)
        found.update(missed)
        html = [found[keys[e.pk]] for e in encounters]
    else:
        html = [drawn(e) for e in encounters]
    token = get_token(request)
    return [Markup(row.replace(_TOKEN_SLOT, token)) for row in html]
