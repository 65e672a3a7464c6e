"""After signing, a card's volumes and rate changes are corrected by addendum, as its other
fields are (QA, bedside walkthrough: a wrong volume infused found after signing, which feeds
DRUG-DOSE and DOC-VOLUME, could not be corrected: the signed card offered no "Volumes…" nor
"Rate change…", and the services refused a signed record outright).

On the addendum's chart (`?addendum=1`) both folds are drawn with the addendum's reason; saved
with a reason, the change is written with an `Addendum` (what changed, from and to; why; who),
in the audit trail, and the charges are owed again; without a reason it is refused beside the
reason's field and what she typed stays in the form."""

import html as html_lib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from coding.models import ChargeOutbox
from mar import roles
from mar.audit.models import EVENTS
from mar.models import Addendum, Administration, RateChange
from mar.services.signature import signature_store
from tests.mar.chart_helpers import local, running_visit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NO_REASON = "This record is signed: changes go through an addendum (say why)."


def signed_infusion(nurse_user) -> tuple[object, Administration]:
    """Carboplatin run 60 min to 10 min ago at 100 mL/h, 100 mL infused charted; signed."""
    encounter, adm = running_visit()
    Administration.objects.filter(pk=adm.pk).update(
        stop=timezone.now() - timedelta(minutes=10),
        rate_ml_h=Decimal(100),
        bag_volume_ml=Decimal(250),
        volume_infused_ml=Decimal(100),
    )
    signature_store(encounter=encounter, user=nurse_user)
    encounter.refresh_from_db()
    adm.refresh_from_db()
    return encounter, adm


def volumes_data(adm: Administration, **typed: object) -> dict[str, object]:
    """The addendum's Volumes… form as drawn (the stored values), with `typed` over them."""
    values = {
        "rate_ml_h": "100",
        "bag_volume_ml": "250",
        "vtbi_ml": "",
        "volume_infused_ml": "100",
        "addendum_why": "",
    }
    values.update(typed)
    return {f"v{adm.pk}-{name}": value for name, value in values.items()}


def _page(response) -> str:
    return html_lib.unescape(response.content.decode())


def test_the_addendum_chart_offers_volumes_and_rate_change_each_asking_its_reason(
    client_as, nurse_user
) -> None:
    encounter, adm = signed_infusion(nurse_user)
    client = client_as(roles.NURSE)
    url = reverse("mar:encounter", args=[encounter.pk])
    addendum = client.get(url + "?addendum=1").content.decode()
    for form in ("volumes-form", "rate-form"):
        start = addendum.index(f'data-testid="{form}"')
        drawn = addendum[start : addendum.index("</form>", start)]
        assert "-addendum_why" in drawn
        assert "as addendum" in drawn
    # Read-only (no ?addendum=1): neither fold.
    read_only = client.get(url).content.decode()
    assert 'data-testid="volumes-form"' not in read_only
    assert 'data-testid="rate-form"' not in read_only


def test_a_signed_records_volume_corrected_with_a_reason_is_an_addendum_and_charges_rerun(
    client_as, nurse_user, django_capture_on_commit_callbacks
) -> None:
    encounter, adm = signed_infusion(nurse_user)
    url = reverse("mar:adm_volumes", args=[encounter.pk, adm.pk])
    data = volumes_data(adm, volume_infused_ml="150", addendum_why="pump history read again")
    with django_capture_on_commit_callbacks(execute=False):  # the worker not run yet
        response = client_as(roles.NURSE).post(url, data, **HX)
    assert response.status_code == 200
    saved = Administration.objects.get(pk=adm.pk)
    assert saved.volume_infused_ml == Decimal(150)
    assert saved.version == adm.version + 1
    addendum = Addendum.objects.get(encounter=encounter)
    assert addendum.what == (
        f"A{adm.pk} carboplatin: volume infused (mL): 100 -> 150"
    )  # only what changed
    assert (addendum.why, addendum.author) == ("pump history read again", nurse_user)
    assert ChargeOutbox.objects.filter(encounter=encounter, done_at=None).exists()
    assert 'data-testid="volume-infused">infused 150 mL' in _page(response)


def test_a_signed_records_volume_without_a_reason_is_refused_beside_it_typed_value_kept(
    client_as, nurse_user
) -> None:
    encounter, adm = signed_infusion(nurse_user)
    url = reverse("mar:adm_volumes", args=[encounter.pk, adm.pk])
    response = client_as(roles.NURSE).post(url, volumes_data(adm, volume_infused_ml="150"), **HX)
    page = _page(response)
    form = page[page.index('data-testid="volumes-form"') :]
    form = form[: form.index("</form>")]
    why = form[form.index(f'name="v{adm.pk}-addendum_why"') :]
    assert NO_REASON in why[:800]  # beside the reason's field
    assert f'name="v{adm.pk}-volume_infused_ml" value="150"' in form  # what she typed stays
    assert '<details class="mt-1" open>' in page[: page.index('data-testid="volumes-form"')]
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.volume_infused_ml, saved.version) == (Decimal(100), adm.version)
    assert not Addendum.objects.filter(encounter=encounter).exists()


def test_a_signed_records_rate_at_start_corrected_by_addendum_says_from_and_to(
    client_as, nurse_user
) -> None:
    encounter, adm = signed_infusion(nurse_user)
    url = reverse("mar:adm_volumes", args=[encounter.pk, adm.pk])
    data = volumes_data(adm, rate_ml_h="125", addendum_why="pump programmed at 125")
    client_as(roles.NURSE).post(url, data, **HX)
    assert Administration.objects.get(pk=adm.pk).rate_ml_h == Decimal(125)
    assert Addendum.objects.get(encounter=encounter).what == (
        f"A{adm.pk} carboplatin: rate (mL/h): 100 -> 125"
    )


def _rate_data(adm: Administration, at, why: str) -> dict[str, object]:
    p = f"r{adm.pk}"
    return {f"{p}-rate_ml_h": "80", f"{p}-at": local(at), f"{p}-reason": "titration per protocol",
            f"{p}-version": adm.version, f"{p}-addendum_why": why}  # fmt: skip


def test_a_rate_change_added_to_a_signed_record_with_a_reason_is_an_addendum(
    client_as, nurse_user, django_capture_on_commit_callbacks
) -> None:
    encounter, adm = signed_infusion(nurse_user)
    at = adm.start + timedelta(minutes=20)
    url = reverse("mar:adm_rate", args=[encounter.pk, adm.pk])
    with django_capture_on_commit_callbacks(execute=False):
        response = client_as(roles.NURSE).post(url, _rate_data(adm, at, "missed titration"), **HX)
    assert response.status_code == 200
    change = RateChange.objects.get(administration=adm)
    assert (change.rate_ml_h, change.reason, change.by) == (
        Decimal(80), "titration per protocol", nurse_user,
    )  # fmt: skip
    addendum = Addendum.objects.get(encounter=encounter)
    when = local(at).replace("T", " ")
    assert addendum.what == (
        f"A{adm.pk} carboplatin: rate change at {when}: 80 mL/h (titration per protocol)"
    )
    assert addendum.why == "missed titration"
    assert ChargeOutbox.objects.filter(encounter=encounter, done_at=None).exists()
    assert "→ 80 mL/h · titration per protocol" in _page(response)


def test_a_rate_change_on_a_signed_record_without_a_reason_is_refused_beside_it(
    client_as, nurse_user
) -> None:
    encounter, adm = signed_infusion(nurse_user)
    url = reverse("mar:adm_rate", args=[encounter.pk, adm.pk])
    at = adm.start + timedelta(minutes=20)
    page = _page(client_as(roles.NURSE).post(url, _rate_data(adm, at, ""), **HX))
    form = page[page.index('data-testid="rate-form"') :]
    form = form[: form.index("</form>")]
    why = form[form.index(f'name="r{adm.pk}-addendum_why"') :]
    assert NO_REASON in why[:800]
    assert f'name="r{adm.pk}-rate_ml_h" value="80"' in form
    assert 'value="titration per protocol"' in form
    assert not RateChange.objects.filter(administration=adm).exists()
    assert not Addendum.objects.filter(encounter=encounter).exists()


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_volumes_and_rate_changes_by_addendum_are_in_the_audit_trail(client_as, nurse_user) -> None:
    encounter, adm = signed_infusion(nurse_user)
    client = client_as(roles.NURSE)
    client.post(
        reverse("mar:adm_volumes", args=[encounter.pk, adm.pk]),
        volumes_data(adm, volume_infused_ml="150", addendum_why="pump history"),
        **HX,
    )
    adm.refresh_from_db()
    at = adm.start + timedelta(minutes=20)
    client.post(
        reverse("mar:adm_rate", args=[encounter.pk, adm.pk]),
        _rate_data(adm, at, "missed titration"),
        **HX,
    )
    updated = EVENTS[Administration].objects.filter(pgh_obj_id=adm.pk, pgh_label="update")
    assert updated.filter(volume_infused_ml=Decimal(150)).exists()
    assert EVENTS[RateChange].objects.filter(pgh_label="insert", rate_ml_h=Decimal(80)).exists()
    addenda = list(encounter.addenda.values_list("pk", flat=True))
    assert len(addenda) == 2
    assert EVENTS[Addendum].objects.filter(pgh_obj_id__in=addenda, pgh_label="insert").count() == 2
