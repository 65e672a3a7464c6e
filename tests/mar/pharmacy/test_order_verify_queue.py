"""A verified order leaves the queue (QA: after Verify by htmx the row stayed in "Orders to
verify" with a green Verified badge and was also added to "Recently verified", the two rows
sharing one id, `order-15`). The htmx answer puts a short confirmation line in the row's place
and "Recently verified" out of band, where the order is listed once; no id is on the page
twice, whichever section the order was verified from (to verify, returned, signed before
verification), and a verification another pharmacist made meanwhile is said, not hidden."""

import re
from collections import Counter

import pytest
from django.urls import reverse

from mar import roles
from mar.models import Order
from mar.pharmacy.services import order_return, order_verify
from tests import factories
from tests.mar.pharmacy.queue_helpers import section, sign

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def order() -> Order:
    return factories.ondansetron_order()


def verify_url(order: Order) -> str:
    return reverse("pharmacy:order_verify", args=[order.pk])


def ids_twice(html: str) -> list[str]:
    return [i for i, n in Counter(re.findall(r'\bid="([^"]+)"', html)).items() if n > 1]


def rows_of(html: str, order: Order) -> int:
    return html.count(f'<tr id="order-{order.pk}"')


def test_a_verify_by_htmx_answers_a_confirmation_line_in_the_rows_place(order, client_as) -> None:
    client = client_as(roles.PHARMACIST)
    answer = client.post(verify_url(order), **HTMX).content.decode()
    # What takes the row's place (before the out-of-band parts): the confirmation line.
    main = answer.split("<template>", 1)[0]
    assert f'<tr id="order-{order.pk}-verified" data-testid="order-verify-done"' in main
    assert "✓ Verified:</span> ondansetron for " in main and "Recently verified" in main
    assert 'data-testid="order-verify"' not in main  # no Verify button left in the queue
    assert rows_of(main, order) == 0  # not the order's row: it is listed under Recently verified
    recent = section(answer, "recently-verified")
    assert rows_of(recent, order) == 1 and 'data-testid="order-verified"' in recent
    assert rows_of(answer, order) == 1
    assert re.search(r'id="to-verify-count"[^>]*hx-swap-oob="true">0<', answer)
    assert ids_twice(answer) == []
    page = client.get(reverse("pharmacy:orders")).content.decode()  # and drawn anew
    assert rows_of(page, order) == 1
    assert rows_of(section(page, "recently-verified"), order) == 1
    assert rows_of(section(page, "to-verify-orders"), order) == 0
    assert ids_twice(page) == []


def test_a_returned_order_verified_by_htmx_is_listed_once(
    order, client_as, pharmacist_user
) -> None:
    order_return(order=order, reason="Dose over the maximum", user=pharmacist_user)
    client = client_as(roles.PHARMACIST)
    answer = client.post(verify_url(order), **HTMX).content.decode()
    main = answer.split("<template>", 1)[0]
    assert 'data-testid="order-verify-done"' in main and rows_of(main, order) == 0
    assert re.search(r'id="returned-count"[^>]*hx-swap-oob="true">0<', answer)
    assert rows_of(answer, order) == 1 and ids_twice(answer) == []


def test_an_order_signed_before_verification_verified_by_htmx_is_listed_once(
    order, client_as
) -> None:
    factories.administration_create(
        order.encounter, order, site=None, start=order.encounter.arrived_at, stop=None
    )
    sign(order)
    client = client_as(roles.PHARMACIST)
    before = client.get(reverse("pharmacy:orders")).content.decode()
    assert rows_of(section(before, "signed-unverified"), order) == 1
    answer = client.post(verify_url(order), **HTMX).content.decode()
    assert 'data-testid="order-verify-done"' in answer.split("<template>", 1)[0]
    assert rows_of(answer, order) == 1 and ids_twice(answer) == []


def test_an_order_another_pharmacist_verified_meanwhile_is_said_not_listed_twice(
    order, client_as, admin_role_user
) -> None:
    """A page from before (two pharmacists on the queue): the answer says who verified it."""
    order_verify(order=order, user=admin_role_user)
    answer = client_as(roles.PHARMACIST).post(verify_url(order), **HTMX).content.decode()
    main = answer.split("<template>", 1)[0]
    assert 'data-testid="order-verify-done"' in main
    assert f"Already verified by {admin_role_user.get_username()}" in main
    assert rows_of(answer, order) == 1 and ids_twice(answer) == []


def test_the_verify_button_swaps_its_own_row(order, client_as) -> None:
    """The form targets the row it is in, not the first element with the order's id."""
    page = client_as(roles.PHARMACIST).get(reverse("pharmacy:orders")).content.decode()
    form = page[page.index(f'hx-post="{verify_url(order)}"') :].split(">", 1)[0]
    assert 'hx-target="closest tr"' in form


def test_an_untagged_drugs_order_is_verified_with_an_amber_note_that_its_charge_waits_on_the_tag(
    order, client_as
) -> None:
    """QA: an order for a drug with no class tag was verified with no word. It is still
    verified (no block), with an amber note beside Verify and in the line after it: its charge
    waits on the tag (DOC-4), and a link to the drug's tagging page."""
    from mar.models import Drug, DrugClass

    Drug.objects.filter(pk=order.drug_id).update(drug_class=None)
    client = client_as(roles.PHARMACIST)
    note = "ondansetron has no class tag yet: its charge waits on it (DOC-4)."
    tag_url = reverse("pharmacy:drug_class", args=[order.drug_id])
    page = client.get(reverse("pharmacy:orders")).content.decode()
    row = section(page, "to-verify-orders")
    assert note in row and 'data-testid="order-untagged"' in row and "text-warning" in row
    assert f'<a href="{tag_url}" data-testid="order-untagged-tag">Tag it</a>' in row
    answer = client.post(verify_url(order), **HTMX).content.decode()
    order.refresh_from_db()
    assert order.verified_at is not None  # a note, not a block
    assert note in answer.split("<template>", 1)[0]

    # Tagged (or the order's class overridden), nothing is said.
    other = factories.ondansetron_order()
    Drug.objects.filter(pk=other.drug_id).update(drug_class=DrugClass.THERAPEUTIC)
    page = client.get(reverse("pharmacy:orders")).content.decode()
    assert 'data-testid="order-untagged"' not in page
