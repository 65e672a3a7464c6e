"""The chart's safety and measures actions (issue 17): scan, override a scan, change a rate,
chart volumes, measures, site details and condition; the board's wristband scan; the
pharmacist's verification screen, the overrides report and the scan-compliance report.

Like every chart action: a plain POST that redirects back to the chart, or with htmx the chart
section re-rendered (`mar.views._after_change`). Nurses chart (admins pass); objects are looked
up within the encounter of the URL.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from mar import merge, scan_compliance
from mar.bcma import wristband_mrn
from mar.care_forms import (
    AdministrationRemoveForm,
    MeasureForm,
    RateChangeEditForm,
    RateChangeForm,
    RateChangeRemoveForm,
    ScanComplianceForm,
    ScanForm,
    ScanOverrideForm,
    SiteConditionForm,
    SiteDetailsForm,
    VolumesForm,
)
from mar.csv_safe import csv_rows_write
from mar.forms import apply_chart_error
from mar.models import (
    AccessSite,
    Administration,
    BarcodeScan,
    Encounter,
    Order,
    RateChange,
    SafetyOverride,
)
from mar.roles import NURSE, PHARMACIST, role_required
from mar.services import charting, dose_check, measures, rates, safety, scanning
from mar.services.charting import ChartError, RecordSigned, StaleVersion
from mar.views import (
    _after_change,
    _drawn_in_progress,
    _encounter,
    _form_unsent,
    _said_unsent,
    _signed_since,
    _wall_clock,
    answers_from_written,
)


@require_POST
@role_required(NURSE)
def scan(request: HttpRequest, pk: int) -> HttpResponse:
    """One scan from the chart's scan field (a scanner types it and Enter) or the camera."""
    encounter = _encounter(pk)
    form = ScanForm(request.POST, prefix="scan")
    if form.is_valid():
        if encounter.is_signed:
            form.add_error("code", "This record is signed.")
        else:
            try:
                scanning.scan_record(
                    encounter=encounter, raw=form.cleaned_data["code"], user=request.user
                )
            except scanning.ScanError as exc:
                form.add_error("code", str(exc))
            else:
                # Its result is shown once, in the scan panel under the field (`care.last_scan`,
                # after a redirect too), where the nurse is looking: no page message as well.
                return _after_change(request, encounter, anchor="scan")
    return _after_change(request, encounter, bound={"scan": form})


@require_POST
@role_required(NURSE)
def scan_override(request: HttpRequest, pk: int, scan_pk: int) -> HttpResponse:
    the_scan = get_object_or_404(
        BarcodeScan.objects.select_related("encounter__patient"), pk=scan_pk, encounter_id=pk
    )
    encounter = the_scan.encounter
    if the_scan.result == BarcodeScan.Result.WRONG_PATIENT:
        # A hard stop, whatever was posted (the chart offers no override for it): the service
        # refuses it and says what to do instead, as a message (there is no form to show it in).
        try:
            scanning.scan_override(scan=the_scan, user=request.user, reason="")
        except scanning.ScanError as exc:
            messages.error(request, str(exc))
        return _after_change(request, encounter, anchor="scan")
    form = ScanOverrideForm(request.POST, scan=the_scan, prefix=f"sc{the_scan.pk}")
    if form.is_valid():
        order_pk = form.cleaned_data.get("order")
        order = encounter.orders.filter(pk=order_pk).first() if order_pk else None
        try:
            scanning.scan_override(
                scan=the_scan, user=request.user, reason=form.cleaned_data["reason"], order=order
            )
        except scanning.ScanError as exc:
            form.add_error(None, str(exc))
        else:
            messages.warning(
                request, f"Override recorded ({the_scan.get_result_display().lower()})."
            )
            return _after_change(request, encounter, anchor="scan")
    return _after_change(request, encounter, bound={f"scan-override-{the_scan.pk}": form})


@require_POST
@role_required(NURSE)
def board_scan(request: HttpRequest) -> HttpResponse:
    """A wristband scanned on the board opens that patient's chart (the visit in progress, else
    the latest), the scan recorded on it as a wristband scan at its chart would be (QA: the
    chart then still said "Wristband not scanned"). With two visits in progress she chooses
    (QA: the scan opened the newer, empty one while a bag ran on the other): each choice posts
    the scan again with the visit (`encounter`)."""
    form = ScanForm(request.POST, prefix="scan")
    if not form.is_valid():
        messages.error(request, "Nothing was scanned.")
        return redirect(reverse("mar:board"))
    code = form.cleaned_data["code"]
    mrn = wristband_mrn(code)
    in_progress = list(
        Encounter.objects.filter(patient__mrn=mrn, status=Encounter.Status.IN_PROGRESS)
        .select_related("patient")
        .order_by("arrived_at", "pk")
    )
    chosen = request.POST.get("encounter", "")
    if len(in_progress) > 1:
        in_progress_of = {str(e.pk): e for e in in_progress}
        if chosen not in in_progress_of:  # she chooses: the scan does not pick one for her
            return render(
                request, "mar/scan_choose.html", {"encounters": in_progress, "code": code}
            )
        in_progress = [in_progress_of[chosen]]
    if in_progress:
        encounter = in_progress[0]
        scanning.scan_record(encounter=encounter, raw=code, user=request.user)
        return redirect(reverse("mar:encounter", args=[encounter.pk]))
    # None in progress: the latest visit, to read. (Ordered by "-status" a signed visit opened
    # before the one in progress: "signed" sorts after "in_progress".)
    latest = Encounter.objects.filter(patient__mrn=mrn).order_by("-pk").first()
    if latest is not None:
        return redirect(reverse("mar:encounter", args=[latest.pk]))
    messages.error(request, f"No encounter for the wristband {mrn[:40]!r}.")
    return redirect(reverse("mar:board"))


def _administration(pk: int, adm_pk: int) -> Administration:
    return get_object_or_404(
        Administration.objects.select_related("encounter__patient", "drug"),
        pk=adm_pk,
        encounter_id=pk,
    )


@require_POST
@role_required(NURSE)
@answers_from_written
def rate_change(request: HttpRequest, pk: int, adm_pk: int) -> HttpResponse:
    """A titration or rate change: new rate, when (empty: now), why; on a signed record an
    addendum with its reason (the addendum's form posts `addendum_why`)."""
    adm = _administration(pk, adm_pk)
    encounter = adm.encounter
    form = RateChangeForm(request.POST, encounter=encounter, prefix=f"r{adm.pk}")
    title = f"{adm.drug.name} (A{adm.pk}) rate change"
    drawn_in_progress = _drawn_in_progress(request, form)
    if encounter.is_signed and drawn_in_progress:  # signed since the page was drawn
        return _signed_since(request, encounter, _form_unsent(request, form, title))
    if form.is_valid():
        try:
            rates.rate_change_record(
                administration=adm,
                rate_ml_h=form.cleaned_data["rate_ml_h"],
                # Empty is "now" on a record in progress only: after the signature the form
                # asks for the time (RateChangeForm, beside "At").
                at=form.cleaned_data["at"] or timezone.now(),
                reason=form.cleaned_data["reason"],
                user=request.user,
                version=form.cleaned_data["version"],
                addendum_why=form.cleaned_data["addendum_why"],
                high_confirmed=form.cleaned_data["rate_confirm"],
            )
        except RecordSigned as exc:
            if drawn_in_progress:
                return _signed_since(request, encounter, _form_unsent(request, form, title))
            apply_chart_error(form, exc.errors)  # the addendum's reason missing: beside it
        except ChartError as exc:
            apply_chart_error(form, exc.errors)
        except StaleVersion:
            form.add_error(None, f"{adm.drug.name} was changed meanwhile: check it and try again.")
        else:
            if encounter.is_signed:
                messages.success(request, f"Rate change of {adm.drug.name} saved as an addendum.")
            return _after_change(request, encounter, anchor=f"adm-{adm.pk}", card=adm.pk)
    return _after_change(request, encounter, bound={f"rate-A{adm.pk}": form}, card=adm.pk)


def _rate_change(pk: int, rate_pk: int) -> RateChange | None:
    return (
        RateChange.objects.select_related(
            "administration__encounter__patient", "administration__drug"
        )
        .filter(pk=rate_pk, administration__encounter_id=pk)
        .first()
    )


def _rate_row_drawn(rc: RateChange) -> dict[str, str]:
    """What the row's "correct..." form showed (its rate and time as stored): a form sent from
    a page drawn before the signature says only what she changed of them (QA: the time was
    listed when only the rate was typed)."""
    return {"rate_ml_h": f"{rc.rate_ml_h.normalize():f}", "at": merge.canonical(rc.at)}


def _rate_gone(request: HttpRequest, pk: int) -> HttpResponse:
    """A rate change's row sent from a page drawn before it was removed (another tab, another
    nurse): nothing is saved, and the card comes back as it stands, saying so (QA: the answer
    was a bare 404 and the tab went on showing the row). The row's form names its card
    (`?card=`); without it, or a card not of this chart, 404 as before."""
    encounter = _encounter(pk)
    card = request.GET.get("card", "")
    adm = encounter.administrations.filter(pk=int(card)).first() if card.isdigit() else None
    if adm is None:
        raise Http404("No such rate change.")
    messages.warning(
        request,
        f"Not saved: that rate change of {adm.drug.name} (A{adm.pk}) is no longer on the "
        "record (removed meanwhile, in another tab or by another nurse). Its card is shown "
        "as it stands now.",
    )
    return _after_change(request, encounter, anchor=f"adm-{adm.pk}", card=adm.pk)


def _rate_row_said(rc: RateChange) -> str:
    adm = rc.administration
    return (
        f"{adm.drug.name} (A{adm.pk}) rate change of "
        f"{_wall_clock(adm.encounter, rc.at)} ({rc.rate_ml_h.normalize():f} mL/h)"
    )


@require_POST
@role_required(NURSE)
def rate_change_update(request: HttpRequest, pk: int, rate_pk: int) -> HttpResponse:
    """A rate change's row corrected (rate, time), checked as a new one is; on a signed record
    an addendum with its reason. The card comes back, the form as typed when refused."""
    rc = _rate_change(pk, rate_pk)
    if rc is None:
        return _rate_gone(request, pk)
    adm = rc.administration
    encounter = adm.encounter
    form = RateChangeEditForm(request.POST, encounter=encounter, prefix=f"rc{rc.pk}")
    bound = {f"rate-A{adm.pk}-{rc.pk}": form}
    drawn_in_progress = _drawn_in_progress(request, form)
    if encounter.is_signed and drawn_in_progress:  # signed since the page was drawn
        unsent = _form_unsent(request, form, _rate_row_said(rc), drawn=_rate_row_drawn(rc))
        return _signed_since(request, encounter, unsent)
    if form.is_valid():
        try:
            rates.rate_change_update(
                rate_change=rc,
                rate_ml_h=form.cleaned_data["rate_ml_h"],
                at=form.cleaned_data["at"],
                version=form.cleaned_data["version"],
                user=request.user,
                addendum_why=form.cleaned_data["addendum_why"],
                high_confirmed=form.cleaned_data["rate_confirm"],
            )
        except RecordSigned as exc:
            if drawn_in_progress:
                unsent = _form_unsent(request, form, _rate_row_said(rc), drawn=_rate_row_drawn(rc))
                return _signed_since(request, encounter, unsent)
            apply_chart_error(form, exc.errors)  # the addendum's reason missing: beside it
        except ChartError as exc:
            apply_chart_error(form, exc.errors)
        except StaleVersion:
            form.add_error(None, f"{adm.drug.name} was changed meanwhile: check it and try again.")
        else:
            said = "saved as an addendum" if encounter.is_signed else "corrected"
            messages.success(request, f"Rate change of {adm.drug.name} {said}.")
            return _after_change(request, encounter, anchor=f"adm-{adm.pk}", card=adm.pk)
    return _after_change(request, encounter, bound=bound, card=adm.pk)


@require_POST
@role_required(NURSE)
def rate_change_remove(request: HttpRequest, pk: int, rate_pk: int) -> HttpResponse:
    """A rate change charted in error removed (as a flush's "remove…"); on a signed record
    only as an addendum with its reason."""
    rc = _rate_change(pk, rate_pk)
    if rc is None:
        return _rate_gone(request, pk)
    adm = rc.administration
    encounter = adm.encounter
    form = RateChangeRemoveForm(request.POST, prefix=f"rcx{rc.pk}")
    drawn_in_progress = _drawn_in_progress(request, form)
    removed = _said_unsent(f"{_rate_row_said(rc)} removed")
    if encounter.is_signed and drawn_in_progress:
        return _signed_since(request, encounter, removed)
    if form.is_valid():
        try:
            rates.rate_change_remove(
                rate_change=rc,
                version=form.cleaned_data["version"],
                user=request.user,
                addendum_why=form.cleaned_data["addendum_why"],
            )
        except RecordSigned as exc:
            if drawn_in_progress:
                return _signed_since(request, encounter, removed)
            apply_chart_error(form, exc.errors)
        except ChartError as exc:
            apply_chart_error(form, exc.errors)
        except StaleVersion:
            form.add_error(None, f"{adm.drug.name} was changed meanwhile: check it and try again.")
        else:
            messages.success(request, f"{_rate_row_said(rc)} removed.")
            return _after_change(request, encounter, anchor=f"adm-{adm.pk}", card=adm.pk)
    return _after_change(
        request, encounter, bound={f"rate-A{adm.pk}-{rc.pk}-remove": form}, card=adm.pk
    )


@require_POST
@role_required(NURSE)
@answers_from_written
def volumes(request: HttpRequest, pk: int, adm_pk: int) -> HttpResponse:
    """Rate at start, bag, VTBI, volume infused; on a signed record an addendum with its reason
    (QA: a wrong volume found after signing could not be corrected)."""
    adm = _administration(pk, adm_pk)
    encounter = adm.encounter
    form = VolumesForm(request.POST, prefix=f"v{adm.pk}")
    title = f"{adm.drug.name} (A{adm.pk}) volumes"
    drawn_in_progress = _drawn_in_progress(request, form)
    if encounter.is_signed and drawn_in_progress:  # signed since the page was drawn
        return _signed_since(request, encounter, _form_unsent(request, form, title))
    if form.is_valid():
        try:
            rates.volumes_update(administration=adm, user=request.user, **form.cleaned_data)
        except RecordSigned as exc:
            if drawn_in_progress:
                return _signed_since(request, encounter, _form_unsent(request, form, title))
            apply_chart_error(form, exc.errors)  # the addendum's reason missing: beside it
        except ChartError as exc:
            apply_chart_error(form, exc.errors)
        else:
            if encounter.is_signed:
                messages.success(request, f"Volumes of {adm.drug.name} saved as an addendum.")
            return _after_change(request, encounter, anchor=f"adm-{adm.pk}", card=adm.pk)
    return _after_change(request, encounter, bound={f"volumes-A{adm.pk}": form}, card=adm.pk)


@require_POST
@role_required(NURSE)
def administration_remove(request: HttpRequest, pk: int, adm_pk: int) -> HttpResponse:
    """An administration charted in error leaves the record, with why (issue 18, 4b); on a
    signed record only as an addendum. The whole chart comes back: the card is gone."""
    adm = _administration(pk, adm_pk)
    encounter = adm.encounter
    form = AdministrationRemoveForm(request.POST, prefix=f"rm{adm.pk}")
    if form.is_valid():
        try:
            entry = charting.administration_remove(
                administration=adm,
                version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
                user=request.user,
                addendum_why=form.cleaned_data["addendum_why"],
            )
        except ChartError as exc:
            apply_chart_error(form, exc.errors)
        except StaleVersion as exc:
            form.add_error(None, "Someone else changed this administration meanwhile: look again.")
            return _after_change(
                request, encounter, bound={f"remove-A{adm.pk}": form}, conflict=exc.current
            )
        else:
            messages.success(request, f"{entry.what}: charted in error, removed.")
            return _after_change(request, encounter, anchor="charted-in-error")
    # The whole chart either way (the form targets #chart: on success the card is gone).
    return _after_change(request, encounter, bound={f"remove-A{adm.pk}": form})


@require_POST
@role_required(NURSE)
def measure_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Height, weight or creatinine, with when and how; BSA and CrCl follow."""
    encounter = _encounter(pk)
    form = MeasureForm(request.POST, encounter=encounter, prefix="m")
    if encounter.is_signed:  # signed since the page was drawn (a signed chart has no measures form)
        return _signed_since(request, encounter, _form_unsent(request, form, "Patient measure"))
    if form.is_valid():
        try:
            measures.measure_chart(
                encounter=encounter,
                kind=form.cleaned_data["kind"],
                value=form.cleaned_data["value"],
                measured_at=form.cleaned_data["measured_at"] or timezone.now(),
                method=form.cleaned_data["method"],
                user=request.user,
            )
        except RecordSigned:
            unsent = _form_unsent(request, form, "Patient measure")
            return _signed_since(request, encounter, unsent)
        except ChartError as exc:
            apply_chart_error(form, exc.errors)
        else:
            return _after_change(request, encounter, anchor="measures")
    return _after_change(request, encounter, bound={"measure": form})


def _site(pk: int, site_pk: int) -> AccessSite:
    return get_object_or_404(
        AccessSite.objects.select_related("encounter__patient"), pk=site_pk, encounter_id=pk
    )


@require_POST
@role_required(NURSE)
def site_details(request: HttpRequest, pk: int, site_pk: int) -> HttpResponse:
    """Device, gauge, attempts, blood return."""
    site = _site(pk, site_pk)
    encounter = site.encounter
    if encounter.is_signed:  # signed since the page was drawn (a signed chart has no details form)
        # Said from a form of its own: validating one bound to the site would change it in memory.
        form = SiteDetailsForm(request.POST, prefix=f"sd{site.pk}")
        unsent = _form_unsent(request, form, f"S{site.pk} {site} details")
        return _signed_since(request, encounter, unsent)
    form = SiteDetailsForm(request.POST, instance=site, prefix=f"sd{site.pk}")
    if form.is_valid():
        form.save()
        return _after_change(request, encounter, anchor=f"site-{site.pk}")
    return _after_change(request, encounter, bound={f"site-details-S{site.pk}": form})


@require_POST
@role_required(NURSE)
def site_condition(request: HttpRequest, pk: int, site_pk: int) -> HttpResponse:
    """An assessment of the site with its condition (INS infiltration and phlebitis scales)."""
    site = _site(pk, site_pk)
    encounter = site.encounter
    form = SiteConditionForm(request.POST, encounter=encounter, prefix=f"sc-s{site.pk}")
    title = f"S{site.pk} {site} condition"
    if encounter.is_signed:  # signed since the page was drawn (no condition form when signed)
        return _signed_since(request, encounter, _form_unsent(request, form, title))
    if form.is_valid():
        try:
            data = form.cleaned_data
            measures.site_condition_record(
                site=site,
                user=request.user,
                at=data["at"] or timezone.now(),
                infiltration=data["infiltration"],
                phlebitis=data["phlebitis"],
                blood_return=data["blood_return"],
                note=data["note"],
            )
        except RecordSigned:
            return _signed_since(request, encounter, _form_unsent(request, form, title))
        except ChartError as exc:
            apply_chart_error(form, exc.errors)
        else:
            return _after_change(request, encounter, anchor=f"site-{site.pk}")
    return _after_change(request, encounter, bound={f"site-condition-S{site.pk}": form})


# --- the pharmacist -----------------------------------------------------------------------------


@require_GET
@role_required(PHARMACIST)
def order_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The verification screen of one order: measures, the calculated dose beside the ordered
    one (flagged beyond 10%), allergies, an emergency start; and the Verify and Return buttons
    (Withdraw return… when it is returned)."""
    order = get_object_or_404(
        safety.with_duplicated_by(
            Order.objects.select_related("drug", "encounter__patient", "verified_by", "returned_by")
        ),
        pk=pk,
    )
    return order_review_page(request, order)


def order_review_page(
    request: HttpRequest,
    order: Order,
    return_form: Form | None = None,
    status: int = 200,
    withdraw_form: Form | None = None,
) -> HttpResponse:
    """The review page of `order` (drug, encounter__patient, verified_by, returned_by read);
    `return_form` / `withdraw_form`: its return, or the return's withdrawal, refused, with the
    reason as typed (mar/pharmacy/views.py)."""
    encounter = order.encounter
    patient_measures = measures.encounter_measures(encounter)
    allergy = safety.allergy_warning(encounter.patient, order.drug)
    context = {
        "order": order,
        "encounter": encounter,
        "measures": patient_measures,
        "check": measures.order_dose_check(order, patient_measures),
        # A dose calculated from measures this visit has not recorded: amber, not a stop.
        "dose_note": safety.calculated_dose_note(order, patient_measures),
        "dose_needs": safety.order_dose_needs(order),
        "allergy": allergy,
        "allergy_cross": safety.allergy_cross_only(allergy),
        "high_alert": safety.is_high_alert(order),
        "overrides": order.overrides.exclude(kind=SafetyOverride.Kind.DOSE)
        .select_related("by")
        .order_by("-at"),
        # Its dose/unit warnings, flagged with who confirmed them at order entry (if anyone).
        "dose_warnings": dose_check.order_dose_warnings(order, patient_measures.body),
        # A maximum by body size the visit has no weight (height) recorded to check.
        "dose_unchecked": dose_check.order_dose_unchecked(order, patient_measures.body),
        "dose_confirms": order.overrides.filter(kind=SafetyOverride.Kind.DOSE)
        .select_related("by")
        .order_by("at"),
        # Entered as a second order beside the same one, confirmed at entry (who, when).
        "duplicate_confirmations": order.overrides.filter(kind=SafetyOverride.Kind.DUPLICATE)
        .select_related("by")
        .order_by("at")
        if order.duplicate_of_id
        else (),
        "return_form": return_form,
        "withdraw_form": withdraw_form,
    }
    return render(request, "pharmacy/order_review.html", context, status=status)


@require_GET
@role_required(PHARMACIST)
def overrides_report(request: HttpRequest) -> HttpResponse:
    """Safety overrides by nurse and by unit, and the list: emergency starts before
    verification first (the pharmacist verifies them after the fact). `kind` (GET): one kind
    only, the counts and lists alike (an allergy's direct match and a cross-sensitivity are
    kinds apart: `safety.allergy_override_kind`); an unknown kind shows all."""
    kinds = dict(SafetyOverride.Kind.choices)
    kind = request.GET.get("kind", "")
    if kind not in kinds:
        kind = ""
    overrides = SafetyOverride.objects.select_related(
        "by", "encounter__patient", "order__drug", "order__verified_by", "order__returned_by"
    )
    if kind:
        overrides = overrides.filter(kind=kind)
    by_nurse = (
        overrides.values("by__username", "kind")
        .annotate(n=Count("pk"))
        .order_by("by__username", "kind")
    )
    by_unit = (
        overrides.values("encounter__unit", "kind")
        .annotate(n=Count("pk"))
        .order_by("encounter__unit", "kind")
    )
    unverified = SafetyOverride.Kind.UNVERIFIED
    context = {
        "kind": kind,
        "kinds": list(kinds.items()),
        "show_emergency": kind in ("", unverified),
        "show_others": kind != unverified,
        "emergency": overrides.filter(kind=unverified).order_by("-at")[:200],
        "others": overrides.exclude(kind=unverified).order_by("-at")[:200],
        "by_nurse": [{**row, "kind_label": kinds[row["kind"]]} for row in by_nurse],
        "by_unit": [{**row, "kind_label": kinds[row["kind"]]} for row in by_unit],
    }
    return render(request, "pharmacy/overrides.html", context)


SCAN_REPORT_PAGE = 100
SCAN_REPORT_DAYS = 7  # the range shown first: the last week, today included


def _scan_report_filter(request: HttpRequest) -> tuple[ScanComplianceForm, dict[str, Any]]:
    """The report's form and what it chose: the range (the last week when none or a wrong one
    is given, the form saying what is wrong beside the field), the unit and what to show."""
    today = timezone.localdate()
    form = ScanComplianceForm(request.GET or None)
    chosen: dict[str, Any] = {
        "date_from": today - timedelta(days=SCAN_REPORT_DAYS - 1),
        "date_to": today,
        "unit": "",
        "show": "all",
    }
    if form.is_valid():
        chosen.update({k: v for k, v in form.cleaned_data.items() if v})
    if not request.GET:
        form = ScanComplianceForm(initial=chosen)
    return form, chosen


@require_GET
@role_required(PHARMACIST)
def scan_compliance_report(request: HttpRequest) -> HttpResponse:
    """BCMA scan compliance: per unit (every unit of the range, to compare), per nurse, and each
    administration with its wristband and drug scans (mar/scan_compliance.py)."""
    form, chosen = _scan_report_filter(request)
    span: dict[str, date] = {"date_from": chosen["date_from"], "date_to": chosen["date_to"]}
    units = scan_compliance.by_unit(scan_compliance.administrations(**span))
    form.units_offered([u.name for u in units])
    read = scan_compliance.administrations(**span, unit=chosen["unit"])
    listed = read.filter(scan_compliance.GAPS) if chosen["show"] == "gaps" else read
    page = Paginator(scan_compliance.rows_read(listed), SCAN_REPORT_PAGE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    shown_units = [u for u in units if not chosen["unit"] or u.name == chosen["unit"]]
    context = {
        "form": form,
        **chosen,
        "units": units,
        "total": scan_compliance.total(shown_units),
        "nurses": scan_compliance.by_nurse(read),
        # Starts whose drug had no NDC on file: counted apart, the drugs listed for pharmacy.
        "no_ndc_drugs": scan_compliance.no_ndc_drugs(read),
        "page": page,
        "rows": scan_compliance.rows(page.object_list),
        "query": query.urlencode(),
    }
    return render(request, "pharmacy/scan_compliance.html", context)


@require_GET
@role_required(PHARMACIST)
def scan_compliance_export(request: HttpRequest) -> HttpResponse:
    """The report's administrations as CSV (mar/csv_safe.py), for the range, unit and choice
    the page shows (every page of it)."""
    _form, chosen = _scan_report_filter(request)
    read = scan_compliance.administrations(
        date_from=chosen["date_from"], date_to=chosen["date_to"], unit=chosen["unit"]
    )
    listed = read.filter(scan_compliance.GAPS) if chosen["show"] == "gaps" else read
    rows = scan_compliance.rows(scan_compliance.rows_read(listed))
    text = csv_rows_write(scan_compliance.CSV_HEADER, map(scan_compliance.csv_row, rows))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    name = f"scan-compliance-{chosen['date_from']:%Y-%m-%d}-to-{chosen['date_to']:%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
