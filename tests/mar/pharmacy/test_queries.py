"""The pharmacist's pages read a fixed number of queries however long their lists grow."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mar import roles
from mar.pharmacy.services import drug_class_change, order_verify
from tests import factories

pytestmark = pytest.mark.django_db


def add_items(n: int, pharmacist) -> None:
    """n untagged drugs with orders, n tagged drugs with a class change, n verified and n
    unverified orders."""
    for i in range(n):
        untagged = factories.drug_get(f"untagged {n}-{i}", None)
        tagged = factories.drug_get(f"tagged {n}-{i}", "therapeutic")
        drug_class_change(drug=tagged, to_class="chemo", reason="r", user=pharmacist)
        encounter = factories.encounter_create()
        factories.order_create(encounter, untagged)
        order_verify(order=factories.order_create(encounter, tagged), user=pharmacist)


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", ["pharmacy:worklist", "pharmacy:formulary", "pharmacy:orders"])
def test_the_page_has_a_fixed_number_of_queries(client_as, pharmacist_user, name: str) -> None:
    client = client_as(roles.PHARMACIST)
    add_items(1, pharmacist_user)
    client.get(reverse(name))  # the session's first push of its idle expiry (config/session.py)
    few = queries(client, reverse(name))
    add_items(6, pharmacist_user)
    assert queries(client, reverse(name)) == few
