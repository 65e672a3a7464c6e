"""An allergy override whose warning is a cross-sensitivity only (a penicillin allergy and a
cephalosporin or carbapenem: safety.CROSS_SENSITIVITIES) is its own kind, "Cross-sensitivity",
not "Allergy": recorded so at order entry, verification and the start
(`safety.allergy_override_kind`; tests/mar/test_allergy_warnings.py checks each), counted and
filtered apart on the pharmacist's overrides report. The overrides recorded before are relabelled
by migration mar 0027 where the message shown says so (it begins "Cross-sensitivity: " after
the stage's prefix); a warning with a direct match stays "Allergy"."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import SafetyOverride
from mar.services import safety
from tests import factories

pytestmark = pytest.mark.django_db

DIRECT = "Allergy: penicillin (rash) matches piperacillin-tazobactam (penicillin class)."
CROSS = (
    "Cross-sensitivity: patient allergic to penicillin class; ceftriaxone is a cephalosporin — "
    "low but real cross-reactivity."
)
BOTH = f"{DIRECT} {CROSS}"


@pytest.mark.parametrize(
    ("warning", "kind"),
    [(DIRECT, "allergy"), (CROSS, "cross_sensitivity"), (BOTH, "allergy")],
)
def test_the_kind_is_cross_sensitivity_only_when_no_direct_match_is_warned(warning, kind) -> None:
    assert safety.allergy_override_kind(warning) == kind


def _override(kind: str, message: str, username: str, unit: str = "Infusion") -> SafetyOverride:
    encounter = factories.encounter_create(
        patient=factories.patient_create(allergies="penicillin (rash)"),
        arrived_at=timezone.now() - timedelta(hours=1),
        unit=unit,
    )
    user = User.objects.filter(username=username).first() or factories.user_create(
        username=username, role=roles.NURSE
    )
    return SafetyOverride.objects.create(
        encounter=encounter, kind=kind, message=message, reason="tolerated 2023", by=user
    )


def _rows(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</table>", start)]


def test_the_report_counts_a_cross_sensitivity_apart_from_an_allergy(client_as) -> None:
    _override("allergy", DIRECT, "nurse-a")
    _override("cross_sensitivity", CROSS, "nurse-a")
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:overrides")).content.decode()
    by_nurse = _rows(html, "by-nurse")
    assert '<td>nurse-a</td><td>Allergy</td><td class="text-end">1</td>' in by_nurse
    assert '<td>nurse-a</td><td>Cross-sensitivity</td><td class="text-end">1</td>' in by_nurse
    assert "<td>Cross-sensitivity</td>" in _rows(html, "other-overrides")


def test_the_report_filters_by_kind_counts_and_list_alike(client_as) -> None:
    _override("allergy", DIRECT, "nurse-a")
    _override("cross_sensitivity", CROSS, "nurse-b")
    client = client_as(roles.PHARMACIST)
    html = client.get(reverse("pharmacy:overrides"), {"kind": "cross_sensitivity"}).content
    html = html.decode()
    assert '<option value="cross_sensitivity" selected>Cross-sensitivity</option>' in html
    assert "nurse-b" in _rows(html, "by-nurse") and "nurse-a" not in _rows(html, "by-nurse")
    assert "nurse-a" not in _rows(html, "other-overrides")
    assert 'data-testid="emergency-starts"' not in html  # another kind: not listed
    every = client.get(reverse("pharmacy:overrides"), {"kind": "nonsense"}).content.decode()
    assert "nurse-a" in every and "nurse-b" in every  # an unknown kind shows all


def test_the_migration_relabels_the_cross_sensitivity_only_overrides_recorded_before() -> None:
    """mar 0027: the message says what was shown; one beginning "Cross-sensitivity: " after the
    stage's prefix was a cross-sensitivity only. Direct matches, with a cross-sensitivity
    besides or not, and other kinds stay as they were."""
    migration = importlib.import_module("mar.migrations.0027_override_cross_sensitivity")
    rows = {
        "start": _override("allergy", CROSS, "n1"),
        "entry": _override("allergy", f"At order entry: {CROSS}", "n2"),
        "verification": _override("allergy", f"At verification: {CROSS}", "n3"),
        "direct": _override("allergy", f"At order entry: {BOTH}", "n4"),
        "scan": _override("wrong_drug", "Cross-sensitivity: not a warning", "n5"),
    }
    migration.relabel(apps, SimpleNamespace(connection=connection))
    kinds = {name: SafetyOverride.objects.get(pk=row.pk).kind for name, row in rows.items()}
    assert kinds == {
        "start": "cross_sensitivity",
        "entry": "cross_sensitivity",
        "verification": "cross_sensitivity",
        "direct": "allergy",
        "scan": "wrong_drug",
    }
    migration.unlabel(apps, SimpleNamespace(connection=connection))
    assert not SafetyOverride.objects.filter(kind="cross_sensitivity").exists()
