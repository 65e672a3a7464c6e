"""The payers' coding policy screen: the list for coders, the edit for an admin or coding lead.

A coding lead is a coder granted the permission "mar | payer policy | Can add payer policy"
(`mar.add_payerpolicy`, in the admin's user or group screen); admins always may. A save adds
the next version with the reason (coding/payers.py: payer_policy_change), and re-codes that
payer's encounters not yet exported through the outbox. Views are thin: the form checks the
values the engine takes, the service does the rest.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from coding.engine.record import POLICY_CHOICES, POLICY_MAX_MINUTES, POLICY_MINUTES_MIN
from coding.forms import ReasonField
from coding.payers import payer_policy_change
from mar.forms import apply_validation_error
from mar.models import Payer, policy_clean, policy_defaults
from mar.roles import ADMIN, CODER, role_required, user_has_role, user_roles
from mar.validators import validate_reason_in_words

LEAD_PERMISSION = "mar.add_payerpolicy"

# Words for each key of the engine's policy (coding-rules.md §7).
POLICY_LABELS = {
    "hydration_segments": "Hydration time: total of segments, or continuous segments only",
    "second_site_modifier": "Modifier on the second IV site's initial service",
    "second_encounter_modifier": "Modifier of a second encounter the same day",
    "distinct_modifier_scope": "Distinct modifier on the initial service only, or on all",
    "concurrent_min_overlap": "Least overlap (minutes) for a concurrent infusion (0: any)",
    "same_drug_reinfusion": "The same drug infused again after a stop",
    "split_dose_injections": "Syringes of one drug in one session: one injection or each",
    "facility_pump_code": "Facility code for a portable pump start",
    "second_line_without_reason": "A second line with no documented reason",
    "split_dose_window_minutes": "Window (minutes) of one injection session",
}


# What each value of a choice means, in words a coder reads (coding/engine/RULEBOOK.md, the
# rule each key decides); the minutes keys are said by `policy_value_words`.
POLICY_VALUE_WORDS: dict[str, dict[str, str]] = {
    "hydration_segments": {
        "total": "separate runs of hydration alone are added; the total counts from 31 minutes",
        "continuous": "each continuous run of hydration is judged on its own, not added",
    },
    "second_site_modifier": {
        "59": "59 (distinct procedural service) on the second site's initial service",
        "XU": "XU (unusual non-overlapping service) on the second site's initial service",
        "XS": "XS (separate structure) on the second site's initial service",
    },
    "second_encounter_modifier": {
        "59": "59 (distinct procedural service) on a second encounter's initial service",
        "XE": "XE (separate encounter) on a second encounter's initial service",
    },
    "distinct_modifier_scope": {
        "initial": "the distinct modifier goes on the initial service only",
        "all": "the distinct modifier goes on every line of the second site or encounter",
    },
    "same_drug_reinfusion": {
        "sequential": "the same drug infused again after a stop is a sequential infusion",
        "additional_hour": "the same drug infused again adds its minutes to the first "
        "infusion's hours",
    },
    "split_dose_injections": {
        "one": "syringes of one drug in one session are one injection",
        "each": "each syringe of one drug is reported as an injection (with 59)",
    },
    "facility_pump_code": {
        "96416": "a portable pump start is 96416",
        "G0498": "a portable pump start is G0498",
    },
    "second_line_without_reason": {
        "one_line": "a second IV line with no documented reason is one site with the first",
        "own_minutes": "a second IV line with no documented reason keeps its own minutes",
    },
}


def policy_value_words(key: str, value: object) -> str:
    """What a policy value means, in words (for the coder's read-only view of the policy)."""
    if key == "concurrent_min_overlap":
        if value == 0:
            return "any overlap makes a concurrent infusion"
        return f"{value} minutes of overlap or more make a concurrent infusion"
    if key == "split_dose_window_minutes":
        return f"syringes of one drug by one route within {value} minutes are one session"
    return POLICY_VALUE_WORDS.get(key, {}).get(str(value), str(value))


def policy_read(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Each key of a policy (every key, the defaults filled in): its label, value, the default,
    and what the value means in words."""
    defaults = policy_defaults()
    return [
        {
            "key": key,
            "label": POLICY_LABELS.get(key, key),
            "value": values.get(key, default),
            "default": default,
            "is_default": values.get(key, default) == default,
            "words": policy_value_words(key, values.get(key, default)),
        }
        for key, default in defaults.items()
    ]


def may_edit_policy(user: AbstractBaseUser | AnonymousUser) -> bool:
    roles = user_roles(user)
    if ADMIN in roles:
        return True
    return CODER in roles and user.has_perm(LEAD_PERMISSION)  # type: ignore[union-attr]


class PayerPolicyForm(forms.Form):
    """Every key of the engine's policy, each limited to what the engine takes, and why."""

    def __init__(self, *args: Any, initial_policy: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, default in policy_defaults().items():
            label = POLICY_LABELS.get(key, key)
            if key in POLICY_CHOICES:
                self.fields[key] = forms.TypedChoiceField(
                    label=label,
                    choices=[(str(c), str(c)) for c in POLICY_CHOICES[key]],
                    coerce=str,
                    initial=str(initial_policy.get(key, default)),
                    help_text=f"default {default}",
                )
            else:
                self.fields[key] = forms.IntegerField(
                    label=label,
                    min_value=POLICY_MINUTES_MIN.get(key, 1),
                    max_value=POLICY_MAX_MINUTES,
                    initial=initial_policy.get(key, default),
                    help_text=f"default {default}",
                    error_messages={"required": f"Enter the minutes (default {default})."},
                )
        self.fields["reason"] = ReasonField(
            label="Why the policy changes",
            widget=forms.Textarea(attrs={"rows": 2}),
            help_text="Kept with the new version; the re-coded runs name it.",
            error_messages={"required": "Say why the policy changes: the reason is kept with it."},
            validators=[validate_reason_in_words],
        )

    def policy_values(self) -> dict[str, Any]:
        values = {k: v for k, v in self.cleaned_data.items() if k != "reason"}
        return policy_clean(values)


@require_http_methods(["GET"])
@role_required(CODER)
def payers(request: HttpRequest) -> HttpResponse:
    rows = list(Payer.objects.prefetch_related("policies"))
    for payer in rows:
        versions = sorted(payer.policies.all(), key=lambda p: -p.version)
        payer.current = versions[0] if versions else None  # type: ignore[attr-defined]
        # Every coder reads the policy's values (README: coders read the payers' coding policy);
        # editing stays with an admin or a coding lead.
        values = policy_clean(versions[0].values) if versions else policy_defaults()
        payer.policy_rows = policy_read(values)  # type: ignore[attr-defined]
    return render(
        request,
        "coding/payers.html",
        {"payers": rows, "may_edit": may_edit_policy(request.user)},
    )


@require_http_methods(["GET", "POST"])
@role_required(CODER)
def payer_policy(request: HttpRequest, pk: int) -> HttpResponse:
    if not may_edit_policy(request.user):
        raise PermissionDenied("An admin or a coding lead changes a payer's coding policy.")
    payer = get_object_or_404(Payer, pk=pk)
    current = payer.current_policy()
    initial = policy_clean(current.values) if current else policy_defaults()
    form = PayerPolicyForm(request.POST or None, initial_policy=initial)
    if request.method == "POST" and form.is_valid():
        try:
            policy, queued = payer_policy_change(
                payer=payer,
                values=form.policy_values(),
                reason=form.cleaned_data["reason"],
                by=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            if policy is None:
                messages.info(request, "Nothing changed: the policy already has these values.")
            else:
                messages.success(
                    request,
                    f"{payer.name} coding policy v{policy.version} saved; "
                    f"{len(queued)} encounter{'' if len(queued) == 1 else 's'} not yet "
                    f"exported {'is' if len(queued) == 1 else 'are'} being re-coded.",
                )
            return redirect("coding:payer_policy", pk=payer.pk)
    return render(
        request,
        "coding/payer_policy.html",
        {
            "payer": payer,
            "current": current,
            "versions": list(payer.policies.select_related("by").order_by("-version")),
            "form": form,
            "is_admin": user_has_role(request.user, ADMIN),
        },
    )
