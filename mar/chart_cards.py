"""The chart's administration cards, each kept drawn while what it shows is as it was (issue 19).

Drawing the cards (`mar/_administration.jinja` with its care panel, findings and forms, about
1.3 ms a card) was the largest part of a chart page's templates (benchmarks/README.md,
twenty-fourth session). A card shows only values the page reads at every load anyway: its
administration (every field, its version), drug, order (and a pharmacist's class decision on
it), pauses, rate changes, safety overrides and double check; its findings beside the dose as
the checklist gives them (rule, severity, field, words, where they jump, acknowledged or not)
and whether it has any (a card with none is folded); the sites its form offers; the
encounter's state (signed, when: "started without scanning" reads it), the time zone its times
are shown in and the visit's arrival (every time field's `data-arrived`: ZonedForm); whether the
user may chart or write an addendum, and whether the answer is about this card (its details
open). Those values themselves make the key a drawn card is kept under
(`card_key`), so a card drawn for other values is never shown.

What changes with every response is a slot in the drawn card, filled per response: the CSRF
token, the page's moment (`data-since`, the running badge's clock), the minutes run, the
minutes an infusion is past its expected end and whether that note shows (each a random
string, new with each process; its expected end itself is drawn, from what the card reads),
and the list of findings at the card's top
(mar/_adm_findings.jinja, drawn per response: another start overlapping this one changes that
list only, and in a round it is what changes most often). Nothing else on a card reads the
clock: its forms are unbound (a time left empty means "now" when sent, never prefilled). A card
with anything the nurse sent (a form bound with its errors and typed values, a conflict, an
addendum prefilled, a refused pause/resume/stop) is drawn afresh and never kept.

The orders' rows (`orders_draw`) and the access sites' chips with the "+ Add site" form
(`sites_draw`) are kept the same way, each under every value it shows.

The cache is `CACHES["board"]` (memory per process, as the board's cards and the worklist's
rows). tests/mar/test_chart_cards.py holds the chart page with cards kept to the page drawn with
nothing kept (and to the page drawn by the template's own include), after any sequence of
changes and as the clock moves on.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.core.cache import caches
from django.db import models
from django.forms import Form
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils import timezone
from jinja2 import Template
from markupsafe import Markup, escape

from mar.chart_context import Card
from mar.forms import SignForm, site_choice_label
from mar.jinja import jinja
from mar.lazy_forms import is_bound

CACHE = "board"
_VERSION = "21"  # bump when the card's templates, its forms or what it reads change
TEMPLATE = "mar/_administration.jinja"
KEEP = True  # tests draw the page without any card kept (the template's include) to compare

_SLOT = secrets.token_hex(16)
_TOKEN_SLOT = f"csrf-slot-{_SLOT}"
_ELAPSED_SLOT = f"elapsed-slot-{_SLOT}"
_FINDINGS_SLOT = f"findings-slot-{_SLOT}"
_OVERRUN_SLOT = f"overrun-slot-{_SLOT}"
_OVERRUN_HIDDEN_SLOT = f"overrun-hidden-slot-{_SLOT}"
FINDINGS = "mar/_adm_findings.jinja"
# The page's moment is drawn through the `date` filter: a moment no chart shows stands for it.
_NOW_SLOT = datetime(1111, 11, 11, 11, 11, 11, secrets.randbelow(10**6), tzinfo=UTC)


@lru_cache(maxsize=1)
def _moment() -> Template:
    """The page's moment as the card writes it (`data-since`)."""
    return jinja().from_string("{{ now|date('c') }}")


@lru_cache(maxsize=1)
def _number() -> Template:
    return jinja().from_string("{{ value }}")


def _fields(row: models.Model | None) -> tuple[Any, ...] | None:
    """Every stored field of a row (a superset of what a card shows of it)."""
    if row is None:
        return None
    return tuple(getattr(row, f.attname) for f in row._meta.concrete_fields)


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _care(info: Any) -> tuple[Any, ...] | None:
    """What the card's care panel shows (mar/_adm_care.jinja), its forms unbound."""
    if info is None:
        return None
    return (
        info.double_check,
        repr(info.rate_now),
        tuple(
            (*_fields(rc), _username(rc.by), _username(rc.amended_by), rc.amended_times)  # type: ignore[misc]
            for rc in info.rate_changes
        ),
        tuple((*_fields(o), _username(o.by)) for o in info.overrides),  # type: ignore[misc]
    )


def _shown(card: Card, context: dict[str, Any]) -> tuple[Any, ...]:
    """Every value the card's templates read (mar/_administration.jinja, mar/_adm_care.jinja,
    mar/_adm_findings.jinja, mar/_class_decision.jinja), but the slots."""
    adm = card.administration
    encounter = context["encounter"]
    order = adm.order
    decision = getattr(order, "class_decision", None) if order is not None else None
    care = context.get("care")
    rows = context.get("rows")
    return (
        _fields(adm),
        _fields(adm.drug),
        _fields(order),
        (_fields(decision), _username(decision.by)) if decision is not None else None,
        tuple(_fields(p) for p in adm.pauses.all()),
        _care(care.administrations.get(adm.pk)) if care is not None else None,
        # The list at its top is a slot (another start's overlap changes it, not the card);
        # those beside the dose are drawn in the card, and any finding unfolds its form.
        tuple(
            (
                item.finding.rule,
                str(item.finding.severity),
                item.finding.field,
                tuple(item.finding.administrations),
                item.text,
                item.anchor,
                item.acknowledgement is not None,
            )
            for item in card.dose_findings
        ),
        bool(card.findings),
        card.running,
        card.paused,
        card.elapsed_minutes is None,
        card.pause_at is not None,
        card.resume_at is not None,
        card.pause_add is not None,
        tuple((s.pk, str(s)) for s in rows.sites) if rows is not None else None,
        encounter.pk,
        encounter.status,
        encounter.signed_at,
        str(context.get("zone")),
        encounter.arrived_at,  # its time fields' `data-arrived` (ZonedForm)
        bool(context.get("can_chart")),
        bool(context.get("can_addendum")),
        context.get("card_pk") == adm.pk,
        tuple(context.get("pause_reason_choices") or ()),
    )


def card_key(card: Card, context: dict[str, Any]) -> str:
    digest = hashlib.sha256(repr(_shown(card, context)).encode()).hexdigest()
    return f"chart-card:{_VERSION}:{card.administration.pk}:{digest}"


def keepable(card: Card, bound: dict[str, Form]) -> bool:
    """Whether the card is drawn from what is stored only (nothing the nurse sent is on it)."""
    adm = card.administration
    sent = {f"a{adm.pk}", f"at-a{adm.pk}", f"pa{adm.pk}", f"rate-A{adm.pk}", f"remove-A{adm.pk}"}
    sent |= {f"volumes-A{adm.pk}"} | {f"p{pause.pk}" for pause, _form in card.pauses}
    rows = f"rate-A{adm.pk}-"  # a rate change's correction or removal (`rate_rows`)
    return not (
        sent & bound.keys()
        or any(key.startswith(rows) for key in bound)
        or card.conflict is not None
        or card.prefilled
        or card.at_form is not None
        or is_bound(card.form)
        or any(is_bound(form) for _pause, form in card.pauses)
        or is_bound(card.pause_at)
        or is_bound(card.resume_at)
        or is_bound(card.pause_add)
    )


def _draw(template: Template, values: dict[str, Any], card: Card) -> str:
    """The card with its slots: the minutes run, the moment and the token are in `values`."""
    drawn = copy.copy(card)
    if drawn.elapsed_minutes is not None:
        drawn.elapsed_minutes = _ELAPSED_SLOT  # type: ignore[assignment]
    drawn.overrun_slots = (_OVERRUN_SLOT, _OVERRUN_HIDDEN_SLOT)
    return template.render({**values, "card": drawn})


# A card's care panel (mar/_adm_care.jinja: the package, the scans, the double check, the overrides,
# the rate and volumes, the rate changes, and its forms "Rate change…", "Volumes…", "Charted in
# error…"), kept drawn under what it shows but the administration's version and stop, which it does
# not show: a stop changes the card (its state, its form's stop) but not the panel, whose forms
# carry the version only as hidden fields (a slot, filled for the card drawn). A card drawn afresh
# (a stop's answer, a load after a change) then builds none of the panel's forms.
CARE_TEMPLATE = "mar/_adm_care.jinja"
_VERSION_SLOT = f"version-slot-{_SLOT}"
_CARE_VERSIONS = re.compile(r'(name="(?:r|rm|rc|rcx)\d+-version" value=")(\d+)(")')


def _care_shown(card: Card, context: dict[str, Any]) -> tuple[Any, ...]:
    """Every value mar/_adm_care.jinja reads, but the administration's version (a slot)."""
    adm = card.administration
    encounter = context["encounter"]
    care = context.get("care")
    skip = {"version", "stop", "updated_at"}  # none of them shown
    return (
        tuple(getattr(adm, f.attname) for f in adm._meta.concrete_fields if f.name not in skip),
        _fields(adm.drug),
        adm.not_scanned_at_start,
        adm.start_before_check,
        _care(care.administrations.get(adm.pk)) if care is not None else None,
        encounter.pk,
        encounter.status,
        encounter.signed_at,
        str(context.get("zone")),
        encounter.arrived_at,  # its time fields' `data-arrived` (ZonedForm)
        bool(context.get("can_chart")),
        bool(context.get("can_addendum")),
    )


def _version_slotted(version: int) -> Callable[[re.Match[str]], str]:
    """A hidden version field of the panel's forms with the slot for `version`."""

    def slotted(found: re.Match[str]) -> str:
        if found.group(2) != str(version):
            return found.group(0)
        return f"{found.group(1)}{_VERSION_SLOT}{found.group(3)}"

    return slotted


def _care_panels(
    cards: list[Card], values: dict[str, Any], context: dict[str, Any]
) -> dict[int, Markup]:
    """Each card's care panel, kept or drawn now and kept, its version filled in (drawn inside
    the timezone of the cards)."""
    care = context.get("care")
    if care is None:
        return {}
    cards = [card for card in cards if card.administration.pk in care.administrations]
    keys = {}
    for card in cards:
        digest = hashlib.sha256(repr(_care_shown(card, context)).encode()).hexdigest()
        keys[card.administration.pk] = f"chart-care:{_VERSION}:{card.administration.pk}:{digest}"
    cache = caches[CACHE]
    found = cache.get_many(list(keys.values()))
    missed = {}
    template = jinja().get_template(CARE_TEMPLATE)
    for card in cards:
        key = keys[card.administration.pk]
        if key not in found:
            adm = card.administration
            html = template.render({**values, "card": card, "adm": adm})
            # each hidden version of the panel's forms (the administration's) made the slot
            missed[key] = found[key] = _CARE_VERSIONS.sub(_version_slotted(adm.version), html)
    if missed:
        cache.set_many(missed)
    return {
        card.administration.pk: Markup(
            found[keys[card.administration.pk]].replace(
                _VERSION_SLOT, str(card.administration.version)
            )
        )
        for card in cards
    }


# A card's "Add a pause…" (mar/_pause_add.jinja: its two times and its reason, unbound), kept
# drawn as the care panel is, under what it shows but the administration's version (its hidden
# field, a slot): the administration and the encounter (its address, its fields' prefix), the
# encounter's arrival (its time fields' `data-arrived`) and time zone. A card changes at every
# stop; its "Add a pause…" does not: a stop's card and the load after it build none.
PAUSE_ADD_TEMPLATE = "mar/_pause_add.jinja"
_PAUSE_ADD_VERSION = re.compile(r'(name="pa\d+-version" value=")(\d+)(")')


def _pause_add_shown(card: Card, context: dict[str, Any]) -> tuple[Any, ...]:
    """Every value mar/_pause_add.jinja reads of an unbound form, but the version (a slot)."""
    encounter = context["encounter"]
    return (
        card.administration.pk,
        encounter.pk,
        encounter.arrived_at,
        str(encounter.zone),  # its fields' (ZonedForm)
        str(context.get("zone")),
    )


def _pause_adds(
    cards: list[Card], values: dict[str, Any], context: dict[str, Any]
) -> dict[int, Markup]:
    """Each card's "Add a pause…" it draws (may chart, not sent by the nurse), kept or drawn now
    and kept, its version filled in (drawn inside the timezone of the cards)."""
    if not context.get("can_chart"):
        return {}
    cards = [c for c in cards if c.pause_add is not None and not is_bound(c.pause_add)]
    keys = {}
    for card in cards:
        digest = hashlib.sha256(repr(_pause_add_shown(card, context)).encode()).hexdigest()
        keys[card.administration.pk] = (
            f"chart-pause-add:{_VERSION}:{card.administration.pk}:{digest}"
        )
    if not keys:
        return {}
    cache = caches[CACHE]
    found = cache.get_many(list(keys.values()))
    missed = {}
    for card in cards:
        key = keys[card.administration.pk]
        if key not in found:
            adm = card.administration
            html = (
                jinja()
                .get_template(PAUSE_ADD_TEMPLATE)
                .render({**values, "card": card, "adm": adm, "f": card.pause_add})
            )
            missed[key] = found[key] = _PAUSE_ADD_VERSION.sub(_version_slotted(adm.version), html)
    if missed:
        cache.set_many(missed)
    return {
        card.administration.pk: Markup(
            found[keys[card.administration.pk]].replace(
                _VERSION_SLOT, str(card.administration.version)
            )
        )
        for card in cards
    }


def care_panels_draw(
    request: HttpRequest, context: dict[str, Any], *, bound: dict[str, Form] | None = None
) -> None:
    """The care panel and "Add a pause…" of each card of `context` drawn by the template itself
    (an answer's card, drawn for this answer only), kept or drawn now and kept, into
    `card.care_html` and `card.pause_add_html`; a card with anything the nurse sent is drawn
    wholly afresh."""
    if not KEEP:
        return
    cards = [card for card in context.get("cards", ()) if keepable(card, bound or {})]
    if not cards:
        return
    values = {**context, "csrf_token": _TOKEN_SLOT}
    with timezone.override(context.get("zone")):
        panels = _care_panels(cards, values, context)
        adds = _pause_adds(cards, values, context)
    token = str(get_token(request))
    for card in cards:
        if card.administration.pk in panels:
            card.care_html = Markup(panels[card.administration.pk].replace(_TOKEN_SLOT, token))
        if card.administration.pk in adds:
            card.pause_add_html = Markup(adds[card.administration.pk].replace(_TOKEN_SLOT, token))


def cards_draw(
    request: HttpRequest,
    context: dict[str, Any],
    *,
    bound: dict[str, Form] | None = None,
) -> None:
    """Each card of the chart's `context` (with its care and permissions) drawn into `card.html`,
    kept or drawn now and kept, its slots filled for this response; the page's templates write
    `card.html` where set, and draw the others (a card with what the nurse sent) themselves."""
    if not KEEP:
        return
    bound = bound or {}
    cards = [card for card in context.get("cards", ()) if keepable(card, bound)]
    if not cards:
        return
    template = jinja().get_template(TEMPLATE)
    zone = context.get("zone")
    values = {
        **context,
        "csrf_token": _TOKEN_SLOT,
        "now": _NOW_SLOT,
        "findings_slot": _FINDINGS_SLOT,
    }
    findings = jinja().get_template(FINDINGS)
    cache = caches[CACHE]
    keys = {card.administration.pk: card_key(card, context) for card in cards}
    with timezone.override(zone):
        found = cache.get_many(list(keys.values()))
        missed = {}
        drawing = [card for card in cards if keys[card.administration.pk] not in found]
        panels = _care_panels(drawing, values, context) if drawing else {}
        adds = _pause_adds(drawing, values, context) if drawing else {}
        for card in drawing:
            key = keys[card.administration.pk]
            card.care_html = panels.get(card.administration.pk)
            card.pause_add_html = adds.get(card.administration.pk)
            missed[key] = found[key] = _draw(template, values, card)
            card.care_html = card.pause_add_html = None
        if missed:
            cache.set_many(missed)
        now_slot = _moment().render(now=_NOW_SLOT)
        now_text = _moment().render(now=context["now"])
        lists = {
            card.administration.pk: findings.render({"card": card, "findings_oob": False})
            for card in cards
        }
    token = str(get_token(request))
    for card in cards:
        html = found[keys[card.administration.pk]].replace(_TOKEN_SLOT, token)
        html = html.replace(now_slot, now_text)
        html = html.replace(_FINDINGS_SLOT, lists[card.administration.pk])
        if card.elapsed_minutes is not None:
            html = html.replace(_ELAPSED_SLOT, _number().render(value=card.elapsed_minutes))
        if card.expected_end is not None:
            html = html.replace(_OVERRUN_SLOT, _number().render(value=card.overrun_minutes))
            html = html.replace(_OVERRUN_HIDDEN_SLOT, card.overrun_hidden)
        card.html = Markup(html)


# The orders' rows (mar/_order.jinja: the order, its pharmacist's verification or return, its
# class decision, "not given", and the Start form with its safety checks), kept drawn as the
# cards are, while every value a row shows is as it was: a start changes its own order's row
# only (it moves to the orders given), and the other rows of the list are drawn again at every
# chart load otherwise. Its slots: the CSRF token and the Start form's key (new with each drawn
# form: a double tap starts one administration, and a row drawn for another load must never
# carry an earlier key).
ORDER_TEMPLATE = "mar/_order.jinja"
_KEY_SLOT = f"request-key-slot-{_SLOT}"


def _order_shown(order: Any, given: bool, context: dict[str, Any]) -> tuple[Any, ...]:
    """Every value the order's row reads (mar/_order.jinja, mar/_order_checks.jinja,
    pharmacy/_verified.html, mar/_class_decision.jinja), but the slots; read without building
    the row's forms (mar/lazy_forms.py): what they start with is the order's own fields (its
    method, revision, "not given" and reason), the scan usable for it and the sites offered."""
    encounter = context["encounter"]
    decision = getattr(order, "class_decision", None)
    care = context.get("care")
    info = care.orders.get(order.pk) if care is not None else None
    scan = info.get("scan") if info else None
    rows = context.get("rows")
    return (
        _fields(order),
        _fields(order.drug),
        (_fields(decision), _username(decision.by)) if decision is not None else None,
        getattr(order, "duplicate_note", ""),
        getattr(order, "duplicated_note", ""),
        _username(order.disposition_by) if order.disposition_by_id else None,
        _username(order.verified_by) if order.verified_by_id else None,
        _username(order.returned_by) if order.returned_by_id else None,
        given,
        tuple((s.pk, site_choice_label(s)) for s in rows.sites if s.discontinued_at is None)
        if rows is not None
        else None,
        (
            tuple((k, v) for k, v in info.items() if k not in ("scan", "checks")),
            (_fields(scan), _fields(scan.drug), scan.ndc_display, bool(scan.overrides.all()))
            if scan is not None
            else None,
        )
        if info is not None
        else None,
        encounter.pk,
        encounter.status,
        str(context.get("zone")),
        encounter.arrived_at,  # the Start form's time field's `data-arrived` (ZonedForm)
        bool(context.get("can_chart")),
        bool(context.get("can_addendum")),
    )


def order_key(order: Any, given: bool, context: dict[str, Any]) -> str:
    shown = _order_shown(order, given, context)
    digest = hashlib.sha256(repr(shown).encode()).hexdigest()
    return f"chart-order:{_VERSION}:{order.pk}:{digest}"


def _draw_order(
    template: Template, values: dict[str, Any], order: Any, given: bool, form: Form, dform: Any
) -> str:
    """The order's row with its slots: the token is in `values`, the Start form's key put in."""
    html = template.render({**values, "order": order, "given": given, "form": form, "dform": dform})
    return html.replace(form.initial["request_key"], _KEY_SLOT)


# The row's opening tag as mar/_order.jinja draws it with no `order_oob` (tests pin it).
_ORDER_ROW_OPEN = 'data-testid="order-row">'


def orders_draw(request: HttpRequest, context: dict[str, Any], *, morph: int | None = None) -> None:
    """Each row of the chart's orders list kept or drawn now and kept, into
    `context["order_html"]` by the order's pk; a row with anything the nurse sent (its Start
    form, its safety checks or its "not given" form bound with errors) is drawn by the page's
    template itself, and never kept. `morph`: the order whose row a start's answer swaps in
    place (given before), sent with `hx-swap-oob="morph"` as mar/_order_moved.jinja draws it."""
    if not KEEP:
        return
    care = context.get("care")
    rows = []
    for order, given, form, dform in context.get("orders", ()):
        info = care.orders.get(order.pk) if care is not None else None
        checks = info.get("checks") if info else None
        if is_bound(form) or is_bound(dform) or is_bound(checks):
            continue
        rows.append((order, given, form, dform))
    if not rows:
        return
    template = jinja().get_template(ORDER_TEMPLATE)
    cache = caches[CACHE]
    keys = {order.pk: order_key(order, given, context) for order, given, _form, _dform in rows}
    found = cache.get_many(list(keys.values()))
    missed = {}
    values = {**context, "csrf_token": _TOKEN_SLOT}
    with timezone.override(context.get("zone")):
        for order, given, form, dform in rows:
            key = keys[order.pk]
            if key not in found:
                missed[key] = found[key] = _draw_order(template, values, order, given, form, dform)
    if missed:
        cache.set_many(missed)
    token = str(get_token(request))
    drawn = {
        order.pk: found[keys[order.pk]]
        .replace(_TOKEN_SLOT, token)
        .replace(_KEY_SLOT, uuid.uuid4().hex)  # as a Start form drawn now would have
        for order, _given, _form, _dform in rows
    }
    if morph in drawn:
        drawn[morph] = drawn[morph].replace(
            _ORDER_ROW_OPEN, f'{_ORDER_ROW_OPEN[:-1]} hx-swap-oob="morph">', 1
        )
    context["order_html"] = {pk: Markup(html) for pk, html in drawn.items()}


# The parts of an access site's chip that a flush does not change (mar/_site_chip.jinja): its care
# (device, assessments and their forms: mar/_site_care.jinja), its one-tap actions
# (mar/_site_actions.jinja: what they say changes with what runs on the site) and its details form
# (mar/_site_details.jinja), and the "+ Add site" form, kept drawn as the cards are, each while
# every value it shows is as it was; the chip's heading and its flushes, which each flush changes,
# are drawn at every load. Their forms start from the site's own fields and the encounter's time
# zone only (a time left empty means "now" when sent, never prefilled), so nothing on them reads
# the clock; their slot is the CSRF token. A part with a form the nurse sent (bound, with its
# errors and what she typed) is drawn afresh and never kept.
SITE_PARTS = {
    "care": "mar/_site_care.jinja",
    "actions": "mar/_site_actions.jinja",
    "details": "mar/_site_details.jinja",
}
SITE_ADD_TEMPLATE = "mar/_site_add.jinja"


def _site_part_shown(part: str, row: Any, context: dict[str, Any]) -> tuple[Any, ...] | None:
    """Every value the site's part reads, but the slot; None when the part is not kept (a form
    of it bound). Read without building its forms (mar/lazy_forms.py)."""
    site = row.site
    encounter = context["encounter"]
    common = (
        _fields(site),
        encounter.pk,
        encounter.status,
        str(context.get("zone")),
        encounter.arrived_at,  # its forms' time fields' `data-arrived` (ZonedForm)
        bool(context.get("can_chart")),
        bool(context.get("can_addendum")),
    )
    if part == "care":
        care = context.get("care")
        info = care.sites.get(site.pk) if care is not None else None
        if info is None:
            return (*common, None)
        if is_bound(info["details_form"]) or is_bound(info["condition_form"]):
            return None
        return (*common, tuple((*_fields(a), _username(a.by)) for a in info["assessments"]))  # type: ignore[misc]
    if part == "actions":
        if any(is_bound(f) for f in (row.flush_form, row.assess_form, row.discontinue_form)):
            return None
        return (*common, tuple((adm.pk, adm.drug.name) for adm in row.running))
    if is_bound(row.bound_form):  # "details"
        return None
    return common


def _site_add_key(context: dict[str, Any]) -> str | None:
    """The "+ Add site" form's key; None when it is not kept (bound: what the nurse sent)."""
    form = context.get("site_form")
    if form is None or is_bound(form):
        return None
    shown = (
        context["encounter"].pk,
        bool(context.get("sites")),
        bool(context.get("site_asks_reason")),
        str(context.get("zone")),
        context["encounter"].arrived_at,  # its time field's `data-arrived` (ZonedForm)
        bool(context.get("can_chart")),
    )
    return f"chart-site-add:{_VERSION}:{hashlib.sha256(repr(shown).encode()).hexdigest()}"


# The opening tag of a chip's actions as mar/_site_actions.jinja draws it, and sent alone out of
# band (`part_oob`: the answer to a flush or a start).
_ACTIONS_OPEN = re.compile(r'(<div id="site-\d+-actions")>')


def sites_draw(
    request: HttpRequest,
    context: dict[str, Any],
    *,
    parts: tuple[str, ...] = tuple(SITE_PARTS),
    part_oob: bool = False,
) -> None:
    """The parts of each site chip of the chart's `context` a flush does not change, kept or
    drawn now and kept, into `row.kept`, and the "+ Add site" form into
    `context["site_add_html"]`; a part with anything the nurse sent is drawn by the page's
    template itself, and never kept. `parts`: only those (the answer to a flush or a start
    sends its chip's actions alone); `part_oob`: sent alone, out of band (mar/_site_actions.jinja
    with `part_oob`: its opening tag says so), the kept markup being the chip's own."""
    if not KEEP:
        return
    keys: dict[tuple[int, str], str] = {}
    for row in context.get("sites") or ():
        for part in parts:
            shown = _site_part_shown(part, row, context)
            if shown is not None:
                digest = hashlib.sha256(repr(shown).encode()).hexdigest()
                keys[row.site.pk, part] = f"chart-site-{part}:{_VERSION}:{row.site.pk}:{digest}"
    add_key = _site_add_key(context)
    if not keys and add_key is None:
        return
    cache = caches[CACHE]
    found = cache.get_many(list(keys.values()) + ([add_key] if add_key else []))
    missed = {}
    values = {**context, "csrf_token": _TOKEN_SLOT}
    rows = {row.site.pk: row for row in context.get("sites") or ()}
    with timezone.override(context.get("zone")):
        for (pk, part), key in keys.items():
            if key not in found:
                row = rows[pk]
                missed[key] = found[key] = (
                    jinja()
                    .get_template(SITE_PARTS[part])
                    .render(
                        {
                            **values,
                            "row": row,
                            "site": row.site,
                            "flush_form": row.flush_form,
                        }
                    )
                )
        if add_key is not None and add_key not in found:
            missed[add_key] = found[add_key] = (
                jinja().get_template(SITE_ADD_TEMPLATE).render(values)
            )
    if missed:
        cache.set_many(missed)
    token = str(get_token(request))
    for (pk, part), key in keys.items():
        html = found[key].replace(_TOKEN_SLOT, token)
        if part_oob and part == "actions":
            html = _ACTIONS_OPEN.sub(r'\1 hx-swap-oob="morph">', html, count=1)
        rows[pk].kept[part] = Markup(html)
    if add_key is not None:
        context["site_add_html"] = Markup(found[add_key].replace(_TOKEN_SLOT, token))


# The sign-off panel (mar/_sign.jinja on a record in progress), drawn by every chart page and
# every answer to a change (the checklist's refresh too), kept drawn as the cards are while every
# value it shows is as it was: the open errors (each with its reason field), whether it says what
# a signature covers, whether the record can be read, whether anything still runs, the
# calculated doses given without their measures, the warnings still listed, whether the user
# may chart. Its slots: the CSRF token, what a signature covers (`sign_counts`: its words and
# its token, which every start and flush changes) and the running notes (what still runs, which
# every start and stop changes); `oob` (sent out of band) is its opening tag,
# so both are kept (`SignKept`). A sign form the nurse sent (bound: her reasons, her errors) is
# drawn afresh and never kept.
SIGN_TEMPLATE = "mar/_sign.jinja"
_SIGN_OPEN = '<section id="sign" class="sign-panel mb-3" aria-labelledby="sign-heading">'


_COUNTS_SLOT = f"counts-slot-{_SLOT}"
_SEEN_SLOT = f"seen-slot-{_SLOT}"
_NOTES_SLOT = f"running-notes-slot-{_SLOT}"


class _NotesSlot:
    """The checklist as the kept panel draws it: its running notes (what still runs, each
    start's and stop's change) are a slot, filled per response; the rest is the checklist's."""

    def __init__(self, checklist: Any) -> None:
        self._checklist = checklist

    @property
    def running_notes(self) -> list[str]:
        return [_NOTES_SLOT]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._checklist, name)


@lru_cache(maxsize=1)
def _notes() -> Template:
    """The running notes as mar/_sign.jinja writes them, each an item of its list."""
    return jinja().from_string("{% for note in notes %}<li>{{ note }}</li>{% endfor %}")


class _CountsSlot:
    """What a signature covers (`SignCounts`) as the kept panel draws it: its words and its
    token are slots, filled per response (every start and flush changes them)."""

    token = _SEEN_SLOT

    def __str__(self) -> str:
        return _COUNTS_SLOT


class SignKept:
    """The sign-off panel drawn, as the page shows it (`plain`) and sent out of band (`oob`)."""

    __slots__ = ("oob", "plain")

    def __init__(self, plain: Markup, oob: Markup) -> None:
        self.plain = plain
        self.oob = oob

    def __bool__(self) -> bool:
        return True


def _sign_shown(context: dict[str, Any]) -> tuple[Any, ...] | None:
    """Every value mar/_sign.jinja reads on a record in progress, but the slot; None when the
    panel is not kept (a signed record, a sign form bound, or no counts given to key it by)."""
    encounter = context["encounter"]
    form = context.get("sign_form")
    checklist = context.get("checklist")
    if encounter.is_signed or form is None or is_bound(form) or checklist is None:
        return None
    if "sign_counts" not in context:
        return None
    counts = context["sign_counts"]
    return (
        encounter.pk,
        bool(context.get("can_chart")),
        # its own (the checklist's refresh has no `zone`): it writes no time but in the notes
        str(encounter.zone),
        counts is not None,  # what it covers is a slot: every start and flush changes it
        tuple(
            (f.rule, str(f.severity), tuple(f.administrations), f.field, f.message)
            for f in checklist.open_errors
        ),
        checklist.record_error,
        bool(checklist.running),  # what runs (its notes) is a slot: every start and stop
        tuple((item.anchor, item.text) for item in checklist.open_warnings),
        tuple(
            (item.order.pk, item.order.drug.name, item.note)
            for item in context.get("sign_dose_notes") or ()
        ),
    )


def sign_draw(request: HttpRequest, context: dict[str, Any]) -> None:
    """The sign-off panel of `context` kept or drawn now and kept, into `context["sign_html"]`
    (mar/_sign.jinja writes it where set, as the page shows it or out of band)."""
    if not KEEP:
        return
    shown = _sign_shown(context)
    if shown is None:
        return
    key = f"chart-sign:{_VERSION}:{hashlib.sha256(repr(shown).encode()).hexdigest()}"
    cache = caches[CACHE]
    html = cache.get(key)
    if html is None:
        template = jinja().get_template(SIGN_TEMPLATE)
        counts = context["sign_counts"]
        form = SignForm(
            open_errors=context["checklist"].open_errors,
            counts=_CountsSlot() if counts is not None else None,  # type: ignore[arg-type]
        )
        values = {
            **context,
            "csrf_token": _TOKEN_SLOT,
            "oob": False,
            "sign_html": None,
            "sign_form": form,
            "checklist": _NotesSlot(context["checklist"]),
        }
        mark = Markup(f"sign-slot-{_SLOT}")
        with timezone.override(context["encounter"].zone):
            html = _inner(template, values, "sign_html", SignKept(mark, mark), mark)
        cache.set(key, html)
    html = html.replace(_TOKEN_SLOT, str(get_token(request)))
    html = html.replace(
        f"<li>{_NOTES_SLOT}</li>", _notes().render(notes=context["checklist"].running_notes)
    )
    if (counts := context["sign_counts"]) is not None:
        html = html.replace(_COUNTS_SLOT, escape(str(counts))).replace(
            _SEEN_SLOT, escape(counts.token)
        )
    oob = html.replace(_SIGN_OPEN, f'{_SIGN_OPEN[:-1]} hx-swap-oob="morph">', 1)
    context["sign_html"] = SignKept(Markup(html), Markup(oob))


def _inner(template: Template, values: dict[str, Any], name: str, kept: Any, mark: str) -> str:
    """`template` drawn with `values`, without what it writes around its kept branch (`name`
    set to `kept`, which writes `mark`): what the page writes where that branch is taken."""
    drawn = template.render(values)
    before, after = template.render({**values, name: kept}).split(mark)
    assert drawn.startswith(before) and drawn.endswith(after)
    return drawn[len(before) : len(drawn) - len(after)]


# The visit's times (mar/_encounter_times.jinja: arrival and observation, and their form), drawn by
# every chart page, kept as the cards are while what they show is as it was: the encounter's two
# times, its state (signed: the form asks an addendum's reason), the zone and the user's
# permissions. Its form starts from those times only (`charting.encounter_times`, and their
# snapshot for the merge); its slot is the CSRF token. A times form the nurse sent is drawn afresh.
TIMES_TEMPLATE = "mar/_encounter_times.jinja"


def times_draw(request: HttpRequest, context: dict[str, Any]) -> None:
    """The visit's times panel kept or drawn now and kept, into `context["times_html"]`."""
    form = context.get("times_form")
    if not KEEP or form is None or is_bound(form):
        return
    encounter = context["encounter"]
    shown = (
        encounter.pk,
        encounter.arrived_at,
        encounter.observation_at,
        encounter.status,
        encounter.signed_at,
        str(context.get("zone")),
        bool(context.get("can_chart")),
        bool(context.get("can_addendum")),
    )
    key = f"chart-times:{_VERSION}:{hashlib.sha256(repr(shown).encode()).hexdigest()}"
    cache = caches[CACHE]
    html = cache.get(key)
    if html is None:
        mark = Markup(f"times-slot-{_SLOT}")
        values = {**context, "csrf_token": _TOKEN_SLOT, "times_html": None}
        with timezone.override(context.get("zone")):
            html = _inner(jinja().get_template(TIMES_TEMPLATE), values, "times_html", mark, mark)
        cache.set(key, html)
    context["times_html"] = Markup(html.replace(_TOKEN_SLOT, str(get_token(request))))


# The chart's scan field (mar/_scan.jinja: an unbound one-field form, the same for every chart)
# and the measures' form (mar/_measure_form.jinja: its fields read the encounter's time zone; its
# slot the CSRF token), kept drawn as the cards are. Either sent back by the nurse (bound, with
# her errors) is drawn afresh.
MEASURE_TEMPLATE = "mar/_measure_form.jinja"


@lru_cache(maxsize=1)
def _scan_field() -> Template:
    return jinja().from_string("{{ form.code|as_field }}")


def care_draw(request: HttpRequest, context: dict[str, Any]) -> None:
    """The scan field and the measures' form of the chart's `care`, kept or drawn now and kept,
    into `care.scan_field_html` and `care.measure_html`."""
    care = context.get("care")
    if not KEEP or care is None:
        return
    cache = caches[CACHE]
    if care.scan_form is not None and not is_bound(care.scan_form):
        key = f"chart-scan-field:{_VERSION}"
        html = cache.get(key)
        if html is None:
            html = _scan_field().render(form=care.scan_form)
            cache.set(key, html)
        care.scan_field_html = Markup(html)
    if care.measure_form is not None and not is_bound(care.measure_form):
        encounter = context["encounter"]
        # its time field's `data-arrived` (ZonedForm) reads the arrival
        shown = (encounter.pk, str(context.get("zone")), encounter.arrived_at)
        key = f"chart-measure-form:{_VERSION}:{hashlib.sha256(repr(shown).encode()).hexdigest()}"
        html = cache.get(key)
        if html is None:
            with timezone.override(context.get("zone")):
                html = (
                    jinja()
                    .get_template(MEASURE_TEMPLATE)
                    .render({**context, "csrf_token": _TOKEN_SLOT})
                )
            cache.set(key, html)
        care.measure_html = Markup(html.replace(_TOKEN_SLOT, str(get_token(request))))
