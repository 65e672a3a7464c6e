"""A drug's allergy classes, set by the pharmacist on the drug's page
(mar.pharmacy.services.drug_allergy_classes_set, pharmacy:drug_allergy_classes), carried by the
starter formulary and filled on an installation by migration mar 0026 where empty.

QA: a patient registered allergic to "penicillin (rash)" was ordered, verified and started on
piperacillin-tazobactam without a word: the starter formulary's 71 drugs had no allergy classes
and only the Django admin set them. The admin no longer edits them (the services are the way in).
"""

import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Drug
from mar.pharmacy.formulary import STARTER_ALLERGY_CLASSES, formulary_load_csv
from mar.pharmacy.services import drug_allergy_classes_set
from mar.services.safety import allergy_warning
from tests import factories
from tests.mar.test_admin import change_form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def drug() -> Drug:
    return factories.drug_get("piperacillin-tazobactam")


def stored(drug: Drug) -> str:
    return Drug.objects.values_list("allergy_classes", flat=True).get(pk=drug.pk)


def url(drug: Drug) -> str:
    return reverse("pharmacy:drug_allergy_classes", args=[drug.pk])


# --- the service ----------------------------------------------------------------------------


def test_the_classes_are_stored_once_each_separated_by_semicolons(drug, pharmacist_user) -> None:
    """Typed with commas or semicolons, spaces folded, a class given twice kept once."""
    drug_allergy_classes_set(
        drug=drug, allergy_classes=" penicillin ,beta-lactam;; Penicillin ", user=pharmacist_user
    )
    assert stored(drug) == "penicillin; beta-lactam"
    assert drug.allergy_classes == "penicillin; beta-lactam"  # the caller's drug follows


def test_the_classes_are_emptied_with_an_empty_field(drug, pharmacist_user) -> None:
    Drug.objects.filter(pk=drug.pk).update(allergy_classes="penicillin")
    drug_allergy_classes_set(drug=drug, allergy_classes="  ", user=pharmacist_user)
    assert stored(drug) == ""


@pytest.mark.parametrize("typed", ["ASA", "penicillin, (rash)", "to"])
def test_a_class_the_matcher_would_not_read_is_refused_beside_the_field(
    drug, pharmacist_user, typed
) -> None:
    """Shorter than four letters once brackets and words like "rash" are out: it would match
    no allergy at all, so it is refused, never kept to match nothing."""
    with pytest.raises(ValidationError) as refused:
        drug_allergy_classes_set(drug=drug, allergy_classes=typed, user=pharmacist_user)
    assert "too short to match an allergy" in refused.value.message_dict["allergy_classes"][0]
    assert stored(drug) == ""


def test_too_long_and_unchanged_are_refused(drug, pharmacist_user) -> None:
    with pytest.raises(ValidationError, match="At most 300 characters"):
        drug_allergy_classes_set(
            drug=drug, allergy_classes="; ".join(f"class{n:03d}" for n in range(40)),
            user=pharmacist_user,
        )  # fmt: skip
    Drug.objects.filter(pk=drug.pk).update(allergy_classes="penicillin")
    with pytest.raises(ValidationError, match="Nothing to change"):
        drug_allergy_classes_set(drug=drug, allergy_classes="penicillin", user=pharmacist_user)


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_change_is_in_the_audit_trail_with_who_and_the_old_and_new_value(
    drug, pharmacist_user
) -> None:
    Drug.objects.filter(pk=drug.pk).update(allergy_classes="penicillin")
    drug_allergy_classes_set(
        drug=drug, allergy_classes="penicillin, beta-lactam", user=pharmacist_user
    )
    event = EVENTS[Drug].objects.filter(pgh_obj_id=drug.pk, pgh_label="update").last()
    context = event.pgh_context.metadata
    assert context["action"] == "drug_allergy_classes_set"
    assert context["user"] == pharmacist_user.pk
    assert context["changes"] == {"allergy_classes": ["penicillin", "penicillin; beta-lactam"]}
    assert "reason" not in context  # a formulary fact: no reason asked
    assert event.allergy_classes == "penicillin; beta-lactam"


def test_the_new_class_is_what_the_allergy_check_reads_at_once(drug, pharmacist_user) -> None:
    patient = factories.patient_create(allergies="penicillin (rash)")
    assert allergy_warning(patient, drug) == ""
    drug_allergy_classes_set(drug=drug, allergy_classes="penicillin", user=pharmacist_user)
    assert allergy_warning(patient, Drug.objects.get(pk=drug.pk)) == (
        "Allergy: penicillin (rash) matches piperacillin-tazobactam (penicillin class)."
    )


# --- the drug's page ------------------------------------------------------------------------


def test_the_pharmacist_sets_them_on_the_drugs_page(client_as, drug) -> None:
    client = client_as(roles.PHARMACIST)
    page = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert 'data-testid="drug-allergy-classes-form"' in page
    assert f'action="{url(drug)}"' in page
    response = client.post(url(drug), {"allergy_classes": "penicillin, beta-lactam"})
    assert response.status_code == 302
    assert response["Location"].endswith("#allergy-classes")
    assert stored(drug) == "penicillin; beta-lactam"
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert said == ["Allergy classes of piperacillin-tazobactam: (none) → penicillin; beta-lactam."]
    page = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    shown = page.split('data-testid="drug-allergy-classes">', 1)[1]
    assert shown.startswith("penicillin; beta-lactam")


def test_a_refusal_is_said_beside_the_field_with_what_was_typed(client_as, drug) -> None:
    response = client_as(roles.PHARMACIST).post(url(drug), {"allergy_classes": "penicillin, ASA"})
    assert response.status_code == 400
    html = response.content.decode()
    form = html.split('data-testid="drug-allergy-classes-form"', 1)[1].split("</form>", 1)[0]
    assert "&#x27;ASA&#x27; is too short to match an allergy" in form
    assert 'value="penicillin, ASA"' in form
    assert stored(drug) == ""


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER])
def test_nurses_and_coders_read_the_classes_without_the_form(client_as, drug, role) -> None:
    Drug.objects.filter(pk=drug.pk).update(allergy_classes="penicillin")
    html = client_as(role).get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert 'data-testid="drug-allergy-classes">penicillin' in html
    assert 'data-testid="drug-allergy-classes-form"' not in html


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_only_a_pharmacist_sets_them(client_as, drug, role) -> None:
    assert client_as(role).post(url(drug), {"allergy_classes": "penicillin"}).status_code == 403
    assert stored(drug) == ""


def test_an_admin_passes_the_pharmacists_check(client_as, drug) -> None:
    assert (
        client_as(roles.ADMIN).post(url(drug), {"allergy_classes": "penicillin"}).status_code == 302
    )
    assert stored(drug) == "penicillin"


def test_an_anonymous_visitor_is_sent_to_sign_in(client, drug) -> None:
    response = client.post(url(drug), {"allergy_classes": "penicillin"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert stored(drug) == ""


def test_it_takes_only_posts_with_the_csrf_token(client_as, pharmacist_user, drug) -> None:
    assert client_as(roles.PHARMACIST).get(url(drug)).status_code == 405
    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacist_user)
    assert client.post(url(drug), {"allergy_classes": "penicillin"}).status_code == 403
    assert stored(drug) == ""


def test_the_admin_no_longer_edits_the_allergy_classes(drug) -> None:
    """Read-only there, like the rest of the formulary the pharmacy's services keep."""
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password=factories.PASSWORD))
    page = admin.get(f"/admin/mar/drug/{drug.pk}/change/")
    assert 'name="allergy_classes"' not in page.content.decode()
    data = change_form_data(page) | {"allergy_classes": "changed behind pharmacy's back"}
    assert admin.post(f"/admin/mar/drug/{drug.pk}/change/", data).status_code == 302
    assert stored(drug) == ""


# --- the starter formulary and the data migration -------------------------------------------


def test_the_starter_formulary_carries_the_standard_allergy_classes() -> None:
    formulary_load_csv()
    classes = dict(Drug.objects.values_list("name", "allergy_classes"))
    assert classes["piperacillin-tazobactam"] == "penicillin; beta-lactam"
    assert classes["cefazolin"] == classes["ceftriaxone"] == "cephalosporin; beta-lactam"
    assert classes["cisplatin"] == classes["carboplatin"] == classes["oxaliplatin"] == "platinum"
    assert classes["paclitaxel"] == classes["docetaxel"] == "taxane"
    assert classes["ketorolac"] == "NSAID"
    assert classes["morphine"] == classes["fentanyl"] == "opioid"
    assert set(STARTER_ALLERGY_CLASSES) <= set(classes)  # every name is a starter drug's
    assert classes["sodium chloride 0.9%"] == ""  # none where no class applies


def test_the_loader_leaves_a_pharmacists_classes_alone(pharmacist_user) -> None:
    drug = factories.drug_get("cefazolin")
    drug_allergy_classes_set(
        drug=drug, allergy_classes="cefazolin R1 side chain", user=pharmacist_user
    )
    formulary_load_csv(update_existing=False)
    assert stored(drug) == "cefazolin R1 side chain"


def test_the_data_migration_fills_only_empty_classes() -> None:
    """mar 0026 on an installation with the starter drugs: an empty one filled, one a
    pharmacist set left as it is, a drug not in the starter list untouched."""
    migration = importlib.import_module("mar.migrations.0025_starter_allergy_classes")
    empty = factories.drug_get("piperacillin-tazobactam")
    kept = factories.drug_get("Ceftriaxone")  # any case: the starter's name
    Drug.objects.filter(pk=kept.pk).update(allergy_classes="cephalosporin")
    other = factories.drug_get("teprotumumab")
    migration.fill_empty(django_apps, None)
    assert stored(empty) == "penicillin; beta-lactam"
    assert stored(kept) == "cephalosporin"
    assert stored(other) == ""
