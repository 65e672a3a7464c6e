"""The clerk's forms. They parse what was typed; the services (services.py) decide what is
acceptable, and their refusals come back beside the field they name (apply_validation_error)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Layout, Row
from django import forms
from django.conf import settings
from django.urls import reverse_lazy

from mar.forms import AmountField, LocalTimeField, LocalTimeInput
from mar.models import DoseBasis, Encounter, EntryMethod, Order, Patient, Payer, Route
from mar.registration.services import DOSE_UNITS, RATE_UNITS
from mar.validators import validate_reason_in_words


class PatientForm(forms.Form):
    # Each refusal says what to enter, not "This field is required." (walk19).
    mrn = forms.CharField(
        label="MRN", max_length=40, error_messages={"required": "Enter the MRN on the wristband."}
    )
    name = forms.CharField(
        max_length=200,
        help_text="Family name, given names",
        error_messages={"required": "Enter the patient's name: family name, given names."},
    )
    birth_date = forms.DateField(
        label="Birth date",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"required": "Enter the birth date."},
    )
    sex = forms.ChoiceField(
        label="Sex",
        choices=[("", "choose"), *Patient.Sex.choices],
        error_messages={"required": "Choose the sex (Unknown when it is not known)."},
    )
    allergies = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Drug and reaction; “NKDA” when none are known.",
    )


# A visit with no payer is coded with the rules' default policy (mar.payers.payer_policy_for:
# None), not as self-pay; a payer set before the visit is signed (ADT^A08, encounter_update) is
# the one its charges follow.
PAYER_NOT_KNOWN = "Not known yet (coded with the rules' defaults until a payer is set)"


class VisitForm(forms.Form):
    unit = forms.CharField(
        max_length=100,
        initial="Infusion Center",
        error_messages={"required": "Enter the unit the visit is in."},
        # The units visits were in before, offered as it is typed (registration/visit_new.html).
        widget=forms.TextInput(attrs={"list": "known-units", "autocomplete": "off"}),
        help_text="Units used before are offered as you type.",
    )
    location_label = forms.CharField(label="Chair / bed", max_length=40, required=False)
    # Asked when another patient's visit in progress holds the chair (the warning beside it,
    # said by the service: mar.registration.services.chair_taken_words); hidden otherwise.
    # `chair_warned`: the chair the warning was said of (`chair_key`): a tick given for one
    # chair never puts the patient in another taken one.
    chair_confirm = forms.BooleanField(
        label="Put the patient in this chair anyway: it is shared briefly (a handover)",
        required=False,
        widget=forms.HiddenInput,
    )
    chair_warned = forms.CharField(max_length=200, required=False, widget=forms.HiddenInput)
    setting = forms.ChoiceField(choices=Encounter.Setting.choices)
    attending = forms.CharField(label="Attending physician", max_length=200, required=False)
    arrived_at = LocalTimeField(
        label="Arrival time", error_messages={"required": "Enter when the patient arrived."}
    )
    payer = forms.ModelChoiceField(
        queryset=Payer.objects.filter(active=True),
        required=False,
        empty_label=PAYER_NOT_KNOWN,
        help_text="Chooses the coding policy the charges follow.",
    )
    account_number = forms.CharField(label="Account number", max_length=40, required=False)
    second_visit_why = forms.CharField(
        label="Why a second visit while one is in progress",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[validate_reason_in_words],
    )

    def __init__(self, *args: Any, open_visit: Encounter | None = None, **kwargs: Any) -> None:
        """`open_visit`: the patient's visit in progress, if any: the form then asks why a
        second one is opened (the service refuses it without a reason); else it does not."""
        super().__init__(*args, **kwargs)
        if open_visit is None:
            del self.fields["second_visit_why"]
        zone = ZoneInfo(settings.TIME_ZONE)
        field = self.fields["arrived_at"]
        assert isinstance(field, LocalTimeField)
        field.zone = zone
        field.widget = LocalTimeInput()
        field.widget.zone = zone  # type: ignore[attr-defined]

    def chair_confirmed(self) -> str:
        """The chair the clerk confirmed sharing (`encounter_open`'s `chair_confirmed`): the
        one warned of, when the box is ticked; "" when not."""
        if not self.cleaned_data.get("chair_confirm"):
            return ""
        return str(self.cleaned_data.get("chair_warned", ""))

    def chair_ask(self, warned: str) -> None:
        """Show the confirm box: the chair `warned` (`chair_key`) is taken (said beside it)."""
        self.fields["chair_confirm"].widget = forms.CheckboxInput()
        self._bound_fields_cache.pop("chair_confirm", None)
        data = self.data.copy()
        data["chair_warned"] = warned
        if self.data.get("chair_warned") != warned:  # another chair: asked afresh, unticked
            data.pop("chair_confirm", None)
        self.data = data


def _search_attrs(datalist: str, url_name: str) -> dict[str, Any]:
    """A text input whose suggestions (a <datalist>) htmx fills as she types."""
    return {
        "list": datalist,
        "autocomplete": "off",
        "hx-get": reverse_lazy(url_name),
        "hx-trigger": "input changed delay:250ms",
        "hx-target": f"#{datalist}",
        "hx-swap": "innerHTML",
    }


def _checked(field: str, check_url: Callable[[str], str] | None, trigger: str) -> Div:
    """`field` with the place beside it where what entering the order would say of it is
    shown: filled as it is typed (htmx posts the form to `check_url(field)`, the answer
    registration/_order_field_check.html), and by the page itself for the indication's note
    (a code the shipped list lacks). The submit checks everything again, with or without
    JavaScript."""
    slot = HTML(
        f'<div id="{field}-check" class="field-check" data-field-check="id_{field}" '
        f'aria-live="polite" data-testid="{field}-check">'
        f'{{% if checks %}}{{% include "registration/_order_field_check.html" '
        f"with check=checks.{field} %}}{{% endif %}}</div>"
    )
    if check_url is None:
        return Div(field, slot, css_class="field-checked")
    live = {
        "hx-post": check_url(field),  # the form's fields go with it (htmx posts the form)
        "hx-trigger": trigger,
        "hx-target": f"#{field}-check",
        "hx-swap": "innerHTML",
        "hx-disinherit": "*",  # the field's own suggestions request keeps its own settings
    }
    return Div(field, slot, css_class="field-checked", **live)


# The order's fields that make it the same order as one on the visit (drug, dose, route), and
# those its dose/unit warnings read (the rate too): a change to any of them asks again
# (`_duplicate_slot`).
_DUPLICATE_FIELDS = ("drug", "dose_value", "dose_unit", "dose_basis", "route")
_DOSE_FIELDS = ("rate_value", "rate_unit")
# The fields a dose/unit warning is said beside (mar/services/dose_check.py `dose_warnings`).
DOSE_WARNED_FIELDS = ("dose_value", "dose_unit", "rate_unit")


def _dose_slot(field: str) -> HTML:
    """The place beside `field` where its dose/unit warning is said as the order is typed
    (swapped in out of band by the answer of `_duplicate_slot`'s check,
    registration/_order_dose_check.html); empty until then: the submit says it beside the
    field itself. A maximum by body size not checked (no weight recorded: `form.dose_noted`,
    set by the view on a form sent back) is said here, a note, not an error of the field."""
    return HTML(
        f'<div id="{field}-dose-check" class="field-check" data-dose-check="id_{field}" '
        f'aria-live="polite" data-testid="{field}-dose-check">'
        f"{{% if form.dose_noted.{field} %}}"
        '<div class="form-text text-warning-emphasis" data-testid="dose-note">'
        f"{{{{ form.dose_noted.{field} }}}}</div>{{% endif %}}</div>"
    )


def _duplicate_slot(url: str) -> HTML:
    """The place under the drug where the same order open on the visit already is said as the
    order is typed: htmx posts the form to `url` when drug, dose or route change (the dose also
    after a pause in typing); the answer is registration/_order_duplicate_check.html, with the
    dose/unit warnings beside their fields (`_dose_slot`, asked again when the rate or its unit
    change too). Empty
    (and never asked) without `url` or JavaScript: the submit says it beside the drug."""
    if not url:
        return HTML('<div id="duplicate-check" data-testid="duplicate-check"></div>')
    trigger = ", ".join(
        [f"change from:#id_{name}" for name in (*_DUPLICATE_FIELDS, *_DOSE_FIELDS)]
        + ["input changed delay:500ms from:#id_dose_value"]
    )
    return HTML(
        f'<div id="duplicate-check" data-testid="duplicate-check" aria-live="polite" '
        f'hx-post="{url}" hx-trigger="{trigger}" hx-include="closest form" '
        f'hx-swap="innerHTML" hx-disinherit="*"></div>'
    )


class OrderEntryForm(forms.Form):
    drug = forms.CharField(
        label="Drug",
        max_length=200,
        help_text="Type to search the formulary (name or brand), then choose.",
        error_messages={"required": "Choose the drug from the formulary."},
        widget=forms.TextInput(attrs=_search_attrs("drug-options", "registration:drug_options")),
    )
    dose_value = AmountField(
        label="Dose",
        min_value=Decimal("0.0001"),
        max_digits=12,
        decimal_places=4,
        error_messages={
            "min_value": "The dose is a number above zero.",
            "required": "Enter the dose ordered.",
        },
    )
    dose_unit = forms.ChoiceField(
        label="Unit", choices=[(u, u) for u in DOSE_UNITS], required=False
    )
    dose_basis = forms.ChoiceField(
        label="Basis",
        choices=[
            ("", "fixed amount"),
            (DoseBasis.PER_M2, "per m²"),
            (DoseBasis.PER_KG, "per kg"),
            (DoseBasis.AUC, "target AUC"),
        ],
        required=False,
    )
    route = forms.ChoiceField(choices=Route.choices)
    duration_minutes = forms.IntegerField(
        label="Duration (minutes)",
        min_value=1,
        required=False,
        help_text="or a rate",
        error_messages={"min_value": "The duration is 1 minute to 7 days."},
    )
    rate_value = AmountField(
        label="Rate",
        min_value=Decimal("0.0001"),
        max_digits=12,
        decimal_places=4,
        required=False,
        error_messages={"min_value": "The rate is a number above zero."},
    )
    rate_unit = forms.ChoiceField(
        label="Rate unit", choices=[(u, u) for u in RATE_UNITS], required=False
    )
    indication = forms.CharField(
        label="Indication (ICD-10-CM)",
        max_length=200,
        help_text="Type a code (C50.911) or words (breast), then choose.",
        error_messages={"required": "Enter the indication: its ICD-10-CM code."},
        widget=forms.TextInput(attrs=_search_attrs("icd10-options", "registration:icd10_options")),
    )
    purpose = forms.ChoiceField(
        label="Purpose",
        choices=[("", "(not a hydration order)"), (Order.Purpose.HYDRATION, "Hydration")],
        required=False,
        help_text="Hydration: fluids ordered for their own sake (volume, electrolytes), not as "
        "a drug's vehicle; its infusion is charged only against a hydration order.",
    )
    ordering_provider = forms.CharField(
        label="Ordering provider",
        max_length=200,
        error_messages={"required": "Enter the provider who ordered it."},
    )
    ordering_provider_npi = forms.CharField(
        label="Provider NPI",
        max_length=10,
        help_text="10 digits, checked",
        error_messages={"required": "Enter the provider's NPI (10 digits)."},
    )
    entry_method = forms.ChoiceField(
        label="The order came as",
        choices=[(c, label) for c, label in EntryMethod.choices if c != EntryMethod.ELECTRONIC],
        help_text="You enter it on the provider's behalf; a pharmacist verifies it.",
    )
    # Asked when the drug matches an allergy of the patient (the warning beside the drug, said
    # by the service: mar.registration.services.order_allergy_problems); hidden otherwise.
    allergy_reason = forms.CharField(
        label="Reason to enter it despite the allergy",
        required=False,
        max_length=2000,
        widget=forms.HiddenInput,
        validators=[validate_reason_in_words],
    )
    # Asked when the same order is on the visit already (the warning beside the drug, said by the
    # service: mar.registration.services.order_duplicate_problems); hidden otherwise.
    duplicate_confirm = forms.BooleanField(
        label="Enter it again anyway: this is a second order",
        required=False,
        widget=forms.HiddenInput,
    )
    # Asked when a dose/unit warning is said (beside the dose, its unit or the rate's unit, by the
    # service: mar.registration.services.order_dose_problems); hidden otherwise.
    dose_confirm = forms.BooleanField(
        label="Enter it as written: I checked the dose and unit with the order",
        required=False,
        widget=forms.HiddenInput,
    )
    # One key per form drawn: the same form posted twice (a double press, sent again after
    # signing in, the back button) enters one order (order_enter).
    entry_key = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        check_url: Callable[[str], str] | None = None,
        duplicate_url: str = "",
        **kwargs: Any,
    ):
        """`check_url`: the address that checks a field as it is typed (registration's
        `order_check` for this visit, by field name); without it the fields are checked on submit
        only. `duplicate_url`: the address that says, as drug, dose and route are filled, the
        same order open on the visit already (registration's `order_duplicate_check`), and the
        dose/unit warnings beside their fields."""
        super().__init__(*args, **kwargs)
        # What the dose check could not check, by field (the view's, `order_dose_notes_of`).
        self.dose_noted: dict[str, str] = {}
        if not self.is_bound:
            self.initial["entry_key"] = uuid.uuid4().hex
        # Related fields side by side (dose, unit, basis; duration or rate; provider and NPI).
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            _checked("drug", check_url, "change delay:250ms"),
            # The same order open on the visit already, said beside the drug as drug, dose and
            # route are filled (before submitting), with the confirm box below it.
            _duplicate_slot(duplicate_url),
            # Shown when the same order is on the visit already (the warning beside the drug).
            Div("duplicate_confirm", css_id="duplicate-confirm-slot"),
            Row(
                Column("dose_value", _dose_slot("dose_value"), css_class="col-md-3"),
                Column("dose_unit", _dose_slot("dose_unit"), css_class="col-md-3"),
                Column("dose_basis", css_class="col-md-3"),
                Column("route", css_class="col-md-3"),
            ),
            Row(
                Column("duration_minutes", css_class="col-md-4"),
                Column("rate_value", css_class="col-md-4"),
                Column("rate_unit", _dose_slot("rate_unit"), css_class="col-md-4"),
            ),
            # Shown when a dose/unit warning is said (beside the dose, unit or rate's unit), on
            # submit or as the order is typed.
            Div("dose_confirm", css_id="dose-confirm-slot"),
            Row(
                Column(
                    # A code is checked as it is typed (a pause), or chosen from the suggestions.
                    _checked("indication", check_url, "input changed delay:700ms, change"),
                    css_class="col-md-8",
                ),
                Column("purpose", css_class="col-md-4"),
            ),
            Row(
                Column("ordering_provider", css_class="col-md-5"),
                Column("ordering_provider_npi", css_class="col-md-3"),
                Column("entry_method", css_class="col-md-4"),
            ),
            # Shown (or hidden again, what was typed kept) by the drug's check too.
            Div("allergy_reason", css_id="allergy-reason-slot"),
            "entry_key",
        )

    def allergy_ask(self, *, cross: bool = False) -> None:
        """Show the allergy override reason (the drug matches an allergy of the patient; `cross`:
        only a cross-sensitivity, asked in its words)."""
        self.fields["allergy_reason"].widget = forms.TextInput(
            attrs={"placeholder": "e.g. prescriber confirmed: tolerated it in 2024"}
        )
        what = "cross-sensitivity" if cross else "allergy"
        self.fields["allergy_reason"].label = f"Reason to enter it despite the {what} (required)"
        # A bound field read before (validating the form) keeps the label it was made with.
        self._bound_fields_cache.pop("allergy_reason", None)

    def duplicate_ask(self) -> None:
        """Show the confirm box: the same order is on the visit already (said beside the drug)."""
        self.fields["duplicate_confirm"].widget = forms.CheckboxInput()
        self._bound_fields_cache.pop("duplicate_confirm", None)

    def dose_ask(self) -> None:
        """Show the dose/unit confirm box (the warnings said beside their fields)."""
        self.fields["dose_confirm"].widget = forms.CheckboxInput()
        self._bound_fields_cache.pop("dose_confirm", None)


class AccountNumberForm(forms.Form):
    """The account number of a visit that has none, entered later (`encounter_account_set`)."""

    account_number = forms.CharField(
        label="Account number",
        max_length=40,
        error_messages={"required": "Enter the account number."},
        help_text="Billing's number for the visit; a signed visit's charges are made again.",
    )


class OrderCancelForm(forms.Form):
    """An order cancelled as entered in error (mar/registration/cancelling.py `order_cancel`):
    the reason, in words. `prefix` O<pk>: each order row has its own form on the visit page."""

    reason = forms.CharField(
        label="Why it was entered in error",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[validate_reason_in_words],
        error_messages={"required": "Say why the order was entered in error."},
        help_text="The wrong drug, dose or patient typed: kept with the order and audited.",
    )
