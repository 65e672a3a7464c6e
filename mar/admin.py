from django.contrib import admin

from mar import models


@admin.register(models.Drug)
class DrugAdmin(admin.ModelAdmin):
    list_display = ["name", "drug_class", "hcpcs_code", "billing_unit_amount", "billing_unit"]
    list_filter = ["drug_class"]
    search_fields = ["name", "synonyms", "hcpcs_code"]


@admin.register(models.Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["name", "mrn", "birth_date"]
    search_fields = ["name", "mrn"]


class AccessSiteInline(admin.TabularInline):
    model = models.AccessSite
    extra = 0


class OrderInline(admin.TabularInline):
    model = models.Order
    extra = 0
    raw_id_fields = ["drug", "verified_by"]


@admin.register(models.Encounter)
class EncounterAdmin(admin.ModelAdmin):
    list_display = ["pk", "patient", "unit", "location_label", "status", "arrived_at"]
    list_filter = ["status", "unit", "setting"]
    raw_id_fields = ["patient", "nurse", "signed_by"]
    inlines = [AccessSiteInline, OrderInline]


class PauseInline(admin.TabularInline):
    model = models.Pause
    extra = 0


@admin.register(models.Administration)
class AdministrationAdmin(admin.ModelAdmin):
    list_display = ["pk", "encounter", "drug", "route", "method", "start", "stop"]
    raw_id_fields = ["encounter", "order", "drug", "site", "created_by"]
    inlines = [PauseInline]


admin.site.register(models.Flush)
admin.site.register(models.Addendum)


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
