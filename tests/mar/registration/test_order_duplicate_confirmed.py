"""A duplicate order entered on purpose is recorded (QA: the confirm left no trace of who entered
a second order beside which): a person who ticks "enter it again anyway" enters the order with
the one it repeats (`Order.duplicate_of`) and a SafetyOverride of kind "duplicate" (who
confirmed it, when, what they were shown), as an allergy override at entry is kept. The nurse's
chart row and the pharmacist's verification queue (and review page) say "second order beside
O16, confirmed by clerk1 at 11:05"; an order refused unconfirmed records nothing; an interface's
order is not asked and records nothing."""

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import EntryMethod, Order, Route, SafetyOverride
from mar.registration.services import OrderEntry, order_duplicate_words, order_enter
from tests import factories

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def ondansetron(**fields: object) -> OrderEntry:
    values: dict[str, object] = {
        "drug": factories.drug_get("ondansetron"),
        "dose_value": Decimal("4"),
        "dose_unit": "mg",
        "route": Route.IV,
        "indication": "R11.2",
        "ordering_provider": "Dr Who",
        "ordering_provider_npi": "1234567893",
        "entry_method": EntryMethod.VERBAL,
    }
    values.update(fields)
    return OrderEntry(**values)


def duplicates() -> list[SafetyOverride]:
    return list(SafetyOverride.objects.filter(kind=SafetyOverride.Kind.DUPLICATE))


# --- 1. the confirmation recorded ---------------------------------------------------------------


def test_a_confirmed_duplicate_records_which_order_it_repeats_who_confirmed_and_when(
    clerk_user,
) -> None:
    encounter = factories.encounter_create()
    first = order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    shown = order_duplicate_words(first)  # what the clerk was told beside the drug
    second = order_enter(
        encounter=encounter, entry=ondansetron(duplicate_confirmed=True), user=clerk_user
    )
    assert second.duplicate_of == first
    [override] = duplicates()
    assert (override.order, override.encounter, override.by) == (second, encounter, clerk_user)
    assert override.at == second.created_at
    assert override.message == f"At order entry: {shown}"
    assert override.reason == f"Confirmed: entered as a second order beside O{first.pk}."
    assert first.duplicate_of is None


def test_a_third_same_order_names_the_latest(clerk_user) -> None:
    encounter = factories.encounter_create()
    order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    second = order_enter(
        encounter=encounter, entry=ondansetron(duplicate_confirmed=True), user=clerk_user
    )
    third = order_enter(
        encounter=encounter, entry=ondansetron(duplicate_confirmed=True), user=clerk_user
    )
    assert third.duplicate_of == second
    assert len(duplicates()) == 2


def test_an_unconfirmed_duplicate_is_refused_and_records_nothing(clerk_user) -> None:
    encounter = factories.encounter_create()
    order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    with pytest.raises(Exception, match="The same order was entered at "):
        order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    assert encounter.orders.count() == 1
    assert duplicates() == []


def test_a_tick_on_an_order_that_is_no_duplicate_records_nothing(clerk_user) -> None:
    encounter = factories.encounter_create()
    order = order_enter(
        encounter=encounter, entry=ondansetron(duplicate_confirmed=True), user=clerk_user
    )
    assert order.duplicate_of is None
    assert duplicates() == []


def test_an_interface_order_is_still_not_asked_and_records_no_duplicate() -> None:
    encounter = factories.encounter_create()
    for placer in ("P-1", "P-2"):
        entry = ondansetron(entry_method=EntryMethod.ELECTRONIC, placer_number=placer)
        order = order_enter(encounter=encounter, entry=entry, user=None)
        assert order.duplicate_of is None
    assert encounter.orders.count() == 2
    assert duplicates() == []


# --- shown to the nurse and the pharmacist ------------------------------------------------------


@pytest.fixture
def confirmed(clerk_user) -> tuple[Order, Order]:
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    first = order_enter(encounter=encounter, entry=ondansetron(), user=clerk_user)
    second = order_enter(
        encounter=encounter, entry=ondansetron(duplicate_confirmed=True), user=clerk_user
    )
    return first, second


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_chart_row_says_the_second_order_and_who_confirmed_it(client_as, confirmed) -> None:
    first, second = confirmed
    html = client_as(roles.NURSE).get(reverse("mar:encounter", args=[second.encounter_id]))
    rows = re.findall(
        r'<div class="order-duplicate[^"]*" data-testid="order-duplicate">(.*?)</div>',
        html.content.decode(),
        re.S,
    )
    at = f"{timezone.localtime(second.created_at):%H:%M}"
    assert [_text(r) for r in rows] == [
        f"Second order beside O{first.pk}, confirmed by clerk1 at {at}"
    ]


def test_the_pharmacists_queue_tells_a_duplicate_confirmed_by_the_desk(
    client_as, confirmed
) -> None:
    first, second = confirmed
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    said = re.findall(r'data-testid="order-duplicate">(.*?)</div>', html, re.S)
    assert len(said) == 1  # the second order only, not the first
    text = _text(said[0])
    assert text.startswith(f"Duplicate? Entered as a second order beside O{first.pk} ")
    assert "confirmed by clerk1 (" in text and "Check it is not duplicate therapy." in text
    review = client_as(roles.PHARMACIST).get(reverse("pharmacy:order_review", args=[second.pk]))
    assert 'data-testid="review-duplicate"' in review.content.decode()
    first_review = client_as(roles.PHARMACIST).get(
        reverse("pharmacy:order_review", args=[first.pk])
    )
    assert 'data-testid="review-duplicate"' not in first_review.content.decode()
