"""A stateful property test of billing while the record changes (issue 14's proof).

Sequences of addenda (the chemotherapy's length changes the lines; the antiemetic pushed or
infused), a pharmacist's re-class, corrections (units, a removal, the antiemetic read as the
other service), re-review decisions and their undoing, acceptance and export on one signed
encounter. After every step: what the billing system was sent (charges minus credits, per
code, modifiers and date) equals the accepted lines of the last export, and the current accepted
lines whenever the encounter stands exported; no correction is lost: every correction of a
replaced run reached the next run or was dropped with a recorded decision; no line (code, date,
modifiers) is sent twice because of a correction kept through re-review (QA: a push corrected to
an infusion, then charted as one, kept beside the engine's own line), nor by a first correction
(a line changed or added into one another line sends is refused), nor by a coder's added line
as she last corrected it; and every decision is kept, in order.

A correction rests on the record as it was when the coder made it: none reaches an export
after the administrations its line covers changed (their record entries, as the runs read
them), unless the coder re-confirmed it (kept or adapted it) after that change (QA: the
hydration's 96361 corrected to x2, its stop then moved by addendum, the engine still making
x1: the x2 was carried forward silently and exported). The nurse's addenda move the
chemotherapy's end, the antiemetic's method and the hydration's stop.

The coder also adds lines, corrects and removes them (coding/review.py `charge_line_correct`
with `added`), and sends and withdraws queries to the nurse: a withdrawn query is never
answered by a later addendum, never one the nurse's chart shows, and a queried item always has
a query still open.

The nurse also answers a query in words (her addendum ticks it, the record unchanged: no new
run; sometimes a query the coder withdrew, from a stale form, which stays unanswered): no
correction that waited on an answered query (made, or last kept or adapted, before the answer)
reaches an export unless the coder kept or adapted it after the answer (QA: the x2 came back
only with a new run, so an answer in words left it applied and it was exported).

An answered query's item is held by the coder who asked it, or New (QA: a queried item came
back New, nobody holding it, for her to claim again and anyone to take): a step that answers
a query of a queried item (in words, or by an addendum's change) leaves it in review with the
asker, since the moment she claimed it, saying the query was answered.

A claim is never lost or handed over by a re-run (QA: a pharmacist's re-class re-ran the engine
and put the item the coder was reviewing back to New, unclaimed): an item the coder holds in
review before an addendum's or a re-class's run is hers, in review, since the same moment,
after it; and another coder who tries to claim it then gets nothing.

The coder also takes a corrected or removed line back to exactly the engine's line (its own
action, or a correction form holding the engine's values): what is sent and what was exported
says "corrected" exactly when the line sent differs from the engine's line (QA: a change back
to the engine's line was exported as "corrected" with her reason); nothing billed is doubled
or lost by it (what was sent equals what was accepted).
"""

import contextlib
import csv
import io
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from coding.corrections import (
    DECIDED,
    correction_decision_undo,
    correction_resolve,
    corrections_to_carry,
    corrections_waiting,
)
from coding.exports import export_create, ledger_sum
from coding.models import (
    ChargeCorrection,
    ChargeRun,
    CorrectionDecision,
    DocumentationQuery,
    Export,
    ReviewItem,
)
from coding.ports import CodingChargesPort
from coding.review import (
    charge_line_back,
    charge_line_correct,
    effective_lines,
    is_engines_own,
    line_json,
    query_send,
    query_withdraw,
    review_accept,
    review_claim,
)
from coding.services import charge_run_generate
from mar.models import Administration, Order
from mar.pharmacy.services import order_class_override
from mar.services.signature import addendum_store
from tests import factories
from tests.coding.review_helpers import (
    HYDRATION_BEARING_TWO,
    addendum_for_test,
    lines_sum,
    reviewed,
)

pytestmark = pytest.mark.django_db


def key(line) -> tuple:
    """What makes two lines of a claim the same charge: code, date and modifiers."""
    return (line.code, line.date, tuple(line.modifiers))


class Billing(RuleBasedStateMachine):
    def __init__(
        self, *, hydration_minutes: int | None = None, account_number: str | None = None
    ) -> None:
        """`hydration_minutes`: the hydration charted that long (tests/coding/review_helpers.py
        `encounter_signed`), for a walkthrough whose correction its minutes must bear;
        `account_number`: the visit's ("" none: tests/coding/test_account_after_export.py)."""
        super().__init__()
        # A name of its own: id(self) can come back for a later machine while an earlier
        # machine's user is still in the database (it did: a duplicate username).
        self.coder = factories.user_create(username=f"coder-p{uuid.uuid4().hex}", role="coder")
        self.nurse = factories.user_create(username=f"nurse-p{uuid.uuid4().hex}", role="nurse")
        # signed: the first run
        fields = {} if account_number is None else {"account_number": account_number}
        self.encounter, _, self.item = reviewed(hydration_minutes=hydration_minutes, **fields)
        self.sent_model: dict = {}

    def _item(self) -> ReviewItem:
        return ReviewItem.objects.select_related("run").get(pk=self.item.pk)

    @contextlib.contextmanager
    def _rerun(self) -> Iterator[None]:
        """A step that runs the engine again: a claim held before it is held after it, by the
        same coder since the same moment (never lost, never handed over by a re-run)."""
        before = self._item()
        held = before.state == ReviewItem.State.IN_REVIEW and before.claimed_by_id is not None
        yield
        if held:
            after = self._item()
            assert (after.state, after.claimed_by_id, after.claimed_at) == (
                ReviewItem.State.IN_REVIEW, before.claimed_by_id, before.claimed_at,
            ), f"a re-run took the claim: {before.state} -> {after.state}"  # fmt: skip

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """A step the nurse may answer a query in: the queried item of a query it answers is
        then in review with the query's asker (this machine's coder: she can still review)
        since her claim, saying so; never New for anyone to take, never another coder's."""
        before = self._item()
        open_before = list(
            DocumentationQuery.objects.filter(
                encounter=self.encounter, answered_at__isnull=True, withdrawn_at__isnull=True
            ).values_list("pk", flat=True)
        )
        yield
        answered = list(
            DocumentationQuery.objects.filter(pk__in=open_before, answered_at__isnull=False)
        )
        if answered and before.state == ReviewItem.State.QUERIED:
            last = max(answered, key=lambda q: (q.answered_at, q.asked_at, q.pk))
            after = self._item()
            assert (after.state, after.claimed_by_id, after.returned_reason) == (
                ReviewItem.State.IN_REVIEW, last.asked_by_id, "Query answered by addendum"
            ), f"an answered query's item: {after.state}, {after.claimed_by_id}"  # fmt: skip
            if before.claimed_by_id == last.asked_by_id:
                assert after.claimed_at == before.claimed_at

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
        with self._rerun(), self._answering():
            charge_run_generate(encounter_id=self.encounter.pk, trigger="addendum")

    @rule(minutes=st.sampled_from([60, 80, 85, 100]))
    def hydration_stop(self, minutes: int) -> None:
        """The nurse's addendum moves the hydration's stop (08:00 start): the engine's 96361
        often stays x1 while its minutes change."""
        addendum_for_test(self.encounter, self.coder)
        adm = Administration.objects.get(
            encounter=self.encounter, drug__name="sodium chloride 0.9%"
        )
        Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=minutes))
        with self._rerun(), self._answering():
            charge_run_generate(encounter_id=self.encounter.pk, trigger="addendum")

    @rule()
    def reclass(self) -> None:
        """A pharmacist's re-class of the antiemetic order (chemo <-> its drug's class)."""
        order = Order.objects.get(encounter=self.encounter, drug__name="ondansetron")
        target = None if order.class_override else "chemo"
        with self._rerun():
            order_class_override(
                order=order, drug_class=target, reason="property test", user=self.coder
            )

    @rule()
    def another_coder_claims(self) -> None:
        """Another coder asks for the item while this coder holds it: she gets nothing."""
        item = self._item()
        if item.state != ReviewItem.State.IN_REVIEW:
            return
        other = factories.user_create(username=f"coder-o{uuid.uuid4().hex}", role="coder")
        assert review_claim(user=other, item_id=item.pk) is None
        assert self._item().claimed_by_id == self.coder.pk

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

    @rule(index=st.integers(0, 5), by_form=st.booleans())
    def back_to_engine(self, index: int, by_form: bool) -> None:
        """The coder takes a line back to exactly the engine's line: by its own action, or by
        a correction form holding the engine's values (modifiers in another order)."""
        item = self._claimed()
        if item is None:
            return
        lines = list(item.run.lines.order_by("position"))
        line = lines[index % len(lines)]
        try:
            if by_form:
                charge_line_correct(
                    item=item, user=self.coder, line=line, action="change", code=line.code,
                    units=line.units, modifiers=list(reversed(line.modifiers)),
                    reason="back to the engine's line in the test",
                )  # fmt: skip
            else:
                charge_line_back(
                    item=item, user=self.coder, line=line, reason="back in the property test"
                )
        except ValidationError:
            return  # no correction of it in effect: nothing to go back from

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

    @rule(infused=st.booleans())
    def ondansetron_given(self, infused: bool) -> None:
        """The nurse's addendum: the antiemetic infused 12:20-12:45 after the chemotherapy
        (96367), or pushed at 09:05 as first charted (96375)."""
        addendum_for_test(self.encounter, self.coder)
        start = factories.MORNING + timedelta(minutes=260 if infused else 65)
        Administration.objects.filter(encounter=self.encounter, drug__name="ondansetron").update(
            method=Administration.Method.INFUSION if infused else Administration.Method.PUSH,
            start=start,
            stop=start + timedelta(minutes=25 if infused else 2),
        )
        with self._rerun():
            charge_run_generate(encounter_id=self.encounter.pk, trigger="addendum")

    @rule()
    def antiemetic_read_as_the_other(self) -> None:
        """The coder reads the antiemetic's line as the other service: its push (96375) as an
        infusion (96367), or its infusion as a push (QA's case). She never bills a line twice
        herself: a code the charges already send that day is left alone."""
        item = self._claimed()
        if item is None:
            return
        run = self._run(item.run_id)
        adm = Administration.objects.get(encounter=self.encounter, drug__name="ondansetron")
        line = next((ln for ln in run.lines.all() if f"A{adm.pk}" in ln.administrations), None)
        if line is None or line.code not in ("96367", "96375"):
            return
        code = "96375" if line.code == "96367" else "96367"
        if (code, line.date, tuple(line.modifiers)) in {key(ln) for ln in effective_lines(run)}:
            return
        try:
            charge_line_correct(
                item=item, user=self.coder, line=line, action="change", code=code,
                units=line.units, modifiers=list(line.modifiers), reason="read as the other",
            )  # fmt: skip
        except ValidationError:
            pass  # nothing changed

    @rule()
    def undo(self) -> None:
        """The coder takes back a re-review decision on the charges under review."""
        item = self._claimed()
        if item is None:
            return
        decided = ChargeCorrection.objects.filter(
            run_id=item.run_id, state__in=DECIDED, decided_at__isnull=False
        ).first()
        if decided is None:
            return
        try:
            correction_decision_undo(
                item=item, user=self.coder, correction=decided, reason="choose again"
            )
        except ValidationError:
            # Sent to billing with it, or the coder corrected the line (kept as added) since.
            assert (
                ChargeRun.objects.get(pk=item.run_id).exported_at is not None
                or decided.amendments.exists()
            )

    @rule(code=st.sampled_from(["96372", "96361", "96415"]), units=st.integers(1, 2))
    def add_line(self, code: str, units: int) -> None:
        """The coder adds a line; one the charges already send (96361, 96415 on that day) is
        refused: the claim would bill it twice."""
        item = self._claimed()
        if item is None:
            return
        run = self._run(item.run_id)
        adm = Administration.objects.get(encounter=self.encounter, drug__name="paclitaxel")
        day = run.lines.all()[0].date
        sent = {key(line) for line in effective_lines(run)}
        try:
            charge_line_correct(
                item=item, user=self.coder, action="add", code=code, units=units,
                modifiers=[], administrations=[f"A{adm.pk}"], reason="added in the test",
            )  # fmt: skip
        except ValidationError as refused:
            assert (code, day, ()) in sent, refused
        else:
            assert (code, day, ()) not in sent

    @rule(index=st.integers(0, 3), units=st.integers(1, 3), remove=st.booleans())
    def correct_added(self, index: int, units: int, remove: bool) -> None:
        """The coder corrects (units) or removes one of her added lines, as it stands now."""
        item = self._claimed()
        if item is None:
            return
        mine = [line for line in effective_lines(self._run(item.run_id)) if line.added]
        if not mine:
            return
        line = mine[index % len(mine)]
        try:
            charge_line_correct(
                item=item, user=self.coder, added=line.added,
                action="remove" if remove else "change", code=line.code, units=units,
                modifiers=list(line.modifiers), reason="added line corrected in the test",
            )  # fmt: skip
        except ValidationError:
            assert not remove and units == line.units  # nothing changed

    @rule(first=st.integers(0, 5), second=st.integers(0, 5))
    def duplicate_refused(self, first: int, second: int) -> None:
        """A first correction into a line another line sends (its code, date and modifiers) is
        refused, whatever the lines."""
        item = self._claimed()
        if item is None:
            return
        run = self._run(item.run_id)
        sent = [line for line in effective_lines(run) if line.line_id is not None]
        if len(sent) < 2:
            return
        one, other = sent[first % len(sent)], sent[second % len(sent)]
        if key(one) == key(other):
            return
        line = next(ln for ln in run.lines.all() if ln.pk == one.line_id)
        before = ChargeCorrection.objects.count()
        with pytest.raises(ValidationError, match="already billed by line"):
            charge_line_correct(
                item=item, user=self.coder, line=line, action="change", code=other.code,
                units=one.units, modifiers=list(other.modifiers), day=other.date,
                reason="into another line",
            )  # fmt: skip
        assert ChargeCorrection.objects.count() == before

    @rule()
    def query(self) -> None:
        """The coder asks the nurse about the record: the item waits for her."""
        item = self._claimed()
        if item is None:
            return
        query_send(item=item, user=self.coder, finding=None, question="Which pump?")
        assert self._item().state == ReviewItem.State.QUERIED

    @rule()
    def withdraw(self) -> None:
        """The coder withdraws the oldest query still open, with a reason."""
        query = (
            DocumentationQuery.objects.filter(
                encounter=self.encounter, answered_at__isnull=True, withdrawn_at__isnull=True
            )
            .order_by("pk")
            .first()
        )
        if query is None:
            return
        query_withdraw(query=query, user=self.coder, reason="settled by phone")

    @rule(withdrawn=st.booleans())
    def answer_in_words(self, withdrawn: bool) -> None:
        """The nurse's addendum answers the oldest open query in words, the record unchanged
        (no new run); or, from a stale form, ticks one the coder withdrew (not answered)."""
        queries = DocumentationQuery.objects.filter(
            encounter=self.encounter, answered_at__isnull=True, withdrawn_at__isnull=not withdrawn
        )
        query = queries.order_by("pk").first()
        if query is None:
            return
        runs = ChargeRun.objects.filter(encounter=self.encounter).count()
        with self._answering():
            addendum_store(
                encounter=self.encounter, user=self.nurse, what="two bags, per the pump log",
                why="coding query", answers=[query.pk],
            )  # fmt: skip
        query.refresh_from_db()
        assert (query.answered_at is None) == withdrawn
        assert ChargeRun.objects.filter(encounter=self.encounter).count() == runs

    @rule()
    def query_answered_in_words_then_export(self) -> None:
        """The QA's path, so short sequences reach an export after an answer in words (drawn
        step by step, it came one example in thirty): the coder asks, the nurse answers in
        words, the coder accepts and exports at once."""
        self.query()
        self.answer_in_words(withdrawn=False)
        self.accept_then_export()

    @staticmethod
    def _run(pk: int) -> ChargeRun:
        return ChargeRun.objects.prefetch_related(
            "lines", "corrections__by", "corrections__decided_by"
        ).get(pk=pk)

    @invariant()
    def no_line_billed_twice_by_a_kept_correction(self) -> None:
        run = self._run(self._item().run_id)
        lines = effective_lines(run)
        sent = Counter(key(line) for line in lines)
        for line in lines:
            if line.correction is not None and line.correction.state != "applied":
                assert sent[key(line)] == 1, (line, line.correction.state, lines)

    @invariant()
    def no_line_billed_twice_by_a_first_correction_or_an_added_line(self) -> None:
        """A line a correction gave another key (or a coder's added line, as she last corrected
        it) is the only line with that key."""
        run = self._run(self._item().run_id)
        lines = effective_lines(run)
        sent = Counter(key(line) for line in lines)
        for line in lines:
            if line.correction is None:
                continue
            original = line.original or {}
            moved = (original.get("code"), original.get("modifiers")) != (
                line.code,
                list(line.modifiers),
            )
            if line.added is not None or moved:
                assert sent[key(line)] == 1, (line, lines)

    @invariant()
    def a_withdrawn_query_is_never_answered_nor_shown_and_a_queried_item_has_one_open(
        self,
    ) -> None:
        queries = DocumentationQuery.objects.filter(encounter=self.encounter)
        shown = set(CodingChargesPort().open_queries().filter(encounter=self.encounter))
        for query in queries:
            if query.is_withdrawn:
                assert query.answered_at is None and query.answered_by_addendum_id is None
                assert query.withdrawn_reason and query.withdrawn_by_id == self.coder.pk
            assert (query in shown) == query.is_open
        item = self._item()
        if item.state == ReviewItem.State.QUERIED:
            assert shown, "a queried item waits for no query"
        # An answered query's item is held by the asker (this machine's coder asks them all)
        # or New, unclaimed: never waiting unheld in review.
        if item.returned_reason == "Query answered by addendum":
            if item.state == ReviewItem.State.IN_REVIEW:
                assert item.claimed_by_id == self.coder.pk
            elif item.state == ReviewItem.State.NEW:
                assert item.claimed_by_id is None and item.claimed_at is None

    @invariant()
    def every_decision_is_kept_in_order(self) -> None:
        said = {"kept": "keep", "adapted": "adapt", "dropped": "drop"}
        for correction in ChargeCorrection.objects.filter(
            run__encounter=self.encounter
        ).prefetch_related("decisions"):
            decisions = [d.decision for d in correction.decisions.all()]
            if correction.state in DECIDED and correction.decided_at is not None:
                last = correction.decisions.all()[len(decisions) - 1]
                assert (last.decision, last.reason) == (
                    said[correction.state],
                    correction.decision_reason,
                )
            elif correction.state == ChargeCorrection.State.NEEDS_REVIEW and decisions:
                # Waiting again: her decision undone, or the nurse's answer brought it back.
                assert decisions[-1] in (
                    CorrectionDecision.Decision.UNDO,
                    CorrectionDecision.Decision.ANSWERED,
                )
            assert all(
                not (a == b == CorrectionDecision.Decision.UNDO)
                for a, b in zip(decisions, decisions[1:], strict=False)
            )

    @invariant()
    def sent_equals_accepted(self) -> None:
        sent = ledger_sum(self.encounter.pk)
        assert sent == self.sent_model
        item = self._item()
        if item.state == ReviewItem.State.EXPORTED:
            assert sent == lines_sum(item.run)

    @invariant()
    def no_correction_exported_after_its_administrations_changed_unless_re_confirmed(
        self,
    ) -> None:
        """Each correction in effect on an exported run: no administration its line covers
        changed (as one run read the record and the next) after the coder made it or last
        kept or adapted it, and before the run was exported."""
        runs = list(ChargeRun.objects.filter(encounter=self.encounter).order_by("created_at", "pk"))
        changed: list[tuple] = []  # (when, administration)
        for before, after in zip(runs, runs[1:], strict=False):
            old = {a["id"]: a for a in before.input_snapshot.get("administrations") or []}
            new = {a["id"]: a for a in after.input_snapshot.get("administrations") or []}
            changed += [(after.created_at, adm) for adm in old.keys() | new.keys()
                        if old.get(adm) != new.get(adm)]  # fmt: skip
        rows = {
            c.pk: c
            for c in ChargeCorrection.objects.filter(
                run__encounter=self.encounter
            ).prefetch_related("decisions")
        }
        for run in runs:
            if run.exported_at is None:
                continue
            for correction in (c for c in rows.values() if c.run_id == run.pk and c.in_effect):
                chain = [correction]
                while chain[-1].carried_from_id is not None:
                    chain.append(rows[chain[-1].carried_from_id])
                confirmed = max(
                    [chain[-1].at]
                    + [d.at for row in chain for d in row.decisions.all()
                       if d.decision in ("keep", "adapt")]
                )  # fmt: skip
                line = correction.original or correction.corrected or {}
                covered = set(line.get("administrations") or ())
                late = [(at, adm) for at, adm in changed
                        if adm in covered and confirmed < at <= run.exported_at]  # fmt: skip
                assert not late, (correction, correction.state, late)

    @invariant()
    def no_correction_waiting_on_an_answered_query_exported_unless_confirmed_after(
        self,
    ) -> None:
        """Each correction an exported run sends (its lines as corrected, `effective_lines`):
        every query answered before the export (in words or by a run's change) was answered
        before the coder made it or last kept or adapted it, else it waited on the answer and
        she did not decide on it since."""
        answers = list(
            DocumentationQuery.objects.filter(
                encounter=self.encounter, answered_at__isnull=False
            ).values_list("answered_at", flat=True)
        )
        if not answers:
            return
        rows = {
            c.pk: c
            for c in ChargeCorrection.objects.filter(
                run__encounter=self.encounter
            ).prefetch_related("decisions")
        }
        for run in ChargeRun.objects.filter(encounter=self.encounter, exported_at__isnull=False):
            for line in effective_lines(self._run(run.pk), include_removed=True):
                if line.correction is None:
                    continue
                chain = [rows[line.correction.pk]]
                while chain[-1].carried_from_id is not None:
                    chain.append(rows[chain[-1].carried_from_id])
                confirmed = max(
                    [chain[-1].at]
                    + [d.at for row in chain for d in row.decisions.all()
                       if d.decision in ("keep", "adapt")]
                )  # fmt: skip
                late = [at for at in answers if confirmed < at <= run.exported_at]
                assert not late, (line, line.correction.state, late)

    @invariant()
    def flagged_corrected_iff_it_differs_from_the_engines_line(self) -> None:
        """What is sent (every run's lines as corrected) and what was exported (each CSV row
        of a charge) says "corrected" exactly when the line sent differs from the engine's
        line (code, units, modifiers in any order, date, administrations): a line taken back
        to the engine's line is the engine's, never "corrected" (QA)."""
        for run in ChargeRun.objects.filter(encounter=self.encounter):
            full = self._run(run.pk)
            engine = {line.pk: line_json(line) for line in full.lines.all()}
            for line in effective_lines(full, include_removed=True):
                if line.line_id is None:
                    continue  # a coder's added line: no engine's line
                differs = line.removed or not is_engines_own(engine[line.line_id], line_json(line))
                assert (line.correction is not None) == differs, (line, engine[line.line_id])
        for export in Export.objects.filter(runs__encounter=self.encounter).distinct():
            for row in csv.DictReader(io.StringIO(export.csv_text)):
                if row["encounter"] != str(self.encounter.pk) or row["transaction"] != "CG":
                    continue
                if row["source"] == "coder":
                    continue  # an added line: "corrected" by nature
                sent = (row["code"], row["units"], sorted(row["modifiers"].split()))
                was = (
                    row["original_code"],
                    row["original_units"],
                    sorted(row["original_modifiers"].split()),
                )
                if row["corrected"] == "yes":
                    assert sent != was, row
                else:
                    assert not row["correction_reason"] and not row["original_code"], row

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


def antiemetic_pushed_over_25_minutes(machine: Billing) -> None:
    """The nurse's addendum: the antiemetic charted as a push after the chemotherapy, 12:20-12:45
    (the engine codes the method charted: 96375), its 25 minutes bearing a coder's reading it as
    an infusion (96367: more than 15 minutes, EDIT-INFUSION-TIME)."""
    addendum_for_test(machine.encounter, machine.coder)
    start = factories.MORNING + timedelta(minutes=260)
    Administration.objects.filter(encounter=machine.encounter, drug__name="ondansetron").update(
        method=Administration.Method.PUSH, start=start, stop=start + timedelta(minutes=25)
    )
    with machine._rerun():
        charge_run_generate(encounter_id=machine.encounter.pk, trigger="addendum")


def test_the_qa_walkthrough_through_the_machine_keeps_every_invariant() -> None:
    """The QA walkthrough's steps in order, each followed by every invariant (drawn at random,
    these three steps in a row are rare): the antiemetic's push (charted over 25 minutes) read
    as an infusion, the nurse's addendum charting it as one (the run now makes 96367 itself),
    keep (refused: the machine drops it then), the drop undone and made again, accept and
    export."""
    machine = Billing()
    steps = [
        lambda: antiemetic_pushed_over_25_minutes(machine),
        machine.antiemetic_read_as_the_other,
        lambda: machine.ondansetron_given(infused=True),
        lambda: machine.resolve(decision="keep", units=1),
        machine.undo,
        lambda: machine.resolve(decision="drop", units=1),
        machine.accept_then_export,
    ]
    invariants = [
        machine.no_line_billed_twice_by_a_kept_correction,
        machine.no_line_billed_twice_by_a_first_correction_or_an_added_line,
        machine.a_withdrawn_query_is_never_answered_nor_shown_and_a_queried_item_has_one_open,
        machine.every_decision_is_kept_in_order,
        machine.sent_equals_accepted,
        machine.no_correction_lost,
        machine.flagged_corrected_iff_it_differs_from_the_engines_line,
        machine.no_correction_exported_after_its_administrations_changed_unless_re_confirmed,
        machine.no_correction_waiting_on_an_answered_query_exported_unless_confirmed_after,
    ]
    for step in steps:
        step()
        for holds in invariants:
            holds()
    first = ChargeCorrection.objects.get(run__encounter=machine.encounter, carried_from=None)
    assert (first.original["code"], first.corrected["code"]) == ("96375", "96367")
    decided = ChargeCorrection.objects.get(run=machine._item().run, carried_from__isnull=False)
    assert [d.decision for d in decided.decisions.all()] == ["drop", "undo", "drop"]
    assert machine._item().state == ReviewItem.State.EXPORTED


def hydration_to_two(machine: Billing) -> None:
    """The walkthroughs' first step: the coder claims the item and corrects the hydration's
    96361 x1 to x2 (then sends her query)."""
    item = machine._claimed()
    assert item is not None
    line = item.run.lines.get(code="96361")
    charge_line_correct(
        item=item, user=machine.coder, line=line, action="change", code="96361", units=2,
        modifiers=[], reason="query sent to confirm",
    )  # fmt: skip


def test_the_answer_in_words_walkthrough_through_the_machine_keeps_every_invariant() -> None:
    """The QA steps of the answer in words: 96361 corrected from x1 to x2, a query sent, the
    nurse's answer in words (no new run), accept and export (refused: it waits for the coder),
    keep, accept and export: the x2 reaches billing only after she kept it. The hydration is
    charted to 09:40, past the chemotherapy's start: its 100 minutes bear the x2
    (EDIT-INFUSION-TIME), the engine's x1 counting its minutes alone."""
    machine = Billing(hydration_minutes=HYDRATION_BEARING_TWO)
    invariants = [
        machine.sent_equals_accepted,
        machine.every_decision_is_kept_in_order,
        machine.no_correction_lost,
        machine.no_correction_waiting_on_an_answered_query_exported_unless_confirmed_after,
        machine.a_withdrawn_query_is_never_answered_nor_shown_and_a_queried_item_has_one_open,
    ]

    steps = [
        lambda: hydration_to_two(machine),
        machine.query,
        lambda: machine.answer_in_words(withdrawn=False),
        machine.accept_then_export,
        lambda: machine.resolve(decision="keep", units=2),
        machine.accept_then_export,
    ]
    for step in steps:
        step()
        for holds in invariants:
            holds()
        if step == machine.accept_then_export and machine.sent_model == {}:
            assert not ledger_sum(machine.encounter.pk)  # waiting: nothing sent
    assert machine._item().state == ReviewItem.State.EXPORTED
    assert ChargeRun.objects.filter(encounter=machine.encounter).count() == 1
    (kept,) = ChargeCorrection.objects.filter(run__encounter=machine.encounter)
    assert [d.decision for d in kept.decisions.all()] == ["answered", "keep"]
    assert [
        u for (code, _, _), u in ledger_sum(machine.encounter.pk).items() if code == "96361"
    ] == [2]


def test_the_hydration_walkthrough_through_the_machine_keeps_every_invariant() -> None:
    """The QA steps of the carried-forward correction: 96361 corrected from x1 to x2, a query
    sent, the hydration's stop moved by addendum (from 09:40 to 09:50, past the chemotherapy's
    start: its minutes bear the x2 under EDIT-INFUSION-TIME; the engine, counting its minutes
    alone, still x1), accept and export: the x2 never reaches the export without the coder
    keeping it after the change."""
    machine = Billing(hydration_minutes=HYDRATION_BEARING_TWO)
    invariants = [
        machine.sent_equals_accepted,
        machine.no_correction_lost,
        machine.flagged_corrected_iff_it_differs_from_the_engines_line,
        machine.no_correction_exported_after_its_administrations_changed_unless_re_confirmed,
    ]

    steps = [
        lambda: hydration_to_two(machine),
        machine.query,
        lambda: machine.hydration_stop(minutes=110),
        machine.accept_then_export,
        lambda: machine.resolve(decision="keep", units=2),
        machine.accept_then_export,
    ]
    for step in steps:
        step()
        for holds in invariants:
            holds()
    assert machine._item().state == ReviewItem.State.EXPORTED
    assert [
        u for (code, _, _), u in ledger_sum(machine.encounter.pk).items() if code == "96361"
    ] == [2]


def test_the_claim_walkthrough_through_the_machine_keeps_the_claim_through_re_runs() -> None:
    """QA's steps: the coder claims and corrects, the pharmacist re-classes the antiemetic, the
    nurse's addendum moves the hydration's stop (09:40 to 09:55: its minutes bear her 96361 x2),
    another coder asks for the item each time (she gets nothing); the coder resolves what came
    back and accepts: hers throughout."""
    machine = Billing(hydration_minutes=HYDRATION_BEARING_TWO)
    hydration_to_two(machine)  # claims it first
    claim = machine._item()
    assert (claim.state, claim.claimed_by_id) == (ReviewItem.State.IN_REVIEW, machine.coder.pk)
    for step in (
        machine.reclass,
        machine.another_coder_claims,
        lambda: machine.hydration_stop(minutes=115),
        machine.another_coder_claims,
    ):
        step()  # `_rerun` checks the claim around each re-run
        machine.no_correction_lost()
    item = machine._item()
    assert item.run_id != claim.run_id
    assert (item.state, item.claimed_by_id, item.claimed_at) == (
        ReviewItem.State.IN_REVIEW, machine.coder.pk, claim.claimed_at,
    )  # fmt: skip
    machine.resolve(decision="keep", units=2)
    machine.accept()
    assert machine._item().state == ReviewItem.State.ACCEPTED
