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
