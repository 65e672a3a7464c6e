from django.contrib import admin

from coding import models


class ChargeLineInline(admin.TabularInline):
    model = models.ChargeLine
    extra = 0


class ChargeFindingInline(admin.TabularInline):
    model = models.ChargeFinding
    extra = 0


@admin.register(models.ChargeRun)
class ChargeRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "encounter", "created_at", "is_current", "trigger"]
    list_filter = ["is_current", "trigger"]
    raw_id_fields = ["encounter"]
    inlines = [ChargeLineInline, ChargeFindingInline]
