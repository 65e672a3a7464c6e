import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from mar import roles
from tests import factories


@pytest.mark.django_db
def test_the_migration_creates_a_group_per_role() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "nurse",
        "pharmacist",
        "coder",
        "admin",
        "clerk",
    }


@roles.role_required(roles.CODER)
def coder_only(request):
    return HttpResponse("ok")


@pytest.mark.django_db
def test_role_required_lets_the_role_in() -> None:
    request = RequestFactory().get("/")
    request.user = factories.user_create(username="c", role=roles.CODER)
    assert coder_only(request).status_code == 200


@pytest.mark.django_db
def test_role_required_refuses_other_roles() -> None:
    request = RequestFactory().get("/")
    request.user = factories.user_create(username="n", role=roles.NURSE)
    with pytest.raises(PermissionDenied):
        coder_only(request)


@pytest.mark.django_db
def test_role_required_lets_admins_in() -> None:
    request = RequestFactory().get("/")
    request.user = factories.user_create(username="a", role=roles.ADMIN)
    assert coder_only(request).status_code == 200


def test_role_required_rejects_unknown_role_names() -> None:
    with pytest.raises(ValueError):
        roles.role_required("surgeon")


@pytest.mark.django_db
def test_user_role_prefers_the_broader_role() -> None:
    user = factories.user_create(username="both", role=roles.NURSE)
    user.groups.add(Group.objects.get(name=roles.PHARMACIST))
    assert roles.user_role(user) == roles.PHARMACIST
