"""The audit sweep's pages (coding/sweep.py): start one, watch it run, read and download it."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from coding.models import AuditSweep
from coding.sweep import sweep_csv, sweep_progress, sweep_resend, sweep_start, sweep_totals
from mar.models import Payer
from mar.roles import CODER, role_required

SHOWN = 200  # differences listed on the page; the CSV has them all


class SweepForm(forms.Form):
    date_from = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Enter the first date of service to re-code."},
    )
    date_to = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Enter the last date of service to re-code."},
    )
    payer = forms.ModelChoiceField(
        queryset=Payer.objects.filter(active=True),
        required=False,
        empty_label="The rules' defaults (no payer)",
        help_text="Its current coding-policy profile is used for every encounter.",
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The range ends before it starts.")
        return data


@require_http_methods(["GET", "POST"])
@role_required(CODER)
def sweeps(request: HttpRequest) -> HttpResponse:
    """The sweeps run so far, and the form that starts one."""
    if request.method == "POST":
        form = SweepForm(request.POST)
        if form.is_valid():
            sweep = sweep_start(user=request.user, **form.cleaned_data)
            return redirect("coding:sweep", pk=sweep.pk)
    else:
        today = timezone.localdate()
        form = SweepForm(initial={"date_from": today - timedelta(days=365), "date_to": today})
    context = {"form": form, "sweeps": AuditSweep.objects.select_related("created_by")[:50]}
    return render(request, "coding/sweeps.html", context)


def _sweep(pk: int) -> AuditSweep:
    return get_object_or_404(AuditSweep.objects.select_related("created_by", "payer"), pk=pk)


@require_GET
@role_required(CODER)
def sweep(request: HttpRequest, pk: int) -> HttpResponse:
    item = _sweep(pk)
    differences = item.differences.select_related("encounter__patient").order_by("encounter_id")
    context = {
        "sweep": item,
        "progress": sweep_progress(item),
        "totals": sweep_totals(item),
        "differences": differences[:SHOWN],
        "shown": SHOWN,
    }
    return render(request, "coding/sweep.html", context)


@require_GET
@role_required(CODER)
def sweep_progress_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by htmx while the sweep runs; once done, the page reloads."""
    item = _sweep(pk)
    if item.finished_at is not None and request.htmx:
        return HttpResponseClientRefresh()
    context = {"sweep": item, "progress": sweep_progress(item)}
    return render(request, "coding/_sweep_progress.html", context)


@require_POST
@role_required(CODER)
def sweep_resend_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the chunks not yet done again (a worker was lost); those done stay as they are."""
    item = _sweep(pk)
    sweep_resend(sweep_id=item.pk)
    return redirect("coding:sweep", pk=item.pk)


@require_GET
@role_required(CODER)
def sweep_download(request: HttpRequest, pk: int) -> HttpResponse:
    item = _sweep(pk)
    response = HttpResponse(sweep_csv(item), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-sweep-{item.pk}.csv"'
    return response
