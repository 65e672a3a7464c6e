"""A new charge run never takes an encounter from the coder reviewing it (coding/review.py
`review_item_sync`).

QA: the pharmacist gave paclitaxel its HCPCS code while a coder had the encounter in review;
the engine ran again and the item went back to New, unclaimed, so another coder could take it
in the middle of her review. Now an item a coder holds stays hers, in review, marked changed
under her (the review page says what changed since the charges she claimed, and when); an
item nobody holds goes back to New as before.
"""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from coding.models import ChargeRun, ReviewItem
from coding.review import changed_in_review, review_accept, review_claim
from coding.services import charge_run_generate
from mar.models import Drug
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db


def pharmacist_codes_paclitaxel(encounter) -> ChargeRun:
    """The pharmacist gives paclitaxel its HCPCS code: the record reads it, the engine runs
    again (a billing change, no addendum)."""
    Drug.objects.filter(name="paclitaxel").update(
        hcpcs_code="J9267", billing_unit_amount=Decimal(1), billing_unit="mg"
    )
    run, created = charge_run_generate(
        encounter_id=encounter.pk, trigger=ChargeRun.Trigger.BILLING_CHANGE
    )
    assert created
    return run


def test_a_rerun_leaves_a_claimed_item_in_review_with_its_coder(coder_user) -> None:
    encounter, first, item = reviewed()
    claimed = review_claim(user=coder_user, item_id=item.pk)
    new_run = pharmacist_codes_paclitaxel(encounter)

    item = ReviewItem.objects.get(pk=item.pk)
    assert item.run_id == new_run.pk != first.pk
    assert (item.state, item.claimed_by, item.claimed_at) == (
        ReviewItem.State.IN_REVIEW, coder_user, claimed.claimed_at,
    )  # fmt: skip
    assert changed_in_review(item, new_run)
    # Nobody else takes it: not by name, not as the next one.
    other = factories.user_create(username="coder2", role="coder")
    assert review_claim(user=other, item_id=item.pk) is None
    assert review_claim(user=other) is None
    # Hers to finish: she accepts the new charges.
    assert review_accept(item=item, user=coder_user).state == ReviewItem.State.ACCEPTED


def test_a_rerun_puts_an_item_nobody_holds_back_to_new(coder_user) -> None:
    """New stays New; accepted charges come back to the coders, unclaimed, as before."""
    waiting_encounter, _, waiting = reviewed()
    accepted_encounter, _, accepted = reviewed()
    review_claim(user=coder_user, item_id=accepted.pk)
    review_accept(item=accepted, user=coder_user)
    for encounter in (waiting_encounter, accepted_encounter):
        pharmacist_codes_paclitaxel(encounter)
    for item in (waiting, accepted):
        item.refresh_from_db()
        assert (item.state, item.claimed_by) == (ReviewItem.State.NEW, None)
        # who accepted stays with the run she accepted (the review page names her)
        assert item.accepted_by == (coder_user if item is accepted else None)
        assert not changed_in_review(item, item.run)
    assert Drug.objects.get(name="paclitaxel").hcpcs_code == "J9267"


def test_the_review_page_says_the_charges_changed_under_the_coder_and_when(
    client_as, coder_user
) -> None:
    encounter, _, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    new_run = pharmacist_codes_paclitaxel(encounter)
    url = reverse("coding:encounter_charges", args=[encounter.pk])

    page = client_as("coder").get(url).content.decode()
    banner = page[page.index('data-testid="changed-in-review"') :]
    banner = re.sub(r"<[^>]+>", "", banner[: banner.index("</p>")])
    assert "Changed while in review with you" in banner
    assert "run 2, drug billing data changed" in banner, banner
    assert "The charges stay yours, in review" in banner
    assert "since run 1, the charges when claimed" in banner
    since = page[page.index('data-testid="changes-since"') :]
    assert "the charges when you claimed them" in re.sub(
        r"<[^>]+>", "", since[: since.index("</p>")]
    )
    # The new drug line is marked new since the charges she claimed.
    assert "new since run 1" in page
    assert 'data-testid="claim"' not in page  # nothing to claim: it is hers

    other = factories.user_create(username="coder2", role="coder")
    client = client_as("coder")
    client.force_login(other)
    seen = client.get(url).content.decode()
    assert "Changed while in review with coder1" in re.sub(r"<[^>]+>", "", seen)
    assert 'data-testid="claim"' not in seen
    assert ReviewItem.objects.get(pk=item.pk).run_id == new_run.pk


def test_the_review_page_says_nothing_changed_under_a_claim_made_after_the_run(
    client_as, coder_user
) -> None:
    encounter, _, item = reviewed()
    pharmacist_codes_paclitaxel(encounter)
    review_claim(user=coder_user, item_id=item.pk)
    page = client_as("coder").get(reverse("coding:encounter_charges", args=[encounter.pk]))
    assert 'data-testid="changed-in-review"' not in page.content.decode()
