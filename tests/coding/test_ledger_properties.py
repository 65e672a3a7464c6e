"""A stateful property test of billing while the record changes (issue 14's proof).

Sequences of addenda (the chemotherapy's length changes the lines), a pharmacist's re-class,
corrections, re-review
decisions, acceptance and export on one signed encounter. After every step: what the billing
system was sent (charges minus credits, per code, modifiers and date) equals the accepted lines
of the last export, and the current accepted lines whenever the encounter stands exported; and
no correction is lost: every correction of a replaced run reached the next run or was dropped
with a recorded decision.
"""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from coding.corrections import correction_resolve, corrections_to_carry, corrections_waiting
from coding.exports import export_create, ledger_sum
from coding.models import ChargeCorrection, ChargeRun, ReviewItem
from coding.review import charge_line_correct, effective_lines, review_accept, review_claim
from coding.services import charge_run_generate
from mar.models import Administration, Order
from mar.pharmacy.services import order_class_override
from tests import factories
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = pytest.mark.django_db


def lines_sum(run: ChargeRun) -> dict:
    total: dict = {}
    for line in effective_lines(run):
        key = (line.code, tuple(line.modifiers), line.date)
        total[key] = total.get(key, 0) + line.units
    return {k: v for k, v in total.items() if v}


class Billing(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # A name of its own: id(self) can come back for a later machine while an earlier
        # machine's user is still in the database (it did: a duplicate username).
        self.coder = factories.user_create(username=f"coder-p{uuid.uuid4().hex}", role="coder")
        self.encounter, _, self.item = reviewed()  # signed: the first run
        self.sent_model: dict = {}

    def _item(self) -> ReviewItem:
        return ReviewItem.objects.select_related("run").get(pk=self.item.pk)

    def _claimed(self) -> ReviewItem | None:
        item = self._item()
        if item.state == ReviewItem.State.NEW:
            return review_claim(user=self.coder, item_id=item.pk)
        return item if item.state == ReviewItem.State.IN_REVIEW else None

    @rule(minutes=st.sampled_from([70, 100, 150, 180, 200]))
    def addendum(self, minutes: int) -> None:
        addendum_for_test(self.encounter, self.coder)
        adm = Administration.objects.get(encounter=self.encounter, drug__name="paclitaxel")
        Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=minutes))
        charge_run_generate(encounter_id=self.encounter.pk, trigger="addendum")

    @rule()
    def reclass(self) -> None:
        """A pharmacist's re-class of the antiemetic order (chemo <-> its drug's class)."""
        order = Order.objects.get(encounter=self.encounter, drug__name="ondansetron")
        target = None if order.class_override else "chemo"
        order_class_override(
            order=order, drug_class=target, reason="property test", user=self.coder
        )

    @rule(index=st.integers(0, 5), units=st.integers(1, 3), remove=st.booleans())
    def correct(self, index: int, units: int, remove: bool) -> None:
        item = self._claimed()
        if item is None:
            return
        lines = list(item.run.lines.order_by("position"))
        line = lines[index % len(lines)]
        try:
            charge_line_correct(
                item=item, user=self.coder, line=line,
                action="remove" if remove else "change", code=line.code, units=units,
                modifiers=list(line.modifiers), reason="property test",
            )  # fmt: skip
        except ValidationError:
            pass  # nothing changed, or already removed

    @rule(decision=st.sampled_from(["keep", "adapt", "drop"]), units=st.integers(1, 3))
    def resolve(self, decision: str, units: int) -> None:
        item = self._claimed()
        if item is None:
            return
        for correction in corrections_waiting(item.run):
            try:
                correction_resolve(
                    item=item, user=self.coder, correction=correction, decision=decision,
                    reason="re-reviewed", units=units,
                )  # fmt: skip
            except ValidationError:
                correction_resolve(
                    item=item, user=self.coder, correction=correction, decision="drop",
                    reason="its line is gone",
                )  # fmt: skip

    @rule()
    def accept(self) -> None:
        item = self._claimed()
        if item is None:
            return
        try:
            review_accept(item=item, user=self.coder)
        except ValidationError:
            pass  # corrections to re-review or an edit: the coder must act first

    @rule()
    def export(self) -> None:
        item = self._item()
        try:
            export_create(user=self.coder)
        except ValidationError:
            return
        if item.state == ReviewItem.State.ACCEPTED:
            self.sent_model = lines_sum(self._item().run)

    @rule()
    def accept_then_export(self) -> None:
        """The common path, so short sequences reach a second export after a change."""
        self.accept()
        self.export()

    @invariant()
    def sent_equals_accepted(self) -> None:
        sent = ledger_sum(self.encounter.pk)
        assert sent == self.sent_model
        item = self._item()
        if item.state == ReviewItem.State.EXPORTED:
            assert sent == lines_sum(item.run)

    @invariant()
    def no_correction_lost(self) -> None:
        runs = list(ChargeRun.objects.filter(encounter=self.encounter).order_by("pk"))
        for older in runs[:-1]:
            for correction in corrections_to_carry(older):
                assert correction.carried_to.exists(), correction
        for correction in ChargeCorrection.objects.filter(
            run__encounter=self.encounter, state=ChargeCorrection.State.DROPPED
        ):
            assert correction.decision_reason and correction.decided_by_id


def test_what_was_sent_always_equals_what_was_accepted_and_no_correction_is_lost() -> None:
    run_state_machine_as_test(
        Billing,
        settings=settings(
            max_examples=10,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
