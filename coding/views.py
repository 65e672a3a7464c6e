"""The coder's pages: worklist, review of one encounter, exports and reports.

Every action is a plain form POST answered by a redirect (works without JavaScript); a refused
form comes back on the review page itself, its errors beside its fields and what was typed kept.
The state changes are the services of coding/review.py and coding/exports.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from coding import review_reads
from coding.chargemaster import BEGINNING, charge_master_for
from coding.claim import (
    claim_details,
    claim_findings,
    money_total,
    ndc_exact,
    ndc_missing,
    record_facts,
)
from coding.class_after_export import (
    class_change_preview,
    class_change_rerun,
    class_change_stands,
    under_now,
)
from coding.corrections import (
    DECIDED,
    correction_decision_undo,
    correction_rereview,
    correction_resolve,
)
from coding.engine import RecordError, code_record, parse_record
from coding.exports import EXPORT_FORMATS, export_create, sendable
from coding.forms import (
    KNOWN_RULES,
    ClassRerunForm,
    ClassStandsForm,
    CorrectionResolveForm,
    CorrectionUndoForm,
    DateRangeForm,
    EditOverrideForm,
    LineAddForm,
    LineBackForm,
    LineCorrectForm,
    QueryForm,
    QueryWithdrawForm,
    WorklistFilterForm,
)
from coding.ledger import ledger_difference, ndc_changes, ndc_label, sent_without_account
from coding.models import (
    ChargeCorrection,
    ChargeFinding,
    ChargeLine,
    ChargeRun,
    ClassChangeAfterExport,
    DocumentationQuery,
    Export,
    ReviewItem,
)
from coding.payer_views import may_edit_policy
from coding.reports import findings_by_nurse_and_unit, findings_by_rule, reconciliation
from coding.review import (
    addenda_since,
    changed_in_review,
    charge_edits_for_run,
    charge_line_back,
    charge_line_correct,
    edit_override_create,
    effective_lines,
    line_backs,
    queries_finding_back,
    query_send,
    query_withdraw,
    review_accept,
    review_claim,
    review_release,
    review_reopen,
    run_when_claimed,
)
from coding.run_changes import (
    acceptance_history,
    changes_since_preceding,
    gone_label,
    last_reviewed,
    reasons_since,
    review_acts,
    run_numbers,
    runs_between,
)
from coding.worklist_charges import changed_since_review, run_charges
from coding.worklist_rows import rows_html
from mar import chart_reads
from mar.clock import hhmm
from mar.forms import apply_validation_error
from mar.long_text import text_head
from mar.models import Administration, Encounter
from mar.paging import page_of_ids
from mar.record import administration_record_id
from mar.roles import CODER, role_required
from mar.timeline import build_timeline, has_rates, rate_corrections

WORKLIST_PAGE = 50  # rows a page of the worklist
WORKLIST_COUNT_CAP = 1000  # encounters counted exactly; beyond, "more than" (mar/paging.py)


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _form_errors(form: object) -> str:
    errors = getattr(form, "errors", {})
    return " ".join(
        " ".join(msgs) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(msgs)}"
        for field, msgs in errors.items()
    )


# --- worklist -----------------------------------------------------------------------------


def _page_missing(requested: str | None, shown: int) -> str:
    """What the worklist says above the list when the page asked for (`?page=`) is not one it
    has (QA: `?page=999` and `?page=abc` silently showed another page): "There is no page abc:
    showing page 1" (a page past the last: the last page is shown). "" when it is shown."""
    if requested is None or not requested.strip():
        return ""
    try:
        if int(requested) == shown:
            return ""
    except ValueError:
        pass
    asked = requested.strip()
    if len(asked) > 20:
        asked = asked[:20] + "…"
    return f"There is no page {asked}: showing page {shown}"


@require_GET
@role_required(CODER)
def worklist(request: HttpRequest) -> HttpResponse:
    form = WorklistFilterForm(request.GET or None)
    encounters = Encounter.objects.filter(status=Encounter.Status.SIGNED).order_by(
        "-arrived_at", "-pk"
    )
    if form.is_valid():
        data = form.cleaned_data
        if data["date_from"]:
            encounters = encounters.filter(arrived_at__date__gte=data["date_from"])
        if data["date_to"]:
            encounters = encounters.filter(arrived_at__date__lte=data["date_to"])
        if data["unit"]:
            # Part of the unit's name, any case: "infusion" finds "Infusion Center" (a coder
            # types what she remembers of it; only the exact full name matched before).
            encounters = encounters.filter(unit__icontains=data["unit"])
        if data["state"]:
            encounters = encounters.filter(review_item__state=data["state"])
        if data["rule"]:
            encounters = encounters.filter(
                Exists(
                    ChargeFinding.objects.filter(
                        run__encounter=OuterRef("pk"), run__is_current=True, rule=data["rule"]
                    )
                )
            )
    # A page at a time (issue 19): the page's ids first, then only their rows, runs, lines and
    # corrections; every signed encounter is on some page (nothing beyond a cap), and a page
    # costs the same whether 50 or 50,000 are signed (their count stops at a cap).
    page = page_of_ids(
        encounters, request.GET.get("page"), WORKLIST_PAGE, count_cap=WORKLIST_COUNT_CAP
    )
    page_missing = _page_missing(request.GET.get("page"), page.number)
    # Then the page's rows, each with its current run: reads compiled once
    # (coding/review_reads.py; building their SQL cost more than running it).
    rows = review_reads.worklist_rows(list(page.object_list))
    # What each row says of its charges (as they would be sent: corrections applied, priced by
    # the charge master), kept while the run, its corrections and the charge master are as they
    # were (coding/worklist_charges.py).
    runs = [run for encounter in rows for run in encounter.current_runs]
    charges, priced = run_charges(runs)
    # Waiting for a coder, their charges changed since the run a coder last reviewed.
    for encounter in rows:
        encounter.item = getattr(encounter, "review_item", None)  # type: ignore[attr-defined]
    since_review = changed_since_review(rows)
    for encounter in rows:
        run = encounter.current_runs[0] if encounter.current_runs else None
        row = charges.get(run.pk) if run is not None else None
        encounter.run = run  # type: ignore[attr-defined]
        encounter.priced = priced  # type: ignore[attr-defined]
        encounter.charge_labels = row.labels if row else ()  # type: ignore[attr-defined]
        encounter.lines_total = row.lines_total if row else 0  # type: ignore[attr-defined]
        encounter.units_total = row.units_total if row else 0  # type: ignore[attr-defined]
        encounter.corrected = row.corrected if row else False  # type: ignore[attr-defined]
        encounter.amount_total = row.amount_total if row else Decimal("0.00")  # type: ignore[attr-defined]
        encounter.unpriced = row.unpriced if row else 0  # type: ignore[attr-defined]
        encounter.blocking = row.blocking if row else 0  # type: ignore[attr-defined]
        encounter.changed_since_review = encounter.pk in since_review  # type: ignore[attr-defined]
        marks = _billing_marks(encounter.item, run, encounter.billed_run, encounter.billed_at)
        encounter.changed_after_billing, encounter.back_from_billing = marks  # type: ignore[attr-defined]
    return render(
        request,
        "coding/worklist.html",
        {
            "encounters": rows,
            # Each row drawn, kept while what it shows is as it was (coding/worklist_rows.py).
            "row_html": rows_html(request, rows),
            "form": form,
            "page": page,
            "page_missing": page_missing,
            "known_rules": KNOWN_RULES,
            "priced": priced,
            "page_total": sum((e.amount_total for e in rows), Decimal("0.00")),
        },
    )


@require_POST
@role_required(CODER)
def claim_next(request: HttpRequest) -> HttpResponse:
    item = review_claim(user=request.user)
    if item is None:
        messages.info(request, "No new encounter is waiting for review.")
        return redirect("coding:worklist")
    # The coder did not pick it: say which record is now hers.
    messages.success(request, f"Claimed: {_encounter_name(_encounter(item.encounter_id))}.")
    return redirect("coding:encounter_charges", pk=item.encounter_id)


def _encounter_name(encounter: Encounter) -> str:
    """The encounter as the coder finds it on the worklist: "Ada Lovelace, MRN 100234, Infusion
    center chair 4, 2026-03-05"."""
    where = " ".join(part for part in (encounter.unit, encounter.location_label) if part)
    arrived = (
        f", {timezone.localdate(encounter.arrived_at):%Y-%m-%d}" if encounter.arrived_at else ""
    )
    return f"{encounter.patient.name}, MRN {encounter.patient.mrn}, {where}{arrived}"


@require_POST
@role_required(CODER)
def claim(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ReviewItem, encounter_id=pk)
    if review_claim(user=request.user, item_id=item.pk) is None:
        messages.error(request, "Another coder has this encounter, or it is not new.")
    return redirect("coding:encounter_charges", pk=pk)


@require_POST
@role_required(CODER)
def release(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ReviewItem, encounter_id=pk)
    # A coding lead (or an admin) may release a claim another coder holds.
    for_another = item.claimed_by_id != request.user.pk and may_edit_policy(request.user)
    try:
        review_release(item=item, user=request.user, for_another=for_another)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return (
            redirect("coding:encounter_charges", pk=pk)
            if for_another
            else redirect("coding:worklist")
        )
    if for_another:
        messages.success(request, "Released: back on the worklist as new, for any coder.")
        return redirect("coding:encounter_charges", pk=pk)
    return redirect("coding:worklist")


@require_POST
@role_required(CODER)
def reopen(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ReviewItem, encounter_id=pk)
    billed = item.state == ReviewItem.State.EXPORTED
    try:
        review_reopen(item=item, user=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request,
            "Back in review with you: correct, then accept again."
            + (" The next export sends billing only the difference." if billed else ""),
        )
    return redirect("coding:encounter_charges", pk=pk)


# --- the review page ----------------------------------------------------------------------


@require_GET
@role_required(CODER)
def encounter_charges(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = _encounter(pk)
    return render(request, "coding/review.html", _review_context(request, encounter))


def _encounter(pk: int) -> Encounter:
    found = review_reads.encounter(pk)
    if not found:
        raise Http404("No such encounter.")
    return found[0]


def _billing_marks(
    item: ReviewItem | None,
    run: ChargeRun | None,
    billed_run: int | None,
    billed_at: datetime | None,
) -> tuple[bool, bool]:
    """A worklist row's (changed after billing, back from billing): sent to billing once and in
    review again, with a run made since or a correction made since the last export (changed:
    the review page shows the difference), or with neither (back from billing: the coder took
    the charges back and has not corrected yet)."""
    if not _changed_after_billing(item, billed_run is not None):
        return False, False
    changed = (
        run is None
        or run.pk != billed_run
        or any(billed_at is None or c.at > billed_at for c in run.corrections.all())
    )
    return changed, not changed


def _who(user: Any, request: HttpRequest) -> str:
    """A coder as the page names her: "you", her user name, or "a coder" (not kept)."""
    if user is None:
        return "a coder"
    return "you" if user.pk == request.user.pk else str(user.get_username())


def _changed_after_billing(item: ReviewItem | None, billed: bool) -> bool:
    """Sent to billing once, and the charges moved since (a new run not exported yet)."""
    return billed and item is not None and item.state != ReviewItem.State.EXPORTED


def _review_context(
    request: HttpRequest, encounter: Encounter, *, bound: Bound | None = None
) -> dict[str, object]:
    """The review page's context; `bound` is a refused form, shown in its own place (see
    `Bound`) with its errors and what was typed instead of a fresh form."""
    # Each read's SQL compiled once (coding/review_reads.py, issue 19).
    items = review_reads.review_item(encounter.pk, encounter=encounter)
    item = items[0] if items else None
    runs = review_reads.runs_with_children(encounter)
    run = next((r for r in runs if r.is_current), None)
    previous = [r for r in runs if not r.is_current]
    administrations = review_reads.administrations_with_pauses(encounter)
    addenda = list(chart_reads.addenda(encounter.pk, encounter=encounter))
    queries = review_reads.queries(encounter.pk, encounter=encounter)
    context: dict[str, object] = {
        "encounter": encounter,
        "item": item,
        "run": run,
        "previous_runs": previous,
        # Each run named by its number within the encounter ("run 3"), not its global pk.
        "run_numbers": run_numbers(runs),
        "sites": chart_reads.sites(encounter.pk, encounter=encounter),
        "orders": review_reads.orders(encounter.pk, encounter=encounter),
        "administrations": administrations,
        "flushes": chart_reads.flushes(encounter.pk, encounter=encounter),
        "addenda": addenda,
        "queries": queries,
        # The nurse's reasons for signing despite an error (the chart's own read).
        "acknowledgements": chart_reads.acknowledgements(encounter.pk, encounter=encounter),
        "can_act": bool(
            item
            and item.state == ReviewItem.State.IN_REVIEW
            and item.claimed_by_id == request.user.pk
        ),
        "bound_shown": False,
        # A coding lead (or an admin) may release a claim another coder holds.
        "can_release_others": bool(
            item
            and item.state == ReviewItem.State.IN_REVIEW
            and item.claimed_by_id != request.user.pk
            and may_edit_policy(request.user)
        ),
        "billed": review_reads.standing_charges(encounter.pk, encounter=encounter),
        # Every acceptance of the charges, latest first, from the audit trail (one read): the
        # item keeps the latest only ("Accepted by coder on 7 Dec 08:47; earlier by ...").
        "acceptances": (
            acceptance_history(item, review_reads.acceptances(encounter.pk)) if item else []
        ),
    }
    slot, form = bound if bound is not None else (None, None)

    def take(key: object, fresh: forms.Form) -> forms.Form:
        """The refused form in its own place, else a fresh one."""
        if form is not None and slot == key:
            context["bound_shown"] = True
            return form
        return fresh

    # On an open query, the addenda written since it was asked: none of them answered it.
    context["addenda_since"] = {
        query.pk: addenda_since(query, addenda) for query in queries if query.is_open
    }
    # A coder withdraws an open query (coding/review.py `query_withdraw`), also while the item
    # waits for the nurse, unless another coder holds it in review.
    can_withdraw = bool(
        item
        and not (item.state == ReviewItem.State.IN_REVIEW and item.claimed_by_id != request.user.pk)
    )
    context["withdraw_forms"] = {
        query.pk: take(("withdraw", query.pk), QueryWithdrawForm(prefix=f"w{query.pk}"))
        for query in queries
        if query.is_open and can_withdraw
    }
    # On an answered query, its finding listed again by the current charges (undone by a later
    # addendum, or not settled by the answer).
    context["finding_back"] = queries_finding_back(queries, run)
    context["changed_after_billing"] = _changed_after_billing(
        item, bool(review_reads.ledger_first(encounter.pk))
    )
    # Billed before registration entered the account number (from the charges read above):
    # the bill went out without it; the next export credits them and charges them again
    # under it (coding/ledger.py `sent_without_account`).
    context["account_after_export"] = sent_without_account(
        context["billed"],  # type: ignore[arg-type]
        encounter.account_number,
    )
    if run is not None:
        lines = effective_lines(run, include_removed=True)
        sent = [line for line in lines if not line.removed]
        master = charge_master_for(line.code for line in lines)  # read once for both
        edits = charge_edits_for_run(run, sent, master=master)
        drug_names = {administration_record_id(a.pk): a.drug.name for a in administrations}
        timeline = None
        if not run.error:
            try:
                record = parse_record(run.input_snapshot)
                # Its rate marks say a correction by addendum after the signature, as the
                # nurse's card does (a run coded before it has the row as it was: no mark).
                amended = (
                    rate_corrections(encounter.pk, encounter.zone) if has_rates(record) else None
                )
                timeline = build_timeline(record, code_record(record), amended=amended)
            except RecordError:
                timeline = None

        _class_change_context(request, context, run, item, take)
        override_forms = []
        for edit in edits.blocking:
            rule, message = edit.finding.rule, edit.finding.message
            override_forms.append(
                take(
                    ("override", rule, message),
                    EditOverrideForm(initial={"rule": rule, "message": message}),
                )
            )
        rows = []
        # The run's formulary facts (coding/claim.py): its drug lines' NDCs as it was made.
        facts = record_facts(
            encounter, run=run, billed=context["billed"], administrations=administrations
        )
        details = claim_details(encounter, lines, run=run, master=master, facts=facts)
        context["claim_findings"] = claim_findings(encounter, sent, run=run, facts=facts)
        context["amount_total"] = money_total(
            [d for line, d in zip(lines, details, strict=True) if not line.removed]
        )
        if context["changed_after_billing"]:
            # What billing holds and what the next export sends instead, as the export plans it
            # (coding/ledger.py): nothing billed changes without the coder seeing it, its NDC
            # included.
            desired = [
                sendable(line, detail, ndc_exact(line, facts))
                for line, detail in zip(lines, details, strict=True)
                if not line.removed
            ]
            difference = ledger_difference(
                context["billed"], desired, account_number=encounter.account_number
            )
            context["billing_difference"] = {
                "credits": difference.credits,
                "charges": [sent[index] for index in difference.new],
                # Each with the NDC it carries, and where a billed line's NDC changes.
                "credit_rows": [
                    {"entry": entry, "ndc": ndc_label(entry.detail)} for entry in difference.credits
                ],
                "charge_rows": [
                    {"line": sent[index], "ndc": ndc_label(desired[index].detail)}
                    for index in difference.new
                ],
                "ndc_changes": ndc_changes(
                    difference.credits, [desired[index] for index in difference.new]
                ),
                "unchanged": len(difference.kept),
            }
        # What changed since the charges last accepted, or the run before (coding/run_changes.py),
        # from the lines prefetched.
        # Made while the coder holding the item had it in review: since the run she claimed.
        changed_under = changed_in_review(item, run)
        claimed_run = run_when_claimed(item, runs) if changed_under else None
        context["changed_in_review"] = changed_under
        # The run a coder last reviewed (claimed, accepted, corrected, queried, overrode an
        # edit, re-reviewed), from the rows already read: the box "Changed since run N was
        # reviewed by ...".
        held = (
            run_when_claimed(item, runs)
            if item and item.state == ReviewItem.State.IN_REVIEW
            else None
        )
        reviewed = last_reviewed(
            runs,
            run,
            review_acts(
                runs,
                queries=queries,
                accepted_run_id=item.accepted_run_id if item else None,
                accepted_by=item.accepted_by if item else None,
                accepted_at=item.accepted_at if item else None,
                claimed_run_id=held.pk if held is not None else None,
                claimed_by=item.claimed_by if item else None,
                claimed_at=item.claimed_at if item else None,
            ),
        )
        changes = changes_since_preceding(
            runs,
            run,
            accepted_run_id=item.accepted_run_id if item else None,
            claimed_run_id=claimed_run.pk if claimed_run is not None else None,
            reviewed=reviewed,
        )
        backs = line_backs(run)
        for number, (line, detail) in enumerate(zip(lines, details, strict=True), start=1):
            change = changes.lines.get(line.line_id) if changes and line.line_id else None
            correct_form, correct_url = None, ""
            back_form = None  # a corrected or removed engine's line: back to the engine's line
            if line.line_id and line.correction is not None:
                back_form = take(("back", line.line_id), LineBackForm(prefix=f"b{line.line_id}"))
            if line.line_id and not line.removed:  # a removed line shows no form
                correct_form = take(
                    ("line", line.line_id),
                    LineCorrectForm(prefix=f"l{line.line_id}", initial=_initial(line)),
                )
                correct_url = reverse("coding:line_correct", args=[encounter.pk, line.line_id])
            elif line.added is not None and not line.removed:  # a coder's line, as added
                correct_form = take(
                    ("added", line.added.pk),
                    LineCorrectForm(prefix=f"a{line.added.pk}", initial=_initial(line)),
                )
                correct_url = reverse(
                    "coding:added_line_correct", args=[encounter.pk, line.added.pk]
                )
            price = master.get(line.code, line.date)
            rows.append(
                {
                    "line": line,
                    # Its number on the page: a correction refused as a duplicate names it.
                    "number": number,
                    "form": correct_form,
                    "correct_url": correct_url,
                    "back_form": back_form,
                    # Her corrections of the line taken back to the engine's line, in order.
                    "backs": backs.get(line.line_id, []) if line.line_id else [],
                    "detail": detail,
                    # Why a drug's line goes without an NDC (None when it has one, or is not).
                    "no_ndc": None if line.removed else ndc_missing(line, facts),
                    "change": change,
                    # The charge master version pricing it, when not in effect from the start.
                    "price_from": price.effective_from.isoformat()
                    if price and price.effective_from != BEGINNING
                    else None,
                }
            )
        rereview = []
        for correction in run.corrections.all():
            if correction.state != ChargeCorrection.State.NEEDS_REVIEW:
                continue
            corrected = correction.corrected or {}
            # Whether the run already gives what it gave: then drop is offered first.
            judged = correction_rereview(correction, lines)
            fresh = CorrectionResolveForm(
                prefix=f"c{correction.pk}",
                initial={
                    "decision": judged.recommend or None,
                    "code": corrected.get("code", ""),
                    "units": corrected.get("units", 1),
                    "modifiers": " ".join(corrected.get("modifiers", [])),
                },
            )
            rereview.append(
                {
                    "correction": correction,
                    "made": judged.made,
                    "advice": judged.advice,
                    "recommend": judged.recommend,
                    # What changed under it since the coder made or last kept it.
                    "changed": judged.changed,
                    "form": take(("resolve", correction.pk), fresh),
                }
            )
        # The re-review decisions made on these charges: undone until they are sent to billing.
        rereviewed = [
            {
                "correction": correction,
                "form": take(
                    ("undo", correction.pk),
                    CorrectionUndoForm(prefix=f"u{correction.pk}"),
                )
                if run.exported_at is None
                else None,
            }
            for correction in run.corrections.all()
            if correction.state in DECIDED and correction.decided_at is not None
        ]
        context.update(
            {
                "lines": rows,
                "rereviewed": rereviewed,
                "changes": changes,
                # The runs the markers span before this one (after the run compared with): each
                # change's reason, so the banner above does not read as the only one.
                "runs_between": runs_between(runs, run, changes.since)
                if changes and not changes.reviewed
                else [],
                # Since the run a coder last reviewed: every line added, removed or changed
                # (`changes.diff`) and every run's reasons since, each addendum's.
                "since_review": reasons_since(runs, run, changes.since, addenda)
                if changes is not None and changes.reviewed is not None
                else None,
                "since_review_who": _who(
                    changes.reviewed.by if changes is not None and changes.reviewed else None,
                    request,
                ),
                "gone_lines": [gone_label(line) for line in changes.gone] if changes else [],
                "rereview": rereview,
                "edits": edits.items,
                "blocking": edits.blocking,
                "override_forms": override_forms,
                "findings": [
                    f
                    for f in run.findings.all()
                    if not f.rule.startswith("EDIT-") and f.severity != "info"
                ],
                # Info-level findings (DRUG-WASTE: container not stated...) change no charge:
                # folded under their own toggle, not filling the list (issue 15).
                "info_findings": [
                    f
                    for f in run.findings.all()
                    if not f.rule.startswith("EDIT-") and f.severity == "info"
                ],
                "not_charged": run.result.get("not_charged", []),
                "drug_names": drug_names,
                "timeline": timeline,
                "add_form": take(("add",), LineAddForm()),
                "query_form": take(
                    ("query",),
                    QueryForm(
                        run_id=run.pk, administrations=_administration_choices(administrations)
                    ),
                ),
            }
        )
    return context


def _class_change_context(
    request: HttpRequest,
    context: dict[str, object],
    run: ChargeRun,
    item: ReviewItem | None,
    take: Any,
) -> None:
    """A pharmacist's change of a drug's class, billing data or NDCs on the current run once
    exported (coding/class_after_export.py): open, what changed, what the formulary now makes
    (the engine's lines under the class now, the drug lines under the billing data now) beside
    what the billed run made, and the coder's two actions (unless another coder holds the
    charges in review); else the last word on it when it was changed back, or said to stand."""
    flags = list(review_reads.class_changes_after_export([run.pk]))
    latest = flags[-1] if flags else None
    context["class_change"] = None
    context["class_change_last"] = None
    if latest is None:
        return
    if latest.state != ClassChangeAfterExport.State.OPEN:
        context["class_change_last"] = latest
        return
    held_by = (
        item.claimed_by
        if item is not None
        and item.state == ReviewItem.State.IN_REVIEW
        and item.claimed_by_id not in (None, request.user.pk)
        else None
    )
    context["class_change"] = {
        "flag": latest,
        "under": under_now(latest.changes),
        "preview": class_change_preview(run, latest.changes),
        "held_by": held_by,
        "rerun_form": None if held_by else take(("class_rerun",), ClassRerunForm(prefix="rerun")),
        "stands_form": None
        if held_by
        else take(("class_stands",), ClassStandsForm(prefix="stands")),
    }


def _administration_choices(administrations: Iterable[Administration]) -> list[tuple[str, str]]:
    """The record's administrations a query may name: ("A12", "A12 zorblumab 10:05")."""
    return [
        (
            administration_record_id(a.pk),
            f"{administration_record_id(a.pk)} {a.drug.name} "
            f"{hhmm(a.start, timezone.get_current_timezone())}",
        )
        for a in administrations
    ]


# A refused form and where it goes on the page: ("line", line id), ("added", correction id),
# ("add",), ("query",), ("withdraw", query id), ("resolve", correction id), ("undo", correction
# id), ("override", rule, message), or ("class_rerun",) and ("class_stands",) (a change of a
# drug's class, billing data or NDCs after export: no claim needed).
Bound = tuple[tuple[object, ...], forms.Form]


def _refused(request: HttpRequest, pk: int, bound: Bound, what: str) -> HttpResponse:
    """The review page again with the refused form beside what it refers to: its errors by each
    field and what was typed kept: 200, or 422 for an htmx request (htmx 2 then swaps nothing
    unless the caller asks it to, so a refused form never replaces a part of the page by surprise).

    When the form cannot be shown there (the item is no longer the coder's, the edit no longer
    applies), the errors go to the top of the page after a redirect, as before."""
    slot, form = bound
    _focus_first_error(form)
    encounter = _encounter(pk)
    context = _review_context(request, encounter, bound=bound)
    # A query is withdrawn while the item waits for the nurse too (no other action then); the
    # class change's forms are the coder's without claiming the charges (exported ones).
    decides = context["can_act"] or slot[0] in ("withdraw", "class_rerun", "class_stands")
    if decides and context["bound_shown"]:
        status = 422 if request.htmx else 200
        return render(request, "coding/review.html", context, status=status)
    messages.error(request, f"{what} {_form_errors(form)}")
    return redirect("coding:encounter_charges", pk=pk)


def _focus_first_error(form: forms.Form) -> None:
    """Put the cursor in the first field to fix (the page opens there, without JavaScript)."""
    names = [name for name in form.fields if name in form.errors]
    visible = [f.name for f in form.visible_fields()]
    target = names[0] if names else (visible[0] if visible else None)
    if target is not None and not form.fields[target].widget.is_hidden:
        form.fields[target].widget.attrs["autofocus"] = True


def _initial(line: object) -> dict[str, object]:
    return {
        "action": "change",
        "code": getattr(line, "code", ""),
        "units": getattr(line, "units", 1),
        "modifiers": " ".join(getattr(line, "modifiers", ())),
    }


def _item_for(pk: int) -> ReviewItem:
    return get_object_or_404(ReviewItem.objects.select_related("run"), encounter_id=pk)


@require_POST
@role_required(CODER)
def accept(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item_for(pk)
    try:
        review_accept(item=item, user=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("coding:encounter_charges", pk=pk)
    messages.success(request, "Charges accepted: ready for export.")
    return redirect("coding:worklist")


@require_POST
@role_required(CODER)
def line_correct(request: HttpRequest, pk: int, line_id: int) -> HttpResponse:
    item = _item_for(pk)
    line = get_object_or_404(ChargeLine, pk=line_id, run__encounter_id=pk)
    return _correction_posted(
        request, item, {"line": line}, ("line", line.pk), f"l{line.pk}",
        lambda correction: _line_corrected_said(line, correction),
    )  # fmt: skip


def _correction_posted(
    request: HttpRequest,
    item: ReviewItem,
    target: dict[str, Any],
    slot: tuple[object, ...],
    prefix: str,
    said: Callable[[ChargeCorrection], str],
) -> HttpResponse:
    """A line's correction form posted (`target`: the generated `line`, or the `added` line's
    correction), saved through `charge_line_correct`, or refused beside its fields (`slot`)."""
    pk = item.encounter_id
    form = LineCorrectForm(request.POST, prefix=prefix)
    if form.is_valid():
        data = form.cleaned_data
        try:
            correction = charge_line_correct(
                item=item,
                user=request.user,
                action=data["action"],
                code=data.get("code") or "",
                units=data.get("units") or 1,
                modifiers=data["modifiers"],
                reason=data["reason"],
                **target,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, said(correction))
            return redirect("coding:encounter_charges", pk=pk)
    return _refused(request, pk, (slot, form), "Line not corrected.")


BANNER_REASON_CHARS = 160  # of a reason repeated in the banner after a correction


def _reason_head(reason: str) -> str:
    """A reason as the banner repeats it, as a sentence's end: whole with its full stop when
    short; longer, its head cut after a word and marked cut ("…"): the line's row shows it,
    folded with "Show all" (QA: a 1,700-character reason filled the banner)."""
    whole = reason.strip().rstrip(".")
    head = text_head(whole, BANNER_REASON_CHARS)
    return f"{whole}." if head == whole else f"{head}…"


def _line_said(line: dict[str, Any]) -> str:
    """A line as the review page shows it: "96415 ×2 59"."""
    return " ".join([f"{line['code']} ×{line['units']}", *line.get("modifiers", [])])


@require_POST
@role_required(CODER)
def line_back(request: HttpRequest, pk: int, line_id: int) -> HttpResponse:
    """A corrected or removed line back to exactly the engine's line, with a reason."""
    item = _item_for(pk)
    line = get_object_or_404(ChargeLine, pk=line_id, run__encounter_id=pk)
    return _form_posted(
        request, pk, LineBackForm(request.POST, prefix=f"b{line.pk}"), ("back", line.pk),
        lambda data: charge_line_back(
            item=item, user=request.user, line=line, reason=data["reason"]
        ),
        lambda correction: _line_back_said(line, correction),
        "Line not taken back.",
    )  # fmt: skip


def _line_back_said(line: ChargeLine, correction: ChargeCorrection) -> str:
    """What going back did: "Line 96415 ×2 back to the engine's line (was corrected to 96415
    ×1): <reason>. It is sent as the engine's line; your correction stays in its history."."""
    engine = _line_said({"code": line.code, "units": line.units, "modifiers": line.modifiers})
    hers = (
        "removed"
        if correction.action == ChargeCorrection.Action.REMOVE
        else f"corrected to {_line_said(correction.corrected)}"
    )
    reason = _reason_head(correction.decision_reason)
    return (
        f"Line {engine} back to the engine's line (was {hers}): {reason} It is sent as the "
        "engine's line; your correction stays in its history."
    )


def _line_corrected_said(line: ChargeLine, correction: ChargeCorrection) -> str:
    """What a correction did, said as the page's other actions say theirs: "Line 96415 ×2
    corrected to 96415 ×1: <reason>. The original is kept beside it." (a long reason cut short:
    the line's correction on the page shows it whole). A change to exactly the engine's line
    took the line back to it (`charge_line_back`): said so."""
    if correction.state == ChargeCorrection.State.BACK:
        return _line_back_said(line, correction)
    was = _line_said({"code": line.code, "units": line.units, "modifiers": line.modifiers})
    reason = _reason_head(correction.reason)
    if correction.action == ChargeCorrection.Action.REMOVE:
        done = "removed"
    else:
        done = f"corrected to {_line_said(correction.corrected)}"
    return f"Line {was} {done}: {reason} The original is kept beside it."


@require_POST
@role_required(CODER)
def added_line_correct(request: HttpRequest, pk: int, correction_id: int) -> HttpResponse:
    """Change or remove a line the coder added (or a correction kept as an added line)."""
    item = _item_for(pk)
    # Not an added line: the service says so (it names what to correct instead).
    added = get_object_or_404(ChargeCorrection, pk=correction_id, run__encounter_id=pk)
    return _correction_posted(
        request, item, {"added": added}, ("added", added.pk), f"a{added.pk}",
        _added_corrected_said,
    )  # fmt: skip


def _added_corrected_said(correction: ChargeCorrection) -> str:
    """What a correction of an added line did: "Added line 96372 ×1 corrected to 96372 ×2:
    <reason>. The line as added is kept beside it." (or "... removed: <reason>. ...")."""
    was = _line_said(correction.original)
    reason = _reason_head(correction.reason)
    if correction.action == ChargeCorrection.Action.REMOVE:
        done = "removed"
    else:
        done = f"corrected to {_line_said(correction.corrected)}"
    return f"Added line {was} {done}: {reason} The line as added is kept beside it."


def _form_posted(
    request: HttpRequest,
    pk: int,
    form: forms.Form,
    slot: tuple[object, ...],
    act: Callable[[dict[str, Any]], Any],
    said: Callable[[Any], str],
    refused: str,
) -> HttpResponse:
    """A review form posted: `act` (the service, given the cleaned data) done and `said` (of
    its result) shown on the review page, or the form refused in its place (`slot`) with each
    error beside its field and what was typed kept, the page's message `refused`."""
    if form.is_valid():
        try:
            result = act(form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, said(result))
            return redirect("coding:encounter_charges", pk=pk)
    return _refused(request, pk, (slot, form), refused)


@require_POST
@role_required(CODER)
def correction_resolve_view(request: HttpRequest, pk: int, correction_id: int) -> HttpResponse:
    item = _item_for(pk)
    correction = get_object_or_404(ChargeCorrection, pk=correction_id, run__encounter_id=pk)
    return _form_posted(
        request, pk, CorrectionResolveForm(request.POST, prefix=f"c{correction.pk}"),
        ("resolve", correction.pk),
        lambda data: correction_resolve(
            item=item, user=request.user, correction=correction, decision=data["decision"],
            reason=data["reason"], code=data.get("code") or "", units=data.get("units") or 1,
            modifiers=data["modifiers"] if data.get("modifiers") else None,
        ),
        lambda _: "Correction re-reviewed; your decision and reason are kept.",
        "Correction not re-reviewed.",
    )  # fmt: skip


@require_POST
@role_required(CODER)
def correction_undo_view(request: HttpRequest, pk: int, correction_id: int) -> HttpResponse:
    item = _item_for(pk)
    correction = get_object_or_404(ChargeCorrection, pk=correction_id, run__encounter_id=pk)
    return _form_posted(
        request, pk, CorrectionUndoForm(request.POST, prefix=f"u{correction.pk}"),
        ("undo", correction.pk),
        lambda data: correction_decision_undo(
            item=item, user=request.user, correction=correction, reason=data["reason"]
        ),
        lambda _: "Decision undone: the correction waits for your decision again.",
        "Decision not undone.",
    )  # fmt: skip


def _rerun_said(run: ChargeRun) -> str:
    flag = ClassChangeAfterExport.objects.filter(rerun=run).first()
    under = under_now(flag.changes if flag is not None else [])
    return (
        f"Re-run under {under} now: the new charges are in review with you. Accepted, the next "
        "export sends billing only the difference: credits of what changed and new charges."
    )


@require_POST
@role_required(CODER)
def class_rerun_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Make the charges again under the formulary now, after a change of a drug's class,
    billing data or NDCs once billed."""
    item = _item_for(pk)
    return _form_posted(
        request, pk, ClassRerunForm(request.POST, prefix="rerun"), ("class_rerun",),
        lambda data: class_change_rerun(item=item, user=request.user, reason=data["reason"]),
        _rerun_said,
        "Not re-run.",
    )  # fmt: skip


@require_POST
@role_required(CODER)
def class_stands_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The billed claim stands despite a change of a drug's class, billing data or NDCs after
    export, with a reason."""
    item = _item_for(pk)
    return _form_posted(
        request, pk, ClassStandsForm(request.POST, prefix="stands"), ("class_stands",),
        lambda data: class_change_stands(item=item, user=request.user, reason=data["reason"]),
        lambda _: "The billed claim stands: your reason is kept with the decision. Nothing is "
        "sent to billing.",
        "Not decided.",
    )  # fmt: skip


@require_POST
@role_required(CODER)
def line_add(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item_for(pk)
    ids = {
        administration_record_id(adm_pk)
        for adm_pk in item.encounter.administrations.values_list("pk", flat=True)
    }
    form = LineAddForm(request.POST, administration_ids=ids)
    if form.is_valid():
        data = form.cleaned_data
        try:
            charge_line_correct(
                item=item,
                user=request.user,
                action="add",
                code=data["code"],
                units=data["units"],
                modifiers=data["modifiers"],
                administrations=data["administrations"],
                day=data.get("day"),
                reason=data["reason"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Line added.")
            return redirect("coding:encounter_charges", pk=pk)
    return _refused(request, pk, (("add",), form), "Line not added.")


@require_POST
@role_required(CODER)
def override(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item_for(pk)
    form = EditOverrideForm(request.POST)
    if form.is_valid():
        try:
            edit_override_create(item=item, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Edit overridden with your reason.")
            return redirect("coding:encounter_charges", pk=pk)
    key = ("override", form.data.get("rule", ""), form.data.get("message", ""))
    return _refused(request, pk, (key, form), "Edit not overridden.")


@require_POST
@role_required(CODER)
def query(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item_for(pk)
    adms = Administration.objects.filter(encounter_id=pk).select_related("drug")
    choices = _administration_choices(adms)
    form = QueryForm(request.POST, run_id=item.run_id, administrations=choices)
    if form.is_valid():
        try:
            query_send(
                item=item,
                user=request.user,
                finding=form.cleaned_data["finding"],
                question=form.cleaned_data["question"],
                administration=form.cleaned_data["administration"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                "Query sent: it shows on the nurse's chart until an addendum answers it, or "
                "you withdraw it.",
            )
            # Back on the encounter she queried, the query shown there (issue 15), not the list.
            return redirect("coding:encounter_charges", pk=pk)
    return _refused(request, pk, (("query",), form), "Query not sent.")


@require_POST
@role_required(CODER)
def query_withdraw_view(request: HttpRequest, pk: int, query_id: int) -> HttpResponse:
    query = get_object_or_404(DocumentationQuery, pk=query_id, encounter_id=pk)
    form = QueryWithdrawForm(request.POST, prefix=f"w{query.pk}")
    if form.is_valid():
        try:
            query_withdraw(query=query, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                "Query withdrawn: it has left the nurse's chart and stays here as withdrawn, "
                "with your reason.",
            )
            return redirect("coding:encounter_charges", pk=pk)
    return _refused(request, pk, (("withdraw", query.pk), form), "Query not withdrawn.")


# --- exports ------------------------------------------------------------------------------


@require_GET
@role_required(CODER)
def exports(request: HttpRequest) -> HttpResponse:
    ready = (
        ReviewItem.objects.filter(state=ReviewItem.State.ACCEPTED)
        .select_related("encounter__patient", "accepted_by")
        .order_by("accepted_at", "pk")
    )
    past = (
        Export.objects.select_related("created_by")
        .annotate(
            encounters=Count("runs", distinct=True),
            charges=Count("entries", filter=Q(entries__kind="CG"), distinct=True),
            credits=Count("entries", filter=Q(entries__kind="CD"), distinct=True),
        )
        .order_by("-created_at", "-pk")[:50]
    )  # an aggregate query drops Meta.ordering
    return render(request, "coding/exports.html", {"ready": ready, "past": past})


# Said with an accepted encounter the export refused or open edits held (it stays accepted).
EXPORT_FIX = "Open it from the list below and take it back into review to correct it."


@require_POST
@role_required(CODER)
def export_new(request: HttpRequest) -> HttpResponse:
    try:
        outcome = export_create(user=request.user)
    except ValidationError as exc:
        waiting = ReviewItem.objects.filter(state=ReviewItem.State.ACCEPTED).exists()
        text = _error_text(exc)
        messages.error(request, f"{text.rstrip('.')}. {EXPORT_FIX}" if waiting else text)
        return redirect("coding:exports")
    fix = EXPORT_FIX
    for note in outcome.blocked:
        messages.warning(request, f"Not exported (open edits): {note.rstrip('.')}. {fix}")
    for note in outcome.refused:
        messages.error(request, f"Refused, not exported: {note.rstrip('.')}. {fix}")
    for note in outcome.unchanged:
        messages.info(request, f"Nothing sent, billing already has these charges: {note}")
    if outcome.export is not None:
        messages.success(
            request,
            f"Export {outcome.export.pk} made: download it in each format below.",
        )
    return redirect("coding:exports")


@require_GET
@role_required(CODER)
def export_download(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404("unknown export format")
    export = get_object_or_404(Export, pk=pk)
    attribute, content_type, extension = EXPORT_FORMATS[fmt]
    response = HttpResponse(getattr(export, attribute), content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="charges-export-{export.pk}-{fmt}.{extension}"'
    )
    return response


# --- reports ------------------------------------------------------------------------------


def _report_range(request: HttpRequest) -> tuple[DateRangeForm, object, object]:
    today = timezone.localdate()
    form = DateRangeForm(request.GET or None)
    date_from, date_to = form.range(today - timedelta(days=30), today)
    if not request.GET:
        form = DateRangeForm(initial={"date_from": date_from, "date_to": date_to})
    return form, date_from, date_to


@require_GET
@role_required(CODER)
def report_findings(request: HttpRequest) -> HttpResponse:
    form, date_from, date_to = _report_range(request)
    # Info-level findings (DRUG-WASTE: container not stated) cost nothing: left out unless
    # asked for (?info=1), their count said (issue 15).
    with_info = request.GET.get("info") == "1"
    span = {"date_from": date_from, "date_to": date_to}
    all_rows = findings_by_rule(**span, include_info=True)  # type: ignore[arg-type]
    by_rule = findings_by_rule(**span, include_info=with_info)  # type: ignore[arg-type]
    query = request.GET.copy()
    query["info"] = "0" if with_info else "1"
    context = {
        "form": form,
        "date_from": date_from,
        "date_to": date_to,
        "by_rule": by_rule,
        "rows": findings_by_nurse_and_unit(**span, include_info=with_info),  # type: ignore[arg-type]
        "with_info": with_info,
        "info_hidden": sum(r["findings"] for r in all_rows) - sum(r["findings"] for r in by_rule),
        "info_toggle": query.urlencode(),
    }
    return render(request, "coding/report_findings.html", context)


@require_GET
@role_required(CODER)
def report_reconciliation(request: HttpRequest) -> HttpResponse:
    form, date_from, date_to = _report_range(request)
    report = reconciliation(date_from=date_from, date_to=date_to)  # type: ignore[arg-type]
    context = {"form": form, "date_from": date_from, "date_to": date_to, "report": report}
    return render(request, "coding/report_reconciliation.html", context)
