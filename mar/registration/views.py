"""The clerk's screens: find or register a patient, open a visit, enter orders.

Clerks (and admins) register and open visits; nurses may also enter an order they transcribe
(a written, verbal or telephone order), which waits for a pharmacist's verification like any
other. The two search endpoints answer htmx with <option>s for the fields' datalists; without
JavaScript the typed text is resolved when the form is posted.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from mar.forms import apply_validation_error
from mar.models import Encounter, Patient
from mar.registration.forms import OrderEntryForm, PatientForm, VisitForm
from mar.registration.icd10 import icd10_search
from mar.registration.services import (
    drug_search,
    encounter_open,
    order_enter,
    order_entry_problems,
    order_entry_typed,
    order_indication_warning,
    patient_find,
    patient_register,
    patient_register_problems,
    second_visit_warning,
    units_known,
    visits_in_progress,
)
from mar.roles import CLERK, NURSE, role_required
from mar.services.safety import allergy_cross_only


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
        try:
            # A desk's visit: a second one while another is in progress needs a reason.
            typed = {"second_visit_why": "", **form.cleaned_data}
            encounter = encounter_open(patient=patient, **typed)
        except ValidationError as exc:
            apply_validation_error(form, exc)
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


@require_GET
@role_required(CLERK, NURSE)
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = get_object_or_404(Encounter.objects.select_related("patient"), pk=pk)
    orders = encounter.orders.select_related("drug", "entered_by", "verified_by", "returned_by")
    return render(request, "registration/visit.html", {"encounter": encounter, "orders": orders})


@require_http_methods(["GET", "POST"])
@role_required(CLERK, NURSE)
def order_new(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = get_object_or_404(Encounter.objects.select_related("patient"), pk=pk)
    form = OrderEntryForm(request.POST if request.method == "POST" else None)
    # Entered from the bedside chart ("Enter a written or verbal order", ?from=chart): the nurse
    # goes back to the chart's orders, not to the registration desk's visit page.
    from_chart = request.GET.get("from") == "chart"
    back = (
        reverse("mar:encounter", args=[encounter.pk]) + "#orders"
        if from_chart
        else reverse("registration:visit", args=[encounter.pk])
    )
    if request.method == "POST" and form.is_valid():
        entry, drug_errors = order_entry_typed(form.cleaned_data)
        try:
            order = order_enter(encounter=encounter, entry=entry, user=request.user)
        except ValidationError as exc:
            if drug_errors and hasattr(exc, "error_dict"):
                exc.error_dict.pop("drug", None)  # said below why, with close matches
            apply_validation_error(form, exc)
            apply_validation_error(form, ValidationError(drug_errors))
        else:
            done = f"Order entered: {order.drug.name} {order.dose}; waiting for pharmacy."
            if entry.allergy_reason.strip() and order.overrides.exists():
                done += " The allergy and your reason go with it to the pharmacist and the nurse."
            messages.success(request, done)
            if (warning := order_indication_warning(order)) is not None:
                messages.warning(request, warning)
            return redirect(back)
    elif request.method == "POST":
        # What was typed in the other fields is checked too: every problem shows at once.
        problems = order_entry_problems(form.cleaned_data, patient=encounter.patient)
        if problems is not None:
            apply_validation_error(form, problems)
    if "allergy_reason" in form.errors or (form.is_bound and form.data.get("allergy_reason")):
        # The warning is beside the drug: the reason is asked under it (a cross-sensitivity
        # only, in its words: mar/services/safety.py `allergy_cross_only`).
        cross = any(allergy_cross_only(str(e)) for e in form.errors.get("drug", []))
        form.allergy_ask(cross=cross)
    return render(
        request,
        "registration/order_new.html",
        {"encounter": encounter, "form": form, "from_chart": from_chart, "back": back},
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
