"""Django admin. A signed record changes only through an addendum (mar/audit/guard.py: the
database refuses anything else), so the admin shows a signed encounter, its rows and every
addendum read-only instead of offering a save the database would refuse."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from mar import models
from mar.registration.services import unit_as_known


def _signed(obj: Any) -> bool:
    """obj (an encounter or a row of one) belongs to a signed encounter."""
    if obj is None:
        return False
    encounter = obj if isinstance(obj, models.Encounter) else getattr(obj, "encounter", None)
    if encounter is None and isinstance(obj, models.Pause):
        encounter = obj.administration.encounter
    return encounter is not None and encounter.is_signed


class SignedReadOnly:
    """Change and delete refused on anything of a signed encounter (the page stays viewable)."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _signed(obj) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _signed(obj) and super().has_delete_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and _signed(obj):  # an inline under a signed encounter
            return False
        if isinstance(self, admin.options.InlineModelAdmin):
            return super().has_add_permission(request, obj)  # type: ignore[misc]
        return super().has_add_permission(request)  # type: ignore[misc]


@admin.register(models.Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["name", "mrn", "birth_date"]
    search_fields = ["name", "mrn"]


class AccessSiteInline(SignedReadOnly, admin.TabularInline):
    model = models.AccessSite
    extra = 0


class OrderInline(SignedReadOnly, admin.TabularInline):
    model = models.Order
    extra = 0
    raw_id_fields = ["drug", "verified_by"]


class EncounterAdminForm(forms.ModelForm):
    def clean_unit(self) -> str:
        """The unit as visits spell it, as the desk, HL7 and FHIR save it (`unit_as_known`)."""
        return unit_as_known(str(self.cleaned_data["unit"]))


@admin.register(models.Encounter)
class EncounterAdmin(SignedReadOnly, admin.ModelAdmin):
    form = EncounterAdminForm
    list_display = ["pk", "patient", "unit", "location_label", "status", "arrived_at"]
    list_filter = ["status", "unit", "setting"]
    raw_id_fields = ["patient", "nurse", "signed_by"]
    inlines = [AccessSiteInline, OrderInline]


class PauseInline(SignedReadOnly, admin.TabularInline):
    model = models.Pause
    extra = 0


@admin.register(models.Administration)
class AdministrationAdmin(SignedReadOnly, admin.ModelAdmin):
    list_display = ["pk", "encounter", "drug", "route", "method", "start", "stop"]
    raw_id_fields = ["encounter", "order", "drug", "site", "created_by"]
    inlines = [PauseInline]


@admin.register(models.Flush)
class FlushAdmin(SignedReadOnly, admin.ModelAdmin):
    pass


@admin.register(models.Addendum)
class AddendumAdmin(admin.ModelAdmin):
    """Addenda are append-only (a database trigger): viewable, never changed or deleted here.
    One is written through the chart (addendum_add), which makes the change it records."""

    list_display = ["pk", "encounter", "author", "at"]
    raw_id_fields = ["encounter"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- the formulary: kept by the pharmacy's services -----------------------------------------
#
# A drug's name, class, billing data, retirement and NDCs change only through
# mar/pharmacy/services.py, which checks them (mar/validators.py), keeps who, why and when in
# the audit trail, and brings the charges that read them up to date (coding/formulary_changes.py:
# regenerated, or flagged when exported). The admin shows them read-only, with a link to the
# drug's pharmacy page, where a pharmacist (or an admin: admins pass every role check) changes
# them. Only what no pharmacy page edits stays editable here: a drug's high-alert flag and
# allergy classes (read live by the start's safety checks, mar/services/safety.py).

DRUG_EDITED_HERE = ("high_alert", "allergy_classes")

NDC_FIELDS = [
    "drug",
    "ndc_display",
    "package_description",
    "unit",
    "units_per_billing_unit",
    "preferred",
    "active",
    "retired_at",
    "retired_by",
    "retired_reason",
]


def pharmacy_link(drug: models.Drug) -> str:
    url = reverse("pharmacy:drug", args=[drug.pk])
    return format_html(
        '<a href="{}">{}\'s pharmacy page</a>: its class, billing data, retirement and NDCs '
        "are changed there (checked, audited, charges brought up to date)",
        url,
        drug.name,
    )


class DrugNdcInline(admin.TabularInline):
    """A drug's packages, read-only (the pharmacy page adds, retires, reactivates, prefers)."""

    model = models.DrugNdc
    extra = 0
    can_delete = False
    fields = NDC_FIELDS[1:]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Drug)
class DrugAdmin(admin.ModelAdmin):
    """A drug, read-only but for `DRUG_EDITED_HERE`; added, changed and retired on the
    pharmacy's pages (never deleted: orders, administrations and charges name it)."""

    list_display = ["name", "drug_class", "hcpcs_code", "billing_unit_amount", "billing_unit"]
    list_filter = ["drug_class"]
    search_fields = ["name", "synonyms", "hcpcs_code"]
    inlines = [DrugNdcInline]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        kept = [f.name for f in self.model._meta.fields if f.editable and f.name != "id"]
        return ["pharmacy_page", *DRUG_EDITED_HERE, *(n for n in kept if n not in DRUG_EDITED_HERE)]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [name for name in self.get_fields(request, obj) if name not in DRUG_EDITED_HERE]

    @admin.display(description="Changed on")
    def pharmacy_page(self, obj: models.Drug) -> str:
        return pharmacy_link(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.DrugNdc)
class DrugNdcAdmin(admin.ModelAdmin):
    """A package (NDC), read-only: changed on its drug's pharmacy page."""

    list_display = ["ndc_display", "drug", "package_description", "unit", "preferred", "active"]
    list_filter = ["unit", "active"]
    search_fields = ["ndc", "drug__name", "package_description"]
    fields = ["pharmacy_page", *NDC_FIELDS]
    readonly_fields = fields

    @admin.display(description="Changed on")
    def pharmacy_page(self, obj: models.DrugNdc) -> str:
        return pharmacy_link(obj.drug)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PayerPolicyInline(admin.TabularInline):
    """Versions are read-only here: a change is a new version with a reason (mar.payers)."""

    model = models.PayerPolicy
    extra = 0
    can_delete = False
    fields = ["version", "values", "reason", "by", "at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(models.Payer)
class PayerAdmin(admin.ModelAdmin):
    list_display = ["name", "financial_class", "active"]
    list_filter = ["financial_class", "active"]
    search_fields = ["name"]
    inlines = [PayerPolicyInline]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        from mar.payers import payer_policy_first

        super().save_model(request, obj, form, change)
        payer_policy_first(payer=obj, by=request.user)
