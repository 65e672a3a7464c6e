"""The payer policy screen (coding/payer_views.py): an admin or a coding lead (a coder granted
mar.add_payerpolicy) edits a payer's profile with a reason, saved as a new version that
re-codes the payer's encounters not yet exported; nurses, pharmacists and plain coders 403."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from coding.models import ChargeOutbox, ChargeRun
from mar import roles
from mar.models import Payer, PayerPolicy, policy_defaults
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db


@pytest.fixture
def payer() -> Payer:
    return Payer.objects.create(name="Acme Health", financial_class="commercial")


def lead_client(client):
    lead = factories.user_create(username="lead1", role=roles.CODER)
    lead.user_permissions.add(Permission.objects.get(codename="add_payerpolicy"))
    client.force_login(lead)
    return client, lead


def posted(**changes):
    data = {k: str(v) for k, v in policy_defaults().items()}
    data.update({k: str(v) for k, v in changes.items()})
    return data


@pytest.mark.parametrize("role", [roles.NURSE, roles.PHARMACIST, roles.CODER, roles.CLERK])
def test_only_an_admin_or_a_coding_lead_opens_the_edit_screen(client_as, payer, role) -> None:
    url = reverse("coding:payer_policy", args=[payer.pk])
    assert client_as(role).get(url).status_code == 403
    assert client_as(role).post(url, posted(reason="contract renewal")).status_code == 403
    assert not PayerPolicy.objects.filter(payer=payer).exists()


def test_nurses_and_pharmacists_do_not_see_the_payer_list(client_as) -> None:
    url = reverse("coding:payers")
    assert client_as(roles.NURSE).get(url).status_code == 403
    assert client_as(roles.PHARMACIST).get(url).status_code == 403
    assert client_as(roles.CODER).get(url).status_code == 200


def test_a_coding_lead_saves_a_new_version_with_the_reason_and_recodes(client, payer) -> None:
    encounter, _, _ = reviewed(payer=payer)
    client, lead = lead_client(client)
    url = reverse("coding:payer_policy", args=[payer.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, posted(second_site_modifier="XU", reason="payer bulletin 2026-11"), follow=True
    )
    assert response.status_code == 200
    policy = PayerPolicy.objects.get(payer=payer)
    assert (policy.version, policy.values["second_site_modifier"], policy.reason) == (
        1, "XU", "payer bulletin 2026-11",
    )  # fmt: skip
    assert policy.by == lead
    assert "v1 saved; 1 encounter not yet exported is being re-coded" in response.content.decode()
    queued = ChargeOutbox.objects.get(encounter=encounter, kind=ChargeRun.Trigger.POLICY_CHANGE)
    assert "payer bulletin 2026-11" in queued.reason


def test_the_admin_saves_too_and_the_same_values_add_no_version(client_as, payer) -> None:
    client = client_as(roles.ADMIN)
    url = reverse("coding:payer_policy", args=[payer.pk])
    client.post(url, posted(concurrent_min_overlap=0, reason="any overlap"))
    client.post(url, posted(concurrent_min_overlap=0, reason="again"))
    assert list(PayerPolicy.objects.filter(payer=payer).values_list("version", flat=True)) == [1]


def test_no_reason_or_a_value_the_engine_does_not_take_is_refused_beside_its_field(
    client_as, payer
) -> None:
    client = client_as(roles.ADMIN)
    url = reverse("coding:payer_policy", args=[payer.pk])
    page = client.post(url, posted(reason="", facility_pump_code="J9999"))
    text = page.content.decode()
    assert page.status_code == 200
    assert "J9999" in text and "not one of the available choices" in text
    assert "Say why the policy changes: the reason is kept with it." in text
    assert not PayerPolicy.objects.filter(payer=payer).exists()
    page = client.post(url, posted(reason="contract renewal", split_dose_window_minutes=99999))
    assert "less than or equal to 1440" in page.content.decode()
    assert not PayerPolicy.objects.filter(payer=payer).exists()


# --- every coder reads the policy's values (README: coders "read the payers' coding policy") ---


def test_a_coder_reads_each_policys_values_in_words_without_an_edit(client_as, payer) -> None:
    """QA: the payers page showed only the version and the reason, and /policy/ is 403 for a
    coder. The page now says each value and what it means; no edit link, no form, and the edit
    screen stays 403 for a plain coder."""
    from coding.payer_views import POLICY_LABELS

    PayerPolicy.objects.create(
        payer=payer, version=1, values={**policy_defaults(), "second_site_modifier": "XU",
                                        "concurrent_min_overlap": 0},
        reason="payer bulletin 2026-11",
    )  # fmt: skip
    Payer.objects.create(name="Blue Plan", financial_class="commercial")  # no policy: defaults
    client = client_as(roles.CODER)
    page = client.get(reverse("coding:payers")).content.decode()
    for label in POLICY_LABELS.values():
        assert label.replace("'", "&#x27;") in page
    assert "<strong>XU</strong>: XU (unusual non-overlapping service) on the second site" in page
    assert "(default 59)" in page
    assert "<strong>0</strong>: any overlap makes a concurrent infusion" in page
    assert "Blue Plan: the policy's values (the rules' defaults)" in page
    assert "<strong>16</strong>: 16 minutes of overlap or more make a concurrent infusion" in page
    assert "Edit policy" not in page and "<form" not in page.split("<main", 1)[-1]
    url = reverse("coding:payer_policy", args=[payer.pk])
    assert client.get(url).status_code == 403


def test_whoever_edits_reads_the_values_and_has_the_edit(client, client_as, payer) -> None:
    for who in (lead_client(client)[0], client_as(roles.ADMIN)):
        page = who.get(reverse("coding:payers")).content.decode()
        assert "Edit policy" in page
        assert reverse("coding:payer_policy", args=[payer.pk]) in page
        assert "<strong>59</strong>: 59 (distinct procedural service)" in page


def test_a_quoted_reason_ends_at_its_last_character(client_as, payer) -> None:
    """QA: “... defaults ” — the reason's quote closed after a stray space (the clamp's
    template's final newline)."""
    PayerPolicy.objects.create(
        payer=payer, version=1, values=policy_defaults(), reason="back to the defaults"
    )
    page = client_as(roles.CODER).get(reverse("coding:payers")).content.decode()
    assert "“back to the defaults”" in page
    long = "x" * 200
    PayerPolicy.objects.create(payer=payer, version=2, values=policy_defaults(), reason=long)
    page = client_as(roles.CODER).get(reverse("coding:payers")).content.decode()
    assert f"{long}</span></details>”" in page
