"""A pharmacist's change of a drug's billing data (HCPCS code, billing unit, container) or NDCs
after the encounter's charges went to billing (coding/class_after_export.py).

Like a class change: the exported run is flagged for the coder (`ClassChangeAfterExport`, one
flag carrying class and billing-data differences), kept to the difference between what the run
was made with (its billing and formulary snapshots) and the formulary now: changed back, the
flag ends. The worklist says "Billing data changed after export"; the review page lists what
changed and the drug lines made now beside those billed (with the NDC each carries); the coder
re-runs the charges (accepted, the next export sends only the difference) or says the billed
claim stands, with a reason (audited). Was: a line appended to the run's reason, nothing to do.
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
from coding.review import review_accept
from mar import roles
from mar.models import Drug
from mar.pharmacy.services import drug_class_change, drug_ndc_add, drug_save
from tests.coding.test_billed_ndc_formulary_change import (
    GIVEN,
    UNLISTED,
    WASTED,
    billed_visit,
    drug_charges,
    priced,
    recode_paclitaxel,
)
from tests.coding.test_claim_lines import PREFERRED

# The charge master loaded (`priced`, imported for pytest to find it by name).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("priced")]
__all__ = ["priced"]
State = ClassChangeAfterExport.State


def current(encounter) -> ChargeRun:
    return ChargeRun.objects.get(encounter=encounter, is_current=True)


def item_of(encounter) -> ReviewItem:
    return ReviewItem.objects.select_related("run").get(encounter=encounter)


def pending(run: ChargeRun) -> ClassChangeAfterExport | None:
    return ClassChangeAfterExport.objects.filter(run=run, state=State.OPEN).first()


def fields(flag: ClassChangeAfterExport) -> set[tuple[str, str, str]]:
    return {(c["field"], c["billed"], c["now"]) for c in flag.changes}


def container(pharmacist, value: str) -> None:
    """The pharmacist changes paclitaxel's container through the drug's form."""
    drug = Drug.objects.get(name="paclitaxel")
    drug_save(
        drug=drug, name=drug.name, synonyms=drug.synonyms, hcpcs=drug.hcpcs_code,
        billing_unit="1 mg", note=drug.class_note, user=pharmacist, container=value,
        reason="the FDA label read again",
    )  # fmt: skip


def worklist_row(client, encounter) -> str:
    page = client.get(reverse("coding:worklist")).content.decode()
    start = page.index(f'data-encounter="{encounter.pk}"')
    return page[start : page.index("</tr>", start)]


# --- the flag's life ------------------------------------------------------------------------


def test_a_hcpcs_code_changed_after_export_flags_the_billed_run_with_what_changed(
    coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)

    assert current(encounter).pk == run.pk, "an exported run is never replaced by itself"
    flag = pending(run)
    assert flag is not None
    assert fields(flag) == {("hcpcs", "J9267", "J9264")}
    assert flag.what == "Billing data"
    assert "J9267 -> J9264" in flag.reason and pharmacist_user.username in flag.reason
    run.refresh_from_db()
    assert "J9264" not in run.reason, "the flag is not a line appended to the run's reason"


def test_the_billing_data_changed_back_ends_the_flag(coder_user, pharmacist_user) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)
    recode_paclitaxel(pharmacist_user, hcpcs="J9267")

    assert pending(run) is None
    flag = ClassChangeAfterExport.objects.get(run=run)
    assert flag.state == State.REVERTED
    assert "Changed back" in flag.decision_reason and "J9264 -> J9267" in flag.decision_reason
    assert current(encounter).pk == run.pk


def test_another_field_changed_keeps_the_flag_to_the_whole_difference(
    coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)
    container(pharmacist_user, Drug.Container.MULTI_DOSE)
    assert fields(pending(run)) == {
        ("hcpcs", "J9267", "J9264"),
        ("container", "single_dose", "multi_dose"),
    }
    recode_paclitaxel(pharmacist_user, hcpcs="J9267")  # the code back: the container still not
    assert fields(pending(run)) == {("container", "single_dose", "multi_dose")}
    assert ClassChangeAfterExport.objects.filter(run=run).count() == 1


def test_the_billed_claim_stands_then_a_further_change_flags_it_again(
    coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)
    entries = LedgerEntry.objects.filter(encounter=encounter).count()
    flag = class_change_stands(item=item_of(encounter), user=coder_user, reason="payer's code")

    assert (flag.state, flag.decided_by, flag.decision_reason) == (
        State.STANDS, coder_user, "payer's code"
    )  # fmt: skip
    assert pending(run) is None
    assert LedgerEntry.objects.filter(encounter=encounter).count() == entries, "nothing sent"
    assert item_of(encounter).state == ReviewItem.State.EXPORTED

    container(pharmacist_user, Drug.Container.MULTI_DOSE)  # the difference altered: again
    assert fields(pending(run)) == {
        ("hcpcs", "J9267", "J9264"),
        ("container", "single_dose", "multi_dose"),
    }


def test_stands_then_changed_back_then_changed_again_flags_it_again(
    coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)
    class_change_stands(item=item_of(encounter), user=coder_user, reason="stands")

    recode_paclitaxel(pharmacist_user, hcpcs="J9267")
    assert pending(run) is None
    assert ClassChangeAfterExport.objects.filter(run=run).latest("pk").state == State.REVERTED

    recode_paclitaxel(pharmacist_user)
    assert fields(pending(run)) == {("hcpcs", "J9267", "J9264")}


def test_a_change_that_leaves_the_billed_run_as_it_was_made_flags_nothing(
    coder_user, pharmacist_user
) -> None:
    """The billing unit written another way ("1 mg" as it was): the drug lines read the same."""
    encounter = billed_visit(coder_user)
    run = current(encounter)
    container(pharmacist_user, Drug.Container.SINGLE_DOSE)
    recode_paclitaxel(pharmacist_user, hcpcs="J9267")
    assert not ClassChangeAfterExport.objects.filter(run=run).exists()


def test_a_scanned_package_listed_after_export_flags_the_ndc_the_line_would_carry(
    coder_user, pharmacist_user
) -> None:
    """Scanned, not listed at signing: the line went with the preferred NDC. Listed now, a run
    made now would group the dose under it and carry it: flagged, the billed NDC kept."""
    encounter = billed_visit(coder_user, scanned=UNLISTED)
    run = current(encounter)
    drug_ndc_add(drug=Drug.objects.get(name="paclitaxel"), ndc=UNLISTED, unit="ML")

    flag = pending(run)
    assert flag is not None
    changed = fields(flag)
    assert ("claim_ndc", PREFERRED, UNLISTED) in changed and ("ndc", PREFERRED, UNLISTED) in changed
    assert flag.what == "Billing data"
    assert drug_charges(encounter) == [GIVEN, WASTED]

    preview = class_change_preview(run)
    rows = {row.label: (row.billed, row.now) for row in preview.rows if row.changed}
    assert rows == {
        f"J9267 NDC {PREFERRED}": (300, 0),
        f"J9267-JW NDC {PREFERRED}": (20, 0),
        f"J9267 NDC {UNLISTED}": (0, 300),
        f"J9267-JW NDC {UNLISTED}": (0, 20),
    }


def test_the_preview_shows_the_drug_lines_now_beside_those_billed(
    coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)

    preview = class_change_preview(run)
    assert preview.error == ""
    changed = {(row.label, row.billed, row.now) for row in preview.changed}
    assert changed == {
        (f"J9267 NDC {PREFERRED}", 300, 0),
        (f"J9267-JW NDC {PREFERRED}", 20, 0),
        (f"J9264 NDC {PREFERRED}", 0, 300),
        (f"J9264-JW NDC {PREFERRED}", 0, 20),
    }
    # The engine's lines follow the classes: unchanged.
    assert ("96413", 1, 1) in {(row.label, row.billed, row.now) for row in preview.rows}


def test_re_running_under_the_billing_data_now_exports_only_the_difference(
    coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    sent_before = set(LedgerEntry.objects.filter(encounter=encounter).values_list("pk", flat=True))
    recode_paclitaxel(pharmacist_user)

    new = class_change_rerun(item=item_of(encounter), user=coder_user, reason="payer asked")

    assert current(encounter).pk == new.pk != run.pk
    assert new.trigger == ChargeRun.Trigger.BILLING_CHANGE
    assert "Re-run under the billing data now" in new.reason
    assert "paclitaxel HCPCS code J9267 -> J9264" in new.reason
    flag = ClassChangeAfterExport.objects.get(run=run)
    assert (flag.state, flag.rerun_id, flag.decision_reason) == (State.RERUN, new.pk, "payer asked")
    item = item_of(encounter)
    assert (item.state, item.claimed_by) == (ReviewItem.State.IN_REVIEW, coder_user)
    review_accept(item=item, user=coder_user)
    export_create(user=coder_user)
    sent = LedgerEntry.objects.filter(encounter=encounter).exclude(pk__in=sent_before)
    # The drug lines credited and charged under the new code; the engine's lines stay billed.
    assert sorted((e.kind, e.code, tuple(e.modifiers)) for e in sent) == [
        ("CD", "J9267", ()), ("CD", "J9267", ("JW",)),
        ("CG", "J9264", ()), ("CG", "J9264", ("JW",)),
    ]  # fmt: skip
    assert pending(current(encounter)) is None
    with pytest.raises(ValidationError, match="Nothing to export"):
        export_create(user=coder_user)  # nothing sent twice


def test_class_and_billing_data_changed_are_one_flag_and_one_re_run(
    coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)
    drug_class_change(
        drug=Drug.objects.get(name="sodium chloride 0.9%"), to_class="therapeutic",
        reason="review", user=pharmacist_user,
    )  # fmt: skip
    flag = pending(run)
    assert flag.what == "Drug class and billing data"
    assert ("drug_class", "hydration", "therapeutic") in {
        (ClassChangeAfterExport.field_of(c), c["billed"], c["now"]) for c in flag.changes
    }
    assert ClassChangeAfterExport.objects.filter(run=run).count() == 1
    new = class_change_rerun(item=item_of(encounter), user=coder_user)
    assert new.trigger == ChargeRun.Trigger.CLASS_CHANGE
    assert {line.code for line in new.lines.all()} >= {"96367", "J9264"}


# --- the pages --------------------------------------------------------------------------------


def test_the_worklist_says_the_billing_data_changed_until_changed_back(
    client_as, coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    client = client_as(roles.CODER)
    assert "changed after export" not in worklist_row(client, encounter)

    recode_paclitaxel(pharmacist_user)
    assert "Billing data changed after export: review the billed claim" in worklist_row(
        client, encounter
    )

    recode_paclitaxel(pharmacist_user, hcpcs="J9267")
    assert "changed after export" not in worklist_row(client, encounter)


def test_the_review_page_lists_the_billing_change_the_drug_lines_now_and_both_actions(
    client_as, coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    recode_paclitaxel(pharmacist_user)

    html = (
        client_as(roles.CODER)
        .get(reverse("coding:encounter_charges", args=[encounter.pk]))
        .content.decode()
    )
    section = html[html.index('data-testid="class-change"') :]
    section = section[: section.index("</section>")]
    assert "Billing data changed after export" in section
    assert 'data-field="hcpcs"' in section and "paclitaxel HCPCS code: J9267 →" in section
    assert f'data-code="J9264 NDC {PREFERRED}"' in section
    assert "Re-run under the billing data now" in section
    assert reverse("coding:class_rerun", args=[encounter.pk]) in section
    assert reverse("coding:class_stands", args=[encounter.pk]) in section


def test_the_coder_re_runs_and_says_the_claim_stands_from_the_review_page(
    client_as, coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)
    client = client_as(roles.CODER)

    refused = client.post(
        reverse("coding:class_stands", args=[encounter.pk]), {"stands-reason": ""}
    )
    form = refused.content.decode()
    form = form[form.index('data-testid="class-stands-form"') :]
    assert "Say why the billed claim stands" in form[: form.index("</form>")]
    assert pending(run) is not None

    done = client.post(
        reverse("coding:class_rerun", args=[encounter.pk]), {"rerun-reason": ""}, follow=True
    )
    assert "Re-run under the billing data now" in done.content.decode()
    assert current(encounter).pk != run.pk


def test_the_billed_claim_stands_from_the_review_page_and_the_page_says_so(
    client_as, coder_user, pharmacist_user
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)
    done = client_as(roles.CODER).post(
        reverse("coding:class_stands", args=[encounter.pk]),
        {"stands-reason": "the payer takes J9267"},
        follow=True,
    )
    html = done.content.decode()
    assert "The billed claim stands" in html
    stood = html[html.index('data-testid="class-stands"') :]
    assert "Billing data changed after export (paclitaxel HCPCS code J9267 -&gt; J9264)" in stood
    assert pending(run) is None


@pytest.mark.parametrize("role", [roles.NURSE, roles.PHARMACIST])
@pytest.mark.parametrize("name", ["coding:class_rerun", "coding:class_stands"])
def test_only_coders_take_up_a_billing_change(
    client_as, coder_user, pharmacist_user, role, name
) -> None:
    encounter = billed_visit(coder_user)
    run = current(encounter)
    recode_paclitaxel(pharmacist_user)
    response = client_as(role).post(
        reverse(name, args=[encounter.pk]),
        {
            "stands-reason": "the claim was billed right",
            "rerun-reason": "the claim was billed right",
        },
    )
    assert response.status_code == 403
    assert pending(run) is not None and current(encounter).pk == run.pk


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_decision_on_a_billing_change_is_in_the_audit_trail(
    coder_user, pharmacist_user
) -> None:
    from mar.audit.models import EVENTS

    encounter = billed_visit(coder_user)
    recode_paclitaxel(pharmacist_user)
    class_change_stands(item=item_of(encounter), user=coder_user, reason="contract")

    event = EVENTS[ClassChangeAfterExport].objects.filter(pgh_label="update").latest("pgh_id")
    assert event.state == State.STANDS
    assert [c["field"] for c in event.changes] == ["hcpcs"]
    assert event.pgh_context.metadata["action"] == "class_change_stands"
    assert event.pgh_context.metadata["reason"] == "contract"


def test_a_billed_run_nothing_changed_since_has_no_difference(coder_user) -> None:
    """The run's snapshots read back as made now (the NDC billed kept, its quantity as kept):
    no spurious flag."""
    from coding.class_after_export import billing_differences

    encounter = billed_visit(coder_user)
    run = current(encounter)
    assert billing_differences([run]) == {run.pk: []}
