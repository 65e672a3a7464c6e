"""A start charted at the bedside against what it ran on and what came before it (QA: a
chemotherapy start typed at 07:00 was accepted although its site was placed at 08:28 and the
drug scanned and double-checked at 08:32).

- A start before its site's placement is refused beside the start (or the site, or the placed
  time: whichever was changed), at the Start form, on the card and in the placed time's
  correction (`charting.start_before_placed`): a bedside input check, the engine not asked.
- A start before its drug's scan or its double check is allowed (late entry), and said: at the
  start and on its card ("Started 07:00, before its scan at 08:32: check the start time.").
"""

from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import AccessSite, Administration, DrugClass
from mar.services import charting, safety, scanning
from mar.services.charting import ChartError
from tests import factories
from tests.mar.scan_helpers import visit

pytestmark = pytest.mark.django_db


def _minute(moment):
    return moment.replace(second=0, microsecond=0)


def _hhmm(moment, encounter) -> str:
    return moment.astimezone(encounter.zone).strftime("%H:%M")


def _placed_late():
    """A visit whose site was placed 30 minutes ago, and a therapeutic order."""
    now = _minute(timezone.now())
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(minutes=30))
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    return now, encounter, site, order


def _card(html: str, adm: Administration) -> str:
    start = html.index(f'id="adm-{adm.pk}"')
    return html[start : html.index("</article>", start)]


# --- a start before its site was placed: refused -------------------------------------------------


def test_a_start_before_its_site_was_placed_is_refused_beside_the_start(nurse_user) -> None:
    now, encounter, site, order = _placed_late()
    early = now - timedelta(minutes=90)
    with pytest.raises(ChartError) as refused:
        charting.administration_start(order=order, site=site, start=early, user=nurse_user)
    placed, typed = _hhmm(site.placed_at, encounter), _hhmm(early, encounter)
    assert refused.value.errors == {
        "start": [
            f"S{site.pk} was placed at {placed}: a start at {typed} comes before it. Correct "
            "the start, or the site's placed time."
        ]
    }
    assert not Administration.objects.filter(encounter=encounter).exists()
    # At the placement's minute, or after it: started.
    adm = charting.administration_start(
        order=order, site=site, start=site.placed_at, user=nurse_user
    )
    assert adm.start == site.placed_at


def test_a_start_on_no_site_or_a_site_with_no_placed_time_is_not_checked(nurse_user) -> None:
    now, encounter, site, order = _placed_late()
    AccessSite.objects.filter(pk=site.pk).update(placed_at=None)
    site.refresh_from_db()
    early = now - timedelta(minutes=90)
    assert charting.administration_start(order=order, site=site, start=early, user=nurse_user)
    assert charting.administration_start(order=order, site=None, start=early, user=nurse_user)


def test_the_start_form_says_the_placement_beside_its_start_field(client_as) -> None:
    """The bedside Start form (through the safety checks): refused beside its time field, what
    she typed kept, nothing started."""
    now, encounter, site, order = _placed_late()
    early = now - timedelta(minutes=90)
    typed = early.astimezone(encounter.zone).strftime("%Y-%m-%dT%H:%M")
    response = client_as(roles.NURSE).post(
        reverse("mar:order_start", args=[encounter.pk, order.pk]),
        {f"o{order.pk}-method": "push", f"o{order.pk}-site": site.pk, f"o{order.pk}-at": typed},
    )
    html = unescape(response.content.decode())
    assert not Administration.objects.filter(encounter=encounter).exists()
    beside = html[html.index(f'id="error_1_id_o{order.pk}-at"') :][:400]
    assert (
        f"S{site.pk} was placed at {_hhmm(site.placed_at, encounter)}: a start at "
        f"{_hhmm(early, encounter)} comes before it. Correct the start, or the site's placed "
        "time." in beside
    )
    assert f'value="{typed}"' in html


def test_the_card_refuses_a_start_moved_before_its_site_was_placed(nurse_user) -> None:
    now, encounter, site, order = _placed_late()
    adm = charting.administration_start(order=order, site=site, start=now, user=nurse_user)
    with pytest.raises(ChartError) as refused:
        charting.administration_update(
            administration=adm, version=adm.version,
            changes={"start": now - timedelta(minutes=45)}, user=nurse_user,
        )  # fmt: skip
    assert list(refused.value.errors) == ["start"]
    assert "Correct the start, or the site's placed time." in refused.value.errors["start"][0]
    adm.refresh_from_db()
    assert adm.start == now and adm.version == 1  # nothing saved


def test_the_card_refuses_a_site_placed_after_the_start_beside_the_site(nurse_user) -> None:
    now, encounter, site, order = _placed_late()
    adm = charting.administration_start(order=order, site=site, start=now - timedelta(minutes=20),
                                        user=nurse_user)  # fmt: skip
    later = factories.site_create(encounter, placed_at=now - timedelta(minutes=5))
    with pytest.raises(ChartError) as refused:
        charting.administration_update(
            administration=adm, version=adm.version, changes={"site": later}, user=nurse_user
        )
    assert list(refused.value.errors) == ["site"]
    assert refused.value.errors["site"][0].startswith(f"S{later.pk} was placed at ")


def test_a_card_charted_before_the_check_still_saves_its_other_fields(nurse_user) -> None:
    """Only a start or a site changed is checked: a card already before its site's placement
    (charted before this check) keeps saving its dose."""
    now, encounter, site, order = _placed_late()
    adm = factories.administration_create(
        encounter, order, site=site, start=now - timedelta(minutes=60), stop=None
    )
    saved = charting.administration_update(
        administration=adm, version=adm.version,
        changes={"start": adm.start, "site": site, "dose_value": Decimal(8), "dose_unit": "mg"},
        user=nurse_user,
    )  # fmt: skip
    assert saved.dose_value == Decimal(8)


def test_the_placed_time_cannot_be_corrected_to_after_a_start_on_the_site(nurse_user) -> None:
    now, encounter, site, order = _placed_late()
    adm = charting.administration_start(order=order, site=site, start=now - timedelta(minutes=20),
                                        user=nurse_user)  # fmt: skip
    with pytest.raises(ChartError) as refused:
        charting.site_placed_correct(
            site=site, placed_at=now - timedelta(minutes=10), was=site.placed_at, user=nurse_user
        )
    (message,) = refused.value.errors["placed_at"]
    assert message.startswith(f"ondansetron (A{adm.pk}) started on S{site.pk} at ")
    site.refresh_from_db()
    assert site.placed_at == now - timedelta(minutes=30)
    # Earlier is fine.
    charting.site_placed_correct(
        site=site, placed_at=now - timedelta(minutes=40), was=site.placed_at, user=nurse_user
    )


# --- a start before its scan or its double check: allowed, said ---------------------------------


def _scanned_start(nurse, *, minutes_before_scan: int):
    encounter, site, order = visit()
    scan = scanning.scan_record(encounter=encounter, raw="99999-001-10", user=nurse)
    adm = safety.administration_start_checked(
        order=order, site=site, start=scan.at - timedelta(minutes=minutes_before_scan),
        method=Administration.Method.PUSH, user=nurse, checks=safety.StartChecks(scan=scan),
    )  # fmt: skip
    return encounter, adm, scan


def test_a_start_before_its_drug_scan_is_allowed_and_named(nurse_user) -> None:
    _encounter, adm, scan = _scanned_start(nurse_user, minutes_before_scan=40)
    adm = Administration.objects.select_related("drug_scan").get(pk=adm.pk)
    assert adm.start_before_check == ("scan", scan.at)
    _encounter, same_minute, _scan = _scanned_start(nurse_user, minutes_before_scan=0)
    assert same_minute.start_before_check is None


def test_a_chemotherapy_start_before_its_double_check_is_named(nurse_user) -> None:
    """The double check is made at the start's tap: a start typed earlier came before it."""
    now = _minute(timezone.now())
    encounter = factories.encounter_create(arrived_at=now - timedelta(hours=2))
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    order = factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="AUC 5"
    )
    order.verified_at, order.verified_by = now, nurse_user  # no emergency reason needed
    order.save()
    second = factories.user_create(username="rn-second", role=roles.NURSE)
    adm = safety.administration_start_checked(
        order=order, site=site, start=now - timedelta(minutes=60), method="infusion",
        user=nurse_user, now=now,
        checks=safety.StartChecks(second_nurse=second, double_check_confirmed=True),
    )  # fmt: skip
    assert adm.start_before_check == ("double check", now)


def test_the_card_and_the_start_say_a_start_before_its_scan(client_as, nurse_user) -> None:
    encounter, _site, order = visit()
    client = client_as(roles.NURSE)
    scan = scanning.scan_record(encounter=encounter, raw="99999-001-10", user=nurse_user)
    early = _minute(scan.at) - timedelta(minutes=40)
    typed = early.astimezone(encounter.zone).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("mar:order_start", args=[encounter.pk, order.pk]),
        {f"o{order.pk}-method": "push", f"o{order.pk}-at": typed, f"o{order.pk}-scan": scan.pk},
        follow=True,
    )
    adm = Administration.objects.get(encounter=encounter)
    assert adm.drug_scan_id == scan.pk
    said = (
        f"Started {_hhmm(early, encounter)}, before its scan at {_hhmm(scan.at, encounter)}: "
        "check the start time."
    )
    html = unescape(response.content.decode())
    assert said in html[: html.index(f'id="adm-{adm.pk}"')]  # the start's message
    assert said in _card(html, adm)
    again = unescape(client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())
    assert said in _card(again, adm)
    # Corrected on the card to the scan's minute: said no more.
    charting.administration_update(
        administration=adm, version=adm.version, changes={"start": _minute(scan.at)},
        user=nurse_user,
    )  # fmt: skip
    again = unescape(client.get(reverse("mar:encounter", args=[encounter.pk])).content.decode())
    assert 'data-testid="adm-start-early"' not in _card(again, adm)
