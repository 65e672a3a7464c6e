"""A world to look at for the readability tests (test_readable_*.py), and what they measure.

`readable_world()` loads the demo day (`manage.py demo`: the formulary, a user per role, today's
encounters, five of them signed and coded), verifies one order so the pharmacy's "Recently
verified" table is drawn, and adds one encounter in progress whose administration cards carry a
checklist item of every severity: an error (RAC-7, a stop missing), a warning (DOC-1, an order
without a dose) and an info (DOC-2, a stop exactly the ordered duration after the start).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.demo import DEMO_USERS
from mar.models import Administration, DrugClass, Encounter, Order
from mar.pharmacy.services import order_verify
from tests import factories

PASSWORDS = {spec.username: spec.password for spec in DEMO_USERS}

# Every element a finger can use: links, buttons, fields, the summaries that fold sections.
INTERACTIVE = (
    "a[href], button, input:not([type=hidden]):not([type=checkbox]):not([type=radio]),"
    " select, textarea, summary, [tabindex]:not([tabindex='-1'])"
)


@dataclass
class ReadableWorld:
    severities: Encounter  # in progress, one finding of each severity on its cards
    signed: list[Encounter]


def readable_world() -> ReadableWorld:
    for role in roles.ROLES:  # a transactional test's flush removes the groups the migration made
        Group.objects.get_or_create(name=role)
    call_command("demo", stdout=io.StringIO())
    pharmacist = User.objects.get(username="pharmacist")
    order = Order.objects.filter(verified_at__isnull=True).order_by("pk").first()
    assert order is not None
    order_verify(order=order, user=pharmacist)

    now = timezone.now()
    encounter = factories.encounter_create(
        arrived_at=now - timedelta(hours=2), location_label="12", unit="Infusion Center"
    )
    site = factories.site_create(encounter, placed_at=now - timedelta(hours=2))
    chemo = factories.order_create(
        encounter, factories.drug_get("paclitaxel", DrugClass.CHEMO), dose="175 mg/m2"
    )
    antibiotic = factories.order_create(
        encounter, factories.drug_get("vancomycin"), dose="1 g", duration_minutes=60
    )
    antiemetic = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="")
    start = now - timedelta(minutes=100)
    factories.administration_create(  # DOC-2, info: the stop is exactly the ordered 60 min
        encounter, antibiotic, site=site, start=start, stop=start + timedelta(minutes=60)
    )
    factories.administration_create(  # DOC-1, warning: its order has no dose
        encounter, antiemetic, site=site, start=start + timedelta(minutes=65),
        stop=start + timedelta(minutes=66), method=Administration.Method.PUSH,
    )  # fmt: skip
    factories.administration_create(  # running with no stop yet (a state, not a card error)
        encounter, chemo, site=site, start=start + timedelta(minutes=70), stop=None
    )
    fluid = factories.order_create(
        encounter, factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION), dose="250 mL"
    )
    factories.administration_create(  # RAC-2, error: a fluid without its purpose
        encounter, fluid, site=site, start=start + timedelta(minutes=61),
        stop=start + timedelta(minutes=64),
    )  # fmt: skip
    signed = list(Encounter.objects.filter(status=Encounter.Status.SIGNED).order_by("pk"))
    assert len(signed) >= 3
    return ReadableWorld(severities=encounter, signed=signed)


def main_pages(world: ReadableWorld) -> dict[str, list[str]]:
    """The pages each role works on, by the role's demo username."""
    charts = [reverse("mar:encounter", args=[e.pk]) for e in Encounter.objects.order_by("pk")]
    reviews = [reverse("coding:encounter_charges", args=[e.pk]) for e in world.signed]
    drug = Order.objects.order_by("pk").first()
    assert drug is not None
    return {
        "nurse": [reverse("mar:board"), *charts],
        "pharmacist": [
            reverse("pharmacy:worklist"),
            reverse("pharmacy:formulary"),
            reverse("pharmacy:orders"),
            reverse("pharmacy:drug", args=[drug.drug_id]),
            reverse("pharmacy:scan_compliance"),
        ],
        "coder": [
            reverse("coding:worklist"),
            *reviews,
            reverse("coding:report_findings"),
            reverse("coding:report_reconciliation"),
            reverse("coding:exports"),
        ],
    }


def sign_in(page, live_server, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=nav-user]")


def visit(page, live_server, path: str) -> None:
    response = page.goto(f"{live_server.url}{path}")
    assert response is not None and response.status == 200, path
    page.wait_for_load_state("networkidle")


def open_every_fold(page) -> None:
    """Open the <details> sections, so what they hold is measured too."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
