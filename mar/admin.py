"""Django admin. A signed record changes only through an addendum (mar/audit/guard.py: the
database refuses anything else), so the admin shows a signed encounter, its rows and every
addendum read-only instead of offering a save the database would refuse."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

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


@admin.register(models.Drug)
class DrugAdmin(admin.ModelAdmin):
    list_display = ["name", "drug_class", "hcpcs_code", "billing_unit_amount", "billing_unit"]
    list_filter = ["drug_class"]
    search_fields = ["name", "synonyms", "hcpcs_code"]


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


class DrugNdcInline(admin.TabularInline):
    model = models.DrugNdc
    extra = 0


DrugAdmin.inlines = [DrugNdcInline]


@admin.register(models.DrugNdc)
class DrugNdcAdmin(admin.ModelAdmin):
    list_display = ["ndc_display", "drug", "package_description", "unit", "preferred", "active"]
    list_filter = ["unit", "active"]
    search_fields = ["ndc", "drug__name", "package_description"]
    raw_id_fields = ["drug"]


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
