"""The pharmacist's decisions as keyword-only service functions.

A drug's class decides its code family, so every class decision (tagging a drug, changing its
class, overriding it on one order, or a CSV import that changes it) is recorded as a
DrugClassChange, and the signed encounters whose current charge run was coded with another class
are brought up to date through the record's one port to coding (mar/ports.py:
`charges_refresh`, coding/formulary_changes.py): regenerated (the task sent on commit through the
charge outbox, so a Redis outage delays the regeneration and never drops it), or, when that run
was already exported to billing, only flagged for the coder (an exported run is never replaced
behind the coder's back). A change to a
drug's billing data (HCPCS code, billing unit, container), by hand or by import, takes the same
path for the runs whose drug lines read the old data.

Roles are checked by the views; these functions trust their caller.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from mar.audit.context import history_context, history_context_apart
from mar.models import (
    NDC_ONE_RELATION,
    Administration,
    Drug,
    DrugClass,
    DrugClassChange,
    DrugNdc,
    Encounter,
    NoDrugLine,
    Order,
    SafetyOverride,
)
from mar.pharmacy.formulary import (
    HCPCS_RE,
    FormularyRow,
    RowError,
    drug_fields_check,
    formulary_csv_write,
    formulary_rows_read,
    retirement_cells,
)
from mar.pharmacy.retired import drug_retired_check
from mar.ports import FormularyChange, charges_port
from mar.services import dose_check
from mar.services.safety import (
    TERM_MIN,
    VERIFICATION_PREFIX,
    allergy_override_kind,
    allergy_terms,
    allergy_warning,
)
from mar.summary import summary_invalidate
from mar.validators import ndc_display, ndc_normalise, text_problems

BILLING_FIELDS = ("hcpcs_code", "billing_unit_amount", "billing_unit", "container")
REASON_MAX = 2000
# A drug's first class without what it rests on is refused (the class decides how every visit
# using the drug is billed: chemotherapy or therapeutic codes), beside the evidence field.
EVIDENCE_MISSING = (
    "Say what the class rests on: a compendium reference, or the FDA label's mechanism of "
    "action (the class decides how every visit using the drug is billed)."
)


def class_label(value: str | None) -> str:
    """A class as the pages say it ("Hormonal antineoplastic", "untagged"), never its stored
    value (QA: the coder read "changed from chemo to therapeutic")."""
    if not value:
        return "untagged"
    return str(DrugClass(value).label) if value in DrugClass.values else value


def _user_label(user: AbstractBaseUser) -> str:
    return str(user.get_username())


def _evidence(note: str) -> str:
    """What a drug's first class rests on: required (EVIDENCE_MISSING, keyed "note": the forms
    say it beside their evidence field)."""
    note = note.strip()
    if not note:
        raise ValidationError({"note": EVIDENCE_MISSING})
    return note


def _import_reason(row: FormularyRow) -> str:
    """The reason a class set by an import is recorded with: its line, and its note (the
    evidence, required for a first class)."""
    return f"CSV import, line {row.line}" + (f": {row.note}" if row.note else ".")


def _drug_class_set(
    *, drug: Drug, to_class: str, reason: str, user: AbstractBaseUser, note: str | None = None
) -> DrugClassChange:
    if to_class not in DrugClass.values:
        raise ValidationError({"drug_class": f"Unknown class {to_class!r}."})
    locked = Drug.objects.select_for_update().get(pk=drug.pk)
    from_class = locked.drug_class
    if from_class == to_class:
        raise ValidationError({"drug_class": f"{locked.name} is already {to_class}."})
    locked.drug_class = to_class
    locked.class_tagged_by = user  # type: ignore[assignment]
    locked.class_tagged_at = timezone.now()
    fields = ["drug_class", "class_tagged_by", "class_tagged_at"]
    if note is not None:
        locked.class_note = note
        fields.append("class_note")
    locked.save(update_fields=fields)
    change = DrugClassChange.objects.create(
        drug=locked, from_class=from_class, to_class=to_class, reason=reason, by=user
    )
    summary_invalidate(drug_id=locked.pk)  # the open records' checklists follow the class
    # Administrations whose order overrides the class keep the override: not affected.
    governed = Administration.objects.filter(drug=locked).filter(
        Q(order__isnull=True) | Q(order__class_override__isnull=True) | Q(order__class_override="")
    )
    why = (
        f"Class of {locked.name} changed from {class_label(from_class)} to {class_label(to_class)} "
        f"by {_user_label(user)}: {reason}"
    )
    regenerated, flagged = charges_port().charges_refresh(
        change=FormularyChange(administrations=governed, reason=why, drug_class=to_class)
    )
    if regenerated or flagged:
        change.regenerated_encounters = regenerated
        change.flagged_runs = flagged
        change.save(update_fields=["regenerated_encounters", "flagged_runs"])
    drug.drug_class = locked.drug_class
    drug.class_tagged_by = locked.class_tagged_by
    drug.class_tagged_at = locked.class_tagged_at
    drug.class_note = locked.class_note
    return change


# --- the services -------------------------------------------------------------------------


@transaction.atomic
def drug_classify(
    *, drug: Drug, drug_class: str, user: AbstractBaseUser, note: str = ""
) -> DrugClassChange:
    """Tag an untagged drug (the worklist, the formulary's row, the drug's page). `note` is the
    evidence for the class (a compendium reference, the FDA label's mechanism), required: the
    class decides how every visit using the drug is billed. It is kept as the drug's evidence
    note and as the reason of the first classification.

    Its administrations in signed encounters were not charged (DOC-4): their charges are
    regenerated now that the class is known.
    """
    current = Drug.objects.filter(pk=drug.pk).values_list("drug_class", flat=True).first()
    if current:
        raise ValidationError(
            {"drug_class": f"{drug.name} is already tagged {current}: change it with a reason."}
        )
    note = _evidence(note)
    return _drug_class_set(drug=drug, to_class=drug_class, reason=note, user=user, note=note)


@transaction.atomic
def drug_class_change(
    *, drug: Drug, to_class: str, reason: str, user: AbstractBaseUser
) -> DrugClassChange:
    """Change a drug's class, with a reason; recorded, and stale charges regenerated or flagged."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the class changes."})
    return _drug_class_set(drug=drug, to_class=to_class, reason=reason, user=user)


@transaction.atomic
def order_class_override(
    *, order: Order, drug_class: str | None, reason: str, user: AbstractBaseUser
) -> DrugClassChange:
    """Set (or with drug_class=None remove) the class on one order, with a reason.

    For a drug whose family depends on the indication: leuprolide for prostate cancer is
    chemo_hormonal (96402), for an IVF protocol therapeutic (96372).
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why this order's class differs."})
    drug_class = drug_class or None
    if drug_class is not None and drug_class not in DrugClass.values:
        raise ValidationError({"drug_class": f"Unknown class {drug_class!r}."})
    locked = Order.objects.select_for_update().select_related("drug").get(pk=order.pk)
    from_class = locked.class_override or None
    if from_class == drug_class:
        raise ValidationError({"drug_class": "That is already this order's class."})
    locked.class_override = drug_class
    locked.class_override_reason = reason if drug_class else ""
    locked.save(update_fields=["class_override", "class_override_reason"])
    summary_invalidate(encounter_ids=[locked.encounter_id])
    change = DrugClassChange.objects.create(
        drug=locked.drug,
        order=locked,
        from_class=from_class,
        to_class=drug_class,
        reason=reason,
        by=user,
    )
    effective = drug_class or locked.drug.drug_class
    what = (
        f"override {class_label(drug_class)}"
        if drug_class
        else f"the drug's class ({class_label(effective)})"
    )
    why = (
        f"Class of {locked.drug.name} on order O{locked.pk} set to {what} "
        f"(was {class_label(from_class or locked.drug.drug_class)}) "
        f"by {_user_label(user)}: {reason}"
    )
    regenerated, flagged = charges_port().charges_refresh(
        change=FormularyChange(
            administrations=Administration.objects.filter(order=locked),
            reason=why,
            drug_class=effective,
        )
    )
    if regenerated or flagged:
        change.regenerated_encounters = regenerated
        change.flagged_runs = flagged
        change.save(update_fields=["regenerated_encounters", "flagged_runs"])
    order.class_override = locked.class_override
    order.class_override_reason = locked.class_override_reason
    return change


RETURN_FIELDS = ("returned_by", "returned_at", "return_reason")


def _return_cleared(locked: Order) -> None:
    """Take the pharmacist's return off the locked order (its who, when and why stay in the
    audit trail); the caller saves RETURN_FIELDS."""
    locked.returned_by = None
    locked.returned_at = None
    locked.return_reason = ""


def _reason_required(reason: str, *, missing: str) -> str:
    """A pharmacist's reason on an order: required (`missing` says so beside the field), at most
    REASON_MAX characters."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": missing})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"At most {REASON_MAX} characters."})
    return reason


ALLERGY_VERIFY_MISSING = (
    "Verify it only with the reason (the prescriber confirmed it, a known intolerance, not an "
    "allergy), or return it to the prescriber."
)


ORDER_CANCELLED = "This order was cancelled as entered in error: there is nothing to verify."


@transaction.atomic
def order_verify(*, order: Order, user: AbstractBaseUser, allergy_reason: str = "") -> Order:
    """A pharmacist's check mark on an order, with the time; once.

    An order whose drug matches an allergy of the patient (mar/services/safety.py
    `allergy_warning`: the drug's name, a synonym or one of its allergy classes) is verified
    only with `allergy_reason` (refused beside it, the warning said): kept as a SafetyOverride
    of the order, by the pharmacist, which the review page and the overrides report show.

    Also after the record is signed (an emergency order is often verified after it was given):
    the database's guard (mar/audit/guard.py) lets a first verification through and nothing else.

    An order returned to the prescriber (`order_return`) may be verified after all: the
    verification is the decision, and clears the return (its who, when and why stay in the audit
    trail). On a signed record the return stays on the row (the guard lets only the verification
    through), and `Order.is_returned` is false once it is verified.
    """
    locked = (
        Order.objects.select_for_update(of=("self",))
        .select_related("encounter__patient", "drug")
        .get(pk=order.pk)
    )
    if locked.verified_at is not None:
        raise ValidationError("This order is already verified.")
    if locked.cancelled_at is not None:
        raise ValidationError(ORDER_CANCELLED)
    allergy = allergy_warning(locked.encounter.patient, locked.drug)
    allergy_reason = allergy_reason.strip()
    if allergy and not allergy_reason:
        raise ValidationError({"allergy_reason": [f"{allergy} {ALLERGY_VERIFY_MISSING}"]})
    if len(allergy_reason) > REASON_MAX:
        raise ValidationError({"allergy_reason": [f"At most {REASON_MAX} characters."]})
    locked.verified_by = user  # type: ignore[assignment]
    locked.verified_at = timezone.now()
    fields = ["verified_by", "verified_at"]
    was_returned = locked.return_reason if locked.returned_at is not None else None
    if was_returned is not None and locked.encounter.status != Encounter.Status.SIGNED:
        _return_cleared(locked)
        fields += RETURN_FIELDS
    if was_returned is None:
        locked.save(update_fields=fields)
    else:
        with history_context(action="order_verify", user=user.pk, returned_reason=was_returned):
            locked.save(update_fields=fields)
    if allergy:  # verified past the allergy warning: who and why
        SafetyOverride.objects.create(
            encounter=locked.encounter,
            kind=allergy_override_kind(allergy),
            message=f"{VERIFICATION_PREFIX}{allergy}"[:300],
            reason=allergy_reason,
            order=locked,
            by=user,
        )
    for name in fields:
        setattr(order, name, getattr(locked, name))
    return locked


@transaction.atomic
def order_return(*, order: Order, reason: str, user: AbstractBaseUser) -> Order:
    """A pharmacist returns an order to the prescriber, with the reason (a dose over the maximum
    for the body surface, a wrong route, an interaction): who, when and why are kept on the order
    and in the audit trail. It leaves the queue to verify for "Returned, waiting for the
    prescriber"; at the bedside it does not start (mar/services/safety.py) until the ordering
    system changes it (`order_change` clears the return) or a pharmacist verifies it after all
    (`order_verify`: the verification is the decision). A return made by mistake is withdrawn
    (`order_return_withdraw`): the order goes back to the queue to verify.

    Refused: no reason; an order already verified (the verification stands); an order already
    returned; an order of a signed record. The encounter is locked first, as a start and a change
    order lock it, so that a start and a return take turns.
    """
    reason = _reason_required(reason, missing="Say why the order goes back to the prescriber.")
    encounter = Encounter.objects.select_for_update().get(pk=order.encounter_id)
    if encounter.status == Encounter.Status.SIGNED:
        raise ValidationError(
            "This record is signed: its orders are no longer returned to the prescriber."
        )
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if locked.cancelled_at is not None:
        raise ValidationError(ORDER_CANCELLED)
    if locked.verified_at is not None:
        raise ValidationError(
            "This order is already verified: it cannot be returned to the prescriber."
        )
    if locked.returned_at is not None and locked.returned_by is not None:
        raise ValidationError(
            f"This order was already returned by {locked.returned_by.get_username()} "
            f"at {timezone.localtime(locked.returned_at, encounter.zone):%Y-%m-%d %H:%M}: "
            f"{locked.return_reason}"
        )
    locked.returned_by = user  # type: ignore[assignment]
    locked.returned_at = timezone.now()
    locked.return_reason = reason
    with history_context(action="order_return", user=user.pk, reason=reason):
        locked.save(update_fields=[*RETURN_FIELDS, "updated_at"])
    for name in RETURN_FIELDS:
        setattr(order, name, getattr(locked, name))
    return locked


@transaction.atomic
def order_return_withdraw(*, order: Order, reason: str, user: AbstractBaseUser) -> Order:
    """A pharmacist withdraws a return to the prescriber without verifying the order (returned by
    mistake, or the prescriber answered by phone that the order stands but needs checking again),
    with the reason: the order goes back to the queue to verify, unverified and no longer
    returned, and at the bedside a start follows the verification rule as for any order not
    verified yet (mar/services/safety.py). The audit trail keeps who, when and why
    (`action` `order_return_withdraw`, the reason, and the return's reason it cleared).

    Refused: no reason; an order that is not returned (`Order.is_returned`: never returned,
    verified since, or its return already cleared); an order of a signed record. The encounter
    is locked first, as `order_return` locks it.
    """
    reason = _reason_required(reason, missing="Say why the return is withdrawn.")
    encounter = Encounter.objects.select_for_update().get(pk=order.encounter_id)
    if encounter.status == Encounter.Status.SIGNED:
        raise ValidationError(
            "This record is signed: a return of its orders is no longer withdrawn."
        )
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if not locked.is_returned:
        raise ValidationError(
            "This order is not returned to the prescriber: there is no return to withdraw."
        )
    was_returned = locked.return_reason
    _return_cleared(locked)
    with history_context(
        action="order_return_withdraw", user=user.pk, reason=reason, returned_reason=was_returned
    ):
        locked.save(update_fields=[*RETURN_FIELDS, "updated_at"])
    for name in RETURN_FIELDS:
        setattr(order, name, getattr(locked, name))
    return locked


BILLING_REASON_MISSING = (
    "Say why the billing data changes ({changes}): the reason is kept with the change, and the "
    "coders read it with the charges it brings up to date."
)
# The drug form's fields that hold billing data (BILLING_FIELDS as typed).
BILLING_FORM_FIELDS = ("hcpcs", "billing_unit", "container")


def _billing_text(drug: Drug) -> dict[str, str]:
    """A drug's billing data as the pages say it, by field: what the audit trail keeps as a
    change's old and new value ("J9267", "1 mg", "Single-dose container"; "(none)", "not
    stated")."""
    return {
        "hcpcs_code": drug.hcpcs_code or "(none)",
        "billing_unit": drug.billing_unit_label or "(none)",
        "container": str(Drug.Container(drug.container).label)
        if drug.container in Drug.Container.values
        else "not stated",
    }


@transaction.atomic
def drug_save(
    *,
    drug: Drug | None,
    name: str,
    synonyms: str,
    hcpcs: str,
    billing_unit: str,
    note: str,
    user: AbstractBaseUser,
    drug_class: str | None = None,
    container: str | None = None,
    reason: str = "",
) -> Drug:
    """Add a drug to the formulary (drug=None) or edit one's name, synonyms, HCPCS code,
    billing unit, container (single- or multi-dose, '' not stated; None leaves it as it is)
    and evidence note. The same checks as the CSV import. A new drug may be tagged at once
    (`drug_class`, recorded as its first classification, its evidence `note` required as
    `drug_classify` requires it); an existing drug's class changes only through
    `drug_class_change`, with a reason.

    A change to an existing drug's billing data (HCPCS code, billing unit, container) needs
    `reason`, as a class change and a package's correction do (refused beside the field with the
    other problems, BILLING_REASON_MISSING; at most REASON_MAX characters); a save that changes
    none of them, and a new drug, ask none. In the audit trail with `action`
    `drug_billing_update`, the user, the reason and each changed field's old and new value as
    the pages say them (`changes`); the charges it brings up to date carry the reason to the
    coder (the run's "Why this run was made", an exported run's flag).

    An existing drug saved carries `regenerated_encounters` and `flagged_runs`: the charges its
    billing data's change brought up to date (`charges_said` says them). A HCPCS code the
    charge master does not price is saved all the same (`hcpcs_charge_master_warning` says it).
    """
    fields, problems = drug_fields_check(
        name=name,
        synonyms=synonyms,
        hcpcs=hcpcs,
        billing_unit=billing_unit,
        container=container or "",
    )
    errors = {key: [problem] for key, problem in problems.items()}
    if "name" not in errors:
        clash = Drug.objects.filter(name__iexact=fields.name)
        if drug is not None:
            clash = clash.exclude(pk=drug.pk)
        if clash.exists():
            errors["name"] = [f"{fields.name} is already in the formulary."]
    if drug_class and drug_class not in DrugClass.values:
        errors["drug_class"] = [f"Unknown class {drug_class!r}."]
    if drug is None and drug_class:
        try:
            _evidence(note)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    values = {
        "name": fields.name,
        "synonyms": fields.synonyms,
        "hcpcs_code": fields.hcpcs_code,
        "billing_unit_amount": fields.billing_unit_amount,
        "billing_unit": fields.billing_unit,
        "class_note": note.strip(),
    }
    if container is not None:
        values["container"] = fields.container
    if drug is None:
        if errors:
            raise ValidationError(errors)
        drug = Drug.objects.create(**values)
        if drug_class:
            _drug_class_set(drug=drug, to_class=drug_class, reason=note.strip(), user=user)
        return drug
    locked = Drug.objects.select_for_update().get(pk=drug.pk)
    before = {name: getattr(locked, name) for name in BILLING_FIELDS}
    was = _billing_text(locked)
    typed = Drug(**{**before, **{k: v for k, v in values.items() if k in BILLING_FIELDS}})
    now = _billing_text(typed)
    changes = {key: [was[key], now[key]] for key in was if was[key] != now[key]}
    # A billing field refused is a change too (what is stored passed these checks): its reason
    # is asked with the rest, every problem at once.
    refused = [key for key in BILLING_FORM_FIELDS if key in errors]
    reason = reason.strip()
    if (changes or refused) and not reason:
        said = billing_changes_said(before, typed) if not refused else []
        what = "; ".join(said).replace(" -> ", " → ") or "HCPCS code, billing unit or container"
        errors["reason"] = [BILLING_REASON_MISSING.format(changes=what)]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [f"At most {REASON_MAX} characters."]
    if errors:
        raise ValidationError(errors)
    for key, value in values.items():
        setattr(locked, key, value)
    context: dict[str, Any] = {}
    if changes:
        context = {"action": "drug_billing_update", "reason": reason, "changes": changes}
    elif reason:  # typed with a save of its name or note: kept, never lost
        context = {"action": "drug_save", "reason": reason}
    with history_context(user=user.pk, **context) if context else contextlib.nullcontext():
        locked.save(update_fields=[*values, *_no_line_moot(locked)])
        summary_invalidate(drug_id=locked.pk)  # its name is in the records
        # The packages' NDC units scaled with the billing unit: in the same context (reason).
        regenerated, flagged = _billing_changed(
            drug=locked, before=before, user=user, why="edited", reason=reason
        )
    # What the page says after the save (`charges_said`), as after a class change.
    locked.regenerated_encounters = regenerated  # type: ignore[attr-defined]
    locked.flagged_runs = flagged  # type: ignore[attr-defined]
    return locked


# --- drugs the drug lines cannot bill --------------------------------------------------------
# A drug line (coding/drug_lines.py) needs the drug's HCPCS code and its billing unit (amount
# and unit): without either, an administration of the drug is charged (96413 ...) and the drug
# itself is not, which the coder learns only as CLAIM-HCPCS on the review page (coding/claim.py
# `_drugs_without_a_code`, not blocking). The pharmacist's worklist lists such drugs until the
# data is added (QA: teprotumumab tagged with no code, given, signed, its drug never charged).


def drug_billing_gap(*, hcpcs: str, billing_unit_amount: Decimal | None) -> str:
    """What keeps a drug off the drug lines, in words ("" when nothing does): said on the
    pharmacist's worklist and beside the HCPCS field of the tag and drug forms."""
    if not hcpcs.strip():
        return "no HCPCS code"
    if billing_unit_amount is None:
        return "no billing unit"
    return ""


def drug_not_charged_said(drug_name: str, gap: str) -> str:
    """The sentence beside an empty HCPCS code (or billing unit): the drug will not be charged."""
    return (
        f"{drug_name} has {gap}: it will not be charged. Its administration is charged "
        "(96413 ...), the drug itself makes no drug line until the code and billing unit are "
        "added (the coder sees CLAIM-HCPCS only after the visit is signed)."
    )


def drugs_not_billable() -> QuerySet[Drug]:
    """Classified drugs the drug lines cannot bill (no HCPCS code, or no billing unit), with
    their use: `signed_given_count` (signed visits that gave it: charges already short),
    `given_count` (visits open or signed that gave it) and `visit_count` (visits ordering it).
    Those given on signed visits first, then those given, then those ordered, then the rest by
    name. Hydration fluids are left out (not billed in units, as CLAIM-HCPCS leaves them out);
    untagged drugs are on the worklist's own list, their tag form saying it; a retired drug
    only while an order names it (what was ordered of it is still given and billed)."""
    signed = Q(administrations__encounter__status=Encounter.Status.SIGNED)
    return (
        Drug.objects.filter(drug_class__isnull=False)
        .exclude(drug_class=DrugClass.HYDRATION)
        .filter(Q(hcpcs_code="") | Q(billing_unit_amount__isnull=True))
        .annotate(
            visit_count=Count("orders__encounter", distinct=True),
            given_count=Count("administrations__encounter", distinct=True),
            signed_given_count=Count("administrations__encounter", filter=signed, distinct=True),
        )
        .filter(Q(active=True) | Q(visit_count__gt=0))
        .filter(no_drug_line="")  # decided: `drugs_no_line_decided`
        .order_by("-signed_given_count", "-given_count", "-visit_count", "name")
    )


NO_NDC_RECENT_DAYS = 30


def drugs_without_ndc() -> QuerySet[Drug]:
    """Active drugs given or ordered in the last NO_NDC_RECENT_DAYS days with no active NDC in
    the formulary (`DrugNdc.active`): no barcode can match them, so the nurse cannot scan them
    (the chart's Start box says so, the scan report counts their starts apart). With
    `given_count` (administrations started in that time); most given first, then by name."""
    since = timezone.now() - timedelta(days=NO_NDC_RECENT_DAYS)
    recent_given = Q(administrations__start__gte=since)
    return (
        Drug.objects.filter(active=True)
        .exclude(ndcs__active=True)
        .filter(
            Q(pk__in=Administration.objects.filter(start__gte=since).values("drug_id"))
            | Q(pk__in=Order.objects.filter(created_at__gte=since).values("drug_id"))
        )
        .annotate(given_count=Count("administrations", filter=recent_given, distinct=True))
        .order_by("-given_count", "name")
    )


# --- no drug line, by decision ----------------------------------------------------------------
# A drug the drug lines cannot bill may have no drug line on purpose: a packaged drug (OPPS
# status indicator N: its payment is in the procedure's, its pharmacy charge goes under revenue
# code 0250 with no HCPCS code), or one supplied free or by the patient (not charged at all).
# The pharmacist says which and why; the drug then leaves "Not billable", and CLAIM-HCPCS and
# the coder's worklist badge are no longer raised for it. The charges are unchanged: no drug
# line is made, as before, so no run is regenerated. Undone, all is as before the decision.
# A drug that has a code of its own, or a "not otherwise classified" one (J3490, J9999, C9399),
# is given that code instead: it is then billed (mar/README.md "No drug line, by decision").

# The decision's note is a reason in brief, shown whole on the drug's page and the worklist (QA:
# 5,000 characters were kept and shown in full): at most this many characters, said beside it.
NO_LINE_NOTE_MAX = 500

NO_LINE_NOTE_MISSING = (
    'Say why in words (e.g. "packaged under OPPS, status indicator N", "manufacturer supplies '
    'it free"): it is kept with your name, for the coder and an audit.'
)


# Said beside the note too long, by the form (Django's max_length check fills the numbers) and by
# the service alike.
NO_LINE_NOTE_TOO_LONG = (
    "At most %(limit_value)d characters (%(show_value)d typed): say why in brief (e.g. "
    '"packaged under OPPS, status indicator N"). What you typed is kept here to shorten.'
)


def drugs_no_line_decided() -> QuerySet[Drug]:
    """Drugs the drug lines cannot bill whose missing drug line a pharmacist decided (listed on
    the worklist under "No drug line, by decision", each with its reason and an undo), as
    `drugs_not_billable` selects them otherwise; by name."""
    return (
        Drug.objects.filter(drug_class__isnull=False)
        .exclude(drug_class=DrugClass.HYDRATION)
        .filter(Q(hcpcs_code="") | Q(billing_unit_amount__isnull=True))
        .exclude(no_drug_line="")
        .filter(Q(active=True) | Q(pk__in=Order.objects.values("drug_id")))
        .select_related("no_drug_line_by")
        .order_by("name")
    )


@transaction.atomic
def drug_no_line_decide(*, drug: Drug, reason: str, note: str, user: AbstractBaseUser) -> Drug:
    """Record that the drug has no drug line on purpose (`reason` a NoDrugLine value, `note` the
    pharmacist's words): who, when and why on the row and in the audit trail. Refused, beside
    the field, for a drug its drug lines bill (a HCPCS code and a billing unit), an untagged
    drug (its class first) or a hydration fluid (never listed)."""
    locked = Drug.objects.select_for_update().get(pk=drug.pk)
    if reason not in NoDrugLine.values:
        raise ValidationError({"reason": "Choose why the drug has no drug line."})
    note = " ".join(note.split())
    if not note:
        raise ValidationError({"note": NO_LINE_NOTE_MISSING})
    if len(note) > NO_LINE_NOTE_MAX:
        too_long = {"limit_value": NO_LINE_NOTE_MAX, "show_value": len(note)}
        raise ValidationError({"note": NO_LINE_NOTE_TOO_LONG % too_long})
    gap = drug_billing_gap(hcpcs=locked.hcpcs_code, billing_unit_amount=locked.billing_unit_amount)
    if not gap:
        raise ValidationError(
            {
                "reason": f"{locked.name} has a HCPCS code and a billing unit: its drug lines "
                "bill it, there is nothing to decide."
            }
        )
    if locked.drug_class is None:
        raise ValidationError({"reason": f"Tag {locked.name}'s class first."})
    if locked.drug_class == DrugClass.HYDRATION:
        raise ValidationError(
            {"reason": "A hydration fluid makes no drug line and is never listed as not billable."}
        )
    locked.no_drug_line = reason
    locked.no_drug_line_note = note
    locked.no_drug_line_by = user  # type: ignore[assignment]
    locked.no_drug_line_at = timezone.now()
    with history_context(action="drug_no_line_decide", user=user.pk, reason=note):
        locked.save(update_fields=[*NO_LINE_FIELDS])
    return locked


NO_LINE_FIELDS = ("no_drug_line", "no_drug_line_note", "no_drug_line_by", "no_drug_line_at")


def _no_line_moot(drug: Drug) -> list[str]:
    """A decided drug now given its HCPCS code and billing unit (the drug form, the import):
    its drug lines bill it, the decision is cleared with the same save (the fields to save
    with it; the decision stays in the audit trail). Were the code removed again, the drug is
    "Not billable" until a pharmacist decides afresh."""
    if not drug.no_drug_line or drug_billing_gap(
        hcpcs=drug.hcpcs_code, billing_unit_amount=drug.billing_unit_amount
    ):
        return []
    drug.no_drug_line = ""
    drug.no_drug_line_note = ""
    drug.no_drug_line_by = None
    drug.no_drug_line_at = None
    return list(NO_LINE_FIELDS)


@transaction.atomic
def drug_no_line_undo(*, drug: Drug, user: AbstractBaseUser) -> Drug:
    """Undo the decision: the drug is "Not billable" again, CLAIM-HCPCS and the coder's badge
    are raised for it again. Who, when and why it was decided stay in the audit trail."""
    locked = Drug.objects.select_for_update().get(pk=drug.pk)
    if not locked.no_drug_line:
        raise ValidationError(f"{locked.name} has no decision to undo.")
    was = locked.no_drug_line_note
    locked.no_drug_line = ""
    locked.no_drug_line_note = ""
    locked.no_drug_line_by = None
    locked.no_drug_line_at = None
    with history_context(action="drug_no_line_undo", user=user.pk, decided_reason=was):
        locked.save(update_fields=[*NO_LINE_FIELDS])
    return locked


def hcpcs_charge_master_warning(code: str, *, on: date | None = None) -> str:
    """What the pharmacist is told of a drug's HCPCS code the charge master does not price on
    `on` (today in the hospital's zone): beside the drug form's HCPCS field, after its save and
    beside the code on the drug's page while it holds ('' when priced, when the code is empty or
    not a code, or when no charge master is loaded at all: the coder's EDIT-CDM is not raised
    then either). Coding answers through the record's port (`charge_master_standing`): the
    same reading as the coder's worklist, which says "<code> is not in the charge master: no
    revenue code, no price" of the lines. The code is saved all the same: finance keeps the
    charge master and may load it later."""
    code = code.strip().upper()
    if not code or not HCPCS_RE.match(code):
        return ""
    day = on or timezone.localdate()
    standing = charges_port().charge_master_standing(code=code, on=day)
    if not standing.loaded or standing.priced:
        return ""
    lines = "its drug lines carry no revenue code and no price, and the coder's worklist flags them"
    if standing.priced_from is not None:
        return (
            f"{code} is not in the charge master until {standing.priced_from:%Y-%m-%d} (finance "
            f"loaded it from then): until then {lines}."
        )
    if standing.ended_on is not None:
        return (
            f"{code} is no longer in the charge master (not listed since "
            f"{standing.ended_on:%Y-%m-%d}): {lines} until finance lists it again."
        )
    return f"{code} is not in the charge master: {lines} until finance loads it."


def charges_said(regenerated: list[int], flagged: list[int]) -> str:
    """What a pharmacist is told of the charges a formulary change brought up to date, after
    what was saved: ' Charges regenerating for 2 signed encounters. 1 exported run flagged for
    the coder.' ('' when none). The class change's, the billing data's and a package
    correction's messages alike."""
    said = ""
    if regenerated:
        n = len(regenerated)
        said += f" Charges regenerating for {n} signed encounter{'' if n == 1 else 's'}."
    if flagged:
        n = len(flagged)
        said += f" {n} exported run{'' if n == 1 else 's'} flagged for the coder."
    return said


def billing_changes_said(before: dict[str, Any], drug: Drug) -> list[str]:
    """The billing data changed, as the pharmacist and the coder read it ("billing unit 1 mg ->
    4 mg", "container Single-dose container -> Multi-dose container"), not field names and
    stored values (QA: "billing_unit_amount 1.0000 -> 4.")."""

    def unit(amount: Any, name: str) -> str:
        return Drug(billing_unit_amount=amount, billing_unit=name).billing_unit_label or "(none)"

    def container(value: str) -> str:
        return str(Drug.Container(value).label) if value in Drug.Container.values else "not stated"

    said = []
    if before["hcpcs_code"] != drug.hcpcs_code:
        said.append(
            f"HCPCS code {before['hcpcs_code'] or '(none)'} -> {drug.hcpcs_code or '(none)'}"
        )
    was = unit(before["billing_unit_amount"], before["billing_unit"])
    if was != unit(drug.billing_unit_amount, drug.billing_unit):
        said.append(f"billing unit {was} -> {unit(drug.billing_unit_amount, drug.billing_unit)}")
    if before["container"] != drug.container:
        said.append(f"container {container(before['container'])} -> {container(drug.container)}")
    return said


_FOUR_PLACES = Decimal("0.0001")


def _exact_4(value: Fraction) -> Decimal | None:
    """`value` as a Decimal of at most 4 places (the stored fields'), None when it is not one."""
    scaled = value * 10_000
    if scaled.denominator != 1:
        return None
    return Decimal(scaled.numerator).scaleb(-4)


def _package_rescaled(package: DrugNdc, factor: Fraction) -> str:
    """Scale the package's NDC units per billing unit by `factor` (new billing amount / old),
    stored exactly: in the form the pharmacist stated it when that stays exact, else the other
    way round when that one is (0.5 mL per 1 mg restated per 3 mg is 1.5 mL; 6 per mL of a
    1 mg unit restated per 4 mg is 1.5 per mL, per 7 mg 7/6 mL, neither exact: rounded to 4
    places in the form stated, and said). Returns what changed, as the message says it."""
    was_text = _relation_said(package)
    exact = package.ndc_units_per_billing_unit_exact * factor
    forward, inverse = _exact_4(exact), _exact_4(1 / exact)
    stated_inverse = package.billing_units_per_ndc_unit is not None
    rounded = ""
    if inverse is not None and (stated_inverse or forward is None):
        package.units_per_billing_unit, package.billing_units_per_ndc_unit = None, inverse
    elif forward is not None:
        package.units_per_billing_unit, package.billing_units_per_ndc_unit = forward, None
    else:  # neither way exact: the form stated, rounded
        stated = 1 / exact if stated_inverse else exact
        value = (Decimal(stated.numerator) / Decimal(stated.denominator)).quantize(
            _FOUR_PLACES, rounding=ROUND_HALF_UP
        )
        if stated_inverse:
            package.billing_units_per_ndc_unit = value
        else:
            package.units_per_billing_unit = value
        rounded = ", rounded to 4 places: check it"
    package.save(update_fields=["units_per_billing_unit", "billing_units_per_ndc_unit"])
    now_text = _relation_said(package)
    if now_text.split(" ")[:-1] == was_text.split(" ")[:-1]:  # the same form: its value only
        now_text = now_text.rsplit(" ", 1)[1]
    return f"NDC {package.ndc} {was_text} -> {now_text} (scaled with it{rounded})"


def _relation_said(package: DrugNdc) -> str:
    """'units per billing unit 0.5', 'billing units per NDC unit 6' (the form in force)."""
    if package.billing_units_per_ndc_unit is not None:
        return f"billing units per NDC unit {package.billing_units_per_ndc_unit_text}"
    return f"units per billing unit {package.units_per_billing_unit_text}"


def _ndc_quantities_scaled(*, drug: Drug, before: dict[str, Any]) -> list[str]:
    """A billing unit restated in the same unit (1 mg -> 4 mg) takes each package's NDC units
    per billing unit with it (0.1 mL -> 0.4 mL; blank is 1; a package stated as billing units
    per NDC unit the other way: 6 -> 1.5), so a claim's NDC quantity stays what was given (QA:
    10 mg of dexamethasone went out as 0.3 mL once J1100 was made "per 4 mg"); stored exactly
    (`_package_rescaled`). Another unit (mg -> mL) cannot be scaled: nothing is changed and the
    words ask for the packages to be checked."""
    old, new = before["billing_unit_amount"], drug.billing_unit_amount
    if old == new and before["billing_unit"] == drug.billing_unit:
        return []
    packages = list(DrugNdc.objects.select_for_update().filter(drug=drug).order_by("ndc"))
    if not packages:
        return []
    if before["billing_unit"] != drug.billing_unit or not old or not new:
        return ["check the packages' NDC units per billing unit: they were stated per the old unit"]
    factor = Fraction(new) / Fraction(old)
    return [_package_rescaled(package, factor) for package in packages]


def _billing_changed(
    *, drug: Drug, before: dict[str, Any], user: AbstractBaseUser, why: str, reason: str = ""
) -> tuple[list[int], list[int]]:
    """After a change to the drug's billing data, its drug lines are brought up to date like a
    class change: regenerated, or flagged when already exported. The pharmacist's `reason` is
    said after the change, as a class change's is, where the coder reads why the run was made
    (and an exported run's flag)."""
    changed = billing_changes_said(before, drug)
    if not changed:
        return [], []
    changed += _ndc_quantities_scaled(drug=drug, before=before)
    # The record carries the HCPCS code and billing unit (DRUG-DOSE asks every administration
    # of the drug for a billable dose): the open checklists follow, and every record's charges.
    summary_invalidate(drug_id=drug.pk)
    return charges_port().charges_refresh(
        change=FormularyChange(
            administrations=Administration.objects.filter(drug=drug),
            reason=f"Billing data of {drug.name} {why} by {_user_label(user)}: "
            f"{'; '.join(changed)}." + (f" Reason: {reason}" if reason else ""),
            billing_of=drug,
        )
    )


def _ndcs_changed(*, drug: Drug, what: str) -> tuple[list[int], list[int]]:
    """After a change to the drug's NDCs, the drug lines are brought up to date like a change of
    billing data, or their run flagged when already exported: those of records with a scan that
    would group otherwise (a scanned package now listed gets its own line; the doses not
    scanned follow the NDC now preferred), and those whose run would carry another NDC now (a
    run keeps the NDC it was made with: coding/formulary_changes.py)."""
    return charges_port().charges_refresh(
        change=FormularyChange(
            administrations=Administration.objects.filter(drug=drug),
            reason=f"NDCs of {drug.name}: {what}.",
            ndcs_of=drug,
        )
    )


# --- a drug's NDCs ------------------------------------------------------------------------


def _ndc_fields_check(
    *,
    package_description: str,
    unit: str,
    units_per_billing_unit: Decimal | None,
    billing_units_per_ndc_unit: Decimal | None = None,
) -> dict[str, list[str]]:
    """What is wrong with a package's description, NDC unit and its relation to the billing
    unit (NDC units per billing unit, or billing units per NDC unit: one of them, or neither
    for 1), by field: the checks of a package added (`drug_ndc_add`) and corrected
    (`drug_ndc_update`) alike. `package_description` with its spaces folded, as it is
    stored."""
    errors = text_problems(DrugNdc, {"package_description": package_description})
    if unit not in DrugNdc.Unit.values:
        errors["unit"] = [f"The NDC unit is one of {', '.join(DrugNdc.Unit.values)}."]
    if units_per_billing_unit is not None and not (
        units_per_billing_unit.is_finite() and units_per_billing_unit > 0
    ):
        errors["units_per_billing_unit"] = ["A number above zero (blank: 1)."]
    if billing_units_per_ndc_unit is not None and not (
        billing_units_per_ndc_unit.is_finite() and billing_units_per_ndc_unit > 0
    ):
        errors["billing_units_per_ndc_unit"] = ["A number above zero, or blank."]
    elif billing_units_per_ndc_unit is not None and units_per_billing_unit is not None:
        errors["billing_units_per_ndc_unit"] = [NDC_ONE_RELATION]
    return errors


@transaction.atomic
def drug_ndc_add(
    *,
    drug: Drug,
    ndc: str,
    unit: str = DrugNdc.Unit.UN,
    package_description: str = "",
    units_per_billing_unit: Decimal | None = None,
    preferred: bool = False,
    billing_units_per_ndc_unit: Decimal | None = None,
) -> DrugNdc:
    """A package the pharmacy stocks for the drug, by its NDC: what a scan at the bedside is
    matched with (mar/services/scanning.py) and what a drug line's claim carries
    (coding/claim.py). Typed 11 digits (5-4-2) or a labeled 10-digit NDC with its dashes; an NDC
    another drug lists is refused (a scan must name one drug). `preferred` makes it the one a
    drug line carries when the administration names none (the drug's previous one no longer).
    Its relation to the billing unit is stated one way round, `units_per_billing_unit` (NDC
    units in one billing unit) or `billing_units_per_ndc_unit` (billing units in one NDC unit:
    exact where the first is not, 6 per ML of a 6 mg/mL package billed per 1 mg), not both."""
    package_description = " ".join(package_description.split())
    errors = _ndc_fields_check(
        package_description=package_description,
        unit=unit,
        units_per_billing_unit=units_per_billing_unit,
        billing_units_per_ndc_unit=billing_units_per_ndc_unit,
    )
    try:
        code = ndc_normalise(ndc)
    except ValueError as exc:
        errors["ndc"] = [f"{exc}."]
        code = ""
    if code:
        holder = DrugNdc.objects.filter(ndc=code).select_related("drug").first()
        if holder is not None and holder.drug_id == drug.pk and not holder.active:
            errors["ndc"] = [
                f"NDC {ndc_display(code)} is already listed for {drug.name}, retired: "
                "reactivate it in the list above."
            ]
        elif holder is not None and holder.drug_id == drug.pk:
            errors["ndc"] = [f"NDC {ndc_display(code)} is already listed for {drug.name}."]
        elif holder is not None:
            errors["ndc"] = [
                f"NDC {ndc_display(code)} is listed for {holder.drug.name}: one package is one "
                "drug (a scan must name one)."
            ]
    if errors:
        raise ValidationError(errors)
    Drug.objects.select_for_update().filter(pk=drug.pk).first()  # one preferred at a time
    if preferred:
        drug.ndcs.filter(preferred=True).update(preferred=False)
    added = DrugNdc.objects.create(
        drug=drug,
        ndc=code,
        unit=unit,
        package_description=package_description,
        units_per_billing_unit=units_per_billing_unit,
        billing_units_per_ndc_unit=billing_units_per_ndc_unit,
        preferred=preferred,
    )
    _ndcs_changed(
        drug=drug,
        what=f"{added.ndc_display} added{', preferred' if preferred else ''}",
    )
    return added


RETIREMENT_FIELDS = ["active", "retired_at", "retired_by", "retired_reason"]


def _retirement_reason(reason: str, *, what: str) -> str:
    """The reason a drug or a package is retired: required, at most REASON_MAX characters
    (said beside the reason field)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": f"Say why this {what} is retired."})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"At most {REASON_MAX} characters."})
    return reason


def _retired(
    locked: Drug | DrugNdc,
    *,
    reason: str,
    user: AbstractBaseUser,
    action: str,
    also: tuple[str, ...] = (),
) -> None:
    """Retire the locked row: who, when and why kept on it and in the audit trail (`action`)."""
    locked.active = False
    locked.retired_at = timezone.now()
    locked.retired_by = user  # type: ignore[assignment]
    locked.retired_reason = reason
    with history_context(action=action, user=user.pk, reason=reason):
        locked.save(update_fields=[*RETIREMENT_FIELDS, *also])


def _reactivated(locked: Drug | DrugNdc, *, user: AbstractBaseUser, action: str) -> None:
    """Bring the locked row back; the retirement's who, when and why stay in the audit trail
    (the reason it cleared with `action`)."""
    was = locked.retired_reason
    locked.active = True
    locked.retired_at = None
    locked.retired_by = None
    locked.retired_reason = ""
    with history_context(action=action, user=user.pk, retired_reason=was):
        locked.save(update_fields=RETIREMENT_FIELDS)


def _ndc_locked(ndc: DrugNdc) -> DrugNdc:
    """The NDC's row, locked with its drug's (one preferred NDC at a time, as drug_ndc_add)."""
    Drug.objects.select_for_update().filter(pk=ndc.drug_id).first()
    return DrugNdc.objects.select_for_update().select_related("drug").get(pk=ndc.pk)


@transaction.atomic
def drug_ndc_retire(*, ndc: DrugNdc, reason: str, user: AbstractBaseUser) -> DrugNdc:
    """Retire a package the pharmacy no longer stocks, with a reason (who, when and why are kept
    on the row and in the audit trail).

    The row stays: a scan of it at the bedside stops with "retired" (mar/services/scanning.py),
    and the administrations given from it keep billing it (coding/claim.py `ndc_choice` takes
    the NDC an administration names, active or not). A retired NDC is never the preferred one
    (a drug line with no scanned NDC would carry a package no longer stocked): it stops being
    preferred, and no other is chosen in its place: until a pharmacist makes one preferred,
    such lines not yet billed carry the drug's first active NDC (a signed record whose run
    carried the retired one is charged again, `_ndcs_changed`; a line already billed keeps the
    NDC it was billed with, retired or not: the row stays listed).
    """
    reason = _retirement_reason(reason, what="package")
    locked = _ndc_locked(ndc)
    if not locked.active:
        raise ValidationError(f"NDC {locked.ndc_display} is already retired.")
    locked.preferred = False
    _retired(locked, reason=reason, user=user, action="drug_ndc_retire", also=("preferred",))
    _ndcs_changed(
        drug=locked.drug, what=f"{locked.ndc_display} retired by {_user_label(user)} ({reason})"
    )
    return locked


@transaction.atomic
def drug_ndc_reactivate(*, ndc: DrugNdc, user: AbstractBaseUser) -> DrugNdc:
    """Stock a retired package again: scans of it match again. It does not become preferred
    again by itself (the pharmacist chooses, `drug_ndc_prefer`); the retirement's who, when and
    why stay in the audit trail."""
    locked = _ndc_locked(ndc)
    if locked.active:
        raise ValidationError(f"NDC {locked.ndc_display} is not retired.")
    _reactivated(locked, user=user, action="drug_ndc_reactivate")
    _ndcs_changed(drug=locked.drug, what=f"{locked.ndc_display} reactivated by {_user_label(user)}")
    return locked


@transaction.atomic
def drug_ndc_prefer(*, ndc: DrugNdc, user: AbstractBaseUser) -> DrugNdc:
    """Make this NDC the one a drug line carries when the administration names none (the
    drug's previous preferred one no longer is). A retired NDC is refused: reactivate it first.

    A run's drug lines carry the NDC the run was made with (coding/claim.py
    `formulary_snapshot`): a signed record whose drug line not yet billed carried the previous
    one (no NDC scanned) is charged again and carries the new one; a line already billed keeps
    the NDC it was billed with while the drug lists it (nothing is re-sent for reference data,
    coding/ledger.py). On a record with a scan the doses not scanned group with the scanned
    doses of the NDC the claim carries for them: a signed record whose lines grouped under
    another one is charged again. A run already exported is flagged, never charged again
    (`_ndcs_changed`)."""
    locked = _ndc_locked(ndc)
    if not locked.active:
        raise ValidationError(
            f"NDC {locked.ndc_display} is retired: reactivate it before making it preferred."
        )
    if locked.preferred:
        raise ValidationError(f"NDC {locked.ndc_display} is already the preferred one.")
    with history_context(action="drug_ndc_prefer", user=user.pk):
        DrugNdc.objects.filter(drug_id=locked.drug_id, preferred=True).update(preferred=False)
        locked.preferred = True
        locked.save(update_fields=["preferred"])
    _ndcs_changed(
        drug=locked.drug, what=f"{locked.ndc_display} made preferred by {_user_label(user)}"
    )
    return locked


# What a correction of a package may change (its NDC stays: another NDC is another package,
# added as a new row), with the words a message and the audit trail use for each.
NDC_CORRECTED = {
    "package_description": "package",
    "unit": "NDC unit",
    "units_per_billing_unit": "NDC units per billing unit",
    "billing_units_per_ndc_unit": "billing units per NDC unit",
}


def _ndc_value_text(name: str, value: Any, values: dict[str, Any]) -> str:
    """A corrected field's value as the page shows it ("(none)" for no description, the NDC
    units per billing unit as "0.5", blank as "1" unless the billing units per NDC unit is the
    one in force, then "(none)"); `values`: the package's fields beside it, as they stand or as
    typed."""
    if name == "units_per_billing_unit":
        if value is None and values.get("billing_units_per_ndc_unit") is not None:
            return "(none)"
        return DrugNdc(units_per_billing_unit=value).units_per_billing_unit_text
    if name == "billing_units_per_ndc_unit":
        return DrugNdc(billing_units_per_ndc_unit=value).billing_units_per_ndc_unit_text or "(none)"
    return str(value) if value else "(none)"


@dataclass(frozen=True)
class NdcCorrection:
    """A package corrected (`drug_ndc_update`): the row, what changed (field: (old, new) as the
    page shows them), and the charges brought up to date (regenerated encounter ids, exported
    runs flagged for the coder)."""

    ndc: DrugNdc
    changes: dict[str, tuple[str, str]]
    regenerated: list[int]
    flagged: list[int]

    @property
    def said(self) -> str:
        """'NDC unit ML -> UN; NDC units per billing unit 0.1667 -> 0.2'."""
        return "; ".join(
            f"{NDC_CORRECTED[name]} {old} -> {new}" for name, (old, new) in self.changes.items()
        )


@transaction.atomic
def drug_ndc_update(
    *,
    ndc: DrugNdc,
    package_description: str,
    unit: str,
    units_per_billing_unit: Decimal | None,
    reason: str,
    user: AbstractBaseUser,
    billing_units_per_ndc_unit: Decimal | None = None,
) -> NdcCorrection:
    """Correct a package's description, NDC unit and NDC units per billing unit (a label read
    wrong when it was added), with a reason; the NDC itself stays (a different NDC is another
    package: `drug_ndc_add`). Active or retired alike: what was given from a retired package
    still bills it.

    Checked as a package added is (`_ndc_fields_check`), every problem at once beside its field,
    the reason required (at most REASON_MAX characters); a correction that changes nothing is
    refused. In the audit trail with `action` `drug_ndc_update`, the user, the reason and each
    field's old and new value (`changes`). The drug lines are then brought up to date as after
    any change of the drug's NDCs (`_ndcs_changed`): a signed record whose run, not exported,
    carried the package with its old unit or quantity is charged again; an exported run is
    flagged for the coder, never replaced."""
    package_description = " ".join(package_description.split())
    errors = _ndc_fields_check(
        package_description=package_description,
        unit=unit,
        units_per_billing_unit=units_per_billing_unit,
        billing_units_per_ndc_unit=billing_units_per_ndc_unit,
    )
    try:
        reason = _reason_required(
            reason,
            missing="Say why the package is corrected (the label read again, the supplier's "
            "listing): the reason is kept.",
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    locked = _ndc_locked(ndc)
    typed = {
        "package_description": package_description,
        "unit": unit,
        "units_per_billing_unit": units_per_billing_unit,
        "billing_units_per_ndc_unit": billing_units_per_ndc_unit,
    }
    stored = {name: getattr(locked, name) for name in typed}
    changes = {
        name: (_ndc_value_text(name, stored[name], stored), _ndc_value_text(name, value, typed))
        for name, value in typed.items()
        if _ndc_value_text(name, stored[name], stored) != _ndc_value_text(name, value, typed)
    }
    if not changes:
        raise ValidationError(
            f"Nothing to correct: NDC {locked.ndc_display}'s package, NDC unit and units per "
            "billing unit are already as typed."
        )
    for name in changes:
        setattr(locked, name, typed[name])
    with history_context(
        action="drug_ndc_update",
        user=user.pk,
        reason=reason,
        changes={name: list(values) for name, values in changes.items()},
    ):
        locked.save(update_fields=list(changes))
    correction = NdcCorrection(ndc=locked, changes=changes, regenerated=[], flagged=[])
    regenerated, flagged = _ndcs_changed(
        drug=locked.drug,
        what=f"{locked.ndc_display} corrected by {_user_label(user)}: {correction.said} ({reason})",
    )
    return NdcCorrection(ndc=locked, changes=changes, regenerated=regenerated, flagged=flagged)


# --- a drug's allergy classes ---------------------------------------------------------------

_ALLERGY_CLASSES_MAX = Drug._meta.get_field("allergy_classes").max_length or 300


def allergy_classes_clean(value: str) -> tuple[str, list[str]]:
    """'Penicillin, beta-lactam;; penicillin' -> ('Penicillin; beta-lactam', []): each class
    once (any case), '; '-separated, and the problems found. A class the allergy matcher would
    not read (mar/services/safety.py: shorter than `TERM_MIN` letters once a bracket and words
    like "rash" are taken out) is refused, never kept to match nothing."""
    kept: list[str] = []
    problems: list[str] = []
    for part in re.split(r"[;,\n]+", value):
        part = " ".join(part.split())
        if not part or part.casefold() in (k.casefold() for k in kept):
            continue
        if not allergy_terms(part):
            problems.append(
                f"{part!r} is too short to match an allergy: write the class out "
                f"({TERM_MIN} letters at least, e.g. 'penicillin', 'NSAID')."
            )
        kept.append(part)
    cleaned = "; ".join(kept)
    if len(cleaned) > _ALLERGY_CLASSES_MAX:
        problems.append(f"At most {_ALLERGY_CLASSES_MAX} characters.")
    return cleaned, problems


@transaction.atomic
def drug_allergy_classes_set(*, drug: Drug, allergy_classes: str, user: AbstractBaseUser) -> Drug:
    """Set the drug's allergy classes ("penicillin; beta-lactam"; empty: none): what a patient's
    allergy is matched against besides the drug's name and synonyms, at order entry, in the
    pharmacist's queue and review, and at the start (mar/services/safety.py
    `allergy_conflicts`). Typed with ',' or ';' between classes; stored '; '-separated, each
    class once. Refused beside the field: a class too short to match, too long, or nothing
    changed. In the audit trail with `action` `drug_allergy_classes_set`, the user and the old
    and new value (`changes`); no reason is asked (a formulary fact, as the synonyms)."""
    cleaned, problems = allergy_classes_clean(allergy_classes)
    if problems:
        raise ValidationError({"allergy_classes": problems})
    locked = Drug.objects.select_for_update().get(pk=drug.pk)
    before = locked.allergy_classes
    if cleaned == before:
        raise ValidationError(
            {
                "allergy_classes": [
                    f"Nothing to change: {locked.name}'s allergy classes are already "
                    f"{before or '(none)'}."
                ]
            }
        )
    locked.allergy_classes = cleaned
    with history_context(
        action="drug_allergy_classes_set",
        user=user.pk,
        changes={"allergy_classes": [before, cleaned]},
    ):
        locked.save(update_fields=["allergy_classes"])
    drug.allergy_classes = cleaned
    return locked


# --- maximum single dose --------------------------------------------------------------------

# The units a maximum single dose is kept in: those a fixed dose is ordered in that can be
# compared (mar/services/dose_check.py converts g/mg/mcg and L/mL; units, mEq, mmol as they are).
MAX_DOSE_UNITS = ("mg", "g", "mcg", "mL", "L", "units", "mEq", "mmol")

# A unit chosen with no amount is refused (QA: "16 mg → (none)" when the amount was cleared and
# the unit left): a maximum is removed only with both left empty, on purpose.
MAX_DOSE_AMOUNT_MISSING = "Give the amount, or clear the unit to remove the maximum."


@transaction.atomic
def drug_max_dose_set(
    *, drug: Drug, amount: Decimal | None, unit: str, user: AbstractBaseUser
) -> Drug:
    """Set the formulary's maximum single dose of the drug (`amount` `unit`; amount None: none
    kept): an order of a fixed dose above it is warned of at order entry (the person confirms
    it) and flagged on the pharmacist's queue (DOSE-MAX, mar/services/dose_check.py). Refused
    beside the field: an amount not above zero, a unit not of MAX_DOSE_UNITS or of another kind
    than the drug is dosed in (a fluid's maximum in mg), a unit with no amount (removing the
    maximum is both left empty: MAX_DOSE_AMOUNT_MISSING), nothing changed. In the audit trail
    with `action` `drug_max_dose_set` and the old and new value; no reason asked (a formulary
    fact, as the allergy classes)."""
    unit = unit.strip()
    problems: dict[str, list[str]] = {}
    if amount is None and unit:
        problems["max_dose_amount"] = [MAX_DOSE_AMOUNT_MISSING]
    if amount is not None and amount <= 0:
        problems["max_dose_amount"] = ["The maximum is an amount above zero (or empty: none)."]
    if amount is not None and unit not in MAX_DOSE_UNITS:
        problems["max_dose_unit"] = [f"Choose the unit: {', '.join(MAX_DOSE_UNITS)}."]
    elif amount is not None and (words := dose_check.dose_unit_warning(drug, unit)):
        problems["max_dose_unit"] = [words.replace("Check the unit.", "Give it in that unit.")]
    if problems:
        raise ValidationError(problems)
    locked = Drug.objects.select_for_update().get(pk=drug.pk)
    before = dose_check.max_dose_label(locked)
    locked.max_dose_amount, locked.max_dose_unit = amount, unit
    after = dose_check.max_dose_label(locked)
    if before == after:
        raise ValidationError(
            {
                "max_dose_amount": [
                    f"Nothing to change: {locked.name}'s maximum single dose is already "
                    f"{before or '(none)'}."
                ]
            }
        )
    with history_context(
        action="drug_max_dose_set", user=user.pk, changes={"max_dose": [before, after]}
    ):
        locked.save(update_fields=["max_dose_amount", "max_dose_unit"])
    drug.max_dose_amount, drug.max_dose_unit = amount, unit
    return locked


def _max_by_body_problems(
    drug: Drug, field: str, amount: Decimal | None, unit: str
) -> dict[str, list[str]]:
    """The refusals of one maximum by body size (`field`: max_dose_per_kg or max_dose_per_m2),
    by its form's field: a unit with no amount too (MAX_DOSE_AMOUNT_MISSING)."""
    problems: dict[str, list[str]] = {}
    if amount is None:
        if unit:
            problems[f"{field}_amount"] = [MAX_DOSE_AMOUNT_MISSING]
        return problems
    if amount <= 0:
        problems[f"{field}_amount"] = ["The maximum is an amount above zero (or empty: none)."]
    if unit not in MAX_DOSE_UNITS:
        problems[f"{field}_unit"] = [f"Choose the unit: {', '.join(MAX_DOSE_UNITS)}."]
    elif words := dose_check.dose_unit_warning(drug, unit):
        problems[f"{field}_unit"] = [words.replace("Check the unit.", "Give it in that unit.")]
    return problems


@transaction.atomic
def drug_max_dose_by_body_set(
    *,
    drug: Drug,
    per_kg_amount: Decimal | None,
    per_kg_unit: str,
    per_m2_amount: Decimal | None,
    per_m2_unit: str,
    user: AbstractBaseUser,
) -> Drug:
    """Set the formulary's maximum single dose of the drug by body size: per kg of body weight
    (`per_kg_amount` `per_kg_unit`/kg) and per m² of body surface area (`per_m2_amount`
    `per_m2_unit`/m²); an amount None: none kept. A fixed dose ordered above the maximum × the
    weight (BSA) recorded for the visit is warned of at order entry (the person confirms it);
    with no weight (height) recorded, order entry says it cannot be checked and the
    pharmacist's queue flags the order (DOSE-MAX, mar/services/dose_check.py). Refused beside
    the field: an amount not above zero, a unit not of MAX_DOSE_UNITS or of another kind than
    the drug is dosed in, a unit with no amount (a maximum is removed with both its fields
    left empty), nothing changed. In the audit trail with `action`
    `drug_max_dose_by_body_set` and the old and new value of each maximum changed."""
    per_kg_unit = per_kg_unit.strip()
    per_m2_unit = per_m2_unit.strip()
    problems = {
        **_max_by_body_problems(drug, "max_dose_per_kg", per_kg_amount, per_kg_unit),
        **_max_by_body_problems(drug, "max_dose_per_m2", per_m2_amount, per_m2_unit),
    }
    if problems:
        raise ValidationError(problems)
    locked = Drug.objects.select_for_update().get(pk=drug.pk)
    before = (dose_check.max_dose_per_kg_label(locked), dose_check.max_dose_per_m2_label(locked))
    locked.max_dose_per_kg_amount, locked.max_dose_per_kg_unit = per_kg_amount, per_kg_unit
    locked.max_dose_per_m2_amount, locked.max_dose_per_m2_unit = per_m2_amount, per_m2_unit
    after = (dose_check.max_dose_per_kg_label(locked), dose_check.max_dose_per_m2_label(locked))
    changes = {
        name: [old, new]
        for name, old, new in zip(
            ("max_dose_per_kg", "max_dose_per_m2"), before, after, strict=True
        )
        if old != new
    }
    if not changes:
        raise ValidationError(
            {
                "max_dose_per_kg_amount": [
                    f"Nothing to change: {locked.name}'s maximum single dose by body size is "
                    f"already {' and '.join(label for label in after if label) or '(none)'}."
                ]
            }
        )
    with history_context(action="drug_max_dose_by_body_set", user=user.pk, changes=changes):
        locked.save(
            update_fields=[
                "max_dose_per_kg_amount",
                "max_dose_per_kg_unit",
                "max_dose_per_m2_amount",
                "max_dose_per_m2_unit",
            ]
        )
    drug.max_dose_per_kg_amount, drug.max_dose_per_kg_unit = per_kg_amount, per_kg_unit
    drug.max_dose_per_m2_amount, drug.max_dose_per_m2_unit = per_m2_amount, per_m2_unit
    return locked


# --- retiring a drug ------------------------------------------------------------------------


@transaction.atomic
def drug_retire(*, drug: Drug, reason: str, user: AbstractBaseUser) -> Drug:
    """Retire a drug the hospital no longer stocks or uses from the formulary, with a reason
    (who, when and why are kept on the row and in the audit trail).

    A new order of it is refused, saying so and why (mar/pharmacy/retired.py: order entry, HL7,
    FHIR), and order entry no longer suggests it. The row stays, listed in the formulary: the
    orders already written of it are still started and charted at the bedside, a scan of one of
    its NDCs still names it, and what was given of it is billed as before (its NDCs and billing
    data are left as they are)."""
    reason = _retirement_reason(reason, what="drug")
    locked = Drug.objects.select_for_update().get(pk=drug.pk)
    if not locked.active:
        raise ValidationError(f"{locked.name} is already retired.")
    _retired(locked, reason=reason, user=user, action="drug_retire")
    return locked


@transaction.atomic
def drug_reactivate(*, drug: Drug, user: AbstractBaseUser) -> Drug:
    """Bring a retired drug back to the formulary: new orders of it are taken again. The
    retirement's who, when and why stay in the audit trail."""
    locked = Drug.objects.select_for_update().get(pk=drug.pk)
    if locked.active:
        raise ValidationError(f"{locked.name} is not retired.")
    _reactivated(locked, user=user, action="drug_reactivate")
    return locked


# --- orders naming a drug -----------------------------------------------------------------


def drug_for_name(*, name: str) -> Drug:
    """The formulary drug a new order names, by name or synonym (any case); a new, untagged drug
    when nothing matches, so it shows on the pharmacist's worklist at once.

    Its callers (the FHIR import's MedicationRequest, `order_create`) make a new order of it, so
    a retired drug is refused (DrugRetired, on "drug", saying when and why), never handed back
    and never shadowed by a new drug of the same name or synonym. A synonym an active drug
    shares with a retired one names the active one."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"drug": "Name the drug."})
    if problems := text_problems(Drug, {"name": name}):
        raise ValidationError({"drug": problems["name"]})
    found = Drug.objects.filter(name__iexact=name).order_by("pk").first()
    if found is not None:
        return drug_retired_check(found)
    folded = name.casefold()
    for drug in Drug.objects.filter(synonyms__icontains=name).order_by("-active", "pk"):
        if any(part.strip().casefold() == folded for part in drug.synonyms.split(";")):
            return drug_retired_check(drug)
    # get_or_create: two orders naming the same new drug at once make one Drug.
    drug, _created = Drug.objects.get_or_create(name=name, defaults={"drug_class": None})
    return drug_retired_check(drug)


@transaction.atomic
def order_create(
    *,
    encounter: Encounter,
    drug_name: str,
    dose: str = "",
    route: str = "iv",
    indication: str = "",
    purpose: str = "",
    ordering_provider: str = "",
    duration_minutes: int | None = None,
) -> Order:
    """An order on an in-progress encounter; an unknown drug name adds an untagged drug."""
    if encounter.status == Encounter.Status.SIGNED:
        raise ValidationError("This record is signed; changes go through an addendum.")
    summary_invalidate(encounter_ids=[encounter.pk])
    return Order.objects.create(
        encounter=encounter,
        drug=drug_for_name(name=drug_name),
        dose=dose,
        route=route,
        indication=indication,
        purpose=purpose,
        ordering_provider=ordering_provider,
        duration_minutes=duration_minutes,
    )


# --- CSV import and export ----------------------------------------------------------------


class FormularyImportError(ValidationError):
    """The file was refused; `errors` lists every bad row with its line number."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__([str(error) for error in errors])


@dataclass(frozen=True)
class ImportBillingChange:
    """A drug already in the formulary whose billing data (HCPCS code, billing unit, container) a
    file's row changes: its line, its name and each change as the pages say it ("HCPCS code
    J9267 -> J9268"), and the audit trail's old and new value by field (`fields`)."""

    line: int
    name: str
    said: tuple[str, ...]
    fields: dict[str, list[str]]

    @property
    def shown(self) -> list[str]:
        """Each change as the page shows it: 'HCPCS code J9267 → J9268'."""
        return [said.replace(" -> ", " → ") for said in self.said]


IMPORT_BILLING_REASON_MISSING = (
    "Say why these billing data change: the reason is kept with each drug's change, and the "
    "coders read it with the charges it brings up to date."
)


class ImportReasonNeeded(ValidationError):
    """The file changes billing data of drugs already in the formulary and no reason was given
    (or one past REASON_MAX): nothing was imported. `changes` lists them, for the page to show
    with the reason's field (`message`, said beside it)."""

    def __init__(self, changes: list[ImportBillingChange], message: str) -> None:
        self.changes = changes
        super().__init__({"reason": [message]})


def _import_billing_changes(
    rows: list[FormularyRow], existing: dict[str, Drug]
) -> list[ImportBillingChange]:
    """The rows that change an existing drug's billing data, in the file's order: a row's HCPCS
    code, billing unit, and container when the file has the column (without it a drug's
    container is left as it is)."""
    changes = []
    for row in rows:
        drug = existing.get(row.name.casefold())
        if drug is None:
            continue
        before = {name: getattr(drug, name) for name in BILLING_FIELDS}
        typed = Drug(
            hcpcs_code=row.hcpcs_code,
            billing_unit_amount=row.billing_unit_amount,
            billing_unit=row.billing_unit,
            container=row.container if row.container is not None else drug.container,
        )
        said = billing_changes_said(before, typed)
        if said:
            was, now = _billing_text(drug), _billing_text(typed)
            fields = {key: [was[key], now[key]] for key in was if was[key] != now[key]}
            changes.append(ImportBillingChange(row.line, drug.name, tuple(said), fields))
    return changes


def formulary_import_billing_changes(*, data: str | bytes) -> list[ImportBillingChange]:
    """What `formulary_import` would change of the billing data of drugs already in the
    formulary, read without writing anything (FormularyImportError when a row is bad): the
    import page lists them beside the reason it asks."""
    rows, errors = formulary_rows_read(data)
    if errors:
        raise FormularyImportError(errors)
    existing = {drug.name.casefold(): drug for drug in Drug.objects.all()}
    return _import_billing_changes(rows, existing)


def import_billing_reason(reason: str, line: int) -> str:
    """The reason a drug's billing change by import is kept with (its audit trail, the coder's
    "Why this run was made"): the pharmacist's one reason for the file, and the row's line."""
    return f"{reason} (imported, line {line})"


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int
    reclassified: int
    # By name, in the file's order: the drugs the import retired (`drug_retire`); the retired
    # drugs whose row had empty retirement columns (they stay retired); the retired drugs whose
    # row stated another retirement than the one recorded (the recorded one stays).
    retired: tuple[str, ...] = ()
    stays_retired: tuple[str, ...] = ()
    retirement_kept: tuple[str, ...] = ()
    # By name, in the file's order: the drugs already in the formulary whose billing data the
    # import changed, with the one reason given for them.
    billing_changed: tuple[str, ...] = ()

    @property
    def notes(self) -> list[str]:
        """What the pharmacist is told beside the counts, so no retirement is left unsaid."""
        notes = []
        if self.billing_changed:
            notes.append(
                f"Billing data changed, with your reason: {', '.join(self.billing_changed)}."
            )
        if self.retired:
            notes.append(f"Retired today: {', '.join(self.retired)}.")
        notes += [
            f"{name} stays retired: reactivate it on its page." for name in self.stays_retired
        ]
        notes += [
            f"{name} stays retired as recorded: an import does not change a retirement "
            "(reactivate it on its page, then retire it again)."
            for name in self.retirement_kept
        ]
        return notes


def _row_retires(row: FormularyRow, drug: Drug | None) -> bool:
    """The row retires its drug: it states a retirement, and the drug is new or active."""
    return row.retired_on is not None and (drug is None or drug.active)


def _retire_imported(drug: Drug, row: FormularyRow, *, user: AbstractBaseUser) -> None:
    """Retire the drug a row marks retired with `drug_retire`, the drug page's service (who,
    when and why on the drug; in the audit trail its action and reason), in a history context
    of its own: the import's other changes, in the same request, are not labelled with this
    retirement, nor another retirement with its reason (mar/audit/context.py)."""
    with history_context_apart():
        drug_retire(drug=drug, reason=row.retired_reason, user=user)


@transaction.atomic
def formulary_import(
    *, data: str | bytes, user: AbstractBaseUser, billing_reason: str = ""
) -> ImportSummary:
    """Import a formulary CSV: every row is checked first, then all are written in one
    transaction, or none (FormularyImportError lists each bad row with its line number).

    Drugs are matched by name (any case). A changed class goes through the same path as a
    pharmacist's class change (recorded, charges regenerated); an empty class leaves an
    untagged drug untagged but cannot untag a tagged one. A drug's first class (a new drug's, or
    an untagged drug's) needs its evidence in the note column, as `drug_classify` does: a row
    without it is refused, with its line. The container column is optional:
    when the file has it, each row's value (empty: not stated) is written; when not, each
    drug's container is left as it is.

    The retirement columns (retired_on, retired_reason) are optional too. A row stating a
    retirement of an active (or new) drug retires it through `drug_retire`, as its page does
    (who, when and why on the drug and in the audit trail; retired now: the date is not
    back-dated). A retired drug stays retired whatever its row says (only `drug_reactivate`, on
    its page, brings it back): the summary names those whose row has empty retirement columns
    (`stays_retired`) or another retirement than the recorded one (`retirement_kept`). A file
    without the columns says nothing of retirement: a retired drug it names is updated and
    stays retired, unnamed. A retired drug the file leaves out stays listed as it is.
    """
    rows, errors = formulary_rows_read(data)
    if errors:
        raise FormularyImportError(errors)

    # The whole formulary is locked: two imports at once apply one after the other.
    existing = {drug.name.casefold(): drug for drug in Drug.objects.select_for_update()}
    for row in rows:
        drug = existing.get(row.name.casefold())
        if drug is not None and drug.drug_class and row.drug_class is None:
            errors.append(
                RowError(
                    row.line,
                    f"{drug.name} is tagged {drug.drug_class}: an import cannot untag it",
                )
            )
        if row.drug_class and (drug is None or not drug.drug_class) and not row.note.strip():
            errors.append(
                RowError(
                    row.line,
                    f"{drug.name if drug is not None else row.name} is given its first class "
                    f"({row.drug_class}) with the note column empty: {EVIDENCE_MISSING}",
                )
            )
        if _row_retires(row, drug) and len(row.retired_reason) > REASON_MAX:
            # drug_retire's own limit, said on the row before anything is written.
            errors.append(
                RowError(row.line, f"retired_reason is longer than {REASON_MAX} characters")
            )
    if errors:
        raise FormularyImportError(errors)
    billing_changes = {change.line: change for change in _import_billing_changes(rows, existing)}
    billing_reason = billing_reason.strip()
    if billing_changes and not billing_reason:
        raise ImportReasonNeeded(list(billing_changes.values()), IMPORT_BILLING_REASON_MISSING)
    if billing_changes and len(billing_reason) > REASON_MAX:
        raise ImportReasonNeeded(
            list(billing_changes.values()), f"At most {REASON_MAX} characters."
        )

    created = updated = unchanged = reclassified = 0
    # New drugs in bulk (a 10,000-row file in seconds, not past the web timeout): each with its
    # class and the DrugClassChange a tagging records, as _drug_class_set would; a new drug has
    # no administrations, so it has no charges to refresh.
    now = timezone.now()
    new_rows = [row for row in rows if row.name.casefold() not in existing]
    new_drugs = Drug.objects.bulk_create(
        [
            Drug(
                name=row.name,
                synonyms=row.synonyms,
                hcpcs_code=row.hcpcs_code,
                billing_unit_amount=row.billing_unit_amount,
                billing_unit=row.billing_unit,
                class_note=row.note,
                **({"container": row.container} if row.container is not None else {}),
                **(
                    {"drug_class": row.drug_class, "class_tagged_by": user, "class_tagged_at": now}
                    if row.drug_class
                    else {}
                ),
            )
            for row in new_rows
        ],
        batch_size=1000,
    )
    DrugClassChange.objects.bulk_create(
        [
            DrugClassChange(
                drug=drug,
                from_class=None,
                to_class=row.drug_class,
                reason=_import_reason(row),
                by=user,
            )
            for row, drug in zip(new_rows, new_drugs, strict=True)
            if row.drug_class
        ],
        batch_size=1000,
    )
    created = len(new_drugs)
    created_drugs = {
        row.name.casefold(): drug for row, drug in zip(new_rows, new_drugs, strict=True)
    }
    retired: list[str] = []
    stays_retired: list[str] = []
    retirement_kept: list[str] = []
    for row in rows:
        if row.name.casefold() not in existing:  # created above; retired now if it says so
            if _row_retires(row, None):
                _retire_imported(created_drugs[row.name.casefold()], row, user=user)
                retired.append(row.name)
            continue
        fields: dict[str, Any] = {
            "synonyms": row.synonyms,
            "hcpcs_code": row.hcpcs_code,
            "billing_unit_amount": row.billing_unit_amount,
            "billing_unit": row.billing_unit,
            "class_note": row.note,
        }
        if row.container is not None:  # a file without the column leaves containers alone
            fields["container"] = row.container
        drug = existing[row.name.casefold()]
        changed = [name for name, value in fields.items() if getattr(drug, name) != value]
        before = {name: getattr(drug, name) for name in BILLING_FIELDS}
        for name in changed:
            setattr(drug, name, fields[name])
        billing = billing_changes.get(row.line)
        audited: contextlib.AbstractContextManager[Any] = (
            history_context_apart(
                action="drug_billing_update",
                reason=import_billing_reason(billing_reason, row.line),
                changes=billing.fields,
            )
            if billing is not None
            else contextlib.nullcontext()
        )
        changed += _no_line_moot(drug)
        if changed:
            with audited:
                drug.save(update_fields=changed)
        if row.drug_class and row.drug_class != drug.drug_class:
            _drug_class_set(
                drug=drug,
                to_class=row.drug_class,
                reason=_import_reason(row),
                user=user,
            )
            reclassified += 1
            updated += 1
        elif changed or _row_retires(row, drug):
            updated += 1
        else:
            unchanged += 1
        if changed:
            # After the class: a run both change is the class change's (the record carries the
            # billing data too, so the billing change's own regeneration then finds it current).
            with (
                history_context_apart(
                    action="drug_billing_update",
                    reason=import_billing_reason(billing_reason, row.line),
                )
                if billing is not None
                else contextlib.nullcontext()
            ):
                _billing_changed(
                    drug=drug,
                    before=before,
                    user=user,
                    why=f"imported (line {row.line})",
                    reason=billing_reason if billing is not None else "",
                )
        if not row.retirement_said:
            continue  # an older file: the retirement is left as it is, unsaid
        if _row_retires(row, drug):
            _retire_imported(drug, row, user=user)
            retired.append(drug.name)
        elif drug.active:
            continue
        elif row.retired_on is None:
            stays_retired.append(drug.name)
        elif (row.retired_on.isoformat(), row.retired_reason) != retirement_cells(drug):
            retirement_kept.append(drug.name)
    return ImportSummary(
        created=created,
        updated=updated,
        unchanged=unchanged,
        reclassified=reclassified,
        retired=tuple(retired),
        stays_retired=tuple(stays_retired),
        retirement_kept=tuple(retirement_kept),
        billing_changed=tuple(change.name for change in billing_changes.values()),
    )


def formulary_export() -> str:
    """The whole formulary as CSV text, in the columns `formulary_import` reads."""
    return formulary_csv_write(Drug.objects.order_by("name"))
