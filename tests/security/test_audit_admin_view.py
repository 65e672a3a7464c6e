"""The admin role reads the audit trail in the Django admin (admin › Pghistory › Middleware
events), and no one changes or deletes an event there (migration audit 0019)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from mar import roles
from mar.audit.models import EVENTS
from mar.models import Drug
from tests import factories

pytestmark = pytest.mark.django_db
EVENTS_ADMIN = "the events admin is installed with the audit trail, on PostgreSQL only"

EVENTS_LIST = "/admin/pghistory/middlewareevents/"
GRANT = importlib.import_module("mar.audit.migrations.0019_admin_role_views_events")


@pytest.fixture(autouse=True)
def _migrated_grants() -> None:
    """The grant as migrated. A browser test's flush (transaction=True) earlier in the same run
    empties the group's permissions, which a new database never lacks: run the migration's own
    function again (it is idempotent) so this file tests what `migrate` leaves."""
    GRANT.grant(apps, None)


@pytest.fixture
def admin_staff(admin_role_user: User) -> Client:
    """An administrator by role: staff, the admin group, not a superuser."""
    assert admin_role_user.is_staff and not admin_role_user.is_superuser
    client = Client()
    client.force_login(admin_role_user)
    return client


@pytest.fixture
def drug_event() -> str:
    """A drug's HCPCS code changed: its audited update, by the events admin's slug."""
    drug = factories.drug_get("ondansetron")
    Drug.objects.filter(pk=drug.pk).update(hcpcs_code="J2405")
    event = EVENTS[Drug].objects.filter(pgh_obj_id=drug.pk).order_by("-pgh_id").first()
    assert event is not None
    return f"{event._meta.label}:{event.pk}"


def test_the_admin_group_may_view_the_events_and_nothing_else() -> None:
    group = Group.objects.get(name=roles.ADMIN)
    granted = set(
        group.permissions.filter(content_type__app_label="pghistory").values_list(
            "codename", flat=True
        )
    )
    assert granted == {"view_middlewareevents"}
    assert not group.permissions.filter(content_type__app_label="audit").exists()


def test_the_grant_is_idempotent() -> None:
    GRANT.grant(apps, None)
    group = Group.objects.get(name=roles.ADMIN)
    assert group.permissions.filter(codename="view_middlewareevents").count() == 1


@pytest.mark.postgresql(EVENTS_ADMIN)
def test_an_admin_who_is_not_a_superuser_reads_the_events_list(
    admin_staff: Client, drug_event: str
) -> None:
    index = admin_staff.get("/admin/")
    assert index.status_code == 200
    assert EVENTS_LIST in index.content.decode()  # listed on the admin's index
    page = admin_staff.get(EVENTS_LIST, {"event_model": "audit.drugevent"})
    assert page.status_code == 200
    assert "J2405" in page.content.decode()
    detail = admin_staff.get(
        reverse("admin:pghistory_middlewareevents_change", args=[quote(drug_event)])
    )
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()  # read-only


def test_the_admin_role_holds_view_but_not_add_change_or_delete(admin_role_user: User) -> None:
    user = User.objects.get(pk=admin_role_user.pk)  # a fresh permission cache
    assert user.has_perm("pghistory.view_middlewareevents")
    for action in ("add", "change", "delete"):
        assert not user.has_perm(f"pghistory.{action}_middlewareevents")


def test_a_nurse_is_refused_the_events_list(client_as) -> None:
    response = client_as(roles.NURSE).get(EVENTS_LIST, follow=True)
    assert response.status_code == 403
    assert "J2405" not in response.content.decode()


@pytest.mark.postgresql(EVENTS_ADMIN)
def test_a_staff_user_without_the_admin_role_is_refused_the_events_list() -> None:
    nurse = factories.user_create(username="staffnurse", role=roles.NURSE)
    nurse.is_staff = True
    nurse.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(nurse)
    assert client.get(EVENTS_LIST).status_code == 403


@pytest.mark.parametrize("who", ["admin role", "superuser"])
@pytest.mark.postgresql(EVENTS_ADMIN)
def test_no_one_adds_changes_or_deletes_an_event_in_the_admin(
    admin_staff: Client, drug_event: str, who: str
) -> None:
    client = admin_staff
    if who == "superuser":
        client = Client()
        client.force_login(User.objects.create_superuser("root", password=factories.PASSWORD))
    slug = quote(drug_event)
    change = reverse("admin:pghistory_middlewareevents_change", args=[slug])
    delete = reverse("admin:pghistory_middlewareevents_delete", args=[slug])
    add = reverse("admin:pghistory_middlewareevents_add")
    assert client.post(change, {"pgh_label": "forged"}).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(add).status_code == 403
    assert EVENTS[Drug].objects.filter(pk=drug_event.split(":")[1]).exists()
    # No bulk delete action on the list either.
    page = client.get(EVENTS_LIST, {"event_model": "audit.drugevent"})
    assert "delete_selected" not in page.content.decode()
