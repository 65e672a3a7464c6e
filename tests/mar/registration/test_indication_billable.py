"""An order's indication is a billable ICD-10-CM code of the list loaded (QA walkthrough: "C50.9",
a category, and "H06.2", not in the list, were accepted and reached the claim unremarked).

Typed at order entry: a category (a code with codes of the list under it) is refused beside the
field, naming a few of them; a code not in the list is refused when the full list is loaded
(`ICD10CM_FILE`), accepted when the list is the shipped sample, said beside the field before it
is entered. From an interface (HL7) the order is kept whatever its code: the coder sees it
(tests/coding/test_claim_indication.py).
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse

from mar.hl7.inbound import message_receive
from mar.models import DoseBasis, EntryMethod, Order
from mar.registration.icd10 import code_list, icd10_billable_problem
from mar.registration.services import OrderEntry, order_enter
from tests import factories
from tests.mar.hl7.builders import orc, rde, register, rxe, rxr, tq1
from tests.mar.registration.test_views import ORDER, field_error

pytestmark = pytest.mark.django_db

CATEGORY_REFUSAL = (
    "C50.9 is a category, not a billable code: choose one of C50.911, C50.912, C50.919."
)


@pytest.fixture
def full_list(settings, tmp_path: Path):
    """The full list loaded, in CMS's codes-file format (no dots), for FY2025."""
    codes = tmp_path / "icd10cm-codes-2025.txt"
    codes.write_text(
        "C18.9   Malignant neoplasm of colon, unspecified\n"
        "C50911  Malignant neoplasm of unspecified site of right female breast\n"
        "C50912  Malignant neoplasm of unspecified site of left female breast\n",
        encoding="utf-8",
    )
    settings.ICD10CM_FILE, settings.ICD10CM_FY = str(codes), "2025"
    code_list.cache_clear()
    yield
    code_list.cache_clear()


@pytest.fixture(autouse=True)
def _list_reread():
    code_list.cache_clear()
    yield
    code_list.cache_clear()


def entry(**fields: object) -> OrderEntry:
    values: dict[str, object] = {
        "drug": factories.drug_get("oxaliplatin", "chemo"),
        "dose_value": Decimal("85"),
        "dose_unit": "mg",
        "dose_basis": DoseBasis.PER_M2,
        "duration_minutes": 120,
        "indication": "C18.9",
        "ordering_provider": "Dr. Amara Okafor",
        "ordering_provider_npi": "1234567893",
        "entry_method": EntryMethod.WRITTEN,
    }
    values.update(fields)
    return OrderEntry(**values)


def test_a_category_is_one_with_codes_of_the_list_under_it() -> None:
    """C50.9, C50 and c509 are categories (C50.911... are listed); a listed code is billable;
    nonsense is not a code at all (the resolver refuses it, not this check)."""
    for typed in ("C50.9", "C50", "c509"):
        problem = icd10_billable_problem(typed)
        assert problem is not None and problem.category and problem.refused, typed
    assert [d.code for d in icd10_billable_problem("A41").under] == [
        "A41.01", "A41.02", "A41.51", "A41.9",
    ]  # fmt: skip
    assert icd10_billable_problem("C50.911") is None
    assert icd10_billable_problem("ZZZ.999") is None


def test_a_code_outside_the_shipped_sample_is_not_refused_only_said() -> None:
    """The shipped list is a sample: H06.2 may be a real code it lacks, so it is not refused."""
    problem = icd10_billable_problem("H06.2")
    assert problem is not None and not problem.category and not problem.refused
    assert problem.message.startswith("H06.2 is not in the ICD-10-CM list loaded here (a sample")


def test_a_typed_category_is_refused_on_the_indication(nurse_user) -> None:
    encounter = factories.encounter_create()
    with pytest.raises(ValidationError) as exc:
        order_enter(encounter=encounter, entry=entry(indication="C50.9"), user=nurse_user)
    assert exc.value.message_dict == {"indication": [CATEGORY_REFUSAL]}
    assert not Order.objects.exists()


def test_a_typed_code_outside_the_sample_is_entered(nurse_user) -> None:
    encounter = factories.encounter_create()
    order = order_enter(encounter=encounter, entry=entry(indication="H06.2"), user=nurse_user)
    assert (order.indication_code, order.indication) == ("H06.2", "H06.2")


def test_with_the_full_list_loaded_a_code_outside_it_is_refused(full_list, nurse_user) -> None:
    encounter = factories.encounter_create()
    with pytest.raises(ValidationError) as exc:
        order_enter(encounter=encounter, entry=entry(indication="H06.2"), user=nurse_user)
    assert exc.value.message_dict == {
        "indication": [
            "H06.2 is not in the ICD-10-CM list loaded (FY2025): check the code, or search by "
            "words."
        ]
    }
    order = order_enter(encounter=encounter, entry=entry(indication="C50912"), user=nurse_user)
    assert (
        order.indication == "C50.912 Malignant neoplasm of unspecified site of left female breast"
    )


def test_an_interfaces_order_with_a_category_is_kept() -> None:
    """The ordering system's order is not dropped for its code: the coder sees it."""
    encounter = factories.encounter_create()
    order = order_enter(
        encounter=encounter, entry=entry(indication="C50.9", entry_method=EntryMethod.ELECTRONIC)
    )
    assert order.indication_code == "C50.9"


def test_the_clerks_form_refuses_a_category_beside_the_field_keeping_what_was_typed(
    client_as,
) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    typed = {**ORDER, "indication": "C50.9"}
    response = client_as("clerk").post(
        reverse("registration:order_new", args=[encounter.pk]), typed
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert field_error(html, "indication") == CATEGORY_REFUSAL
    for name in ("indication", "drug", "dose_value", "ordering_provider", "ordering_provider_npi"):
        assert re.search(rf'name="{name}" value="{re.escape(typed[name])}"', html), name
    assert not Order.objects.exists()


def test_the_clerks_form_shows_the_category_with_the_forms_own_refusals(client_as) -> None:
    """Every problem at once: the form's (a dose below zero) and the indication's."""
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    response = client_as("clerk").post(
        reverse("registration:order_new", args=[encounter.pk]),
        {**ORDER, "indication": "C50.9", "dose_value": "-3"},
    )
    html = response.content.decode()
    assert field_error(html, "dose_value")
    assert field_error(html, "indication") == CATEGORY_REFUSAL


def test_the_clerks_form_says_a_code_outside_the_sample_beside_the_field_then_enters_it(
    client_as,
) -> None:
    """Said beside the indication first (not at the top of the next page: QA), then entered
    (tests/mar/registration/test_order_field_check.py: as it is typed too)."""
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    url = reverse("registration:order_new", args=[encounter.pk])
    response = client_as("clerk").post(url, {**ORDER, "indication": "H06.2"})
    assert response.status_code == 200
    assert "H06.2 is not in the ICD-10-CM list loaded here" in response.content.decode()
    response = client_as("clerk").post(
        url, {**ORDER, "indication": "H06.2", "indication_noted": "H06.2"}
    )
    assert response.status_code == 302
    assert Order.objects.get(encounter=encounter).indication_code == "H06.2"
    said = [m.level_tag for m in get_messages(response.wsgi_request)]
    assert "warning" not in said


def test_the_clerks_form_refuses_a_code_outside_the_full_list(full_list, client_as) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    response = client_as("clerk").post(
        reverse("registration:order_new", args=[encounter.pk]), {**ORDER, "indication": "H06.2"}
    )
    assert "not in the ICD-10-CM list loaded (FY2025)" in field_error(
        response.content.decode(), "indication"
    )
    assert 'name="indication" value="H06.2"' in response.content.decode()
    assert not Order.objects.exists()


def test_an_hl7_order_with_a_category_is_accepted_and_kept() -> None:
    """RDE^O11 with RXE-27 C50.9: AA, the order entered as sent (the coder's finding says it)."""
    drug = factories.drug_get("oxaliplatin", "chemo")
    drug.hcpcs_code = "J9263"
    drug.save()
    message_receive(register().encode())
    ack = message_receive(
        rde(
            "H-1001",
            "V-9001",
            orc(),
            rxe("J9263^Oxaliplatin^HCPCS", indication="C50.9"),
            rxr(),
            tq1("120"),
        ).encode()
    )
    assert "MSA|AA|" in ack, ack
    assert Order.objects.get().indication_code == "C50.9"
