"""Django admin. The clinical record is written only through its services, so the admin shows
it read-only (view only: no add, change or delete), kept viewable for support:

- a patient, an encounter (visit) and an order through registration's services
  (mar/registration/services.py: the MRN checks, the unit as visits spell it, a second visit's
  reason, an order entered on a provider's behalf), HL7 and FHIR going through the same;
- what is charted (sites, administrations, pauses, flushes) through the charting services
  (mar/services/charting.py: each checked by the engine, its summary stored, audited with the
  charting context), a signed record only by an addendum (mar/audit/guard.py);
- an order's verification, return and class through the pharmacy's (mar/pharmacy/services.py):
  the admin set `verified_by` with no pharmacist's check mark behind it.

Before, patients, open encounters with their sites and orders, administrations with their
pauses, and flushes were plain model admins (tests/mar/test_admin.py)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from mar import models


class ViewOnly:
    """A model admin or an inline that shows its rows and never adds, changes or deletes one
    (its pages stay viewable to whoever may view the model: a superuser, or a user granted its
    view permission)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Patient)
class PatientAdmin(ViewOnly, admin.ModelAdmin):
    """Registered, updated and found through registration (`patient_register`,
    `patient_update`: the MRN checked and never held twice)."""

    list_display = ["name", "mrn", "birth_date"]
    search_fields = ["name", "mrn"]


class AccessSiteInline(ViewOnly, admin.TabularInline):
    model = models.AccessSite
    extra = 0


class OrderInline(ViewOnly, admin.TabularInline):
    """Entered, changed and withdrawn through registration (and HL7, FHIR), verified or
    returned by a pharmacist through the pharmacy's services."""

    model = models.Order
    extra = 0
    raw_id_fields = ["drug", "verified_by"]


@admin.register(models.Encounter)
class EncounterAdmin(ViewOnly, admin.ModelAdmin):
    """Opened and updated through registration (`encounter_open`, `encounter_update`),
    charted through the chart, signed by `encounter_sign`."""

    list_display = ["pk", "patient", "unit", "location_label", "status", "arrived_at"]
    list_filter = ["status", "unit", "setting"]
    raw_id_fields = ["patient", "nurse", "signed_by"]
    inlines = [AccessSiteInline, OrderInline]


class PauseInline(ViewOnly, admin.TabularInline):
    model = models.Pause
    extra = 0


@admin.register(models.Administration)
class AdministrationAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ["pk", "encounter", "drug", "route", "method", "start", "stop"]
    raw_id_fields = ["encounter", "order", "drug", "site", "created_by"]
    inlines = [PauseInline]


@admin.register(models.Flush)
class FlushAdmin(ViewOnly, admin.ModelAdmin):
    list_display = ["pk", "encounter", "at"]
    raw_id_fields = ["encounter"]


@admin.register(models.Addendum)
class AddendumAdmin(ViewOnly, admin.ModelAdmin):
    """Addenda are append-only (a database trigger) and written through the chart
    (addendum_write), which makes the change each records."""

    list_display = ["pk", "encounter", "author", "at"]
    raw_id_fields = ["encounter"]


# --- the formulary: kept by the pharmacy's services -----------------------------------------
#
# A drug's name, class, billing data, retirement and NDCs change only through
# mar/pharmacy/services.py, which checks them (mar/validators.py), keeps who, why and when in
# the audit trail, and brings the charges that read them up to date (coding/formulary_changes.py:
# regenerated, or flagged when exported). The admin shows them read-only, with a link to the
# drug's pharmacy page, where a pharmacist (or an admin: admins pass every role check) changes
# them. Only what no pharmacy page edits stays editable here: a drug's high-alert flag (read
# live by the start's safety checks, mar/services/safety.py). Its allergy classes are set on its
# page too (drug_allergy_classes_set: audited with the old and new value).

DRUG_EDITED_HERE = ("high_alert",)

NDC_FIELDS = [
    "drug",
    "ndc_display",
    "package_description",
    "unit",
    "units_per_billing_unit",
    "billing_units_per_ndc_unit",
    "preferred",
    "active",
    "retired_at",
    "retired_by",
    "retired_reason",
]


def pharmacy_link(drug: models.Drug) -> str:
    url = reverse("pharmacy:drug", args=[drug.pk])
    return format_html(
        '<a href="{}">{}\'s pharmacy page</a>: its class, billing data, allergy classes, '
        "retirement and NDCs are changed there (checked, audited, charges brought up to date)",
        url,
        drug.name,
    )


class DrugNdcInline(admin.TabularInline):
    """A drug's packages, read-only (the pharmacy page adds, corrects, retires, reactivates,
    prefers)."""

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
