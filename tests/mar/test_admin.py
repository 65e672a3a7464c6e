"""The Django admin shows a signed encounter, its rows and addenda read-only (never a 500)."""

import pytest

from mar.models import Addendum
from tests import factories
from tests.coding.review_helpers import encounter_signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db):
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_superuser("root", password=factories.PASSWORD))
    return client


@pytest.fixture
def signed(nurse_user):
    encounter = encounter_signed(nurse=nurse_user)
    addendum = Addendum.objects.create(
        encounter=encounter, what="note", why="late entry", author=nurse_user
    )
    return encounter, addendum


def test_admin_change_pages_of_a_signed_record_are_read_only(admin, signed) -> None:
    encounter, addendum = signed
    administration = encounter.administrations.first()
    for url in (
        f"/admin/mar/encounter/{encounter.pk}/change/",
        f"/admin/mar/addendum/{addendum.pk}/change/",
        f"/admin/mar/administration/{administration.pk}/change/",
    ):
        response = admin.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert 'name="_save"' not in html, url  # no save button: view only
        # A forged save is refused by the admin (403), not by the database (500).
        assert admin.post(url, {}).status_code == 403, url


def test_admin_addenda_cannot_be_deleted_or_added(admin, signed) -> None:
    _, addendum = signed
    assert admin.get(f"/admin/mar/addendum/{addendum.pk}/delete/").status_code == 403
    assert admin.get("/admin/mar/addendum/add/").status_code == 403


def test_admin_still_edits_an_open_encounter(admin) -> None:
    encounter = factories.chemo_encounter_create()
    response = admin.get(f"/admin/mar/encounter/{encounter.pk}/change/")
    assert response.status_code == 200
    assert 'name="_save"' in response.content.decode()


def test_every_admin_list_and_add_page_answers_for_a_superuser(admin, signed) -> None:
    """Every model's list in the admin (the audit trail's events list among them), with a
    signed record in the database, and every add page a model offers: never a 500."""
    from django.contrib import admin as django_admin
    from django.urls import NoReverseMatch, reverse

    failed = []
    for model in django_admin.site._registry:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        if (status := admin.get(url).status_code) != 200:
            failed.append((url, status))
        try:
            add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
        except NoReverseMatch:
            continue
        if (status := admin.get(add).status_code) not in (200, 403):
            failed.append((add, status))
    assert len(django_admin.site._registry) > 10
    assert not failed, failed


def change_form_data(response) -> dict[str, object]:
    """What the admin's change page would post back unchanged: its form's and its inlines'
    values with their management forms (a test changes one value, then posts)."""
    data: dict[str, object] = {}

    def put(form) -> None:
        for name, field in form.fields.items():
            value = form[name].value()
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            if hasattr(field, "widget") and getattr(field.widget, "widgets", None):
                for index, part in enumerate(field.widget.decompress(value)):
                    data[f"{form.add_prefix(name)}_{index}"] = "" if part is None else part
                continue
            data[form.add_prefix(name)] = value

    put(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        for form in formset.forms:
            put(form)
    return data


def test_the_admin_saves_an_open_visit_on_its_unit_as_visits_spell_it(admin) -> None:
    """The admin is a way in too: a unit typed in another case or with other spaces is saved
    as visits spell it (registration.services.unit_as_known), as the desk and HL7 save it."""
    factories.encounter_create(unit="Infusion Center")
    visit = factories.encounter_create(unit="Oncology Day Unit")
    url = f"/admin/mar/encounter/{visit.pk}/change/"
    data = change_form_data(admin.get(url))
    data["unit"] = "  infusion   CENTER "
    response = admin.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    visit.refresh_from_db()
    assert visit.unit == "Infusion Center"
