from django.urls import reverse

from mar import roles
from tests import factories


def test_worklist_lists_untagged_drugs_first(client_as) -> None:  # type: ignore[no-untyped-def]
    factories.drug_get("teprotumumab", None)
    factories.drug_get("ondansetron")
    response = client_as(roles.PHARMACIST).get(reverse("mar:formulary_worklist"))
    untagged = response.context["untagged"]
    assert [drug.name for drug in untagged] == ["teprotumumab"]
    assert b"ondansetron" in response.content
