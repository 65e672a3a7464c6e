"""Forms of the bedside safety and measures (issue 17): scanning, the start checks, rates and
volumes, measures, site details and condition. Times are the encounter's wall clock
(mar/forms.py's LocalTimeField)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest

from mar.audit.lockout import ClientAddressUnknown, client_ip, login_is_locked
from mar.forms import (
    AmountField,
    LocalTimeField,
    ZonedForm,
    addendum_why_field,
    flush_solution_field,
    flush_volume_field,
)
from mar.models import AccessSite, BarcodeScan, Order, PatientMeasure, Pause, SiteAssessment
from mar.services.charting import FLUSH_VOLUME_NONE
from mar.services.rates import RATE_MAX_ML_H, RATE_TOO_HIGH, rate_high_asked
from mar.validators import validate_reason_in_words


def _amount(label: str, *, required: bool = False, missing: str = "") -> forms.DecimalField:
    return AmountField(
        label=label,
        required=required,
        error_messages={"required": missing} if missing else None,
        min_value=Decimal(0),
        max_digits=8,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )


def _rate(label: str, *, required: bool = False, missing: str = "") -> forms.DecimalField:
    """A rate in mL/h: 0 or more (a rate change's more than 0 is its service's), at most what
    any infusion runs at (`rates.RATE_MAX_ML_H`, refused in words beside it); above what most
    pumps run (`rates.RATE_USUAL_MAX_ML_H`) the start, a rate change and Volumes ask first
    (`rate_confirm`)."""
    return AmountField(
        label=label,
        required=required,
        error_messages={"max_value": RATE_TOO_HIGH} | ({"required": missing} if missing else {}),
        min_value=Decimal(0),
        max_value=RATE_MAX_ML_H,
        max_digits=8,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )


def _rate_confirm() -> forms.BooleanField:
    # Drawn only once asked (the rate above RATE_USUAL_MAX_ML_H: mar/_adm_care.jinja,
    # mar/_order_checks.jinja).
    return forms.BooleanField(label="The rate is right: chart it as typed", required=False)


class ScanForm(forms.Form):
    """What the scanner typed (ended by its Enter)."""

    code = forms.CharField(
        label="Scan wristband or drug",
        max_length=200,
        strip=False,
        error_messages={"required": "Scan the wristband or the drug, or type its code."},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "off",
                "spellcheck": "false",
                "enterkeyhint": "go",
                "data-scan-field": "",
                "id": "scan-field",  # the chart's "Skip to scan" (mar/encounter.html)
                "placeholder": "Scan, or type and press Enter",
            }
        ),
    )


class ScanOverrideForm(forms.Form):
    reason = forms.CharField(
        label="Override reason",
        max_length=500,
        error_messages={"required": "Say why you give it anyway: the reason is kept."},
        validators=[validate_reason_in_words],
    )
    order = forms.TypedChoiceField(
        label="Given for the order", coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args: Any, scan: BarcodeScan, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        orders = scan.encounter.orders.select_related("drug")
        self.fields["order"].choices = [("", "—")] + [(o.pk, str(o)) for o in orders]


class StartChecksForm(forms.Form):
    """The start's safety fields (same prefix as the start form: o<order>)."""

    scan = forms.IntegerField(required=False, widget=forms.HiddenInput())
    rate_ml_h = _rate("Rate (mL/h)")
    rate_confirm = _rate_confirm()
    bag_volume_ml = _amount("Bag volume (mL)")
    vtbi_ml = _amount("Volume to be infused (mL)")
    emergency_reason = forms.CharField(
        label="Emergency: reason to start before pharmacist verification",
        required=False,
        max_length=500,
        validators=[validate_reason_in_words],
    )
    allergy_reason = forms.CharField(
        label="Allergy override reason",
        required=False,
        max_length=500,
        validators=[validate_reason_in_words],
    )
    second_username = forms.CharField(
        label="Second nurse: user name",
        required=False,
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "off"}),
    )
    second_password = forms.CharField(
        label="Second nurse: password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    double_check_confirmed = forms.BooleanField(
        label="Second nurse: I confirmed patient, drug, dose, rate and route", required=False
    )

    def __init__(self, *args: Any, order: Order, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order = order
        self.request = request
        self.second_nurse: Any = None
        self.scan_obj: BarcodeScan | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scan_pk = data.get("scan")
        if scan_pk is not None:
            self.scan_obj = BarcodeScan.objects.filter(
                pk=scan_pk, encounter_id=self.order.encounter_id
            ).first()
            if self.scan_obj is None:
                self.add_error("scan", "That scan is not of this chart.")
        rate = data.get("rate_ml_h")
        if rate is not None and not data.get("rate_confirm"):
            # Above what most pumps run: asked before the start, as a rate change is.
            if (asked := rate_high_asked(rate)) is not None:
                self.add_error("rate_confirm", asked)
        username = (data.get("second_username") or "").strip()
        password = data.get("second_password") or ""
        if username or password:
            # Her own credentials, checked like a sign-in (the lockout counts failures too);
            # the session stays the first nurse's.
            user = authenticate(self.request, username=username, password=password)
            if user is None:
                self.add_error("second_password", self._second_refused(username))
            else:
                self.second_nurse = user
        return data

    def _second_refused(self, username: str) -> str:
        """Why her sign-in was refused: locked out by the sign-in lockout (mar/audit/lockout.py:
        too many failures for her name on this device, or from this device) says so, as the
        sign-in page does (QA walkthrough: her right password was called wrong); otherwise the
        name or the password is wrong."""
        try:
            ip = client_ip(self.request)
        except ClientAddressUnknown:
            return (
                "The second nurse cannot be checked: the proxy in front of this server does not "
                "pass the client's address. Tell the administrator."
            )
        if login_is_locked(username=username, ip=ip):
            minutes = settings.LOCKOUT_WINDOW_SECONDS // 60
            return (
                f"Too many failed sign-ins for {username} on this device: try again in "
                f"{minutes} minutes, or ask another nurse."
            )
        return "The second nurse's user name or password is wrong."


class RateChangeForm(ZonedForm):
    rate_ml_h = _rate("New rate (mL/h)", required=True, missing="Enter the new rate in mL/h.")
    rate_confirm = _rate_confirm()
    at = LocalTimeField(label="At (empty: now)", required=False)
    reason = forms.CharField(
        label="Reason",
        max_length=200,
        error_messages={"required": "Say why the rate changed."},
        validators=[validate_reason_in_words],
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput())
    # On a signed record (the addendum's forms, ?addendum=1): the addendum's reason; the
    # service asks for it beside the field (mar/services/rates.py).
    addendum_why = addendum_why_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.encounter.is_signed:
            # After the signature "now" is not when it happened: an addendum's rate change
            # gives its time (QA: an empty "At" became the moment of the addendum, then was
            # refused as after the stop).
            at = self.fields["at"]
            at.label, at.required = "At", True
            at.error_messages["required"] = RATE_TIME_MISSING


RATE_TIME_MISSING = "Give the time of the rate change."


class RateChangeEditForm(ZonedForm):
    """A rate change's row corrected (the rate or the time charted wrong): checked as a new one
    is; `version` is the card's. On a signed record an addendum with its reason."""

    rate_ml_h = _rate("Rate (mL/h)", required=True, missing="Enter the rate in mL/h.")
    rate_confirm = _rate_confirm()
    at = LocalTimeField(label="At", error_messages={"required": RATE_TIME_MISSING})
    version = forms.IntegerField(widget=forms.HiddenInput())
    addendum_why = addendum_why_field()


class RateChangeRemoveForm(forms.Form):
    """A rate change charted in error taken out of the record (as a flush's "remove…");
    on a signed record, as an addendum with a reason."""

    version = forms.IntegerField(widget=forms.HiddenInput())
    addendum_why = addendum_why_field()


class VolumesForm(forms.Form):
    rate_ml_h = _rate("Rate at start (mL/h)")
    rate_confirm = _rate_confirm()
    bag_volume_ml = _amount("Bag volume (mL)")
    vtbi_ml = _amount("Volume to be infused (mL)")
    volume_infused_ml = _amount("Volume infused (mL)")
    addendum_why = addendum_why_field()


class AdministrationRemoveForm(forms.Form):
    """Take an administration charted in error out of the record: why (kept on the chart)."""

    reason = forms.CharField(
        label="Why it was charted in error",
        max_length=500,
        error_messages={"required": "Say why this was charted in error."},
        help_text="e.g. a double tap, the wrong drug or patient, charted twice",
        validators=[validate_reason_in_words],
    )
    version = forms.IntegerField(widget=forms.HiddenInput())
    addendum_why = addendum_why_field()


class PauseReasonForm(forms.Form):
    reason = forms.ChoiceField(
        label="Pause reason", choices=[("", "— reason —"), *Pause.Reason.choices], required=False
    )


class StopVolumeForm(forms.Form):
    volume_infused_ml = _amount("Volume infused (mL)")


class FlushDetailsForm(forms.Form):
    """A bedside flush's solution and volume (the fields drawn by mar/_flush_details.jinja; a
    missed flush charted by addendum has the same ones, `mar.forms.AddendumForm`)."""

    solution = flush_solution_field("Solution")
    volume_ml = flush_volume_field("Volume (mL)")

    def clean_volume_ml(self) -> Decimal | None:
        """The volume field sent empty (cleared on the page, which draws it with 10 mL) is
        refused: a flush is charted with its volume (QA walkthrough: one without was charted).
        A request without the field at all (a client that never drew it) charts none, as
        before: nothing is made up."""
        value: Decimal | None = self.cleaned_data.get("volume_ml")
        if value is None and self.add_prefix("volume_ml") in self.data:
            raise forms.ValidationError(FLUSH_VOLUME_NONE)
        return value


class MeasureForm(ZonedForm):
    kind = forms.ChoiceField(label="Measure", choices=PatientMeasure.Kind.choices)
    value = AmountField(
        label="Value",
        max_digits=7,
        decimal_places=2,
        min_value=0,
        error_messages={"required": "Enter the value measured."},
    )
    method = forms.ChoiceField(label="How", choices=PatientMeasure.Method.choices)
    measured_at = LocalTimeField(label="When (empty: now)", required=False)


class SiteDetailsForm(forms.ModelForm):
    class Meta:
        model = AccessSite
        fields = ["device", "gauge", "attempts", "blood_return"]
        # The model's words with their full stop (changing the model's would be a migration).
        help_texts = {"blood_return": "A port or central line: checked on access."}


class SiteConditionForm(ZonedForm):
    at = LocalTimeField(label="Assessed at (empty: now)", required=False)
    infiltration = forms.TypedChoiceField(
        label="Infiltration (INS 0–4)", coerce=int, choices=SiteAssessment.GRADES, initial=0
    )
    phlebitis = forms.TypedChoiceField(
        label="Phlebitis (INS 0–4)", coerce=int, choices=SiteAssessment.GRADES, initial=0
    )
    blood_return = forms.ChoiceField(
        label="Blood return",
        required=False,
        choices=[("", "not checked"), ("yes", "Present"), ("no", "Absent")],
    )
    note = forms.CharField(label="Note", max_length=200, required=False)


class ScanComplianceForm(forms.Form):
    """The scan-compliance report's filter: hospital days (both included), a unit, and all the
    starts or only those not fully scanned."""

    SHOW_CHOICES = (("all", "Every administration"), ("gaps", "Not fully scanned"))

    date_from = forms.DateField(
        label="Date from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="Date to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    unit = forms.CharField(label="Unit", required=False, max_length=100, widget=forms.Select)
    show = forms.ChoiceField(label="Show", required=False, choices=SHOW_CHOICES)

    def __init__(self, *args: Any, units: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.units_offered(units or [])

    def units_offered(self, units: list[str]) -> None:
        """The unit choices: every unit (blank) and these (the chosen one kept, if not among
        them: the report of a unit with nothing in the range says so)."""
        chosen = (self.data.get("unit") or "").strip() if self.is_bound else ""
        names = sorted(set(units) | ({chosen} if chosen else set()))
        widget = self.fields["unit"].widget
        assert isinstance(widget, forms.Select)
        widget.choices = [("", "All units")] + [(name, name) for name in names]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error(
                "date_to", "The range ends before it starts: date to is before date from."
            )
        return data
