"""The bedside forms. They parse what was typed; whether it is plausible is the engine's call.

Times are typed as wall-clock times in the encounter's own zone (not the browser's, not the
server's). A wall-clock time a DST change makes ambiguous or skips is refused by the engine's own
reader (`local_time`), with its message beside the field; the field then turns into plain text so
the nurse can add the UTC offset. `apply_chart_error` puts the engine's findings (mar/services/
charting.py) beside the fields they name.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from coding.engine import Finding, RecordError
from coding.engine.reading import local_time
from mar import merge
from mar.clock import CLOCK_AHEAD, date_hhmm, hhmm
from mar.models import (
    ADMINISTRATION_CARD_FIELDS,
    AccessSite,
    Administration,
    Encounter,
    Order,
    Pause,
    Route,
)
from mar.services.charting import (
    FLUSH_VOLUME_MAX_ML,
    FLUSH_VOLUME_NONE,
    FLUSH_VOLUME_TOO_LARGE,
    card_version_keep,
    finding_key,
)
from mar.validators import validate_reason_in_words

# The chart speaks 24-hour: a time field is text, "2026-03-02 14:30" (issue 15, item 10). The
# browser's datetime-local picker shows 12-hour mm/dd/yyyy in an en-US locale; text does not.
# A time alone ("08:28", "8:28", "0828") is that time today on the encounter's wall clock, or
# yesterday when today's would be in the future (a visit crossing midnight): `time_alone`.
# static/js/chart.js reads the same forms as she types (TIME24, TIME_ALONE there).
INPUT_FORMAT = "%Y-%m-%d %H:%M"
TIME_PLACEHOLDER = "HH:MM or YYYY-MM-DD HH:MM"
TIME_HINT = "A 24-hour time alone is today (14:30); or give the date too: 2026-03-02 14:30."
TIME_UNREAD = (
    "Enter the 24-hour time, such as 14:30 (today), or the date and the time, such as "
    "2026-03-02 14:30."
)
TIME_ALONE = re.compile(
    r"(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)|(?P<hh>[01]\d|2[0-3])(?P<mm>[0-5]\d)", re.ASCII
)


def _number(value: Decimal | int) -> str:
    """A limit as a nurse reads it: 99,999,999 or 0.0001 (no exponent, no trailing zeros)."""
    text = f"{Decimal(value).normalize():f}"
    whole, dot, part = text.partition(".")
    return f"{int(whole):,}{dot}{part}" if whole.lstrip("-").isdigit() else text


class AmountField(forms.DecimalField):
    """A number typed on a form, refused in plain words (QA walkthrough: "Ensure that there are
    no more than 12 digits in total", "...8 digits before the decimal point", "Ensure this value
    is greater than or equal to 0." were shown to nurses, clerks and pharmacists). The words are
    made from the field's own limits (its digits, decimal places, min and max), so every form's
    number field says them alike; a form's own `error_messages` still win."""

    def __init__(
        self,
        *,
        max_digits: int | None = None,
        decimal_places: int | None = None,
        max_value: Decimal | int | None = None,
        min_value: Decimal | int | None = None,
        error_messages: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        said: dict[str, str] = {}
        if max_digits is not None:
            whole = max_digits - (decimal_places or 0)
            largest = _number(10**whole - 1) if whole > 0 else "less than 1"
            said["max_digits"] = said["max_whole_digits"] = f"Too large: at most {largest}."
        if decimal_places is not None:
            said["max_decimal_places"] = (
                "Give a whole number."
                if decimal_places == 0
                else f"Too many decimals: at most {decimal_places} after the point."
            )
        if min_value is not None:
            said["min_value"] = (
                "Must be 0 or more." if min_value == 0 else f"Must be {_number(min_value)} or more."
            )
        if max_value is not None:
            said["max_value"] = f"Too large: at most {_number(max_value)}."
        said.update(error_messages or {})
        if max_value is not None:
            # Too many digits is above the maximum too: said as the maximum (the tighter one).
            for key in ("max_digits", "max_whole_digits"):
                if key not in (error_messages or {}):
                    said[key] = said["max_value"]
        super().__init__(
            max_digits=max_digits,
            decimal_places=decimal_places,
            max_value=max_value,
            min_value=min_value,
            error_messages=said,
            **kwargs,
        )

    def run_validators(self, value: Any) -> None:
        """As Django's, each message once (too many digits and above the maximum can both be
        said in the same words)."""
        try:
            super().run_validators(value)
        except ValidationError as exc:
            seen: dict[str, ValidationError] = {}
            for error in exc.error_list:
                seen.setdefault(" ".join(ValidationError([error]).messages), error)
            raise ValidationError(list(seen.values())) from None


VASCULAR_KINDS = {
    AccessSite.Kind.PERIPHERAL_IV,
    AccessSite.Kind.PICC,
    AccessSite.Kind.PORT,
    AccessSite.Kind.CENTRAL_LINE,
    AccessSite.Kind.MIDLINE,
    AccessSite.Kind.INTRA_ARTERIAL,
}


def time_alone(text: str, zone: ZoneInfo, now: datetime | None = None) -> datetime | None:
    """A time typed alone ("08:28", "8:28", "0828"), read on the wall clock of `zone`: today, or
    the day before when today's would be later than now by more than a device's clock may run
    ahead (CLOCK_AHEAD: a visit crossing midnight, "23:50" typed at 00:10). None when `text` is
    not a time alone. A wall-clock time a DST change skips or repeats is refused as a dated one
    is (RecordError from `local_time`: the nurse then gives the date and the offset)."""
    found = TIME_ALONE.fullmatch(text)
    if found is None:
        return None
    hour = int(found["h"] or found["hh"])
    minute = int(found["m"] or found["mm"])
    local_now = (now or timezone.now()).astimezone(zone)
    naive = datetime.combine(local_now.date(), time(hour, minute))
    try:
        later = local_time(naive, zone, "time") > local_now + CLOCK_AHEAD
    except RecordError:
        # Today's is skipped or repeated: compare the wall clocks (the change is at night).
        later = naive > local_now.replace(tzinfo=None) + CLOCK_AHEAD
    if later:
        naive -= timedelta(days=1)
    return local_time(naive, zone, "time")


def local_input(value: datetime | None, zone: ZoneInfo) -> str:
    """An aware time as the encounter's wall clock, for an input; with its offset if ambiguous."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    naive = local.replace(tzinfo=None)
    try:
        local_time(naive, zone, "time")
    except RecordError:
        return local.isoformat(timespec="minutes")
    return naive.strftime(INPUT_FORMAT)


class LocalTimeInput(forms.DateTimeInput):
    """A wall-clock time as 24-hour text ("2026-03-02 14:30", or "14:30" alone for today; with
    its offset when a DST change makes the hour ambiguous). static/js/chart.js says beside the
    field, as she types, when what she typed is not a 24-hour time (with or without its date),
    and which day a time alone is read as; the server reads it (LocalTimeField)."""

    input_type = "text"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={
                "placeholder": TIME_PLACEHOLDER,
                "title": TIME_HINT,
                "autocomplete": "off",
                "spellcheck": "false",
                "data-time24": "",
                **(attrs or {}),
            }
        )

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        # The zone a time typed alone is read in, for the hint beside the field (chart.js).
        zone = getattr(self, "zone", None)
        if zone is not None:
            attrs = {**(attrs or {}), "data-zone": zone.key}
        return super().get_context(name, value, attrs)

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, datetime):
            zone = getattr(self, "zone", None)
            if zone is not None and value.tzinfo is not None:
                return local_input(value, zone)
            return value.strftime(INPUT_FORMAT)
        return None if value in (None, "") else str(value)


class LocalTimeField(forms.Field):
    """A time on the encounter's wall clock ('2026-03-02T08:00'), or with an offset."""

    widget = LocalTimeInput

    def __init__(self, *, zone: ZoneInfo | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.zone = zone or ZoneInfo("UTC")
        self.widget.zone = self.zone  # type: ignore[attr-defined]

    def to_python(self, value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            return value
        typed = str(value).strip()
        try:
            alone = time_alone(typed, self.zone)
        except RecordError as exc:
            raise ValidationError(exc.message, code="dst") from None
        if alone is not None:
            return alone
        text = re.sub(r"\s+", "T", typed, count=1)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(TIME_UNREAD, code="invalid") from None
        if parsed.tzinfo is None:
            try:
                parsed = local_time(parsed.replace(second=0, microsecond=0), self.zone, "time")
            except RecordError as exc:
                raise ValidationError(exc.message, code="dst") from None
            except (OverflowError, ValueError):
                raise ValidationError(OUT_OF_RANGE, code="out_of_range") from None
        # Year 1 or 9999, or an offset that moves it past either end (0001-01-01T00:00+14:00),
        # cannot be stored and read back: refused here, beside the field (issue 18, item 4).
        try:
            in_utc = parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError(OUT_OF_RANGE, code="out_of_range") from None
        if not (EARLIEST_YEAR <= in_utc.year <= LATEST_YEAR):
            raise ValidationError(OUT_OF_RANGE, code="out_of_range")
        return parsed


EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
OUT_OF_RANGE = "That date cannot be right: check the year."
# A time typed for an encounter lies between two years before its arrival (or now, if earlier)
# and two days after now (or the arrival, if later): anything else is a mistyped year, refused
# here. Closer mistakes (a start days before the visit, a time in the future) are the engine's
# to name with its rule (DOC-3, the future-time check), beside the same field.
PLAUSIBLE_BEFORE = timedelta(days=730)
PLAUSIBLE_AFTER = timedelta(days=2)
FAR_AHEAD = "This time (%(at)s) is later than now (%(now)s): check the date and the year."
FAR_BEFORE = "This time is more than two years before this visit (%(visit)s): check the year."


NOT_YET = "This time (%(at)s) is later than now (%(now)s): it cannot be charted yet."


def _yesterday_too_early(
    form: forms.Form, name: str, value: datetime, encounter: Encounter
) -> bool:
    """A time typed alone and read as yesterday's (`time_alone`: today's is later than now)
    that would be before the visit's arrival, or before the start in the same form: today's
    was meant, and it is later than now."""
    typed = str(form.data.get(form.add_prefix(name), "")).strip()
    if TIME_ALONE.fullmatch(typed) is None:
        return False
    zone = encounter.zone
    if value.astimezone(zone).date() >= timezone.now().astimezone(zone).date():
        return False
    start = form.cleaned_data.get("start") if name != "start" else None
    earlier = [t for t in (encounter.arrived_at, start) if isinstance(t, datetime)]
    return any(value < t for t in earlier)


def plausible_window(
    encounter: Encounter, now: datetime | None = None
) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    arrived = encounter.arrived_at if encounter.arrived_at is not None else now
    return min(arrived, now) - PLAUSIBLE_BEFORE, max(arrived, now) + PLAUSIBLE_AFTER


def check_plausible(form: forms.Form, encounter: Encounter) -> None:
    """Every time field's value within the encounter's plausible window, or an error beside it."""
    earliest, latest = plausible_window(encounter)
    visit = earliest + PLAUSIBLE_BEFORE  # the arrival, or now if earlier
    zone = encounter.zone
    for name, field in form.fields.items():
        value = form.cleaned_data.get(name)
        if isinstance(field, LocalTimeField) and isinstance(value, datetime):
            # Said as what it is, not as the window: "outside this encounter (2024-12-06 to
            # 2026-12-08)" read as if the visit spanned two years (walk19).
            if _yesterday_too_early(form, name, value, encounter):
                # Yesterday's would be before the arrival or the start: it is today's, later
                # than now (QA: "Read as yesterday" for a stop 15:55 typed at 15:15).
                moments = {
                    "at": hhmm(value + timedelta(days=1), zone),
                    "now": hhmm(timezone.now(), zone),
                }
                form.add_error(name, ValidationError(NOT_YET, code="not_yet", params=moments))
            elif value > latest:
                moments = {"at": date_hhmm(value, zone), "now": date_hhmm(timezone.now(), zone)}
                form.add_error(name, ValidationError(FAR_AHEAD, code="implausible", params=moments))
            elif value < earliest:
                form.add_error(
                    name,
                    ValidationError(
                        FAR_BEFORE,
                        code="implausible",
                        params={"visit": visit.astimezone(zone).strftime("%Y-%m-%d")},
                    ),
                )


class ZonedForm(forms.Form):
    """A form whose time fields read the encounter's wall clock, each range-checked against the
    encounter (plausible_window) where it enters."""

    def __init__(self, *args: Any, encounter: Encounter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.encounter = encounter
        zone = encounter.zone
        for field in self.fields.values():
            if isinstance(field, LocalTimeField):
                field.zone = zone
                attrs = dict(field.widget.attrs)
                if encounter.arrived_at is not None:
                    # chart.js: a time alone whose yesterday is before the arrival is today's.
                    attrs["data-arrived"] = str(int(encounter.arrived_at.timestamp()))
                field.widget = LocalTimeInput(attrs=attrs)
                field.widget.zone = zone  # type: ignore[attr-defined]

    def _post_clean(self) -> None:
        super()._post_clean()
        check_plausible(self, self.encounter)


def apply_validation_error(form: forms.Form, exc: ValidationError) -> None:
    """A service's refusal on the form: beside the field it names when the form has it."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def apply_chart_error(form: forms.Form, errors: Mapping[str | None, list[str]]) -> None:
    """Each engine message beside the field it names; others at the top of the form."""
    for name, messages in errors.items():
        target = _form_field(form, name)
        for message in messages:
            form.add_error(target, message)


def _form_field(form: forms.Form, engine_field: str | None) -> str | None:
    if engine_field is None:
        return None
    if engine_field in form.fields:
        return engine_field
    if engine_field.startswith("pauses["):
        if isinstance(form, PauseForm):  # and PauseAddForm
            return "end" if engine_field.endswith(".end") else "start"
        return None
    return None


class SiteForm(ZonedForm):
    kind = forms.ChoiceField(choices=AccessSite.Kind.choices)
    location = forms.CharField(max_length=100, required=False)
    placed_at = LocalTimeField(
        label="Placed at", error_messages={"required": "Enter when the site was placed."}
    )
    separate_site_reason = forms.CharField(
        label="Why a second site is necessary",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="A second vascular site earns its own initial service only with a reason.",
        validators=[validate_reason_in_words],
    )

    def __init__(self, *args: Any, has_vascular_site: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asks_reason = has_vascular_site
        if not has_vascular_site:
            self.fields["separate_site_reason"].widget = forms.HiddenInput()


ADDENDUM_WHY_LABEL = "Why (addendum to the signed record)"


def addendum_why_field(label: str = ADDENDUM_WHY_LABEL) -> forms.CharField:
    """Why a change to a signed record is made (an addendum): optional on the form, as the form
    is the same before signing (the service refuses a change to a signed record without it), and
    in words when given (mar.validators)."""
    return forms.CharField(
        label=label, required=False, max_length=2000, validators=[validate_reason_in_words]
    )


def site_choice_label(site: AccessSite) -> str:
    """A site as a card's or a start's select says it: its number, then where it is, then its
    kind ("S2 right forearm (Peripheral IV)"). Where it is tells two sites of one kind apart,
    so it comes first: a select narrower than the words (a tablet, QA: "S2 Periphe") cuts the
    kind, not the place. Without a location: "S2 Peripheral IV"."""
    kind = site.get_kind_display()
    return f"S{site.pk} {site.location} ({kind})" if site.location else f"S{site.pk} {kind}"


class BaseSnapshotMixin(forms.Form):
    """The values the form showed (mar/merge.py), posted back so the save merges field by field:
    a field left as shown never overwrites another nurse's change saved meanwhile."""

    base = forms.CharField(required=False, widget=forms.HiddenInput(), max_length=20000)

    def clean_base(self) -> merge.Canonical | None:
        return merge.snapshot_read(self.cleaned_data.get("base"))


class SiteUpdateForm(BaseSnapshotMixin, ZonedForm):
    location = forms.CharField(max_length=100, required=False)
    # A placed time charted wrong is corrected here (issue 15, item 7): `placed_was` is the time
    # the nurse saw, so another nurse's correction meanwhile is never overwritten.
    placed_at = LocalTimeField(label="Placed at", required=False)
    placed_was = forms.CharField(required=False, widget=forms.HiddenInput())
    separate_site_reason = forms.CharField(
        label="Why this site is necessary",
        required=False,
        max_length=2000,
        widget=forms.Textarea({"rows": 2}),
        validators=[validate_reason_in_words],
    )
    addendum_why = addendum_why_field()

    def clean_placed_was(self) -> datetime | None:
        text = (self.cleaned_data.get("placed_was") or "").strip()
        if not text:
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("This page is out of date: reload it and try again.") from None


class AtForm(ZonedForm):
    """A one-tap action ("now"), with an optional time for late entry and the card's version.

    `action`: which of the card's one-tap forms it is ("pause", "resume"; "" for Stop now, whose
    time is the card's stop field): a refused one comes back in its own form, its time beside
    the field."""

    action = ""
    at = LocalTimeField(label="At (leave empty for now)", required=False)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput())


class PauseAtForm(AtForm):
    """Pause: now, or at a typed time (late entry: paused earlier, tapped now)."""

    action = "pause"
    at = LocalTimeField(label="Paused at (empty: now)", required=False)


class ResumeAtForm(AtForm):
    """Resume: now, or at a typed time (late entry)."""

    action = "resume"
    at = LocalTimeField(label="Resumed at (empty: now)", required=False)


class SiteAssessForm(ZonedForm):
    """ "Assessed": now (one tap), or at a typed time (late entry)."""

    at = LocalTimeField(label="Assessed at (empty: now)", required=False)


class SiteDiscontinueForm(ZonedForm):
    """Discontinue a site: now or at a typed time (late entry). `stop_running`: the nurse was
    shown what runs on the site and confirmed it stops with it."""

    at = LocalTimeField(label="Discontinued at (empty: now)", required=False)
    stop_running = forms.BooleanField(required=False, widget=forms.HiddenInput())


class FlushForm(ZonedForm):
    """A flush on a site: now (one tap), or given earlier at a typed time (`late`: the time is
    then needed, never taken as "now")."""

    at = LocalTimeField(label="Flush given at", required=False)
    late = forms.BooleanField(required=False, widget=forms.HiddenInput())
    # A second flush of the site at the same minute, charted once the nurse said so (asked on
    # this field: `charting.flush_again_question`).
    again = forms.BooleanField(required=False, widget=forms.HiddenInput())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("late") and data.get("at") is None and "at" not in self.errors:
            self.add_error("at", "Enter the time the flush was given.")
        return data


# A flush's details (NS 10 mL unless typed otherwise), the same fields at the bedside
# (`mar.care_forms.FlushDetailsForm`, drawn by mar/_flush_details.jinja) and on a missed flush
# charted by addendum (`AddendumForm`).
FLUSH_SOLUTION_DEFAULT = "NS"
FLUSH_VOLUME_DEFAULT = Decimal(10)


def flush_solution_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=60,
        required=False,
        initial=FLUSH_SOLUTION_DEFAULT,
        widget=forms.TextInput(attrs={"list": "flush-solutions"}),  # mar/_care_top.jinja
    )


def flush_volume_field(label: str, *, required: bool = False) -> forms.DecimalField:
    """A flush's volume: more than 0 mL, at most a litre (`charting.flush_volume_refused`, which
    the services check too); `required` at the bedside (a flush is charted with its volume)."""
    return AmountField(
        label=label,
        required=required,
        min_value=Decimal("0.1"),
        max_value=FLUSH_VOLUME_MAX_ML,
        max_digits=6,
        decimal_places=1,
        initial=FLUSH_VOLUME_DEFAULT,
        error_messages={
            "required": FLUSH_VOLUME_NONE,
            "min_value": FLUSH_VOLUME_NONE,
            "max_value": FLUSH_VOLUME_TOO_LARGE,
        },
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )


class FlushRemoveForm(forms.Form):
    """Remove a flush charted by mistake; on a signed record, as an addendum with a reason."""

    addendum_why = addendum_why_field()


METHOD_UNSAID = "Choose how it is given: push or infusion."


class StartForm(ZonedForm):
    # Preselected from the order (`ordered_method`); left at "Choose" when the order does not
    # say, and a start without a choice is refused beside it (QA: ondansetron 4 mg IV started
    # as an infusion by default).
    method = forms.ChoiceField(
        choices=[
            ("", "Choose: push or infusion"),
            (Administration.Method.INFUSION, "Infusion"),
            (Administration.Method.PUSH, "Push (stayed throughout)"),
            (Administration.Method.INJECTION, "Injection"),
        ],
        error_messages={"required": METHOD_UNSAID},
    )
    site = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    at = LocalTimeField(label="Start (empty: now)", required=False)
    # One key per rendered form: a double tap posts it twice, and starts one administration.
    request_key = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput())
    # The order's revision the chart showed: a start after the ordering system changed the order
    # (HL7 ORC-1 XO) is refused, saying what it is now (mar/services/safety.py). Without it (a
    # client that does not send it) it counts as 0: a start of an order changed since is refused.
    order_revision = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput())

    def __init__(self, *args: Any, sites: Iterable[AccessSite] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["request_key"] = uuid.uuid4().hex
        open_sites = [s for s in sites if s.discontinued_at is None]
        self.fields["site"].choices = [("", "— no site —")] + [
            (s.pk, site_choice_label(s)) for s in open_sites
        ]
        if len(open_sites) == 1:
            self.fields["site"].initial = open_sites[0].pk


_PUSH_WORDS = re.compile(r"\b(?:iv\s*push|ivp|push|bolus)\b", re.IGNORECASE)
_INJECTION_ROUTES = {"sq", "im", "intralesional"}


def ordered_method(order: Order) -> str:
    """How an order is given, as far as the order says: "IV push" (or IVP, bolus) in its dose
    or indication is a push; a subcutaneous, intramuscular or intralesional one an injection;
    one with a duration or a rate, or for hydration, an infusion. An IV order that says none of
    these ("ondansetron 4 mg IV") is not guessed: "" (the nurse chooses); another route
    (intrathecal, intra-arterial...) an infusion, which she changes when it is not."""
    if _PUSH_WORDS.search(f"{order.dose} {order.indication}"):
        return Administration.Method.PUSH
    if order.route in _INJECTION_ROUTES:
        return Administration.Method.INJECTION
    if (
        order.route == Route.IV
        and not order.duration_minutes
        and order.rate_value is None
        and order.purpose != Order.Purpose.HYDRATION
    ):
        return ""
    return Administration.Method.INFUSION


class DispositionForm(forms.Form):
    """An order not given: not given, held or refused, and why (blank: to give after all)."""

    disposition = forms.ChoiceField(
        choices=[("", "— to give —"), *Order.Disposition.choices],
        required=False,
        label="Not given",
    )
    reason = forms.CharField(
        label="Why",
        required=False,
        max_length=2000,
        widget=forms.TextInput(),
        validators=[validate_reason_in_words],
    )
    addendum_why = addendum_why_field()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("disposition") and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why it was not given (the auditor asks).")
        return data


def plain_number(value: Decimal | None) -> str | None:
    """A stored amount as a nurse writes it: 1.0000 -> "1", 0.5000 -> "0.5", 100 -> "100"."""
    if value is None:
        return None
    return format(value.normalize(), "f")


def shown_text(bound: forms.BoundField) -> str:
    """What a field's input shows as the form draws it, as the browser posts it back: its value
    as its widget writes it; a select's, the option it shows (the first when none is marked)."""
    field, value = bound.field, bound.value()
    if isinstance(field, forms.ChoiceField):
        text = "" if value is None else str(value)
        values = [str(key) for key, _label in field.choices]
        return text if text in values or not values else values[0]
    written = field.widget.format_value(value)
    return "" if written is None else str(written).strip()


def shown_changed(field: forms.Field, shown: str, posted: str) -> bool:
    """Whether what a field posts differs from what it showed (`shown_text`): the same value
    written otherwise ("4.0" for "4") is no change."""
    shown, posted = shown.strip(), posted.strip()
    if shown == posted:
        return False
    if isinstance(field, forms.ChoiceField):
        return True
    try:
        return bool(field.to_python(shown) != field.to_python(posted))
    except ValidationError:
        return True


def _unit_input() -> forms.TextInput:
    # A hint, not a value: a bare "mg" in grey read as if the unit were already charted.
    return forms.TextInput(attrs={"placeholder": "e.g. mg"})


class AdministrationForm(ZonedForm):
    start = LocalTimeField(
        error_messages={"required": "The start time is required: enter when it was started."}
    )
    stop = LocalTimeField(required=False)
    method = forms.ChoiceField(choices=Administration.Method.choices)
    site = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    bag = forms.CharField(
        max_length=40,
        required=False,
        label="Bag id",
        widget=forms.TextInput(attrs={"placeholder": "same id = mixed"}),
    )
    purpose = forms.ChoiceField(
        choices=[("", "—")] + list(Administration.Purpose.choices),
        required=False,
        label="Purpose (fluids)",
    )
    started_by = forms.ChoiceField(choices=Administration.StartedBy.choices, label="Started by")
    pump = forms.ChoiceField(choices=[("", "no pump")] + list(Administration.Pump.choices),
                             required=False)  # fmt: skip
    planned_hours = AmountField(
        max_digits=6, decimal_places=2, required=False, min_value=0, label="Pump: planned hours"
    )
    # The amount given and wasted: the drug's HCPCS units and its JW/JZ modifiers.
    dose_value = AmountField(max_digits=12, decimal_places=4, required=False, label="Dose given")
    dose_unit = forms.CharField(max_length=20, required=False, label="Unit", widget=_unit_input())
    waste_value = AmountField(
        max_digits=12, decimal_places=4, required=False, min_value=0, label="Wasted (0 = none)"
    )
    waste_unit = forms.CharField(max_length=20, required=False, label="Unit", widget=_unit_input())
    version = forms.IntegerField(widget=forms.HiddenInput())
    # The version the nurse started typing from: kept through a conflict, so that saving again
    # writes only the fields she changed (mar.services.charting.administration_update).
    base_version = forms.IntegerField(widget=forms.HiddenInput(), required=False)
    # What the card's fields showed when it was drawn (`drawn_keep`), as their inputs wrote it,
    # a value drawn but never typed by her (the dose carried over from the order) included;
    # posted back, and kept as posted when the card comes back refused: on a record signed
    # since, her change is what differs from it (views._card_unsent), nothing else.
    drawn = forms.CharField(widget=forms.HiddenInput(), required=False, strip=False)
    addendum_why = addendum_why_field()

    def __init__(self, *args: Any, sites: Iterable[AccessSite] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What the card's save line says of a refused save (`card_refused`); "" otherwise.
        self.refused_line = ""
        self.fields["site"].choices = [("", "— no site —")] + [
            (s.pk, site_choice_label(s)) for s in sites
        ]
        if not self.is_bound:  # written when `drawn` is drawn, from the fields as drawn
            self.initial.setdefault("drawn", self.drawn_text)

    def clean_dose_value(self) -> Decimal | None:
        value: Decimal | None = self.cleaned_data.get("dose_value")
        if value is not None and value <= 0:
            raise ValidationError("A dose given is more than zero (leave it empty if not known).")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        dose, waste = data.get("dose_value"), data.get("waste_value")
        if dose is not None and not (data.get("dose_unit") or "").strip():
            self.add_error("dose_unit", "Say the unit of the dose (mg, mcg, units, mL).")
        if waste is not None and dose is None:
            self.add_error("waste_value", "Chart the dose given before the amount wasted.")
        return data

    @classmethod
    def initial_for(cls, adm: Administration) -> dict[str, Any]:
        numbers = {"planned_hours", "dose_value", "waste_value"}
        initial: dict[str, Any] = {
            name: plain_number(getattr(adm, name))
            if name in numbers
            else getattr(adm, "site_id" if name == "site" else name)
            for name in ADMINISTRATION_CARD_FIELDS
        }
        initial["version"] = initial["base_version"] = adm.version
        card_version_keep(adm)
        return initial

    def drawn_text(self) -> str:
        """What each card field shows as this form draws it (`shown_text`), for `drawn`."""
        return json.dumps(
            {name: shown_text(self[name]) for name in ADMINISTRATION_CARD_FIELDS}, sort_keys=True
        )

    def changes(
        self, sites: Mapping[int, AccessSite], saved: Administration | None = None
    ) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("version")
        data.pop("base_version", None)
        data.pop("drawn", None)
        data.pop("addendum_why")
        site_id = data.pop("site")
        data["site"] = sites.get(site_id) if site_id is not None else None
        data["dose_unit"] = data["dose_unit"].strip()
        data["waste_unit"] = data["waste_unit"].strip()
        if data["waste_value"] is not None and not data["waste_unit"]:
            data["waste_unit"] = data["dose_unit"]  # wasted from what was drawn up: its unit
        if saved is not None:
            # The input shows minutes: a time left as shown keeps the seconds "now" recorded.
            for name in ("start", "stop"):
                before = getattr(saved, name)
                if before is not None and data[name] == before.replace(second=0, microsecond=0):
                    data[name] = before
        return data


CARD_TIMES = ("start", "stop")  # saved together: a pause must lie within both (DOC-3)


def _same(name: str, typed: Any, stored: Any) -> bool:
    """A card field's value as typed is the one stored (times to the minute the field shows; a
    site by its id)."""
    if name == "site":
        stored = stored.pk if isinstance(stored, AccessSite) else stored
        typed = typed.pk if isinstance(typed, AccessSite) else typed
    if isinstance(typed, datetime) and isinstance(stored, datetime):
        return typed.replace(second=0, microsecond=0) == stored.replace(second=0, microsecond=0)
    return bool(typed == stored)


def card_refused(
    form: AdministrationForm,
    errors: Mapping[str | None, list[str]],
    *,
    changes: Mapping[str, Any],
    stored: Administration,
) -> None:
    """A refused card save said on the card: nothing of it was stored (one transaction), and the
    card says so of what it sent, never of what an earlier save stored.

    The card saves as the nurse leaves a field, so a start saved on its own may be followed by a
    stop that is refused (QA: start 03:45 saved, stop 05:10 refused over the pause at 05:26; the
    card said "Not saved: see why in the card" and the record read 03:45-05:26). A refused time
    says, beside it, which of the two times is saved and which is not, and what the record
    keeps: "Start 03:45 is saved; stop 05:10 is not: the pause at 05:26 is after it. The record
    keeps 03:45-05:26." Both sent together and refused: both fields say they are not saved.
    `form.refused_line` (the card's save line, static/js/chart.js) names what was not saved.
    """
    zone = form.encounter.zone

    def at(value: datetime | None) -> str:
        return hhmm(value, zone) if value is not None else "empty"

    typed = {name: changes.get(name) for name in CARD_TIMES}
    sent = {  # what this save would have changed: none of it is stored
        name for name, value in changes.items() if not _same(name, value, getattr(stored, name))
    }
    apply_chart_error(form, {n: m for n, m in errors.items() if n not in CARD_TIMES})
    refused = [name for name in CARD_TIMES if name in errors]
    keeps = (
        f"The record keeps {at(stored.start)}–{at(stored.stop)}."
        if stored.stop is not None
        else f"The record keeps the start {at(stored.start)}, no stop."
    )
    for name in refused:
        other = "stop" if name == "start" else "start"
        why = " ".join(errors[name]).rstrip()
        why = why[:1].lower() + why[1:]
        if why and why[-1] not in ".!?":
            why += "."  # a sentence, before "The record keeps..." (QA)
        if name not in sent and other in sent:
            # The time she typed made the other wrong (a start moved after the stop): said
            # beside the one she typed, the only one this save would have changed.
            name, other = other, name
        if name not in sent:  # neither time typed: nothing of hers is refused but the save
            form.add_error(name, f"{why[:1].upper()}{why[1:]} {keeps}")
            continue
        mine = f"{name} {at(typed[name])}"
        if other not in sent and typed[other] is not None:
            said = f"{other.capitalize()} {at(typed[other])} is saved; {mine} is not: {why}"
        elif other not in sent or other in refused:
            said = f"{mine.capitalize()} is not saved: {why}"
        else:
            said = f"{mine.capitalize()} is not saved, nor is {other} {at(typed[other])}: {why}"
            form.add_error(
                other,
                f"{other.capitalize()} {at(typed[other])} is not saved either: the start and "
                "stop are saved together.",
            )
        form.add_error(name, f"{said} {keeps}")
    if not refused or not sent:
        return
    labels = [
        f"{name} {at(typed[name])}" if name in CARD_TIMES else str(form.fields[name].label).lower()
        for name in ADMINISTRATION_CARD_FIELDS
        if name in sent
    ]
    line = f"Not saved: {', '.join(labels)} (see the field marked in red)."
    kept = [name for name in CARD_TIMES if name not in sent and typed[name] is not None]
    if kept:
        line += f" {kept[0].capitalize()} {at(typed[kept[0]])} is saved."
    form.refused_line = line


class PauseForm(ZonedForm):
    start = LocalTimeField(
        label="Paused at", error_messages={"required": "Enter when it was paused."}
    )
    end = LocalTimeField(label="Resumed at", required=False)
    # Given with the pause, or added afterwards (QA: a pause made without one could not be
    # given one later).
    reason = forms.ChoiceField(
        label="Reason", choices=[("", "no reason given"), *Pause.Reason.choices], required=False
    )
    version = forms.IntegerField(widget=forms.HiddenInput())
    addendum_why = addendum_why_field()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end < start:
            # About the resume, beside it (issue 15, item 8): not the pause's time.
            zone = self.encounter.zone
            self.add_error(
                "end",
                f"The resume time ({end.astimezone(zone):%Y-%m-%d %H:%M}) is before the pause "
                f"at {start.astimezone(zone):%Y-%m-%d %H:%M}: a resume comes after its pause.",
            )
        return data


class PauseAddForm(PauseForm):
    """ "Add a pause": a past pause charted afterwards with both its times (late entry)."""

    end = LocalTimeField(
        label="Resumed at", error_messages={"required": "Enter when it was resumed."}
    )
    addendum_why = None  # an open record's late entry, not an addendum


class EncounterTimesForm(BaseSnapshotMixin, ZonedForm):
    arrived_at = LocalTimeField(label="Arrived at", required=False)
    observation_at = LocalTimeField(label="Placed in observation at", required=False)
    addendum_why = addendum_why_field()


QUERY_CHOICE_CHARS = 90  # of a query's question in the addendum's choices


def query_choices(queries: Iterable[Any]) -> list[tuple[int, str]]:
    """The coders' open queries (rows of the port's `open_queries`) as the addendum form's
    choices: "RAC-1 (A1): Is there an order for hydration?", a long question cut (…)."""
    out = []
    for query in queries:
        about = query.rule or "About the record"
        named = f" ({', '.join(query.administrations)})" if query.administrations else ""
        question = " ".join(query.question.split())
        if len(question) > QUERY_CHOICE_CHARS:
            question = question[:QUERY_CHOICE_CHARS].rsplit(" ", 1)[0] + "…"
        out.append((query.pk, f"{about}{named}: {question}"))
    return out


class AddendumForm(ZonedForm):
    what = forms.CharField(
        label="What changed",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        error_messages={"required": "Say what changed in the record."},
    )
    why = forms.CharField(
        label="Why",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=4000,
        error_messages={"required": "Say why it changed: the reason is kept with the addendum."},
    )
    flush_site = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Chart a missed flush on"
    )
    flush_at = LocalTimeField(label="Flush given at", required=False)
    # What a flush charted at the bedside records (its solution and volume), the same defaults.
    flush_solution = flush_solution_field("Flush solution")
    flush_volume_ml = flush_volume_field("Flush volume (mL)")

    def __init__(
        self,
        *args: Any,
        sites: Iterable[AccessSite] = (),
        queries: Iterable[tuple[int, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["flush_site"].choices = [("", "— no flush —")] + [
            (s.pk, f"S{s.pk} {s}") for s in sites
        ]
        choices = list(queries)
        if choices:  # only while a coder's query is open on the record
            self.fields["answers"] = forms.TypedMultipleChoiceField(
                coerce=int,
                choices=choices,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                label="It answers the coder's query",
                help_text="Tick the query this addendum answers in words. A change to what a "
                "query asks about (the order, flush, time or dose it names) answers it by itself.",
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.has_error("flush_site") or self.has_error("flush_at"):
            return data  # already said beside the field (a time that cannot be read)
        site, at = data.get("flush_site"), data.get("flush_at")
        if site is not None and at is None:
            self.add_error("flush_at", "Say when the missed flush was given.")
        elif site is None and at is not None:
            self.add_error("flush_site", "Say which site the missed flush was given on.")
        return data


@dataclass(frozen=True)
class SignCounts:
    """What a signature covers, as the sign-off says it ("3 administrations and 1 flush"); its
    `token` goes with the confirmation, so a record changed since is not signed unseen."""

    administrations: int
    flushes: int

    @property
    def token(self) -> str:
        return f"{self.administrations}/{self.flushes}"

    def __str__(self) -> str:
        a, f = self.administrations, self.flushes
        return f"{a} administration{'' if a == 1 else 's'} and {f} flush{'' if f == 1 else 'es'}"


REASON_MISSING = "Resolve this item, or give a reason to sign anyway."
CONFIRM_MISSING = (
    "Tick the box to confirm what you are signing (after signing, changes need an addendum). "
    "Nothing was signed."
)


class SignForm(forms.Form):
    """One reason field per open error finding: signing needs each resolved or acknowledged;
    and the nurse's confirmation of what she signs (`confirm`, bedside finding 1), given for
    the record as she saw it (`seen`: `SignCounts.token`, drawn from `counts`)."""

    confirm = forms.BooleanField(
        label="I have checked what I am signing.",
        error_messages={"required": CONFIRM_MISSING},
    )
    seen = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        open_errors: Iterable[Finding] = (),
        counts: SignCounts | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.findings = list(open_errors)
        self.counts = counts
        for finding in self.findings:
            self.fields[f"ack_{finding_key(finding)}"] = forms.CharField(
                label=f"{finding.rule}: reason to sign anyway",
                required=False,
                max_length=2000,
                # Kept with the signature as why a red item was signed over (QA: "x" was taken).
                validators=[validate_reason_in_words],
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        seen = data.get("seen")
        if data.get("confirm") and seen and self.counts and seen != self.counts.token:
            # Another nurse charted since the panel was drawn: she confirms what it holds now.
            self.add_error(
                "confirm",
                f"The record changed since you looked: it now holds {self.counts}. Check it and "
                "tick the box again. Nothing was signed.",
            )
            self.data = self.data.copy()  # the box drawn empty again, to be ticked anew
            self.data.pop(self.add_prefix("confirm"), None)
        return data

    def reasons(self) -> dict[str, str]:
        return {
            name.removeprefix("ack_"): value
            for name, value in self.cleaned_data.items()
            if name.startswith("ack_") and value
        }

    def reasons_missing(self) -> list[str]:
        """The reason fields of open errors left blank (the service says the same: said with
        a missing confirmation at once)."""
        given = self.reasons()
        names = (f"ack_{finding_key(f)}" for f in self.findings if finding_key(f) not in given)
        return [name for name in names if not self.has_error(name)]

    def rows(self) -> list[tuple[Finding, forms.BoundField]]:
        return [(f, self[f"ack_{finding_key(f)}"]) for f in self.findings]
