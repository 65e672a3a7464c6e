"""A change order (HL7 ORC-1 XO) over a real socket, as the ordering system sends it when the
prescriber changes a dose, rate, duration, route or indication. Not given yet, the order takes
the change and goes back to the pharmacist's queue (AA); the order as it stands sent again
changes nothing (AA); a different drug, an order already given, no such order, an order
withdrawn or a signed visit are refused (AE, naming the field) and change nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from mar.audit.models import OrderEvent
from mar.hl7.mllp import frame
from mar.models import Encounter, Order
from mar.pharmacy.services import order_verify
from mar.services.safety import needs_verification
from tests import factories
from tests.mar.hl7.builders import rde, register, rxe, rxr, segment, tq1
from tests.mar.hl7.test_mllp import err, listener, msa, send  # noqa: F401 - listener: fixture

pytestmark = pytest.mark.django_db(transaction=True)


def orc(control: str, placer: str = "P100") -> str:
    return segment("ORC", {1: control, 2: placer, 12: "1234567893^Okafor^Amara^^^Dr."})


def order_message(
    control: str,
    *,
    amount: str = "85",
    code: str = "J9263^Oxaliplatin^HCPCS",
    minutes: str = "120",
    placer: str = "P100",
    route: str = "IV",
) -> bytes:
    body = (orc(control, placer), rxe(code=code, amount=amount), rxr(route), tq1(minutes))
    return frame(rde("H-1001", "V-9001", *body))


@pytest.fixture
def ordered(listener) -> Order:  # noqa: F811 - the fixture imported above
    """A registered visit with oxaliplatin 85 mg/m² over 120 min, verified by the pharmacist."""
    drug = factories.drug_get("oxaliplatin", "chemo")
    drug.hcpcs_code = "J9263"
    drug.save()
    factories.drug_get("ondansetron")
    acks = send(listener, frame(register()), order_message("NW"))
    assert [msa(a)[1] for a in acks] == ["AA", "AA"]
    order = Order.objects.get()
    order_verify(order=order, user=factories.user_create(username="pharm", role="pharmacist"))
    return order


def as_stored(order: Order) -> tuple[object, ...]:
    order.refresh_from_db()
    return (order.drug_id, order.dose, order.route, order.duration_minutes, order.verified_at,
            order.revision)  # fmt: skip


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_change_order_changes_the_order_and_sends_it_back_to_the_pharmacist(
    listener,  # noqa: F811
    ordered: Order,
) -> None:
    (ack,) = send(listener, order_message("XO", amount="65", minutes="90"))
    assert msa(ack)[1] == "AA", ack
    order = Order.objects.get()  # still one order under P100
    assert (order.dose_value, order.dose, order.duration_minutes) == (Decimal(65), "65 mg/m²", 90)
    assert order.change_note == "dose 85 mg/m² → 65 mg/m²; duration 120 min → 90 min"
    assert order.revision == 1 and order.changed_at is not None
    # Verification cleared: the high-alert order waits for the pharmacist again.
    assert (order.verified_at, order.verified_by) == (None, None)
    assert needs_verification(order)
    # Audited: the change is in the order's history, with what changed.
    change = OrderEvent.objects.filter(pgh_obj=order, revision=1).select_related("pgh_context")
    assert change.count() == 1
    context = change.get().pgh_context
    assert context is not None
    assert context.metadata["action"] == "order_change"
    assert context.metadata["changed"] == order.change_note


def test_the_order_as_it_stands_sent_again_is_a_resend_that_changes_nothing(
    listener,  # noqa: F811
    ordered: Order,
) -> None:
    before = as_stored(ordered)
    (ack,) = send(listener, order_message("XO"))
    assert msa(ack)[1] == "AA", ack
    assert as_stored(ordered) == before  # verification kept, revision unchanged
    # A change, then the same change again under a new control id: changed once.
    first, again = send(
        listener, order_message("XO", amount="65"), order_message("XO", amount="65")
    )
    assert (msa(first)[1], msa(again)[1]) == ("AA", "AA")
    ordered.refresh_from_db()
    assert (ordered.revision, ordered.dose_value) == (1, 65)


def test_a_change_to_another_drug_is_refused_on_the_drug_field(
    listener,  # noqa: F811
    ordered: Order,
) -> None:
    before = as_stored(ordered)
    (ack,) = send(listener, order_message("XO", code="^ondansetron^", amount="8"))
    assert msa(ack)[1] == "AE"
    assert err(ack)[2] == "RXE^1^2"
    assert "discontinue it and send the new drug as a new order" in err(ack)[-1]
    assert as_stored(ordered) == before


def test_a_change_to_an_order_already_given_is_refused_saying_what_was_given_and_when(
    listener,  # noqa: F811
    ordered: Order,
) -> None:
    at = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    site = factories.site_create(ordered.encounter, placed_at=at)
    given = factories.administration_create(
        ordered.encounter, ordered, site=site, start=at, stop=None
    )
    before = as_stored(ordered)
    (ack,) = send(listener, order_message("XO", amount="65"))
    assert msa(ack)[1] == "AE"
    assert err(ack)[2] == "ORC^1^2"
    text = err(ack)[-1]
    local = timezone.localtime(at, ordered.encounter.zone)
    assert f"was already given (A{given.pk}, infusion started {local:%Y-%m-%d %H:%M})" in text
    assert "ORC-1 XO does not change it" in text and "(ORC-1 DC)" in text
    assert as_stored(ordered) == before


def test_a_change_of_an_order_not_on_the_visit_is_refused_on_orc_2(
    listener,  # noqa: F811
    ordered: Order,
) -> None:
    (ack,) = send(listener, order_message("XO", placer="P999", amount="65"))
    assert msa(ack)[1] == "AE" and err(ack)[2] == "ORC^1^2"
    assert "no order P999 on this visit to change" in err(ack)[-1]
    assert Order.objects.count() == 1


def test_a_change_to_an_order_withdrawn_is_refused(
    listener,  # noqa: F811
    ordered: Order,
) -> None:
    (cancel,) = send(listener, frame(rde("H-1001", "V-9001", orc("CA"))))
    assert msa(cancel)[1] == "AA"
    (ack,) = send(listener, order_message("XO", amount="65"))
    assert msa(ack)[1] == "AE" and err(ack)[2] == "ORC^1^2"
    assert "documented not given: cancelled by the ordering system" in err(ack)[-1]
    ordered.refresh_from_db()
    assert (ordered.dose_value, ordered.revision) == (85, 0)


def test_a_change_on_a_signed_visit_is_refused(listener, ordered: Order) -> None:  # noqa: F811
    Encounter.objects.filter(pk=ordered.encounter_id).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    (ack,) = send(listener, order_message("XO", amount="65"))
    assert msa(ack)[1] == "AE"
    assert "This visit is signed" in err(ack)[-1]
    ordered.refresh_from_db()
    assert (ordered.dose_value, ordered.revision) == (85, 0)


def test_a_change_with_a_bad_field_is_refused_naming_it(listener, ordered: Order) -> None:  # noqa: F811
    (ack,) = send(listener, order_message("XO", route="PO"))
    assert msa(ack)[1] == "AE" and err(ack)[2] == "RXR^1^1"
    (ack,) = send(listener, order_message("XO", amount="0"))
    assert msa(ack)[1] == "AE" and err(ack)[2] == "RXE^1^3"
    ordered.refresh_from_db()
    assert (ordered.dose_value, ordered.revision) == (85, 0)
