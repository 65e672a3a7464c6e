"""Retiring a drug from the formulary and bringing it back (mar.pharmacy.services.drug_retire,
drug_reactivate), the drug page's form and banner, the formulary's badge, and what a retirement
leaves alone (the CSV import does not bring a retired drug back)."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Drug
from mar.pharmacy.retired import DrugRetired
from mar.pharmacy.services import (
    drug_for_name,
    drug_reactivate,
    drug_retire,
    formulary_import,
)
from tests import factories

pytestmark = pytest.mark.django_db

DrugEvent = EVENTS[Drug]
REASON = "No longer stocked: replaced by granisetron"


@pytest.fixture
def drug() -> Drug:
    return factories.drug_get("ondansetron", "therapeutic")


def fresh(drug: Drug) -> Drug:
    return Drug.objects.get(pk=drug.pk)


# --- the services ---------------------------------------------------------------------------


def test_retiring_records_who_when_and_why_and_keeps_the_drug(drug, pharmacist_user) -> None:
    drug_retire(drug=drug, reason=f"  {REASON} ", user=pharmacist_user)
    drug = fresh(drug)
    assert (drug.active, drug.retired_by, drug.retired_reason) == (False, pharmacist_user, REASON)
    assert drug.retired_at is not None


def test_a_new_drug_is_active() -> None:
    assert Drug.objects.create(name="granisetron").active


@pytest.mark.parametrize("reason", ["", "   "])
def test_retiring_needs_a_reason_and_changes_nothing_without_one(
    drug, pharmacist_user, reason
) -> None:
    with pytest.raises(ValidationError) as refused:
        drug_retire(drug=drug, reason=reason, user=pharmacist_user)
    assert "Say why" in refused.value.message_dict["reason"][0]
    assert fresh(drug).active


def test_a_reason_too_long_is_refused(drug, pharmacist_user) -> None:
    with pytest.raises(ValidationError) as refused:
        drug_retire(drug=drug, reason="x" * 2001, user=pharmacist_user)
    assert "At most 2000 characters" in refused.value.message_dict["reason"][0]
    assert fresh(drug).active


def test_retiring_a_retired_drug_is_refused(drug, pharmacist_user) -> None:
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    with pytest.raises(ValidationError, match="ondansetron is already retired"):
        drug_retire(drug=drug, reason="again", user=pharmacist_user)
    assert fresh(drug).retired_reason == REASON


def test_reactivating_clears_the_retirement(drug, pharmacist_user) -> None:
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    drug_reactivate(drug=drug, user=pharmacist_user)
    drug = fresh(drug)
    assert drug.active
    assert (drug.retired_at, drug.retired_by, drug.retired_reason) == (None, None, "")


def test_reactivating_an_active_drug_is_refused(drug, pharmacist_user) -> None:
    with pytest.raises(ValidationError, match="ondansetron is not retired"):
        drug_reactivate(drug=drug, user=pharmacist_user)


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_audit_trail_has_the_retirement_with_its_reason_and_the_reactivation(
    drug, pharmacist_user
) -> None:
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    drug_reactivate(drug=drug, user=pharmacist_user)
    updates = DrugEvent.objects.filter(pgh_obj_id=drug.pk, pgh_label="update").order_by("pgh_id")
    by_action = {e.pgh_context.metadata["action"]: e for e in updates}
    assert set(by_action) == {"drug_retire", "drug_reactivate"}
    retired = by_action["drug_retire"]
    assert (retired.active, retired.retired_reason, retired.retired_by_id) == (
        False,
        REASON,
        pharmacist_user.pk,
    )
    assert retired.pgh_context.metadata["reason"] == REASON
    assert by_action["drug_reactivate"].active
    assert by_action["drug_reactivate"].pgh_context.metadata["retired_reason"] == REASON
    assert all(e.pgh_context.metadata["user"] == pharmacist_user.pk for e in updates)


def test_drug_for_name_refuses_a_retired_drug_by_name_or_synonym_and_adds_no_other(
    drug, pharmacist_user
) -> None:
    """Its callers (the FHIR import, `order_create`) make a new order: a retired drug is refused
    in words, not handed back, and not replaced by a new untagged drug of that name."""
    drug.synonyms = "Zofran"
    drug.save()
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    for name in ("Ondansetron", "zofran"):
        with pytest.raises(DrugRetired) as refused:
            drug_for_name(name=name)
        assert refused.value.message_dict["drug"][0].startswith(
            "ondansetron is retired from the formulary ("
        )
    assert Drug.objects.count() == 1


def test_a_synonym_shared_with_an_active_drug_names_the_active_one(drug, pharmacist_user) -> None:
    drug.synonyms = "antiemetic"
    drug.save()
    other = Drug.objects.create(name="granisetron", synonyms="antiemetic")
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    assert drug_for_name(name="antiemetic") == other


# --- the CSV import leaves the retirement alone ----------------------------------------------


def test_an_import_updating_a_retired_drug_keeps_it_retired(drug, pharmacist_user) -> None:
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    summary = formulary_import(
        data="name,synonyms,class,hcpcs,billing_unit,note\n"
        "ondansetron,Zofran,therapeutic,J2405,1 mg,antiemetic\n",
        user=pharmacist_user,
        billing_reason="CMS quarterly HCPCS update",
    )
    assert summary.updated == 1
    drug = fresh(drug)
    assert (drug.synonyms, drug.hcpcs_code) == ("Zofran", "J2405")
    assert (drug.active, drug.retired_reason) == (False, REASON)


# --- the drug's page --------------------------------------------------------------------------


def test_the_pharmacist_sees_retire_this_drug_on_an_active_drug(client_as, drug) -> None:
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug", args=[drug.pk]))
    html = html.content.decode()
    assert "Retire this drug" in html and 'data-testid="drug-retire-form"' in html
    assert reverse("pharmacy:drug_retire", args=[drug.pk]) in html
    assert 'data-testid="drug-retired"' not in html


def test_a_pharmacist_retires_a_drug_with_a_reason_and_sees_the_banner(
    client_as, drug, pharmacist_user
) -> None:
    client = client_as(roles.PHARMACIST)
    response = client.post(reverse("pharmacy:drug_retire", args=[drug.pk]), {"reason": REASON})
    assert response.status_code == 302
    assert response["Location"] == reverse("pharmacy:drug", args=[drug.pk])
    assert fresh(drug).retired_by == pharmacist_user
    html = client.get(response["Location"]).content.decode()
    assert "ondansetron retired from the formulary" in html
    banner = html[html.index('data-testid="drug-retired"') :].split("</form>")[0]
    day = f"{timezone.localdate(fresh(drug).retired_at):%Y-%m-%d}"  # the page shows the local day
    assert f"Retired {day} by {pharmacist_user.username}: {REASON}" in " ".join(banner.split())
    assert 'data-testid="drug-reactivate"' in banner
    assert 'data-testid="drug-retire-form"' not in html


def test_retiring_without_a_reason_says_so_beside_the_field(client_as, drug) -> None:
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_retire", args=[drug.pk]), {"reason": "   "}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert '<details class="drug-retire mb-3" open>' in html
    assert "Say why the drug is retired (no longer stocked, replaced by another)" in html
    assert 'id="error_1_id_reason"' in html
    assert fresh(drug).active


def test_a_reason_too_long_is_refused_beside_the_field_with_what_was_typed_kept(
    client_as, drug
) -> None:
    typed = "y" * 2001
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_retire", args=[drug.pk]), {"reason": typed}
    )
    assert response.status_code == 400
    assert f'value="{typed}"' in response.content.decode()
    assert fresh(drug).active


def test_retiring_from_a_page_drawn_before_it_was_retired_says_so(
    client_as, drug, pharmacist_user
) -> None:
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    page = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_retire", args=[drug.pk]), {"reason": "again"}, follow=True
    )
    assert "ondansetron is already retired." in page.content.decode()
    assert fresh(drug).retired_reason == REASON


def test_a_pharmacist_reactivates_a_drug_from_its_page(client_as, drug, pharmacist_user) -> None:
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    page = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_reactivate", args=[drug.pk]), follow=True
    )
    html = page.content.decode()
    assert "ondansetron is back in the formulary" in html
    assert fresh(drug).active
    assert 'data-testid="drug-retire-form"' in html


def button_classes(html: str, testid: str) -> list[str]:
    """The classes of the button with this data-testid."""
    found = re.search(rf'<button[^>]*class="([^"]*)"[^>]*data-testid="{testid}"', html)
    assert found, testid
    return found.group(1).split()


def test_reactivate_is_styled_as_an_action_to_take_not_as_a_disabled_grey_one(
    client_as, drug, pharmacist_user
) -> None:
    """QA walkthrough: on a retired drug's page Reactivate was outline-secondary, the grey of a
    disabled control; it is a green action as Verify is (the NDC's Reactivate: tests/mar/pharmacy/
    test_ndc_status.py)."""
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug", args=[drug.pk]))
    classes = button_classes(html.content.decode(), "drug-reactivate")
    assert "btn-success" in classes
    assert not {"btn-secondary", "btn-outline-secondary", "disabled"} & set(classes)


WRITTEN_BEFORE = "orders already written of it are still started, charted and billed as before"


def test_the_retire_help_the_confirmation_and_the_banner_say_the_same_of_orders_written_before(
    client_as, drug
) -> None:
    """QA walkthrough: the help said "started, charted and billed", the confirmation only
    "started and charted". What was ordered before is started, charted and billed as before
    (mar/pharmacy/services.drug_retire; mar/README.md: charges are unchanged): all three say so."""
    client = client_as(roles.PHARMACIST)
    help_page = " ".join(
        client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode().split()
    )
    help_text = help_page[help_page.index('data-testid="drug-retire-form"') :].split("</p>")[0]
    assert WRITTEN_BEFORE in help_text
    response = client.post(
        reverse("pharmacy:drug_retire", args=[drug.pk]), {"reason": REASON}, follow=True
    )
    confirmation = [str(m) for m in response.context["messages"]]
    assert len(confirmation) == 1 and WRITTEN_BEFORE in confirmation[0].lower()
    page = " ".join(response.content.decode().split())
    banner = page[page.index('data-testid="drug-retired"') :].split("</form>")[0]
    assert WRITTEN_BEFORE in banner


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER])
def test_nurses_and_coders_see_the_retirement_without_the_buttons(
    client_as, drug, pharmacist_user, role
) -> None:
    client = client_as(role)
    html = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert 'data-testid="drug-retire-form"' not in html
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    html = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert 'data-testid="drug-retired"' in html and REASON in html
    assert 'data-testid="drug-reactivate"' not in html


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_nurses_coders_and_clerks_cannot_retire_or_reactivate(
    client_as, drug, pharmacist_user, role
) -> None:
    retired = Drug.objects.create(name="granisetron", active=False)
    client = client_as(role)
    response = client.post(
        reverse("pharmacy:drug_retire", args=[drug.pk]), {"reason": "no longer stocked"}
    )
    assert response.status_code == 403
    assert client.post(reverse("pharmacy:drug_reactivate", args=[retired.pk])).status_code == 403
    assert fresh(drug).active and not fresh(retired).active


@pytest.mark.parametrize("name", ["drug_retire", "drug_reactivate"])
def test_the_drug_actions_take_only_posts(client_as, drug, name) -> None:
    response = client_as(roles.PHARMACIST).get(reverse(f"pharmacy:{name}", args=[drug.pk]))
    assert response.status_code == 405


@pytest.mark.parametrize("name", ["drug_retire", "drug_reactivate"])
def test_the_drug_actions_need_the_csrf_token(pharmacist_user, drug, name) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacist_user)
    response = client.post(
        reverse(f"pharmacy:{name}", args=[drug.pk]), {"reason": "no longer stocked"}
    )
    assert response.status_code == 403
    assert fresh(drug).active


# --- the formulary list -----------------------------------------------------------------------


def test_the_formulary_lists_a_retired_drug_with_a_retired_badge(
    client_as, drug, pharmacist_user
) -> None:
    other = factories.drug_get("granisetron", "therapeutic")
    drug_retire(drug=drug, reason=REASON, user=pharmacist_user)
    html = client_as(roles.NURSE).get(reverse("pharmacy:formulary")).content.decode()

    def row(d: Drug) -> str:
        return html[html.index(f'id="drug-{d.pk}"') :].split("</tr>")[0]

    assert 'data-testid="drug-retired"' in row(drug) and ">retired</span>" in row(drug)
    assert 'data-testid="drug-retired"' not in row(other)
    # The htmx search answers the same rows.
    found = client_as(roles.PHARMACIST).get(
        reverse("pharmacy:formulary"), {"q": "ondan"}, headers={"HX-Target": "formulary-rows"}
    )
    assert 'data-testid="drug-retired"' in found.content.decode()
