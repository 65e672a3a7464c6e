"""Flushes on a site: charted now or earlier, refused in the future (DOC-3), removed when charted
by mistake (on a signed record only as an addendum), and found from the checklist."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from coding.models import ChargeRun
from mar import roles
from mar.audit.models import EVENTS
from mar.models import Addendum, Flush
from mar.services import charting
from mar.services.charting import ChartError
from tests import factories
from tests.mar.chart_helpers import SIGN_CONFIRMED, local, running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _flush_url(encounter, site_pk: int) -> str:
    return reverse("mar:site_flush", args=[encounter.pk, site_pk])


# --- DOC-3: a flush in the future is refused at entry -----------------------------------------


def test_the_service_refuses_a_flush_in_the_future_and_charts_nothing() -> None:
    """DOC-3 (nothing in the future), asked of the engine: the error names the flush."""
    encounter, adm = running_visit()
    with pytest.raises(ChartError) as refused:
        charting.flush_chart(site=adm.site, at=timezone.now() + timedelta(hours=1))
    assert "is charted in the future" in refused.value.errors["flushes"][0]
    assert not Flush.objects.filter(encounter=encounter).exists()


def test_a_future_flush_already_on_the_record_does_not_block_a_right_one() -> None:
    """DOC-3 refuses the flush being charted, not one saved before the check existed."""
    encounter, adm = running_visit()
    Flush.objects.create(encounter=encounter, site=adm.site, at=timezone.now() + timedelta(hours=2))
    flush = charting.flush_chart(site=adm.site, at=adm.start + timedelta(minutes=5))
    assert Flush.objects.filter(encounter=encounter).count() == 2
    assert flush.at == adm.start + timedelta(minutes=5)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-post"])
def test_flush_earlier_in_the_future_is_refused_beside_its_time(client_as, htmx) -> None:
    """DOC-3 at entry: "Flush earlier…" with a future time says so beside the time field, keeps
    the typed time in the open panel, and charts nothing (no red item the nurse cannot fix)."""
    encounter, adm = running_visit()
    site = adm.site_id
    typed = local(timezone.now() + timedelta(hours=3))
    response = client_as(roles.NURSE).post(
        _flush_url(encounter, site),
        {f"flush{site}-late": "1", f"flush{site}-at": typed},
        **(HX if htmx else {}),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="error_1_id_flush{site}-at"' in html  # crispy: under the time field
    assert "is charted in the future" in html
    assert f'name="flush{site}-at" value="{typed}"' in html
    assert f'<details class="flush-late" id="site-{site}-flush-late" open>' in html
    assert not Flush.objects.filter(encounter=encounter).exists()


def test_an_addendum_flush_in_the_future_is_refused_beside_its_time(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    """DOC-3 for the missed flush charted by an addendum: no addendum, no flush, field error."""
    client = client_as(roles.NURSE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    site = chemo_encounter.sites.get()
    typed = local(timezone.now() + timedelta(days=1))
    response = client.post(
        reverse("mar:addendum_add", args=[chemo_encounter.pk]),
        {"addendum-what": "missed flush", "addendum-why": "coder query",
         "addendum-flush_site": site.pk, "addendum-flush_at": typed},
    )  # fmt: skip
    html = response.content.decode()
    assert 'id="error_1_id_addendum-flush_at"' in html
    assert "is charted in the future" in html
    assert Flush.objects.filter(encounter=chemo_encounter).count() == 1
    assert not Addendum.objects.filter(encounter=chemo_encounter).exists()


# --- a flush charted by mistake is removed ----------------------------------------------------


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_mistaken_flush_is_removed_from_a_record_in_progress_and_audited(client_as) -> None:
    """A nurse corrects a double tap: the flush goes, the audit trail keeps who removed it."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    client.post(_flush_url(encounter, adm.site_id))
    # the double tap, charted once she said so (asked first: a flush in the same minute)
    client.post(_flush_url(encounter, adm.site_id), {f"flush{adm.site_id}-again": "1"})
    first, second = Flush.objects.filter(encounter=encounter)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    url = reverse("mar:flush_remove", args=[encounter.pk, second.pk])
    assert f'action="{url}"' in page  # behind a "remove…" that asks to confirm
    response = client.post(url, **HX)
    assert response.status_code == 200
    assert "removed" in response.content.decode()
    assert list(Flush.objects.filter(encounter=encounter)) == [first]
    event = EVENTS[Flush].objects.get(pgh_obj_id=second.pk, pgh_label="delete")
    assert event.pgh_context.metadata["url"] == url
    assert event.pgh_context.metadata["user"] is not None


def test_a_flush_removed_once_is_not_found_the_second_time(client_as) -> None:
    """A double tap on "remove" removes one flush, once."""
    encounter, adm = running_visit()
    flush = Flush.objects.create(encounter=encounter, site=adm.site, at=adm.start)
    url = reverse("mar:flush_remove", args=[encounter.pk, flush.pk])
    client = client_as(roles.NURSE)
    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 404
    assert not Flush.objects.filter(encounter=encounter).exists()


def test_a_signed_records_flush_is_removed_only_as_an_addendum_with_a_reason(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    """A signed record changes only through an addendum (what, why, who, when); charges rerun."""
    client = client_as(roles.NURSE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[chemo_encounter.pk]), SIGN_CONFIRMED)
    flush = chemo_encounter.flushes.get()
    url = reverse("mar:flush_remove", args=[chemo_encounter.pk, flush.pk])
    # The addendum's remove form, its reason left empty: asked for beside it (one drawn before
    # the signature is answered as signed since: tests/mar/test_signed_since.py).
    html = client.post(url, {f"f{flush.pk}-addendum_why": ""}, **HX).content.decode()
    assert "changes go through an addendum (say why)" in html
    assert Flush.objects.filter(pk=flush.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {f"f{flush.pk}-addendum_why": "charted on the wrong chart"})
    assert response.status_code == 302
    assert not Flush.objects.filter(pk=flush.pk).exists()
    addendum = Addendum.objects.get(encounter=chemo_encounter)
    assert addendum.what == f"Flush: removed the flush on S{flush.site_id} at 2026-03-02 09:03"
    assert addendum.why == "charted on the wrong chart"
    assert ChargeRun.objects.get(encounter=chemo_encounter, is_current=True).trigger == "addendum"


def test_a_flushs_rows_build_a_remove_form_only_where_it_has_a_field(
    client_as, chemo_encounter, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """Issue 19: on a record in progress removing a flush asks nothing (the button alone), so a
    flush on a site with many flushes builds no remove form for each of them; on a signed record
    opened for an addendum, each row still asks why."""
    from mar import chart_context

    built = []
    real = chart_context.FlushRemoveForm

    def counted(*args, **kwargs):
        built.append(kwargs.get("prefix"))
        return real(*args, **kwargs)

    monkeypatch.setattr(chart_context, "FlushRemoveForm", counted)
    client = client_as(roles.NURSE)
    site = chemo_encounter.sites.get()
    again = {f"flush{site.pk}-again": "1"}  # flushes in the same minute, charted as meant
    for _ in range(3):
        html = client.post(_flush_url(chemo_encounter, site.pk), again, **HX).content.decode()
    assert html.count('data-testid="flush-remove"') == chemo_encounter.flushes.count() == 4
    assert built == []
    # Signed, with a reason for each error the sign-off asks one for.
    page = client.get(reverse("mar:encounter", args=[chemo_encounter.pk])).content.decode()
    acks = {name: "charted in the test" for name in re.findall(r'name="(ack_[^"]+)"', page)}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("mar:encounter_sign", args=[chemo_encounter.pk]), {**acks, **SIGN_CONFIRMED}
        )
    chemo_encounter.refresh_from_db()
    assert chemo_encounter.is_signed
    page = client.get(reverse("mar:encounter", args=[chemo_encounter.pk]) + "?addendum=1")
    html = page.content.decode()
    for flush in chemo_encounter.flushes.all():
        assert f'name="f{flush.pk}-addendum_why"' in html
    assert len(built) == 4


# --- the checklist finds the flush ------------------------------------------------------------


def test_a_future_flush_on_the_checklist_jumps_to_that_flush(client_as) -> None:
    """DOC-3's item for a flush in the future (one saved before the check) links to that
    flush's row on its site chip, where it can be removed; the visit's heading links nowhere."""
    encounter, adm = running_visit()
    Flush.objects.create(encounter=encounter, site=adm.site, at=adm.start + timedelta(minutes=2))
    future = Flush.objects.create(
        encounter=encounter, site=adm.site, at=timezone.now() + timedelta(hours=2)
    )
    client = client_as(roles.NURSE)
    for url in ("mar:encounter", "mar:encounter_checklist"):
        html = client.get(reverse(url, args=[encounter.pk])).content.decode()
        assert "is charted in the future" in html
        assert f'href="#flush-{future.pk}"' in html
        assert 'href="#checklist"' not in html
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert f'id="flush-{future.pk}"' in page


def test_the_site_chip_lists_its_flushes(client_as) -> None:
    encounter, adm = running_visit()
    at = adm.start + timedelta(minutes=2)
    flush = Flush.objects.create(encounter=encounter, site=adm.site, at=at)
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk]))
    html = page.content.decode()
    assert f'id="flush-{flush.pk}"' in html
    assert f"flush {at.astimezone(factories.NEW_YORK):%H:%M}" in html


# --- a time that cannot be read comes back beside the field, as typed --------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-post"])
@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "noon-ish",
            "Enter the 24-hour time, such as 14:30 (today), or the date and the time, such as "
            "2026-03-02 14:30.",
        ),
        ("", "Enter the time the flush was given."),
    ],
)
def test_flush_earlier_with_a_time_that_cannot_be_read_says_so_beside_the_field(
    client_as, htmx, typed, message
) -> None:
    """A nurse never loses what she typed: an unreadable (or empty) "Flush earlier…" time is
    named beside the time field, not in a banner; the panel stays open with the typing in it,
    and nothing is charted (an empty late entry is not taken as "now")."""
    encounter, adm = running_visit()
    site = adm.site_id
    response = client_as(roles.NURSE).post(
        _flush_url(encounter, site),
        {f"flush{site}-late": "1", f"flush{site}-at": typed},
        **(HX if htmx else {}),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="error_1_id_flush{site}-at"' in html
    assert message in html
    assert f'<details class="flush-late" id="site-{site}-flush-late" open>' in html
    if typed:
        # Shown as text: the picker cannot show it and would post it back blank.
        assert f'type="text" name="flush{site}-at" value="{typed}"' in html
    assert 'class="alert alert-danger"' not in html  # no page-level banner
    assert not Flush.objects.filter(encounter=encounter).exists()


# --- "Flush now" confirms, and the chip shows the last flush ------------------------------------


def test_flush_now_confirms_and_the_chip_shows_the_last_flush(client_as) -> None:
    """RAC-5 needs the flush charted once, at its time: one tap says what it charted and the
    site chip shows the last flush, so a second tap is not made blind (and the button is
    disabled while the first is on its way)."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    page = client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert 'data-testid="last-flush"' not in page
    assert 'hx-disabled-elt="find button"' in page
    html = client.post(_flush_url(encounter, adm.site_id), **HX).content.decode()
    flush = Flush.objects.get(encounter=encounter)
    hhmm = f"{flush.at.astimezone(factories.NEW_YORK):%H:%M}"
    assert f"Flush charted on S{adm.site_id} at {hhmm}." in html
    assert f'<span data-testid="last-flush">last flush {hhmm}</span>' in html
    # Without JavaScript: a second tap in the same minute is asked first, nothing charted...
    response = client.post(_flush_url(encounter, adm.site_id), follow=True)
    asked = f"A flush of S{adm.site_id} was charted at {hhmm}: chart it again?"
    assert asked in response.content.decode()
    assert Flush.objects.filter(encounter=encounter).count() == 1
    # ... and charted once she says so: the redirect, and the confirmation on the chart.
    again = {f"flush{adm.site_id}-again": "1"}
    response = client.post(_flush_url(encounter, adm.site_id), again, follow=True)
    assert "Flush charted on S" in response.content.decode()
    assert Flush.objects.filter(encounter=encounter).count() == 2


# --- a missed flush charted by addendum has what a flush charted at the bedside has ------------


def _signed(client, encounter, callbacks) -> None:
    with callbacks(execute=True):
        client.post(reverse("mar:encounter_sign", args=[encounter.pk]), SIGN_CONFIRMED)
    encounter.refresh_from_db()
    assert encounter.is_signed


def test_the_addendum_service_charts_a_missed_flush_with_its_solution_and_volume(
    nurse_user,
) -> None:
    """A flush charted by addendum records the solution and volume, as `flush_chart` does (a
    heparin lock is not a saline flush), and the addendum says them."""
    encounter = factories.chemo_encounter_create(status="signed")
    site = encounter.sites.get()
    at = factories.MORNING + timedelta(minutes=70)
    addendum = charting.addendum_write(
        encounter=encounter, user=nurse_user, what="flush before the paclitaxel",
        why="coder query", flush_site=site, flush_at=at,
        flush_solution=" heparin 100 units/mL ", flush_volume_ml=Decimal("5"),
    )  # fmt: skip
    flush = Flush.objects.get(encounter=encounter, at=at)
    assert (flush.solution, flush.volume_ml) == ("heparin 100 units/mL", Decimal("5.0"))
    assert addendum.what.endswith(
        f"\nFlush charted on S{site.pk} at 2026-03-02 09:10: heparin 100 units/mL 5 mL."
    )
    assert addendum.why == "coder query"


def test_the_addendum_form_offers_a_flush_s_solution_and_volume_as_the_site_chip_does(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    """The missed flush's fields are the bedside flush's: the solution from the same list
    (NS by default) and the volume in mL (10 by default)."""
    client = client_as(roles.NURSE)
    _signed(client, chemo_encounter, django_capture_on_commit_callbacks)
    page = client.get(reverse("mar:encounter", args=[chemo_encounter.pk]), {"addendum": "1"})
    html = page.content.decode()
    solution = re.search(r'<input[^>]*name="addendum-flush_solution"[^>]*>', html)
    volume = re.search(r'<input[^>]*name="addendum-flush_volume_ml"[^>]*>', html)
    assert solution is not None and volume is not None
    assert 'value="NS"' in solution[0] and 'list="flush-solutions"' in solution[0]
    assert 'value="10"' in volume[0] and 'type="number"' in volume[0]
    assert '<datalist id="flush-solutions">' in html


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_missed_flush_charted_by_addendum_keeps_its_solution_and_volume_and_shows_them(
    client_as, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    """Through the addendum form: the flush has its solution and volume (audited with who and
    where), the addendum its reason, and the site chip shows it as it shows a bedside flush."""
    client = client_as(roles.NURSE)
    _signed(client, chemo_encounter, django_capture_on_commit_callbacks)
    site = chemo_encounter.sites.get()
    url = reverse("mar:addendum_add", args=[chemo_encounter.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {"addendum-what": "Flush before the paclitaxel", "addendum-why": "coder query",
             "addendum-flush_site": site.pk, "addendum-flush_at": "2026-03-02T09:10",
             "addendum-flush_solution": "heparin 10 units/mL", "addendum-flush_volume_ml": "3"},
            **HX,
        )  # fmt: skip
    assert response.status_code == 200
    flush = Flush.objects.get(
        encounter=chemo_encounter, at=factories.MORNING + timedelta(minutes=70)
    )
    assert (flush.solution, flush.volume_ml) == ("heparin 10 units/mL", Decimal(3))
    addendum = Addendum.objects.get(encounter=chemo_encounter)
    assert addendum.why == "coder query"
    assert "Flush charted on S" in addendum.what and "heparin 10 units/mL 3 mL" in addendum.what
    event = EVENTS[Flush].objects.get(pgh_obj_id=flush.pk, pgh_label="insert")
    assert (event.solution, event.volume_ml) == ("heparin 10 units/mL", Decimal(3))
    assert event.pgh_context.metadata["url"] == url
    assert event.pgh_context.metadata["user"] is not None
    row = (
        f'<li id="flush-{flush.pk}" tabindex="-1" data-testid="flush-row">'
        "flush 09:10 · heparin 10 units/mL 3 mL"
    )
    assert row in response.content.decode()
    page = client.get(reverse("mar:encounter", args=[chemo_encounter.pk])).content.decode()
    assert row in page


@pytest.mark.parametrize(
    ("field", "typed", "said"),
    [
        ("flush_volume_ml", "-2", "A flush has a volume: more than 0 mL (10 for a usual flush)."),
        ("flush_solution", "x" * 61, "Ensure this value has at most 60 characters"),
    ],
)
def test_an_addendum_flush_with_details_that_cannot_be_read_is_refused_as_typed(
    client_as, chemo_encounter, django_capture_on_commit_callbacks, field, typed, said
) -> None:
    """As at the bedside, nothing is charted without what she typed: the detail is named beside
    its field, shown as typed, and neither the flush nor the addendum is saved."""
    client = client_as(roles.NURSE)
    _signed(client, chemo_encounter, django_capture_on_commit_callbacks)
    site = chemo_encounter.sites.get()
    data = {
        "addendum-what": "missed flush", "addendum-why": "coder query",
        "addendum-flush_site": site.pk, "addendum-flush_at": "2026-03-02T09:10",
        "addendum-flush_solution": "NS", "addendum-flush_volume_ml": "10",
    }  # fmt: skip
    html = client.post(
        reverse("mar:addendum_add", args=[chemo_encounter.pk]),
        data | {f"addendum-{field}": typed},
        **HX,
    ).content.decode()
    assert f'id="error_1_id_addendum-{field}"' in html
    assert said in html
    assert f'value="{typed}"' in html
    assert Flush.objects.filter(encounter=chemo_encounter).count() == 1
    assert not Addendum.objects.filter(encounter=chemo_encounter).exists()


def test_an_addendum_flush_after_its_site_was_discontinued_is_refused_as_at_the_bedside(
    client_as, chemo_encounter, django_capture_on_commit_callbacks, nurse_user
) -> None:
    """flush_chart refuses a flush on a site after it was discontinued; so does the addendum's
    missed flush (it charted one on a line already out), beside the flush's time; and a site of
    another visit is refused by the service (the view offers only this visit's sites)."""
    site = chemo_encounter.sites.get()
    site.discontinued_at = factories.MORNING + timedelta(hours=4, minutes=20)
    site.save(update_fields=["discontinued_at"])
    client = client_as(roles.NURSE)
    _signed(client, chemo_encounter, django_capture_on_commit_callbacks)
    html = client.post(
        reverse("mar:addendum_add", args=[chemo_encounter.pk]),
        {"addendum-what": "missed flush", "addendum-why": "coder query",
         "addendum-flush_site": site.pk, "addendum-flush_at": "2026-03-02T13:00"},
        **HX,
    ).content.decode()  # fmt: skip
    assert 'id="error_1_id_addendum-flush_at"' in html
    assert (
        f"S{site.pk} was discontinued at 2026-03-02 12:20: a flush after it cannot be charted on it"
        in html
    )
    assert Flush.objects.filter(encounter=chemo_encounter).count() == 1
    assert not Addendum.objects.filter(encounter=chemo_encounter).exists()
    other = factories.site_create(factories.encounter_create())
    with pytest.raises(ChartError) as refused:
        charting.addendum_write(
            encounter=chemo_encounter, user=nurse_user, what="missed flush", why="coder query",
            flush_site=other, flush_at=factories.MORNING + timedelta(hours=1),
        )  # fmt: skip
    assert refused.value.errors == {"flush_site": [f"S{other.pk} is not a site of this visit."]}
    assert not Flush.objects.filter(site=other).exists()


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain-post"])
def test_a_flush_before_its_site_was_placed_is_refused_beside_its_time(
    client_as, htmx, chemo_encounter, django_capture_on_commit_callbacks
) -> None:
    """A flush is on a site that exists: "Flush earlier…" at a time before the site was placed
    is refused beside the time (QA: it was charted, while discontinuing a site before its
    placement was refused), and so is an addendum's missed flush; nothing is charted."""
    encounter, adm = running_visit()
    site = adm.site
    typed = local(site.placed_at - timedelta(minutes=30))
    html = (
        client_as(roles.NURSE)
        .post(
            _flush_url(encounter, site.pk),
            {f"flush{site.pk}-late": "1", f"flush{site.pk}-at": typed},
            **(HX if htmx else {}),
        )
        .content.decode()
    )
    assert f'id="error_1_id_flush{site.pk}-at"' in html
    placed = local(site.placed_at).replace("T", " ")
    assert f"S{site.pk} was placed at {placed}: a flush before that cannot be on it." in html
    assert not Flush.objects.filter(encounter=encounter).exists()

    signed = chemo_encounter
    client = client_as(roles.NURSE)
    _signed(client, signed, django_capture_on_commit_callbacks)
    chip = signed.sites.get()  # placed at 08:00
    html = client.post(
        reverse("mar:addendum_add", args=[signed.pk]),
        {"addendum-what": "missed flush", "addendum-why": "coder query",
         "addendum-flush_site": chip.pk, "addendum-flush_at": "2026-03-02T07:30"},
        **(HX if htmx else {}),
    ).content.decode()  # fmt: skip
    assert 'id="error_1_id_addendum-flush_at"' in html
    assert f"S{chip.pk} was placed at 2026-03-02 08:00: a flush before that" in html
    assert Flush.objects.filter(encounter=signed).count() == 1
    assert not Addendum.objects.filter(encounter=signed).exists()
