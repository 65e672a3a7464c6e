"""The start's gates (mar/services/safety.py): verification of high-alert orders, allergies,
the chemotherapy double check by a second nurse."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from mar import roles
from mar.models import DrugClass, SafetyOverride
from mar.services import safety
from mar.services.charting import ChartError
from tests import factories

pytestmark = pytest.mark.django_db


def _start(order, user, **checks):
    return safety.administration_start_checked(
        order=order, site=None, start=timezone.now(), method="infusion", user=user,
        checks=safety.StartChecks(**checks),
    )  # fmt: skip


@pytest.fixture
def chemo_order():
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    return factories.order_create(
        encounter, factories.drug_get("carboplatin", DrugClass.CHEMO), dose="500 mg"
    )


def test_an_unverified_chemo_order_needs_an_emergency_reason(chemo_order, nurse_user) -> None:
    second = factories.user_create(username="nurse2", role=roles.NURSE)
    with pytest.raises(ChartError) as refused:
        _start(chemo_order, nurse_user, second_nurse=second, double_check_confirmed=True)
    assert "emergency_reason" in refused.value.errors
    adm = _start(
        chemo_order, nurse_user, second_nurse=second, double_check_confirmed=True,
        emergency_reason="septic, oncologist at bedside",
    )  # fmt: skip
    override = SafetyOverride.objects.get(kind="unverified")
    assert (override.order, override.administration, override.by) == (chemo_order, adm, nurse_user)


def test_a_verified_chemo_order_needs_the_second_nurse(
    chemo_order, nurse_user, pharmacist_user
) -> None:
    chemo_order.verified_by, chemo_order.verified_at = pharmacist_user, timezone.now()
    chemo_order.save()
    with pytest.raises(ChartError) as refused:
        _start(chemo_order, nurse_user)
    assert "second_password" in refused.value.errors
    with pytest.raises(ChartError) as refused:
        _start(chemo_order, nurse_user, second_nurse=nurse_user, double_check_confirmed=True)
    assert "another nurse" in refused.value.errors["second_username"][0]
    with pytest.raises(ChartError) as refused:
        _start(chemo_order, nurse_user, second_nurse=pharmacist_user, double_check_confirmed=True)
    assert "by a nurse" in refused.value.errors["second_username"][0]
    second = factories.user_create(username="nurse2", role=roles.NURSE)
    with pytest.raises(ChartError):
        _start(chemo_order, nurse_user, second_nurse=second)  # not confirmed
    adm = _start(chemo_order, nurse_user, second_nurse=second, double_check_confirmed=True)
    assert (adm.created_by, adm.double_checked_by) == (nurse_user, second)
    assert adm.double_checked_at is not None
    assert not SafetyOverride.objects.exists()


@pytest.mark.parametrize("superuser", [False, True], ids=["admin-role", "superuser"])
def test_the_double_check_is_by_a_nurse_not_by_an_administrator(
    chemo_order, nurse_user, pharmacist_user, superuser
) -> None:
    """QA: the demo's `admin` (a superuser in the admin group, not a nurse) passed the chemotherapy
    double check ("Double check: nurse and admin"): the administrator's access to every page is
    not a nurse's co-signature (ISMP: an independent double check by a second practitioner)."""
    chemo_order.verified_by, chemo_order.verified_at = pharmacist_user, timezone.now()
    chemo_order.save()
    admin = factories.user_create(username="admin2", role=roles.ADMIN)
    if superuser:
        admin.is_superuser = admin.is_staff = True
        admin.save()
    with pytest.raises(ChartError) as refused:
        _start(chemo_order, nurse_user, second_nurse=admin, double_check_confirmed=True)
    assert "by a nurse" in refused.value.errors["second_username"][0]
    # An administrator who is also a nurse co-signs as the nurse she is.
    admin.groups.add(Group.objects.get_or_create(name=roles.NURSE)[0])
    admin = type(admin).objects.get(pk=admin.pk)  # her roles read afresh (kept per request)
    adm = _start(chemo_order, nurse_user, second_nurse=admin, double_check_confirmed=True)
    assert adm.double_checked_by == admin


def test_a_high_alert_drug_that_is_not_chemo_needs_verification_only(nurse_user) -> None:
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=1))
    heparin = factories.drug_get("heparin")
    heparin.high_alert = True
    heparin.save()
    order = factories.order_create(encounter, heparin, dose="5000 units")
    with pytest.raises(ChartError) as refused:
        _start(order, nurse_user)
    assert list(refused.value.errors) == ["emergency_reason"]


@pytest.mark.parametrize(
    ("allergies", "matches"),
    [
        ("Carboplatin (anaphylaxis 2024)", ["carboplatin"]),
        ("platinum; sulfa", ["platinum"]),
        ("penicillin, latex", []),
        ("", []),
    ],
)
def test_allergies_match_the_drug_or_its_allergy_class(allergies, matches) -> None:
    drug = factories.drug_get("carboplatin", DrugClass.CHEMO)
    drug.allergy_classes = "platinum compounds"
    patient = factories.patient_create(allergies=allergies)
    assert safety.allergy_matches(patient, drug) == matches


def test_an_allergy_needs_an_override_reason(nurse_user) -> None:
    patient = factories.patient_create(allergies="ondansetron (QT prolongation)")
    encounter = factories.encounter_create(
        patient=patient, arrived_at=timezone.now() - timedelta(hours=1)
    )
    order = factories.order_create(encounter, factories.drug_get("ondansetron"), dose="8 mg")
    with pytest.raises(ChartError) as refused:
        _start(order, nurse_user)
    assert "Allergy" in refused.value.errors["allergy_reason"][0]
    _start(order, nurse_user, allergy_reason="intolerance only, prescriber aware")
    assert SafetyOverride.objects.get().kind == "allergy"
