"""A chair another patient's visit in progress holds (QA: a new patient's visit opened in
Infusion Center chair 2 while another patient's was in progress there, without a word; the board
showed two "2" cards). At the desk it is said beside the chair (whose visit, since when) and the
visit is opened only once the clerk confirms (a chair is shared briefly at a handover), the
confirm kept in the audit trail; a tick given for one chair does not put the patient in another.
An interface (HL7 ADT) is not asked: its location stands, and nothing fails."""

import re
import uuid
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from mar.audit.models import EVENTS
from mar.hl7.inbound import message_receive
from mar.models import Encounter
from mar.registration.services import CHAIR_CONFIRM, chair_key, chair_taken, encounter_open
from tests import factories
from tests.factories import NEW_YORK
from tests.mar.hl7.builders import message, pid, pv1, register
from tests.mar.registration.test_views import VISIT, field_error

pytestmark = pytest.mark.django_db

CHAIR_2 = {**VISIT, "location_label": "2", "account_number": "V-2"}


def seated_at_0910(**fields: object) -> Encounter:
    """Another patient's visit in progress in Infusion Center chair 2 since 09:10 today."""
    today = timezone.localtime(timezone.now(), NEW_YORK)
    since = today.replace(hour=9, minute=10, second=0, microsecond=0)
    occupant = factories.patient_create(name="Rivera, Ana", mrn="OCC-1")
    return factories.encounter_create(
        patient=occupant, unit="Infusion Center", location_label="2", arrived_at=since, **fields
    )


def test_a_taken_chair_is_said_beside_it_and_nothing_opened(client_as) -> None:
    occupant = seated_at_0910()
    patient = factories.patient_create()
    url = reverse("registration:visit_new", args=[patient.pk])
    refused = client_as("clerk").post(url, CHAIR_2)
    assert refused.status_code == 200
    html = refused.content.decode()
    said = field_error(html, "location_label")
    assert said.startswith("Chair 2 is taken by Rivera, Ana (MRN OCC-1, visit")
    assert f"visit {occupant.pk}), in progress since 09:10" in said
    assert said.endswith("choose another chair or confirm.")
    assert CHAIR_CONFIRM in field_error(html, "chair_confirm")
    box = re.search(r'<input[^>]*name="chair_confirm"[^>]*>', html)
    assert box is not None and 'type="checkbox"' in box.group(0)
    assert "checked" not in box.group(0)  # the box is shown, not ticked
    assert 'value="V-2"' in html  # what was typed stays
    assert not Encounter.objects.filter(patient=patient).exists()


def test_confirmed_the_visit_opens_in_the_chair_and_the_confirm_is_audited(
    client_as, clerk_user
) -> None:
    occupant = seated_at_0910()
    patient = factories.patient_create()
    client = client_as("clerk")
    url = reverse("registration:visit_new", args=[patient.pk])
    refused = client.post(url, CHAIR_2)
    warned = chair_key("Infusion Center", "2")
    assert f'name="chair_warned" value="{warned}"' in refused.content.decode()
    opened = client.post(url, {**CHAIR_2, "chair_confirm": "on", "chair_warned": warned})
    assert opened.status_code == 302
    visit = Encounter.objects.get(patient=patient)
    assert (visit.unit, visit.location_label) == ("Infusion Center", "2")
    if connection.vendor == "postgresql":  # pghistory's context is PostgreSQL's
        event = EVENTS[Encounter].objects.get(pgh_obj_id=visit.pk, pgh_label="insert")
        metadata = event.pgh_context.metadata
        assert metadata["action"] == "visit_open_chair_shared"
        assert metadata["chair_shared_with"] == occupant.pk
        assert metadata["chair_shown"].startswith("Chair 2 is taken by Rivera, Ana")
        assert metadata["user"] == clerk_user.pk


def test_a_tick_given_for_one_chair_does_not_seat_the_patient_in_another_taken_one(
    client_as,
) -> None:
    seated_at_0910()
    other = factories.patient_create(name="Okoro, Ben", mrn="OCC-3")
    factories.encounter_create(patient=other, unit="Infusion Center", location_label="3")
    patient = factories.patient_create()
    url = reverse("registration:visit_new", args=[patient.pk])
    posted = {
        **CHAIR_2,
        "location_label": "3",
        "chair_confirm": "on",
        "chair_warned": chair_key("Infusion Center", "2"),
    }
    refused = client_as("clerk").post(url, posted)
    html = refused.content.decode()
    assert "Chair 3 is taken by Okoro, Ben" in field_error(html, "location_label")
    assert f'name="chair_warned" value="{chair_key("Infusion Center", "3")}"' in html
    box = re.search(r'<input[^>]*name="chair_confirm"[^>]*>', html)
    assert box is not None and 'type="checkbox"' in box.group(0)
    assert "checked" not in box.group(0)  # asked afresh for chair 3
    assert not Encounter.objects.filter(patient=patient).exists()


@pytest.mark.parametrize(
    ("where", "taken"),
    [
        ({"location_label": "2"}, True),
        ({"location_label": " 2 ", "unit": "infusion  center"}, True),  # case and spaces aside
        ({"location_label": "3"}, False),  # another chair
        ({"location_label": ""}, False),  # no chair given
        ({"location_label": "2", "unit": "Emergency Department"}, False),  # another unit's 2
    ],
)
def test_which_chair_is_the_same_chair(where, taken) -> None:
    seated_at_0910()
    patient = factories.patient_create()
    typed = {"unit": "Infusion Center", **where}
    found = chair_taken(unit=typed["unit"], location_label=typed["location_label"], patient=patient)
    assert (found is not None) is taken


def test_a_signed_visit_or_the_patients_own_does_not_hold_the_chair(client_as) -> None:
    """Only another patient's visit in progress: a signed one has left the chair; the
    patient's own visit in progress is the second visit's warning (asked for a reason)."""
    seated_at_0910(status=Encounter.Status.SIGNED)
    someone = factories.patient_create()
    assert chair_taken(unit="Infusion Center", location_label="2", patient=someone) is None
    occupant = seated_at_0910()
    assert chair_taken(unit="Infusion Center", location_label="2", patient=occupant.patient) is None
    response = client_as("clerk").post(
        reverse("registration:visit_new", args=[occupant.patient.pk]), CHAIR_2
    )
    html = response.content.decode()
    assert "is taken by" not in html
    assert "say why" in field_error(html, "second_visit_why")


def test_both_warnings_are_said_at_once_and_both_answers_kept(client_as, clerk_user) -> None:
    """The patient's own visit in progress elsewhere and another patient in the chair: the
    reason and the confirm are asked together; given both, the audit keeps both."""
    occupant = seated_at_0910()
    patient = factories.patient_create()
    factories.encounter_create(
        patient=patient,
        location_label="9",
        arrived_at=datetime(2026, 3, 2, 7, 0, tzinfo=NEW_YORK),
    )
    client = client_as("clerk")
    url = reverse("registration:visit_new", args=[patient.pk])
    html = client.post(url, CHAIR_2).content.decode()
    assert "say why" in field_error(html, "second_visit_why")
    assert "Chair 2 is taken by" in field_error(html, "location_label")
    why = "Moved from the observation bay for the second infusion"
    posted = {
        **CHAIR_2,
        "second_visit_why": why,
        "chair_confirm": "on",
        "chair_warned": chair_key("Infusion Center", "2"),
    }
    assert client.post(url, posted).status_code == 302
    visit = Encounter.objects.get(patient=patient, account_number="V-2")
    if connection.vendor == "postgresql":
        event = EVENTS[Encounter].objects.get(pgh_obj_id=visit.pk, pgh_label="insert")
        metadata = event.pgh_context.metadata
        assert (metadata["action"], metadata["why"]) == ("visit_open_second", why)
        assert metadata["chair_shared_with"] == occupant.pk


def test_a_visit_arrived_another_day_is_said_with_its_date() -> None:
    occupant = factories.patient_create(name="Rivera, Ana", mrn="OCC-1")
    factories.encounter_create(
        patient=occupant,
        location_label="Bed 4",
        arrived_at=datetime(2026, 3, 1, 14, 5, tzinfo=NEW_YORK),
    )
    with pytest.raises(ValidationError) as exc:
        encounter_open(
            patient=factories.patient_create(),
            unit="Infusion Center",
            location_label="bed 4",
            arrived_at=datetime(2026, 3, 2, 8, 0, tzinfo=NEW_YORK),
            chair_confirmed="",
        )
    said = exc.value.message_dict["location_label"][0]
    assert said.startswith("Bed 4 is taken by Rivera, Ana")
    assert "in progress since 2026-03-01 14:05" in said


# --- an interface is not asked ------------------------------------------------------------


def test_hl7_a04_into_a_taken_chair_is_accepted_not_failed() -> None:
    seated_at_0910()
    ack = message_receive(
        message("ADT^A04", pid(mrn="H-7"), pv1(account="V-77", p3="Infusion Center^^2")).encode()
    )
    assert "MSA|AA|" in ack
    visit = Encounter.objects.get(account_number="V-77")
    assert visit.location_label == "2"
    assert Encounter.objects.filter(location_label="2", status="in_progress").count() == 2


def test_hl7_a08_moving_a_visit_into_a_taken_chair_is_accepted() -> None:
    seated_at_0910()
    message_receive(register(mrn="H-8", account="V-88").encode())
    ack = message_receive(
        message("ADT^A08", pid(mrn="H-8"), pv1(account="V-88", p3="Infusion Center^^2")).encode()
    )
    assert "MSA|AA|" in ack
    assert Encounter.objects.get(account_number="V-88").location_label == "2"


# --- over time ------------------------------------------------------------------------------


class ChairMachine(RuleBasedStateMachine):
    """Open visits at the desk in two chairs, confirmed or not, and sign them, in any order:
    a visit is refused exactly when another patient's visit in progress holds its chair and it
    was not confirmed for that chair; the chairs hold what the openings allowed."""

    def __init__(self) -> None:
        super().__init__()
        self.unit = f"Unit {uuid.uuid4().hex[:8]}"  # each example its own unit
        self.patients = [factories.patient_create() for _ in range(3)]
        self.minute = 0
        self.seated: dict[str, set[int]] = {"1": set(), "2": set()}  # chair: patients' pks

    @rule(who=st.integers(0, 2), chair=st.sampled_from(["1", "2"]), confirm=st.booleans())
    def open_visit(self, who: int, chair: str, confirm: bool) -> None:
        patient = self.patients[who]
        self.minute += 1
        others = self.seated[chair] - {patient.pk}
        try:
            encounter_open(
                patient=patient,
                unit=self.unit,
                location_label=chair,
                arrived_at=datetime(2026, 3, 2, 8, 0, tzinfo=NEW_YORK)
                + timedelta(minutes=self.minute),
                chair_confirmed=chair_key(self.unit, chair) if confirm else "",
            )
        except ValidationError as exc:
            assert others and not confirm
            assert "is taken by" in exc.message_dict["location_label"][0]
        else:
            assert confirm or not others
            self.seated[chair].add(patient.pk)

    @rule(chair=st.sampled_from(["1", "2"]))
    def sign_the_chairs_visits(self, chair: str) -> None:
        Encounter.objects.filter(
            unit=self.unit, location_label=chair, status=Encounter.Status.IN_PROGRESS
        ).update(status=Encounter.Status.SIGNED)
        self.seated[chair] = set()

    @invariant()
    def the_chairs_hold_what_the_openings_allowed(self) -> None:
        for chair, patients in self.seated.items():
            held = Encounter.objects.filter(
                unit=self.unit, location_label=chair, status=Encounter.Status.IN_PROGRESS
            ).values_list("patient_id", flat=True)
            assert set(held) == patients


def test_a_chair_is_shared_only_when_confirmed_after_any_sequence() -> None:
    run_state_machine_as_test(
        ChairMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
