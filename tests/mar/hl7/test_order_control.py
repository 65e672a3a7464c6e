"""Pharmacy orders by their placer number (ORC-2) over their life: an order the ordering system
sends again under a new control id is entered once (a doubled order on the MAR could be given
twice); a different order under a number already used is refused (205 on ORC-2); ORC-1 CA and DC
withdraw the order the number names: not given yet, it is documented not given (DOC-6 asks no
more of it); given, a cancel is refused and a discontinue changes nothing. ORC-1 XO (a change):
test_order_change.py."""

import pytest
from django.utils import timezone

from mar.hl7.inbound import message_receive
from mar.models import Administration, Order
from tests import factories
from tests.mar.hl7.builders import rde, register, rxe, rxr, segment, tq1
from tests.mar.hl7.test_inbound import ack_of, chemo_drugs

pytestmark = pytest.mark.django_db


def orc(control: str = "NW", placer: str = "P100") -> str:
    return segment("ORC", {1: control, 2: placer, 12: "1234567893^Okafor^Amara^^^Dr."})


def send(*order: str) -> dict[str, list[str]]:
    return ack_of(message_receive(rde("H-1001", "V-9001", *order).encode()))


@pytest.fixture
def visit() -> None:
    chemo_drugs()
    assert ack_of(message_receive(register().encode()))["MSA"][1] == "AA"


def test_the_same_order_sent_again_under_a_new_control_id_is_entered_once(visit) -> None:
    first = send(orc(), rxe("J9263^Oxaliplatin^HCPCS"), rxr(), tq1("120"))
    again = send(orc(), rxe("J9263^Oxaliplatin^HCPCS"), rxr(), tq1("120"))
    assert (first["MSA"][1], again["MSA"][1]) == ("AA", "AA")
    order = Order.objects.get()
    assert order.placer_number == "P100"


def test_a_different_order_under_a_placer_number_used_is_refused_on_orc_2(visit) -> None:
    assert send(orc(), rxe(amount="85"), rxr())["MSA"][1] == "AA"
    ack = send(orc(), rxe(amount="130"), rxr())
    assert ack["MSA"][1] == "AE"
    assert ack["ERR"][2] == "ORC^1^2" and ack["ERR"][3].startswith("205")
    assert "already on this visit" in ack["ERR"][8]
    assert Order.objects.count() == 1 and Order.objects.get().dose_value == 85


def test_two_orders_with_their_own_numbers_are_two_orders(visit) -> None:
    assert send(orc(placer="P100"), rxe(amount="85"), rxr())["MSA"][1] == "AA"
    assert send(orc(placer="P101"), rxe(amount="85"), rxr())["MSA"][1] == "AA"
    assert sorted(Order.objects.values_list("placer_number", flat=True)) == ["P100", "P101"]


@pytest.mark.parametrize(("control", "words"), [("CA", "cancelled"), ("DC", "discontinued")])
def test_a_cancel_or_discontinue_of_an_order_not_given_documents_it_not_given(
    visit, control: str, words: str
) -> None:
    assert send(orc(), rxe(), rxr())["MSA"][1] == "AA"
    ack = send(orc(control))
    assert ack["MSA"][1] == "AA", ack
    order = Order.objects.get()
    assert order.disposition == Order.Disposition.NOT_GIVEN
    assert order.disposition_reason == f"{words} by the ordering system (HL7 ORC-1 {control})"


def _given(order: Order) -> Administration:
    site = factories.site_create(order.encounter, placed_at=timezone.now())
    return factories.administration_create(
        order.encounter, order, site=site, start=timezone.now(), stop=None, method="push"
    )


def test_a_cancel_of_an_order_already_given_is_refused_and_changes_nothing(visit) -> None:
    assert send(orc(), rxe(), rxr())["MSA"][1] == "AA"
    order = Order.objects.get()
    _given(order)
    ack = send(orc("CA"))
    assert ack["MSA"][1] == "AE" and ack["ERR"][2] == "ORC^1^2"
    assert "already given" in ack["ERR"][8]
    order.refresh_from_db()
    assert order.disposition == ""


def test_a_discontinue_of_an_order_given_changes_nothing(visit) -> None:
    assert send(orc(), rxe(), rxr())["MSA"][1] == "AA"
    order = Order.objects.get()
    _given(order)
    assert send(orc("DC"))["MSA"][1] == "AA"
    order.refresh_from_db()
    assert order.disposition == "" and order.administrations.count() == 1


def test_a_cancel_naming_no_order_of_the_visit_is_an_error_on_orc_2(visit) -> None:
    ack = send(orc("CA", placer="P999"))
    assert ack["MSA"][1] == "AE" and ack["ERR"][2] == "ORC^1^2"
    assert "No order P999 on this visit" in ack["ERR"][8]


def test_an_order_control_not_handled_says_which_are(visit) -> None:
    assert send(orc(), rxe(), rxr())["MSA"][1] == "AA"
    ack = send(orc("HD"), rxe(), rxr())
    assert ack["MSA"][1] == "AE" and ack["ERR"][2] == "ORC^1^1"
    assert "NW (new order), XO (change order), CA (cancel) and DC (discontinue)" in ack["ERR"][8]


def test_the_pharmacist_sees_an_order_withdrawn_by_the_ordering_system(visit, client_as) -> None:
    from django.urls import reverse

    assert send(orc(), rxe(), rxr())["MSA"][1] == "AA"
    assert send(orc("CA"))["MSA"][1] == "AA"
    page = client_as("pharmacist").get(reverse("pharmacy:orders")).content.decode()
    assert "Not given: cancelled by the ordering system (HL7 ORC-1 CA)" in page
