"""Drugs the drug lines cannot bill (no HCPCS code, or no billing unit) are the pharmacist's to
fix, told before the coder's CLAIM-HCPCS (QA walkthrough: teprotumumab tagged Chemotherapy with
no code left the worklist, was given and signed, and the claim went with 96409/96413 only).

The worklist's "Not billable" section lists them, those already given on signed visits first,
until the billing data is added; the tag form and the drug form say beside the HCPCS code that
the drug will not be charged while it is empty."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from mar import roles
from mar.models import Drug, DrugClass, Encounter
from mar.pharmacy.services import (
    drug_billing_gap,
    drug_retire,
    drug_save,
    drugs_not_billable,
)
from tests import factories
from tests.mar.pharmacy.test_queries import queries

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
EVIDENCE = "IGF-1R antagonist per FDA label mechanism of action"


def drug_of(name: str, drug_class: str | None, *, hcpcs: str = "", unit: str = "") -> Drug:
    drug = factories.drug_get(name, drug_class)
    amount, _, unit_name = unit.partition(" ")
    drug.hcpcs_code = hcpcs
    drug.billing_unit_amount = Decimal(amount) if amount else None
    drug.billing_unit = unit_name
    drug.save(update_fields=["hcpcs_code", "billing_unit_amount", "billing_unit"])
    return drug


def given(drug: Drug, *, signed: bool) -> Encounter:
    """A visit that ordered and gave `drug`, signed or still open."""
    encounter = factories.encounter_create(arrived_at=timezone.now() - timedelta(hours=3))
    order = factories.order_create(encounter, drug)
    start = timezone.now() - timedelta(hours=2)
    factories.administration_create(
        encounter, order, site=None, start=start, stop=start + timedelta(hours=1)
    )
    if signed:
        Encounter.objects.filter(pk=encounter.pk).update(status=Encounter.Status.SIGNED)
    return encounter


def ordered(drug: Drug) -> None:
    factories.order_create(factories.encounter_create(), drug)


# --- services ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hcpcs", "amount", "gap"),
    [
        ("", None, "no HCPCS code"),
        ("  ", Decimal("10"), "no HCPCS code"),
        ("J3241", None, "no billing unit"),
        ("J3241", Decimal("10"), ""),
    ],
)
def test_the_drug_line_needs_both_the_hcpcs_code_and_the_billing_unit(hcpcs, amount, gap) -> None:
    """As coding/drug_lines.py skips a drug: no code, or no billing unit amount."""
    assert drug_billing_gap(hcpcs=hcpcs, billing_unit_amount=amount) == gap


def test_only_classified_drugs_not_billed_in_units_are_listed_and_not_hydration() -> None:
    drug_of("teprotumumab", DrugClass.CHEMO)
    drug_of("unitless", DrugClass.THERAPEUTIC, hcpcs="J9999")
    drug_of("billed", DrugClass.CHEMO, hcpcs="J9045", unit="50 mg")
    drug_of("saline", DrugClass.HYDRATION)
    drug_of("untagged", None)  # the worklist's untagged list holds it, its card says it
    assert [d.name for d in drugs_not_billable()] == ["teprotumumab", "unitless"]


def test_drugs_given_on_signed_visits_come_first_then_given_then_ordered_then_by_name() -> None:
    idle = drug_of("a-idle", DrugClass.CHEMO)
    only_ordered = drug_of("b-ordered", DrugClass.CHEMO)
    open_given = drug_of("c-given-open", DrugClass.CHEMO)
    signed_once = drug_of("d-signed-once", DrugClass.CHEMO)
    signed_twice = drug_of("e-signed-twice", DrugClass.THERAPEUTIC)
    ordered(only_ordered)
    given(open_given, signed=False)
    given(signed_once, signed=True)
    given(signed_twice, signed=True)
    given(signed_twice, signed=True)
    listed = list(drugs_not_billable())
    assert [d.name for d in listed] == [
        signed_twice.name,
        signed_once.name,
        open_given.name,
        only_ordered.name,
        idle.name,
    ]
    counts = {d.name: (d.signed_given_count, d.given_count, d.visit_count) for d in listed}
    assert counts[signed_twice.name] == (2, 2, 2)
    assert counts[open_given.name] == (0, 1, 1)
    assert counts[only_ordered.name] == (0, 0, 1)


def test_a_drug_stays_listed_until_its_code_and_billing_unit_are_added(pharmacist_user) -> None:
    drug = drug_of("teprotumumab", DrugClass.CHEMO)
    unitless = drug_of("legacy", DrugClass.CHEMO, hcpcs="J3590")  # kept from before the checks
    given(drug, signed=True)
    assert [d.name for d in drugs_not_billable()] == ["teprotumumab", "legacy"]
    drug_save(
        drug=drug, name=drug.name, synonyms="", note="", user=pharmacist_user,
        hcpcs="J3241", billing_unit="10 mg", reason="code effective Jan 1, label per 10 mg",
    )  # fmt: skip
    assert [d.name for d in drugs_not_billable()] == ["legacy"]
    drug_save(
        drug=unitless, name=unitless.name, synonyms="", note="", user=pharmacist_user,
        hcpcs="J3590", billing_unit="1 mg", reason="billing unit from the label",
    )  # fmt: skip
    assert list(drugs_not_billable()) == []


def test_a_retired_drug_is_listed_only_while_an_order_names_it(pharmacist_user) -> None:
    unused = drug_of("retired-unused", DrugClass.CHEMO)
    still_given = drug_of("retired-given", DrugClass.CHEMO)
    given(still_given, signed=True)
    for drug in (unused, still_given):
        drug_retire(drug=drug, reason="no longer stocked here", user=pharmacist_user)
    assert [d.name for d in drugs_not_billable()] == ["retired-given"]


# --- the worklist ------------------------------------------------------------------------


def test_the_worklist_lists_a_drug_not_billable_with_what_it_lacks_and_its_signed_visits(
    client_as,
) -> None:
    drug = drug_of("teprotumumab", DrugClass.CHEMO)
    given(drug, signed=True)
    drug_of("billed", DrugClass.CHEMO, hcpcs="J9045", unit="50 mg")
    response = client_as(roles.PHARMACIST).get(reverse("pharmacy:worklist"))
    assert [d.name for d in response.context["not_billable"]] == ["teprotumumab"]
    html = response.content.decode()
    assert 'data-not-billable="teprotumumab"' in html
    assert 'data-not-billable="billed"' not in html
    assert (
        '<span class="text-warning-emphasis fw-semibold" data-testid="billing-gap">No HCPCS code'
        in html
    )
    assert "1 signed visit with the drug not charged" in html
    assert reverse("pharmacy:drug_edit", args=[drug.pk]) in html


def test_tagging_a_drug_with_no_code_says_it_will_not_be_charged_and_lists_it(client_as) -> None:
    """The QA walkthrough: the tag alone no longer reads as billing done."""
    drug = drug_of("teprotumumab", None)
    ordered(drug)
    client = client_as(roles.PHARMACIST)
    card = client.get(reverse("pharmacy:worklist")).content.decode()
    assert 'data-testid="tag-not-charged"' in card
    assert "teprotumumab has no HCPCS code: it will not be charged." in card
    done = client.post(
        reverse("pharmacy:drug_class", args=[drug.pk]),
        {"drug_class": DrugClass.CHEMO, "reason": EVIDENCE, "origin": "worklist"},
        **HTMX,
    ).content.decode()
    assert "It has no HCPCS code, so it will not be charged" in done
    after = client.get(reverse("pharmacy:worklist"))
    assert [d.name for d in after.context["untagged"]] == []
    assert [d.name for d in after.context["not_billable"]] == ["teprotumumab"]


def test_the_tags_answer_redraws_the_not_billable_panel_with_the_drug_in_it(client_as) -> None:
    """QA: the answer said "listed under 'Not billable'" while the panel on the same screen
    still showed 0 until reload: the answer carries the panel, out of band, as it is now."""
    drug = drug_of("teprotumumab", None)
    ordered(drug)
    client = client_as(roles.PHARMACIST)
    before = client.get(reverse("pharmacy:worklist")).content.decode()
    assert 'data-testid="not-billable-count">0<' in before
    assert 'id="not-billable-panel"' in before
    done = client.post(
        reverse("pharmacy:drug_class", args=[drug.pk]),
        {"drug_class": DrugClass.CHEMO, "reason": EVIDENCE, "origin": "worklist"},
        **HTMX,
    ).content.decode()
    panel = done[done.index('<div id="not-billable-panel"') :]
    assert panel.startswith(
        '<div id="not-billable-panel" data-testid="not-billable-panel" hx-swap-oob="true">'
    )
    assert 'data-testid="not-billable-count">1<' in panel
    assert 'data-not-billable="teprotumumab"' in panel


def test_the_tag_form_says_nothing_of_charges_for_a_drug_billed_in_units(client_as) -> None:
    drug = drug_of("pembrolizumab", None, hcpcs="J9271", unit="1 mg")
    ordered(drug)
    client = client_as(roles.PHARMACIST)
    assert (
        'data-testid="tag-not-charged"'
        not in client.get(reverse("pharmacy:worklist")).content.decode()
    )
    page = client.get(reverse("pharmacy:drug_class", args=[drug.pk])).content.decode()
    assert 'data-testid="tag-not-charged"' not in page


def test_the_tag_page_without_javascript_says_it_too(client_as) -> None:
    drug = drug_of("teprotumumab", None, hcpcs="J3241")
    page = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug_class", args=[drug.pk]))
    assert "teprotumumab has no billing unit: it will not be charged." in page.content.decode()


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER])
def test_only_the_pharmacist_sees_the_not_billable_list(client_as, role) -> None:
    drug_of("teprotumumab", DrugClass.CHEMO)
    assert client_as(role).get(reverse("pharmacy:worklist")).status_code == 403


def test_the_worklist_reads_a_fixed_number_of_queries_however_many_drugs_are_not_billable(
    client_as,
) -> None:
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:worklist")

    def add(n: int) -> None:
        for i in range(n):
            given(drug_of(f"signed {n}-{i}", DrugClass.CHEMO), signed=True)
            given(drug_of(f"open {n}-{i}", DrugClass.THERAPEUTIC, hcpcs="J3590"), signed=False)
            ordered(drug_of(f"untagged {n}-{i}", None))

    add(1)
    client.get(url)  # the session's first push of its idle expiry (config/session.py)
    few = queries(client, url)
    add(5)
    assert len(client.get(url).context["not_billable"]) == 12
    assert queries(client, url) == few


# --- the drug form -----------------------------------------------------------------------


def test_the_drug_form_says_beside_an_empty_hcpcs_code_that_the_drug_will_not_be_charged(
    client_as,
) -> None:
    drug = drug_of("teprotumumab", DrugClass.CHEMO)
    html = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug_edit", args=[drug.pk]))
    html = html.content.decode()
    assert 'data-testid="hcpcs-not-charged"' in html
    assert "teprotumumab has no HCPCS code: it will not be charged." in html
    assert 'aria-describedby="hcpcs-not-charged"' in html


def test_the_drug_form_says_nothing_when_the_code_and_unit_are_there_or_for_a_fluid(
    client_as,
) -> None:
    client = client_as(roles.PHARMACIST)
    billed = drug_of("pembrolizumab", DrugClass.CHEMO, hcpcs="J9271", unit="1 mg")
    fluid = drug_of("normal saline", DrugClass.HYDRATION)
    for drug in (billed, fluid):
        page = client.get(reverse("pharmacy:drug_edit", args=[drug.pk])).content.decode()
        assert 'data-testid="hcpcs-not-charged"' not in page


def test_a_refused_save_says_it_for_what_was_typed(client_as) -> None:
    """The code cleared without the reason the change needs: refused, and the note reads the
    form as typed (no code), not the drug as stored (a code)."""
    drug = drug_of("pembrolizumab", DrugClass.CHEMO, hcpcs="J9271", unit="1 mg")
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_edit", args=[drug.pk]),
        {"name": drug.name, "hcpcs": "", "billing_unit": "", "reason": ""},
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "pembrolizumab has no HCPCS code: it will not be charged." in response.content.decode()


def test_a_new_drug_form_says_it_before_anything_is_typed(client_as) -> None:
    page = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug_new")).content.decode()
    assert "The drug has no HCPCS code: it will not be charged." in page
