"""Each message type through message_receive (what the listener calls), and its ACK."""

from datetime import datetime

import pytest

from mar.hl7.inbound import message_receive, message_reprocess
from mar.models import Encounter, InterfaceMessage, Order, Patient
from tests import factories
from tests.factories import NEW_YORK
from tests.mar.hl7.builders import (
    al1,
    message,
    orc,
    pid,
    pv1,
    rde,
    register,
    rxe,
    rxr,
    segment,
    tq1,
)

pytestmark = pytest.mark.django_db


def ack_of(text: str) -> dict[str, list[str]]:
    """The ACK's segments by name, as field lists (MSH-n at index n-1, others at n)."""
    out = {}
    for line in text.split("\r"):
        fields = line.split("|")
        if fields[0] == "MSH":
            out["MSH"] = ["|", *fields[1:]]
            continue
        out[fields[0]] = fields
    return out


def receive(text: str) -> dict[str, list[str]]:
    return ack_of(message_receive(text.encode()))


def chemo_drugs() -> None:
    drug = factories.drug_get("oxaliplatin", "chemo")
    drug.hcpcs_code = "J9263"
    drug.save()


def test_a04_registers_the_patient_and_opens_the_visit() -> None:
    ack = receive(
        message(
            "ADT^A04",
            segment("EVN", {1: "A04"}),
            pid(),
            al1("Penicillin", "hives"),
            al1("Latex"),
            pv1(),
            control="A04-1",
        )
    )
    assert ack["MSA"][1:3] == ["AA", "A04-1"]
    assert ack["MSH"][8] == "ACK^A04^ACK"
    patient = Patient.objects.get(mrn="H-1001")
    assert (patient.name, patient.sex, str(patient.birth_date)) == (
        "Nguyen, Linh T",
        "F",
        "1964-03-02",
    )
    assert patient.allergies == "Penicillin (hives); Latex"
    encounter = Encounter.objects.get(patient=patient)
    assert (encounter.unit, encounter.location_label, encounter.account_number) == (
        "Infusion Center",
        "7",
        "V-9001",
    )
    assert encounter.attending == "Dr. Amara Okafor"
    assert encounter.arrived_at == datetime(2026, 3, 2, 7, 45, tzinfo=NEW_YORK)
    logged = InterfaceMessage.objects.get(control_id="A04-1")
    assert (logged.outcome, logged.encounter) == ("accepted", encounter)


def test_a_message_is_processed_once_per_control_id() -> None:
    first = message_receive(register(control="ONCE").encode())
    again = message_receive(register(control="ONCE").encode())
    assert again == first
    assert Encounter.objects.count() == 1
    assert InterfaceMessage.objects.count() == 1


def test_a_resend_stamped_with_a_new_send_time_is_still_the_same_message() -> None:
    """MSH-7 (when it was sent) may be stamped again on a resend: it is still answered once."""
    first = register(control="STAMP")
    again = first.replace("|20260302080000|", "|20260302080500|", 1)
    assert again != first
    assert message_receive(again.encode()) == message_receive(first.encode())
    assert (Encounter.objects.count(), InterfaceMessage.objects.count()) == (1, 1)


def test_a_different_message_under_a_used_control_id_is_rejected_not_answered_as_filed() -> None:
    """A sender's counter reset: the second visit under the first one's control id must not get
    the first one's AA (the sender would think it filed); it is logged apart, unprocessed,
    answered AR 205 on MSH-10, and its own resend gets the same answer."""
    first = receive(register(mrn="H-1001", account="V-9001", control="RESET-1"))
    assert first["MSA"][1:3] == ["AA", "RESET-1"]
    other = register(mrn="H-2002", account="V-9002", control="RESET-1")
    ack = receive(other)
    assert ack["MSA"][1:3] == ["AR", "RESET-1"]
    assert ack["ERR"][2] == "MSH^1^10"
    assert ack["ERR"][3].startswith("205^")
    assert not Encounter.objects.filter(account_number="V-9002").exists()
    reused = InterfaceMessage.objects.get(reuses__isnull=False)
    assert reused.reuses == InterfaceMessage.objects.get(reuses=None)
    assert (reused.outcome, reused.error_location, reused.raw) == ("rejected", "MSH-10", other)
    assert receive(other) == ack  # its resend: the same answer, no third row
    assert InterfaceMessage.objects.count() == 2


def test_a_rejected_reused_control_id_is_processed_by_an_administrator(admin_role_user) -> None:
    """Nothing is dropped: an administrator who finds the message new processes it from the log."""
    receive(register(mrn="H-1001", account="V-9001", control="RESET-2"))
    receive(register(mrn="H-2002", account="V-9002", control="RESET-2"))
    reused = InterfaceMessage.objects.get(reuses__isnull=False)
    done = message_reprocess(message=reused, user=admin_role_user)
    assert done.outcome == "accepted"
    assert Encounter.objects.filter(account_number="V-9002").exists()


def test_the_same_visit_under_a_new_control_id_is_an_error_on_pv1_19() -> None:
    receive(register())
    ack = receive(register())
    assert ack["MSA"][1] == "AE"
    assert ack["ERR"][2] == "PV1^1^19"
    assert ack["ERR"][3].startswith("205^")


def test_a08_updates_demographics_and_the_visit() -> None:
    receive(register())
    ack = receive(
        message(
            "ADT^A08",
            pid(name="Nguyen^Linh^Thi", sex="F"),
            al1("Sulfa"),
            pv1(**{"p3": "Infusion Center^^12"}),
        )
    )
    assert ack["MSA"][1] == "AA"
    patient = Patient.objects.get(mrn="H-1001")
    assert (patient.name, patient.allergies) == ("Nguyen, Linh Thi", "Sulfa")
    assert Encounter.objects.get().location_label == "12"


def test_a08_keeps_the_unit_as_visits_spell_it() -> None:
    """A unit sent by A08 in another case or with other spaces is the unit the visits are in
    (`unit_as_known`, as A04 and the desk): one unit on the board, not two."""
    receive(register(mrn="H-1001", account="V-9001"))
    receive(register(mrn="H-2002", account="V-9002"))
    Encounter.objects.filter(account_number="V-9002").update(unit="Oncology Day Unit")
    ack = receive(
        message("ADT^A08", pid(mrn="H-2002"), pv1(account="V-9002", p3=" infusion CENTER "))
    )
    assert ack["MSA"][1] == "AA"
    assert Encounter.objects.get(account_number="V-9002").unit == "Infusion Center"


def test_a08_of_a_signed_visit_sending_its_unit_in_another_case_changes_nothing() -> None:
    """The unit as the visit already spells it is no change: no refusal of a signed visit's A08
    that changes nothing (before, "infusion center" was a change and the message an error)."""
    receive(register())
    Encounter.objects.update(status=Encounter.Status.SIGNED)
    ack = receive(message("ADT^A08", pid(), pv1(p3="INFUSION CENTER^^7")))
    assert ack["MSA"][1] == "AA"
    assert Encounter.objects.get().unit == "Infusion Center"


def test_a08_of_a_signed_visit_changing_it_is_refused_on_pv1_19() -> None:
    receive(register())
    Encounter.objects.update(status=Encounter.Status.SIGNED)
    ack = receive(message("ADT^A08", pid(), pv1(p3="Emergency Department^^7")))
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "PV1^1^19")
    assert "signed" in "|".join(ack["ERR"])
    assert Encounter.objects.get().unit == "Infusion Center"


def test_a08_unit_longer_than_kept_is_an_error_on_pv1_3_not_an_internal_error() -> None:
    """A08 goes through the same checks as A04 (`encounter_update`): before, the save failed
    in the database (AE 207 "Internal error", naming no field)."""
    receive(register())
    ack = receive(message("ADT^A08", pid(), pv1(p3="U" * 150)))
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "PV1^1^3")
    assert "At most 100 characters" in "|".join(ack["ERR"])
    assert Encounter.objects.get().unit == "Infusion Center"


def test_a03_records_the_discharge_time() -> None:
    receive(register())
    ack = receive(message("ADT^A03", pid(), pv1(**{"p45": "202603021130"})))
    assert ack["MSA"][1] == "AA"
    assert Encounter.objects.get().discharged_at == datetime(2026, 3, 2, 11, 30, tzinfo=NEW_YORK)


def test_a11_cancels_a_visit_with_nothing_charted() -> None:
    receive(register())
    assert receive(message("ADT^A11", pid(), pv1()))["MSA"][1] == "AA"
    assert not Encounter.objects.exists()


def test_a11_refuses_a_visit_with_orders() -> None:
    chemo_drugs()
    receive(register())
    receive(rde())
    ack = receive(message("ADT^A11", pid(), pv1()))
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "PV1^1^19")
    assert Encounter.objects.exists()


def test_rde_o11_enters_an_order_for_pharmacy_to_verify() -> None:
    chemo_drugs()
    receive(register())
    ack = receive(rde("H-1001", "V-9001", orc(), rxe("J9263^Oxaliplatin^HCPCS"), rxr(), tq1("120")))
    assert ack["MSA"][1] == "AA", ack
    order = Order.objects.get()
    assert (order.drug.name, order.dose, order.dose_basis, order.duration_minutes) == (
        "oxaliplatin",
        "85 mg/m²",
        "per_m2",
        120,
    )
    assert (order.ordering_provider, order.ordering_provider_npi) == (
        "Dr. Amara Okafor",
        "1234567893",
    )
    assert (order.entry_method, order.entered_by, order.verified_by) == ("electronic", None, None)
    assert order.indication_code == "C18.9"


def test_orm_o01_with_rxo_and_a_rate() -> None:
    factories.drug_get("sodium chloride 0.9%", "hydration")
    receive(register())
    rxo = segment(
        "RXO", {1: "^sodium chloride 0.9%^", 2: "1000", 4: "mL", 20: "E86.0", 21: "250", 22: "mL/h"}
    )
    ack = receive(message("ORM^O01", pid(), pv1(), orc(), rxo, rxr("IV")))
    assert ack["MSA"][1] == "AA"
    order = Order.objects.get()
    assert (order.dose, order.rate_value, order.rate_unit) == ("1000 mL", 250, "mL/h")


@pytest.mark.parametrize(
    ("build", "ack_code", "location", "hl7_code"),
    [
        (lambda: register(version="2.9"), "AR", "MSH^1^12", "203"),
        (lambda: message("ADT^A04", segment("EVN", {1: "A04"}), pv1()), "AE", "PID^1", "100"),
        (
            lambda: rde("H-1001", "V-9001", orc(), rxe(code="J9999^unobtainium^HCPCS"), rxr()),
            "AE",
            "RXE^1^2",
            "103",
        ),
        (lambda: rde("H-1001", "V-9001", orc(), rxe(), rxr("PO")), "AE", "RXR^1^1", "103"),
        (lambda: rde("H-1001", "V-9001", orc("1234567890"), rxe(), rxr()), "AE", "ORC^1^12", "207"),
        (
            lambda: rde("H-1001", "V-9001", orc(), rxe(indication="nonsense words"), rxr()),
            "AE",
            "RXE^1^27",
            "207",
        ),
        (lambda: rde("NOBODY", "V-9001"), "AE", "PID^1^3", "204"),
        (lambda: message("ADT^A04", pid(sex="Q"), pv1(account="V-2")), "AE", "PID^1^8", "103"),
        (
            lambda: message("ADT^A04", pid(), pv1(account="V-3", arrived="2026-03-02")),
            "AE",
            "PV1^1^44",
            "102",
        ),
        (lambda: message("ADT^A01", pid(), pv1(account="V-4")), "AR", "MSH^1^9", "201"),
        (lambda: message("SIU^S12", pid()), "AR", "MSH^1^9", "200"),
    ],
    ids=[
        "wrong-version",
        "missing-pid",
        "unknown-drug",
        "unknown-route",
        "bad-npi",
        "bad-indication",
        "unknown-patient",
        "bad-sex",
        "bad-time",
        "unsupported-event",
        "unsupported-type",
    ],
)
def test_a_bad_message_is_answered_with_the_segment_and_field(
    build, ack_code, location, hl7_code
) -> None:
    chemo_drugs()
    receive(register())
    orders_before = Order.objects.count()
    ack = receive(build())
    assert ack["MSA"][1] == ack_code, ack
    assert ack["ERR"][2] == location
    assert ack["ERR"][3].split("^")[0] == hl7_code
    assert Order.objects.count() == orders_before
    logged = InterfaceMessage.objects.order_by("-pk").first()
    assert logged.outcome == {"AE": "error", "AR": "rejected"}[ack_code]
    assert logged.error_text


def test_garbage_is_rejected_and_logged() -> None:
    ack = receive("\x00\xff not hl7 at all")
    assert ack["MSA"][1] == "AR"
    assert InterfaceMessage.objects.get().outcome == "rejected"


def test_an_order_message_is_all_or_nothing() -> None:
    chemo_drugs()
    receive(register())
    ack = receive(rde("H-1001", "V-9001", orc(), rxe(), rxr(), orc(), rxe(code="^nothing^"), rxr()))
    assert ack["MSA"][1] == "AE"
    assert not Order.objects.exists()


def test_a_failed_message_is_reprocessed_after_the_fix(admin_role_user) -> None:
    receive(register())
    ack = receive(rde("H-1001", "V-9001", orc(), rxe(code="^teprotumumab^"), rxr(), tq1("90")))
    assert ack["MSA"][1] == "AE"
    failed = InterfaceMessage.objects.get(outcome="error")
    factories.drug_get("teprotumumab", None)  # pharmacy adds it to the formulary
    again = message_reprocess(message=failed, user=admin_role_user)
    assert (again.outcome, again.attempts, again.reprocessed_by) == ("accepted", 2, admin_role_user)
    assert Order.objects.get().drug.name == "teprotumumab"


def test_v2_3_acks_carry_err_1() -> None:
    text = message_receive(message("ADT^A04", pv1(), version="2.3").encode())
    ack = ack_of(text)
    assert ack["MSH"][11] == "2.3"
    assert ack["ERR"][1].startswith("PID^1^^100&")


@pytest.mark.parametrize(
    ("patient", "visit", "where", "says"),
    [
        (pid(name="A" * 300 + "^B"), pv1(), "PID^1^5", "At most 200 characters (this one has 303)"),
        (pid(), pv1(account="V" * 80), "PV1^1^19", "At most 40 characters"),
        (pid(), pv1(_3="U" * 150), "PV1^1^3", "At most 100 characters"),
    ],
    ids=["name", "account", "unit"],
)
def test_a_field_longer_than_kept_is_an_error_on_that_field_not_an_internal_error(
    patient, visit, where, says
) -> None:
    """Before, PostgreSQL refused the save (a DataError naming no field): AE 207 'Internal
    error'. The services now say which field, as the clerk's forms do."""
    ack = receive(message("ADT^A04", segment("EVN", {1: "A04"}), patient, visit))
    assert ack["MSA"][1] == "AE"
    assert ack["ERR"][2] == where
    assert says in ack["ERR"][3]
    assert not Patient.objects.exists()


def test_a08_fills_the_blank_account_number_of_a_signed_visit_named_by_its_arrival() -> None:
    """A signed visit with no account number (the clerk left it empty): ADT^A08 with PV1-19
    fills it (`encounter_account_set`, registration's number, not an addendum), the visit named
    by its arrival (PV1-44) since no visit has that number yet; the ACK says what was done.
    Before, a signed visit's A08 was refused and EDIT-ACCOUNT could only be overridden."""
    receive(register(account="V-9001"))
    Encounter.objects.update(account_number="", status=Encounter.Status.SIGNED)
    ack = receive(message("ADT^A08", pid(), pv1(account="V-9001")))
    assert ack["MSA"][1] == "AA"
    visit = Encounter.objects.get()
    assert visit.account_number == "V-9001"
    assert (
        ack["MSA"][3] == f"PV1-19 V-9001 entered on visit {visit.pk} (it had none); charges re-run."
    )


def test_a08_filling_a_signed_visits_number_still_refuses_its_other_changes() -> None:
    """The number is registration's; the unit is the record's: a signed visit's A08 changing
    the unit is refused as before, and then nothing is done (the number stays blank)."""
    receive(register(account="V-9001"))
    Encounter.objects.update(account_number="", status=Encounter.Status.SIGNED)
    ack = receive(message("ADT^A08", pid(), pv1(account="V-9001", p3="Emergency Department^^7")))
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "PV1^1^19")
    assert "signed" in "|".join(ack["ERR"])
    assert Encounter.objects.get().account_number == ""


def test_a08_of_a_number_in_use_does_not_fill_another_visit() -> None:
    """PV1-19 naming another visit's number is that visit's A08: the blank one stays blank (here
    the number is another patient's: refused as before)."""
    receive(register(mrn="H-1001", account="V-9001"))
    Encounter.objects.update(account_number="", status=Encounter.Status.SIGNED)
    receive(register(mrn="H-2002", account="V-9002"))
    ack = receive(message("ADT^A08", pid(), pv1(account="v-9002")))
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "PV1^1^19")
    assert Encounter.objects.filter(account_number="").count() == 1


def test_a08_naming_no_visit_without_a_number_is_still_an_unknown_visit() -> None:
    receive(register(account="V-9001"))
    Encounter.objects.update(account_number="", status=Encounter.Status.SIGNED)
    ack = receive(message("ADT^A08", pid(), pv1(account="V-9009", p44="202603021200")))
    assert (ack["MSA"][1], ack["ERR"][2]) == ("AE", "PV1^1^19")
    assert Encounter.objects.get().account_number == ""
