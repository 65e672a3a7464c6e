"""A date is read whole: no "2026-12-" / "06" at 768 px (walk20 saw it in the pharmacist's queue,
the verified badge on the queue and on the coder's record, and the audit sweep's encounters).
Each page of every role's day, the demo's, a sweep that found a difference and a range refused
beside its field; a date may sit on the line after its neighbour, never broken inside itself."""

import re
from datetime import date

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from coding import sweep as sweeps
from coding.models import ReviewItem
from coding.review import charge_line_correct, review_claim
from tests.browser.readable import main_pages, readable_world, sign_in, visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The dates (YYYY-MM-DD) in the main part of the page drawn over more than one line.
DATES_BROKEN = r"""() => {
  const out = [];
  const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  const re = /\d{4}-\d{2}-\d{2}/g;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const m of node.data.matchAll(re)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
        .map(r => Math.round(r.top)));
      if (tops.size > 1) {
        const where = node.parentElement.closest('td, th, li, p, span, div');
        out.push((where ? where.innerText : node.data).trim().replace(/\s+/g, ' ').slice(0, 80));
      }
    }
  }
  return out;
}"""


def a_sweep_with_a_difference(encounter) -> str:
    """The coder corrects one line of a signed encounter; a sweep of its day finds it."""
    coder = User.objects.get(username="coder")
    item = ReviewItem.objects.get(encounter=encounter)
    review_claim(user=coder, item_id=item.pk)
    line = item.run.lines.order_by("pk").first()
    charge_line_correct(
        item=item, user=coder, line=line, action="change", code=line.code,
        units=line.units + 1, modifiers=list(line.modifiers), reason="pump log",
    )  # fmt: skip
    day: date = encounter.arrived_at.date()
    sweep = sweeps.sweep_start(date_from=day, date_to=day, payer=None, user=coder)
    return reverse("coding:sweep", args=[sweep.pk])


def test_no_date_on_a_main_page_is_broken_across_two_lines_at_768(
    browser_page, live_server
) -> None:
    world = readable_world()
    pages = main_pages(world)
    pages["coder"].append(a_sweep_with_a_difference(world.signed[0]))
    # A refusal that names a date, beside its field in a narrow column.
    backwards = "date_from=2026-12-31&date_to=2026-12-01"
    pages["coder"].append(reverse("coding:report_findings") + "?" + backwards)
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    broken: list[str] = []
    dates_seen = 0
    for username, paths in pages.items():
        sign_in(page, live_server, username)
        for path in paths:
            visit(page, live_server, path)
            dates_seen += len(re.findall(r"\d{4}-\d{2}-\d{2}", page.locator("main").inner_text()))
            broken += [f"{username} {path}: {text}" for text in page.evaluate(DATES_BROKEN)]
    assert dates_seen > 10
    assert not broken, "\n".join(broken)
