"""A stateful property test of the HL7 interface over time: registrations and orders sent, sent
again (as they are, or stamped with a new send time), control ids reused by different messages,
failed ones processed again by an administrator, in any order.

Orders come new (ORC-1 NW) or changed (XO), and the nurse gives some of them meanwhile; the
pharmacist verifies some.

After every step, what the sender was told holds: an AA answer means what that message says is
filed (never the answer of another message), no message is processed twice, an order is filed
once per placer number (ORC-2) however often it is sent, and says what the last message accepted
under its number says; every message sent is in the interface log (nothing dropped without a
trace); an order once given never changes its drug or dose; and an order changed is unverified
until a pharmacist verifies it again."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from mar.hl7.inbound import message_receive, message_reprocess, same_message
from mar.models import Encounter, InterfaceMessage, Order
from mar.pharmacy.services import order_verify
from tests import factories
from tests.mar.hl7.builders import orc, rde, register, rxe, rxr, tq1

pytestmark = pytest.mark.django_db


def msa_code(ack: str) -> str:
    line = next(line for line in ack.split("\r") if line.startswith("MSA"))
    return line.split("|")[1]


def account_of(text: str) -> str:
    pv1 = next(line for line in text.split("\r") if line.startswith("PV1"))
    return pv1.split("|")[19]


def placer_of(text: str) -> str:
    orc_line = next(line for line in text.split("\r") if line.startswith("ORC"))
    return orc_line.split("|")[2]


def amount_of(text: str) -> str:
    rxe_line = next(line for line in text.split("\r") if line.startswith("RXE"))
    return rxe_line.split("|")[3]


class Interface(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Names of its own: the database is shared by every machine of the run.
        self.prefix = uuid.uuid4().hex[:8]
        self.admin = factories.user_create(username=f"admin-{self.prefix}", role="admin")
        factories.drug_get("oxaliplatin", "chemo")
        self.pharmacist = factories.user_create(username=f"pharm-{self.prefix}", role="pharmacist")
        self.sent: list[str] = []  # every text sent, in order
        self.last_answer: dict[str, str] = {}  # text -> the last ACK it got
        self.given_as: dict[int, tuple[int, Decimal | None]] = {}  # order -> drug, dose when given
        self.changes = 0

    def _orders(self) -> list[Order]:
        return list(Order.objects.filter(encounter__account_number__startswith=self.prefix))

    def _processed(self, process: Callable[[], object]) -> None:
        """Run one message through; an order it changed is no longer verified."""
        before = {o.pk: o.revision for o in self._orders()}
        process()
        for order in self._orders():
            if order.revision != before.get(order.pk, 0):
                assert order.revision > before.get(order.pk, 0)
                assert (order.verified_at, order.verified_by) == (None, None)

    def _send(self, text: str) -> str:
        answer: list[str] = []
        self._processed(lambda: answer.append(message_receive(text.encode())))
        ack = answer[0]
        self.sent.append(text)
        self.last_answer[text] = ack
        return ack

    def _rows(self) -> list[InterfaceMessage]:
        return list(InterfaceMessage.objects.filter(control_id__startswith=self.prefix))

    @initialize()
    def a_visit_with_an_order(self) -> None:
        """Visit 0 registered with order P100, under control ids of their own: the changes and
        administrations then have an order to act on from the first step."""
        mrn, account = f"{self.prefix}-M0", f"{self.prefix}-V0"
        self._send(register(mrn=mrn, account=account, control=f"{self.prefix}-I0"))
        self._send(rde(mrn, account, orc(), rxe(), rxr(), tq1(), control=f"{self.prefix}-I1"))

    @rule(
        visit=st.integers(0, 2),
        control=st.integers(0, 3),
        kind=st.sampled_from(["register", "order", "change"]),
        amount=st.sampled_from(["85", "100", "65"]),
        placer=st.sampled_from(["P100", "P101"]),
    )
    def send(self, visit: int, control: int, kind: str, amount: str, placer: str) -> None:
        mrn, account = f"{self.prefix}-M{visit}", f"{self.prefix}-V{visit}"
        control_id = f"{self.prefix}-C{control}"
        if kind == "register":
            text = register(mrn=mrn, account=account, control=control_id)
        else:
            head = orc().replace("|P100|", f"|{placer}|")
            if kind == "change":
                head = head.replace("ORC|NW|", "ORC|XO|", 1)
            text = rde(mrn, account, head, rxe(amount=amount), rxr(), tq1(), control=control_id)
        self._send(text)

    @rule(
        visit=st.integers(0, 1),
        amount=st.sampled_from(["85", "100", "65"]),
        placer=st.sampled_from(["P100", "P101"]),
    )
    def change(self, visit: int, amount: str, placer: str) -> None:
        """The prescriber changes the dose: ORC-1 XO under a control id of its own."""
        self.changes += 1
        mrn, account = f"{self.prefix}-M{visit}", f"{self.prefix}-V{visit}"
        head = orc().replace("|P100|", f"|{placer}|").replace("ORC|NW|", "ORC|XO|", 1)
        body = (head, rxe(amount=amount), rxr(), tq1())
        self._send(rde(mrn, account, *body, control=f"{self.prefix}-X{self.changes}"))

    @rule(visit=st.integers(0, 2), placer=st.sampled_from(["P100", "P101"]))
    def give(self, visit: int, placer: str) -> None:
        """The nurse charts an administration of the order (an XO after it is refused)."""
        order = Order.objects.filter(
            encounter__account_number=f"{self.prefix}-V{visit}", placer_number=placer
        ).first()
        if order is None or order.disposition:
            return
        start = timezone.now() - timedelta(minutes=1)
        factories.administration_create(order.encounter, order, site=None, start=start, stop=None)
        self.given_as.setdefault(order.pk, (order.drug_id, order.dose_value))

    @rule(data=st.data())
    def verify(self, data: st.DataObject) -> None:
        """The pharmacist verifies an order waiting for it."""
        waiting = [o for o in self._orders() if o.verified_at is None]
        if waiting:
            order_verify(order=data.draw(st.sampled_from(waiting)), user=self.pharmacist)

    @rule(data=st.data(), restamp=st.booleans())
    def send_again(self, data: st.DataObject, restamp: bool) -> None:
        """A resend after a lost ACK: it changes nothing filed and adds no log row."""
        if not self.sent:
            return
        text = data.draw(st.sampled_from(self.sent))
        if restamp:
            text = text.replace("|20260302080000|", "|20260302091500|", 1)
        rows = InterfaceMessage.objects.count()
        filed = (Encounter.objects.count(), Order.objects.count())
        ack = self._send(text)
        assert InterfaceMessage.objects.count() == rows
        assert (Encounter.objects.count(), Order.objects.count()) == filed
        row = next(r for r in self._rows() if same_message(r.raw, text))
        assert ack == row.ack

    @rule(data=st.data())
    def reprocess(self, data: st.DataObject) -> None:
        """An administrator processes a failed or rejected message again from the log."""
        failed = [r for r in self._rows() if r.outcome != InterfaceMessage.Outcome.ACCEPTED]
        if not failed:
            return
        row = data.draw(st.sampled_from(failed))

        def process() -> None:
            try:
                message_reprocess(message=row, user=self.admin)
            except ValidationError:
                pass

        self._processed(process)

    @invariant()
    def an_aa_answer_means_that_message_is_filed(self) -> None:
        rows = self._rows()
        for text, ack in self.last_answer.items():
            if msa_code(ack) == "AA":
                row = next(r for r in rows if same_message(r.raw, text))
                assert row.outcome == InterfaceMessage.Outcome.ACCEPTED
                assert row.encounter is not None
                assert row.encounter.account_number == account_of(text)

    @invariant()
    def every_message_sent_is_in_the_log_once(self) -> None:
        rows = self._rows()
        for text in set(self.sent):
            assert sum(1 for r in rows if same_message(r.raw, text)) == 1

    @invariant()
    def nothing_is_filed_twice(self) -> None:
        accepted = [r for r in self._rows() if r.outcome == InterfaceMessage.Outcome.ACCEPTED]
        for visit in range(3):
            account = f"{self.prefix}-V{visit}"
            registrations = [
                r for r in accepted if r.message_type == "ADT^A04" and account_of(r.raw) == account
            ]
            orders = [
                r for r in accepted if r.message_type == "RDE^O11" and account_of(r.raw) == account
            ]
            assert (
                Encounter.objects.filter(account_number=account).count() == len(registrations) <= 1
            )
            # One order per placer number (ORC-2), whatever was sent again under new control
            # ids; each as the last message accepted under its number says (a new order, sent
            # again, or changed by XO), in the order they were processed (a reprocessed one
            # when it was reprocessed).
            last: dict[str, str] = {}
            for row in sorted(orders, key=lambda r: (r.reprocessed_at or r.received_at, r.pk)):
                last[placer_of(row.raw)] = amount_of(row.raw)
            filed = list(Order.objects.filter(encounter__account_number=account))
            assert len(filed) == len({o.placer_number for o in filed})
            assert {o.placer_number: f"{o.dose_value.normalize():f}" for o in filed} == last

    @invariant()
    def an_order_given_never_changes_its_drug_or_dose(self) -> None:
        for order in Order.objects.filter(pk__in=self.given_as):
            assert (order.drug_id, order.dose_value) == self.given_as[order.pk]

    @invariant()
    def a_verification_is_never_older_than_the_last_change(self) -> None:
        for order in self._orders():
            if order.verified_at is not None and order.changed_at is not None:
                assert order.verified_at >= order.changed_at


def test_the_sender_is_told_the_truth_and_nothing_is_filed_twice_or_dropped() -> None:
    run_state_machine_as_test(
        Interface,
        settings=settings(
            max_examples=15,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
