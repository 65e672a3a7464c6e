"""An order entered in error is cancelled at the ordering desk or by pharmacy (QA: it stayed on the
chart until pharmacy returned it and the nurse documented it not given to clear DOC-6): with a
reason in words, who and when kept and audited; off the chart's orders, the pharmacist's queue and
the engine's record (no DOC-6); kept on the visit page struck through with the reason. Refused once
anything is charted on it or the visit is signed; nurses and coders are refused the action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Administration, Encounter, Order
from mar.pharmacy.services import order_verify
from mar.record import record_dict_from_encounter
from mar.registration.cancelling import order_cancel
from mar.services import charting, safety
from mar.services.charting import ChartError
from mar.summary import findings_of, summary_for
from tests import factories
from tests.mar.chart_helpers import running_visit

pytestmark = pytest.mark.django_db

WHY = "typed ondansetron for the wrong patient"


def _visit_with_a_wrong_order() -> tuple[Encounter, Order]:
    """A visit whose carboplatin ran and stopped, and an ondansetron order entered in error."""
    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=45))
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    return encounter, order


def _cancel_url(order: Order) -> str:
    return reverse("registration:order_cancel", args=[order.encounter_id, order.pk])


def _post_cancel(client: Client, order: Order, reason: str = WHY):
    return client.post(_cancel_url(order), {f"O{order.pk}-reason": reason})


def test_a_clerk_cancels_an_order_entered_in_error_with_who_when_and_why(
    client_as, clerk_user
) -> None:
    encounter, order = _visit_with_a_wrong_order()
    response = _post_cancel(client_as(roles.CLERK), order)
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.cancelled_by == clerk_user and order.cancelled_at is not None
    assert order.cancel_reason == WHY


def test_a_cancelled_order_leaves_the_record_so_doc6_no_longer_asks_for_it(clerk_user) -> None:
    encounter, order = _visit_with_a_wrong_order()
    assert [f.rule for f in findings_of(summary_for(encounter))].count("DOC-6") == 1
    order_cancel(order=order, reason=WHY, user=clerk_user)
    ids = [o["id"] for o in record_dict_from_encounter(encounter)["orders"]]
    assert f"O{order.pk}" not in ids and len(ids) == 1
    assert "DOC-6" not in {f.rule for f in findings_of(summary_for(encounter))}


def test_a_cancelled_order_leaves_the_chart_and_the_pharmacists_queue(
    client_as, clerk_user
) -> None:
    encounter, order = _visit_with_a_wrong_order()
    queue = reverse("pharmacy:orders")
    verify = reverse("pharmacy:order_verify", args=[order.pk])
    chart = reverse("mar:encounter", args=[encounter.pk])
    assert verify in client_as(roles.PHARMACIST).get(queue).content.decode()
    assert f'id="order-{order.pk}"' in client_as(roles.NURSE).get(chart).content.decode()
    order_cancel(order=order, reason=WHY, user=clerk_user)
    assert verify not in client_as(roles.PHARMACIST).get(queue).content.decode()
    html = client_as(roles.NURSE).get(chart).content.decode()
    assert f'id="order-{order.pk}"' not in html and "ondansetron" not in html


def test_the_visit_page_keeps_a_cancelled_order_struck_through_with_its_reason(
    client_as, clerk_user
) -> None:
    encounter, order = _visit_with_a_wrong_order()
    order_cancel(order=order, reason=WHY, user=clerk_user)
    html = client_as(roles.CLERK).get(reverse("registration:visit", args=[encounter.pk])).content
    page = html.decode()
    assert "<del>ondansetron</del>" in page
    assert "Cancelled — entered in error by clerk1" in page and WHY in page
    assert _cancel_url(order) not in page  # nothing more to cancel


def test_the_visit_page_offers_the_cancel_with_csrf_and_session_check(client_as) -> None:
    encounter, order = _visit_with_a_wrong_order()
    page = client_as(roles.CLERK).get(reverse("registration:visit", args=[encounter.pk]))
    html = page.content.decode()
    start = html.index(f'action="{_cancel_url(order)}"')
    form = html[html.rindex("<form", 0, start) : html.index("</form>", start)]
    assert "data-session-check" in form and "csrfmiddlewaretoken" in form
    # the given carboplatin is not offered
    given = Order.objects.exclude(pk=order.pk).get(encounter=encounter)
    assert _cancel_url(given) not in html


def test_a_cancel_is_refused_without_csrf(clerk_user) -> None:
    _encounter, order = _visit_with_a_wrong_order()
    client = Client(enforce_csrf_checks=True)
    client.force_login(clerk_user)
    assert _post_cancel(client, order).status_code == 403
    order.refresh_from_db()
    assert order.cancelled_at is None


@pytest.mark.parametrize("reason", ["", "  ", "x", "??", "1234"])
def test_a_cancel_needs_a_reason_in_words_said_beside_the_field_and_kept(client_as, reason) -> None:
    encounter, order = _visit_with_a_wrong_order()
    response = _post_cancel(client_as(roles.CLERK), order, reason)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="error_1_id_O{order.pk}-reason"' in html
    assert "<details open" in html
    order.refresh_from_db()
    assert order.cancelled_at is None


@pytest.mark.parametrize("role", [roles.PHARMACIST, roles.ADMIN])
def test_pharmacy_and_admins_may_cancel_an_order_entered_in_error(client_as, role) -> None:
    _encounter, order = _visit_with_a_wrong_order()
    assert _post_cancel(client_as(role), order).status_code == 302
    order.refresh_from_db()
    assert order.cancelled_at is not None


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER])
def test_nurses_and_coders_are_refused_the_cancel(client_as, role) -> None:
    encounter, order = _visit_with_a_wrong_order()
    assert _post_cancel(client_as(role), order).status_code == 403
    order.refresh_from_db()
    assert order.cancelled_at is None
    if role == roles.NURSE:  # she sees the visit, not the action: she documents not given
        html = client_as(role).get(reverse("registration:visit", args=[encounter.pk])).content
        assert _cancel_url(order).encode() not in html


def test_an_order_with_an_administration_charted_is_not_cancelled(clerk_user, client_as) -> None:
    encounter, _order = _visit_with_a_wrong_order()
    given = Order.objects.filter(encounter=encounter).order_by("pk").first()
    assert given is not None
    with pytest.raises(ValidationError, match="The nurse documents what happened"):
        order_cancel(order=given, reason=WHY, user=clerk_user)
    response = _post_cancel(client_as(roles.CLERK), given)
    assert response.status_code == 302
    given.refresh_from_db()
    assert given.cancelled_at is None


def test_an_order_documented_not_given_is_not_cancelled(clerk_user, nurse_user) -> None:
    _encounter, order = _visit_with_a_wrong_order()
    charting.order_disposition_set(
        order=order, disposition="not_given", reason="patient declined", user=nurse_user
    )
    with pytest.raises(ValidationError, match="accounted for on the chart"):
        order_cancel(order=order, reason=WHY, user=clerk_user)


def test_an_order_of_a_signed_visit_is_not_cancelled(clerk_user) -> None:
    encounter, order = _visit_with_a_wrong_order()
    Encounter.objects.filter(pk=encounter.pk).update(
        status=Encounter.Status.SIGNED, signed_at=timezone.now()
    )
    with pytest.raises(ValidationError, match="signed"):
        order_cancel(order=order, reason=WHY, user=clerk_user)


def test_a_cancelled_order_is_not_started_from_a_chart_drawn_before(clerk_user, nurse_user) -> None:
    _encounter, order = _visit_with_a_wrong_order()
    order_cancel(order=order, reason=WHY, user=clerk_user)
    with pytest.raises(ChartError) as refused:
        safety.administration_start_checked(
            order=order, site=None, start=timezone.now(), method="push", user=nurse_user,
            checks=safety.StartChecks(),
        )  # fmt: skip
    assert "Cancelled as entered in error" in refused.value.errors[None][0]
    assert not order.administrations.exists()


def test_a_cancelled_order_is_cancelled_once_and_not_verified(clerk_user, pharmacist_user) -> None:
    _encounter, order = _visit_with_a_wrong_order()
    order_cancel(order=order, reason=WHY, user=clerk_user)
    with pytest.raises(ValidationError, match="cancelled already"):
        order_cancel(order=order, reason=WHY, user=clerk_user)
    with pytest.raises(ValidationError, match="nothing to verify"):
        order_verify(order=order, user=pharmacist_user)


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_a_cancel_is_in_the_audit_trail_with_its_reason(clerk_user) -> None:
    _encounter, order = _visit_with_a_wrong_order()
    order_cancel(order=order, reason=WHY, user=clerk_user)
    events = EVENTS[Order].objects.filter(pgh_obj_id=order.pk).order_by("pgh_id")
    last = events.last()
    assert last is not None and last.cancel_reason == WHY
    assert last.pgh_context is not None
    assert last.pgh_context.metadata["action"] == "order_cancel"


def test_the_worklists_count_of_orders_to_verify_leaves_out_a_cancelled_order(
    client_as, clerk_user
) -> None:
    _encounter, order = _visit_with_a_wrong_order()
    worklist = reverse("pharmacy:worklist")
    assert client_as(roles.PHARMACIST).get(worklist).context["unverified_count"] == 2
    order_cancel(order=order, reason=WHY, user=clerk_user)
    assert client_as(roles.PHARMACIST).get(worklist).context["unverified_count"] == 1
