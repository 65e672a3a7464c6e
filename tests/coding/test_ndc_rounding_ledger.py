"""A charge billed under the old NDC rounding is not re-sent for the rounding alone.

Exports before 2026-12-07 rounded a drug line's NDC quantity to 3 decimals half-even (25 mg of
an 80 mg/mL package, 0.3125 ML, went as 0.312); they round half-up now (0.313, coding/claim.py
`NDC_ROUNDING`). The ledger compares a line with what billing holds (coding/ledger.py): with the
text alone, re-exporting such a line (the coder reopens billed charges and accepts them again)
sent a credit and a re-charge of a line in which nothing real changed. Each ledger entry keeps
the rule it was sent under (`LedgerEntry.ndc_rounding`); a standing charge whose quantity is the
line's exact quantity rounded under that rule stays. A real change (units, the package's
relation) is re-sent as before.
"""

import contextlib
import uuid
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from coding import claim
from coding.claim import HALF_EVEN, HALF_UP, ndc_quantity, quantity_text, rounded_quantity
from coding.exports import export_create, ledger_sum
from coding.ledger import Sendable, ledger_difference
from coding.models import ChargeLine, ChargeRun, Export, LedgerEntry, ReviewItem
from coding.review import (
    charge_edits_for_run,
    charge_line_correct,
    edit_override_create,
    review_accept,
    review_claim,
    review_reopen,
)
from coding.services import charge_run_generate
from mar import roles
from mar.models import DrugNdc, Encounter
from tests import factories
from tests.coding.review_helpers import lines_sum, paclitaxel_billable
from tests.coding.test_claim_lines import nurse_named

NDC = "99999000480"


def test_the_two_rules_differ_only_on_a_tie_whose_third_decimal_is_even() -> None:
    """0.3125 is 0.312 half-even and 0.313 half-up; 0.3135 is 0.314 under both; 0.31251 is
    0.313 under both: the rule decides only an exact tie."""
    q = Fraction("0.3125")
    assert (rounded_quantity(q, HALF_EVEN), rounded_quantity(q, HALF_UP)) == (
        Decimal("0.312"),
        Decimal("0.313"),
    )
    assert rounded_quantity(Fraction("0.3135"), HALF_EVEN) == Decimal("0.314")
    assert rounded_quantity(Fraction("0.31251"), HALF_EVEN) == Decimal("0.313")
    assert ndc_quantity(25, Fraction(1, 80)) == Decimal("0.313")  # the rule exports use now


@settings(max_examples=300, deadline=None)
@given(numerator=st.integers(0, 10**7), denominator=st.sampled_from([1, 8, 16, 80, 10**4]))
def test_each_rule_is_decimals_own_rounding_of_the_exact_quantity(
    numerator: int, denominator: int
) -> None:
    exact = Fraction(numerator, denominator)
    as_decimal = Decimal(numerator) / Decimal(denominator)  # exact: these divide a power of 10
    for rounding, mode in ((HALF_EVEN, ROUND_HALF_EVEN), (HALF_UP, ROUND_HALF_UP)):
        assert rounded_quantity(exact, rounding) == as_decimal.quantize(
            Decimal("0.001"), rounding=mode
        )


DAY = date(2026, 3, 2)


def billed(quantity: str, rounding: str, *, units: int = 25, pk: int = 1) -> LedgerEntry:
    """A standing charge of J9267-JW as an export wrote it (not saved: the comparison reads
    only these fields)."""
    return LedgerEntry(
        pk=pk, kind="CG", transaction_id=f"E1-{pk}", code="J9267", modifiers=["JW"], units=units,
        date=DAY, administrations=["A1"], ndc_rounding=rounding,
        detail={"ndc": NDC, "ndc_unit": "ML", "ndc_quantity": quantity},
    )  # fmt: skip


def accepted(exact: Fraction, *, units: int = 25) -> Sendable:
    """The accepted line as an export sends it now: its exact quantity rounded half-up."""
    return Sendable(
        "J9267", ("JW",), units, DAY, ("A1",),
        {"ndc": NDC, "ndc_unit": "ML", "ndc_quantity": quantity_text(rounded_quantity(exact))},
        ndc_exact=exact, ndc_rounding=HALF_UP,
    )  # fmt: skip


# Exact quantities in ten-thousandths (every tie of the 4th decimal is one of them) and a few
# that are not decimals at all.
EXACT = st.one_of(
    st.integers(0, 200_000).map(lambda n: Fraction(n, 10_000)),
    st.integers(1, 5_000).map(lambda n: Fraction(n, 6)),
)


@settings(max_examples=300, deadline=None)
@given(before=EXACT, now=EXACT, rounding=st.sampled_from([HALF_EVEN, HALF_UP]))
def test_a_billed_quantity_is_kept_exactly_when_its_rule_gives_it_for_the_exact_quantity_now(
    before: Fraction, now: Fraction, rounding: str
) -> None:
    """A charge sent under `rule` with the quantity `before` rounded by it: the next export
    keeps it (no credit, no charge) when the line's exact quantity now, rounded under the rule
    it was sent by or under today's, is what billing holds; else it credits it and charges the
    line anew, once."""
    sent = quantity_text(rounded_quantity(before, rounding))
    difference = ledger_difference([billed(sent, rounding)], [accepted(now)])
    same = sent in (
        quantity_text(rounded_quantity(now, rounding)),
        quantity_text(rounded_quantity(now, HALF_UP)),
    )
    if same:
        assert (difference.credits, difference.new, list(difference.kept)) == ([], [], [0])
    else:
        assert ([e.pk for e in difference.credits], difference.new) == ([1], [0])


def test_a_tie_sent_half_even_is_kept_and_one_sent_half_up_with_that_text_is_not() -> None:
    """0.3125 ML sent half-even as 0.312 stands; 0.312 sent under half-up was another exact
    quantity (0.312 itself), so 0.3125 now is a real change: re-sent. Units changed: re-sent."""
    tie = Fraction("0.3125")
    kept = ledger_difference([billed("0.312", HALF_EVEN)], [accepted(tie)])
    assert (kept.credits, kept.new, list(kept.kept)) == ([], [], [0])
    changed = ledger_difference([billed("0.312", HALF_UP)], [accepted(tie)])
    assert ([e.pk for e in changed.credits], changed.new) == ([1], [0])
    more = ledger_difference([billed("0.312", HALF_EVEN)], [accepted(Fraction(27, 80), units=27)])
    assert ([e.pk for e in more.credits], more.new) == ([1], [0])
    # Two such charges, two such lines: each kept once (never one charge for two lines).
    two = ledger_difference(
        [billed("0.312", HALF_EVEN), billed("0.312", HALF_EVEN, pk=2)],
        [accepted(tie), accepted(tie)],
    )
    assert (two.credits, two.new, sorted(e.pk for e in two.kept.values())) == ([], [], [1, 2])


# --- end to end: an export under half-even, re-exported now ---------------------------------


PER_UNIT = Fraction(1, 80)  # ML of the 80 mg/mL package in one billing unit (1 mg)


def tie_visit(nurse: User | None = None) -> Encounter:
    """The factory's chemotherapy visit: paclitaxel 300 mg given, 25 mg wasted (J9267 per 1 mg;
    J9267-JW x25), its package 80 mg/mL stated as 0.0125 mL per billing unit: the waste line's
    quantity is 0.3125 ML exactly, a tie."""
    nurse = nurse or nurse_named()
    encounter = factories.chemo_encounter_create()
    drug = paclitaxel_billable(encounter=encounter, waste=Decimal(25))
    DrugNdc.objects.get_or_create(
        drug=drug, ndc=NDC,
        defaults={"unit": "ML", "preferred": True, "units_per_billing_unit": Decimal("0.0125")},
    )  # fmt: skip
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_by=nurse, signed_at=timezone.now(), nurse=nurse
    )
    encounter.refresh_from_db()
    charge_run_generate(encounter_id=encounter.pk)
    return encounter


def accept(encounter: Encounter, coder: User) -> None:
    """The coder accepts the charges she holds, overriding any edit with a reason."""
    item = ReviewItem.objects.get(encounter=encounter)
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    for edit in charge_edits_for_run(run).items:
        if edit.override is None:
            edit_override_create(
                item=item, user=coder, rule=edit.finding.rule, message=edit.finding.message,
                reason="Reviewed against the record: the waste is charted as given",
            )  # fmt: skip
    review_accept(item=item, user=coder)


def waste_entries(encounter: Encounter) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(encounter=encounter, code="J9267", modifiers=["JW"]).order_by(
            "pk"
        )
    )


@pytest.mark.django_db
def test_a_waste_line_billed_half_even_on_a_tie_is_not_credited_and_charged_again(
    coder_user: User, client_as, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exported under half-even (0.3125 ML sent as 0.312), then reopened after billing and
    accepted again under half-up: the review page says billing holds the charges as they are,
    and the export sends nothing (no credit, no re-charge). The coder then corrects the waste
    line to 27 units: that is re-billed, a credit of the 0.312 charge (its rule kept) and a
    charge of 0.3375 ML as 0.338 (half-up)."""
    encounter = tie_visit()
    item = ReviewItem.objects.get(encounter=encounter)
    review_claim(user=coder_user, item_id=item.pk)
    with monkeypatch.context() as before:
        before.setattr(claim, "NDC_ROUNDING", HALF_EVEN)  # the exports before 2026-12-07
        accept(encounter, coder_user)
        assert export_create(user=coder_user).export is not None
    [sent] = waste_entries(encounter)
    assert (sent.units, sent.detail["ndc_quantity"], sent.ndc_rounding) == (25, "0.312", HALF_EVEN)
    entries = LedgerEntry.objects.filter(encounter=encounter).count()

    review_reopen(item=item, user=coder_user)
    page = client_as(roles.CODER).get(f"/coding/encounters/{encounter.pk}/").content.decode()
    assert 'data-testid="back-from-billing"' in page
    assert 'data-testid="changed-after-billing"' not in page
    accept(encounter, coder_user)
    again = export_create(user=coder_user)
    assert again.export is None and len(again.unchanged) == 1
    assert LedgerEntry.objects.filter(encounter=encounter).count() == entries
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.EXPORTED

    review_reopen(item=item, user=coder_user)
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    line = ChargeLine.objects.get(run=run, code="J9267", modifiers=["JW"])
    charge_line_correct(
        item=ReviewItem.objects.get(pk=item.pk), user=coder_user, line=line, action="change",
        code=line.code, units=27, modifiers=list(line.modifiers),
        reason="The waste charted again: 27 mg were discarded",
    )  # fmt: skip
    accept(encounter, coder_user)
    assert export_create(user=coder_user).export is not None
    charge, credit, recharge = waste_entries(encounter)
    assert (credit.kind, credit.reverses_id, credit.ndc_rounding) == ("CD", charge.pk, HALF_EVEN)
    assert credit.detail["ndc_quantity"] == "0.312"
    assert (recharge.kind, recharge.units, recharge.detail["ndc_quantity"]) == ("CG", 27, "0.338")
    assert recharge.ndc_rounding == HALF_UP
    # Only the waste line changed: nothing else was credited.
    assert LedgerEntry.objects.filter(encounter=encounter).count() == entries + 2


# --- the state machine: exports under either rule, reopened, the waste corrected ---------------


class RoundingLedger(RuleBasedStateMachine):
    """One billed encounter whose waste line's NDC quantity is a tie (21, 25 or 27 mg of an
    80 mg/mL package) or not (23 mg), exported under half-even (before 2026-12-07) or half-up
    (now) in any order, reopened after billing and accepted again, its waste corrected. After
    every step: no export credits and charges again a line whose units (so exact quantity)
    did not change; every standing charge's quantity is its exact quantity rounded under the
    rule it was sent by, and every credit keeps its charge's rule; what billing holds is the
    accepted lines whenever the item stands exported."""

    def __init__(self) -> None:
        super().__init__()
        self.coder = factories.user_create(username=f"coder-r{uuid.uuid4().hex}", role="coder")
        nurse = factories.user_create(username=f"nurse-r{uuid.uuid4().hex}", role="nurse")
        self.encounter = tie_visit(nurse)
        self.item = ReviewItem.objects.get(encounter=self.encounter)
        self.rounding_before = claim.NDC_ROUNDING

    def teardown(self) -> None:
        claim.NDC_ROUNDING = self.rounding_before

    def _item(self) -> ReviewItem:
        return ReviewItem.objects.select_related("run").get(pk=self.item.pk)

    def _held(self) -> ReviewItem:
        """The item in review with this coder: claimed, or taken back after acceptance."""
        item = self._item()
        if item.state == ReviewItem.State.NEW:
            review_claim(user=self.coder, item_id=item.pk)
        elif item.state in (ReviewItem.State.ACCEPTED, ReviewItem.State.EXPORTED):
            review_reopen(item=item, user=self.coder)
        return self._item()

    @initialize(rounding=st.sampled_from([HALF_EVEN, HALF_EVEN, HALF_UP]))
    def billed_before(self, rounding: str) -> None:
        """Billed first under either rule (mostly half-even: the charges billed before
        2026-12-07); exports round half-up from then on, unless a step says otherwise."""
        claim.NDC_ROUNDING = rounding
        self.accept_then_export()
        claim.NDC_ROUNDING = HALF_UP

    @rule(rounding=st.sampled_from([HALF_EVEN, HALF_UP]))
    def exports_round(self, rounding: str) -> None:
        claim.NDC_ROUNDING = rounding

    @rule(units=st.sampled_from([21, 23, 25, 27]))
    def waste_corrected(self, units: int) -> None:
        item = self._held()
        line = ChargeLine.objects.get(run=item.run, code="J9267", modifiers=["JW"])
        with contextlib.suppress(ValidationError):  # nothing changed
            charge_line_correct(
                item=item, user=self.coder, line=line, action="change", code=line.code,
                units=units, modifiers=list(line.modifiers), reason="The waste charted again",
            )  # fmt: skip

    @rule()
    def reopened(self) -> None:
        self._held()

    @rule()
    def accept_then_export(self) -> None:
        if self._item().state != ReviewItem.State.ACCEPTED:
            self._held()
            accept(self.encounter, self.coder)
        export_create(user=self.coder)

    @invariant()
    def nothing_credited_and_charged_again_unchanged(self) -> None:
        for export in Export.objects.filter(entries__encounter=self.encounter).distinct():
            entries = list(export.entries.filter(encounter=self.encounter))
            credited = {
                (e.code, tuple(e.modifiers), e.date, tuple(sorted(e.administrations)), e.units)
                for e in entries
                if e.kind == LedgerEntry.Kind.CREDIT
            }
            for e in entries:
                if e.kind == LedgerEntry.Kind.CHARGE:
                    service = (
                        e.code, tuple(e.modifiers), e.date, tuple(sorted(e.administrations)),
                        e.units,
                    )  # fmt: skip
                    assert service not in credited, f"re-billed unchanged: {e}"

    @invariant()
    def each_quantity_as_its_rule_rounds_it(self) -> None:
        for e in LedgerEntry.objects.filter(encounter=self.encounter).select_related("reverses"):
            if "ndc_quantity" in e.detail:
                exact = PER_UNIT * e.units
                assert e.detail["ndc_quantity"] == quantity_text(
                    rounded_quantity(exact, e.ndc_rounding)
                ), e
            if e.reverses is not None:
                assert e.ndc_rounding == e.reverses.ndc_rounding

    @invariant()
    def billing_holds_the_accepted_lines(self) -> None:
        item = self._item()
        if item.state == ReviewItem.State.EXPORTED:
            assert ledger_sum(self.encounter.pk) == lines_sum(item.run)


@pytest.mark.django_db
def test_exports_under_either_rounding_never_re_bill_a_line_nothing_changed_in() -> None:
    run_state_machine_as_test(
        RoundingLedger,
        settings=settings(
            max_examples=6,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
