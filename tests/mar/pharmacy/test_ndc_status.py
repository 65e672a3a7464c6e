"""Retiring, reactivating and preferring a drug's NDC (mar.pharmacy.services.drug_ndc_retire,
drug_ndc_reactivate, drug_ndc_prefer) and the drug page's buttons for them."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Drug, DrugNdc
from mar.pharmacy.services import (
    drug_ndc_add,
    drug_ndc_prefer,
    drug_ndc_reactivate,
    drug_ndc_retire,
)
from tests import factories

pytestmark = pytest.mark.django_db

DrugNdcEvent = EVENTS[DrugNdc]


@pytest.fixture
def drug() -> Drug:
    return factories.drug_get("mesna", "therapeutic")


@pytest.fixture
def vial(drug) -> DrugNdc:
    return DrugNdc.objects.create(
        drug=drug, ndc="00409488802", package_description="10 mL vial", preferred=True
    )


@pytest.fixture
def bag(drug) -> DrugNdc:
    return DrugNdc.objects.create(drug=drug, ndc="00409488810", package_description="100 mL bag")


def fresh(ndc: DrugNdc) -> DrugNdc:
    return DrugNdc.objects.get(pk=ndc.pk)


# --- the services ---------------------------------------------------------------------------


def test_retiring_records_who_when_and_why_and_keeps_the_row(vial, bag, pharmacist_user) -> None:
    drug_ndc_retire(ndc=bag, reason="  No longer stocked ", user=pharmacist_user)
    bag = fresh(bag)
    assert (bag.active, bag.retired_by, bag.retired_reason) == (
        False,
        pharmacist_user,
        "No longer stocked",
    )
    assert bag.retired_at is not None
    assert DrugNdc.objects.filter(pk=bag.pk).exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_retiring_needs_a_reason_and_changes_nothing_without_one(
    bag, pharmacist_user, reason
) -> None:
    with pytest.raises(ValidationError) as refused:
        drug_ndc_retire(ndc=bag, reason=reason, user=pharmacist_user)
    assert "Say why" in refused.value.message_dict["reason"][0]
    assert fresh(bag).active


def test_a_retired_preferred_ndc_stops_being_preferred_and_none_is_chosen_in_its_place(
    vial, bag, pharmacist_user
) -> None:
    drug_ndc_retire(ndc=vial, reason="Recalled", user=pharmacist_user)
    assert not fresh(vial).preferred
    # No other package is made preferred behind the pharmacist's back.
    assert not fresh(bag).preferred
    assert not DrugNdc.objects.filter(drug=vial.drug, preferred=True).exists()


def test_retiring_a_retired_ndc_is_refused(bag, pharmacist_user) -> None:
    drug_ndc_retire(ndc=bag, reason="No longer stocked", user=pharmacist_user)
    with pytest.raises(ValidationError, match="already retired"):
        drug_ndc_retire(ndc=bag, reason="again", user=pharmacist_user)
    assert fresh(bag).retired_reason == "No longer stocked"


def test_reactivating_clears_the_retirement_and_does_not_make_it_preferred(
    vial, pharmacist_user
) -> None:
    drug_ndc_retire(ndc=vial, reason="Shortage", user=pharmacist_user)
    drug_ndc_reactivate(ndc=vial, user=pharmacist_user)
    vial = fresh(vial)
    assert vial.active and not vial.preferred
    assert (vial.retired_at, vial.retired_by, vial.retired_reason) == (None, None, "")


def test_reactivating_an_active_ndc_is_refused(bag, pharmacist_user) -> None:
    with pytest.raises(ValidationError, match="is not retired"):
        drug_ndc_reactivate(ndc=bag, user=pharmacist_user)


def test_making_an_ndc_preferred_takes_the_place_of_the_previous_one(
    vial, bag, pharmacist_user
) -> None:
    drug_ndc_prefer(ndc=bag, user=pharmacist_user)
    assert fresh(bag).preferred and not fresh(vial).preferred
    with pytest.raises(ValidationError, match="already the preferred"):
        drug_ndc_prefer(ndc=bag, user=pharmacist_user)


def test_a_retired_ndc_cannot_be_made_preferred(vial, bag, pharmacist_user) -> None:
    drug_ndc_retire(ndc=bag, reason="No longer stocked", user=pharmacist_user)
    with pytest.raises(ValidationError, match="retired: reactivate it"):
        drug_ndc_prefer(ndc=bag, user=pharmacist_user)
    assert fresh(vial).preferred and not fresh(bag).preferred


def test_the_database_refuses_a_retired_preferred_ndc(drug) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        DrugNdc.objects.create(drug=drug, ndc="00409488802", preferred=True, active=False)


def test_adding_an_ndc_listed_and_retired_says_to_reactivate_it(bag, pharmacist_user) -> None:
    drug_ndc_retire(ndc=bag, reason="No longer stocked", user=pharmacist_user)
    with pytest.raises(ValidationError) as refused:
        drug_ndc_add(drug=bag.drug, ndc="00409-4888-10")
    assert "retired: reactivate it" in refused.value.message_dict["ndc"][0]


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_each_change_is_in_the_audit_trail_with_who_the_action_and_the_reason(
    vial, bag, pharmacist_user
) -> None:
    drug_ndc_retire(ndc=bag, reason="Recalled lot range", user=pharmacist_user)
    drug_ndc_reactivate(ndc=bag, user=pharmacist_user)
    drug_ndc_prefer(ndc=bag, user=pharmacist_user)
    updates = DrugNdcEvent.objects.filter(pgh_obj_id=bag.pk, pgh_label="update").order_by("pgh_id")
    by_action = {e.pgh_context.metadata["action"]: e for e in updates}
    assert set(by_action) == {"drug_ndc_retire", "drug_ndc_reactivate", "drug_ndc_prefer"}
    retired = by_action["drug_ndc_retire"]
    assert (retired.active, retired.retired_reason) == (False, "Recalled lot range")
    assert retired.pgh_context.metadata["reason"] == "Recalled lot range"
    assert by_action["drug_ndc_reactivate"].pgh_context.metadata["retired_reason"] == (
        "Recalled lot range"
    )
    assert all(e.pgh_context.metadata["user"] == pharmacist_user.pk for e in updates)
    # The previous preferred one's change is recorded too, under the same action.
    vial_update = DrugNdcEvent.objects.get(pgh_obj_id=vial.pk, pgh_label="update")
    assert (vial_update.preferred, vial_update.pgh_context.metadata["action"]) == (
        False,
        "drug_ndc_prefer",
    )


# --- the drug's page ------------------------------------------------------------------------


def test_the_pharmacist_sees_retire_and_make_preferred_on_each_active_ndc(
    client_as, vial, bag
) -> None:
    page = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug", args=[vial.drug_id]))
    html = page.content.decode()
    assert html.count('data-testid="ndc-retire-form"') == 2
    assert html.count('data-testid="ndc-prefer"') == 1  # the bag; the vial is preferred
    assert reverse("pharmacy:drug_ndc_prefer", args=[bag.pk]) in html
    assert 'data-testid="ndc-reactivate"' not in html


def test_a_pharmacist_retires_an_ndc_with_a_reason_from_the_drugs_page(
    client_as, vial, bag, pharmacist_user
) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(
        reverse("pharmacy:drug_ndc_retire", args=[bag.pk]), {f"r{bag.pk}-reason": "Not stocked"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('pharmacy:drug', args=[bag.drug_id])}#ndcs"
    assert fresh(bag).retired_by == pharmacist_user
    page = client.get(response["Location"]).content.decode()
    assert "NDC 00409-4888-10 retired" in page
    row = page[page.index(f'id="ndc-{bag.pk}"') :].split("</tr>")[0]
    assert "retired" in row and "Not stocked" in row and pharmacist_user.username in row
    assert 'data-testid="ndc-reactivate"' in row and 'data-testid="ndc-retire-form"' not in row


def test_retiring_the_preferred_ndc_says_which_one_drug_lines_carry_now(
    client_as, vial, bag
) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(
        reverse("pharmacy:drug_ndc_retire", args=[vial.pk]),
        {f"r{vial.pk}-reason": "Recalled"},
        follow=True,
    )
    assert "It was the preferred NDC: drug lines with no NDC scanned now carry 00409-4888-10" in (
        response.content.decode()
    )


def test_retiring_without_a_reason_says_so_beside_the_field_of_that_row(
    client_as, vial, bag
) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_ndc_retire", args=[bag.pk]), {f"r{bag.pk}-reason": "  "}
    )
    assert response.status_code == 400
    html = response.content.decode()
    row = html[html.index(f'id="ndc-{bag.pk}"') :].split("</tr>")[0]
    assert '<details class="ndc-retire" open>' in row  # the form shown open, with its error
    assert "Say why it is retired (no longer stocked, recalled): the reason is kept." in row
    assert fresh(bag).active


def test_a_reason_too_long_is_refused_with_what_was_typed_kept(client_as, bag) -> None:
    typed = "x" * 2001
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_ndc_retire", args=[bag.pk]), {f"r{bag.pk}-reason": typed}
    )
    assert response.status_code == 400
    assert f'value="{typed}"' in response.content.decode()
    assert fresh(bag).active


def test_a_pharmacist_reactivates_and_makes_preferred_from_the_drugs_page(
    client_as, vial, bag, pharmacist_user
) -> None:
    drug_ndc_retire(ndc=bag, reason="Shortage", user=pharmacist_user)
    client = client_as(roles.PHARMACIST)
    page = client.post(reverse("pharmacy:drug_ndc_reactivate", args=[bag.pk]), follow=True)
    assert "NDC 00409-4888-10 is active again" in page.content.decode()
    page = client.post(reverse("pharmacy:drug_ndc_prefer", args=[bag.pk]), follow=True)
    assert "NDC 00409-4888-10 is now preferred" in page.content.decode()
    assert fresh(bag).preferred and not fresh(vial).preferred


def test_making_a_retired_ndc_preferred_from_a_stale_page_is_said_not_done(
    client_as, vial, bag, pharmacist_user
) -> None:
    drug_ndc_retire(ndc=bag, reason="Shortage", user=pharmacist_user)
    page = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_ndc_prefer", args=[bag.pk]), follow=True
    )
    assert "is retired: reactivate it before making it preferred" in page.content.decode()
    assert fresh(vial).preferred


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER])
def test_nurses_and_coders_see_the_ndcs_status_without_the_buttons(
    client_as, vial, bag, pharmacist_user, role
) -> None:
    drug_ndc_retire(ndc=bag, reason="Shortage", user=pharmacist_user)
    html = client_as(role).get(reverse("pharmacy:drug", args=[vial.drug_id])).content.decode()
    assert "retired" in html and "Shortage" in html
    for testid in ("ndc-retire-form", "ndc-prefer", "ndc-reactivate"):
        assert f'data-testid="{testid}"' not in html


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_nurses_coders_and_clerks_cannot_retire_reactivate_or_prefer(
    client_as, vial, bag, pharmacist_user, role
) -> None:
    retired = DrugNdc.objects.create(drug=vial.drug, ndc="00409488811", active=False)
    client = client_as(role)
    assert (
        client.post(
            reverse("pharmacy:drug_ndc_retire", args=[bag.pk]),
            {f"r{bag.pk}-reason": "no longer stocked"},
        ).status_code
        == 403
    )
    assert client.post(reverse("pharmacy:drug_ndc_prefer", args=[bag.pk])).status_code == 403
    assert (
        client.post(reverse("pharmacy:drug_ndc_reactivate", args=[retired.pk])).status_code == 403
    )
    assert fresh(bag).active and not fresh(bag).preferred and fresh(vial).preferred
    assert not fresh(retired).active


@pytest.mark.parametrize("name", ["drug_ndc_retire", "drug_ndc_reactivate", "drug_ndc_prefer"])
def test_the_ndc_actions_take_only_posts(client_as, bag, name) -> None:
    response = client_as(roles.PHARMACIST).get(reverse(f"pharmacy:{name}", args=[bag.pk]))
    assert response.status_code == 405


@pytest.mark.parametrize("name", ["drug_ndc_retire", "drug_ndc_reactivate", "drug_ndc_prefer"])
def test_the_ndc_actions_need_the_csrf_token(pharmacist_user, bag, name) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacist_user)
    response = client.post(
        reverse(f"pharmacy:{name}", args=[bag.pk]), {f"r{bag.pk}-reason": "no longer stocked"}
    )
    assert response.status_code == 403
    assert fresh(bag).active and not fresh(bag).preferred


def test_with_none_preferred_the_drugs_page_says_which_ndc_drug_lines_carry(
    client_as, vial, bag, pharmacist_user
) -> None:
    """After the preferred package is retired the retire message says which NDC drug lines carry
    now; the page goes on saying so (its lead says 'else the preferred one') until one is made
    preferred."""
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:drug", args=[vial.drug_id])
    assert 'data-testid="ndc-none-preferred"' not in client.get(url).content.decode()
    drug_ndc_retire(ndc=vial, reason="Recalled", user=pharmacist_user)
    page = client.get(url).content.decode()
    assert (
        "No package is preferred: drug lines with no NDC scanned carry 00409-4888-10 "
        "(the first active one)" in page
    )
    drug_ndc_prefer(ndc=fresh(bag), user=pharmacist_user)
    assert 'data-testid="ndc-none-preferred"' not in client.get(url).content.decode()


def test_with_every_ndc_retired_the_drugs_page_names_none_as_carried(
    client_as, vial, pharmacist_user
) -> None:
    drug_ndc_retire(ndc=vial, reason="Recalled", user=pharmacist_user)
    page = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug", args=[vial.drug_id]))
    assert 'data-testid="ndc-none-preferred"' not in page.content.decode()


def test_an_ndcs_reactivate_is_styled_as_an_action_to_take_not_as_a_disabled_grey_one(
    client_as, vial, bag, pharmacist_user
) -> None:
    """As the drug's Reactivate (QA walkthrough): not the grey of a disabled control."""
    drug_ndc_retire(ndc=bag, reason="No longer stocked", user=pharmacist_user)
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug", args=[bag.drug_id]))
    found = re.search(
        r'<button[^>]*class="([^"]*)"[^>]*data-testid="ndc-reactivate"', html.content.decode()
    )
    assert found
    classes = found.group(1).split()
    assert "btn-outline-success" in classes
    assert not {"btn-secondary", "btn-outline-secondary", "disabled"} & set(classes)
