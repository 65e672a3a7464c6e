"""A drug retired from the formulary (mar.pharmacy.services.drug_retire) is refused for a new
order wherever it comes from, saying when and why: the clerk's or nurse's order entry (beside
the drug field), an HL7 order (in the ACK, as an unknown drug), a FHIR import; order entry does
not suggest it. What was already ordered of it is left alone: resent or changed by the ordering
system, and started at the bedside."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.hl7.inbound import message_receive
from mar.models import Administration, Drug, DrugNdc, EntryMethod, Order
from mar.pharmacy.retired import DrugRetired
from mar.pharmacy.services import drug_retire
from mar.registration.services import (
    OrderEntry,
    drug_find,
    drug_for_code,
    drug_search,
    order_enter,
)
from tests import factories
from tests.mar.hl7.builders import message, pid, pv1, rde, register, rxe, rxr, segment, tq1
from tests.mar.hl7.test_inbound import ack_of
from tests.mar.registration.test_views import ORDER, field_error

pytestmark = pytest.mark.django_db

REASON = "No longer stocked"


@pytest.fixture
def retired(pharmacist_user) -> Drug:
    drug = factories.drug_get("oxaliplatin", "chemo")
    drug.synonyms = "Eloxatin"
    drug.hcpcs_code = "J9263"
    drug.save()
    return drug_retire(drug=drug, reason=REASON, user=pharmacist_user)


def said(drug: Drug) -> str:
    day = f"{timezone.localdate(drug.retired_at):%Y-%m-%d}"
    return f"oxaliplatin is retired from the formulary ({day}, {REASON}): choose another drug."


# --- order entry ------------------------------------------------------------------------------


def test_order_entry_refuses_a_retired_drug_beside_the_drug_field(client_as, retired) -> None:
    encounter = factories.encounter_create()
    response = client_as(roles.CLERK).post(
        reverse("registration:order_new", args=[encounter.pk]), ORDER
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert field_error(html, "drug") == said(retired)
    assert 'value="oxaliplatin"' in html  # what was typed kept
    assert not Order.objects.exists()


def test_drug_find_refuses_a_retired_drug_by_name_or_synonym(retired) -> None:
    for typed in ("Oxaliplatin", "eloxatin"):
        with pytest.raises(DrugRetired) as refused:
            drug_find(typed)
        assert refused.value.message_dict["drug"] == [said(retired)]
    assert drug_find("oxaliplatin", retired_ok=True) == retired


def test_the_suggestion_search_does_not_offer_a_retired_drug(client_as, retired) -> None:
    factories.drug_get("oxacillin")
    assert [d.name for d in drug_search("ox")] == ["oxacillin"]
    options = client_as(roles.NURSE).get(reverse("registration:drug_options"), {"drug": "oxa"})
    html = options.content.decode()
    assert '<option value="oxacillin">' in html and "oxaliplatin" not in html


def test_a_typing_error_is_not_offered_a_retired_drug(client_as, retired) -> None:
    encounter = factories.encounter_create()
    response = client_as(roles.CLERK).post(
        reverse("registration:order_new", args=[encounter.pk]), {**ORDER, "drug": "oxaliplatinn"}
    )
    assert "is not in the formulary: ask pharmacy" in field_error(response.content.decode(), "drug")


def test_order_enter_refuses_a_drug_retired_after_it_was_found(pharmacist_user) -> None:
    """The service itself refuses (an order found before the retirement, submitted after)."""
    drug = factories.drug_get("ondansetron")
    entry = OrderEntry(
        drug=drug,
        dose_value=Decimal("8"),
        dose_unit="mg",
        indication="R11.2",
        ordering_provider="Dr. Amara Okafor",
        entry_method=EntryMethod.ELECTRONIC,
    )
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    with pytest.raises(DrugRetired):
        order_enter(encounter=factories.encounter_create(), entry=entry)
    assert not Order.objects.exists()


# --- interfaces -------------------------------------------------------------------------------


def test_drug_for_code_refuses_a_retired_drug_by_ndc_hcpcs_or_name(retired) -> None:
    DrugNdc.objects.create(drug=retired, ndc="00409488802")
    for identifier, text, system in (
        ("00409-4888-02", "", "NDC"),
        ("J9263", "", "HCPCS"),
        ("", "oxaliplatin", ""),
    ):
        with pytest.raises(DrugRetired) as refused:
            drug_for_code(identifier=identifier, text=text, system=system)
        assert refused.value.message_dict["drug"] == [said(retired)]


def test_an_hcpcs_code_shared_with_an_active_drug_names_the_active_one(retired) -> None:
    other = Drug.objects.create(name="oxaliplatin (generic)", hcpcs_code="J9263")
    assert drug_for_code(identifier="J9263", system="HCPCS") == other


def orc(control: str = "NW", placer: str = "P100") -> str:
    return segment("ORC", {1: control, 2: placer, 12: "1234567893^Okafor^Amara^^^Dr."})


def send(*order: str) -> dict[str, list[str]]:
    return ack_of(message_receive(rde("H-1001", "V-9001", *order).encode()))


@pytest.mark.parametrize("code", ["^oxaliplatin^", "J9263^Oxaliplatin^HCPCS"])
def test_an_hl7_order_of_a_retired_drug_is_refused_with_the_message_in_the_ack(
    retired, code
) -> None:
    assert ack_of(message_receive(register().encode()))["MSA"][1] == "AA"
    ack = send(orc(), rxe(code), rxr(), tq1("120"))
    assert ack["MSA"][1] == "AE"
    assert ack["ERR"][2] == "RXE^1^2" and ack["ERR"][3].startswith("103")  # as an unknown drug
    assert ack["ERR"][8] == f"RXE-2: {said(retired)}"
    assert not Order.objects.exists()


def test_an_orm_order_of_a_retired_drug_is_refused_too(retired) -> None:
    assert ack_of(message_receive(register().encode()))["MSA"][1] == "AA"
    rxo = segment("RXO", {1: "^oxaliplatin^", 2: "85", 4: "mg/m2", 20: "C18.9"})
    ack = ack_of(message_receive(message("ORM^O01", pid(), pv1(), orc(), rxo, rxr()).encode()))
    assert ack["MSA"][1] == "AE"
    assert ack["ERR"][2] == "RXO^1^1" and ack["ERR"][8] == f"RXO-1: {said(retired)}"
    assert not Order.objects.exists()


def test_an_hl7_order_entered_before_the_retirement_is_still_resent_and_changed(
    pharmacist_user,
) -> None:
    """Not a new order: the resend is taken once, as before, and a change order changes it."""
    drug = factories.drug_get("oxaliplatin", "chemo")
    assert ack_of(message_receive(register().encode()))["MSA"][1] == "AA"
    assert send(orc(), rxe(), rxr(), tq1("120"))["MSA"][1] == "AA"
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    assert send(orc(), rxe(), rxr(), tq1("120"))["MSA"][1] == "AA"
    changed = send(orc("XO"), rxe(amount="65"), rxr(), tq1("120"))
    assert changed["MSA"][1] == "AA", changed
    order = Order.objects.get()
    assert (order.drug, order.dose_value) == (drug, 65)
    new = send(orc(placer="P101"), rxe(), rxr(), tq1("120"))
    assert new["MSA"][1] == "AE" and "retired from the formulary" in new["ERR"][8]


# --- what was ordered before the retirement ---------------------------------------------------


def test_an_order_written_before_the_retirement_still_starts_at_the_bedside(
    client_as, pharmacist_user
) -> None:
    drug = factories.drug_get("ondansetron")
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    order = order_enter(
        encounter=encounter,
        entry=OrderEntry(
            drug=drug,
            dose_value=Decimal("8"),
            dose_unit="mg",
            indication="R11.2",
            ordering_provider="Dr. Amara Okafor",
            entry_method=EntryMethod.ELECTRONIC,
            placer_number="P1",
        ),
    )
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    nurse = client_as(roles.NURSE)
    html = nurse.get(reverse("mar:encounter", args=[encounter.pk])).content.decode()
    assert "ondansetron" in html
    data = {f"o{order.pk}-method": "push"}
    for name in ("request_key", "order_revision"):
        found = re.search(rf'name="o{order.pk}-{name}" value="([^"]*)"', html)
        assert found is not None, f"the start form carries {name}"
        data[f"o{order.pk}-{name}"] = found[1]
    response = nurse.post(reverse("mar:order_start", args=[encounter.pk, order.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Administration.objects.get(order=order).drug == drug
