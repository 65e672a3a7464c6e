"""Nurse-facing pages, the role start page and the health check."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from coding.models import ChargeRun
from mar.models import Administration, Encounter
from mar.roles import ADMIN, CODER, NURSE, PHARMACIST, role_required, user_role
from mar.services import encounter_sign

START_PAGES = {
    NURSE: "mar:board",
    PHARMACIST: "pharmacy:worklist",
    CODER: "coding:worklist",
    ADMIN: "admin:index",
}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    role = user_role(request.user)
    if role is None:
        return render(request, "no_role.html", status=403)
    return redirect(START_PAGES[role])


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    # For the proxy and process manager: the app is up and its database answers.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


@require_GET
@role_required(NURSE)
def board(request: HttpRequest) -> HttpResponse:
    """Today's encounters, and any still open from earlier (they must be finished)."""
    today = timezone.localdate()
    running = Administration.objects.filter(
        stop__isnull=True, method=Administration.Method.INFUSION
    ).select_related("drug")
    encounters = (
        Encounter.objects.filter(
            Q(arrived_at__date=today)
            | Q(arrived_at__isnull=True, created_at__date=today)
            | Q(status=Encounter.Status.IN_PROGRESS)
        )
        .select_related("patient")
        .prefetch_related(Prefetch("administrations", queryset=running, to_attr="running"))
        .order_by("unit", "location_label", "pk")
    )
    units: dict[str, list[Encounter]] = {}
    for encounter in encounters:
        units.setdefault(encounter.unit, []).append(encounter)
    return render(
        request, "mar/board.html", {"units": units, "today": today, "now": timezone.now()}
    )


@require_GET
@role_required(NURSE, CODER, PHARMACIST)
def encounter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = get_object_or_404(Encounter.objects.select_related("patient", "signed_by"), pk=pk)
    administrations = encounter.administrations.select_related(
        "drug", "order", "site"
    ).prefetch_related("pauses")
    current_run = (
        ChargeRun.objects.filter(encounter=encounter, is_current=True)
        .prefetch_related("lines", "findings")
        .first()
    )
    context = {
        "encounter": encounter,
        "sites": encounter.sites.all(),
        "orders": encounter.orders.select_related("drug"),
        "administrations": administrations,
        "flushes": encounter.flushes.select_related("site"),
        "addenda": encounter.addenda.select_related("author"),
        "run": current_run,
    }
    return render(request, "mar/encounter.html", context)


@require_POST
@role_required(NURSE)
def encounter_sign_view(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = get_object_or_404(Encounter, pk=pk)
    try:
        encounter_sign(encounter=encounter, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Signed. Charges are being generated.")
    return redirect("mar:encounter", pk=pk)
