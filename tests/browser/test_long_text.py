"""Very long text without a space (a pasted code, an allergy list typed "a,b,c", a long bag
label) breaks inside the chart rather than widen it past a tablet's screen, landscape or portrait:
Bootstrap's cards only break words that overflow a block, which a flex row (a card's heading,
an order's row) never makes them do, so one long reason used to make the chart five screens wide.
"""

import pytest

from mar.models import ChartedInError
from tests import factories
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RUN = "X" * 90
OVERFLOW = """() => { const root = document.documentElement;
  return root.scrollWidth > root.clientWidth ? root.scrollWidth : 0; }"""


@pytest.mark.parametrize("viewport", [(1024, 768), (820, 1180)])
def test_long_unbroken_text_wraps_inside_the_chart(browser_page, live_server, viewport) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    encounter.patient.allergies = ",".join(["penicillin", "sulfonamides", RUN])
    encounter.patient.save()
    site = adm.site
    site.location = RUN
    site.save()
    order = adm.order
    order.dose = RUN
    order.indication = RUN
    order.save()
    adm.bag = RUN[:40]
    adm.save()
    ChartedInError.objects.create(
        encounter=encounter,
        administration_ref="A999",
        what="carboplatin, charted twice",
        reason=RUN * 5,
        by=factories.user_create(username="nurse-x", role="nurse"),
    )

    page = browser_page
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    open_chart(page, live_server, encounter)
    expect(page.locator(f"#adm-{adm.pk}")).to_contain_text(RUN[:40])
    expect(page.locator("main")).to_contain_text(RUN * 5)
    assert page.evaluate(OVERFLOW) == 0


PROVIDER = "P" * 200  # an ordering provider's name pasted as one run (QA: 4,358 px at 1440)
REASON = ("The bag was relabelled after the pump alarm and the volumes charted again. " * 51)[
    :3800
]  # a nurse's addendum reason, ~3,800 characters (QA)
WIDER_THAN = """(sel) => [...document.querySelectorAll(sel)]
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim().slice(0, 40))"""


def _long_provider(encounter) -> None:
    from django.db import transaction

    from mar.models import Order
    from tests.coding.review_helpers import addendum_for_test

    with transaction.atomic():
        if encounter.is_signed:
            addendum_for_test(encounter)
        Order.objects.filter(encounter=encounter).update(ordering_provider=PROVIDER)


@pytest.mark.parametrize("width", [1440, 768])
def test_a_long_ordering_provider_wraps_on_the_visit_page_and_the_charts_order_row(
    browser_page, live_server, width
) -> None:
    """QA: a 200-character unbroken ordering provider made the registration visit page 4,358 px
    wide at 1440 px and flooded the nurse's order rows: it breaks inside its cell and its row."""
    from playwright.sync_api import expect

    from mar.models import DrugClass
    from tests.browser.conftest import ARTIFACTS, sign_in

    encounter, _adm = running_visit()
    waiting = factories.order_create(  # an order not given yet: its row is open on the chart
        encounter, factories.drug_get("ondansetron", DrugClass.THERAPEUTIC), dose="8 mg"
    )
    _long_provider(encounter)
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    factories.user_create(username="clerk-long", role="clerk")
    sign_in(page, live_server, "clerk-long")
    page.goto(f"{live_server.url}/registration/visits/{encounter.pk}/")
    expect(page.locator("[data-testid=orders]")).to_contain_text(PROVIDER)
    page.screenshot(path=str(ARTIFACTS / f"long-provider-visit-{width}.png"), full_page=True)
    assert page.evaluate(OVERFLOW) == 0
    assert page.evaluate(WIDER_THAN, "[data-testid=orders] td") == []

    page.context.clear_cookies()
    open_chart(page, live_server, encounter)
    row = page.locator(f"#order-{waiting.pk}")
    expect(row).to_be_visible()
    expect(row).to_contain_text(PROVIDER)
    page.screenshot(path=str(ARTIFACTS / f"long-provider-chart-{width}.png"), full_page=True)
    assert page.evaluate(OVERFLOW) == 0
    assert page.evaluate(WIDER_THAN, "[data-testid=order-row]") == []


@pytest.mark.parametrize("width", [1440, 768])
def test_on_the_coders_review_a_long_reason_is_clamped_and_a_long_provider_wraps(
    browser_page, live_server, width
) -> None:
    """QA: a nurse's ~3,800-character addendum reason, printed whole as "Why this run was made"
    above the charge lines, pushed them (and the class-change alert) far below the fold: its
    head is shown, the whole behind a native "Show all" (no script). The ordering provider's
    long run breaks inside the coder's lines."""
    from playwright.sync_api import expect

    from coding.models import ChargeRun
    from coding.review import review_claim
    from tests.browser.conftest import ARTIFACTS, sign_in
    from tests.coding.review_helpers import reviewed

    encounter, run, item = reviewed(billable=True)
    _long_provider(encounter)
    ChargeRun.objects.filter(pk=run.pk).update(reason=REASON)
    coder = factories.user_create(username="coder-long", role="coder")
    review_claim(user=coder, item_id=item.pk)
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, coder.username)
    page.goto(f"{live_server.url}/coding/encounters/{encounter.pk}/")
    page.wait_for_selector("[data-testid=accept]")
    page.screenshot(path=str(ARTIFACTS / f"long-reason-review-{width}.png"), full_page=True)
    reason = page.locator("[data-testid=run-reason]")
    expect(reason).to_contain_text("Why this run was made:")
    expect(reason).to_contain_text("Show all (3800 characters)")
    assert reason.bounding_box()["height"] < 240  # the head, not 3,800 characters
    lines = page.locator(".charge-lines").first
    assert lines.bounding_box()["y"] < reason.bounding_box()["y"] + 400
    assert not page.locator("[data-testid=run-reason-all]").is_visible()
    expect(page.locator("[data-testid=claim-detail]").first).to_contain_text(PROVIDER)
    assert page.evaluate(OVERFLOW) == 0
    assert page.evaluate(WIDER_THAN, ".charge-lines td") == []

    reason.locator("summary").click()  # native <details>: opens without a script
    expect(page.locator("[data-testid=run-reason-all]")).to_be_visible()
    expect(page.locator("[data-testid=run-reason-all]")).to_contain_text(REASON[-60:])
    expect(reason.locator(".text-clamp-close")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / f"long-reason-review-open-{width}.png"), full_page=True)
    assert page.evaluate(OVERFLOW) == 0
