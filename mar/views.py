"""Nurse-facing pages (the board, the bedside chart and its actions), the role start page and
the health check.

Every chart action is a plain form POST that redirects back to the chart (no JavaScript needed);
with htmx (request.htmx) it answers with the chart section re-rendered, checklist and timeline
included. Nurses (and admins) chart; coders and pharmacists read the chart.
"""

import contextlib
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Length, Lower, Replace
from django.forms import ChoiceField, Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from mar import chart_reads as reads
from mar import merge
from mar.board_cards import board_cards
from mar.care_context import care_context
from mar.care_forms import FlushDetailsForm, PauseReasonForm, StartChecksForm, StopVolumeForm
from mar.chart_cards import (
    cards_draw,
    care_draw,
    care_panels_draw,
    orders_draw,
    sign_draw,
    sites_draw,
    times_draw,
)
from mar.chart_context import (
    answer_context,
    bedside_now,
    chart_context,
    checklist_context,
    evaluate,
    sign_counts,
    sign_dose_notes,
)
from mar.clock import date_hhmm, hhmm
from mar.forms import (
    REASON_MISSING,
    VASCULAR_KINDS,
    AddendumForm,
    AdministrationForm,
    AtForm,
    DispositionForm,
    EncounterTimesForm,
    FlushForm,
    FlushRemoveForm,
    PauseAddForm,
    PauseAtForm,
    PauseForm,
    ResumeAtForm,
    SignCounts,
    SignForm,
    SiteAssessForm,
    SiteDiscontinueForm,
    SiteForm,
    SiteUpdateForm,
    StartForm,
    apply_chart_error,
    card_refused,
    plain_number,
    query_choices,
    shown_changed,
    shown_text,
)
from mar.jinja import partial_render, partial_response
from mar.lazy_forms import lazy
from mar.models import (
    ADMINISTRATION_CARD_FIELDS,
    AccessSite,
    Addendum,
    Administration,
    Encounter,
    Flush,
    Order,
    Pause,
)
from mar.paging import page_of_ids
from mar.ports import charges_port
from mar.roles import (
    ADMIN,
    CLERK,
    CODER,
    NURSE,
    PHARMACIST,
    role_required,
    roles_read,
    user_has_role,
    user_role,
)
from mar.services import charting, rates, safety
from mar.services.charting import (
    ChartError,
    RecordSigned,
    SignBlocked,
    StaleVersion,
    acknowledgement_key,
    finding_key,
)
from mar.summary import Written, written_kept
from mar.timeline import chart_timeline

START_PAGES = {
    NURSE: "mar:board",
    PHARMACIST: "pharmacy:worklist",
    CODER: "coding:worklist",
    ADMIN: "admin:index",
    CLERK: "registration:home",
}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    role = user_role(request.user)
    if role is None:
        return render(request, "no_role.html", status=403)
    return redirect(START_PAGES[role])


@login_not_required
@require_safe  # GET and HEAD: load balancers and monitors probe with either
def healthz(request: HttpRequest) -> HttpResponse:
    # For the proxy and process manager: the app is up and its database answers.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on their own: the icon in static/ (issue 15)."""
    return redirect(static("favicon.ico"))


@require_GET
@role_required(NURSE)
def board(request: HttpRequest) -> HttpResponse:
    """Today's encounters by chair or bed, any still open from earlier (they must be finished),
    and any with a coder's query unanswered (flagged: the nurse answers with an addendum).

    Each card's state and open-item count come from the engine's checks, like the chart's, as
    stored with each change (mar/summary.py): the board runs no engine. A page holds BOARD_PAGE
    cards (by unit, then chair or bed), so its cost does not grow with the visits open.
    """
    now = timezone.now()
    # The last 24 hours by default (a visit signed last evening is still there at 01:00), or
    # the visits of a chosen day (issue 15, item 14).
    chosen = _board_date(request.GET.get("date", ""))
    if chosen is not None:
        arrived = Q(arrived_at__date=chosen) | Q(arrived_at__isnull=True, created_at__date=chosen)
    else:
        since = now - BOARD_WINDOW
        arrived = Q(arrived_at__gte=since) | Q(arrived_at__isnull=True, created_at__gte=since)
    open_query = charges_port().open_queries().filter(encounter_id=OuterRef("pk"))
    listed = (
        Encounter.objects.annotate(coder_query=Exists(open_query))
        .filter(
            arrived
            | Q(status=Encounter.Status.IN_PROGRESS)
            # A signed encounter of any day with a coder's query unanswered: the nurse answers
            # it with an addendum, so its card stays on the board, flagged, until she does.
            | Q(coder_query=True)
        )
        .order_by("unit", *chairs_in_order(), "pk")
    )
    # A page of cards at a time (issue 19): the board costs the same with 10 or 500 visits
    # open. The page's ids first, then only their rows (the count of what was given, what is
    # running, the acknowledgements), so nothing is computed for the other pages.
    page = page_of_ids(listed, request.GET.get("page"), BOARD_PAGE)
    # Those rows are prepared reads (mar/chart_reads.py): their SQL compiled once a page size;
    # each card is kept while its record has not changed (mar/board_cards.py).
    ids = list(page.object_list)
    place = {pk: n for n, pk in enumerate(ids)}
    encounters = sorted(reads.board_encounters(ids), key=lambda e: place[e.pk])
    units: dict[str, list[dict[str, object]]] = {}
    for card in board_cards(encounters, now):
        units.setdefault(card["encounter"].unit, []).append(card)
    context = {
        "units": units,
        "today": timezone.localdate(),
        "now": now,
        "chosen": chosen,
        "date_error": request.GET.get("date", "") and chosen is None,
        "page": page,
    }
    return render(request, "mar/board.html", context)


def chairs_in_order() -> list[Any]:
    """Chairs and beds in the room's order: "Chair 2" before "Chair 10" (QA: the board sorted
    chairs as text, 1, 10, 2). By the label without its digits, then its length, then the label
    ("Chair 1" < "Chair 2" < "Chair 10"), in SQL both databases run (SQLite has no regular
    expressions), so the board's page is still cut in the database."""
    letters: Any = F("location_label")
    for digit in "0123456789":
        letters = Replace(letters, Value(digit), Value(""))
    return [Lower(letters), Length("location_label"), "location_label"]


BOARD_WINDOW = timedelta(hours=24)
BOARD_PAGE = 48  # cards per page: 12 rows of 4 on a wide screen


def _board_date(text: str) -> date | None:
    """A day typed in the board's date field (YYYY-MM-DD); None when blank or unreadable."""
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def _chart_context(request: HttpRequest, encounter: Encounter, **kwargs: Any) -> dict[str, Any]:
    """The whole chart's context (an answer about one card or site chip: `answer_context`)."""
    context = chart_context(encounter, **kwargs)
    context.update(
        care_context(request, encounter, bound=kwargs.get("bound"), rows=context["rows"])
    )
    context.update(_chart_permissions(request, encounter))
    # The cards unchanged since drawn are kept drawn (issue 19); those with what was sent are not.
    cards_draw(request, context, bound=kwargs.get("bound"))
    orders_draw(request, context)  # the orders' rows too, their Start forms' keys new
    sites_draw(request, context)  # and the sites' chips and the "+ Add site" form
    sign_draw(request, context)  # and the sign-off
    times_draw(request, context)  # and the visit's times
    care_draw(request, context)  # and the scan field and the measures' form
    return context


def _chart_permissions(request: HttpRequest, encounter: Encounter) -> dict[str, bool]:
    nurse = user_has_role(request.user, NURSE)
    signed = encounter.is_signed
    # A signed record is read-only, with one "Addendum" button (?addendum=1) that opens its
    # forms for changes as addenda; a POST to a signed record came from them: it stays open.
    # An imported record (charted in another EHR, coded here) is read-only: no addendum either.
    own = not encounter.imported_from
    return {
        "can_chart": nurse and not signed,
        "addendum_available": nurse and signed and own,
        "can_addendum": nurse
        and signed
        and own
        and (request.method == "POST" or request.GET.get("addendum") == "1"),
    }


T = TypeVar("T")


def _found(rows: list[T]) -> T:
    """The one row a read by primary key found, or 404 (as get_object_or_404)."""
    if not rows:
        raise Http404("No such record.")
    return rows[0]


def _encounter(pk: int) -> Encounter:
    return _found(reads.encounter(pk))


@require_GET
@role_required(NURSE, CODER, PHARMACIST)
def encounter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The chart: nurses chart on it; coders and pharmacists read it."""
    # Whether its summary is stored, read with it: the chart stores one only where none is yet
    # (summary_evaluate), without a write on every page load (issue 19).
    encounter = _found(reads.encounter_with_summary_stored(pk))
    # `?addendum=1&a12-bag=...`: the addendum forms prefilled with a change sent from a page
    # drawn before the signature (`_signed_since`).
    prefill = request.GET if request.GET.get("addendum") == "1" else None
    return render(
        request, "mar/encounter.html", _chart_context(request, encounter, prefill=prefill)
    )


CHECKLIST_ROLES = (NURSE, CODER, PHARMACIST)


@require_GET
def encounter_checklist(request: HttpRequest, pk: int) -> HttpResponse:
    """The live checklist panel alone (readable on its own). Its htmx refresh also brings the
    sign-off panel and the top bar's sign state out of band: they follow from the checklist.

    Its role check is `role_required(*CHECKLIST_ROLES)`'s, made here on the user's groups as
    the statement that reads the encounter read them (PostgreSQL; issue 19: it is polled every
    minute by every open chart): nothing that statement read is used, nor its absence told
    (a 404), before the check has passed."""
    # The encounter and its stored summary in one read (this view writes nothing).
    found = reads.encounter_and_summary(pk, request.user.pk)
    if found and hasattr(found[0], "reader_groups"):
        roles_read(request.user, found[0].reader_groups)  # type: ignore[arg-type]
    if not user_has_role(request.user, *CHECKLIST_ROLES):  # else read as role_required reads
        raise PermissionDenied
    encounter = _found(found)
    context = checklist_context(encounter, stored=reads.stored_summary(encounter))
    if not request.htmx:
        return partial_response(request, "mar/_checklist.jinja", context)
    context["can_chart"] = user_has_role(request.user, NURSE) and not encounter.is_signed
    counts = SignCounts(*reads.sign_counts(encounter))
    # Built when drawn: the sign-off is kept drawn while what it shows is unchanged (issue 19).
    context["sign_form"] = lazy(
        functools.partial(SignForm, open_errors=context["checklist"].open_errors, counts=counts)
    )
    context["sign_counts"] = counts
    # The orders given read with the encounter (PostgreSQL); their measures only when one is
    # calculated (a statement more, fixed).
    context["sign_dose_notes"] = (
        [] if encounter.is_signed else sign_dose_notes(encounter, reads.orders_given(encounter))
    )
    sign_draw(request, context)
    response = partial_response(request, "mar/_checklist_response.jinja", context)
    shown = request.GET.get("returned_shown")
    if shown is not None and _pks(shown) != set(reads.returned_orders(encounter)):
        # A pharmacist returned an order or withdrew a return since the chart was drawn: its
        # Start now is offered or not as it stands now (static/js/chart.js draws the chart
        # again, morphed in: what is typed stays).
        response["HX-Trigger"] = json.dumps({"mar:chart-stale": "returned"})
    return response


def _pks(text: str) -> set[int]:
    """The pks of a list the page sent ("12 15 "); what is not a number is none."""
    return {int(word) for word in text.split() if word.isdigit()}


@require_GET
@role_required(NURSE, CODER, PHARMACIST)
def encounter_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = _encounter(pk)
    now = timezone.now()
    record, result, _error = evaluate(encounter, now)
    timeline = (
        chart_timeline(encounter, record, result, now=bedside_now(encounter, now))
        if record
        else None
    )
    return partial_response(request, "mar/_chart_timeline.jinja", {"timeline": timeline})


@require_GET
@role_required(NURSE, CODER, PHARMACIST)
def encounter_charges(request: HttpRequest, pk: int) -> HttpResponse:
    """The charges of a signed record; polled by htmx until the worker has made them."""
    # The fragment reads the current run through coding's template tag (current_charge_run).
    return render(request, "mar/_chart_charges.html", {"encounter": _encounter(pk)})


def answers_from_written(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """For a view whose htmx answer is one card or site chip: the record its change saved, and
    the engine's result on it, are kept (`summary.written_kept`) for `_after_change`, which then
    answers without reading the record or running the engine again (issue 19)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with written_kept() as kept:
            request.written = kept  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

    return wrapped


def _written(request: HttpRequest, encounter: Encounter) -> Written | None:
    kept: dict[int, Written] = getattr(request, "written", {})
    return kept.get(encounter.pk)


def _after_change(
    request: HttpRequest,
    encounter: Encounter,
    *,
    anchor: str = "",
    bound: dict[str, Form] | None = None,
    conflict: Administration | None = None,
    card: int | None = None,
    site: int | None = None,
) -> HttpResponse:
    """htmx: the chart section re-rendered (checklist and timeline included), or, for a change
    to one administration (`card`), that card with the checklist, sign-off and timeline swapped
    out of band; for a flush on one site (`site`), that site's chip the same way. Without
    JavaScript: a redirect back to the chart, or the page again with the
    refused form when there was an error."""
    if request.htmx and (card is not None or site is not None):
        # Only that card or chip, from the record the change saved when it succeeded (a refused
        # change may have rolled back after the summary's refresh: the record is read again).
        written = None if bound or conflict else _written(request, encounter)
        context = answer_context(
            encounter, card=card, site=site, bound=bound, conflict=conflict, written=written
        )
        context.update(_chart_permissions(request, encounter))
        sign_draw(request, context)  # the sign-off as the chart keeps it (issue 19)
        # A flush charted changes its chip's heading, flushes and actions, sent out of band
        # alone; its care and details forms are neither built nor sent (issue 19). Refused, the
        # whole chip comes back with the form as typed.
        chip_parts = site is not None and card is None and not bound and conflict is None
        if not chip_parts:
            shown = context["cards"][0].administration if context["cards"] else None
            context.update(
                care_context(request, encounter, bound=bound, card=card, site=site, card_adm=shown)
            )
        if card is not None:
            context.update(card_pk=card, oob=True)
            care_panels_draw(request, context, bound=bound)  # as the chart keeps them (issue 19)
            return partial_response(request, "mar/_card_response.jinja", context)
        context.update(site_pk=site, oob=True, chip_parts=chip_parts)
        if chip_parts:  # its actions as the chart keeps them (a flush does not change them)
            sites_draw(request, context, parts=("actions",), part_oob=True)
        response = partial_response(request, "mar/_site_response.jinja", context)
        if chip_parts:
            response["HX-Reswap"] = "none"  # every part is swapped out of band
        return response
    if request.htmx:
        context = _chart_context(request, encounter, bound=bound, conflict=conflict)
        return partial_response(request, "mar/_chart.jinja", context)
    if bound or conflict:
        context = _chart_context(request, encounter, bound=bound, conflict=conflict)
        return render(request, "mar/encounter.html", context)
    url = reverse("mar:encounter", args=[encounter.pk])
    if encounter.is_signed:
        url += "?addendum=1"  # the change was an addendum: back to the addendum, still open
    return redirect(f"{url}#{anchor}" if anchor else url)


@dataclass
class Unsent:
    """A change made from a page drawn before the record was signed, as the nurse made it:
    `said`, what she typed or pressed ("Bag id: 'BAG-TAB-B'"); `prefill`, the addendum form's
    fields that carry it (`encounter_detail`'s `?addendum=1&...`); `anchor`, where it opens."""

    said: list[str]
    anchor: str
    prefill: dict[str, str] = field(default_factory=dict)


def _signed_since(request: HttpRequest, encounter: Encounter, unsent: Unsent) -> HttpResponse:
    """Nothing typed is lost silently (QA walkthrough): a change sent from a page drawn before
    the record was signed (a second tab) is saved nowhere; the answer says who signed it and
    when, what she typed, and offers it as an addendum, the addendum form prefilled with it.
    htmx: 409 + `X-MAR-Signed` with that message (static/js/chart.js puts it beside the form
    that sent it, and the card stays not saved, what she typed in its fields); without
    JavaScript: the message and the addendum form, prefilled."""
    row = Encounter.objects.filter(pk=encounter.pk).values("signed_at", "signed_by__username")
    signed = row.get()
    zone = encounter.zone
    at = signed["signed_at"]
    when = (
        "?"
        if at is None
        else hhmm(at, zone)
        if timezone.localdate(at, zone) == timezone.localdate(timezone.now(), zone)
        else date_hhmm(at, zone)
    )
    by = signed["signed_by__username"] or "someone"
    if unsent.said:
        text = (
            f"Not saved: this record was signed at {when} by {by}. Your change — "
            f"{'; '.join(unsent.said)} — can be written as an addendum."
        )
    else:  # sent, but nothing she typed differs from what her page showed
        text = (
            f"Nothing to save: this record was signed at {when} by {by}, and nothing you typed "
            "here differs from what it showed, so nothing of yours was lost. A change to it now "
            "is an addendum."
        )
    query = urlencode({"addendum": "1", **unsent.prefill})
    link = f"{reverse('mar:encounter', args=[encounter.pk])}?{query}#{unsent.anchor}"
    if not request.htmx:
        messages.warning(request, f"{text} Say why below and save it." if unsent.said else text)
        return redirect(link)
    context = {"text": text, "link": link, "typed": bool(unsent.said)}
    html = partial_render(request, "mar/_signed_since.jinja", context)
    response = HttpResponse(html, status=409)
    response["X-MAR-Signed"] = "1"
    return response


def _drawn_in_progress(request: HttpRequest, form: Form) -> bool:
    """Whether the form was drawn on the record in progress: on a signed one (the addendum's
    forms, `?addendum=1`) it has the addendum's reason, posted even when left empty."""
    return form.add_prefix("addendum_why") not in request.POST


def _typed(value: str) -> str:
    return f"'{value}'" if value else "(empty)"


def _card_unsent(request: HttpRequest, adm: Administration, form: AdministrationForm) -> Unsent:
    """The card's fields she changed on her page, as she typed them; the card's addendum form
    prefilled with those alone. Changed: differs from what the field showed when the card was
    drawn (its posted `drawn`), not from what is stored: a value the card drew that she never
    touched (the dose carried over from the order, QA) is not hers to say, nor to prefill."""
    drawn = merge.snapshot_read(request.POST.get(form.add_prefix("drawn"))) or _card_drawn_at(
        request, adm, form
    )
    said, prefill = [], {}
    for name in ADMINISTRATION_CARD_FIELDS:
        key = form.add_prefix(name)
        field_ = form.fields[name]
        if key not in request.POST or name not in drawn:
            continue
        raw = request.POST.get(key, "")
        if not shown_changed(field_, drawn[name], raw):
            continue
        prefill[key] = raw
        if name == "site":
            raw = f"S{raw}" if raw else ""
        elif isinstance(field_, ChoiceField) and raw:
            raw = str(dict(field_.choices).get(raw, raw))  # type: ignore[arg-type]
        said.append(f"{form[name].label}: {_typed(raw)}")
    return Unsent(said=said, anchor=f"adm-{adm.pk}", prefill=prefill)


def _card_drawn_at(
    request: HttpRequest, adm: Administration, form: AdministrationForm
) -> dict[str, str]:
    """A card posted without its `drawn` (a page drawn before it was carried): its fields as a
    page draws the card at the version it was drawn at (from the audit trail; a change saved
    from another tab since, a stop say, is not hers), else as it is saved."""
    initial = AdministrationForm.initial_for(adm)
    version = request.POST.get(form.add_prefix("base_version")) or request.POST.get(
        form.add_prefix("version"), ""
    )
    base = charting.card_as_drawn(adm.pk, int(version)) if version.isdigit() else None
    if base is not None:
        numbers = {"planned_hours", "dose_value", "waste_value"}
        initial.update({n: plain_number(v) if n in numbers else v for n, v in base.items()})
    shown = AdministrationForm(encounter=adm.encounter, prefix=form.prefix, initial=initial)
    shown.fields["site"].choices = form.fields["site"].choices
    return {name: shown_text(shown[name]) for name in ADMINISTRATION_CARD_FIELDS}


def _when_typed(request: HttpRequest, form: Form, encounter: Encounter) -> tuple[str, str]:
    """An action's time as she gave it: (as said, as a time field takes it); empty: now."""
    at = form.cleaned_data.get("at") if form.is_bound and form.is_valid() else None
    if at is None and (raw := request.POST.get(form.add_prefix("at"), "").strip()):
        return raw, raw
    at = at or timezone.now()
    return _wall_clock(encounter, at), date_hhmm(at, encounter.zone)


def _action_unsent(request: HttpRequest, adm: Administration, action: str, form: Form) -> Unsent:
    """Pause, Resume or Stop pressed on a record signed since: what it would have charted. A
    stop is the card's stop time (its addendum form prefilled); a pause or resume is said in
    the addendum's "What changed"."""
    encounter = adm.encounter
    said, typed = _when_typed(request, form, encounter)
    words = [f"{action.capitalize()} at {said}"]
    reason = request.POST.get(f"at{adm.pk}-reason", "")
    if reason:
        words.append(f"reason {dict(Pause.Reason.choices).get(reason, reason).lower()}")
    volume = request.POST.get(f"at{adm.pk}-volume_infused_ml", "").strip()
    if volume:
        words.append(f"volume infused {volume} mL")
    text = f"{adm.drug.name} (A{adm.pk}): " + ", ".join(words)
    if action == "stop":
        return Unsent(said=[text], anchor=f"adm-{adm.pk}", prefill={f"a{adm.pk}-stop": typed})
    done = {"pause": "paused", "resume": "resumed"}[action]
    what = f"{adm.drug.name} (A{adm.pk}) {done} at {typed}" + (
        f" ({', '.join(words[1:])})" if words[1:] else ""
    )
    return Unsent(said=[text], anchor="addendum", prefill={"addendum-what": what})


def _pause_unsent(request: HttpRequest, adm: Administration, form: Form) -> Unsent:
    """A pause added or corrected on a record signed since: said in the addendum's "What
    changed", its times and reason as typed."""
    start = request.POST.get(form.add_prefix("start"), "").strip()
    end = request.POST.get(form.add_prefix("end"), "").strip()
    reason = request.POST.get(form.add_prefix("reason"), "")
    words = f"pause {start or '?'}–{end or '(not resumed)'}" + (
        f", reason {dict(Pause.Reason.choices).get(reason, reason).lower()}" if reason else ""
    )
    return _said_unsent(f"{adm.drug.name} (A{adm.pk}): {words}")


def _said_unsent(text: str) -> Unsent:
    """An action on a record signed since, said as `text` and offered as the addendum's "What
    changed" (prefilled with it)."""
    return Unsent(said=[text], anchor="addendum", prefill={"addendum-what": text})


_UNSAID = {"addendum_why", "base", "version", "request_key"}


def _form_unsent(
    request: HttpRequest, form: Form, title: str, *, drawn: dict[str, str] | None = None
) -> Unsent:
    """A chart form sent on a record signed since, said as typed: "<title>: Label: 'typed',
    ...", its visible fields (hidden ones and the addendum's reason are not hers to say).
    `drawn`: the values the page showed (`merge.canonical`, the form's posted `base`): only the
    fields she changed from them are said, an emptied one too, and none when she changed
    none; without it, the fields she filled in."""
    valid = form.is_valid()
    said = []
    for name, bound in ((name, form[name]) for name in form.fields):
        key = form.add_prefix(name)
        if name in _UNSAID or bound.field.widget.is_hidden or key not in request.POST:
            continue
        raw = request.POST.get(key, "").strip()
        if drawn is not None and name in drawn:
            if valid and merge.canonical(form.cleaned_data.get(name)) == drawn[name]:
                continue
        elif not raw:
            continue
        if isinstance(choice := bound.field, ChoiceField) and raw:
            raw = str(dict(choice.choices).get(raw, raw))  # type: ignore[arg-type]
        label = str(bound.label).split(" (empty")[0]
        said.append(f"{label}: {_typed(raw)}")
    if drawn is not None and not said:  # nothing she typed differs from what it showed
        return Unsent(said=[], anchor="addendum")
    return _said_unsent(f"{title}: {', '.join(said)}" if said else title)


def _drawn(request: HttpRequest, form: Form) -> dict[str, str] | None:
    """The values a snapshot form's page showed (its posted `base`), None when not posted."""
    return merge.snapshot_read(request.POST.get(form.add_prefix("base")))


def _refused(form: Form, exc: ChartError) -> None:
    apply_chart_error(form, exc.errors)


def _changed_meanwhile(form: Form, exc: merge.ChangedMeanwhile, encounter: Encounter) -> None:
    """Both nurses changed a field (issue 18, item 8): nothing saved; what is stored now is named
    beside each such field, what she typed stays in it, and the base becomes what is stored now,
    so saving again keeps hers."""
    data = form.data.copy()
    data[form.add_prefix("base")] = exc.current
    form.data = data
    for name, theirs in exc.clashes.items():
        shown = (
            date_hhmm(theirs, encounter.zone)
            if isinstance(theirs, datetime)
            else (theirs or "(empty)")
        )
        form.add_error(
            name,
            f"Changed by someone else while you typed: it is now {shown}. "
            "Yours is kept here; save again to replace theirs with it.",
        )


@require_POST
@role_required(NURSE)
def encounter_times(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = _encounter(pk)
    form = EncounterTimesForm(request.POST, encounter=encounter, prefix="enc")
    drawn_in_progress = _drawn_in_progress(request, form)
    if encounter.is_signed and drawn_in_progress:
        return _signed_since(request, encounter, _times_unsent(request, form))
    if form.is_valid():
        try:
            charting.encounter_times_update(
                encounter=encounter, user=request.user, **form.cleaned_data
            )
        except ChartError as exc:
            if isinstance(exc, RecordSigned) and drawn_in_progress:  # signed as it was sent
                return _signed_since(request, encounter, _times_unsent(request, form))
            _refused(form, exc)
        except merge.ChangedMeanwhile as exc:
            _changed_meanwhile(form, exc, encounter)
        else:
            messages.success(request, "Arrival and observation times saved.")
            return _after_change(request, encounter, anchor="encounter-times")
    return _after_change(request, encounter, bound={"times": form})


def _times_unsent(request: HttpRequest, form: Form) -> Unsent:
    return _form_unsent(request, form, "Encounter times", drawn=_drawn(request, form))


@require_POST
@role_required(NURSE)
def site_place(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = _encounter(pk)
    has_vascular = encounter.sites.filter(
        discontinued_at__isnull=True, kind__in=VASCULAR_KINDS
    ).exists()
    form = SiteForm(
        request.POST, encounter=encounter, prefix="site", has_vascular_site=has_vascular
    )
    if form.is_valid():
        try:
            site = charting.site_place(encounter=encounter, **form.cleaned_data)
        except ChartError as exc:
            _refused(form, exc)
        else:
            placed = _wall_clock(encounter, site.placed_at) if site.placed_at else "?"
            messages.success(request, f"S{site.pk} {site} placed at {placed}.")
            return _after_change(request, encounter, anchor=f"site-{site.pk}")
    return _after_change(request, encounter, bound={"site": form})


def _site(pk: int, site_pk: int) -> AccessSite:
    return _found(reads.site_with_encounter(pk, site_pk))


@require_POST
@role_required(NURSE)
def site_update(request: HttpRequest, pk: int, site_pk: int) -> HttpResponse:
    """A site's details: location, separate-site reason, and its placed time corrected
    (version-checked against the time the nurse saw; audited; on a signed record an addendum)."""
    site = _site(pk, site_pk)
    encounter = site.encounter
    form = SiteUpdateForm(request.POST, encounter=encounter, prefix=f"s{site.pk}")
    drawn_in_progress = _drawn_in_progress(request, form)
    if encounter.is_signed and drawn_in_progress:
        return _signed_since(request, encounter, _site_update_unsent(request, site, form))
    if form.is_valid():
        data = dict(form.cleaned_data)
        placed_at, placed_was = data.pop("placed_at"), data.pop("placed_was")
        placed_changed = placed_at is not None and _minute(placed_at) != _minute(site.placed_at)
        details_changed = (data["location"], data["separate_site_reason"]) != (
            site.location,
            site.separate_site_reason,
        )
        try:
            with transaction.atomic():
                if details_changed or not placed_changed:
                    charting.site_update(site=site, user=request.user, **data)
                if placed_changed:
                    charting.site_placed_correct(
                        site=site,
                        placed_at=placed_at,
                        was=placed_was,
                        user=request.user,
                        addendum_why=data["addendum_why"],
                    )
        except ChartError as exc:
            if isinstance(exc, RecordSigned) and drawn_in_progress:  # signed as it was sent
                return _signed_since(request, encounter, _site_update_unsent(request, site, form))
            _refused(form, exc)
        except merge.ChangedMeanwhile as exc:
            _changed_meanwhile(form, exc, encounter)
        else:
            said = f"S{site.pk} saved"
            if placed_changed:
                said += f": placed at {_wall_clock(encounter, placed_at)}"
            messages.success(request, said + ".")
            return _after_change(request, encounter, anchor=f"site-{site.pk}")
    return _after_change(request, encounter, bound={f"site-S{site.pk}": form})


def _site_update_unsent(request: HttpRequest, site: AccessSite, form: Form) -> Unsent:
    """The site's fields she changed from what her page showed (its placed time: `placed_was`)."""
    drawn = _drawn(request, form)
    if drawn is not None and form.is_valid():
        drawn["placed_at"] = merge.canonical(form.cleaned_data["placed_was"])
    return _form_unsent(request, form, f"S{site.pk} {site}", drawn=drawn)


def _minute(moment: datetime | None) -> datetime | None:
    return moment.replace(second=0, microsecond=0) if moment is not None else None


@require_POST
@role_required(NURSE)
def site_assess(request: HttpRequest, pk: int, site_pk: int) -> HttpResponse:
    """Assessed: now (one tap), or at a typed time (late entry), refused beside the field."""
    site = _site(pk, site_pk)
    encounter = site.encounter
    form = SiteAssessForm(request.POST, encounter=encounter, prefix=f"assess{site.pk}")
    if encounter.is_signed:  # signed since the page was drawn (a signed chart has no Assessed)
        return _signed_since(request, encounter, _site_unsent(request, site, form, "assessed"))
    if form.is_valid():
        at = form.cleaned_data["at"] or timezone.now()
        try:
            charting.site_assess(site=site, at=at)
        except RecordSigned:
            return _signed_since(request, encounter, _site_unsent(request, site, form, "assessed"))
        except ChartError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"S{site.pk} assessed at {_wall_clock(encounter, at)}.")
            return _after_change(request, encounter, anchor=f"site-{site.pk}")
    return _after_change(request, encounter, bound={f"assess-S{site.pk}": form})


@require_POST
@role_required(NURSE)
def site_discontinue(request: HttpRequest, pk: int, site_pk: int) -> HttpResponse:
    """Discontinue a site, now or at a typed time, behind "Discontinue…" which says what runs on
    it: an infusion running there stops with it only when the nurse confirmed that
    (`stop_running`); otherwise refused, saying what runs. Undone by "Reopen"."""
    site = _site(pk, site_pk)
    encounter = site.encounter
    form = SiteDiscontinueForm(request.POST, encounter=encounter, prefix=f"discontinue{site.pk}")
    if encounter.is_signed:  # signed since the page was drawn (a signed chart has no Discontinue)
        return _signed_since(request, encounter, _site_unsent(request, site, form, "discontinued"))
    if form.is_valid():
        now = timezone.now()
        at = form.cleaned_data["at"] or now
        try:
            stopped = charting.site_discontinue(
                site=site, at=at, stop_running=form.cleaned_data["stop_running"], now=now
            )
        except RecordSigned:
            unsent = _site_unsent(request, site, form, "discontinued")
            return _signed_since(request, encounter, unsent)
        except ChartError as exc:
            _refused(form, exc)
        else:
            said = f"S{site.pk} discontinued at {_wall_clock(encounter, at)}"
            if stopped:
                said += f"; {charting.running_names(stopped)} stopped with it"
            messages.success(request, said + ". By mistake? Reopen it on the site.")
            return _after_change(request, encounter, anchor=f"site-{site.pk}")
    return _after_change(request, encounter, bound={f"discontinue-S{site.pk}": form})


@require_POST
@role_required(NURSE)
def site_reopen(request: HttpRequest, pk: int, site_pk: int) -> HttpResponse:
    """Undo a discontinue charted by mistake (the audit trail keeps both, with who)."""
    site = _site(pk, site_pk)
    encounter = site.encounter
    if encounter.is_signed:  # signed since the page was drawn (a signed chart has no Reopen)
        return _signed_since(request, encounter, _said_unsent(f"S{site.pk} {site} reopened"))
    try:
        charting.site_reopen(site=site, user=request.user)
    except RecordSigned:
        return _signed_since(request, encounter, _said_unsent(f"S{site.pk} {site} reopened"))
    except ChartError as exc:
        for message_list in exc.errors.values():
            for message in message_list:
                messages.error(request, message)
    else:
        messages.success(request, f"S{site.pk} reopened: it is in use again.")
    return _after_change(request, encounter, anchor=f"site-{site.pk}")


def _site_unsent(request: HttpRequest, site: AccessSite, form: Form, done: str) -> Unsent:
    """Assessed or Discontinue pressed on a record signed since: the time as she gave it."""
    said, _typed_at = _when_typed(request, form, site.encounter)
    text = f"S{site.pk} {site} {done} at {said}"
    if request.POST.get(form.add_prefix("stop_running")) in ("on", "true", "True", "1"):
        text += ", stopping what ran on it"
    return _said_unsent(text)


def _wall_clock(encounter: Encounter, moment: datetime | None) -> str:
    """A time on the encounter's wall clock, HH:MM (None: now)."""
    return hhmm(moment or timezone.now(), encounter.zone)


@require_POST
@role_required(NURSE)
@answers_from_written
def site_flush(request: HttpRequest, pk: int, site_pk: int) -> HttpResponse:
    """A flush on this site: now (one tap), or given earlier at a typed time.

    A time that cannot be read, or that the engine refuses (DOC-3: in the future), comes back
    beside the time field as typed, with or without htmx; nothing is charted.
    """
    site = _site(pk, site_pk)
    encounter = site.encounter
    form = FlushForm(request.POST, encounter=encounter, prefix=f"flush{site.pk}")
    details = FlushDetailsForm(request.POST, prefix=f"flush{site.pk}")
    if encounter.is_signed:  # signed since the page was drawn (a signed chart has no Flush)
        return _signed_since(request, encounter, _flush_unsent(request, site, form))
    if not details.is_valid():
        # A solution or volume that cannot be read refuses the flush, said on the flush form
        # with the field's name: charting it without them would drop what she typed.
        for name, errors in details.errors.items():
            for error in errors:
                label = str(details.fields[name].label)
                form.add_error(None, f"Flush {label[:1].lower()}{label[1:]}: {error}")
    if form.is_valid():
        now = timezone.now()
        try:
            flush = charting.flush_chart(
                site=site,
                at=form.cleaned_data["at"] or now,
                now=now,
                again=form.cleaned_data["again"],
                **details.cleaned_data,
            )
        except RecordSigned:
            return _signed_since(request, encounter, _flush_unsent(request, site, form))
        except ChartError as exc:
            # The engine names the record's "flushes[i]"; on this form it is "at".
            apply_chart_error(
                form, {("at" if k == "flushes" else k): v for k, v in exc.errors.items()}
            )
        else:
            messages.success(
                request, f"Flush charted on S{site.pk} at {_wall_clock(encounter, flush.at)}."
            )
            return _after_change(request, encounter, anchor=f"site-{site.pk}", site=site.pk)
    return _after_change(request, encounter, bound={f"flush-S{site.pk}": form}, site=site.pk)


def _flush_unsent(request: HttpRequest, site: AccessSite, form: Form) -> Unsent:
    """A flush charted on a record signed since: the addendum's missed flush, prefilled."""
    said, typed = _when_typed(request, form, site.encounter)
    solution = request.POST.get(form.add_prefix("solution"), "").strip()
    volume = request.POST.get(form.add_prefix("volume_ml"), "").strip()
    amount = " ".join(part for part in (solution, f"{volume} mL" if volume else "") if part)
    text = f"Flush on S{site.pk} at {said}" + (f" ({amount})" if amount else "")
    prefill = {
        "addendum-what": f"Flush on S{site.pk} at {typed}" + (f" ({amount})" if amount else ""),
        "addendum-flush_site": str(site.pk),
        "addendum-flush_at": typed,
    }
    if solution:
        prefill["addendum-flush_solution"] = solution
    if volume:
        prefill["addendum-flush_volume_ml"] = volume
    return Unsent(said=[text], anchor="addendum", prefill=prefill)


@require_POST
@role_required(NURSE)
def flush_remove(request: HttpRequest, pk: int, flush_pk: int) -> HttpResponse:
    """Remove a flush charted by mistake; on a signed record only as an addendum (say why)."""
    flush = get_object_or_404(
        Flush.objects.select_related("encounter__patient"), pk=flush_pk, encounter_id=pk
    )
    encounter = flush.encounter
    form = FlushRemoveForm(request.POST, prefix=f"f{flush.pk}")
    drawn_in_progress = _drawn_in_progress(request, form)
    removed = _said_unsent(
        f"Flush on S{flush.site_id} at {_wall_clock(encounter, flush.at)} removed"
    )
    if encounter.is_signed and drawn_in_progress:
        return _signed_since(request, encounter, removed)
    if form.is_valid():
        try:
            charting.flush_remove(
                flush=flush, user=request.user, addendum_why=form.cleaned_data["addendum_why"]
            )
        except ChartError as exc:
            if isinstance(exc, RecordSigned) and drawn_in_progress:  # signed as it was sent
                return _signed_since(request, encounter, removed)
            _refused(form, exc)
        else:
            messages.success(
                request,
                f"Flush on S{flush.site_id} at {_wall_clock(encounter, flush.at)} removed.",
            )
            return _after_change(request, encounter, anchor=f"site-{flush.site_id}")
    return _after_change(request, encounter, bound={f"flush-F{flush.pk}": form})


@require_POST
@role_required(NURSE)
@answers_from_written
def order_start(request: HttpRequest, pk: int, order_pk: int) -> HttpResponse:
    """Start giving an order: drug, dose and route carried over; the only open site preselected."""
    order = _found(reads.order_with_encounter(pk, order_pk))
    encounter = order.encounter
    sites = {s.pk: s for s in reads.sites(encounter.pk, encounter=encounter)}
    form = StartForm(request.POST, encounter=encounter, sites=sites.values(), prefix=f"o{order.pk}")
    # The safety checks (scan, verification, allergy, double check: mar/services/safety.py).
    checks = StartChecksForm(request.POST, order=order, request=request, prefix=f"o{order.pk}")
    if encounter.is_signed:  # signed since the page was drawn (a signed chart has no Start)
        return _signed_since(request, encounter, _start_unsent(request, order, form))
    # Both validated, so that every problem is said at once (Method not chosen, and the checks').
    checks_valid = checks.is_valid()
    if form.is_valid() and checks_valid:
        now = timezone.now()
        site_pk = form.cleaned_data["site"]
        data = checks.cleaned_data
        try:
            adm = safety.administration_start_checked(
                order=order,
                site=sites.get(site_pk) if site_pk is not None else None,
                start=form.cleaned_data["at"] or now,
                method=form.cleaned_data["method"],
                user=request.user,
                now=now,
                request_key=form.cleaned_data["request_key"],
                order_revision=form.cleaned_data["order_revision"],
                checks=safety.StartChecks(
                    scan=checks.scan_obj,
                    emergency_reason=data["emergency_reason"],
                    allergy_reason=data["allergy_reason"],
                    second_nurse=checks.second_nurse,
                    double_check_confirmed=data["double_check_confirmed"],
                    rate_ml_h=data["rate_ml_h"],
                    bag_volume_ml=data["bag_volume_ml"],
                    vtbi_ml=data["vtbi_ml"],
                ),
            )
        except safety.OrderChanged as exc:
            # Changed by the ordering system since this chart was drawn: the row is drawn again
            # as the order is now, and the form carries its revision, so starting again works.
            apply_chart_error(form, exc.errors)
            data = form.data.copy()
            data[form.add_prefix("order_revision")] = str(exc.order.revision)
            form.data = data
        except RecordSigned:
            return _signed_since(request, encounter, _start_unsent(request, order, form))
        except ChartError as exc:
            # The engine names the administration's "start"; on this form it is "at".
            errors = {("at" if k == "start" else k): v for k, v in exc.errors.items()}
            apply_chart_error(form, {k: v for k, v in errors.items() if k not in checks.fields})
            apply_chart_error(checks, {k: v for k, v in errors.items() if k in checks.fields})
        else:
            messages.success(
                request,
                f"{order.drug.name} started at {_wall_clock(encounter, adm.start)} "
                f"(A{adm.pk}, {adm.get_method_display().lower()}){_unscanned(adm)}.",
            )
            if (early := adm.start_before_check) is not None:  # late entry: allowed, said
                messages.warning(
                    request,
                    f"Started {_wall_clock(encounter, adm.start)}, before its {early[0]} at "
                    f"{_wall_clock(encounter, early[1])}: check the start time.",
                )
            if request.htmx and not encounter.is_signed:
                return _start_answer(request, encounter, adm, list(sites.values()))
            return _after_change(request, encounter, anchor=f"adm-{adm.pk}")
    bound = {f"start-O{order.pk}": form, f"checks-O{order.pk}": checks}
    return _after_change(request, encounter, bound=bound)


def _start_unsent(request: HttpRequest, order: Order, form: Form) -> Unsent:
    """A start pressed on a record signed since: said in the addendum's "What changed"."""
    said, typed = _when_typed(request, form, order.encounter)
    text = f"Start {order.drug.name} (order O{order.pk}) at {said}"
    what = f"{order.drug.name} (order O{order.pk}) started at {typed}"
    return Unsent(said=[text], anchor="addendum", prefill={"addendum-what": what})


def _unscanned(adm: Administration) -> str:
    """The start's message says what it went without (its card says it too)."""
    missing = adm.not_scanned_at_start
    if len(missing) == 2:
        return ", without scanning the wristband or the drug"
    return f", without scanning the {missing[0]}" if missing else ""


def _start_answer(
    request: HttpRequest, encounter: Encounter, adm: Administration, sites: list[AccessSite]
) -> HttpResponse:
    """htmx answer to a start: the parts of the chart a start changes, out of band
    (mar/_start_response.jinja); the cards of what is finished are not built or sent (issue 19).
    `sites`: as the view read them before the start (which does not change them)."""
    context = chart_context(
        encounter, started=adm.pk, written=_written(request, encounter), sites=sites
    )
    shown = {card.administration.pk for card in context["cards"]}
    orders = {row[0].pk for row in context["orders"]}  # the started one's, or all of them
    # Its site's chip sends only its actions (what runs on it): no chip's care is built.
    context.update(
        care_context(
            request,
            encounter,
            cards=shown,
            chips=set(),
            orders=orders,
            rows=context["rows"],
            scan_only=True,
        )
    )
    context.update(_chart_permissions(request, encounter))
    cards_draw(request, context)  # what runs, when sent whole: unchanged cards kept (issue 19)
    # The orders' rows as the chart page keeps them: the started one's, given now, drawn and
    # kept for the next load; the others, when the section is sent whole, kept since the last.
    move = context["order_move"]
    orders_draw(request, context, morph=move.order.pk if move is not None and move.again else None)
    # Its site's actions (what runs on it changed) drawn once and kept for the next load.
    sites_draw(request, context, parts=("actions",), part_oob=True)
    sign_draw(request, context)
    care_draw(request, context)  # the scan panel's field
    context["oob"] = True
    response = partial_response(request, "mar/_start_response.jinja", context)
    response["HX-Reswap"] = "none"  # every part is swapped out of band
    return response


@require_POST
@role_required(NURSE)
def order_disposition(request: HttpRequest, pk: int, order_pk: int) -> HttpResponse:
    """An order not given: not given, held or refused with the reason (DOC-6), or cleared (to
    give after all); on a signed record as an addendum."""
    order = get_object_or_404(
        Order.objects.select_related("encounter__patient", "drug"), pk=order_pk, encounter_id=pk
    )
    encounter = order.encounter
    form = DispositionForm(request.POST, prefix=f"d{order.pk}")
    drawn_in_progress = _drawn_in_progress(request, form)
    title = f"{order.drug.name} (order O{order.pk})"
    if encounter.is_signed and drawn_in_progress:
        return _signed_since(request, encounter, _form_unsent(request, form, title))
    if form.is_valid():
        data = form.cleaned_data
        try:
            charting.order_disposition_set(
                order=order,
                disposition=data["disposition"],
                reason=data["reason"],
                user=request.user,
                addendum_why=data["addendum_why"],
            )
        except ChartError as exc:
            if isinstance(exc, RecordSigned) and drawn_in_progress:  # signed as it was sent
                return _signed_since(request, encounter, _form_unsent(request, form, title))
            _refused(form, exc)
        else:
            if order.disposition:
                messages.success(
                    request,
                    f"{order.drug.name}: {order.get_disposition_display().lower()} charted.",
                )
            else:
                messages.success(request, f"{order.drug.name}: to give.")
            return _after_change(request, encounter, anchor=f"order-{order.pk}")
    return _after_change(request, encounter, bound={f"disposition-O{order.pk}": form})


def _administration(pk: int, adm_pk: int) -> Administration:
    return _found(reads.administration_with_encounter(pk, adm_pk))


@require_POST
@role_required(NURSE)
@answers_from_written
def administration_update(request: HttpRequest, pk: int, adm_pk: int) -> HttpResponse:
    """Save an administration card (every field change with htmx; the Save button without).

    A stale version is never overwritten: the card comes back with the nurse's values as typed,
    the saved version beside them, and the new version number, so saving again is deliberate.
    """
    adm = _administration(pk, adm_pk)
    encounter = adm.encounter
    sites = {s.pk: s for s in reads.sites(encounter.pk, encounter=encounter)}
    prefix = f"a{adm.pk}"
    form = AdministrationForm(
        request.POST, encounter=encounter, sites=sites.values(), prefix=prefix
    )
    drawn_in_progress = _drawn_in_progress(request, form)
    if encounter.is_signed and drawn_in_progress:
        return _signed_since(request, encounter, _card_unsent(request, adm, form))
    if form.is_valid():
        changes = form.changes(sites, saved=adm)
        try:
            charting.administration_update(
                administration=adm,
                version=form.cleaned_data["version"],
                changes=changes,
                user=request.user,
                addendum_why=form.cleaned_data["addendum_why"],
                base_version=form.cleaned_data["base_version"],
            )
        except ChartError as exc:
            if isinstance(exc, RecordSigned) and drawn_in_progress:  # signed as it was sent
                return _signed_since(request, encounter, _card_unsent(request, adm, form))
            # Nothing of this save is stored: said against the record as it stands (read again:
            # another nurse's save merged meanwhile is in it).
            stored = Administration.objects.select_related("encounter").get(pk=adm.pk)
            card_refused(form, exc.errors, changes=changes, stored=stored)
        except StaleVersion as exc:
            data = request.POST.copy()
            data[f"{prefix}-version"] = str(exc.current.version)
            if not data.get(f"{prefix}-base_version"):
                data[f"{prefix}-base_version"] = str(form.cleaned_data["version"])
            # What only the other nurse changed is shown as saved; her own values stay typed.
            for name in exc.theirs:
                data[f"{prefix}-{name}"] = _as_posted(getattr(exc.current, name))
            form = AdministrationForm(
                data, encounter=encounter, sites=sites.values(), prefix=prefix
            )
            # Those fields now show theirs: drawn so (what she typed stays hers to say).
            drawn = merge.snapshot_read(data.get(f"{prefix}-drawn"))
            if drawn is not None:
                drawn.update({name: shown_text(form[name]) for name in exc.theirs})
                data[f"{prefix}-drawn"] = json.dumps(drawn, sort_keys=True)
            form.is_valid()
            clashed = ", ".join(
                str(form.fields[name].label).lower() for name in sorted(exc.clashes)
            )
            form.add_error(
                None,
                "Someone else saved this administration while you were editing it"
                + (f", changing the same field ({clashed})" if clashed else "")
                + ". Their version is in the box above; yours is kept in the form. "
                "Save again to replace theirs with yours"
                + (" in those fields; the others stay as they saved them." if clashed else "."),
            )
            return _after_change(
                request, encounter, bound={prefix: form}, conflict=exc.current, card=adm.pk
            )
        else:
            said = "saved as an addendum" if encounter.is_signed else "saved"
            messages.success(
                request, f"{adm.drug.name} (A{adm.pk}) {said} at {_wall_clock(encounter, None)}."
            )
            return _after_change(request, encounter, anchor=f"adm-{adm.pk}", card=adm.pk)
    return _after_change(request, encounter, bound={prefix: form}, card=adm.pk)


def _as_posted(value: Any) -> str:
    """A saved card value as its form field posts it back."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, AccessSite):
        return str(value.pk)
    if isinstance(value, Decimal):
        return plain_number(value) or ""
    return str(value)


AT_FIELDS = ("start", "stop", "end")  # what a one-tap action's time ("at") can make wrong


def _administration_action(request: HttpRequest, pk: int, adm_pk: int, action: str) -> HttpResponse:
    adm = _administration(pk, adm_pk)
    encounter = adm.encounter
    form_class = {"pause": PauseAtForm, "resume": ResumeAtForm}.get(action, AtForm)
    form = form_class(request.POST, encounter=encounter, prefix=f"at{adm.pk}")
    if encounter.is_signed:  # signed since the page was drawn: these are never drawn after
        return _signed_since(request, encounter, _action_unsent(request, adm, action, form))
    if form.is_valid():
        now = timezone.now()
        at = form.cleaned_data["at"] or now
        version = form.cleaned_data["version"]
        if version is None:
            # Every write to the record names the version it was made from (issue 18, item 8):
            # without one, a pause/stop would silently apply over another nurse's change.
            form.add_error(None, "This page is out of date: reload it and try again.")
            return _after_change(request, encounter, bound={f"at-a{adm.pk}": form}, card=adm.pk)
        service = {
            "pause": charting.administration_pause,
            "resume": charting.administration_resume,
            "stop": charting.administration_stop,
        }[action]
        extra: Form = {"pause": PauseReasonForm, "stop": StopVolumeForm}.get(action, Form)(
            request.POST, prefix=f"at{adm.pk}"
        )
        if not extra.is_valid():
            # A volume or reason that cannot be read refuses the tap (said in the card's alert,
            # with the field's name): stopping without the volume she typed would drop it.
            for name, errors in extra.errors.items():
                label = extra.fields[name].label if name in extra.fields else None
                for error in errors:
                    form.add_error(None, f"{label}: {error}" if label else error)
            return _after_change(request, encounter, bound={f"at-a{adm.pk}": form}, card=adm.pk)
        reason = extra.cleaned_data.get("reason", "")
        volume = extra.cleaned_data.get("volume_infused_ml")
        # The service is a transaction of its own; a second write (the pause's reason, the
        # volume infused) joins it in one, at the cost of a savepoint: only when there is one.
        second_write = (action == "pause" and bool(reason)) or (
            action == "stop" and volume is not None
        )
        try:
            with transaction.atomic() if second_write else contextlib.nullcontext():
                result = service(administration=adm, version=version, at=at, now=now)
                if action == "pause" and reason:
                    rates.pause_reason_set(pause=result, reason=reason)
                elif action == "stop" and volume is not None:
                    rates.stop_volume_set(administration=adm, volume_infused_ml=volume)
        except RecordSigned:
            return _signed_since(request, encounter, _action_unsent(request, adm, action, form))
        except ChartError as exc:
            apply_chart_error(
                form,
                {("at" if k in AT_FIELDS else None): v for k, v in exc.errors.items()},
            )
        except StaleVersion as exc:
            form.add_error(
                None,
                f"{adm.drug.name} was changed by someone else meanwhile: check it and try again.",
            )
            return _after_change(
                request, encounter, bound={f"at-a{adm.pk}": form}, conflict=exc.current,
                card=adm.pk,
            )  # fmt: skip
        else:
            done = {"pause": "paused", "resume": "resumed", "stop": "stopped"}[action]
            messages.success(
                request, f"{adm.drug.name} (A{adm.pk}) {done} at {_wall_clock(encounter, at)}."
            )
            return _after_change(request, encounter, anchor=f"adm-{adm.pk}", card=adm.pk)
    return _after_change(request, encounter, bound={f"at-a{adm.pk}": form}, card=adm.pk)


@require_POST
@role_required(NURSE)
@answers_from_written
def administration_pause(request: HttpRequest, pk: int, adm_pk: int) -> HttpResponse:
    return _administration_action(request, pk, adm_pk, "pause")


@require_POST
@role_required(NURSE)
@answers_from_written
def administration_resume(request: HttpRequest, pk: int, adm_pk: int) -> HttpResponse:
    return _administration_action(request, pk, adm_pk, "resume")


@require_POST
@role_required(NURSE)
@answers_from_written
def administration_stop(request: HttpRequest, pk: int, adm_pk: int) -> HttpResponse:
    return _administration_action(request, pk, adm_pk, "stop")


@require_POST
@role_required(NURSE)
@answers_from_written
def pause_add(request: HttpRequest, pk: int, adm_pk: int) -> HttpResponse:
    """ "Add a pause": a past pause with both its times (late entry), on a running or stopped
    infusion; refused beside the time at fault, what was typed kept."""
    adm = _administration(pk, adm_pk)
    encounter = adm.encounter
    form = PauseAddForm(request.POST, encounter=encounter, prefix=f"pa{adm.pk}")
    if encounter.is_signed:  # signed since the page was drawn (a signed chart has no "Add")
        return _signed_since(request, encounter, _pause_unsent(request, adm, form))
    if form.is_valid():
        data = form.cleaned_data
        try:
            pause = charting.pause_add(
                administration=adm,
                version=data["version"],
                start=data["start"],
                end=data["end"],
                reason=data["reason"],
            )
        except RecordSigned:
            return _signed_since(request, encounter, _pause_unsent(request, adm, form))
        except ChartError as exc:
            _refused(form, exc)
        except StaleVersion as exc:
            # Her times stay typed, with the card's version now: adding it again is deliberate.
            data = request.POST.copy()
            data[form.add_prefix("version")] = str(exc.current.version)
            form = PauseAddForm(data, encounter=encounter, prefix=f"pa{adm.pk}")
            form.is_valid()
            form.add_error(
                None,
                f"{adm.drug.name} was changed by someone else meanwhile: check it and add the "
                "pause again.",
            )
            return _after_change(
                request, encounter, bound={f"pa{adm.pk}": form}, conflict=exc.current,
                card=adm.pk,
            )  # fmt: skip
        else:
            messages.success(
                request,
                f"Pause of {adm.drug.name} (A{adm.pk}) {_wall_clock(encounter, pause.start)}-"
                f"{_wall_clock(encounter, pause.end)} charted.",
            )
            return _after_change(request, encounter, anchor=f"adm-{adm.pk}", card=adm.pk)
    return _after_change(request, encounter, bound={f"pa{adm.pk}": form}, card=adm.pk)


@require_POST
@role_required(NURSE)
@answers_from_written
def pause_update(request: HttpRequest, pk: int, pause_pk: int) -> HttpResponse:
    pause = get_object_or_404(
        Pause.objects.select_related("administration__encounter__patient"),
        pk=pause_pk,
        administration__encounter_id=pk,
    )
    encounter = pause.administration.encounter
    form = PauseForm(request.POST, encounter=encounter, prefix=f"p{pause.pk}")
    drawn_in_progress = _drawn_in_progress(request, form)
    adm = pause.administration
    if encounter.is_signed and drawn_in_progress:
        return _signed_since(request, encounter, _pause_unsent(request, adm, form))
    if form.is_valid():
        try:
            charting.pause_update(
                pause=pause,
                version=form.cleaned_data["version"],
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                # A form without the field (a page drawn before it) leaves the reason as it is.
                reason=form.cleaned_data["reason"]
                if form.add_prefix("reason") in request.POST
                else None,
                user=request.user,
                addendum_why=form.cleaned_data["addendum_why"],
            )
        except ChartError as exc:
            if isinstance(exc, RecordSigned) and drawn_in_progress:  # signed as it was sent
                return _signed_since(request, encounter, _pause_unsent(request, adm, form))
            _refused(form, exc)
        except StaleVersion as exc:
            form.add_error(None, "Someone else changed this administration meanwhile.")
            return _after_change(
                request, encounter, bound={f"p{pause.pk}": form}, conflict=exc.current,
                card=pause.administration_id,
            )  # fmt: skip
        else:
            said = "saved as an addendum" if encounter.is_signed else "saved"
            messages.success(request, f"Pause of {pause.administration.drug.name} {said}.")
            return _after_change(
                request,
                encounter,
                anchor=f"adm-{pause.administration_id}",
                card=pause.administration_id,
            )
    return _after_change(
        request, encounter, bound={f"p{pause.pk}": form}, card=pause.administration_id
    )


@require_POST
@role_required(NURSE)
def encounter_sign_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Sign once every error is resolved or acknowledged with a reason (kept with the signature)."""
    encounter = _encounter(pk)
    now = timezone.now()
    # As the signature checks it: an infusion still running is a stop missing (RAC-7 error),
    # which the form asks to resolve or acknowledge like any other.
    record, result, _error = evaluate(encounter, now, signing=True)
    acknowledged = {acknowledgement_key(a) for a in encounter.acknowledgements.all()}
    findings = result.findings if result else ()
    form = SignForm(
        request.POST,
        open_errors=charting.open_errors(findings, acknowledged),
        counts=sign_counts(record),
    )
    if not form.is_valid():
        # Not confirmed (or confirmed for a record that changed since): nothing is signed; a
        # reason still missing is said with it, every problem at once.
        for name in form.reasons_missing():
            form.add_error(name, REASON_MISSING)
        return _after_change(request, encounter, bound={"sign": form})
    try:
        charting.encounter_sign(
            encounter=encounter, user=request.user, reasons=form.reasons(), now=now
        )
    except SignBlocked as exc:
        for finding in exc.open_errors:
            name = f"ack_{finding_key(finding)}"
            if name in form.fields:
                form.add_error(name, REASON_MISSING)
            else:
                form.add_error(None, f"{finding.rule}: {finding.message}")
    except ChartError as exc:
        _refused(form, exc)
    else:
        messages.success(request, "Signed. Charges are being generated.")
        url = reverse("mar:encounter", args=[pk])
        if request.htmx:
            # The whole page changes (header, read-only cards): have htmx load it anew.
            return HttpResponseClientRefresh()
        return redirect(f"{url}#charges")
    return _after_change(request, encounter, bound={"sign": form})


def _addendum_saved(addendum: Addendum, *, told: bool) -> str:
    """What the addendum's message says happens next: charges made again only when a run is
    owed (`signature.addendum_store`); an addendum in words only leaves them as they are (QA:
    an answer to the coder's query said "being regenerated" and no run came)."""
    if getattr(addendum, "charges_owed", True):
        return "Addendum saved. Charges are being regenerated."
    if told:
        return "Addendum saved; the coder is told. Charges unchanged."
    return "Addendum saved. Charges unchanged."


@require_POST
@role_required(NURSE)
def addendum_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A change to a signed record: what and why (who and when recorded); charges regenerate."""
    encounter = _encounter(pk)
    sites = {s.pk: s for s in encounter.sites.all()}
    queries = query_choices(
        charges_port().open_queries().filter(encounter_id=pk).order_by("asked_at", "pk")
    )
    form = AddendumForm(
        request.POST, encounter=encounter, sites=sites.values(), queries=queries, prefix="addendum"
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            addendum = charting.addendum_write(
                encounter=encounter,
                user=request.user,
                what=data["what"],
                why=data["why"],
                flush_site=sites.get(data["flush_site"]) if data["flush_site"] else None,
                flush_at=data["flush_at"],
                flush_solution=data["flush_solution"],
                flush_volume_ml=data["flush_volume_ml"],
                answers=data.get("answers") or (),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except ChartError as exc:
            _refused(form, exc)
        else:
            messages.success(request, _addendum_saved(addendum, told=bool(data.get("answers"))))
            return _after_change(request, encounter, anchor="addenda")
    return _after_change(request, encounter, bound={"addendum": form})
