from typing import Any

from django import forms
from django.contrib import admin, messages

from coding import models


class ReadOnly:
    """Viewable, never added, changed or deleted here: a charge run, its lines and findings are
    made by `coding.services.charge_run_store` (with its drug lines, review item and ledger, in
    one transaction), and a line changes only by the coder's correction, with a reason (the
    review page). An admin changing one here would bill what neither the engine nor a coder
    decided."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class ChargeLineInline(ReadOnly, admin.TabularInline):
    model = models.ChargeLine
    extra = 0


class ChargeFindingInline(ReadOnly, admin.TabularInline):
    model = models.ChargeFinding
    extra = 0


@admin.register(models.ChargeRun)
class ChargeRunAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["pk", "encounter", "created_at", "is_current", "trigger"]
    list_filter = ["is_current", "trigger"]
    raw_id_fields = ["encounter"]
    inlines = [ChargeLineInline, ChargeFindingInline]


class ApiTokenAddForm(forms.ModelForm):
    """A new token: its scopes as checkboxes (not JSON typed by hand), and what api_token_create
    refuses (no scope, a name another integration holds in any case) said beside the field, so
    the admin's save never meets a refusal it cannot show."""

    scopes = forms.MultipleChoiceField(
        choices=models.ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )

    class Meta:
        model = models.ApiToken
        fields = ["name", "scopes"]

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        holder = models.ApiToken.objects.filter(name__iexact=name).first()
        if holder is not None:
            raise forms.ValidationError(
                f"An integration named {holder.name} already has a token: revoke it and make "
                "one with another name, or use that one."
            )
        return name


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Integrations' FHIR API tokens: an admin makes one (its key shown once, here) and revokes
    it (the list's "Revoke the selected tokens" action: who and when are kept); the key itself is
    never stored."""

    list_display = ["name", "key_prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", "scopes", "key_prefix", "created_by", "created_at", "last_used_at"]
    readonly_fields = ["key_prefix", "created_by", "created_at", "last_used_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is not None:  # an existing token's name and scopes stay as issued
            return [*self.readonly_fields, "name", "scopes", "revoked_at", "revoked_by"]
        return self.readonly_fields

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [*self.fields, "revoked_at", "revoked_by"] if obj is not None else ["name", "scopes"]

    def get_form(self, request, obj=None, change=False, **kwargs: Any):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            return
        from coding.fhir.auth import api_token_create

        token, key = api_token_create(name=obj.name, scopes=obj.scopes, user=request.user)
        obj.pk = token.pk
        messages.warning(request, f"The key for {token.name}, shown this once (copy it now): {key}")

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        from coding.fhir.auth import api_token_revoke

        revoked = [token.name for token in queryset if token.revoked_at is None]
        for token in queryset:
            api_token_revoke(token=token, user=request.user)
        if revoked:
            self.message_user(
                request,
                f"Revoked: {', '.join(revoked)}. Their keys are refused from now on.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "Those tokens were already revoked.", messages.WARNING)


@admin.register(models.ApiCall)
class ApiCallAdmin(admin.ModelAdmin):
    list_display = ["at", "token", "method", "path", "status"]
    list_filter = ["status", "token"]
    search_fields = ["path", "query"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
