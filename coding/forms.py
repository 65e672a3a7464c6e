"""Forms of the coder's screens (rendered with crispy-forms, bootstrap5)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from coding.models import ChargeFinding, ReviewItem
from coding.modifiers import modifiers_refusal, modifiers_typed
from coding.review import CODE_HELP, CODE_RE, MAX_UNITS, REASON_MAX, REASON_TOO_LONG
from mar.validators import validate_question_in_words, validate_reason_in_words

REASON_HELP = (
    f"Mandatory: it goes with the claim and into the reconciliation report. At most {REASON_MAX} "
    "characters."
)


class ReasonField(forms.CharField):
    """A reason the coder types: in words (`validate_reason_in_words`, unless told otherwise),
    at most REASON_MAX characters, as every reason typed in the app. Longer, it is said beside
    the field as a sentence, what was typed kept: no `maxlength` on the box, which would cut a
    longer paste silently (QA: a 1,700-character correction reason; the services refuse the
    same, coding/review.py `reason_checked`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", REASON_MAX)
        kwargs.setdefault("validators", [validate_reason_in_words])
        said = str(kwargs.get("help_text") or REASON_HELP)
        if f"At most {REASON_MAX}" not in said:
            said = f"{said.rstrip('. ')}. At most {REASON_MAX} characters."
        kwargs["help_text"] = said
        super().__init__(**kwargs)
        self.error_messages["max_length"] = REASON_TOO_LONG.format(
            limit="%(limit_value)d", length="%(show_value)d"
        )

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.pop("maxlength", None)
        return attrs


def _split(value: str) -> list[str]:
    return [part for part in value.replace(",", " ").split() if part]


MODIFIERS_HELP = "Two letters or digits each, up to 4, e.g. 59 JW"


class ModifiersField(forms.CharField):
    """Modifiers as typed ("59 jw" or "59,JW"), cleaned to a list in capitals. Whether they may
    go on the line (two letters or digits, one the facility uses, none twice, at most four:
    `coding/modifiers.py`) is the form's `clean_modifiers`, only when they are sent: a line
    removed, or a correction kept or dropped, sends none."""

    def clean(self, value: Any) -> list[str]:  # type: ignore[override]
        return modifiers_typed(super().clean(value) or "")


def _modifiers_refused(mods: list[str], code: str | None = None) -> list[str]:
    """The modifiers, or the field's error: what was typed stays in the field. `code`, the
    line's code as typed (cleaned before the modifiers): JW/JZ are refused on a CPT code."""
    refusal = modifiers_refusal(mods, code)
    if refusal is not None:
        raise forms.ValidationError(refusal)
    return mods


def _range_checked(form: forms.Form, data: dict[str, Any]) -> dict[str, Any]:
    """A range typed backwards matches nothing: said beside "Date to", not an empty list. The
    words name no date: the field above shows it, and a date in a narrow column's message broke
    in two ("2026-12-" / "01", walk20)."""
    start, end = data.get("date_from"), data.get("date_to")
    if start and end and end < start:
        form.add_error("date_to", "The range ends before it starts: date to is before date from.")
    return data


# The rule ids of the RAC checklist and the engine's edits, offered as suggestions in the filter.
KNOWN_RULES = (
    [f"RAC-{n}" for n in range(1, 10)]
    + [f"DOC-{n}" for n in range(1, 7)]
    + ["EDIT-ADDON", "EDIT-96368", "EDIT-96369", "EDIT-96371", "EDIT-96523", "EDIT-MUE"]
    + ["DRUG-DOSE", "DRUG-UNIT", "DRUG-WASTE"]
)


class WorklistFilterForm(forms.Form):
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    unit = forms.CharField(required=False, max_length=100)
    state = forms.ChoiceField(
        required=False, choices=[("", "any state"), *ReviewItem.State.choices]
    )
    rule = forms.CharField(
        required=False,
        max_length=40,
        label="Finding",
        widget=forms.TextInput(attrs={"list": "known-rules", "placeholder": "e.g. RAC-5"}),
    )

    def clean(self) -> dict[str, Any]:
        return _range_checked(self, super().clean() or {})

    def clean_rule(self) -> str:
        return (self.cleaned_data.get("rule") or "").strip().upper()

    def clean_unit(self) -> str:
        return (self.cleaned_data.get("unit") or "").strip()


class LineCorrectForm(forms.Form):
    action = forms.ChoiceField(choices=[("change", "Change"), ("remove", "Remove")])
    code = forms.CharField(max_length=10, required=False)
    units = forms.IntegerField(min_value=1, max_value=MAX_UNITS, required=False)
    modifiers = ModifiersField(max_length=60, required=False, help_text=MODIFIERS_HELP)
    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=REASON_HELP,
        error_messages={"required": "Say why the line is corrected: the reason is kept beside it."},
        validators=[validate_reason_in_words],
    )

    def clean_modifiers(self) -> list[str]:
        mods: list[str] = self.cleaned_data.get("modifiers") or []
        if self.cleaned_data.get("action") == "remove":
            return mods  # a line removed sends none
        return _modifiers_refused(mods, self.cleaned_data.get("code"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "change":
            # A field already refused (units "abc") keeps its own error alone.
            code = (data.get("code") or "").strip().upper()
            if not code and "code" not in self.errors:
                self.add_error("code", "A changed line needs its code.")
            elif "code" not in self.errors and not CODE_RE.match(code):
                # said with the units' and modifiers' errors, not after them (QA)
                self.add_error("code", f"{code} is not a CPT/HCPCS code: {CODE_HELP}.")
            if not data.get("units") and "units" not in self.errors:
                self.add_error("units", "A changed line needs its units.")
        return data


class LineBackForm(forms.Form):
    """A corrected or removed line back to exactly the engine's line (review.charge_line_back):
    not a correction; hers stays in the line's history."""

    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 1}),
        label="Why back to the engine's line",
        help_text="Sent as the engine's line, not as corrected; your correction and this reason "
        "stay in its history.",
        error_messages={
            "required": "Say why the line goes back to the engine's line: it is kept with it."
        },
        validators=[validate_reason_in_words],
    )


class CorrectionResolveForm(forms.Form):
    """The coder's decision on a correction that needs re-review (coding/corrections.py)."""

    decision = forms.ChoiceField(
        choices=[
            ("keep", "Keep it as it was"),
            ("adapt", "Adapt it (the values below)"),
            ("drop", "Drop it"),
        ],
        widget=forms.RadioSelect,
    )
    code = forms.CharField(max_length=10, required=False, help_text="Adapt: the code to send")
    units = forms.IntegerField(min_value=1, max_value=MAX_UNITS, required=False)
    modifiers = ModifiersField(max_length=60, required=False, help_text=MODIFIERS_HELP)
    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=REASON_HELP,
        error_messages={"required": "Say why you decide so: the reason is kept with it."},
        validators=[validate_reason_in_words],
    )

    def clean_modifiers(self) -> list[str]:
        mods: list[str] = self.cleaned_data.get("modifiers") or []
        if self.cleaned_data.get("decision") != "adapt":
            return mods  # kept or dropped: the correction's own modifiers stand
        return _modifiers_refused(mods, self.cleaned_data.get("code"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "adapt" and not data.get("units") and "units" not in self.errors:
            self.add_error("units", "An adapted line needs its units.")
        return data


class CorrectionUndoForm(forms.Form):
    """Take back a re-review decision made on these charges (coding/corrections.py)."""

    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 1}),
        label="Why undo it",
        help_text="The correction waits for your decision again; both stay in the report.",
        error_messages={"required": "Say why you undo the decision: it is kept with it."},
        validators=[validate_reason_in_words],
    )


class ClassRerunForm(forms.Form):
    """Make the charges again under the formulary now (coding/class_after_export.py)."""

    reason = ReasonField(
        required=False,
        validators=[],
        widget=forms.Textarea(attrs={"rows": 1}),
        label="Note (optional)",
        help_text="Kept with the new run's reason.",
    )


class ClassStandsForm(forms.Form):
    """The billed claim stands despite a change of a drug's class or billing data after export."""

    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 1}),
        label="Why the billed claim stands",
        help_text="Kept with the decision, in the audit trail. Nothing is sent to billing.",
        error_messages={
            "required": "Say why the billed claim stands: the reason is kept with the decision."
        },
        validators=[validate_reason_in_words],
    )


class LineAddForm(forms.Form):
    code = forms.CharField(
        max_length=10, error_messages={"required": "Enter the code of the line to add."}
    )
    units = forms.IntegerField(
        min_value=1,
        max_value=MAX_UNITS,
        initial=1,
        error_messages={"required": "Enter the units of the line to add (1 or more)."},
    )
    modifiers = ModifiersField(max_length=60, required=False, help_text=MODIFIERS_HELP)
    administrations = forms.CharField(
        max_length=200, required=False, help_text="Record ids, e.g. A12 A13"
    )
    day = forms.DateField(
        required=False, label="Date", widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=REASON_HELP,
        error_messages={"required": "Say why the line is added: the reason is kept beside it."},
        validators=[validate_reason_in_words],
    )

    def __init__(self, *args: Any, administration_ids: set[str] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.administration_ids = administration_ids or set()

    def clean_modifiers(self) -> list[str]:
        mods = self.cleaned_data.get("modifiers") or []
        return _modifiers_refused(mods, self.cleaned_data.get("code"))

    def clean_administrations(self) -> list[str]:
        ids = [i.upper() for i in _split(self.cleaned_data.get("administrations") or "")]
        unknown = [i for i in ids if i not in self.administration_ids]
        if unknown:
            # Said in words, with the ids that would do (it showed a Python list: ['A99']).
            known = sorted(self.administration_ids, key=lambda i: (len(i), i))
            has = f"its administrations are {', '.join(known)}" if known else "it has none"
            raise forms.ValidationError(
                f"Not an administration of this record: {', '.join(unknown)} ({has})."
            )
        return ids


class EditOverrideForm(forms.Form):
    rule = forms.CharField(max_length=40, widget=forms.HiddenInput)
    message = forms.CharField(max_length=4000, widget=forms.HiddenInput)
    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=REASON_HELP,
        error_messages={"required": "Say why the edit is overridden: the reason is kept with it."},
        validators=[validate_reason_in_words],
    )


FINDING_CHOICE_CHARS = 90  # of a finding's message in the query's list of findings


def _finding_choice(finding: ChargeFinding) -> str:
    """A finding as a choice of the query's list: its rule and message, a long message cut at
    its last clause (else between words) and marked cut ("…"), where it stopped unmarked
    wherever the 90th character fell ("…single-dose container, so", walk20)."""
    message = finding.message
    if len(message) > FINDING_CHOICE_CHARS:
        head = message[: FINDING_CHOICE_CHARS + 1]
        clause = max(head.rfind(", "), head.rfind("; "), head.rfind(": "))
        if clause >= FINDING_CHOICE_CHARS * 2 // 3:
            head = head[:clause]
        else:
            head = head.rsplit(" ", 1)[0]
        message = head.rstrip(" ,;:") + "…"
    return f"{finding.rule} · {message}"


class QueryForm(forms.Form):
    """A question to the nurse: about one of the engine's findings, or about the record (a gap
    the engine did not flag), optionally naming one administration."""

    finding = forms.ModelChoiceField(
        queryset=ChargeFinding.objects.none(),
        required=False,
        empty_label="None: a question about the record",
        help_text="Leave at None for something the engine did not flag.",
    )
    administration = forms.ChoiceField(
        required=False,
        help_text="Without a finding: the administration the question is about, if one.",
    )
    question = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the nurse should document; she answers with an addendum.",
        error_messages={"required": "Write the question: what the nurse should document."},
        validators=[validate_question_in_words],
    )

    def __init__(
        self,
        *args: Any,
        run_id: int | None = None,
        administrations: list[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["finding"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = ChargeFinding.objects.filter(run_id=run_id).order_by("position")
        field.label_from_instance = _finding_choice  # type: ignore[method-assign]
        adm_field = self.fields["administration"]
        assert isinstance(adm_field, forms.ChoiceField)
        adm_field.choices = [("", "None: the whole record"), *(administrations or [])]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("finding") and cleaned.get("administration"):
            self.add_error(
                "administration",
                "A finding's query covers its administrations: leave this at None.",
            )
        return cleaned


class QueryWithdrawForm(forms.Form):
    """Take back a query still open (coding/review.py `query_withdraw`)."""

    reason = ReasonField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Why withdraw it",
        help_text="It leaves the nurse's chart; the query stays in the history as withdrawn.",
        error_messages={"required": "Say why the query is withdrawn: it is kept with it."},
        validators=[validate_reason_in_words],
    )


class DateRangeForm(forms.Form):
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        return _range_checked(self, super().clean() or {})

    def range(self, default_from: date, default_to: date) -> tuple[date, date]:
        if not self.is_valid():
            return default_from, default_to
        return (
            self.cleaned_data.get("date_from") or default_from,
            self.cleaned_data.get("date_to") or default_to,
        )
