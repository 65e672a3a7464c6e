"""The coder's review page: the record's tables (orders, administrations) break lines between
words, never inside one ("dexametha/sone", "A/1", "infusio/n" at 1440 px, walk18), while a long
run with no space (a drug typed without spaces) still breaks inside its cell rather than spill
out of it or push the table past its box. The charge lines' dates never break ("12-/05")."""

from decimal import Decimal

import pytest
from django.utils import timezone

from coding.review import review_claim
from coding.services import charge_run_generate
from mar.models import Drug
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.browser.test_widths import tables_cut
from tests.coding.review_helpers import reviewed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CELLS = ".record-administrations td, .record-orders td, .charge-lines td"
# The charge lines' why column breaks anywhere: an engine token ("hydration_segments=total") may
# break in it; its 14 rem minimum keeps a word whole.
WORDS = ".record-administrations td, .record-orders td, .charge-lines td:not(:last-child)"

# The words (runs between spaces, hyphens, dashes and slashes) whose line boxes sit on more than
# one line: a word broken in the middle.
WORDS_BROKEN = """(sel) => { const out = [];
  for (const td of document.querySelectorAll(sel)) {
    const walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT); let node;
    while ((node = walk.nextNode())) {
      const re = /[^\\s\\-\\u2013\\/\\u00b7,()]+/g; let m;
      while ((m = re.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) out.push(m[0]);
      } } }
  return out; }"""

# The cells whose content is wider than the cell.
CELLS_SPILLED = """(sel) => [...document.querySelectorAll(sel)]
  .filter(td => td.scrollWidth > td.clientWidth + 1)
  .map(td => td.textContent.trim().slice(0, 40))"""


@pytest.mark.parametrize("width", [768, 1024, 1440])
def test_the_review_pages_record_breaks_between_words_and_a_long_run_stays_in_its_cell(
    browser_page, live_server, width
) -> None:
    coder = factories.user_create(username="coder-words", role="coder")
    encounter, _, item = reviewed()
    # One of the longest words a drug's name holds (18 letters), in every table.
    assert Drug.objects.filter(name="ondansetron").update(name="methylprednisolone") == 1
    review_claim(user=coder, item_id=item.pk)
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, coder.username)
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    page.wait_for_selector("[data-testid=accept]")
    page.screenshot(path=str(ARTIFACTS / f"review-words-{width}.png"), full_page=True)
    assert page.locator(".record-administrations td").count() >= 7
    assert page.evaluate(WORDS_BROKEN, WORDS) == []
    assert page.evaluate(CELLS_SPILLED, CELLS) == []
    assert tables_cut(page) == []

    # A drug name typed without a space, 80 characters: it breaks inside its cells; the page
    # stays within the window (a table a little wider than its box scrolls in it).
    long_name = "methylprednisolone" + "X" * 62
    Drug.objects.filter(name="methylprednisolone").update(name=long_name)
    page.reload()
    page.wait_for_selector("[data-testid=accept]")
    page.screenshot(path=str(ARTIFACTS / f"review-words-long-{width}.png"), full_page=True)
    assert page.get_by_text(long_name[:30], exact=False).count() >= 1
    assert page.evaluate(CELLS_SPILLED, CELLS) == []
    assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0


@pytest.mark.parametrize("width", [1024, 1440])
def test_the_review_state_keeps_to_the_right_edge_when_it_wraps_under_the_name(
    browser_page, live_server, width
) -> None:
    # walk18: wrapped under the patient's name (a long name, "Changed after billing" and its
    # note), the state block sat at the left, its badge and button floating mid-page.
    from mar.models import Patient

    coder = factories.user_create(username="coder-state", role="coder")
    encounter, _, _item = reviewed()
    Patient.objects.filter(pk=encounter.patient_id).update(
        name="Montgomery-Fitzgerald, Alexandra Josephine Bartholomew"
    )
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, coder.username)
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    state = page.locator("[data-testid=review-state]")
    claim = page.locator("[data-testid=claim]")
    claim.wait_for()
    header = state.locator("xpath=..").bounding_box()
    box = state.bounding_box()
    assert box is not None and header is not None
    assert abs((box["x"] + box["width"]) - (header["x"] + header["width"])) <= 1
    button = claim.bounding_box()
    assert button is not None
    assert abs((button["x"] + button["width"]) - (header["x"] + header["width"])) <= 1


# The amounts (a dose, a waste) whose text sits on more than one line: "3.375" / "g".
AMOUNTS_SPLIT = """() => [...document.querySelectorAll('.record-administrations .rec-amount')]
  .filter(span => new Set([...span.getClientRects()].map(r => Math.round(r.top))).size > 1)
  .map(span => span.textContent)"""


@pytest.mark.parametrize("width", [1024, 1440])
def test_a_dose_stays_on_one_line_with_its_unit_and_the_record_fits_its_box(
    browser_page, live_server, width
) -> None:
    """QA: the narrow "Dose / waste" column broke "3.375 g" as "3.375" / "g"; kept whole, it made
    the table 2 px wider than its box at 1440 px. Each amount stays on one line with its unit
    (the cell breaks only between the dose and its waste, or before "wasted"), a pause only after
    its dash, and no table is wider than its box, with the longest drug word beside it."""
    from playwright.sync_api import expect

    from mar.models import Administration, Encounter

    coder = factories.user_create(username="coder-dose", role="coder")
    encounter = factories.chemo_encounter_create()
    assert Drug.objects.filter(name="ondansetron").update(name="methylprednisolone") == 1
    # QA's line: piperacillin-tazobactam 3.375 g (the long name takes the table's room).
    Administration.objects.filter(encounter=encounter, drug__name="paclitaxel").update(
        dose_value=Decimal("3.375"), dose_unit="g", waste_value=Decimal("0.25"), waste_unit="g"
    )
    assert Drug.objects.filter(name="paclitaxel").update(name="piperacillin-tazobactam") == 1
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    charge_run_generate(encounter_id=encounter.pk)
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, coder.username)
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    doses = page.locator(".record-administrations [data-testid=record-dose]")
    expect(doses.filter(has_text="wasted")).to_have_text("3.375 g / 0.25 g wasted")
    page.locator(".record-administrations").screenshot(
        path=str(ARTIFACTS / f"review-dose-{width}.png")
    )
    assert page.locator(".record-administrations .rec-amount").count() >= 3
    assert page.evaluate(AMOUNTS_SPLIT) == []
    assert page.evaluate(WORDS_BROKEN, WORDS) == []
    assert page.evaluate(CELLS_SPILLED, CELLS) == []
    assert tables_cut(page) == []
    assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0
    # The table at its narrowest (every column at its least width, as in a tighter box or with
    # longer words beside it): each amount still keeps its unit.
    page.evaluate("document.querySelector('.record-administrations').style.width = 'min-content'")
    assert page.evaluate(AMOUNTS_SPLIT) == []
