"""The clerk's screens: find or register a patient, open a visit, enter orders.

Clerks (and admins) register and open visits; nurses may also enter an order they transcribe
(a written, verbal or telephone order), which waits for a pharmacist's verification like any
other. The two search endpoints answer htmx with <option>s for the fields' datalists; without
JavaScript the typed text is resolved when the form is posted.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mar.dosing import dose_shown
from mar.forms import apply_validation_error
from mar.models import Encounter, Order, Patient, SafetyOverride
from mar.registration.cancelling import order_cancel, order_cancel_refusal
from mar.registration.forms import (
    DOSE_WARNED_FIELDS,
    AccountNumberForm,
    OrderCancelForm,
    OrderEntryForm,
    PatientForm,
    VisitForm,
)
from mar.registration.icd10 import icd10_search
from mar.registration.services import (
    ORDER_FIELDS_CHECKED,
    chair_key,
    drug_search,
    encounter_account_set,
    encounter_open,
    order_by_entry_key,
    order_dose_said,
    order_duplicate_said,
    order_enter,
    order_entry_field_problems,
    order_entry_problems,
    order_entry_typed,
    order_indication_note,
    patient_find,
    patient_register,
    patient_register_problems,
    second_visit_warning,
    units_known,
    visits_in_progress,
)
from mar.roles import CLERK, NURSE, PHARMACIST, role_required, user_has_role
from mar.services.safety import allergy_cross_only, duplicate_notes_both


@require_GET
@role_required(CLERK, NURSE)
def home(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    today = timezone.localdate()
    visits = (
        Encounter.objects.filter(arrived_at__date=today)
        .select_related("patient")
        .order_by("-arrived_at", "-pk")[:50]
    )
    return render(
        request,
        "registration/home.html",
        {"query": query, "patients": patient_find(query), "visits": visits},
    )


@require_http_methods(["GET", "POST"])
@role_required(CLERK)
def patient_new(request: HttpRequest) -> HttpResponse:
    # Bound on every POST, an empty one too (it is told what is missing, not shown a new form).
    posted = request.POST if request.method == "POST" else None
    form = PatientForm(posted, initial={"mrn": request.GET.get("mrn", "")[:40]})
    if request.method == "POST" and form.is_valid():
        try:
            patient = patient_register(**form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Registered {patient.name} (MRN {patient.mrn}).")
            return redirect("registration:patient", pk=patient.pk)
    elif request.method == "POST":
        # What was typed in the other fields is checked too: every problem shows at once.
        problems = patient_register_problems(form.cleaned_data)
        if problems is not None:
            apply_validation_error(form, problems)
    return render(request, "registration/patient_new.html", {"form": form})


@require_GET
@role_required(CLERK, NURSE)
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    visits = patient.encounters.order_by("-arrived_at", "-pk")
    return render(request, "registration/patient.html", {"patient": patient, "visits": visits})


@require_http_methods(["GET", "POST"])
@role_required(CLERK)
def visit_new(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    posted = request.POST if request.method == "POST" else None  # an empty POST is told too
    open_visits = visits_in_progress(patient)
    form = VisitForm(
        posted,
        initial={"arrived_at": timezone.now()},
        open_visit=open_visits[0] if open_visits else None,
    )
    known = units_known()  # offered as the unit is typed; a new one is said after
    if request.method == "POST" and form.is_valid():
        chair = chair_key(form.cleaned_data["unit"], form.cleaned_data["location_label"])
        try:
            # A desk's visit: a second one while another is in progress needs a reason; a chair
            # another patient's visit in progress holds, a confirm.
            typed = {"second_visit_why": "", **form.cleaned_data}
            del typed["chair_confirm"], typed["chair_warned"]
            encounter = encounter_open(
                patient=patient, chair_confirmed=form.chair_confirmed(), **typed
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
            if "chair_confirm" in form.errors or form.chair_confirmed() == chair != "":
                # Said beside the chair; the box under it (a tick kept), for this chair only.
                form.chair_ask(chair)
        else:
            messages.success(request, f"Visit opened: {encounter.unit} {encounter.location_label}")
            if known and encounter.unit not in known:
                messages.info(
                    request,
                    f"{encounter.unit} is a new unit: no visit was in it before. The board and "
                    "the coders' unit filter show it from now on.",
                )
            return redirect("registration:visit", pk=encounter.pk)
    return render(
        request,
        "registration/visit_new.html",
        {
            "patient": patient,
            "form": form,
            "known_units": known,
            "open_visits": open_visits,
            "open_warning": second_visit_warning(open_visits[0]) if open_visits else "",
        },
    )


SIGNED_NO_ORDER = "This visit is signed; an order is added by an addendum."

# Who cancels an order entered in error: the ordering desk and pharmacy (admins always); a nurse
# documents an order not given on the chart instead.
ORDER_CANCELLERS = (CLERK, PHARMACIST)


def _visit_page(
    request: HttpRequest,
    encounter: Encounter,
    account_form: AccountNumberForm | None = None,
    cancel_form: tuple[int, OrderCancelForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The clerk's visit page; a visit with no account number offers the clerk (and admin) its
    form (`account_form`: the one posted, with its messages beside the field). Each order
    nothing was charted on offers the clerk and the pharmacist "Cancel — entered in error"
    (`cancel_form`: the order's pk and its form as posted, refused)."""
    orders = list(
        encounter.orders.select_related(
            "drug", "entered_by", "verified_by", "returned_by", "cancelled_by"
        ).prefetch_related("administrations")
    )
    if account_form is None and not encounter.account_number and user_has_role(request.user, CLERK):
        account_form = AccountNumberForm()
    cancels = user_has_role(request.user, *ORDER_CANCELLERS)
    # A second order confirmed beside the same one: said on both rows (one statement, none
    # when no order of the visit is a second; mar/services/safety.py `duplicate_notes_both`).
    duplicates, duplicated = duplicate_notes_both(orders)
    rows: list[tuple[Order, OrderCancelForm | None]] = []
    for order in orders:
        order.duplicate_note = duplicates.get(order.pk, "")  # type: ignore[attr-defined]
        order.duplicated_note = duplicated.get(order.pk, "")  # type: ignore[attr-defined]
        form = None
        if cancels and order_cancel_refusal(order, encounter) is None:
            bound = cancel_form[1] if cancel_form and cancel_form[0] == order.pk else None
            form = bound or OrderCancelForm(prefix=f"O{order.pk}")
        rows.append((order, form))
    return render(
        request,
        "registration/visit.html",
        {
            "encounter": encounter,
            "orders": rows,
            "account_form": account_form,
            "enters_orders": user_has_role(request.user, CLERK, NURSE),
        },
        status=status,
    )


@require_GET
@role_required(CLERK, NURSE, PHARMACIST)
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = get_object_or_404(Encounter.objects.select_related("patient"), pk=pk)
    return _visit_page(request, encounter)


@require_POST
@role_required(CLERK)
def visit_account_set(request: HttpRequest, pk: int) -> HttpResponse:
    """Registration enters the account number of a visit that has none, in progress or signed
    (`encounter_account_set`: a signed visit's charges are made again, EDIT-ACCOUNT clears)."""
    encounter = get_object_or_404(Encounter.objects.select_related("patient"), pk=pk)
    form = AccountNumberForm(request.POST)
    if form.is_valid():
        try:
            encounter_account_set(
                encounter=encounter,
                account_number=form.cleaned_data["account_number"],
                source="registration desk",
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            said = f"Account number {encounter.account_number} entered."
            if encounter.is_signed:
                said += " The visit's charges are being made again with it for the coders."
            messages.success(request, said)
            return redirect("registration:visit", pk=encounter.pk)
    return _visit_page(request, encounter, form)


@require_POST
@role_required(*ORDER_CANCELLERS)
def order_cancel_view(request: HttpRequest, pk: int, order_pk: int) -> HttpResponse:
    """Cancel an order entered in error, with the reason (`order_cancel`); refused, the visit
    page again with the message beside the order's reason, what was typed kept."""
    encounter = get_object_or_404(Encounter.objects.select_related("patient"), pk=pk)
    order = get_object_or_404(
        Order.objects.select_related("drug"), pk=order_pk, encounter=encounter
    )
    form = OrderCancelForm(request.POST, prefix=f"O{order.pk}")
    if form.is_valid():
        try:
            order_cancel(order=order, reason=form.cleaned_data["reason"], user=request.user)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                apply_validation_error(form, exc)
            else:
                messages.error(
                    request, f"{order.drug.name} {dose_shown(order.dose)}: {exc.messages[0]}"
                )
                return redirect("registration:visit", pk=encounter.pk)
        else:
            messages.success(
                request,
                f"Cancelled as entered in error: {order.drug.name} {dose_shown(order.dose)}. "
                "It is off the chart and the pharmacist's queue.",
            )
            return redirect("registration:visit", pk=encounter.pk)
    return _visit_page(request, encounter, cancel_form=(order.pk, form), status=400)


def _order_form(encounter: Encounter, data: Any = None) -> OrderEntryForm:
    """The order form of `encounter`, its drug and indication checked as they are typed."""
    return OrderEntryForm(
        data,
        check_url=lambda field: reverse("registration:order_check", args=[encounter.pk, field]),
        duplicate_url=reverse("registration:order_duplicate_check", args=[encounter.pk]),
    )


def _indication_check(form: OrderEntryForm, noted: str) -> dict[str, Any] | None:
    """The indication's note beside the field when what was typed is a code the list loaded
    lacks but does not refuse (H06.2 with the shipped sample), `bounced` while it was not shown
    yet for that code (`noted`: the code the page showed it for)."""
    if "indication" not in form.cleaned_data or "indication" in form.errors:
        return None
    note = order_indication_note(form.cleaned_data["indication"])
    if note is None:
        return None
    return {"errors": [], "note": note, "bounced": note.code != noted}


def _dose_confirm_ask(form: OrderEntryForm) -> None:
    """Show the dose/unit confirm box when a warning asks it (said beside the dose, its unit or
    the rate's unit: `order_dose_problems`), or when it was ticked (kept as typed)."""
    if "dose_confirm" in form.errors or (form.is_bound and form.data.get("dose_confirm")):
        form.dose_ask()


@require_http_methods(["GET", "POST"])
@role_required(CLERK, NURSE)
@never_cache  # never kept: Back fetches it afresh (Chromium still refills typed fields: the
# service asks before the same order is entered again, order_duplicate_problems)
def order_new(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = get_object_or_404(Encounter.objects.select_related("patient"), pk=pk)
    form = _order_form(encounter, request.POST if request.method == "POST" else None)
    checks: dict[str, Any] = {}
    # Entered from the bedside chart ("Enter a written or verbal order", ?from=chart): the nurse
    # goes back to the chart's orders, not to the registration desk's visit page.
    from_chart = request.GET.get("from") == "chart"
    back = (
        reverse("mar:encounter", args=[encounter.pk]) + "#orders"
        if from_chart
        else reverse("registration:visit", args=[encounter.pk])
    )
    if encounter.is_signed:
        # Said before anything is typed (QA: the form was filled first, then refused): no form.
        # A post (a form drawn before the signature) enters nothing, saying the same.
        return render(
            request,
            "registration/order_new.html",
            {
                "encounter": encounter,
                "form": None,
                "signed": SIGNED_NO_ORDER,
                "from_chart": from_chart,
                "back": back,
                "checks": checks,
            },
            status=400 if request.method == "POST" else 200,
        )
    if request.method == "POST" and (
        earlier := order_by_entry_key(encounter, request.POST.get("entry_key", ""))
    ):
        # This form was sent already and entered its order (pressed twice, sent again from the
        # history): said, and not entered a second time.
        messages.info(
            request,
            f"This order was entered already, at "
            f"{timezone.localtime(earlier.created_at):%H:%M}: {earlier.drug.name} "
            f"{dose_shown(earlier.dose)}. "
            "The form was sent again; it is entered once.",
        )
        return redirect(back)
    valid = request.method == "POST" and form.is_valid()
    if request.method == "POST":
        # A code the list lacks is said beside the field (QA: it was said on the next page's
        # top, once entered): the order is entered once the page has shown it for that code.
        indication = _indication_check(form, request.POST.get("indication_noted", ""))
        if indication is not None:
            checks["indication"] = indication
    if valid and "indication" in checks and checks["indication"]["bounced"]:
        # Not entered yet: every other problem is said with it, at once.
        problems = order_entry_problems(
            form.cleaned_data, patient=encounter.patient, encounter=encounter
        )
        if problems is not None:
            apply_validation_error(form, problems)
    elif valid:
        entry, drug_errors = order_entry_typed(form.cleaned_data)
        try:
            order = order_enter(encounter=encounter, entry=entry, user=request.user)
        except ValidationError as exc:
            if drug_errors and hasattr(exc, "error_dict"):
                exc.error_dict.pop("drug", None)  # said below why, with close matches
            apply_validation_error(form, exc)
            apply_validation_error(form, ValidationError(drug_errors))
        else:
            done = (
                f"Order entered: {order.drug.name} {dose_shown(order.dose)}; waiting for pharmacy."
            )
            if entry.allergy_reason.strip() and order.overrides.exists():
                done += " The allergy and your reason go with it to the pharmacist and the nurse."
            if order.overrides.filter(kind=SafetyOverride.Kind.DOSE).exists():
                done += " The dose/unit warning you confirmed goes with it to the pharmacist."
            if noted := order_dose_said(form.cleaned_data, encounter)[1]:
                # A maximum by body size not checked (no weight recorded): said, not asked.
                messages.warning(
                    request,
                    " ".join(noted.values()) + " The pharmacist's queue flags the order.",
                )
            messages.success(request, done)
            return redirect(back)
    elif request.method == "POST":
        # What was typed in the other fields is checked too: every problem shows at once.
        problems = order_entry_problems(
            form.cleaned_data, patient=encounter.patient, encounter=encounter
        )
        if problems is not None:
            apply_validation_error(form, problems)
    if "allergy_reason" in form.errors or (form.is_bound and form.data.get("allergy_reason")):
        # The warning is beside the drug: the reason is asked under it (a cross-sensitivity
        # only, in its words: mar/services/safety.py `allergy_cross_only`).
        cross = any(allergy_cross_only(str(e)) for e in form.errors.get("drug", []))
        form.allergy_ask(cross=cross)
    if "duplicate_confirm" in form.errors or (form.is_bound and form.data.get("duplicate_confirm")):
        # The same order is on the visit already (said beside the drug): entered again only
        # when she ticks it.
        form.duplicate_ask()
    _dose_confirm_ask(form)
    if request.method == "POST" and hasattr(form, "cleaned_data"):
        # Beside the dose, as the live check says it: a maximum by body size not checked.
        form.dose_noted = order_dose_said(form.cleaned_data, encounter)[1]
    return render(
        request,
        "registration/order_new.html",
        {
            "encounter": encounter,
            "form": form,
            "from_chart": from_chart,
            "back": back,
            "checks": checks,
        },
    )


@require_POST
@role_required(CLERK, NURSE)
def order_check(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    """One field of the order form checked as it is typed (htmx posts the whole form): what
    entering the order would say of it, beside it (order_entry_field_problems: the submit's own
    checks), nothing while it is empty. A drug's check also shows the allergy reason's field
    when the drug matches an allergy of the patient (hidden again, what was typed kept, when
    not). Without JavaScript nothing calls it: the submit says the same."""
    if field not in ORDER_FIELDS_CHECKED:
        raise Http404("not a field checked as it is typed")
    encounter = get_object_or_404(Encounter.objects.select_related("patient"), pk=pk)
    form = _order_form(encounter, request.POST)
    form.is_valid()
    check: dict[str, Any] = {"errors": [], "note": None, "bounced": False}
    found: dict[str, list[str]] = {}
    if str(form.data.get(field, "")).strip():
        check["errors"] = list(form.errors.get(field, []))  # the form's own (too long)
        if not check["errors"]:
            found = order_entry_field_problems(form.cleaned_data, field, patient=encounter.patient)
            check["errors"] = found.get(field, [])
        if field == "indication" and not check["errors"]:
            check["note"] = order_indication_note(form.cleaned_data["indication"])
    context: dict[str, Any] = {"check": check}
    if field == "drug":
        if "allergy_reason" in found:
            form.allergy_ask()
            check["errors"] = [*check["errors"], *found["allergy_reason"]]
        context["reason_field"] = form["allergy_reason"]
    return render(request, "registration/_order_field_check.html", context)


@require_POST
@role_required(CLERK, NURSE)
def order_duplicate_check(request: HttpRequest, pk: int) -> HttpResponse:
    """The order form checked as the order is typed (htmx posts the whole form when drug, dose,
    route, rate or its unit change, the dose also after a pause in typing), saying what the
    submit would say, in its words:
    - the same order open on the visit already, under the drug (order_duplicate_said, the
      submit's own match), with its confirm box;
    - the dose/unit warnings beside the dose, its unit or the rate's unit (order_dose_said, the
      submit's own `order_dose_warnings_of`), out of band, with the "Enter it as written" box;
      beside them too, a maximum by body size not checked for want of a weight or height
      (`order_dose_notes_of`: a note, no box).
    Each box is shown, a tick kept, while its warning holds, and hidden and unticked once the
    order typed no longer warns (a tick given for one order never enters another). Nothing
    while drug or dose cannot be read. Without JavaScript nothing calls it: the submit says the
    same."""
    encounter = get_object_or_404(Encounter, pk=pk)
    form = _order_form(encounter, request.POST)
    form.is_valid()
    said = order_duplicate_said(encounter, form.cleaned_data)
    dose_said, dose_noted = order_dose_said(form.cleaned_data, encounter)
    unticked = request.POST.copy()
    if not said:
        unticked.pop("duplicate_confirm", None)
    if not dose_said:
        unticked.pop("dose_confirm", None)
    form = _order_form(encounter, unticked)
    if said:
        form.duplicate_ask()
    if dose_said:
        form.dose_ask()
    return render(
        request,
        "registration/_order_duplicate_check.html",
        {
            "said": said,
            "confirm_field": form["duplicate_confirm"],
            "dose_said": [
                (field, dose_said.get(field, ""), dose_noted.get(field, ""))
                for field in DOSE_WARNED_FIELDS
            ],
            "dose_confirm_field": form["dose_confirm"],
        },
    )


@require_GET
@role_required(CLERK, NURSE)
def drug_options(request: HttpRequest) -> HttpResponse:
    drugs = drug_search(request.GET.get("drug", request.GET.get("q", ""))[:100])
    return render(request, "registration/_drug_options.html", {"drugs": drugs})


@require_GET
@role_required(CLERK, NURSE)
def icd10_options(request: HttpRequest) -> HttpResponse:
    found = icd10_search(request.GET.get("indication", request.GET.get("q", ""))[:100])
    return render(request, "registration/_icd10_options.html", {"diagnoses": found})
