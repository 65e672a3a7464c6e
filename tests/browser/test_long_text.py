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
