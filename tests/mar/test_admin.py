"""The Django admin shows the clinical record read-only: patients, encounters (signed or
open) with their sites and orders, administrations with their pauses, flushes and addenda are
viewable for support, never added, changed or deleted there (never a 500 either)."""

import pytest
from django.contrib.auth.models import User

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


def open_record():
    """An open visit with a site, orders not verified, administrations (one with a pause) and
    a flush: each a row of the admin's clinical pages."""
    from datetime import timedelta

    from mar.models import Pause

    encounter = factories.chemo_encounter_create()
    administration = encounter.administrations.first()
    Pause.objects.create(
        administration=administration,
        start=administration.start + timedelta(minutes=5),
        end=administration.start + timedelta(minutes=10),
    )
    return encounter


def clinical_rows(encounter) -> list[tuple]:
    """What the admin must not change: the patient, the visit, its sites, orders (with who
    verified them), administrations, pauses and flushes."""
    from mar.models import Flush, Pause

    patient = encounter.patient
    return [
        (patient.mrn, patient.name, patient.birth_date, patient.updated_at),
        tuple(type(encounter).objects.filter(pk=encounter.pk).values_list().get()),
        *encounter.sites.values_list(),
        *encounter.orders.values_list(),
        *encounter.administrations.values_list(),
        *Pause.objects.filter(administration__encounter=encounter).values_list(),
        *Flush.objects.filter(encounter=encounter).values_list(),
    ]


def typed_fields(html: str) -> list[str]:
    """The fields of the page's form one could type in or choose (not hidden ones)."""
    import re

    form = html[html.index('id="content-main"') :]
    return [
        tag
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", form)
        if 'type="hidden"' not in tag
    ]


def test_the_admin_shows_an_open_record_read_only(admin) -> None:
    """The services are the only way in: registration's MRN checks (a patient's MRN never held
    twice, checked and said beside the field), the unit as visits spell it, an order entered on
    a provider's behalf and verified only by a pharmacist's check mark (pharmacy's
    `order_verify`), and the charting audit (each change checked by the engine, its summary
    stored, its context kept). Before, the admin edited a patient, an open encounter with its
    sites and orders (`verified_by` too), an administration with its pauses and a flush
    directly: this test asserted that the open encounter's page offered a save."""
    from mar.models import Flush

    encounter = open_record()
    administration = encounter.administrations.first()
    pages = {
        "patient": encounter.patient_id,
        "encounter": encounter.pk,
        "administration": administration.pk,
        "flush": Flush.objects.filter(encounter=encounter).first().pk,
    }
    before = clinical_rows(encounter)
    for model, pk in pages.items():
        url = f"/admin/mar/{model}/{pk}/change/"
        page = admin.get(url)
        assert page.status_code == 200, url  # viewable for support
        html = page.content.decode()
        assert 'name="_save"' not in html, url
        assert not typed_fields(html), (url, typed_fields(html))
        # A forged save, the page's own data posted back changed, is refused (403).
        data = change_form_data(page)
        assert admin.post(url, data).status_code == 403, url
        assert admin.post(f"/admin/mar/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
        assert admin.get(f"/admin/mar/{model}/add/").status_code == 403, model
    assert clinical_rows(encounter) == before


def test_the_admin_cannot_verify_an_order_or_change_a_visit_behind_the_services(
    admin, pharmacist_user
) -> None:
    """An order's `verified_by` set in the encounter's order inline, and the visit's unit
    changed, posted as the old change form would: refused, nothing saved."""
    encounter = open_record()
    order = encounter.orders.first()
    assert order.verified_by_id is None
    before = clinical_rows(encounter)
    url = f"/admin/mar/encounter/{encounter.pk}/change/"
    forged = {
        "patient": encounter.patient_id,
        "unit": "Somewhere else",
        "status": "in_progress",
        "orders-TOTAL_FORMS": "1",
        "orders-INITIAL_FORMS": "1",
        "orders-0-id": order.pk,
        "orders-0-encounter": encounter.pk,
        "orders-0-drug": order.drug_id,
        "orders-0-verified_by": pharmacist_user.pk,
        "orders-0-verified_at_0": "2026-03-02",
        "orders-0-verified_at_1": "09:00:00",
    }
    assert admin.post(url, forged).status_code == 403
    assert clinical_rows(encounter) == before
    order.refresh_from_db()
    assert (order.verified_by_id, order.verified_at) == (None, None)


def test_no_clinical_model_offers_add_change_or_delete_in_the_admin(admin) -> None:
    """Each clinical model admin and inline, asked by a superuser: view only."""
    from django.contrib import admin as django_admin
    from django.test import RequestFactory

    from mar import models

    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(username="root")
    registry = django_admin.site._registry
    checked = []
    for model in (models.Patient, models.Encounter, models.Administration, models.Flush):
        model_admin = registry[model]
        for each in (model_admin, *model_admin.get_inline_instances(request)):
            checked.append(each.model.__name__)
            assert each.has_view_permission(request), each
            assert not each.has_add_permission(request, None), each
            assert not each.has_change_permission(request), each
            assert not each.has_delete_permission(request), each
    assert registry[models.Addendum].has_view_permission(request)
    assert not registry[models.Addendum].has_change_permission(request)
    assert sorted(checked) == [
        "AccessSite", "Administration", "Encounter", "Flush", "Order", "Patient", "Pause",
    ]  # fmt: skip


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
