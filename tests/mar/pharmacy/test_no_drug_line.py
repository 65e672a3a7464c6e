"""No drug line, by decision: a pharmacist says a drug the drug lines cannot bill (no HCPCS code
or no billing unit) has no drug line on purpose, packaged (OPPS status indicator N, charged
under revenue code 0250 without a HCPCS line) or supplied free or by the patient (not charged),
with a reason in words. It leaves the worklist's "Not billable" list for "No drug line, by
decision" (with an undo); the coder's CLAIM-HCPCS and worklist badge are not raised for it; the
charges are unchanged (no drug line, as before). Undone, all is as before."""

import re
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from coding.claim import claim_findings, record_facts
from coding.corrections import effective_lines
from coding.models import ChargeRun
from coding.services import charge_run_generate
from mar import roles
from mar.models import Drug, DrugClass, Encounter, NoDrugLine, Order
from mar.pharmacy.services import (
    NO_LINE_NOTE_MAX,
    drug_no_line_decide,
    drug_no_line_undo,
    drug_save,
    drugs_no_line_decided,
    drugs_not_billable,
)
from tests import factories
from tests.mar.pharmacy.test_not_billable import drug_of
from tests.mar.registration.test_views import field_error

pytestmark = pytest.mark.django_db

PACKAGED = NoDrugLine.PACKAGED.value
NOTE = "packaged under OPPS, status indicator N"
BADGE = 'data-testid="drug-not-charged"'


def decide(drug: Drug, user, reason: str = PACKAGED, note: str = NOTE) -> Drug:
    return drug_no_line_decide(drug=drug, reason=reason, note=note, user=user)


# --- services ----------------------------------------------------------------------------


def test_a_decided_drug_leaves_not_billable_for_the_decided_list_and_comes_back_undone(
    pharmacist_user,
) -> None:
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    drug_of("teprotumumab", DrugClass.CHEMO)
    saved = decide(drug, pharmacist_user)
    assert [d.name for d in drugs_not_billable()] == ["teprotumumab"]
    assert [d.name for d in drugs_no_line_decided()] == ["ondansetron"]
    assert (saved.no_drug_line, saved.no_drug_line_note) == (PACKAGED, NOTE)
    assert saved.no_drug_line_by == pharmacist_user
    assert saved.no_drug_line_at is not None
    drug_no_line_undo(drug=drug, user=pharmacist_user)
    drug.refresh_from_db()
    assert (drug.no_drug_line, drug.no_drug_line_note, drug.no_drug_line_by) == ("", "", None)
    assert [d.name for d in drugs_not_billable()] == ["ondansetron", "teprotumumab"]
    assert list(drugs_no_line_decided()) == []


def test_the_decision_and_its_undo_are_in_the_audit_trail(pharmacist_user) -> None:
    from mar.audit.models import DrugEvent

    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    decide(drug, pharmacist_user)
    drug_no_line_undo(drug=drug, user=pharmacist_user)
    events = list(DrugEvent.objects.filter(pgh_obj_id=drug.pk).order_by("pgh_id"))
    assert [(e.no_drug_line, e.no_drug_line_note) for e in events[-2:]] == [
        (PACKAGED, NOTE),
        ("", ""),
    ]
    assert events[-2].no_drug_line_by_id == pharmacist_user.pk


@pytest.mark.parametrize(
    ("reason", "note", "field", "said"),
    [
        ("", NOTE, "reason", "Choose why"),
        ("free", NOTE, "reason", "Choose why"),
        (PACKAGED, "   ", "note", "Say why in words"),
    ],
)
def test_a_decision_needs_one_of_the_reasons_and_words(
    pharmacist_user, reason, note, field, said
) -> None:
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    with pytest.raises(ValidationError) as refused:
        decide(drug, pharmacist_user, reason=reason, note=note)
    assert said in refused.value.message_dict[field][0]
    drug.refresh_from_db()
    assert drug.no_drug_line == ""


@pytest.mark.parametrize(
    ("drug_class", "hcpcs", "unit", "said"),
    [
        (DrugClass.CHEMO, "J9267", "1 mg", "its drug lines bill it"),
        (None, "", "", "Tag ondansetron's class first"),
        (DrugClass.HYDRATION, "", "", "hydration fluid"),
    ],
)
def test_a_decision_is_refused_where_there_is_nothing_to_decide(
    pharmacist_user, drug_class, hcpcs, unit, said
) -> None:
    drug = drug_of("ondansetron", drug_class, hcpcs=hcpcs, unit=unit)
    with pytest.raises(ValidationError) as refused:
        decide(drug, pharmacist_user)
    assert said in refused.value.message_dict["reason"][0]


def test_a_drug_given_its_code_and_unit_is_billed_and_the_decision_cleared(
    pharmacist_user,
) -> None:
    """The drug form clears the moot decision with its save: were the code removed again, the
    drug is "Not billable" until a pharmacist decides afresh."""
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    decide(drug, pharmacist_user)
    drug_save(
        drug=drug, name=drug.name, synonyms="", note="", user=pharmacist_user,
        hcpcs="J2405", billing_unit="1 mg", reason="code per the 2026 HCPCS file",
    )  # fmt: skip
    drug.refresh_from_db()
    assert (drug.no_drug_line, drug.no_drug_line_by) == ("", None)
    assert list(drugs_no_line_decided()) == []
    assert list(drugs_not_billable()) == []
    drug_save(
        drug=drug, name=drug.name, synonyms="", note="", user=pharmacist_user,
        hcpcs="", billing_unit="", reason="code deleted from the HCPCS file",
    )  # fmt: skip
    assert [d.name for d in drugs_not_billable()] == ["ondansetron"]


# --- the coder: CLAIM-HCPCS and the worklist badge ----------------------------------------


def signed_chemo_visit(*, antiemetic_class: str = "") -> Encounter:
    """The factory's chemotherapy visit, signed, paclitaxel billed: ondansetron (no HCPCS code
    in the test formulary) is the drug given with no drug line; `antiemetic_class` the
    pharmacist's class on ondansetron's order (before the signature)."""
    encounter = factories.chemo_encounter_create()
    Order.objects.filter(encounter=encounter, drug__name="ondansetron").update(
        class_override=antiemetic_class
    )
    Drug.objects.filter(name="paclitaxel").update(
        hcpcs_code="J9267", billing_unit_amount=Decimal(1), billing_unit="mg"
    )
    Encounter.objects.filter(pk=encounter.pk).update(status=Encounter.Status.SIGNED)
    return encounter


def claim_hcpcs(encounter: Encounter) -> list[str]:
    run, _ = charge_run_generate(encounter_id=encounter.pk, trigger="manual")
    run = ChargeRun.objects.get(pk=run.pk)
    findings = claim_findings(
        encounter, effective_lines(run), run=run, facts=record_facts(encounter, run=run)
    )
    return [f.message.split(":")[0] for f in findings if f.rule == "CLAIM-HCPCS"]


def codes(encounter: Encounter) -> list[str]:
    run = ChargeRun.objects.get(encounter=encounter, is_current=True)
    return sorted(line.code for line in run.lines.all())


def row_of(client, encounter: Encounter) -> str:
    page = client.get(reverse("coding:worklist")).content.decode()
    start = page.index(f'data-encounter="{encounter.pk}"')
    return page[start : page.index("</tr>", start)]


def test_claim_hcpcs_is_not_raised_for_a_decided_drug_and_is_again_once_undone(
    pharmacist_user,
) -> None:
    encounter = signed_chemo_visit()
    assert claim_hcpcs(encounter) == ["ondansetron"]
    before = codes(encounter)
    drug = Drug.objects.get(name="ondansetron")
    decide(drug, pharmacist_user, reason=NoDrugLine.NO_COST.value, note="patient's own supply")
    assert claim_hcpcs(encounter) == []
    assert codes(encounter) == before  # no drug line, as before: the charges are unchanged
    drug_no_line_undo(drug=drug, user=pharmacist_user)
    assert claim_hcpcs(encounter) == ["ondansetron"]


def test_the_coders_worklist_badge_goes_for_a_decided_drug_and_comes_back_undone(
    client_as, pharmacist_user
) -> None:
    """The row kept drawn (coding/worklist_rows.py) is not shown for the decision since."""
    encounter = signed_chemo_visit()
    client = client_as(roles.CODER)
    assert "CLAIM-HCPCS: ondansetron not charged" in row_of(client, encounter)
    drug = Drug.objects.get(name="ondansetron")
    decide(drug, pharmacist_user)
    assert BADGE not in row_of(client, encounter)
    drug_no_line_undo(drug=drug, user=pharmacist_user)
    assert "CLAIM-HCPCS: ondansetron not charged" in row_of(client, encounter)


def test_an_order_of_a_decided_drug_on_another_class_is_still_not_marked(
    client_as, pharmacist_user
) -> None:
    """The decision is the drug's: an order's own class (not hydration) does not bring the
    badge back."""
    encounter = signed_chemo_visit(antiemetic_class=DrugClass.THERAPEUTIC)
    decide(Drug.objects.get(name="ondansetron"), pharmacist_user)
    assert BADGE not in row_of(client_as(roles.CODER), encounter)


# --- the pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [roles.PHARMACIST, roles.ADMIN])
def test_the_pharmacist_decides_on_the_drugs_page_and_undoes_from_the_worklist(
    client_as, role
) -> None:
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    client = client_as(role)
    page = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert 'data-testid="no-drug-line-form"' in page
    worklist = client.get(reverse("pharmacy:worklist")).content.decode()
    assert 'data-testid="no-drug-line-link"' in worklist
    response = client.post(
        reverse("pharmacy:drug_no_line", args=[drug.pk]), {"reason": PACKAGED, "note": NOTE}
    )
    assert response.status_code == 302
    drug.refresh_from_db()
    assert drug.no_drug_line == PACKAGED
    worklist = client.get(reverse("pharmacy:worklist"))
    assert worklist.context["not_billable"] == []
    assert [d.name for d in worklist.context["no_line_decided"]] == ["ondansetron"]
    html = worklist.content.decode()
    assert "Packaged: no separate drug line" in html and NOTE in html
    page = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert 'data-testid="no-drug-line-decided"' in page
    undone = client.post(
        reverse("pharmacy:drug_no_line_undo", args=[drug.pk]), {"origin": "worklist"}
    )
    assert undone.status_code == 302
    assert undone.url.startswith(reverse("pharmacy:worklist"))
    drug.refresh_from_db()
    assert drug.no_drug_line == ""


def test_a_refusal_is_said_beside_the_field_with_what_was_typed(client_as) -> None:
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    client = client_as(roles.PHARMACIST)
    url = reverse("pharmacy:drug_no_line", args=[drug.pk])
    response = client.post(url, {"reason": PACKAGED, "note": ""})
    assert response.status_code == 400
    form = response.context["no_line_form"]
    assert "Say why in words" in form.errors["note"][0]
    assert form["reason"].value() == PACKAGED
    response = client.post(url, {"note": "manufacturer supplies it free"})
    assert response.status_code == 400
    assert "Choose why" in response.context["no_line_form"].errors["reason"][0]
    assert "manufacturer supplies it free" in response.content.decode()
    drug.refresh_from_db()
    assert drug.no_drug_line == ""


@pytest.mark.parametrize("role", [roles.NURSE, roles.CODER, roles.CLERK])
def test_only_the_pharmacist_or_an_admin_decides_or_undoes(
    client_as, pharmacist_user, role
) -> None:
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    client = client_as(role)
    url = reverse("pharmacy:drug_no_line", args=[drug.pk])
    assert client.post(url, {"reason": PACKAGED, "note": NOTE}).status_code == 403
    drug.refresh_from_db()
    assert drug.no_drug_line == ""
    decide(drug, pharmacist_user)
    undo = reverse("pharmacy:drug_no_line_undo", args=[drug.pk])
    assert client.post(undo).status_code == 403
    drug.refresh_from_db()
    assert drug.no_drug_line == PACKAGED


def test_the_forms_need_the_csrf_token(role_users, pharmacist_user) -> None:
    from django.test import Client

    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacist_user)
    url = reverse("pharmacy:drug_no_line", args=[drug.pk])
    assert client.post(url, {"reason": PACKAGED, "note": NOTE}).status_code == 403
    decide(drug, pharmacist_user)
    undo = reverse("pharmacy:drug_no_line_undo", args=[drug.pk])
    assert client.post(undo).status_code == 403
    drug.refresh_from_db()
    assert drug.no_drug_line == PACKAGED


def test_the_coder_reads_the_drugs_page_without_the_form(client_as) -> None:
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    page = client_as(roles.CODER).get(reverse("pharmacy:drug", args=[drug.pk]))
    assert page.status_code == 200
    assert 'data-testid="no-drug-line-form"' not in page.content.decode()


# --- over time ------------------------------------------------------------------------------


class NoDrugLineMachine(RuleBasedStateMachine):
    """Decide, undo, add the billing data and remove it, in any order: a classified drug with
    no HCPCS code is on exactly one of the two lists, the one its decision says."""

    def __init__(self) -> None:
        super().__init__()
        self.user = factories.user_create(username=f"ph-{uuid.uuid4().hex}", role=roles.PHARMACIST)
        Drug.objects.update(active=False)  # the examples before: their drugs no longer listed
        self.drug = drug_of(f"drug-{uuid.uuid4().hex}", DrugClass.THERAPEUTIC)
        self.decided = False
        self.billed = False

    @rule(reason=st.sampled_from(NoDrugLine.values))
    def decide(self, reason: str) -> None:
        try:
            decide(self.drug, self.user, reason=reason)
        except ValidationError:
            assert self.billed
        else:
            assert not self.billed
            self.decided = True

    @rule()
    def undo(self) -> None:
        try:
            drug_no_line_undo(drug=self.drug, user=self.user)
        except ValidationError:
            assert not self.decided
        else:
            self.decided = False

    @rule(billed=st.booleans())
    def billing_data(self, billed: bool) -> None:
        Drug.objects.filter(pk=self.drug.pk).update(
            hcpcs_code="J2405" if billed else "", billing_unit_amount=Decimal(1) if billed else None
        )
        self.billed = billed

    @invariant()
    def listed_once_where_the_decision_says(self) -> None:
        not_billable = [d.name for d in drugs_not_billable()]
        decided = [d.name for d in drugs_no_line_decided()]
        name = [self.drug.name]
        if self.billed:
            assert (not_billable, decided) == ([], [])
        elif self.decided:
            assert (not_billable, decided) == ([], name)
        else:
            assert (not_billable, decided) == (name, [])


def test_a_drug_is_on_the_list_its_decision_says_after_any_sequence() -> None:
    run_state_machine_as_test(
        NoDrugLineMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


# --- the note's length and the undo button (QA) --------------------------------------------


def test_a_note_longer_than_the_cap_is_refused_beside_it_with_what_was_typed_kept(
    client_as,
) -> None:
    """QA: 5,000 characters were kept and shown in full. At most NO_LINE_NOTE_MAX, said beside
    the note with how many were typed; the text stays in the field to shorten."""
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    long = ("packaged under OPPS status indicator N " * 200)[:5000]
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_no_line", args=[drug.pk]), {"reason": PACKAGED, "note": long}
    )
    assert response.status_code == 400
    html = response.content.decode()
    said = field_error(html, "note")
    assert f"At most {NO_LINE_NOTE_MAX} characters (5000 typed)" in said
    assert long.strip() in html  # kept in the field
    drug.refresh_from_db()
    assert drug.no_drug_line == "" and drug.no_drug_line_note == ""


def test_a_note_of_exactly_the_cap_is_kept(client_as) -> None:
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    note = ("supplied free " * 50)[:NO_LINE_NOTE_MAX]
    assert len(note) == NO_LINE_NOTE_MAX and note == note.strip()
    response = client_as(roles.PHARMACIST).post(
        reverse("pharmacy:drug_no_line", args=[drug.pk]), {"reason": PACKAGED, "note": note}
    )
    assert response.status_code == 302
    drug.refresh_from_db()
    assert drug.no_drug_line_note == note


def test_the_service_refuses_a_note_too_long_whatever_way_in(pharmacist_user) -> None:
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    with pytest.raises(ValidationError) as exc:
        decide(drug, pharmacist_user, note="packaged " * 100)
    assert f"At most {NO_LINE_NOTE_MAX} characters (899 typed)" in exc.value.message_dict["note"][0]


def test_a_long_note_kept_before_the_cap_is_shown_clamped(client_as, pharmacist_user) -> None:
    """A note kept before the cap (QA's 5,000 characters) is shown by its head, the rest behind
    "Show all", on the drug's page and the worklist."""
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    decide(drug, pharmacist_user)
    Drug.objects.filter(pk=drug.pk).update(no_drug_line_note="packaged " * 500)
    client = client_as(roles.PHARMACIST)
    page = client.get(reverse("pharmacy:drug", args=[drug.pk])).content.decode()
    assert 'data-testid="no-drug-line-note"' in page and "Show all (4500 characters)" in page
    worklist = client.get(reverse("pharmacy:worklist")).content.decode()
    assert 'data-testid="no-line-note"' in worklist


def test_the_undo_button_looks_active_not_grey_on_grey(client_as, pharmacist_user) -> None:
    """QA: "Undo the decision" was an outline grey button on the grey notice and looked
    disabled: it is a filled secondary button (as "Withdraw the return"), enabled."""
    drug = drug_of("ondansetron", DrugClass.THERAPEUTIC)
    decide(drug, pharmacist_user)
    page = client_as(roles.PHARMACIST).get(reverse("pharmacy:drug", args=[drug.pk]))
    button = re.search(r'<button[^>]*data-testid="no-drug-line-undo"[^>]*>', page.content.decode())
    assert button is not None
    assert 'class="btn btn-sm btn-secondary"' in button.group(0)
    assert "disabled" not in button.group(0) and "outline" not in button.group(0)
