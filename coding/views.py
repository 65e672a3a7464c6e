"""The coder's pages: signed encounters with their current charges and findings."""

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from coding.models import ChargeRun
from mar.models import Encounter
from mar.roles import CODER, role_required


@require_GET
@role_required(CODER)
def worklist(request: HttpRequest) -> HttpResponse:
    current = ChargeRun.objects.filter(is_current=True).prefetch_related("lines", "findings")
    encounters = (
        Encounter.objects.filter(status=Encounter.Status.SIGNED)
        .select_related("patient", "signed_by")
        .prefetch_related(Prefetch("charge_runs", queryset=current, to_attr="current_runs"))
        .order_by("-signed_at", "-pk")
    )
    return render(request, "coding/worklist.html", {"encounters": encounters})


@require_GET
@role_required(CODER)
def encounter_charges(request: HttpRequest, pk: int) -> HttpResponse:
    encounter = get_object_or_404(Encounter.objects.select_related("patient"), pk=pk)
    runs = list(ChargeRun.objects.filter(encounter=encounter).prefetch_related("lines", "findings"))
    current = next((run for run in runs if run.is_current), None)
    previous = [run for run in runs if not run.is_current]
    not_charged = current.result.get("not_charged", []) if current else []
    context = {
        "encounter": encounter,
        "run": current,
        "previous_runs": previous,
        "not_charged": not_charged,
    }
    return render(request, "coding/encounter_charges.html", context)
