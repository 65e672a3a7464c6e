"""The HL7 interface log reads on a tablet held upright (768 px, walk18): a received time keeps
its date and its time whole (it broke "2026-" / "12-05" / "23:58:24"), the sender breaks between
MSH-3 and MSH-4, a refused message's error reads on its own row under it, the table's width, and
each row's Open button is on the screen (the error column pushed it off to the right; the
outcome's column is headed ACK, as the code it shows)."""

import pytest

from mar.models import InterfaceMessage
from tests import factories
from tests.browser.conftest import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ERROR = (
    "drug 'vincristine 2 mg' is not in the formulary: a pharmacist adds it, then the message "
    "can be processed again."
)


def test_the_interface_log_fits_a_tablet_held_upright(browser_page, live_server) -> None:
    admin = factories.user_create(username="admin-log", role="admin")
    for n in range(3):
        InterfaceMessage.objects.create(
            control_id=f"DEMO-100{n}-202612060017",
            sender="DEMO_ADT^DEMO_HOSPITAL",
            message_type="ADT^A04",
            raw="MSH|...",
            outcome=InterfaceMessage.Outcome.ACCEPTED,
        )
    InterfaceMessage.objects.create(
        control_id="LAB-77",
        sender="PHARMACY_SYS^GENERAL_HOSPITAL",
        message_type="RDE^O11",
        raw="MSH|...",
        outcome=InterfaceMessage.Outcome.ERROR,
        error_location="RXE-2",
        error_text=f"RXE-2: {ERROR}",
    )
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, live_server, admin.username)
    page.goto(f"{live_server.url}/interfaces/hl7/")
    page.wait_for_selector("[data-testid=interface-log]")
    page.screenshot(path=str(ARTIFACTS / "interface-log-768.png"), full_page=True)
    # The table fits its box (nothing to scroll sideways): every Open button is on the screen.
    box = page.locator("[data-testid=interface-log]").evaluate(
        "t => [t.scrollWidth, t.parentElement.clientWidth]"
    )
    assert box[0] <= box[1], box
    for right in page.locator("[data-testid=interface-log] a.btn").evaluate_all(
        "links => links.map(a => a.getBoundingClientRect().right)"
    ):
        assert right <= 768
    # The received time: its date on one line, its time on one line.
    received = page.locator("[data-testid=interface-log] tbody tr td:first-child").first
    for part in received.locator("span").all():
        assert (
            part.evaluate(
                """s => { const r = document.createRange(); r.selectNodeContents(s);
              return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"""
            )
            == 1
        )
    # The error on its own row, whole, under its message's.
    error = page.locator("[data-testid=error]")
    assert error.inner_text() == f"RXE-2 {ERROR}"
    assert error.evaluate("td => td.colSpan") == 6
    assert page.locator("[data-testid=sender]").first.inner_text().replace("\n", "") in (
        "PHARMACY_SYS^GENERAL_HOSPITAL",
        "DEMO_ADT^DEMO_HOSPITAL",
    )
