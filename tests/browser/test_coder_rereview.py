"""A coder in Chromium after the record changed under billed charges: the worklist and review
say "Changed after billing", a correction whose line went away waits for re-review, the coder
drops it with a reason, accepts, and the export sends only the credit."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction

from coding.exports import export_create
from coding.models import ChargeCorrection, LedgerEntry, ReviewItem
from coding.review import charge_line_correct, review_accept, review_claim
from coding.services import charge_run_generate
from mar.models import Administration
from tests import factories
from tests.browser.conftest import sign_in
from tests.coding.review_helpers import addendum_for_test, reviewed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/billing-shots")


def test_a_coder_re_reviews_a_correction_and_exports_only_the_difference(
    browser_page, live_server
) -> None:
    SHOTS.mkdir(exist_ok=True)
    coder = factories.user_create(username="coder-rr", role="coder")
    encounter, run, item = reviewed()
    item = review_claim(user=coder, item_id=item.pk)
    target = run.lines.get(code="96415")
    charge_line_correct(
        item=item, user=coder, line=target, action="change", code="96415", units=1,
        modifiers=[], reason="pump log: 1 h 20 min",
    )  # fmt: skip
    review_accept(item=item, user=coder)
    first = export_create(user=coder).export
    billed = LedgerEntry.objects.get(export=first, code="96415")
    # An addendum: the chemotherapy ran 80 minutes; 96415 is gone from the new run.
    with transaction.atomic():  # the signed-record guard wants both in one transaction
        addendum_for_test(encounter, coder)
        adm = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
        Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=80))
    charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    waiting = ChargeCorrection.objects.get(state=ChargeCorrection.State.NEEDS_REVIEW)

    page = browser_page
    sign_in(page, live_server, "coder-rr")
    page.wait_for_url("**/coding/worklist/")
    row = page.locator(f"[data-testid=worklist-row][data-encounter='{encounter.pk}']")
    assert "Changed after billing" in row.inner_text()
    page.screenshot(path=str(SHOTS / "worklist-changed.png"), full_page=True)
    row.locator("a").click()
    page.wait_for_selector("[data-testid=claim]")
    page.click("[data-testid=claim]")
    page.wait_for_selector("[data-testid=resolve-form]")
    assert "Changed after billing" in page.inner_text("[data-testid=review-state]")
    box = page.inner_text("[data-testid=rereview-item]")
    assert "96415" in box and "pump log: 1 h 20 min" in box and "no such line" in box
    page.screenshot(path=str(SHOTS / "review-rereview.png"), full_page=True)

    # Accepting first is refused: the correction waits for a decision.
    page.click("[data-testid=accept]")
    page.wait_for_load_state()
    assert "re-review" in page.inner_text("body")
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.IN_REVIEW

    prefix = f"c{waiting.pk}"
    page.check(f"input[name='{prefix}-decision'][value='drop']")
    page.fill(f"textarea[name='{prefix}-reason'], textarea[name='{prefix}-reason']", "ran 80 min")
    page.locator("[data-testid=resolve-form] button[type=submit]").click()
    # The old page has an Accept button too: wait for the answer's page, without the form.
    page.wait_for_selector("[data-testid=resolve-form]", state="detached")
    page.wait_for_selector("[data-testid=accept]")
    assert not page.locator("[data-testid=resolve-form]").count()
    waiting.refresh_from_db()
    assert waiting.state == ChargeCorrection.State.DROPPED
    assert waiting.decision_reason == "ran 80 min" and waiting.decided_by == coder
    page.screenshot(path=str(SHOTS / "review-after-decision.png"), full_page=True)

    page.click("[data-testid=accept]")
    page.wait_for_url("**/coding/worklist/")
    page.click("text=Export to billing")
    page.click("[data-testid=export]")
    page.wait_for_selector("[data-testid=download-csv]")
    page.screenshot(path=str(SHOTS / "exports-after-change.png"), full_page=True)
    with page.expect_download() as info:
        page.locator("[data-testid=download-csv]").first.click()
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert [(r["transaction"], r["transaction_id"], r["code"], r["units"]) for r in rows] == [
        ("CD", billed.transaction_id, "96415", "1")
    ]
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.EXPORTED


def test_a_correction_the_new_run_makes_itself_is_dropped_not_billed_twice_and_undone(
    browser_page, live_server
) -> None:
    """QA: 96374 corrected to 96365, then the nurse charted the push as an infusion (the run's
    own 96365). The panel says there is nothing to keep and offers Drop first; Keep is refused
    (billed twice); the drop is undone and made again."""
    from coding.corrections import corrections_waiting
    from coding.models import ChargeRun
    from tests.coding.review_helpers import hydration_and_ondansetron, ondansetron_infused

    coder = factories.user_create(username="coder-qa", role="coder")
    encounter = hydration_and_ondansetron()
    charge_run_generate(encounter_id=encounter.pk)
    item = review_claim(user=coder, item_id=ReviewItem.objects.get(encounter=encounter).pk)
    charge_line_correct(
        item=item, user=coder, line=item.run.lines.get(code="96374"), action="change",
        code="96365", units=1, modifiers=[], reason="infused per the pump",
    )  # fmt: skip
    new_run = ondansetron_infused(encounter, coder)
    (waiting,) = corrections_waiting(ChargeRun.objects.get(pk=new_run.pk))
    prefix = f"c{waiting.pk}"

    page = browser_page
    sign_in(page, live_server, "coder-qa")
    page.wait_for_url("**/coding/worklist/")
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    # Still hers after the nurse's addendum re-ran the engine (no claim to make again), and
    # the page says the charges changed under her.
    page.wait_for_selector("[data-testid=resolve-form]")
    assert page.locator("[data-testid=claim]").count() == 0
    assert "Changed while in review with you" in page.inner_text("[data-testid=changed-in-review]")
    box = page.inner_text("[data-testid=rereview-item]")
    assert "the new run now makes this line itself: nothing to keep" in box
    assert page.is_checked(f"input[name='{prefix}-decision'][value='drop']")

    # Keep anyway: refused, said on the form; the run's 96365 stays the only one.
    page.check(f"input[name='{prefix}-decision'][value='keep']")
    page.fill(f"textarea[name='{prefix}-reason']", "as it was")
    page.locator("[data-testid=resolve-form] button[type=submit]").click()
    page.wait_for_selector(
        "[data-testid=resolve-form] .alert, [data-testid=resolve-form] .invalid-feedback"
    )
    assert "billed twice" in page.inner_text("[data-testid=resolve-form]")
    assert page.locator("[data-testid=charge-line][data-code='96365']").count() == 1

    page.check(f"input[name='{prefix}-decision'][value='drop']")
    page.fill(f"textarea[name='{prefix}-reason']", "charted as an infusion now")
    page.locator("[data-testid=resolve-form] button[type=submit]").click()
    page.wait_for_selector("[data-testid=rereviewed]")
    assert "charted as an infusion now" in page.inner_text("[data-testid=rereviewed]")
    page.screenshot(path=str(SHOTS / "review-dropped-undo.png"), full_page=True)

    # Undo it: the correction waits for a decision again.
    page.locator("[data-testid=rereviewed] summary", has_text="Undo this decision").click()
    page.fill(f"textarea[name='u{waiting.pk}-reason']", "dropped the wrong one")
    page.locator("[data-testid=undo-form] button[type=submit]").click()
    page.wait_for_selector("[data-testid=resolve-form]")
    waiting.refresh_from_db()
    assert waiting.state == ChargeCorrection.State.NEEDS_REVIEW
    assert [d.decision for d in waiting.decisions.all()] == ["drop", "undo"]
