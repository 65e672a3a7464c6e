"""A pharmacist's class change after the encounter's charges went to billing (QA, as a coder).

The exported run is never replaced behind the coder's back (coding/formulary_changes.py): it is
flagged for her (`ClassChangeAfterExport`, coding/class_after_export.py). The worklist says so
on the row ("Drug class changed after export: review the billed claim"); the review page says
which drug's class changed from what to what, and what the charges would be under the class now
beside what the billed run made; she re-runs the charges under the class now (the normal
after-export flow: a new run in review with her, the next export sending only the difference,
credits and new charges) or says, with a reason, that the billed claim stands (audited). When the
class is changed back to what the billed run used, the flag clears and the page says it was
changed back.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from coding.class_after_export import (
    class_change_preview,
    class_change_rerun,
    class_change_stands,
)
from coding.exports import export_create
from coding.models import ChargeRun, ClassChangeAfterExport, LedgerEntry, ReviewItem
from coding.review import review_accept, review_claim, review_reopen
from mar import roles
from mar.models import Drug, DrugClassChange
from mar.pharmacy.services import drug_class_change
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db

SALINE = "sodium chloride 0.9%"
OPEN = ClassChangeAfterExport.State.OPEN


def codes(run: ChargeRun) -> list[tuple[str, int]]:
    return sorted((line.code, line.units) for line in run.lines.all())


def current(encounter) -> ChargeRun:
    return ChargeRun.objects.get(encounter=encounter, is_current=True)


def item_of(encounter) -> ReviewItem:
    return ReviewItem.objects.select_related("run").get(encounter=encounter)


def billed(coder):
    """The factory's chemotherapy visit, signed, accepted and sent to billing: hydration 96361,
    ondansetron push 96375, paclitaxel 96413 + 96415 x2."""
    encounter, run, item = reviewed()
    review_claim(user=coder, item_id=item.pk)
    review_accept(item=item_of(encounter), user=coder)
    export_create(user=coder)
    assert item_of(encounter).state == ReviewItem.State.EXPORTED
    return encounter, current(encounter)


def reclass(pharmacist, capture, to_class: str, name: str = SALINE) -> DrugClassChange:
    """The pharmacist's class change through her service, its charges refreshed after commit."""
    drug = Drug.objects.get(name=name)
    with capture(execute=True):
        return drug_class_change(
            drug=drug, to_class=to_class, reason=f"pharmacy review: {to_class}", user=pharmacist
        )


def pending(run: ChargeRun) -> ClassChangeAfterExport | None:
    return ClassChangeAfterExport.objects.filter(run=run, state=OPEN).first()


# --- the flag: raised, kept to the difference, cleared when changed back -------------------


def test_a_class_change_after_export_flags_the_billed_run_with_what_changed(
    coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, run = billed(coder_user)
    change = reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")

    assert current(encounter).pk == run.pk, "an exported run is never replaced by itself"
    flag = pending(run)
    assert flag is not None
    assert [(c["drug"], c["billed"], c["now"]) for c in flag.changes] == [
        (SALINE, "hydration", "therapeutic")
    ]
    assert "pharmacy review: therapeutic" in flag.reason and pharmacist_user.username in flag.reason
    assert change.flagged_runs == [run.pk]
    # The run's own reason stays why it was made: the flag is not a line appended to it (which
    # stayed there after the class was changed back: QA).
    run.refresh_from_db()
    assert "CLASS CHANGED" not in run.reason


def test_changing_the_class_back_to_what_was_billed_clears_the_flag(
    coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    change = reclass(pharmacist_user, django_capture_on_commit_callbacks, "hydration")

    assert pending(run) is None
    flag = ClassChangeAfterExport.objects.get(run=run)
    assert flag.state == ClassChangeAfterExport.State.REVERTED
    assert "pharmacy review: hydration" in flag.decision_reason
    assert change.flagged_runs == []
    assert current(encounter).pk == run.pk


def test_a_second_drug_changed_back_leaves_the_first_drugs_difference_flagged(
    coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    _, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "chemo", name="ondansetron")
    assert {c["drug"] for c in pending(run).changes} == {SALINE, "ondansetron"}

    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic", name="ondansetron")

    flag = pending(run)
    assert flag is not None
    assert [(c["drug"], c["billed"], c["now"]) for c in flag.changes] == [
        (SALINE, "hydration", "therapeutic")
    ]


def test_the_preview_says_what_the_billed_run_made_and_what_the_class_now_makes(
    coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    _, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")

    preview = class_change_preview(run)

    assert preview.error == ""
    differing = {(row.label, row.billed, row.now) for row in preview.rows if row.billed != row.now}
    # The hour of saline after the chemotherapy: hydration 96361 billed, therapeutic 96367 now.
    assert differing == {("96361", 1, 0), ("96367", 0, 1)}
    assert ("96413", 1, 1) in {(row.label, row.billed, row.now) for row in preview.rows}


# --- the coder's two ways to take it up --------------------------------------------------


def test_re_running_under_the_class_now_makes_a_run_in_review_and_the_next_export_sends_only_the_difference(  # noqa: E501
    coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, run = billed(coder_user)
    sent_before = set(LedgerEntry.objects.filter(encounter=encounter).values_list("pk", flat=True))
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")

    new = class_change_rerun(item=item_of(encounter), user=coder_user, reason="payer asked")

    assert current(encounter).pk == new.pk != run.pk
    assert new.trigger == ChargeRun.Trigger.CLASS_CHANGE
    assert ("96367", 1) in codes(new) and ("96361", 1) not in codes(new)
    flag = ClassChangeAfterExport.objects.get(run=run)
    assert (flag.state, flag.decided_by, flag.decision_reason, flag.rerun_id) == (
        ClassChangeAfterExport.State.RERUN, coder_user, "payer asked", new.pk
    )  # fmt: skip
    item = item_of(encounter)
    # The normal after-export flow: in review with the coder who asked, accepted again, then
    # the difference only: the hydration add-on credited, the sequential infusion charged.
    assert (item.state, item.claimed_by) == (ReviewItem.State.IN_REVIEW, coder_user)
    review_accept(item=item, user=coder_user)
    export_create(user=coder_user)
    sent = LedgerEntry.objects.filter(encounter=encounter).exclude(pk__in=sent_before)
    assert sorted((e.kind, e.code) for e in sent) == [("CD", "96361"), ("CG", "96367")]
    assert pending(current(encounter)) is None


def test_the_billed_claim_stands_needs_a_reason_and_sends_nothing(
    coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")

    with pytest.raises(ValidationError) as refused:
        class_change_stands(item=item_of(encounter), user=coder_user, reason="  ")
    assert "reason" in refused.value.message_dict
    assert pending(run) is not None

    entries = LedgerEntry.objects.filter(encounter=encounter).count()
    flag = class_change_stands(
        item=item_of(encounter), user=coder_user, reason="payer contract bills saline as hydration"
    )
    assert (flag.state, flag.decided_by) == (ClassChangeAfterExport.State.STANDS, coder_user)
    assert flag.decision_reason == "payer contract bills saline as hydration"
    assert pending(run) is None
    assert current(encounter).pk == run.pk
    assert item_of(encounter).state == ReviewItem.State.EXPORTED
    assert LedgerEntry.objects.filter(encounter=encounter).count() == entries


def test_a_further_class_change_after_the_claim_was_said_to_stand_flags_it_again(
    coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    class_change_stands(item=item_of(encounter), user=coder_user, reason="stands")

    reclass(pharmacist_user, django_capture_on_commit_callbacks, "chemo")

    flag = pending(run)
    assert flag is not None
    assert [(c["billed"], c["now"]) for c in flag.changes] == [("hydration", "chemo")]


def test_changed_back_after_the_claim_was_said_to_stand_then_again_flags_it_again(
    client_as, coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    """The decision holds while the difference does: the class changed back ends it (the page
    says so), and the pharmacist's change made again is a new one for the coder to see."""
    encounter, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    class_change_stands(item=item_of(encounter), user=coder_user, reason="stands")

    reclass(pharmacist_user, django_capture_on_commit_callbacks, "hydration")
    assert pending(run) is None
    html = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[encounter.pk]))
        .content.decode()
    )
    assert 'data-testid="class-changed-back"' in html

    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    assert pending(run) is not None


def test_nothing_to_decide_without_a_pending_class_change(coder_user) -> None:
    encounter, _ = billed(coder_user)
    with pytest.raises(ValidationError, match="No formulary change"):
        class_change_stands(item=item_of(encounter), user=coder_user, reason="x")
    with pytest.raises(ValidationError, match="No formulary change"):
        class_change_rerun(item=item_of(encounter), user=coder_user)


def test_another_coders_review_is_not_pulled_from_under_her(
    coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    other = factories.user_create(username="coder2", role=roles.CODER)
    review_reopen(item=item_of(encounter), user=other)  # "Correct after billing": hers now

    with pytest.raises(ValidationError, match="coder2"):
        class_change_rerun(item=item_of(encounter), user=coder_user)
    with pytest.raises(ValidationError, match="coder2"):
        class_change_stands(item=item_of(encounter), user=coder_user, reason="x")
    assert current(encounter).pk == run.pk and pending(run) is not None
    # The coder holding it decides.
    class_change_stands(item=item_of(encounter), user=other, reason="stands")
    assert pending(run) is None


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_decision_is_in_the_audit_trail_with_who_and_why(
    coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    from mar.audit.models import EVENTS

    encounter, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    class_change_stands(item=item_of(encounter), user=coder_user, reason="contract")

    event = EVENTS[ClassChangeAfterExport].objects.filter(pgh_label="update").latest("pgh_id")
    assert event.state == ClassChangeAfterExport.State.STANDS
    assert event.pgh_context.metadata["action"] == "class_change_stands"
    assert event.pgh_context.metadata["reason"] == "contract"


# --- the pages ----------------------------------------------------------------------------


def worklist_row(client, encounter) -> str:
    page = client.get(reverse("coding:worklist")).content.decode()
    start = page.index(f'data-encounter="{encounter.pk}"')
    return page[start : page.index("</tr>", start)]


def test_the_worklist_row_of_an_exported_encounter_says_the_class_changed_until_changed_back(
    client_as, coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, _ = billed(coder_user)
    client = client_as(roles.CODER)
    assert "class-changed" not in worklist_row(client, encounter)

    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    row = worklist_row(client, encounter)
    assert 'data-testid="class-changed"' in row
    assert "Drug class changed after export: review the billed claim" in row
    assert "Exported" in row

    reclass(pharmacist_user, django_capture_on_commit_callbacks, "hydration")
    assert "class-changed" not in worklist_row(client, encounter)


def test_the_review_page_says_what_changed_what_would_change_and_offers_both_actions(
    client_as, coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, _ = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")

    page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    html = page.content.decode()
    assert 'data-testid="class-change"' in html
    assert "Not regenerated: review the billed claim" not in html
    # the classes as the pages say them, not their stored values (QA: "therapeutic -> chemo")
    assert f"{SALINE}: Hydration → <strong>Therapeutic</strong>" in html
    assert 'data-testid="class-preview"' in html
    assert 'data-code="96361"' in html and 'data-code="96367"' in html
    assert reverse("coding:class_rerun", args=[encounter.pk]) in html
    assert reverse("coding:class_stands", args=[encounter.pk]) in html


def test_the_review_page_says_the_class_was_changed_back_and_offers_nothing(
    client_as, coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, _ = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "hydration")

    html = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[encounter.pk]))
        .content.decode()
    )
    assert 'data-testid="class-change"' not in html
    assert 'data-testid="class-changed-back"' in html
    assert "changed back" in html
    assert reverse("coding:class_rerun", args=[encounter.pk]) not in html
    assert "alert-danger" not in html.split('data-testid="charge-lines"')[0]


def test_the_coder_re_runs_from_the_review_page(
    client_as, coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")

    response = client_as(roles.CODER).post(
        reverse("coding:class_rerun", args=[encounter.pk]), {"rerun-reason": ""}, follow=True
    )
    assert response.status_code == 200
    assert current(encounter).pk != run.pk
    html = response.content.decode()
    assert "Re-run under the class now" in html
    assert 'data-testid="changed-after-billing"' in html  # the difference the export sends
    assert 'data-testid="will-credit"' in html and 'data-testid="will-charge"' in html


def test_the_coder_says_the_billed_claim_stands_and_a_missing_reason_is_said_beside_it(
    client_as, coder_user, pharmacist_user, django_capture_on_commit_callbacks
) -> None:
    encounter, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    client = client_as(roles.CODER)
    url = reverse("coding:class_stands", args=[encounter.pk])

    refused = client.post(url, {"stands-reason": ""})
    assert refused.status_code == 200
    html = refused.content.decode()
    form = html[html.index('data-testid="class-stands-form"') :]
    assert "Say why the billed claim stands" in form[: form.index("</form>")]
    assert pending(run) is not None

    done = client.post(url, {"stands-reason": "contract bills saline as hydration"}, follow=True)
    assert "The billed claim stands" in done.content.decode()
    assert pending(run) is None


@pytest.mark.parametrize("role", [roles.NURSE, roles.PHARMACIST])
@pytest.mark.parametrize("name", ["coding:class_rerun", "coding:class_stands"])
def test_only_coders_take_up_a_class_change(
    client_as, coder_user, pharmacist_user, django_capture_on_commit_callbacks, role, name
) -> None:
    encounter, run = billed(coder_user)
    reclass(pharmacist_user, django_capture_on_commit_callbacks, "therapeutic")
    response = client_as(role).post(
        reverse(name, args=[encounter.pk]),
        {
            "stands-reason": "the claim was billed right",
            "rerun-reason": "the claim was billed right",
        },
    )
    assert response.status_code == 403
    assert pending(run) is not None and current(encounter).pk == run.pk


@pytest.mark.parametrize("name", ["coding:class_rerun", "coding:class_stands"])
def test_a_get_changes_nothing(client_as, coder_user, name) -> None:
    encounter, _ = billed(coder_user)
    assert client_as(roles.CODER).get(reverse(name, args=[encounter.pk])).status_code == 405
