"""Free-text reasons and notes have a length limit, said beside the field (issue 18, item 7):
a 100,000-character separate-site reason was stored."""

import pytest

from coding import forms as coding_forms
from mar import forms as mar_forms
from mar.pharmacy import views as pharmacy_views
from mar.services import charting
from tests import factories

pytestmark = pytest.mark.django_db

LONG = "x" * 100_000


def test_the_separate_site_reason_is_refused_beside_the_field(client_as) -> None:
    encounter = factories.chemo_encounter_create()
    site = encounter.sites.get()
    response = client_as("nurse").post(
        f"/mar/encounters/{encounter.pk}/sites/{site.pk}/",
        {f"s{site.pk}-location": "L forearm", f"s{site.pk}-separate_site_reason": LONG},
    )
    assert response.status_code == 200
    assert "Ensure this value has at most 2000 characters" in response.content.decode()
    site.refresh_from_db()
    assert len(site.separate_site_reason) < 2000


def test_the_service_refuses_it_for_every_other_caller() -> None:
    encounter = factories.chemo_encounter_create()
    with pytest.raises(charting.ChartError) as refused:
        charting.site_update(site=encounter.sites.get(), location="", separate_site_reason=LONG)
    assert "separate_site_reason" in refused.value.errors


@pytest.mark.parametrize(
    ("form_class", "field"),
    [
        (mar_forms.SiteUpdateForm, "separate_site_reason"),
        (mar_forms.SiteUpdateForm, "addendum_why"),
        (mar_forms.AddendumForm, "what"),
        (mar_forms.AddendumForm, "why"),
        (mar_forms.FlushRemoveForm, "addendum_why"),
        (pharmacy_views.DrugClassForm, "reason"),
        (coding_forms.QueryForm, "question"),
        (coding_forms.LineCorrectForm, "reason"),
        (coding_forms.LineAddForm, "reason"),
        (coding_forms.EditOverrideForm, "reason"),
        (coding_forms.EditOverrideForm, "message"),
        (pharmacy_views.DrugForm, "note"),
        (pharmacy_views.OrderClassForm, "reason"),
        (pharmacy_views.OrderReturnForm, "reason"),
    ],
)
def test_each_free_text_field_has_a_limit(form_class, field) -> None:
    form_field = form_class.base_fields[field]
    assert form_field.max_length is not None and form_field.max_length <= 4000
