"""The sign-off panel, and a site chip's actions in the answers to a flush and a start, kept drawn
while what they show is unchanged (mar/chart_cards.py `sign_draw`, `sites_draw(parts=...)`,
issue 19, thirty-first session).

The sign-off is drawn by every chart page and every answer to a change (a card's, a flush's, a
start's, the checklist's refresh); a chip's actions are sent alone, out of band, by the answers to
a flush and a start. What is sent kept must be, byte for byte but the CSRF token and the Start
forms' keys, what is drawn afresh with nothing kept (`KEEP` off), as the page shows it and out of
band, for a nurse and for a coder (who may not sign), with open errors, with something running,
and after each change; a page or an answer whose sign-off (or actions) is kept builds no form for
it. The sign-off's running notes and a card's care panel's version are slots too: a stop's
answer finds both kept (its card drawn with the panel kept, identical to the card drawn afresh).
The chart page itself, sign-off included, is held to the page drawn afresh by the cards',
rows' and chips' machines (tests/mar/test_chart_cards.py and the files built on it).
"""

import re
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone

from mar import chart_cards, chart_context, roles
from mar import views as mar_views
from mar.chart_cards import CACHE
from mar.forms import SignForm, SiteAssessForm, SiteDiscontinueForm
from mar.models import DrugClass, Encounter
from tests import factories

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
OOB = ' hx-swap-oob="morph"'


def _plain(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'value="[0-9a-f]{32}" id="id_o\d+-request_key"', "", html)


def _sign(html: str) -> str:
    """The sign-off panel as drawn (its `<section>` holds no other section)."""
    found = re.search(r'<section id="sign".*?</section>', html, re.S)
    assert found is not None, "no sign-off drawn"
    return found.group(0)


def _actions(html: str, site_pk: int) -> str:
    """A chip's actions as drawn: its opening tag to the `</div>` that closes it."""
    start = html.index(f'<div id="site-{site_pk}-actions"')
    depth = 0
    for tag in re.finditer(r"<div\b|</div>", html[start:]):
        depth += 1 if tag.group(0) == "<div" else -1
        if depth == 0:
            return html[start : start + tag.end()]
    raise AssertionError(f"the actions of site {site_pk} are not closed")


def _oob(part: str) -> str:
    """A part as the page draws it, sent out of band: its opening tag says so."""
    head, rest = part.split(">", 1)
    return f"{head}{OOB}>{rest}"


def _fresh_page(client, encounter: Encounter) -> str:
    with mock.patch.object(chart_cards, "KEEP", False):
        return _plain(client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())


def _checklist(client, encounter: Encounter) -> str:
    url = reverse("mar:encounter_checklist", args=[encounter.pk])
    response = client.get(url, **HX)
    assert response.status_code == 200
    return _plain(response.content.decode())


def _visit() -> tuple[Encounter, object, list]:
    now = timezone.now().replace(second=0, microsecond=0)
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    hydration = factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION)
    orders = [
        factories.order_create(encounter, hydration, indication="E86.0", dose="1000 mL"),
        factories.order_create(encounter, factories.drug_get(f"testdrug-{uuid.uuid4().hex[:8]}")),
    ]
    return encounter, site, orders


def _start(client, encounter: Encounter, order, site) -> str:
    """Started five minutes ago (a stop at "now" is then after it)."""
    at = (timezone.now() - timedelta(minutes=5)).astimezone(encounter.zone)
    data = {
        f"o{order.pk}-method": "infusion",
        f"o{order.pk}-at": at.strftime("%Y-%m-%d %H:%M"),
        f"o{order.pk}-site": site.pk,
    }
    response = client.post(reverse("mar:order_start", args=[encounter.pk, order.pk]), data, **HX)
    assert response.status_code == 200 and response["HX-Reswap"] == "none"
    return _plain(response.content.decode())


def _flush(client, encounter: Encounter, site) -> str:
    again = {f"flush{site.pk}-again": "1"}  # flushes in one minute here, as meant
    url = reverse("mar:site_flush", args=[encounter.pk, site.pk])
    response = client.post(url, again, **HX)
    assert response.status_code == 200 and response["HX-Reswap"] == "none"
    return _plain(response.content.decode())


def _stop(client, encounter: Encounter, volume: str = "") -> str:
    adm = encounter.administrations.filter(stop__isnull=True).order_by("pk").first()
    assert adm is not None
    data = {f"at{adm.pk}-at": "", f"at{adm.pk}-version": adm.version}
    if volume:
        data[f"at{adm.pk}-volume_infused_ml"] = volume
    url = reverse("mar:adm_stop", args=[encounter.pk, adm.pk])
    response = client.post(url, data, **HX)
    assert response.status_code == 200
    return _plain(response.content.decode())


def _kept_and_fresh_checklists_agree(client, encounter: Encounter) -> None:
    with mock.patch.object(chart_cards, "KEEP", False):
        fresh = _sign(_checklist(client, encounter))
    assert f'aria-labelledby="sign-heading"{OOB}>' in fresh  # sent out of band
    assert _sign(_checklist(client, encounter)) == fresh  # drawn now and kept
    assert _sign(_checklist(client, encounter)) == fresh  # from the cache


def test_every_answer_sends_the_sign_off_and_actions_the_page_draws_afresh(client_as) -> None:
    caches[CACHE].clear()
    encounter, site, (first, second) = _visit()
    nurse, coder = client_as(roles.NURSE), client_as(roles.CODER)
    url = reverse("mar:encounter", args=[encounter.pk])
    for client in (nurse, coder):
        _kept_and_fresh_checklists_agree(client, encounter)
    assert nurse.get(url).status_code == 200  # kept for the page

    steps = [
        ("start", lambda: _start(nurse, encounter, first, site)),
        ("flush", lambda: _flush(nurse, encounter, site)),
        ("start", lambda: _start(nurse, encounter, second, site)),  # overlaps: an open error
        ("flush", lambda: _flush(nurse, encounter, site)),
        ("stop", lambda: _stop(nurse, encounter)),
        ("flush", lambda: _flush(nurse, encounter, site)),
        ("stop", lambda: _stop(nurse, encounter)),
    ]
    for name, step in steps:
        answer = step()
        page = _fresh_page(nurse, encounter)
        assert _sign(answer) == _oob(_sign(page)), name
        if name in ("start", "flush"):  # the chip's actions, alone, out of band
            assert _actions(answer, site.pk) == _oob(_actions(page, site.pk)), name
        for client in (nurse, coder):
            _kept_and_fresh_checklists_agree(client, encounter)
        # the page's own sign-off, kept, is the one drawn afresh (the rest of the page is held
        # to the page drawn afresh by the cards' machine, its clock frozen)
        assert _sign(_plain(nurse.get(url).content.decode())) == _sign(page), name
    assert "sign-running-note" not in _sign(page)  # what ran was stopped, said so


def test_a_kept_sign_off_and_chip_actions_build_none_of_their_forms(client_as) -> None:
    caches[CACHE].clear()
    encounter, site, (first, _second) = _visit()
    nurse = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[encounter.pk])
    nurse.get(url)
    with mock.patch.object(chart_context, "SignForm", wraps=SignForm) as sign:
        nurse.get(url)
    assert sign.call_count == 0  # the page loaded again: the sign-off is the kept one
    _checklist(nurse, encounter)
    with mock.patch.object(mar_views, "SignForm", wraps=SignForm) as sign:
        _checklist(nurse, encounter)
    assert sign.call_count == 0  # nor the checklist's refresh, polled again

    _start(nurse, encounter, first, site)  # draws its chip's actions (what runs changed), kept
    nurse.get(url)
    from mar import chart_context as context_module

    with (
        mock.patch.object(context_module, "SignForm", wraps=SignForm) as sign,
        mock.patch.object(context_module, "SiteAssessForm", wraps=SiteAssessForm) as assess,
        mock.patch.object(context_module, "SiteDiscontinueForm", wraps=SiteDiscontinueForm) as off,
    ):
        first_flush = _flush(nurse, encounter, site)
        second = _flush(nurse, encounter, site)
    assert (assess.call_count, off.call_count) == (0, 0)  # the actions the start kept
    # what a signature covers is a slot: a flush changes only that, and finds the panel kept
    assert sign.call_count == 0
    assert "1 administration and 1 flush" in first_flush
    assert "1 administration and 2 flushes" in second and 'value="1/2"' in second
    assert f'<div id="site-{site.pk}-actions"{OOB}>' in second
    with mock.patch.object(mar_views, "SignForm", wraps=SignForm) as sign:
        _checklist(nurse, encounter)
    assert sign.call_count == 0  # the checklist's refresh finds the panel the flush kept


def _running_notes(html: str) -> str:
    found = re.search(r'data-testid="sign-running-note">.*?</ul>', _sign(html), re.S)
    return found.group(0) if found else ""


def test_a_stop_finds_the_sign_off_kept_its_running_notes_filled_in(client_as) -> None:
    """What still runs (the running notes) is a slot, filled per response: a stop that leaves
    the open errors and the warnings as they were (and something running) changes only that
    (and what a signature covers), so it finds the panel drawn before, its notes its own."""
    caches[CACHE].clear()
    encounter, site, (first, second) = _visit()
    nurse = client_as(roles.NURSE)
    _start(nurse, encounter, first, site)
    both = _start(nurse, encounter, second, site)  # both run: this panel drawn and kept
    assert first.drug.name in _running_notes(both) and second.drug.name in _running_notes(both)
    with (
        mock.patch.object(chart_context, "SignForm", wraps=SignForm) as sign,
        mock.patch.object(chart_cards, "SignForm", wraps=SignForm) as drawn,
    ):
        stopped = _stop(nurse, encounter)  # the first stopped, the second still runs
    assert (sign.call_count, drawn.call_count) == (0, 0)  # the panel kept at the start
    notes = _running_notes(stopped)
    assert second.drug.name in notes and first.drug.name not in notes  # this answer's notes
    assert _sign(stopped) == _oob(_sign(_fresh_page(nurse, encounter)))
    page = _plain(nurse.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())
    assert _sign(page) == _sign(_fresh_page(nurse, encounter))


def test_a_sign_form_sent_with_errors_is_drawn_afresh_not_kept(client_as) -> None:
    """Refused (no confirmation): the panel comes back with what she sent and why, never the
    kept one; the next load draws the kept one again."""
    caches[CACHE].clear()
    encounter, _site, _orders = _visit()
    nurse = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[encounter.pk])
    kept = _sign(_plain(nurse.get(url).content.decode()))
    response = nurse.post(reverse("mar:encounter_sign", args=[encounter.pk]), {}, **HX)
    refused = _sign(_plain(response.content.decode()))
    assert refused != kept and "is-invalid" in refused
    assert _sign(_plain(nurse.get(url).content.decode())) == kept


def _times(html: str) -> str:
    found = re.search(r'<details class="mb-2" id="encounter-times".*?</details>', html, re.S)
    assert found is not None, "no times panel drawn"
    return found.group(0)


def test_the_kept_times_panel_is_the_panel_drawn_afresh_and_builds_no_form(
    client_as, nurse_user
) -> None:
    """The visit's times (mar/_encounter_times.jinja, `times_draw`): after its arrival is charted,
    changed, its observation charted, and once signed (the form then asks an addendum's reason),
    the panel kept is the panel drawn with nothing kept, for a nurse and a coder; a page loaded
    again builds no times form."""
    from mar.forms import EncounterTimesForm
    from mar.services import charting

    caches[CACHE].clear()
    encounter, site, (first, _second) = _visit()
    nurse, coder = client_as(roles.NURSE), client_as(roles.CODER)
    url = reverse("mar:encounter", args=[encounter.pk])

    def agree() -> None:
        for client in (nurse, coder):
            fresh = _times(_fresh_page(client, encounter))
            assert _times(_plain(client.get(url).content.decode())) == fresh
            assert _times(_plain(client.get(url).content.decode())) == fresh  # from the cache

    agree()
    with mock.patch.object(chart_context, "EncounterTimesForm", wraps=EncounterTimesForm) as built:
        nurse.get(url)
    assert built.call_count == 0
    arrived = encounter.arrived_at
    for arrived_at, observation_at in (
        (arrived - timedelta(minutes=10), None),
        (arrived - timedelta(minutes=10), arrived + timedelta(minutes=30)),
    ):
        charting.encounter_times_update(
            encounter=encounter, arrived_at=arrived_at, observation_at=observation_at
        )
        encounter.refresh_from_db()
        agree()
    _start(nurse, encounter, first, site)
    _stop(nurse, encounter)
    user = nurse_user
    try:
        charting.encounter_sign(encounter=encounter, user=user)
    except charting.SignBlocked as blocked:
        reasons = {charting.finding_key(f): "as charted" for f in blocked.open_errors}
        charting.encounter_sign(encounter=encounter, user=user, reasons=reasons)
    encounter.refresh_from_db()
    assert encounter.is_signed
    agree()
    url += "?addendum=1"  # a nurse writing an addendum: the form asks its reason
    with mock.patch.object(chart_cards, "KEEP", False):
        fresh = _times(_plain(nurse.get(url).content.decode()))
    assert "Save as addendum" in fresh
    assert _times(_plain(nurse.get(url).content.decode())) == fresh
    assert _times(_plain(nurse.get(url).content.decode())) == fresh


def _field_of_scan(html: str) -> str:
    found = re.search(r'<form [^>]*data-testid="scan-form".*?</form>', html, re.S)
    assert found is not None, "no scan form drawn"
    return found.group(0)


def _measure_form(html: str) -> str:
    found = re.search(
        r'<details class="mt-1"[^>]*>\s*<summary[^>]*>\+ Height.*?</details>', html, re.S
    )
    assert found is not None, "no measures' form drawn"
    return found.group(0)


def test_the_kept_scan_field_and_measures_form_are_those_drawn_afresh(client_as) -> None:
    """The scan panel's field and the measures' form (`care_draw`), on the page and in a start's
    answer (its scan panel, out of band), are those drawn with nothing kept; a page loaded again
    builds neither form; a measure refused comes back as typed, not kept."""
    from mar import care_context, care_forms

    caches[CACHE].clear()
    encounter, site, (first, _second) = _visit()
    nurse = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[encounter.pk])
    fresh = _fresh_page(nurse, encounter)
    for _ in range(2):  # drawn now and kept, then from the cache
        page = _plain(nurse.get(url).content.decode())
        assert _field_of_scan(page) == _field_of_scan(fresh)
        assert _measure_form(page) == _measure_form(fresh)
    with (
        mock.patch.object(care_context.care_forms, "ScanForm", wraps=care_forms.ScanForm) as scan,
        mock.patch.object(
            care_context.care_forms, "MeasureForm", wraps=care_forms.MeasureForm
        ) as m,
    ):
        nurse.get(url)
        answer = _start(nurse, encounter, first, site)
    assert (scan.call_count, m.call_count) == (0, 0)
    assert _field_of_scan(answer) == _field_of_scan(_fresh_page(nurse, encounter))
    refused = nurse.post(
        reverse("mar:measure_add", args=[encounter.pk]),
        {"m-kind": "weight", "m-value": "-3", "m-method": "measured", "m-measured_at": ""},
        **HX,
    ).content.decode()
    assert 'value="-3"' in refused and 'value="-3"' not in _plain(nurse.get(url).content.decode())


def _card(html: str, adm_pk: int) -> str:
    """An administration's card as drawn: its `<article>` (it holds no other)."""
    found = re.search(rf'<article [^>]*id="adm-{adm_pk}".*?</article>', html, re.S)
    assert found is not None, f"no card A{adm_pk} drawn"
    return found.group(0)


def test_a_stops_answer_draws_the_card_with_its_care_panel_kept(client_as) -> None:
    """A stop changes the card (its state, its form's stop time, its version) but not its care
    panel (package, rate, volumes, the rate change, volumes and removal forms), whose forms
    carry the version only as hidden fields, a slot: the stop's answer draws the card with the
    panel kept at the load before, building none of its forms; the card is, byte for byte but
    the CSRF token, the card drawn with nothing kept, and the next page's card is the page's."""
    from mar import care_context as care_module
    from mar.care_forms import AdministrationRemoveForm, RateChangeForm, VolumesForm

    caches[CACHE].clear()
    encounter, site, (first, second) = _visit()
    nurse = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[encounter.pk])
    _start(nurse, encounter, first, site)
    _start(nurse, encounter, second, site)
    nurse.get(url)  # the cards drawn, their panels kept
    adm = encounter.administrations.filter(stop__isnull=True).order_by("pk").first()
    assert adm is not None
    forms = (RateChangeForm, VolumesForm, AdministrationRemoveForm)
    with (
        mock.patch.object(care_module.care_forms, "RateChangeForm", wraps=forms[0]) as rate,
        mock.patch.object(care_module.care_forms, "VolumesForm", wraps=forms[1]) as volumes,
        mock.patch.object(care_module.care_forms, "AdministrationRemoveForm", wraps=forms[2]) as rm,
    ):
        answer = _stop(nurse, encounter)
    assert (rate.call_count, volumes.call_count, rm.call_count) == (0, 0, 0)
    adm.refresh_from_db()
    assert adm.stop is not None
    kept = _card(answer, adm.pk).replace(f'id="adm-{adm.pk}-edit" open', f'id="adm-{adm.pk}-edit"')
    assert f'name="r{adm.pk}-version" value="{adm.version}"' in kept  # the slot filled
    assert kept == _card(_fresh_page(nurse, encounter), adm.pk)  # the card drawn afresh
    page = _plain(nurse.get(url).content.decode())
    fresh_page = _fresh_page(nurse, encounter)
    since = re.compile(r'data-since="[^"]+"')  # the moment of each page (a running card's clock)
    for pk in encounter.administrations.values_list("pk", flat=True):
        assert since.sub("", _card(page, pk)) == since.sub("", _card(fresh_page, pk))
    # a stop with the volume infused changes the panel ("infused 250 mL", the Volumes form)
    other = encounter.administrations.get(stop__isnull=True)
    answer = _stop(nurse, encounter, volume="250")
    kept = _card(answer, other.pk).replace(
        f'id="adm-{other.pk}-edit" open', f'id="adm-{other.pk}-edit"'
    )
    assert "infused 250" in kept
    assert kept == _card(_fresh_page(nurse, encounter), other.pk)


def test_a_cards_add_a_pause_is_kept_its_version_a_slot(client_as) -> None:
    """A card's "Add a pause…" (mar/_pause_add.jinja, `_pause_adds`) is kept under what it shows
    but the administration's version (its hidden field, a slot): a stop's answer and the next
    load build no PauseAddForm, and the card is, byte for byte but the CSRF token, the card drawn
    with nothing kept; when the visit's arrival changes (its time fields' `data-arrived`), the
    next page draws it again. One refused (a resume before its pause) comes back as she typed
    it, never kept; the next load draws the kept one again."""
    from mar.forms import PauseAddForm
    from mar.services import charting

    caches[CACHE].clear()
    encounter, site, (first, second) = _visit()
    nurse = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[encounter.pk])
    _start(nurse, encounter, first, site)
    _start(nurse, encounter, second, site)
    nurse.get(url)
    adm = encounter.administrations.filter(stop__isnull=True).order_by("pk").first()
    assert adm is not None
    built = []
    init = PauseAddForm.__init__

    def counted(self, *args, **kwargs) -> None:
        built.append(kwargs.get("prefix"))
        init(self, *args, **kwargs)

    with mock.patch.object(PauseAddForm, "__init__", counted):
        answer = _stop(nurse, encounter)
        page = _plain(nurse.get(url).content.decode())
    assert built == []
    adm.refresh_from_db()
    kept = _card(answer, adm.pk).replace(f'id="adm-{adm.pk}-edit" open', f'id="adm-{adm.pk}-edit"')
    assert f'name="pa{adm.pk}-version" value="{adm.version}"' in kept  # the slot filled
    fresh = _fresh_page(nurse, encounter)
    assert kept == _card(fresh, adm.pk)
    since = re.compile(r'data-since="[^"]+"')
    for pk in encounter.administrations.values_list("pk", flat=True):
        assert since.sub("", _card(page, pk)) == since.sub("", _card(fresh, pk))

    charting.encounter_times_update(
        encounter=encounter,
        arrived_at=encounter.arrived_at - timedelta(minutes=30),
        observation_at=None,
    )
    encounter.refresh_from_db()
    page = _plain(nurse.get(url).content.decode())
    fresh = _fresh_page(nurse, encounter)
    arrived = f'data-arrived="{int(encounter.arrived_at.timestamp())}"'
    assert arrived in _card(fresh, adm.pk)
    for pk in encounter.administrations.values_list("pk", flat=True):
        assert since.sub("", _card(page, pk)) == since.sub("", _card(fresh, pk))

    at = adm.stop.astimezone(encounter.zone)
    data = {
        f"pa{adm.pk}-start": (at - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M"),
        f"pa{adm.pk}-end": (at - timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M"),
        f"pa{adm.pk}-version": adm.version,
    }
    response = nurse.post(reverse("mar:pause_add", args=[encounter.pk, adm.pk]), data, **HX)
    refused = _card(_plain(response.content.decode()), adm.pk)
    assert "a resume comes after its pause" in refused and data[f"pa{adm.pk}-end"] in refused
    page = _plain(nurse.get(url).content.decode())
    assert since.sub("", _card(page, adm.pk)) == since.sub("", _card(fresh, adm.pk))
