"""Works at 768 px wide (screens.md): no main page of any role is wider than the screen, on a
tablet or a small laptop; wide tables scroll inside themselves and long badges wrap. The world
has a verified order, whose badge once widened the pharmacy's queue and the coder's record."""

import pytest

from tests.browser.readable import main_pages, readable_world, sign_in, visit
from tests.browser.test_widths import tables_cut

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (768, 1024)
OVERFLOW = """() => { const root = document.documentElement;
  return root.scrollWidth > root.clientWidth ? [root.scrollWidth, root.clientWidth] : null; }"""


def test_no_main_page_is_wider_than_the_screen_at_768_or_1024(browser_page, live_server) -> None:
    world = readable_world()
    page = browser_page
    wide: list[str] = []
    cut: list[str] = []
    review_pages = 0
    verified_badges = 0
    for username, paths in main_pages(world).items():
        sign_in(page, live_server, username)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 1024})
            for path in paths:
                visit(page, live_server, path)
                verified_badges += page.locator("[data-testid=order-verified]").count()
                overflow = page.evaluate(OVERFLOW)
                if overflow:
                    wide.append(f"{username} {path} at {width}: {overflow[0]} px wide")
                if path.startswith("/coding/encounters/"):
                    # The review page hides no column: each table fits the box that shows it.
                    review_pages += 1
                    cut += [f"{username} {path} at {width}: {t}" for t in tables_cut(page)]
    assert verified_badges >= 2  # the pharmacy's queue and the coder's record both drew one
    assert not wide, "\n".join(wide)
    assert review_pages >= 2  # the coder's review page, at both widths
    assert not cut, "\n".join(cut)


def test_a_long_name_with_nowhere_to_break_wraps_on_every_page_that_shows_it(
    browser_page, live_server
) -> None:
    # A 200-character name without a space (the most the field takes): it wraps in the heading,
    # the breadcrumb and the tables of the clerk's, the nurse's and the pharmacist's pages
    # instead of making them 1,900+ px wide (seen in Chromium on the visit and search pages).
    from django.urls import reverse

    from tests import factories
    from tests.browser.conftest import sign_in as sign_in_factory_user

    name = "Ó" * 120 + "-" + "Ñ" * 79
    patient = factories.patient_create(mrn="LONG-1", name=name)
    encounter = factories.encounter_create(patient=patient, location_label="12")
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    pages = {
        "clerk": [
            reverse("registration:home") + "?q=LONG",
            reverse("registration:patient", args=[patient.pk]),
            reverse("registration:visit_new", args=[patient.pk]),
            reverse("registration:visit", args=[encounter.pk]),
            reverse("registration:order_new", args=[encounter.pk]),
        ],
        "nurse": [reverse("mar:board"), reverse("mar:encounter", args=[encounter.pk])],
        "pharmacist": [
            reverse("pharmacy:orders"),
            reverse("pharmacy:order_review", args=[order.pk]),
        ],
    }
    page = browser_page
    wide: list[str] = []
    for role, paths in pages.items():
        factories.user_create(username=role, role=role)
        page.context.clear_cookies()
        sign_in_factory_user(page, live_server, role)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 1024})
            for path in paths:
                visit(page, live_server, path)
                assert page.get_by_text(name[:40], exact=False).count() >= 1, path
                overflow = page.evaluate(OVERFLOW)
                if overflow:
                    wide.append(f"{role} {path} at {width}: {overflow[0]} px wide")
    assert not wide, "\n".join(wide)
