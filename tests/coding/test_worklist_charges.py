"""What the coder's worklist says of each row's charges, and each row as drawn, kept while nothing
they are made of changed (coding/worklist_charges.py, coding/worklist_rows.py, issue 19).

A kept row must never say anything other than the row worked out afresh: after any correction
(a line changed, removed or added), a decision on a correction carried to a new run (kept,
adapted, dropped), a new run (an addendum), and a charge master loaded again (a price changed, a
code no longer listed), a claim or a release, a patient renamed, the charges read with what was
kept are those worked out with nothing kept, and the worklist page with its rows kept is the page
drawn with nothing kept. And a page loaded again with nothing changed reads no
charge line: that is what keeping them is for.
"""

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from coding import review_reads
from coding.chargemaster import BEGINNING, ChargeMasterRow, charge_master_load
from coding.corrections import correction_resolve
from coding.models import ChargeCorrection, ChargeRun, ReviewItem
from coding.review import charge_line_correct, review_claim, review_release
from coding.services import charge_run_generate
from coding.worklist_charges import CACHE, run_charges
from mar.models import Administration
from mar.registration.services import patient_update
from tests import factories
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = pytest.mark.django_db

PRICES = {"96413": "310.00", "96415": "95.00", "96375": "60.00", "J9267": "1.25"}


# The factories' visits are on 2026-03-02: a price is in effect on a line's date of service.
SINCE = (BEGINNING, date(2026, 3, 1), date(2026, 6, 1))


def _master(prices: dict[str, str], *, replace: bool = True, since: date = BEGINNING) -> None:
    charge_master_load(
        rows=[
            ChargeMasterRow(code=code, revenue_code="0335", description=code, unit_price=Decimal(p))
            for code, p in prices.items()
        ],
        replace=replace,
        effective_from=since,
    )


def current_runs(encounters) -> list[ChargeRun]:
    return list(ChargeRun.objects.filter(encounter__in=encounters, is_current=True).order_by("pk"))


def rows(page: str) -> list[str]:
    """The worklist's rows, less the CSRF tokens (masked anew on every response)."""
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)
    return re.findall(r'<tr data-testid="worklist-row".*?</tr>', page, re.S)


class Worklist(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        caches[CACHE].clear()
        self.coder = factories.user_create(username=f"coder-{uuid.uuid4().hex}", role="coder")
        self.nurse = factories.user_create(username=f"rn-{uuid.uuid4().hex}", role="nurse")
        self.encounters = [reviewed(billable=True)[0] for _ in range(2)]
        for encounter in self.encounters:
            review_claim(user=self.coder, item_id=ReviewItem.objects.get(encounter=encounter).pk)
        _master(PRICES)
        self.client = Client()
        self.client.force_login(self.coder)

    def _item(self, n: int) -> ReviewItem:
        item = ReviewItem.objects.get(encounter=self.encounters[n])
        if item.claimed_by_id != self.coder.pk:
            item.state, item.claimed_by = ReviewItem.State.NEW, None
            item.save(update_fields=["state", "claimed_by"])
            item = review_claim(user=self.coder, item_id=item.pk)
        return item

    @staticmethod
    def _refused_or_done(service, **fields) -> None:
        """A correction refused ("Nothing changed: ...") changes nothing: the rows must agree."""
        try:
            service(**fields)
        except ValidationError:
            pass

    def _line(self, n: int, k: int):
        run = current_runs([self.encounters[n]])[0]
        lines = list(run.lines.order_by("position"))
        return lines[k % len(lines)] if lines else None

    @rule(n=st.integers(0, 1), k=st.integers(0, 9), units=st.integers(1, 4))
    def change_a_line(self, n: int, k: int, units: int) -> None:
        line = self._line(n, k)
        if line is not None:
            self._refused_or_done(
                charge_line_correct,
                item=self._item(n), user=self.coder, action="change", reason="units",
                line=line, code=line.code, units=units, modifiers=list(line.modifiers),
            )  # fmt: skip

    @rule(n=st.integers(0, 1), k=st.integers(0, 9))
    def remove_a_line(self, n: int, k: int) -> None:
        line = self._line(n, k)
        if line is not None:
            self._refused_or_done(
                charge_line_correct,
                item=self._item(n), user=self.coder, action="remove", reason="dup", line=line,
            )  # fmt: skip

    @rule(n=st.integers(0, 1), code=st.sampled_from(["96375", "96523"]))
    def add_a_line(self, n: int, code: str) -> None:
        self._refused_or_done(
            charge_line_correct,
            item=self._item(n), user=self.coder, action="add", reason="missed", code=code,
            units=1, modifiers=[],
        )  # fmt: skip

    @rule(n=st.integers(0, 1), minutes=st.integers(10, 90))
    def an_addendum_makes_a_new_run(self, n: int, minutes: int) -> None:
        encounter = self.encounters[n]
        addendum_for_test(encounter, author=self.nurse)
        adm = Administration.objects.filter(encounter=encounter, stop__isnull=False).first()
        if adm is not None:
            Administration.objects.filter(pk=adm.pk).update(
                stop=adm.stop + timedelta(minutes=minutes)
            )
        charge_run_generate(encounter_id=encounter.pk, trigger=ChargeRun.Trigger.ADDENDUM)

    @rule(n=st.integers(0, 1), decision=st.sampled_from(["keep", "adapt", "drop"]))
    def a_carried_correction_decided(self, n: int, decision: str) -> None:
        run = current_runs([self.encounters[n]])[0]
        waiting = run.corrections.filter(state=ChargeCorrection.State.NEEDS_REVIEW).first()
        if waiting is None:
            return
        data = waiting.corrected or waiting.original
        self._refused_or_done(
            correction_resolve,
            item=self._item(n), user=self.coder, correction=waiting, decision=decision,
            reason="re-reviewed", code=data.get("code", "96375"), units=2,
            modifiers=list(data.get("modifiers", [])),
        )  # fmt: skip

    @rule(
        code=st.sampled_from(sorted(PRICES)),
        cents=st.integers(1, 99999),
        since=st.sampled_from(SINCE),
    )
    def a_price_changed(self, code: str, cents: int, since: date) -> None:
        _master({code: f"{cents / 100:.2f}"}, replace=False, since=since)

    @rule(code=st.sampled_from(sorted(PRICES)), since=st.sampled_from(SINCE))
    def a_code_no_longer_listed(self, code: str, since: date) -> None:
        _master({c: p for c, p in PRICES.items() if c != code}, since=since)

    @rule(n=st.integers(0, 1))
    def released_or_claimed(self, n: int) -> None:
        item = ReviewItem.objects.get(encounter=self.encounters[n])
        if item.claimed_by_id == self.coder.pk:
            self._refused_or_done(review_release, item=item, user=self.coder)
        else:
            self._item(n)

    @rule(n=st.integers(0, 1), name=st.sampled_from(["Ada Lovelace", "Grace Hopper", "Mary <b>"]))
    def patient_renamed(self, n: int, name: str) -> None:
        patient_update(patient=self.encounters[n].patient, name=name)

    @invariant()
    def kept_is_worked_out_afresh(self) -> None:
        runs = current_runs(self.encounters)
        kept = run_charges(runs)
        assert kept == run_charges(runs, kept=False)
        page = self.client.get(reverse("coding:worklist")).content.decode()
        caches[CACHE].clear()
        fresh = self.client.get(reverse("coding:worklist")).content.decode()
        assert rows(page) == rows(fresh)
        # (each example adds its visits to the database: those of this one are on the page)
        shown = {int(pk) for pk in re.findall(r'data-encounter="(\d+)"', page)}
        assert {e.pk for e in self.encounters} <= shown


def test_a_kept_worklist_row_says_what_is_worked_out_afresh_after_any_change() -> None:
    run_state_machine_as_test(
        Worklist,
        settings=settings(
            max_examples=6,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_a_worklist_loaded_again_with_nothing_changed_reads_no_charge_line(client_as) -> None:
    for _ in range(3):
        reviewed(billable=True)
    _master(PRICES)
    client = client_as("coder")
    url = reverse("coding:worklist")
    with mock.patch.object(review_reads, "lines", wraps=review_reads.lines) as read:
        first = client.get(url).content.decode()
        second = client.get(url).content.decode()
    assert read.call_count == 1  # the first load; the second kept every row's charges
    assert rows(first) == rows(second) and len(rows(first)) == 3
    assert "$" in first  # priced


def test_each_kind_of_change_shows_on_the_next_worklist_load(client_as) -> None:
    """A correction, a new price and a code no longer listed change the row at once."""
    encounter, run, item = reviewed(billable=True)
    _master(PRICES)
    client = client_as("coder")
    coder = item.__class__.objects.get(pk=item.pk)
    url = reverse("coding:worklist")
    before = rows(client.get(url).content.decode())[0]
    assert "96413 x1" in before
    user = factories.user_create(username="coder-kinds", role="coder")
    claimed = review_claim(user=user, item_id=coder.pk)
    line = run.lines.get(code="96413")
    charge_line_correct(
        item=claimed, user=user, action="change", reason="two hours", line=line, code="96413",
        units=2, modifiers=list(line.modifiers),
    )  # fmt: skip
    corrected = rows(client.get(url).content.decode())[0]
    assert "96413 x2" in corrected and "(as corrected)" in corrected
    _master({**PRICES, "96413": "400.00"}, since=date(2026, 3, 1))  # in effect on its date
    repriced = rows(client.get(url).content.decode())[0]
    assert repriced != corrected
    _master({**PRICES, "96413": "999.00"}, since=date(2026, 6, 1))  # after its date: no change
    assert rows(client.get(url).content.decode())[0] == repriced
    _master({c: p for c, p in PRICES.items() if c != "96413"}, since=date(2026, 3, 1))
    delisted = rows(client.get(url).content.decode())[0]
    assert "not in the charge master" in delisted
