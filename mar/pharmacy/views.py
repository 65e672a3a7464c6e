"""The pharmacist's pages: untagged drugs first, the formulary, order verification, CSV.

Pharmacists (and admins) tag, change and override classes, verify or return orders (to the
prescriber, with a reason; a return made by mistake is withdrawn, with a reason) and import;
nurses and
coders may read the formulary and export it. Every htmx endpoint also works as a plain form post
followed by a redirect.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mar import care_views
from mar.forms import AmountField, apply_validation_error, plain_number
from mar.models import (
    NDC_ONE_RELATION,
    Administration,
    Drug,
    DrugClass,
    DrugClassChange,
    DrugNdc,
    Encounter,
    NoDrugLine,
    Order,
    SafetyOverride,
)
from mar.pharmacy.services import (
    MAX_DOSE_UNITS,
    NO_LINE_NOTE_MAX,
    NO_LINE_NOTE_MISSING,
    NO_LINE_NOTE_TOO_LONG,
    NO_NDC_RECENT_DAYS,
    REASON_MAX,
    FormularyImportError,
    ImportBillingChange,
    ImportReasonNeeded,
    charges_said,
    drug_allergy_classes_set,
    drug_billing_gap,
    drug_class_change,
    drug_classify,
    drug_max_dose_by_body_set,
    drug_max_dose_set,
    drug_ndc_add,
    drug_ndc_prefer,
    drug_ndc_reactivate,
    drug_ndc_retire,
    drug_ndc_update,
    drug_no_line_decide,
    drug_no_line_undo,
    drug_not_charged_said,
    drug_reactivate,
    drug_retire,
    drug_save,
    drugs_no_line_decided,
    drugs_not_billable,
    drugs_without_ndc,
    formulary_export,
    formulary_import,
    formulary_import_billing_changes,
    hcpcs_charge_master_warning,
    order_class_override,
    order_return,
    order_return_withdraw,
    order_verify,
)
from mar.roles import CODER, NURSE, PHARMACIST, role_required, user_has_role
from mar.services import dose_check, measures, safety
from mar.validators import validate_reason_in_words

READERS = (PHARMACIST, NURSE, CODER)


# --- forms --------------------------------------------------------------------------------


class DrugClassForm(forms.Form):
    drug_class = forms.ChoiceField(label="Class", choices=DrugClass.choices)
    reason = forms.CharField(
        label="Reason / evidence",
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "Why this class (evidence)"}),
        validators=[validate_reason_in_words],
    )
    origin = forms.ChoiceField(
        choices=[("formulary", "formulary"), ("worklist", "worklist"), ("drug", "drug")],
        required=False,
        widget=forms.HiddenInput,
    )

    def __init__(self, *args: object, drug: Drug, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.drug = drug
        # Tagged or not, a drug with no HCPCS code or billing unit is not charged: said beside
        # its (empty) HCPCS code on the form, so a tag is never mistaken for billing done.
        self.billing_gap = drug_billing_gap(
            hcpcs=drug.hcpcs_code, billing_unit_amount=drug.billing_unit_amount
        )
        if drug.drug_class == DrugClass.HYDRATION:  # fluids are not billed in units here
            self.billing_gap = ""
        self.not_charged = (
            drug_not_charged_said(drug.name, self.billing_gap) if self.billing_gap else ""
        )
        # Refusals in words, beside the field, not "This field is required." (walk19).
        self.fields["drug_class"].error_messages["required"] = f"Choose a class for {drug.name}."
        if drug.drug_class is None:
            self.fields["drug_class"].choices = [("", "choose a class"), *DrugClass.choices]
            # The evidence is required (pharmacy.services.drug_classify says so, beside it);
            # the drug's evidence note, when it has one, is offered.
            self.fields["reason"].label = "Evidence for the class"
            self.fields["reason"].widget.attrs["placeholder"] = (
                "Evidence (required): compendium reference, FDA label mechanism"
            )
            self.fields["reason"].widget.attrs["aria-required"] = "true"
            if drug.class_note and not self.is_bound:
                self.initial.setdefault("reason", drug.class_note)
        else:
            self.fields["reason"].required = True
            self.fields["reason"].widget.attrs["placeholder"] = "Reason (required)"
            self.fields["reason"].error_messages["required"] = (
                f"Say why {drug.name} changes class: the reason is kept with the change."
            )


class DrugForm(forms.Form):
    """A formulary entry, checked as the CSV import checks it (formulary.drug_fields_check)."""

    name = forms.CharField(max_length=200, error_messages={"required": "Enter the drug's name."})
    synonyms = forms.CharField(
        required=False, max_length=500, help_text="Brand and other names, separated by ';'"
    )
    hcpcs = forms.CharField(label="HCPCS code", required=False, max_length=10)
    billing_unit = forms.CharField(
        label="Billing unit", required=False, max_length=40, help_text="Amount and unit: 50 mg"
    )
    container = forms.ChoiceField(
        label="Container",
        required=False,
        choices=[("", "Not stated"), *Drug.Container.choices],
        help_text="As the FDA label says. JW/JZ waste modifiers apply to single-dose containers "
        "only; while it is not stated, the coder is told and neither is added.",
    )
    # An existing drug's only: asked by the service when the HCPCS code, billing unit or
    # container changes (its words beside the field, with the other problems, all at once).
    reason = forms.CharField(
        label="Reason for the billing data change",
        required=False,
        max_length=REASON_MAX,
        error_messages={"max_length": f"At most {REASON_MAX} characters."},
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. HCPCS code effective Jan 1; label says per 10 mg"}
        ),
        help_text="Required when the HCPCS code, billing unit or container changes: kept in the "
        "audit trail, and the coders read it with the charges the change brings up to date.",
        validators=[validate_reason_in_words],
    )
    note = forms.CharField(
        label="Evidence for the class",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="A compendium reference, or the FDA label's mechanism of action. Required when "
        "the drug is tagged here: the class decides how every visit using it is billed.",
    )
    drug_class = forms.ChoiceField(
        label="Class",
        required=False,
        choices=[("", "untagged (decide later from the worklist)"), *DrugClass.choices],
    )

    def __init__(self, *args: object, drug: Drug | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if drug is not None:
            # An existing drug's class changes with a reason, on its own form.
            del self.fields["drug_class"]
            self.fields["note"].help_text = "A compendium reference, or the FDA label's mechanism."
        else:  # a new drug's billing data is its first: no reason asked
            del self.fields["reason"]
        # The code is not in the charge master: said beside the field (drug_edit.html).
        self.hcpcs_warning = ""
        # No HCPCS code or billing unit: the drug will not be charged (drug_edit.html).
        self.not_charged = ""

    def not_charged_set(
        self, *, name: str, hcpcs: str, billing_unit: str, drug_class: str | None
    ) -> None:
        """Say beside the HCPCS field that the drug will not be charged while the code (or the
        billing unit) is empty: `name`, `hcpcs`, `billing_unit` as on the form; not for a
        hydration fluid (not billed in units here, as CLAIM-HCPCS leaves it out)."""
        if drug_class == DrugClass.HYDRATION:
            return
        # A billing unit typed but unreadable is refused beside its own field: not this.
        gap = drug_billing_gap(
            hcpcs=hcpcs, billing_unit_amount=Decimal(1) if billing_unit.strip() else None
        )
        self.not_charged = drug_not_charged_said(name.strip() or "The drug", gap) if gap else ""
        if self.not_charged:
            described = self.fields["hcpcs"].widget.attrs.get("aria-describedby", "")
            ids = f"{described} hcpcs-not-charged".strip()
            self.fields["hcpcs"].widget.attrs["aria-describedby"] = ids

    def hcpcs_warning_set(self, warning: str) -> None:
        """Say `warning` beside the HCPCS field, read with it by a screen reader."""
        self.hcpcs_warning = warning
        if warning:
            described = self.fields["hcpcs"].widget.attrs.get("aria-describedby", "")
            ids = f"hcpcs-warning {described}".strip()
            self.fields["hcpcs"].widget.attrs["aria-describedby"] = ids


class DrugNdcForm(forms.Form):
    """A package the pharmacy stocks, by its NDC (checked by pharmacy.services.drug_ndc_add)."""

    ndc = forms.CharField(
        label="NDC",
        max_length=20,
        help_text="11 digits (5-4-2), or the 10-digit NDC on the label with its dashes",
        error_messages={"required": "Enter the NDC on the package."},
    )
    package_description = forms.CharField(label="Package", max_length=200, required=False)
    unit = forms.ChoiceField(label="NDC unit", choices=DrugNdc.Unit.choices)
    units_per_billing_unit = AmountField(
        label="NDC units per billing unit",
        required=False,
        max_digits=12,
        decimal_places=4,
        help_text="e.g. 0.5 (mL) per 1 mg billed of a 2 mg/mL package; both blank: 1",
    )
    # The same relation the other way round, for a package whose NDC units per billing unit is
    # no terminating decimal (stored exactly: the claim's NDC quantity is computed from it).
    billing_units_per_ndc_unit = AmountField(
        label="Or: billing units per NDC unit",
        required=False,
        max_digits=12,
        decimal_places=4,
        help_text="Give this one instead when the NDC units per billing unit does not come out "
        "exact: a 6 mg/mL package billed per 1 mg is 6 (per mL), not 0.1667 (mL), so 300 mg "
        "is claimed as 50 mL. Give one of the two, not both; both blank: 1.",
    )
    preferred = forms.BooleanField(
        label="Preferred (carried on a drug line when no NDC was scanned)", required=False
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        both = ("units_per_billing_unit", "billing_units_per_ndc_unit")
        if all(cleaned.get(name) is not None for name in both):
            self.add_error("billing_units_per_ndc_unit", NDC_ONE_RELATION)
        return cleaned


class NdcEditForm(DrugNdcForm):
    """Correct a package's description, NDC unit and NDC units per billing unit, with a reason
    (pharmacy.services.drug_ndc_update, checked as a package added is); prefixed per NDC row.
    The add form's fields without the NDC (it stays: another NDC is another package) and the
    preference (its own button)."""

    # Required by the service (its words beside the field), so that a missing reason is said
    # with the service's refusals of the other fields, all at once; the browser asks first.
    reason = forms.CharField(
        label="Reason for the correction (required)",
        max_length=REASON_MAX,
        required=False,
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. label says 2 mL per vial", "required": True}
        ),
        validators=[validate_reason_in_words],
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        del self.fields["ndc"]
        del self.fields["preferred"]

    @classmethod
    def of(cls, ndc: DrugNdc) -> NdcEditForm:
        """The row's form, showing the package as it is."""
        per_unit = ndc.units_per_billing_unit_text if ndc.units_per_billing_unit else None
        return cls(
            prefix=_edit_prefix(ndc),
            initial={
                "package_description": ndc.package_description,
                "unit": ndc.unit,
                "units_per_billing_unit": per_unit,
                "billing_units_per_ndc_unit": ndc.billing_units_per_ndc_unit_text or None,
            },
        )


class NdcRetireForm(forms.Form):
    """Why a package is retired (pharmacy.services.drug_ndc_retire); prefixed per NDC row."""

    reason = forms.CharField(
        label="Reason for retiring",
        max_length=2000,
        error_messages={
            "required": "Say why it is retired (no longer stocked, recalled): the reason is kept."
        },
        widget=forms.TextInput(attrs={"placeholder": "e.g. no longer stocked, recalled"}),
        validators=[validate_reason_in_words],
    )


class DrugAllergyClassesForm(forms.Form):
    """A drug's allergy classes (pharmacy.services.drug_allergy_classes_set)."""

    allergy_classes = forms.CharField(
        label="Allergy classes",
        required=False,
        max_length=2000,  # the service says the stored limit beside the field, with the rest
        help_text="Separated by ',' or ';', e.g. penicillin, beta-lactam. A patient's allergy "
        "naming one of them (or the drug) is shown at order entry and verification, and the "
        "nurse's start asks for a reason. Empty: none.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. penicillin, beta-lactam"}),
    )


class DrugMaxDoseForm(forms.Form):
    """The formulary's maximum single dose of a drug (pharmacy.services.drug_max_dose_set)."""

    max_dose_amount = AmountField(
        label="Maximum single dose",
        required=False,
        max_digits=12,
        decimal_places=4,
        help_text="An amount, as the label's maximum single dose says. To remove the maximum, "
        "clear both the amount and the unit.",
        error_messages={"invalid": "The maximum is a number (e.g. 16), or empty: none."},
    )
    max_dose_unit = forms.ChoiceField(
        label="Unit",
        required=False,
        choices=[("", "—"), *((u, u) for u in MAX_DOSE_UNITS)],
    )


class DrugMaxDoseByBodyForm(forms.Form):
    """The formulary's maximum single dose of a drug by body size, per kg of body weight and per
    m² of body surface area (pharmacy.services.drug_max_dose_by_body_set)."""

    max_dose_per_kg_amount = AmountField(
        label="Maximum single dose per kg of body weight",
        required=False,
        max_digits=12,
        decimal_places=4,
        help_text="e.g. 15 for 15 mg/kg: an order's dose is compared with it × the weight "
        "recorded for the visit. To remove it, clear both the amount and the unit.",
        error_messages={"invalid": "The maximum is a number (e.g. 15), or empty: none."},
    )
    max_dose_per_kg_unit = forms.ChoiceField(
        label="Unit (per kg)",
        required=False,
        choices=[("", "—"), *((u, f"{u}/kg") for u in MAX_DOSE_UNITS)],
    )
    max_dose_per_m2_amount = AmountField(
        label="Maximum single dose per m² of body surface area",
        required=False,
        max_digits=12,
        decimal_places=4,
        help_text="e.g. 2 for 2 mg/m²: compared with it × the BSA (Mosteller) from the height "
        "and weight recorded for the visit. To remove it, clear both the amount and the unit.",
        error_messages={"invalid": "The maximum is a number (e.g. 2), or empty: none."},
    )
    max_dose_per_m2_unit = forms.ChoiceField(
        label="Unit (per m²)",
        required=False,
        choices=[("", "—"), *((u, f"{u}/m²") for u in MAX_DOSE_UNITS)],
    )


class DrugRetireForm(forms.Form):
    """Why a drug is retired from the formulary (pharmacy.services.drug_retire)."""

    reason = forms.CharField(
        label="Reason for retiring this drug",
        max_length=REASON_MAX,
        error_messages={
            "required": "Say why the drug is retired (no longer stocked, replaced by another): "
            "order entry shows the reason when it refuses a new order of it."
        },
        widget=forms.TextInput(attrs={"placeholder": "e.g. no longer stocked, replaced by …"}),
        validators=[validate_reason_in_words],
    )


class DrugNoLineForm(forms.Form):
    """Why a drug the drug lines cannot bill has no drug line, on purpose
    (pharmacy.services.drug_no_line_decide)."""

    reason = forms.ChoiceField(
        label="Why it has no drug line",
        choices=NoDrugLine.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose why the drug has no drug line: packaged, or supplied free or by "
            "the patient.",
            "invalid_choice": "Choose one of the two reasons.",
        },
    )
    note = forms.CharField(
        label="In your words",
        max_length=NO_LINE_NOTE_MAX,
        error_messages={"required": NO_LINE_NOTE_MISSING, "max_length": NO_LINE_NOTE_TOO_LONG},
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. packaged under OPPS (status indicator N) for 2026"}
        ),
        validators=[validate_reason_in_words],
        help_text=f"At most {NO_LINE_NOTE_MAX} characters. Kept with your name and the time; "
        "the coder no longer sees CLAIM-HCPCS for it. If the drug has a code of its own or an "
        "unclassified one (J3490, J9999, C9399), add that code instead: it is then billed.",
    )


class OrderClassForm(forms.Form):
    drug_class = forms.ChoiceField(
        label="Class for this order",
        choices=[("", "the drug's own class (no override)"), *DrugClass.choices],
        required=False,
    )
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why this order's class differs from its drug's."},
        validators=[validate_reason_in_words],
    )


class OrderReturnForm(forms.Form):
    """Why an order goes back to the prescriber (pharmacy.services.order_return)."""

    reason = forms.CharField(
        label="Reason for returning it to the prescriber",
        max_length=REASON_MAX,
        error_messages={
            "required": "Say why the order goes back to the prescriber (dose, route, "
            "interaction): the nurse sees the reason on the chart."
        },
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "e.g. dose over the maximum for the BSA"}
        ),
        validators=[validate_reason_in_words],
    )


class OrderReturnWithdrawForm(forms.Form):
    """Why a return to the prescriber is withdrawn (pharmacy.services.order_return_withdraw)."""

    reason = forms.CharField(
        label="Why the return is withdrawn",
        max_length=REASON_MAX,
        error_messages={
            "required": "Say why the return is withdrawn (returned by mistake, the prescriber "
            "confirmed the order): the reason is kept in the audit trail."
        },
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "e.g. the prescriber confirmed the order by phone"}
        ),
        validators=[validate_reason_in_words],
    )


class FormularyImportForm(forms.Form):
    """The file, and the one reason asked when it changes billing data of drugs already in the
    formulary (formulary_import's `billing_reason`). The file chosen before is kept in the
    session for this confirm step (the page sends `kept`, its SHA-256, so another tab's file is
    never applied instead)."""

    file = forms.FileField(label="Formulary CSV", required=False)
    reason = forms.CharField(
        label="Why are these billing data changing?",
        required=False,
        max_length=REASON_MAX,
        error_messages={"max_length": f"At most {REASON_MAX} characters."},
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "e.g. CMS quarterly HCPCS update, effective Jan 1"}
        ),
        help_text="One reason for the file: kept with each drug's change in the audit trail, and "
        "the coders read it with the charges the changes bring up to date.",
        validators=[validate_reason_in_words],
    )


# --- helpers ------------------------------------------------------------------------------


def _formulary_queryset(query: str) -> QuerySet[Drug]:
    drugs = Drug.objects.select_related("class_tagged_by").order_by("name")
    if query:
        drugs = drugs.filter(
            Q(name__icontains=query)
            | Q(synonyms__icontains=query)
            | Q(hcpcs_code__iexact=query)
            | Q(drug_class__iexact=query)
        )
    return drugs


def _with_usage(drugs: QuerySet[Drug]) -> QuerySet[Drug]:
    """`drugs` with the worklist card's usage line: how many orders name each
    (`order_count`), how many signed encounters wait for its charges (`blocked_count`)."""
    signed = Q(administrations__encounter__status=Encounter.Status.SIGNED)
    return drugs.annotate(
        order_count=Count("orders", distinct=True),
        blocked_count=Count("administrations__encounter", filter=signed, distinct=True),
    )


def _untagged() -> QuerySet[Drug]:
    return _with_usage(Drug.objects.filter(drug_class__isnull=True)).order_by("name")


def _evidence_on_reason(exc: ValidationError) -> ValidationError:
    """A refusal of `drug_classify` on its evidence ("note"), said beside the class form's
    evidence field ("reason")."""
    if not hasattr(exc, "error_dict") or "note" not in exc.error_dict:
        return exc
    return ValidationError(
        {"reason" if key == "note" else key: errors for key, errors in exc.error_dict.items()}
    )


def _recent_changes() -> QuerySet[DrugClassChange]:
    """The worklist's "Recent class decisions" (newest first)."""
    return DrugClassChange.objects.select_related("drug", "by", "order")[:10]


# --- the worklist -------------------------------------------------------------------------


def _not_billable_context() -> dict[str, Any]:
    """The worklist's Not billable panel (`pharmacy/_not_billable.html`): the drugs the drug
    lines cannot bill, each with its billing gap, and those with no drug line by decision."""
    not_billable = list(drugs_not_billable())
    for drug in not_billable:
        drug.billing_gap = drug_billing_gap(  # type: ignore[attr-defined]
            hcpcs=drug.hcpcs_code, billing_unit_amount=drug.billing_unit_amount
        )
    return {"not_billable": not_billable, "no_line_decided": list(drugs_no_line_decided())}


@require_GET
@role_required(PHARMACIST)
def formulary_worklist(request: HttpRequest) -> HttpResponse:
    """Untagged drugs (a drug appears as soon as an order names it), each with its tag form;
    then the drugs that cannot be billed as drug lines (no HCPCS code or billing unit), those
    already given on signed visits first, each until its billing data is added."""
    untagged = list(_untagged())
    rows = [(drug, DrugClassForm(drug=drug, initial={"origin": "worklist"})) for drug in untagged]
    context = {
        "rows": rows,
        "untagged": untagged,
        **_not_billable_context(),
        # Drugs no barcode can match: their packages for pharmacy to add.
        "no_ndc": list(drugs_without_ndc()),
        "no_ndc_days": NO_NDC_RECENT_DAYS,
        # As the orders page heads them: on records in progress, and signed before
        # verification (listed apart there), so the two pages give the same count.
        "unverified_count": _to_verify(Order.objects.all()).count(),
        "signed_unverified_count": _signed_unverified(Order.objects.all()).count(),
        "recent_changes": _recent_changes(),
    }
    return render(request, "pharmacy/worklist.html", context)


# --- the formulary ------------------------------------------------------------------------


@require_GET
@role_required(*READERS)
def formulary(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    context = {"drugs": _formulary_queryset(query), "q": query}
    if request.htmx and request.htmx.target == "formulary-rows":
        return render(request, "pharmacy/_formulary_rows.html", context)
    return render(request, "pharmacy/formulary.html", context)


@require_GET
@role_required(*READERS)
def drug_row(request: HttpRequest, pk: int) -> HttpResponse:
    """One formulary row as displayed (htmx: the edit row's cancel)."""
    drug = get_object_or_404(Drug.objects.select_related("class_tagged_by"), pk=pk)
    return render(request, "pharmacy/_drug_row.html", {"drug": drug})


def _retire_prefix(ndc: DrugNdc) -> str:
    return f"r{ndc.pk}"


def _edit_prefix(ndc: DrugNdc) -> str:
    return f"e{ndc.pk}"


def _drug_page(
    request: HttpRequest,
    drug: Drug,
    ndc_form: DrugNdcForm | None = None,
    retire_form: tuple[int, NdcRetireForm] | None = None,
    drug_retire_form: DrugRetireForm | None = None,
    edit_form: tuple[int, NdcEditForm] | None = None,
    status: int = 200,
    allergy_form: DrugAllergyClassesForm | None = None,
    no_line_form: DrugNoLineForm | None = None,
    max_dose_form: DrugMaxDoseForm | None = None,
    max_dose_by_body_form: DrugMaxDoseByBodyForm | None = None,
) -> HttpResponse:
    """The drug's page; `ndc_form`, `retire_form` or `edit_form` (NDC pk, form),
    `drug_retire_form` or `allergy_form` bound with what was typed."""
    can_edit = user_has_role(request.user, PHARMACIST)
    # Active packages first (the preferred one on top), then the retired ones.
    ndcs = list(drug.ndcs.select_related("retired_by").order_by("-active", "-preferred", "ndc"))
    for ndc in ndcs:
        ndc.retire_form = None
        ndc.edit_form = None
        if can_edit and ndc.active:
            bound = retire_form[1] if retire_form and retire_form[0] == ndc.pk else None
            ndc.retire_form = bound or NdcRetireForm(prefix=_retire_prefix(ndc))
        if can_edit:  # a retired package too: what was given from it still bills it
            typed = edit_form[1] if edit_form and edit_form[0] == ndc.pk else None
            ndc.edit_form = typed or NdcEditForm.of(ndc)
    # None preferred (the preferred one was retired): a drug line with no NDC scanned carries
    # the first active one by NDC (coding/claim.py `ndc_choice`), which the page says while so.
    first = ndcs[0] if ndcs else None
    gap = drug_billing_gap(hcpcs=drug.hcpcs_code, billing_unit_amount=drug.billing_unit_amount)
    context = {
        "drug": drug,
        "changes": drug.class_changes.select_related("by", "order"),
        "ndcs": ndcs,
        "carried_unpreferred": first if first and first.active and not first.preferred else None,
        "can_edit_ndcs": can_edit,
        "ndc_form": ndc_form or (DrugNdcForm() if can_edit else None),
        "drug_retire_form": drug_retire_form
        or (DrugRetireForm() if can_edit and drug.active else None),
        "can_retire": can_edit,
        # The cross-sensitivities the allergy matcher warns of, this drug's marked.
        "cross_sensitivities": safety.cross_sensitivities_of(drug.allergy_classes),
        # Its HCPCS code not in the charge master: said beside the code while it holds.
        "hcpcs_warning": hcpcs_charge_master_warning(drug.hcpcs_code),
        # What keeps it off the drug lines ("" when nothing does) and, while so, the form that
        # says it has no drug line on purpose (a classified drug, not a hydration fluid).
        "billing_gap": gap,
        "no_line_form": no_line_form
        or (
            DrugNoLineForm()
            if can_edit
            and gap
            and not drug.no_drug_line
            and drug.drug_class not in (None, DrugClass.HYDRATION)
            else None
        ),
        "allergy_form": allergy_form
        or (
            DrugAllergyClassesForm(initial={"allergy_classes": drug.allergy_classes})
            if can_edit
            else None
        ),
        "max_dose_form": max_dose_form
        or (
            DrugMaxDoseForm(
                initial={
                    "max_dose_amount": plain_number(drug.max_dose_amount),  # 3, not 3.0000
                    "max_dose_unit": drug.max_dose_unit,
                }
            )
            if can_edit
            else None
        ),
        "max_dose": dose_check.max_dose_label(drug),
        "max_dose_by_body_form": max_dose_by_body_form
        or (
            DrugMaxDoseByBodyForm(
                initial={
                    "max_dose_per_kg_amount": plain_number(
                        drug.max_dose_per_kg_amount
                    ),  # 3, not 3.0000
                    "max_dose_per_kg_unit": drug.max_dose_per_kg_unit,
                    "max_dose_per_m2_amount": plain_number(
                        drug.max_dose_per_m2_amount
                    ),  # 3, not 3.0000
                    "max_dose_per_m2_unit": drug.max_dose_per_m2_unit,
                }
            )
            if can_edit
            else None
        ),
        "max_dose_by_body": " and ".join(
            label
            for label in (
                dose_check.max_dose_per_kg_label(drug),
                dose_check.max_dose_per_m2_label(drug),
            )
            if label
        ),
    }
    return render(request, "pharmacy/drug.html", context, status=status)


def _ndc_of(pk: int) -> DrugNdc:
    return get_object_or_404(DrugNdc.objects.select_related("drug__class_tagged_by"), pk=pk)


def _ndcs_anchor(ndc: DrugNdc) -> str:
    return f"{reverse('pharmacy:drug', args=[ndc.drug_id])}#ndcs"


def _drug_of(pk: int) -> Drug:
    return get_object_or_404(Drug.objects.select_related("class_tagged_by", "retired_by"), pk=pk)


@require_GET
@role_required(*READERS)
def drug_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _drug_page(request, _drug_of(pk))


@require_POST
@role_required(PHARMACIST)
def drug_retire_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Retire the drug from the formulary, with a reason; a refusal is said beside the reason
    on the drug's page, with what was typed."""
    drug = _drug_of(pk)
    form = DrugRetireForm(request.POST)
    if form.is_valid():
        try:
            drug_retire(drug=drug, reason=form.cleaned_data["reason"], user=request.user)
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):  # already retired (a page from before): said
                messages.error(request, " ".join(exc.messages))
                return redirect("pharmacy:drug", pk=drug.pk)
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                f"{drug.name} retired from the formulary: a new order of it is refused, with "
                "the reason. Orders already written of it are still started, charted and billed as "
                "before.",
            )
            return redirect("pharmacy:drug", pk=drug.pk)
    return _drug_page(request, _drug_of(pk), drug_retire_form=form, status=400)


def _drug_form_post(
    request: HttpRequest,
    drug: Drug,
    form: forms.Form,
    *,
    save: Callable[[dict[str, Any]], Drug],
    said: Callable[[Drug], str],
    anchor: str,
    page_form: str,
) -> HttpResponse:
    """One of the drug page's forms posted: valid, saved by its service (`save`, given the
    form's cleaned data), what changed said (`said`, given the drug saved) and back to the
    page at `anchor`; refused (by the form or the service), the page again with the message
    beside the field and what was typed (`page_form`: `_drug_page`'s argument for the form)."""
    if form.is_valid():
        try:
            saved = save(form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, said(saved))
            return redirect(f"{reverse('pharmacy:drug', args=[drug.pk])}#{anchor}")
    bound: dict[str, Any] = {page_form: form}
    return _drug_page(request, _drug_of(drug.pk), status=400, **bound)


@require_POST
@role_required(PHARMACIST)
def drug_no_line_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Say the drug has no drug line on purpose, choosing why; a refusal is said beside the
    field on the drug's page, with what was typed."""
    drug = _drug_of(pk)
    return _drug_form_post(
        request,
        drug,
        DrugNoLineForm(request.POST),
        save=lambda data: drug_no_line_decide(
            drug=drug, reason=data["reason"], note=data["note"], user=request.user
        ),
        said=lambda saved: (
            f"{saved.name}: no drug line, by decision ({saved.get_no_drug_line_display()}). "
            'It left "Not billable" and the coder no longer sees CLAIM-HCPCS for it; its '
            "charges are unchanged. Undo it from the worklist or this page."
        ),
        anchor="no-drug-line",
        page_form="no_line_form",
    )


@require_POST
@role_required(PHARMACIST)
def drug_no_line_undo_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Undo the decision: the drug is "Not billable" again. Back to the worklist when undone
    there, else to the drug's page."""
    drug = _drug_of(pk)
    try:
        drug_no_line_undo(drug=drug, user=request.user)
    except ValidationError as exc:  # undone already (a page from before): said
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f'{drug.name}: the decision is undone. It is "Not billable" again and the coder '
            "sees CLAIM-HCPCS for it until its HCPCS code and billing unit are added.",
        )
    if request.POST.get("origin") == "worklist":
        return redirect(f"{reverse('pharmacy:worklist')}#no-drug-line")
    return redirect(f"{reverse('pharmacy:drug', args=[drug.pk])}#no-drug-line")


@require_POST
@role_required(PHARMACIST)
def drug_allergy_classes_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the drug's allergy classes; a refusal is said beside the field on the drug's page,
    with what was typed."""
    drug = _drug_of(pk)
    before = drug.allergy_classes
    return _drug_form_post(
        request,
        drug,
        DrugAllergyClassesForm(request.POST),
        save=lambda data: drug_allergy_classes_set(
            drug=drug, allergy_classes=data["allergy_classes"], user=request.user
        ),
        said=lambda saved: (
            f"Allergy classes of {saved.name}: {before or '(none)'} → "
            f"{saved.allergy_classes or '(none)'}."
        ),
        anchor="allergy-classes",
        page_form="allergy_form",
    )


def _max_dose_said(what: str, before: str, after: str) -> str:
    """A maximum changed, in words: a removed one said so (QA: a unit left with the amount
    cleared read "16 mg → (none)", removed unawares; now refused, and a removal is said)."""
    if not after:
        return f"{what}: {before} removed; no maximum is kept, none is checked."
    return f"{what}: {before or '(none)'} → {after}."


@require_POST
@role_required(PHARMACIST)
def drug_max_dose_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the drug's maximum single dose, or remove it (amount and unit both empty); a
    refusal (a unit with no amount: `MAX_DOSE_AMOUNT_MISSING`) is said beside the field on the
    drug's page, with what was typed."""
    drug = _drug_of(pk)
    before = dose_check.max_dose_label(drug)
    return _drug_form_post(
        request,
        drug,
        DrugMaxDoseForm(request.POST),
        save=lambda data: drug_max_dose_set(
            drug=drug,
            amount=data["max_dose_amount"],
            unit=data["max_dose_unit"],
            user=request.user,
        ),
        said=lambda saved: _max_dose_said(
            f"Maximum single dose of {saved.name}", before, dose_check.max_dose_label(saved)
        ),
        anchor="max-dose",
        page_form="max_dose_form",
    )


def _max_dose_by_body_labels(drug: Drug) -> tuple[str, str]:
    return dose_check.max_dose_per_kg_label(drug), dose_check.max_dose_per_m2_label(drug)


def _max_dose_by_body_said(name: str, before: tuple[str, str], after: tuple[str, str]) -> str:
    """Each maximum by body size that changed, in words (a removed one said so), then what is
    kept now."""
    changed = [
        _max_dose_said(f"per {per}", old, new)
        for per, old, new in zip(("kg", "m²"), before, after, strict=True)
        if old != new
    ]
    now = " and ".join(label for label in after if label) or "none kept"
    return f"Maximum single dose of {name} by body size: {' '.join(changed)} Now: {now}."


@require_POST
@role_required(PHARMACIST)
def drug_max_dose_by_body_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the drug's maximum single dose per kg and per m², or remove one (its amount and unit
    both empty); a refusal is said beside the field on the drug's page, with what was typed."""
    drug = _drug_of(pk)
    before = _max_dose_by_body_labels(drug)
    return _drug_form_post(
        request,
        drug,
        DrugMaxDoseByBodyForm(request.POST),
        save=lambda data: drug_max_dose_by_body_set(
            drug=drug,
            per_kg_amount=data["max_dose_per_kg_amount"],
            per_kg_unit=data["max_dose_per_kg_unit"],
            per_m2_amount=data["max_dose_per_m2_amount"],
            per_m2_unit=data["max_dose_per_m2_unit"],
            user=request.user,
        ),
        said=lambda saved: _max_dose_by_body_said(
            saved.name, before, _max_dose_by_body_labels(saved)
        ),
        anchor="max-dose-by-body",
        page_form="max_dose_by_body_form",
    )


@require_POST
@role_required(PHARMACIST)
def drug_reactivate_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Bring a retired drug back to the formulary."""
    drug = _drug_of(pk)
    try:
        drug_reactivate(drug=drug, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{drug.name} is back in the formulary: it can be ordered.")
    return redirect("pharmacy:drug", pk=drug.pk)


@require_POST
@role_required(PHARMACIST)
def drug_ndc_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a package (NDC) to the drug; a refusal is said beside its field on the drug's page,
    with what was typed."""
    drug = get_object_or_404(Drug.objects.select_related("class_tagged_by"), pk=pk)
    form = DrugNdcForm(request.POST)
    if form.is_valid():
        try:
            added = drug_ndc_add(drug=drug, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"NDC {added.ndc_display} added to {drug.name}.")
            return redirect(f"{reverse('pharmacy:drug', args=[drug.pk])}#ndcs")
    return _drug_page(request, drug, ndc_form=form, status=400)


@require_POST
@role_required(PHARMACIST)
def drug_ndc_retire_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Retire a package (no longer stocked), with a reason; a refusal is said beside the reason
    on the drug's page, with what was typed."""
    ndc = _ndc_of(pk)
    drug = ndc.drug
    form = NdcRetireForm(request.POST, prefix=_retire_prefix(ndc))
    if form.is_valid():
        was_preferred = ndc.preferred
        try:
            drug_ndc_retire(ndc=ndc, reason=form.cleaned_data["reason"], user=request.user)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            done = f"NDC {ndc.ndc_display} retired: a scan of it now stops as retired."
            if was_preferred:
                carried = drug.ndcs.filter(active=True).order_by("ndc").first()
                done += " It was the preferred NDC: " + (
                    f"drug lines with no NDC scanned now carry {carried.ndc_display} (the first "
                    "active one) until you make one preferred."
                    if carried is not None
                    else "no active NDC is left, so drug lines with no NDC scanned go without one."
                )
            messages.success(request, done)
            return redirect(_ndcs_anchor(ndc))
    return _drug_page(request, drug, retire_form=(ndc.pk, form), status=400)


@require_POST
@role_required(PHARMACIST)
def drug_ndc_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a package's description, NDC unit and units per billing unit, with a reason; a
    refusal is said beside its field in that package's row of the drug's page, with what was
    typed."""
    ndc = _ndc_of(pk)
    form = NdcEditForm(request.POST, prefix=_edit_prefix(ndc))
    if form.is_valid():
        try:
            corrected = drug_ndc_update(ndc=ndc, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            done = f"NDC {ndc.ndc_display} corrected: {corrected.said.replace(' -> ', ' → ')}."
            done += charges_said(corrected.regenerated, corrected.flagged)
            messages.success(request, done)
            return redirect(_ndcs_anchor(ndc))
    return _drug_page(request, ndc.drug, edit_form=(ndc.pk, form), status=400)


@require_POST
@role_required(PHARMACIST)
def drug_ndc_reactivate_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Stock a retired package again."""
    ndc = _ndc_of(pk)
    try:
        drug_ndc_reactivate(ndc=ndc, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"NDC {ndc.ndc_display} is active again: scans of it match.")
    return redirect(_ndcs_anchor(ndc))


@require_POST
@role_required(PHARMACIST)
def drug_ndc_prefer_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Make this package the one a drug line carries when no NDC was scanned."""
    ndc = _ndc_of(pk)
    try:
        drug_ndc_prefer(ndc=ndc, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"NDC {ndc.ndc_display} is now preferred: drug lines of {ndc.drug.name} with no NDC "
            "scanned carry it.",
        )
    return redirect(_ndcs_anchor(ndc))


@require_http_methods(["GET", "POST"])
@role_required(PHARMACIST)
def drug_class_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Tag an untagged drug or change a drug's class (a reason required on change).

    htmx: GET gives the inline edit row, POST gives back the row (formulary) or the done row
    (worklist). Without JavaScript: GET is a page with the form, POST redirects.
    """
    drug = get_object_or_404(Drug.objects.select_related("class_tagged_by"), pk=pk)
    origin = request.POST.get("origin") or request.GET.get("origin") or "formulary"
    # Where the pharmacist came from, and goes back to: the formulary, the untagged worklist, or
    # the drug's own page (its "Change" there; QA walkthrough: it went back to the formulary).
    origin = origin if origin in ("formulary", "worklist", "drug") else "formulary"
    back = {
        "worklist": reverse("pharmacy:worklist"),
        "drug": reverse("pharmacy:drug", args=[drug.pk]),
    }.get(origin, reverse("pharmacy:formulary"))
    form = DrugClassForm(
        request.POST or None,
        drug=drug,
        initial={"drug_class": drug.drug_class, "origin": origin},
    )
    if request.method == "POST" and form.is_valid():
        to_class = form.cleaned_data["drug_class"]
        reason = form.cleaned_data["reason"]
        was_untagged = drug.drug_class is None
        try:
            if was_untagged:
                change = drug_classify(
                    drug=drug, drug_class=to_class, user=request.user, note=reason
                )
            else:
                change = drug_class_change(
                    drug=drug, to_class=to_class, reason=reason, user=request.user
                )
        except ValidationError as exc:
            apply_validation_error(form, _evidence_on_reason(exc))
        else:
            done = f"{drug.name}: {change.get_from_class_display() or 'untagged'} → " + (
                f"{change.get_to_class_display()}."
            )
            done += charges_said(change.regenerated_encounters, change.flagged_runs)
            if form.not_charged and to_class != DrugClass.HYDRATION:
                # Tagged is not billed: told now, not by the coder after the visit is signed.
                done += (
                    f" It has {form.billing_gap}, so it will not be charged: listed under "
                    '"Not billable" on the worklist until its billing data is added.'
                )
            if request.htmx:
                template = "pharmacy/_drug_row.html"
                context: dict[str, Any] = {}
                if origin == "worklist":
                    template = "pharmacy/_worklist_done.html"
                    context = _not_billable_context()  # redrawn: the drug may join it now
                context |= {
                    "drug": drug,
                    "change": change,
                    "done": done,
                    "untagged_count": Drug.objects.filter(drug_class__isnull=True).count(),
                    "recent_changes": _recent_changes(),
                }
                return render(request, template, context)
            messages.success(request, done)
            return redirect(back)
    if request.htmx:
        template = "pharmacy/_drug_row_edit.html"
        if origin == "worklist":
            # The card as the worklist drew it, its usage line too (QA: a refused tag lost it).
            template = "pharmacy/_worklist_row.html"
            drug = _with_usage(Drug.objects.filter(pk=drug.pk)).get()
        return render(request, template, {"drug": drug, "form": form})
    return render(request, "pharmacy/drug_class.html", {"drug": drug, "form": form, "back": back})


HCPCS_SAVED_ANYWAY = (
    "Saving keeps the code all the same: finance keeps the charge master and may load it later."
)


@require_http_methods(["GET", "POST"])
@role_required(PHARMACIST)
def drug_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Add a drug (no pk) or edit one's name, synonyms, HCPCS code, billing unit, container
    and note; a change to an existing drug's billing data asks its reason (`drug_save`).

    A HCPCS code the charge master does not price (`hcpcs_charge_master_warning`) is said
    beside the HCPCS field, the drug's code on opening the form and the code typed when a save
    is refused; saved, the pharmacist is told it after "Saved", and the drug's page says it
    beside the code while it holds. A refusal keeps what was typed (the reason too)."""
    drug = get_object_or_404(Drug, pk=pk) if pk is not None else None
    initial = {}
    if drug is not None:
        initial = {
            "name": drug.name,
            "synonyms": drug.synonyms,
            "hcpcs": drug.hcpcs_code,
            "billing_unit": drug.billing_unit_label,
            "container": drug.container,
            "note": drug.class_note,
        }
    form = DrugForm(request.POST or None, drug=drug, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = drug_save(
                drug=drug,
                name=data["name"],
                synonyms=data["synonyms"],
                hcpcs=data["hcpcs"],
                billing_unit=data["billing_unit"],
                container=data["container"],
                note=data["note"],
                drug_class=data.get("drug_class") or None,
                reason=data.get("reason", ""),
                user=request.user,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            done = f"Saved {saved.name}."
            if drug is not None:  # a new drug has nothing charged yet
                done += charges_said(saved.regenerated_encounters, saved.flagged_runs)
            messages.success(request, done)
            if warning := hcpcs_charge_master_warning(saved.hcpcs_code):
                messages.warning(
                    request,
                    f"{warning} Saved all the same: finance keeps the charge master, and the "
                    "drug's page says this until the code is loaded.",
                )
            return redirect("pharmacy:drug", pk=saved.pk)
    typed = form.data.get("hcpcs", "") if form.is_bound else initial.get("hcpcs", "")
    form.hcpcs_warning_set(hcpcs_charge_master_warning(str(typed)))
    shown = form.data if form.is_bound else initial
    form.not_charged_set(
        name=str(shown.get("name", "") or (drug.name if drug else "")),
        hcpcs=str(shown.get("hcpcs", "") or ""),
        billing_unit=str(shown.get("billing_unit", "") or ""),
        drug_class=drug.drug_class if drug is not None else shown.get("drug_class") or None,
    )
    context = {"drug": drug, "form": form, "hcpcs_saved_anyway": HCPCS_SAVED_ANYWAY}
    return render(request, "pharmacy/drug_edit.html", context)


# --- CSV ----------------------------------------------------------------------------------


@require_GET
@role_required(*READERS)
def formulary_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(formulary_export(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="formulary-{stamp}.csv"'
    return response


# The file a pharmacist chose, kept in her session while the import asks the reason for the
# billing data it changes (formulary_import_view): {"data" (base64), "name", "sha"}.
IMPORT_KEPT = "formulary_import_kept"
IMPORT_MAX_BYTES = 5 * 1024 * 1024


def _import_kept(request: HttpRequest, form: FormularyImportForm) -> dict[str, str] | None:
    """The file to import: the one chosen now (kept in the session for a confirm step), or the
    one kept from before when the page names it (`kept`, its SHA-256). None, with the problem
    beside the file field, when there is none."""
    upload = form.cleaned_data.get("file")
    if upload is not None:
        if upload.size > IMPORT_MAX_BYTES:
            form.add_error("file", "The file is larger than 5 MB.")
            return None
        raw = upload.read()
        kept = {
            "data": base64.b64encode(raw).decode("ascii"),  # as sent: any encoding the import reads
            "name": upload.name,
            "sha": hashlib.sha256(raw).hexdigest(),
        }
        request.session[IMPORT_KEPT] = kept
        return kept
    kept = request.session.get(IMPORT_KEPT)
    sha = request.POST.get("kept", "")
    if not sha:
        form.add_error("file", "Choose the formulary CSV file to import.")
    elif kept is None or kept.get("sha") != sha:
        form.add_error(
            "file",
            "The file chosen before is no longer kept (the session ended, or another file was "
            "chosen in another tab): choose it again. Nothing was imported.",
        )
    else:
        return dict(kept)
    return None


@require_http_methods(["GET", "POST"])
@role_required(PHARMACIST)
def formulary_import_view(request: HttpRequest) -> HttpResponse:
    """Upload, then import. A file changing the billing data of drugs already in the formulary
    is not imported until the pharmacist says why (one reason for the file): the page lists
    each drug's change (before -> after) and asks it beside the field, the file kept in the
    session for this confirm step; choosing another file replaces it."""
    posted = request.method == "POST"
    form = FormularyImportForm(request.POST, request.FILES) if posted else FormularyImportForm()
    errors: list[str] = []
    changes: list[ImportBillingChange] = []
    kept: dict[str, str] | None = None
    if posted:
        form.is_valid()  # each problem beside its field; the file is read all the same
        kept = _import_kept(request, form)
    if kept is not None:
        data = base64.b64decode(kept["data"])
        try:
            if "reason" in form.errors:  # not in words: the changes are listed again
                changes = formulary_import_billing_changes(data=data)
            else:
                summary = formulary_import(
                    data=data,
                    user=request.user,
                    billing_reason=form.cleaned_data.get("reason", ""),
                )
                request.session.pop(IMPORT_KEPT, None)
                counts = (
                    f"Imported: {summary.created} new, {summary.updated} updated "
                    f"({summary.reclassified} reclassified), {summary.unchanged} unchanged."
                )
                messages.success(request, " ".join([counts, *summary.notes]))
                return redirect("pharmacy:formulary")
        except FormularyImportError as exc:
            errors = [str(error) for error in exc.errors]
            request.session.pop(IMPORT_KEPT, None)
            kept = None
        except ImportReasonNeeded as exc:
            changes = exc.changes
            if request.POST.get("kept") or form.cleaned_data.get("reason"):
                apply_validation_error(form, exc)  # the confirm step, sent without a reason
    if not changes:
        kept = None
    status = 400 if errors or form.errors else 200
    context = {"form": form, "errors": errors, "changes": changes, "kept": kept}
    return render(request, "pharmacy/import.html", context, status=status)


# --- orders -------------------------------------------------------------------------------


def _orders() -> QuerySet[Order]:
    """The queue's orders, with what its rows show: each order's allergy overrides
    (`allergy_overrides`, oldest first, with who: the clerk's at order entry, the pharmacist's at
    verification, the nurse's at a start), one statement for the list; and a duplicate confirmed
    at entry (`duplicate_confirmations`: who entered it as a second order, when), one more."""
    overrides = (
        SafetyOverride.objects.filter(kind__in=safety.ALLERGY_KINDS)
        .select_related("by")
        .order_by("at", "pk")
    )
    # A second order the desk entered beside the same one, confirmed (who, when): the
    # pharmacist is the usual check for duplicate therapy.
    duplicates = SafetyOverride.objects.filter(kind=SafetyOverride.Kind.DUPLICATE).select_related(
        "by"
    )
    # The first order of such a pair names the later one (`safety.with_duplicated_by`: in the
    # list's own statement).
    return safety.with_duplicated_by(
        Order.objects.filter(cancelled_at__isnull=True)
        .select_related("drug", "encounter__patient", "verified_by", "returned_by")
        .prefetch_related(
            Prefetch("overrides", queryset=overrides, to_attr="allergy_overrides"),
            Prefetch("overrides", queryset=duplicates, to_attr="duplicate_confirmations"),
        )
    )


def _with_dose_notes(*lists: list[Order]) -> None:
    """Each listed order not verified yet with `dose_note`: its calculated dose's note when the
    visit has not recorded the measures it needs (`safety.calculated_dose_notes`; "" for none),
    the rows' visits' measures read in one statement however many rows (QA: a pharmacist
    verifying from the queue's row was not warned, only on the review page)."""
    orders = [order for listed in lists for order in listed]
    # The visits of the orders whose drug has a maximum by body size (the dose check reads their
    # weight and height), read once: none when no drug has one.
    known = measures.encounters_measures(
        order.encounter for order in orders if dose_check.needs_body(order.drug)
    )
    notes = safety.calculated_dose_notes(
        (order for order in orders if order.verified_at is None), known=known
    )
    for order in orders:
        order.dose_note = notes.get(order.pk, "")  # type: ignore[attr-defined]
    _with_dose_checks(orders, known)


def _with_dose_checks(orders: list[Order], known: Mapping[int, measures.Measures]) -> None:
    """Each order with `dose_warnings` (its dose/unit warnings as it is now, mar/services/
    dose_check.py: an interface's order too, which no one confirmed), `dose_unchecked` (a
    maximum by body size its visit has no weight or height recorded to check) and
    `dose_confirms` (who confirmed them at order entry, and when: SafetyOverrides of kind
    "dose"), read in one statement however many rows: the queue flags them for the pharmacist
    to check. `known`: the measures of the visits whose drug has a maximum by body size."""
    confirms: dict[int, list[SafetyOverride]] = {}
    for override in (
        SafetyOverride.objects.filter(
            kind=SafetyOverride.Kind.DOSE, order_id__in=[order.pk for order in orders]
        )
        .select_related("by")
        .order_by("at", "pk")
    ):
        confirms.setdefault(override.order_id or 0, []).append(override)
    for order in orders:
        visit = known.get(order.encounter_id)
        body = visit.body if visit is not None else None
        order.dose_warnings = dose_check.order_dose_warnings(order, body)  # type: ignore[attr-defined]
        order.dose_unchecked = dose_check.order_dose_unchecked(order, body)  # type: ignore[attr-defined]
        order.dose_confirms = confirms.get(order.pk, [])  # type: ignore[attr-defined]


def _bound_in(orders: QuerySet[Order], bound: Order | None) -> list[Order]:
    """`orders`, with `bound` (its form as typed, refused) in its own place."""
    if bound is None:
        return list(orders)
    return [bound if order.pk == bound.pk else order for order in orders]


def _queue_page(
    request: HttpRequest, bound: Order | None = None, status: int = 200
) -> HttpResponse:
    """The queue; `bound`: an order whose return (or its withdrawal) was refused, with its form
    as typed."""
    unverified = _orders().filter(verified_at__isnull=True).order_by("created_at", "pk")
    to_verify = _bound_in(_to_verify(unverified), bound)
    # Returned to the prescriber: waiting for the ordering system's change (or verified after
    # all, or the return withdrawn), not among those to verify.
    returned = _bound_in(_returned(), bound)
    # Signed before anyone verified them (emergency orders given first): verified after.
    signed_unverified = list(_signed_unverified(unverified)[:50])
    _with_dose_notes(to_verify, returned, signed_unverified)
    context = {
        "unverified": to_verify,
        "returned": returned,
        "signed_unverified": signed_unverified,
        "verified": _recently_verified(),
    }
    return render(request, "pharmacy/orders.html", context, status=status)


@require_GET
@role_required(PHARMACIST)
def order_queue(request: HttpRequest) -> HttpResponse:
    """Unverified orders of records still being charted, oldest first; then those returned to the
    prescriber; then those signed unverified; then the most recent verifications."""
    return _queue_page(request)


def _to_verify_queue() -> QuerySet[Order]:
    """The orders to verify as the queue lists them, oldest first."""
    return _to_verify(_orders().order_by("created_at", "pk"))


def _to_verify(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Of `orders`, those to verify: not verified, not returned, not cancelled as entered in
    error, on records being charted."""
    return orders.filter(
        verified_at__isnull=True, returned_at__isnull=True, cancelled_at__isnull=True
    ).exclude(encounter__status=Encounter.Status.SIGNED)


def _signed_unverified(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Of `orders`, those given on a record signed before pharmacy verified them (emergency
    orders given first): verified after. An order never given (returned to the prescriber,
    documented not given, held or refused) has nothing to verify after the fact (QA: a returned
    carboplatin the nurse held was listed here, with a Verify button)."""
    given = Administration.objects.filter(order=OuterRef("pk"))
    return orders.filter(
        Exists(given), verified_at__isnull=True, encounter__status=Encounter.Status.SIGNED
    )


def _returned() -> QuerySet[Order]:
    return (
        _orders()
        .filter(verified_at__isnull=True, returned_at__isnull=False)
        .exclude(encounter__status=Encounter.Status.SIGNED)
        .order_by("returned_at", "pk")
    )


def _recently_verified() -> QuerySet[Order]:
    return _orders().filter(verified_at__isnull=False).order_by("-verified_at", "-pk")[:20]


@require_POST
@role_required(PHARMACIST)
def order_verify_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Verify an order (a returned one too: the verification clears the return).

    htmx: the order leaves the section it was verified from (to verify, returned, signed before
    verification): in its row's place a line saying so, and "Recently verified" and the
    headings' counts out of band, so the order is listed once (QA: it stayed in the queue with
    a Verified badge and under "Recently verified" too, both rows with its id). An order
    verified meanwhile by someone else (a page from before) gets the same line, saying who
    verified it; any other refusal, the row again with it. Without JavaScript: a redirect to the
    queue with a message.

    An order whose drug matches an allergy of the patient is verified with `allergy_reason`
    only: without it, the row again with the refusal beside the reason, what was typed kept
    (without JavaScript the queue, or from the review page, `origin` review, that page: 400).
    """
    order = get_object_or_404(_orders(), pk=pk)
    refused = allergy_refused = ""
    typed = request.POST.get("allergy_reason", "")
    review = not request.htmx and request.POST.get("origin") == "review"
    try:
        if typed.strip():
            # The allergy override's reason in words, as every high-impact reason (a form's
            # validator elsewhere: this one is read from the row's own field).
            try:
                validate_reason_in_words(typed.strip())
            except ValidationError as words:
                raise ValidationError({"allergy_reason": words.messages}) from words
        order_verify(order=order, user=request.user, allergy_reason=typed)
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and "allergy_reason" in exc.error_dict:
            # The drug matches an allergy and no reason was given: said beside the reason.
            allergy_refused = " ".join(exc.message_dict["allergy_reason"])
        else:
            refused = " ".join(exc.messages)
        if not request.htmx and not allergy_refused:
            messages.warning(request, refused)
    else:
        if not request.htmx:
            messages.success(request, f"Verified: {order.drug.name} for {order.encounter.patient}.")
    if allergy_refused and not request.htmx:
        current = _orders().get(pk=pk)
        current.allergy_refused = allergy_refused  # type: ignore[attr-defined]
        current.allergy_reason_typed = typed  # type: ignore[attr-defined]
        if review:
            return care_views.order_review_page(request, current, status=400)
        return _queue_page(request, bound=current, status=400)
    if request.htmx:
        current = _orders().get(pk=pk)
        current.verify_refused = refused  # type: ignore[attr-defined]
        current.allergy_refused = allergy_refused  # type: ignore[attr-defined]
        current.allergy_reason_typed = typed  # type: ignore[attr-defined]
        returned = list(_returned())
        _with_dose_notes([current], returned)
        context = {
            "order": current,
            "refused": refused,
            "verified": _recently_verified(),
            "returned": returned,
            "to_verify_count": _to_verify(Order.objects.all()).count(),
            "oob": True,
        }
        return render(request, "pharmacy/_order_verify_response.html", context)
    return redirect("pharmacy:orders")


@require_POST
@role_required(PHARMACIST)
def order_return_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Return an order to the prescriber, with a reason. htmx: in the row's place a line saying
    where it went, and "Returned" and the counts out of band (or, refused, the row again with the
    refusal beside the reason as typed). Without JavaScript: a
    redirect to the queue, or a missing reason said beside the field on the queue with what was
    typed (400), or a refusal (verified, signed) as a message; from the review page (`origin`
    review), the same, back on the review page."""
    order = get_object_or_404(_orders(), pk=pk)
    form = OrderReturnForm(request.POST)
    # From the order's review page (a plain post): back to it, not to the queue.
    review = not request.htmx and request.POST.get("origin") == "review"
    back = reverse("pharmacy:order_review", args=[pk]) if review else reverse("pharmacy:orders")
    if form.is_valid():
        try:
            order_return(order=order, reason=form.cleaned_data["reason"], user=request.user)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            if request.htmx:
                returned = list(_returned())
                _with_dose_notes(returned)
                context = {
                    "order": order,
                    "returned": returned,
                    "to_verify_count": _to_verify(Order.objects.all()).count(),
                    "oob": True,
                }
                return render(request, "pharmacy/_order_return_response.html", context)
            messages.success(
                request,
                f"Returned to the prescriber: {order.drug.name} for {order.encounter.patient}.",
            )
            return redirect(back)
    current = _orders().get(pk=pk)
    current.return_form = form  # type: ignore[attr-defined]
    _with_dose_notes([current])
    if request.htmx:
        return render(request, "pharmacy/_order_row.html", {"order": current})
    if form.non_field_errors():
        messages.warning(request, " ".join(form.non_field_errors()))
        return redirect(back)
    if review:
        return care_views.order_review_page(request, current, return_form=form, status=400)
    return _queue_page(request, bound=current, status=400)


@require_POST
@role_required(PHARMACIST)
def order_return_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw a return to the prescriber, with a reason, without verifying: the order goes
    back to the queue to verify. htmx (from "Returned, waiting for the prescriber"): in the row's
    place a line saying where it went, the orders to verify and the counts out of band (or,
    refused, the row again with the refusal beside the reason as typed). Without JavaScript: a
    redirect to the queue with a message, a missing reason said beside the field on the queue
    with what was typed (400), or a refusal (not returned, signed) as a message; from the review
    page (`origin` review), the same, back on the review page."""
    order = get_object_or_404(_orders(), pk=pk)
    form = OrderReturnWithdrawForm(request.POST)
    review = not request.htmx and request.POST.get("origin") == "review"
    back = reverse("pharmacy:order_review", args=[pk]) if review else reverse("pharmacy:orders")
    if form.is_valid():
        try:
            order_return_withdraw(
                order=order, reason=form.cleaned_data["reason"], user=request.user
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            if request.htmx:
                to_verify = list(_to_verify_queue())
                _with_dose_notes(to_verify)
                context = {
                    "order": order,
                    "unverified": to_verify,
                    "returned": _returned(),
                    "to_verify_count": len(to_verify),
                    "oob": True,
                }
                return render(request, "pharmacy/_order_return_withdraw_response.html", context)
            messages.success(
                request,
                f"Return withdrawn: {order.drug.name} for {order.encounter.patient} is back "
                "among the orders to verify.",
            )
            return redirect(back)
    current = _orders().get(pk=pk)
    current.withdraw_form = form  # type: ignore[attr-defined]
    _with_dose_notes([current])
    if request.htmx:
        return render(request, "pharmacy/_order_row.html", {"order": current})
    if form.non_field_errors():
        messages.warning(request, " ".join(form.non_field_errors()))
        return redirect(back)
    if review:
        return care_views.order_review_page(request, current, withdraw_form=form, status=400)
    return _queue_page(request, bound=current, status=400)


@require_http_methods(["GET", "POST"])
@role_required(PHARMACIST)
def order_class_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Override the class on one order, with a reason (or remove the override)."""
    order = get_object_or_404(_orders(), pk=pk)
    form = OrderClassForm(request.POST or None, initial={"drug_class": order.class_override or ""})
    if request.method == "POST" and form.is_valid():
        try:
            change = order_class_override(
                order=order,
                drug_class=form.cleaned_data["drug_class"] or None,
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            done = f"Order O{order.pk} ({order.drug.name}): class {order.drug_class}."
            if change.regenerated_encounters:
                done += " Charges regenerating."
            if change.flagged_runs:
                done += " The exported run is flagged for the coder."
            messages.success(request, done)
            return redirect("pharmacy:orders")
    changes = order.class_changes.select_related("by")
    return render(
        request, "pharmacy/order_class.html", {"order": order, "form": form, "changes": changes}
    )
