"""The nurse's charting forms refuse what cannot be and ask about what is unusual (QA
walkthrough): a rate above any pump's (refused) or above most pumps' (asked), a flush of 0 mL,
of no volume or of more than a litre (refused), a second flush of a site in the same minute
(asked), a rate change inside a pause or at the minute of another (refused, naming it), a pause
over a rate change (refused), the second nurse locked out by the sign-in lockout (said so), and
Django's default number wordings replaced by plain words on every form."""

import importlib
import inspect
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.audit.models import LoginFailure
from mar.care_forms import FlushDetailsForm, RateChangeForm
from mar.forms import AdministrationForm, AmountField
from mar.models import Addendum, Administration, DrugClass, Flush, RateChange
from mar.pharmacy.views import DrugMaxDoseForm
from mar.registration.forms import OrderEntryForm
from mar.services import charting, rates
from mar.services.charting import ChartError
from tests import factories
from tests.mar.chart_helpers import local, running_visit
from tests.test_forms_required_words import MADE, MODULES

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _hhmm(moment) -> str:
    return f"{moment.astimezone(factories.NEW_YORK):%H:%M}"


def _rate_post(client, adm, rate: str, *, at=None, confirm: bool = False) -> str:
    adm.refresh_from_db()
    p = f"r{adm.pk}-"
    data = {
        p + "rate_ml_h": rate,
        p + "reason": "titration per protocol",
        p + "version": adm.version,
    }
    if at is not None:
        data[p + "at"] = local(at)
    if confirm:
        data[p + "rate_confirm"] = "on"
    url = reverse("mar:adm_rate", args=[adm.encounter_id, adm.pk])
    return unescape(client.post(url, data, **HX).content.decode())


# --- 1. a rate's plausibility ------------------------------------------------------------------


def test_a_rate_above_any_pump_is_refused_beside_the_field_as_typed(client_as) -> None:
    """999,999 mL/h was charted: refused beside the rate, kept as typed, nothing charted."""
    _encounter, adm = running_visit()
    html = _rate_post(client_as(roles.NURSE), adm, "999999")
    assert rates.RATE_TOO_HIGH in html
    assert 'value="999999"' in html
    assert "Ensure" not in html
    assert not RateChange.objects.exists()


def test_a_rate_above_most_pumps_is_asked_first_then_charted_when_ticked(client_as) -> None:
    _encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    html = _rate_post(client, adm, "1500")
    assert "Above 999 mL/h: check the rate (1500 mL/h is faster than most pumps run)" in html
    assert 'data-testid="rate-confirm"' in html and 'value="1500"' in html
    assert not RateChange.objects.exists()
    _rate_post(client, adm, "1500", confirm=True)
    assert RateChange.objects.get().rate_ml_h == Decimal(1500)


def test_the_rate_form_draws_no_confirm_box_until_asked(client_as) -> None:
    encounter, adm = running_visit()
    page = client_as(roles.NURSE).get(reverse("mar:encounter", args=[encounter.pk]))
    assert 'data-testid="rate-form"' in page.content.decode()
    assert 'data-testid="rate-confirm"' not in page.content.decode()


@pytest.mark.parametrize(
    ("rate", "confirmed", "verdict"),
    [
        ("999", False, "charted"),  # the most pumps' top: not asked
        ("999.01", False, "rate_confirm"),
        ("999.01", True, "charted"),
        ("6000", True, "charted"),  # a pressure-bag bolus: possible, asked
        ("6000.01", True, "rate_ml_h"),  # no infusion runs faster: refused, even ticked
        ("0", True, "rate_ml_h"),
        ("-5", True, "rate_ml_h"),
    ],
)
def test_a_rate_change_s_limits_at_and_around_them(nurse_user, rate, confirmed, verdict) -> None:
    _encounter, adm = running_visit()
    record = dict(
        administration=adm, rate_ml_h=Decimal(rate), at=adm.start + timedelta(minutes=10),
        reason="titration", user=nurse_user, high_confirmed=confirmed,
    )  # fmt: skip
    if verdict == "charted":
        assert rates.rate_change_record(**record).rate_ml_h == Decimal(rate)
        return
    with pytest.raises(ChartError) as refused:
        rates.rate_change_record(**record)
    assert list(refused.value.errors) == [verdict]
    assert not RateChange.objects.exists()


def test_a_correction_to_a_high_rate_is_asked_but_a_high_rate_kept_is_not(nurse_user) -> None:
    _encounter, adm = running_visit()
    change = rates.rate_change_record(
        administration=adm, rate_ml_h=Decimal(1100), at=adm.start + timedelta(minutes=10),
        reason="bolus", user=nurse_user, high_confirmed=True,
    )  # fmt: skip
    adm.refresh_from_db()
    with pytest.raises(ChartError) as refused:
        rates.rate_change_update(
            rate_change=change, rate_ml_h=Decimal(1200), at=change.at, version=adm.version,
            user=nurse_user,
        )  # fmt: skip
    assert "rate_confirm" in refused.value.errors
    # Its time corrected, its rate (asked when charted) kept: not asked again.
    rates.rate_change_update(
        rate_change=change, rate_ml_h=Decimal(1100), at=change.at + timedelta(minutes=2),
        version=adm.version, user=nurse_user,
    )  # fmt: skip
    change.refresh_from_db()
    assert change.at == adm.start + timedelta(minutes=12)


def test_the_volumes_form_refuses_a_start_rate_above_any_pump(client_as) -> None:
    encounter, adm = running_visit()
    client_as(roles.NURSE).post(
        reverse("mar:adm_volumes", args=[encounter.pk, adm.pk]),
        {f"v{adm.pk}-rate_ml_h": "7000", f"v{adm.pk}-bag_volume_ml": "500"},
        **HX,
    )
    adm.refresh_from_db()
    assert adm.rate_ml_h is None and adm.bag_volume_ml is None
    with pytest.raises(ChartError) as refused:
        rates.volumes_update(
            administration=adm, rate_ml_h=Decimal(7000), bag_volume_ml=None, vtbi_ml=None,
            volume_infused_ml=None,
        )  # fmt: skip
    assert refused.value.errors == {"rate_ml_h": [rates.RATE_TOO_HIGH]}


def test_the_volumes_form_asks_about_a_new_start_rate_above_most_pumps(client_as) -> None:
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    url = reverse("mar:adm_volumes", args=[encounter.pk, adm.pk])
    typed = {f"v{adm.pk}-rate_ml_h": "1200", f"v{adm.pk}-bag_volume_ml": "500"}
    html = unescape(client.post(url, typed, **HX).content.decode())
    assert "Above 999 mL/h: check the rate" in html and 'data-testid="rate-confirm"' in html
    adm.refresh_from_db()
    assert adm.rate_ml_h is None
    client.post(url, typed | {f"v{adm.pk}-rate_confirm": "on"}, **HX)
    adm.refresh_from_db()
    assert adm.rate_ml_h == Decimal(1200)
    # Its bag corrected later, the rate as stored: not asked again.
    client.post(url, typed | {f"v{adm.pk}-bag_volume_ml": "1000"}, **HX)
    adm.refresh_from_db()
    assert adm.bag_volume_ml == Decimal(1000)


# --- 1. a flush's volume and a flush charted twice ---------------------------------------------


def _flush(client, encounter, site_pk: int, **typed: str) -> str:
    data = {f"flush{site_pk}-{name}": value for name, value in typed.items()}
    url = reverse("mar:site_flush", args=[encounter.pk, site_pk])
    return unescape(client.post(url, data, **HX).content.decode())


@pytest.mark.parametrize(
    ("volume", "said"),
    [
        ("0", charting.FLUSH_VOLUME_NONE),
        ("", charting.FLUSH_VOLUME_NONE),  # the box cleared: a flush is charted with its volume
        ("-3", charting.FLUSH_VOLUME_NONE),
        ("1000.1", charting.FLUSH_VOLUME_TOO_LARGE),
        ("99999", charting.FLUSH_VOLUME_TOO_LARGE),
    ],
)
def test_a_flush_without_a_plausible_volume_is_refused_and_nothing_charted(
    client_as, volume, said
) -> None:
    encounter, adm = running_visit()
    html = _flush(client_as(roles.NURSE), encounter, adm.site_id, solution="NS", volume_ml=volume)
    assert said in html
    assert "Ensure" not in html
    assert not Flush.objects.exists()


def test_a_flush_of_a_litre_at_most_is_charted(client_as) -> None:
    encounter, adm = running_visit()
    _flush(client_as(roles.NURSE), encounter, adm.site_id, solution="NS", volume_ml="1000")
    assert Flush.objects.get().volume_ml == Decimal(1000)


def test_the_flush_service_refuses_a_volume_of_0_or_more_than_a_litre() -> None:
    _encounter, adm = running_visit()
    for volume in (Decimal(0), Decimal("1000.5")):
        with pytest.raises(ChartError) as refused:
            charting.flush_chart(site=adm.site, at=adm.start, volume_ml=volume)
        assert list(refused.value.errors) == ["volume_ml"]
    assert not Flush.objects.exists()


def test_a_second_flush_of_a_site_in_the_same_minute_is_asked_then_charted(client_as) -> None:
    """Nothing doubled silently: the second tap asks, naming the first's time; "Chart a second
    flush" sends the same time and details again, and charts it."""
    encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    _flush(client, encounter, adm.site_id, solution="NS", volume_ml="10")
    first = Flush.objects.get()
    html = _flush(client, encounter, adm.site_id, solution="heparin", volume_ml="5")
    asked = f"A flush of S{adm.site_id} was charted at {_hhmm(first.at)}: chart it again?"
    assert asked in html and 'data-testid="flush-again"' in html
    assert f'name="flush{adm.site_id}-again" value="1"' in html
    assert f'name="flush{adm.site_id}-solution" value="heparin"' in html  # sent again as typed
    assert Flush.objects.count() == 1
    _flush(client, encounter, adm.site_id, solution="heparin", volume_ml="5", again="1")
    assert Flush.objects.count() == 2


def test_flushes_a_minute_apart_or_on_another_site_are_not_asked_about(nurse_user) -> None:
    encounter, adm = running_visit()
    other = factories.site_create(encounter, placed_at=adm.start - timedelta(minutes=30))
    at = adm.start.replace(second=0, microsecond=0) + timedelta(minutes=5)
    charting.flush_chart(site=adm.site, at=at, volume_ml=Decimal(10))
    charting.flush_chart(site=other, at=at, volume_ml=Decimal(10))
    charting.flush_chart(site=adm.site, at=at + timedelta(minutes=1), volume_ml=Decimal(10))
    # 10:05:00 and 10:05:59 are the same minute on the chart; 10:04:30 and 10:05:20 are less
    # than a minute apart: both asked.
    for near in (at + timedelta(seconds=59), at - timedelta(seconds=30)):
        with pytest.raises(ChartError) as asked:
            charting.flush_chart(site=adm.site, at=near, volume_ml=Decimal(10))
        assert list(asked.value.errors) == ["again"]
    assert Flush.objects.count() == 3


def test_an_addendum_s_missed_flush_at_the_minute_of_one_charted_is_refused(nurse_user) -> None:
    encounter = factories.chemo_encounter_create(status="signed")
    site = encounter.sites.get()
    charted = encounter.flushes.order_by("at").first()
    assert charted is not None
    for at, volume, field in (
        (charted.at, Decimal(10), "flush_at"),
        (charted.at + timedelta(minutes=3), Decimal(0), "flush_volume_ml"),
    ):
        with pytest.raises(ChartError) as refused:
            charting.addendum_write(
                encounter=encounter, user=nurse_user, what="missed flush", why="coder query",
                flush_site=site, flush_at=at, flush_volume_ml=volume,
            )  # fmt: skip
        assert list(refused.value.errors) == [field]
    assert not Addendum.objects.filter(encounter=encounter).exists()


# --- 2. a rate change inside a pause, two at the same minute -----------------------------------


def _paused_visit(nurse_user):
    """Running since 60 min ago; paused from +20 to +25 min (as 18:20-18:25)."""
    _encounter, adm = running_visit()
    start = adm.start.replace(second=0, microsecond=0)
    Administration.objects.filter(pk=adm.pk).update(start=start)
    adm.refresh_from_db()
    charting.pause_add(
        administration=adm, version=adm.version, start=start + timedelta(minutes=20),
        end=start + timedelta(minutes=25),
    )  # fmt: skip
    adm.refresh_from_db()
    return adm


def _change(adm, user, minute: int, rate: int = 150) -> RateChange:
    return rates.rate_change_record(
        administration=adm, rate_ml_h=Decimal(rate), at=adm.start + timedelta(minutes=minute),
        reason="titration", user=user,
    )  # fmt: skip


def test_a_rate_change_inside_a_pause_is_refused_naming_the_pause(nurse_user) -> None:
    adm = _paused_visit(nurse_user)
    with pytest.raises(ChartError) as refused:
        _change(adm, nurse_user, 22)
    paused = (
        f"{_hhmm(adm.start + timedelta(minutes=20))}–{_hhmm(adm.start + timedelta(minutes=25))}"
    )
    assert refused.value.errors["at"][0].startswith(
        f"The infusion was paused {paused}: a rate change then cannot be charted"
    )
    # At the pause's start and at its resume (the rate it resumes at): charted.
    _change(adm, nurse_user, 20)
    _change(adm, nurse_user, 25, rate=100)
    assert RateChange.objects.count() == 2


def test_a_rate_change_after_a_pause_not_yet_resumed_is_refused(nurse_user) -> None:
    _encounter, adm = running_visit()
    charting.administration_pause(
        administration=adm, version=adm.version, at=adm.start + timedelta(minutes=30)
    )
    adm.refresh_from_db()
    with pytest.raises(ChartError) as refused:
        _change(adm, nurse_user, 40)
    assert (
        f"paused since {_hhmm(adm.start + timedelta(minutes=30))}" in refused.value.errors["at"][0]
    )


def test_a_second_rate_change_at_the_same_minute_is_refused_naming_the_first(client_as) -> None:
    _encounter, adm = running_visit()
    client = client_as(roles.NURSE)
    at = adm.start + timedelta(minutes=10)
    _rate_post(client, adm, "125", at=at)
    html = _rate_post(client, adm, "150", at=at)
    assert f"A rate change at {_hhmm(at)} (125 mL/h) is charted already" in html
    assert list(RateChange.objects.values_list("rate_ml_h", flat=True)) == [Decimal(125)]


def test_a_correction_to_the_minute_of_another_rate_change_is_refused(nurse_user) -> None:
    _encounter, adm = running_visit()
    first = _change(adm, nurse_user, 10, rate=125)
    second = _change(adm, nurse_user, 15, rate=150)
    adm.refresh_from_db()
    with pytest.raises(ChartError) as refused:
        rates.rate_change_update(
            rate_change=second, rate_ml_h=Decimal(150), at=first.at, version=adm.version,
            user=nurse_user,
        )  # fmt: skip
    assert "(125 mL/h) is charted already" in refused.value.errors["at"][0]
    # Its own minute is no other's: its rate corrected there.
    rates.rate_change_update(
        rate_change=second, rate_ml_h=Decimal(152), at=second.at, version=adm.version,
        user=nurse_user,
    )  # fmt: skip


def test_a_pause_over_a_rate_change_is_refused(nurse_user) -> None:
    _encounter, adm = running_visit()
    _change(adm, nurse_user, 22)
    adm.refresh_from_db()
    with pytest.raises(ChartError) as refused:
        charting.pause_add(
            administration=adm, version=adm.version, start=adm.start + timedelta(minutes=20),
            end=adm.start + timedelta(minutes=25),
        )  # fmt: skip
    assert "A rate change is charted at" in refused.value.errors["end"][0]
    with pytest.raises(ChartError):
        charting.administration_pause(
            administration=adm, version=adm.version, at=adm.start + timedelta(minutes=21)
        )
    assert not adm.pauses.exists()


# --- 3. the second nurse locked out ------------------------------------------------------------


def _chemo_start(client, *, password: str, order=None, **typed: str) -> str:
    if order is None:
        encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
        order = factories.order_create(
            encounter, factories.drug_get("paclitaxel", DrugClass.CHEMO), dose="300 mg"
        )
    p = f"o{order.pk}-"
    return unescape(
        client.post(
            reverse("mar:order_start", args=[order.encounter_id, order.pk]),
            {p + "method": "infusion", p + "second_username": "nurse-two",
             p + "second_password": password, p + "double_check_confirmed": "on",
             p + "emergency_reason": "pharmacy closed, oncologist ordered now",
             **{p + name: value for name, value in typed.items()}},
            **HX,
        ).content.decode()
    )  # fmt: skip


def test_a_start_at_a_rate_above_most_pumps_is_asked_first(client_as) -> None:
    """As a rate change: the start's rate above 999 mL/h asks (a box beside it), nothing
    started; ticked, it starts at that rate; above 6,000 it is refused."""
    factories.user_create(username="nurse-two", role=roles.NURSE)
    client = client_as(roles.NURSE)
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    order = factories.order_create(
        encounter, factories.drug_get("paclitaxel", DrugClass.CHEMO), dose="300 mg"
    )
    html = _chemo_start(client, password=factories.PASSWORD, order=order, rate_ml_h="7000")
    assert rates.RATE_TOO_HIGH in html
    html = _chemo_start(client, password=factories.PASSWORD, order=order, rate_ml_h="1500")
    assert "Above 999 mL/h: check the rate" in html and 'data-testid="rate-confirm"' in html
    assert not Administration.objects.exists()
    _chemo_start(
        client, password=factories.PASSWORD, order=order, rate_ml_h="1500", rate_confirm="on"
    )
    assert Administration.objects.get().rate_ml_h == Decimal(1500)


def test_the_second_nurse_locked_out_is_told_so_not_that_her_password_is_wrong(
    client_as, settings
) -> None:
    factories.user_create(username="nurse-two", role=roles.NURSE)
    client = client_as(roles.NURSE)
    assert "user name or password is wrong" in _chemo_start(client, password="wrong")
    LoginFailure.objects.bulk_create(
        [
            LoginFailure(username="nurse-two", ip="127.0.0.1")
            for _ in range(settings.LOCKOUT_FAILURES)
        ]
    )
    html = _chemo_start(client, password=factories.PASSWORD)
    minutes = settings.LOCKOUT_WINDOW_SECONDS // 60
    assert (
        f"Too many failed sign-ins for nurse-two on this device: try again in {minutes} "
        "minutes, or ask another nurse."
    ) in html
    assert "user name or password is wrong" not in html
    assert not Administration.objects.exists()
    # The window passed: her right password does it again.
    LoginFailure.objects.update(
        at=timezone.now() - timedelta(seconds=settings.LOCKOUT_WINDOW_SECONDS + 1)
    )
    _chemo_start(client, password=factories.PASSWORD)
    assert Administration.objects.get().double_checked_by.username == "nurse-two"


# --- 4. numbers refused in plain words ---------------------------------------------------------

DJANGO_WORDS = ("Ensure", "digits", "greater than or equal", "less than or equal")


def _said(field: forms.Field, typed: str) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        field.clean(typed)
    return refused.value.messages


def test_no_number_field_on_a_mar_form_says_django_s_default_words() -> None:
    """Every number field of the clinical record's forms (nurse, clerk, pharmacist) is an
    AmountField, so each says its limits in plain words."""
    found = []
    for module_name in (m for m in MODULES if m.startswith("mar.")):
        module = importlib.import_module(module_name)
        for name, form_class in inspect.getmembers(module, inspect.isclass):
            if not issubclass(form_class, forms.BaseForm) or form_class.__module__ != module_name:
                continue
            fields = form_class(**MADE[name]).fields if name in MADE else form_class.base_fields
            for field_name, field in fields.items():
                if isinstance(field, forms.DecimalField):
                    found.append(f"{module_name}.{name}.{field_name}")
                    assert isinstance(field, AmountField), found[-1]
    assert len(found) > 15


ORDER_DOSE = OrderEntryForm.base_fields["dose_value"]
CARD = AdministrationForm.base_fields
MAX_DOSE = DrugMaxDoseForm.base_fields["max_dose_amount"]
LARGEST = "Too large: at most 99,999,999."


@pytest.mark.parametrize(
    ("field", "typed", "said"),
    [
        (ORDER_DOSE, "1234567890123", LARGEST),
        (ORDER_DOSE, "1.123456", "Too many decimals: at most 4 after the point."),
        (CARD["dose_value"], "123456789", LARGEST),
        (CARD["waste_value"], "-1", "Must be 0 or more."),
        (RateChangeForm.base_fields["rate_ml_h"], "-1", "Must be 0 or more."),
        (RateChangeForm.base_fields["rate_ml_h"], "123456789", rates.RATE_TOO_HIGH),
        (FlushDetailsForm.base_fields["volume_ml"], "123456", charting.FLUSH_VOLUME_TOO_LARGE),
        (MAX_DOSE, "1234567890", LARGEST),
    ],
)  # fmt: skip
def test_a_number_out_of_bounds_is_refused_in_plain_words(field, typed, said) -> None:
    messages = _said(field, typed)
    assert messages == [said]  # once, even when two limits say it
    assert not any(word in message for message in messages for word in DJANGO_WORDS)


def test_a_pause_s_edges_are_read_by_the_minute_as_the_chart_shows_them(nurse_user) -> None:
    """A resume tapped at 18:25:30 and a rate change typed 18:25 (18:25:00): at the resume,
    not inside the pause, though seconds before it; likewise a rate change in the minute a
    pause began. A minute further in is inside."""
    _encounter, adm = running_visit()
    start = adm.start.replace(second=0, microsecond=0)
    Administration.objects.filter(pk=adm.pk).update(start=start)
    adm.refresh_from_db()
    charting.pause_add(
        administration=adm, version=adm.version,
        start=start + timedelta(minutes=20, seconds=40),
        end=start + timedelta(minutes=25, seconds=30),
    )  # fmt: skip
    adm.refresh_from_db()
    rates.rate_change_record(
        administration=adm, rate_ml_h=Decimal(100), at=start + timedelta(minutes=25),
        reason="resumed slower", user=nurse_user,
    )  # fmt: skip
    rates.rate_change_record(
        administration=adm, rate_ml_h=Decimal(90), at=start + timedelta(minutes=20, seconds=50),
        reason="before the pause", user=nurse_user,
    )  # fmt: skip
    with pytest.raises(ChartError):
        _change(adm, nurse_user, 21)
    assert RateChange.objects.count() == 2
