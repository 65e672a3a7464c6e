"""Issue 15 items 5 and 6 in Chromium: an order never given shows as DOC-6 in the checklist, its
link opens the order's "Not given / held / refused" form, and documenting it clears the item;
a billed drug with no charted dose (DRUG-DOSE) is said beside the dose, and charting the dose on
the card (auto-saved) clears it."""

from decimal import Decimal

from mar.models import Drug, Order
from tests import factories
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_chart_typing_kept import open_chart
from tests.mar.chart_helpers import running_visit


def test_an_order_not_given_is_found_jumped_to_and_documented_as_held(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, _adm = running_visit()
    order = factories.order_create(encounter, factories.drug_get("vancomycin"), dose="1 g")
    page = browser_page
    open_chart(page, live_server, encounter)
    item = page.locator("[data-testid=checklist-item][data-rule=DOC-6]")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("vancomycin")
    item.locator("a.ck-jump").click()
    select = page.locator(f"#id_d{order.pk}-disposition")
    expect(select).to_be_visible()  # its <details> opened by the jump
    select.select_option("held")
    page.fill(f"#id_d{order.pk}-reason", "BP 82/50, held per provider")
    page.locator(f"#order-{order.pk} [data-testid=disposition-save]").click()
    expect(page.locator(f"#order-{order.pk} [data-testid=order-disposition]")).to_contain_text(
        "BP 82/50"
    )
    expect(page.locator("[data-testid=checklist-item][data-rule=DOC-6]")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "order-held.png"), full_page=True)
    saved = Order.objects.get(pk=order.pk)
    assert (saved.disposition, saved.disposition_reason) == ("held", "BP 82/50, held per provider")


def test_a_billed_drug_without_a_dose_is_said_beside_the_dose_until_charted(
    browser_page, live_server
) -> None:
    from playwright.sync_api import expect

    encounter, adm = running_visit()
    Drug.objects.filter(pk=adm.drug_id).update(
        hcpcs_code="J9045", billing_unit_amount=Decimal(50), billing_unit="mg"
    )
    page = browser_page
    open_chart(page, live_server, encounter)
    card = page.locator(f"#adm-{adm.pk}")
    beside = card.locator("[data-testid=dose-findings]")
    expect(beside).to_contain_text("DRUG-DOSE")
    expect(beside).to_contain_text("dose missing")
    page.fill(f"#id_a{adm.pk}-dose_value", "500")
    page.fill(f"#id_a{adm.pk}-dose_unit", "mg")
    page.locator(f"#id_a{adm.pk}-dose_unit").blur()
    expect(card.locator("[data-testid=dose-findings]")).to_have_count(0, timeout=10_000)
    expect(page.locator("[data-testid=checklist-item][data-rule=DRUG-DOSE]")).to_have_count(0)
    adm.refresh_from_db()
    assert (adm.dose_value, adm.dose_unit) == (Decimal(500), "mg")
