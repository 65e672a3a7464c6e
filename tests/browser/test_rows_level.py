"""A table row reads on one line (walk18, in Chromium): a link in a cell (a 44 px touch target,
its text centred in it) sits level with the text beside it, not 10 px below (the pharmacy's class
decisions); a breadcrumb's link sits level with the page's name after it; the coder's worklist
keeps a date on one line ("2026-" / "12-05" at 1024 px)."""

import pytest

from coding.services import charge_run_generate
from mar.models import DrugClass
from mar.pharmacy.services import drug_classify
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.coding.review_helpers import encounter_signed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each row's first-line text tops, per cell, in CSS pixels.
ROW_TOPS = """(sel) => [...document.querySelectorAll(sel + ' tbody tr')].map(tr =>
  [...tr.cells].map(td => { const walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    let node; while ((node = walk.nextNode())) { if (node.data.trim()) {
      const r = document.createRange(); r.selectNodeContents(node);
      return Math.round(r.getClientRects()[0].top); } }
    return null; }).filter(top => top !== null))"""


def test_a_link_in_a_row_sits_level_with_the_text_beside_it(browser_page, live_server) -> None:
    pharmacist = factories.user_create(username="pharmacist-rows", role="pharmacist")
    drug = factories.drug_get("teprotumumab", None)
    drug_classify(drug=drug, drug_class=DrugClass.CHEMO, user=pharmacist, note="FDA label")
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/")
    table = "table:has(a[href*='/pharmacy/drugs/'])"
    page.wait_for_selector(table)
    page.screenshot(path=str(ARTIFACTS / "rows-level-pharmacy.png"), full_page=True)
    rows = page.evaluate(ROW_TOPS, table)
    assert rows and len(rows[0]) >= 5
    for tops in rows:
        assert max(tops) - min(tops) <= 2, tops


def test_the_coders_worklist_keeps_a_date_on_one_line(browser_page, live_server) -> None:
    coder = factories.user_create(username="coder-rows", role="coder")
    encounter = encounter_signed()
    charge_run_generate(encounter_id=encounter.pk)
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, live_server, coder.username)
    page.goto(f"{live_server.url}/coding/worklist/")
    date = page.locator("tbody tr td").first
    assert date.inner_text().count("-") == 2
    lines = date.evaluate(
        """td => { const r = document.createRange(); r.selectNodeContents(td);
          return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"""
    )
    assert lines == 1


def test_a_breadcrumbs_link_sits_level_with_the_pages_name(browser_page, live_server) -> None:
    factories.user_create(username="clerk-rows", role="clerk")
    encounter = factories.encounter_create()
    page = browser_page
    sign_in(page, live_server, "clerk-rows")
    # "Registration / the patient / Visit N": two links, then the page's name.
    page.goto(f"{live_server.url}/registration/visits/{encounter.pk}/")
    tops = page.evaluate(
        """() => [...document.querySelectorAll('.breadcrumb-item')].map(li => {
          const walk = document.createTreeWalker(li, NodeFilter.SHOW_TEXT); let node;
          while ((node = walk.nextNode()) && !node.data.trim()) {}
          const r = document.createRange(); r.selectNodeContents(node);
          return Math.round(r.getClientRects()[0].top); })"""
    )
    assert len(tops) >= 3
    assert max(tops) - min(tops) <= 2, tops
    # The "/" between them is inline with the text, not floated to the top of a link's box.
    floats = page.evaluate(
        """() => [...document.querySelectorAll('.breadcrumb-item + .breadcrumb-item')]
          .map(li => getComputedStyle(li, '::before').float)"""
    )
    assert floats and set(floats) == {"none"}


def test_a_terms_value_sits_level_with_its_term_beside_a_button(browser_page, live_server) -> None:
    # The drug page: "Class" and "Therapeutic [Change]" (a 44 px button) on one line.
    pharmacist = factories.user_create(username="pharmacist-dl", role="pharmacist")
    drug = factories.drug_get("ondansetron")
    page = browser_page
    sign_in(page, live_server, pharmacist.username)
    page.goto(f"{live_server.url}/pharmacy/drugs/{drug.pk}/")
    tops = page.evaluate(
        """() => { const dt = [...document.querySelectorAll('dl.row dt')]
            .find(d => d.textContent.trim() === 'Class');
          const top = el => { const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            let node; while ((node = walk.nextNode()) && !node.data.trim()) {}
            const r = document.createRange(); r.selectNodeContents(node);
            return Math.round(r.getClientRects()[0].top); };
          return [top(dt), top(dt.nextElementSibling)]; }"""
    )
    assert abs(tops[0] - tops[1]) <= 2, tops


def test_the_signed_charts_charges_keep_a_date_on_one_line(browser_page, live_server) -> None:
    # The nurse's signed chart at 1024 px: "2026-12-" / "05" in the charges' date column.
    factories.user_create(username="nurse-rows", role="nurse")
    encounter = encounter_signed()
    charge_run_generate(encounter_id=encounter.pk)
    page = browser_page
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, live_server, "nurse-rows")
    page.goto(f"{live_server.url}/mar/encounters/{encounter.pk}/")
    dates = page.locator("#charges tbody tr td:nth-child(4)")
    assert dates.count() >= 3
    lines = dates.evaluate_all(
        """tds => tds.map(td => { const r = document.createRange(); r.selectNodeContents(td);
          return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; })"""
    )
    assert set(lines) == {1}, lines
