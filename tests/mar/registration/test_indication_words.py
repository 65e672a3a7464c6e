"""Words typed in the indication never silently become a diagnosis code (QA: "thyroid", not
chosen from the list, saved the order as "C73 Malignant neoplasm of thyroid gland", the only
match in the sample list, and the live check beside the field said nothing).

Typed by a person, the indication is entered only as a code (C73, c73) or as the list offers it
("C73 Malignant neoplasm of thyroid gland", chosen from the suggestions); words are refused
beside the field naming what they match, on submit and as typed (`registration:order_check`).
An interface's order keeps the indication as it is sent (`icd10_resolve(words_match=True)`)."""

from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from mar.models import EntryMethod, Order
from mar.registration.icd10 import code_list, icd10_resolve
from mar.registration.services import OrderEntry, order_enter, order_fields_check
from tests import factories
from tests.mar.registration.test_order_field_check import HX, refused
from tests.mar.registration.test_views import ORDER, field_error

pytestmark = pytest.mark.django_db

THYROID = "“thyroid” matches C73 Malignant neoplasm of thyroid gland: choose it or type the code."


@pytest.fixture(autouse=True)
def _list_reread():
    code_list.cache_clear()
    yield
    code_list.cache_clear()


def entry(indication: str, **fields: object) -> OrderEntry:
    values: dict[str, object] = {
        "drug": factories.drug_get("oxaliplatin", "chemo"),
        "dose_value": Decimal("85"),
        "dose_unit": "mg",
        "indication": indication,
        "ordering_provider": "Dr. Amara Okafor",
        "ordering_provider_npi": "1234567893",
        "entry_method": EntryMethod.WRITTEN,
    }
    values.update(fields)
    return OrderEntry(**values)


def test_words_with_one_match_are_not_taken_for_the_code_when_typed() -> None:
    with pytest.raises(ValueError) as exc:
        icd10_resolve("thyroid", words_match=False)
    assert str(exc.value) == THYROID
    # As before for an interface: the one match.
    assert icd10_resolve("thyroid").code == "C73"


@pytest.mark.parametrize(
    "typed", ["C73", "c73", " C73 ", "C73 Malignant neoplasm of thyroid gland"]
)
def test_a_code_or_the_list_s_choice_is_the_code(typed: str) -> None:
    assert icd10_resolve(typed, words_match=False).code == "C73"
    assert order_fields_check(entry(typed))["indication_code"] == "C73"


@pytest.mark.parametrize("method", [EntryMethod.WRITTEN, EntryMethod.VERBAL, EntryMethod.TELEPHONE])
def test_an_order_typed_with_words_is_refused_beside_the_indication(method, clerk_user) -> None:
    encounter = factories.encounter_create()
    with pytest.raises(Exception) as exc:
        order_enter(
            encounter=encounter, entry=entry("thyroid", entry_method=method), user=clerk_user
        )
    assert exc.value.message_dict == {"indication": [THYROID]}
    assert not Order.objects.filter(encounter=encounter).exists()


def test_an_interface_order_keeps_its_indication_as_sent() -> None:
    """HL7/FHIR send codes; whatever they send is taken as before (one match, a code)."""
    encounter = factories.encounter_create()
    for number, sent in (("P-1", "C73"), ("P-2", "thyroid")):
        electronic = entry(sent, entry_method=EntryMethod.ELECTRONIC, placer_number=number)
        order = order_enter(encounter=encounter, entry=electronic, user=None)
        assert order.indication_code == "C73"


def test_the_form_refuses_words_beside_the_field_keeping_them(client_as) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    url = reverse("registration:order_new", args=[encounter.pk])
    response = client_as("clerk").post(url, {**ORDER, "indication": "thyroid"})
    assert response.status_code == 200
    html = response.content.decode()
    assert unescape(field_error(html, "indication")) == THYROID
    assert 'name="indication" value="thyroid"' in html
    assert 'name="drug" value="oxaliplatin"' in html
    assert not Order.objects.filter(encounter=encounter).exists()
    chosen = client_as("clerk").post(
        url, {**ORDER, "indication": "C73 Malignant neoplasm of thyroid gland"}
    )
    assert chosen.status_code == 302
    assert Order.objects.get(encounter=encounter).indication_code == "C73"


def test_the_live_check_says_the_same_as_typed(client_as) -> None:
    factories.drug_get("oxaliplatin", "chemo")
    encounter = factories.encounter_create()
    response = client_as("clerk").post(
        reverse("registration:order_check", args=[encounter.pk, "indication"]),
        {**ORDER, "indication": "thyroid"},
        **HX,
    )
    assert refused(response.content.decode()) == [THYROID]
