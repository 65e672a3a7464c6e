"""The addendum's message says what happens to the charges (QA: an answer to the coder's query in
words said "Addendum saved. Charges are being regenerated." and no run came).

- An addendum in words only changes nothing the charges are made from: no run is owed
  (`signature.addendum_store(record_changed=False)`, no outbox row), and it says "Charges
  unchanged", with "the coder is told" when it answers a query.
- One that charts a flush owes a run, and says "Charges are being regenerated.".
"""

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse

from coding.models import ChargeOutbox, ChargeRun, ReviewItem
from coding.review import query_send, review_claim
from coding.services import charge_run_generate
from mar import roles
from tests.coding.review_helpers import hydration_and_ondansetron

pytestmark = pytest.mark.django_db


def _queried(coder):
    encounter = hydration_and_ondansetron(hydration_ordered=False)
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    item = review_claim(user=coder, item_id=ReviewItem.objects.get(encounter=encounter).pk)
    query = query_send(
        item=item,
        user=coder,
        finding=run.findings.get(rule="RAC-1"),
        question="Is there an order for hydration?",
    )
    return encounter, query


def _addendum(client, encounter, **fields) -> str:
    data = {"addendum-what": "ordered by phone, read back", "addendum-why": "coding query"}
    data.update(fields)
    response = client.post(reverse("mar:addendum_add", args=[encounter.pk]), data, follow=True)
    return unescape(response.content.decode())


def test_an_answer_in_words_says_the_coder_is_told_and_the_charges_unchanged(
    client_as, coder_user
) -> None:
    encounter, query = _queried(coder_user)
    runs = ChargeRun.objects.filter(encounter=encounter).count()
    outbox = ChargeOutbox.objects.filter(encounter=encounter).count()
    html = _addendum(client_as(roles.NURSE), encounter, **{"addendum-answers": [str(query.pk)]})
    assert "Addendum saved; the coder is told. Charges unchanged." in html
    assert "Charges are being regenerated" not in html
    query.refresh_from_db()
    assert query.answered_at is not None  # the coder is told: the query answered in her words
    assert ChargeOutbox.objects.filter(encounter=encounter).count() == outbox  # no run owed
    assert ChargeRun.objects.filter(encounter=encounter).count() == runs


def test_an_addendum_in_words_answering_nothing_says_the_charges_unchanged(
    client_as, coder_user
) -> None:
    encounter, _query = _queried(coder_user)
    outbox = ChargeOutbox.objects.filter(encounter=encounter).count()
    html = _addendum(client_as(roles.NURSE), encounter)
    assert "Addendum saved. Charges unchanged." in html
    assert ChargeOutbox.objects.filter(encounter=encounter).count() == outbox


def test_an_addendum_charting_a_flush_says_the_charges_are_being_regenerated(
    client_as, coder_user
) -> None:
    encounter, _query = _queried(coder_user)
    site = encounter.sites.first()
    flush_at = (site.placed_at + timedelta(minutes=1)).astimezone(encounter.zone)
    outbox = ChargeOutbox.objects.filter(encounter=encounter).count()
    html = _addendum(
        client_as(roles.NURSE),
        encounter,
        **{
            "addendum-what": "flush given, not charted",
            "addendum-flush_site": site.pk,
            "addendum-flush_at": flush_at.strftime("%Y-%m-%d %H:%M"),
        },
    )
    assert "Addendum saved. Charges are being regenerated." in html
    assert ChargeOutbox.objects.filter(encounter=encounter).count() == outbox + 1
