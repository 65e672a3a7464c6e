"""The charge master screen: the list for coders, the upload for an admin or coding lead.

The list shows each code's price in effect today (the hospital's day), its earlier and later
(scheduled) versions on demand, the codes no longer priced, filtered by code or words. The
upload is the command's path (`charge_master_import`, coding/chargemaster.py): the whole file
checked, every bad line named beside the file field, nothing loaded on any error. A coding lead
is the payers' screen's (coding/payer_views.py `may_edit_policy`): admins always, a coder with
`mar.add_payerpolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from coding.chargemaster import (
    BEGINNING,
    ChargeMasterFileError,
    charge_master_import,
    charge_master_repriced,
)
from coding.models import ChargeMasterItem, ChargeMasterUpload
from coding.payer_views import may_edit_policy
from mar.roles import CODER, role_required

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_QUERY_WORDS = 6
UPLOADS_SHOWN = 10


@dataclass
class CodeRow:
    """One code: the version in effect today (None: not priced today), and all of them."""

    code: str
    current: ChargeMasterItem | None
    versions: list[ChargeMasterItem] = field(default_factory=list)
    today: date = BEGINNING

    @property
    def earlier(self) -> list[ChargeMasterItem]:
        return [v for v in self.versions if v.effective_from < self._since]

    @property
    def scheduled(self) -> list[ChargeMasterItem]:
        return [v for v in self.versions if v.effective_from > self.today]

    @property
    def next_version(self) -> ChargeMasterItem | None:
        later = self.scheduled
        return later[0] if later else None

    @property
    def _since(self) -> date:
        return self.current.effective_from if self.current else self.today

    @property
    def priced(self) -> bool:
        return self.current is not None and self.current.listed


def _rows(query: str, today: date) -> list[CodeRow]:
    items = ChargeMasterItem.objects.order_by("code", "effective_from")
    words = query.split()[:MAX_QUERY_WORDS]
    if words:
        match = Q()
        for word in words:
            match &= Q(code__istartswith=word) | Q(description__icontains=word)
        items = items.filter(code__in=ChargeMasterItem.objects.filter(match).values("code"))
    rows: dict[str, CodeRow] = {}
    for item in items:
        row = rows.setdefault(item.code, CodeRow(item.code, None, today=today))
        row.versions.append(item)
        if item.effective_from <= today:
            row.current = item
    return list(rows.values())


@require_http_methods(["GET"])
@role_required(CODER)
def charge_master(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    query = request.GET.get("q", "").strip()[:100]
    rows = _rows(query, today)
    priced = [r for r in rows if r.priced]
    upcoming = [r for r in rows if r.current is None]  # first priced on a later date
    ended = [r for r in rows if r.current is not None and not r.current.listed]
    return render(
        request,
        "coding/charge_master.html",
        {
            "today": today,
            "query": query,
            "priced": priced,
            "upcoming": upcoming,
            "ended": ended,
            "any_loaded": bool(rows) or ChargeMasterItem.objects.exists(),
            "may_upload": may_edit_policy(request.user),
            "beginning": BEGINNING,
        },
    )


class _DateField(forms.DateField):
    """A date written 2027-01-01; what is not one is named in the error."""

    def to_python(self, value: object) -> date | None:
        try:
            return super().to_python(value)  # type: ignore[no-any-return]
        except ValidationError as exc:
            shown = str(value)[:40]
            raise ValidationError(
                f"{shown!r} is not a date like 2027-01-01.", code="invalid"
            ) from exc


class ChargeMasterUploadForm(forms.Form):
    file = forms.FileField(
        label="Charge master CSV",
        help_text="UTF-8 CSV, at most 5 MB",
        error_messages={"required": "Choose the charge master CSV file to load."},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    effective_from = _DateField(
        label="In effect from",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="The first date of service they apply to (empty: today).",
    )
    keep = forms.BooleanField(
        label="Keep the codes the file does not list",
        required=False,
        help_text="Unticked, a code the file no longer lists is not priced from that date.",
    )


@require_http_methods(["GET", "POST"])
@role_required(CODER)
def charge_master_upload(request: HttpRequest) -> HttpResponse:
    if not may_edit_policy(request.user):
        raise PermissionDenied("An admin or a coding lead uploads the charge master.")
    loaded = ChargeMasterItem.objects.exists()
    today = timezone.localdate()
    initial = {"effective_from": today} if loaded else {}
    form = ChargeMasterUploadForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            form.add_error("file", "The file is larger than 5 MB: nothing loaded.")
        else:
            try:
                load = charge_master_import(
                    data=upload.read(),
                    effective_from=form.cleaned_data["effective_from"],
                    replace=not form.cleaned_data["keep"],
                    source=upload.name[:200],
                    uploaded_by=request.user,
                    via=ChargeMasterUpload.Via.SCREEN,
                )
            except ChargeMasterFileError as exc:
                for line, message in exc.errors:
                    # Beside the field, a sentence (its capital and full stop).
                    form.add_error("file", f"Line {line}: {message.rstrip('.')}.")
                form.add_error(None, "Nothing was loaded: fix the lines named and upload again.")
            else:
                repriced = charge_master_repriced(load)
                messages.success(
                    request,
                    f"{upload.name}: {load.summary()}. "
                    f"{repriced['not_exported']} "
                    f"{'encounter' if repriced['not_exported'] == 1 else 'encounters'} not yet "
                    f"exported {'has' if repriced['not_exported'] == 1 else 'have'} lines it "
                    "prices anew (their review shows the new price). Lines already billed are "
                    "re-sent only when the new price is in effect on their date of service"
                    + (
                        f" ({repriced['exported']} exported "
                        f"{'encounter has' if repriced['exported'] == 1 else 'encounters have'} "
                        "such lines; "
                        "they are re-sent if their charges are exported again)."
                        if repriced["exported"]
                        else "."
                    ),
                )
                return redirect("coding:charge_master")
    return render(
        request,
        "coding/charge_master_upload.html",
        {
            "form": form,
            "loaded": loaded,
            "today": today,
            # The files loaded last, a no-op one included (what the lead checks after a load).
            "uploads": ChargeMasterUpload.objects.select_related("uploaded_by")[:UPLOADS_SHOWN],
            "beginning": BEGINNING,
        },
    )
