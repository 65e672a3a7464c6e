"""A card's Site select tells two sites of one kind apart at 1024 px (QA, Chromium, tablet): it
showed "S2 Periphe" for both peripheral IVs. Each option says its number and where the site
is first ("S2 right hand (Peripheral IV)"), in a select half the card wide, and the place is
shown whole; the chart is not wider than the screen."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mar.models import AccessSite
from tests import factories
from tests.browser.test_chart_typing_kept import open_chart, unfold
from tests.mar.chart_helpers import running_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERFLOW = """() => { const root = document.documentElement;
  return root.scrollWidth > root.clientWidth ? [root.scrollWidth, root.clientWidth] : null; }"""
# The width the select shows its chosen option's first words in: the text's own width, measured
# in the select's font, against the select's inside (less its padding, which holds the arrow).
SHOWN = """([select, words]) => {
  const style = getComputedStyle(select);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = style.font;
  const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
  const inside = select.clientWidth - padding;
  return [ctx.measureText(words).width, inside];
}"""


@pytest.mark.parametrize("width", [768, 1024])
def test_two_peripheral_ivs_are_told_apart_in_the_cards_site_select(
    browser_page, live_server, width
) -> None:
    encounter, adm = running_visit()
    AccessSite.objects.filter(pk=adm.site_id).update(location="right antecubital")
    other = factories.site_create(
        encounter, placed_at=timezone.now() - timedelta(hours=1), location="left forearm"
    )
    assert other.kind == adm.site.kind == AccessSite.Kind.PERIPHERAL_IV
    page = browser_page
    page.set_viewport_size({"width": width, "height": 768})
    open_chart(page, live_server, encounter)
    unfold(page, adm.pk)
    select = page.locator(f"#id_a{adm.pk}-site")
    options = select.locator("option").all_inner_texts()
    assert f"S{adm.site_id} right antecubital (Peripheral IV)" in options
    assert f"S{other.pk} left forearm (Peripheral IV)" in options
    words = f"S{adm.site_id} right antecubital"
    text_width, inside = page.evaluate(SHOWN, [select.element_handle(), words])
    assert text_width <= inside, f"{words!r} needs {text_width:.0f} px, the select shows {inside}"
    assert page.evaluate(OVERFLOW) is None
    page.locator(f"#adm-{adm.pk}").screenshot(path=f"/tmp/bedside-site-select-{width}.png")
