"""A line the coder added (or a correction kept as an added line, its target gone after a
re-review) is corrected or removed like a generated line: through `charge_line_correct`
(`added=` the added line's correction), reason mandatory, the line as it stood kept beside it,
audited; before export it changes what the next export sends, after export ("Correct after
billing") the next export credits and charges the difference, nothing billed lost or doubled.
QA: an added line had no control on the review page; only undo reached a re-reviewed one."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from coding.corrections import correction_resolve, corrections_to_carry, corrections_waiting
from coding.exports import export_create, ledger_sum
from coding.models import ChargeCorrection, ChargeRun, LedgerEntry, ReviewItem
from coding.review import charge_line_correct, effective_lines, review_accept, review_claim
from coding.services import charge_run_generate
from mar import roles
from tests.coding.review_helpers import (
    held_after_rerun,
    hydration_and_ondansetron,
    ondansetron_infused,
    reviewed,
)

pytestmark = pytest.mark.django_db


def claimed(coder):
    """The chemotherapy visit's charges claimed: 96413, 96361 (A1), 96375 (A2), 96415 ×2."""
    encounter, run, item = reviewed()
    return encounter, run, review_claim(user=coder, item_id=item.pk)


def hydration_id(encounter) -> str:
    return f"A{encounter.administrations.get(drug__name='sodium chloride 0.9%').pk}"


def add_96372(coder, encounter, item, *, units: int = 1) -> ChargeCorrection:
    return charge_line_correct(
        item=item, user=coder, action="add", code="96372", units=units, modifiers=[],
        administrations=[hydration_id(encounter)], reason="second hour of the pump log",
    )  # fmt: skip


def item_of(encounter) -> ReviewItem:
    return ReviewItem.objects.select_related("run").get(encounter=encounter)


def coder_lines(run: ChargeRun, **kw):
    return [line for line in effective_lines(run, **kw) if line.source == "coder"]


def test_an_added_line_is_corrected_with_a_reason_and_the_line_as_added_kept_beside_it(
    coder_user,
) -> None:
    encounter, run, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    amended = charge_line_correct(
        item=item, user=coder_user, added=added, action="change", code="96372", units=2,
        modifiers=[], reason="the pump ran two more hours",
    )  # fmt: skip
    assert amended.action == ChargeCorrection.Action.CHANGE and amended.amends == added
    assert amended.line is None and amended.original["units"] == 1
    added.refresh_from_db()  # the addition itself stays as made: the history
    assert added.corrected["units"] == 1 and added.state == ChargeCorrection.State.APPLIED
    (line,) = coder_lines(run)
    assert (line.code, line.units, line.added) == ("96372", 2, added)
    assert line.original["units"] == 1 and "the pump ran two more hours" in line.why
    # Corrected again: from the line as it stands now.
    again = charge_line_correct(
        item=item, user=coder_user, added=added, action="change", code="96372", units=3,
        modifiers=["59"], reason="a third hour, on the second site",
    )  # fmt: skip
    assert again.original["units"] == 2
    (line,) = coder_lines(run)
    assert (line.units, line.modifiers) == (3, ("59",))


def test_an_added_line_corrected_to_a_modifier_not_taken_is_refused_and_removed_still(
    coder_user,
) -> None:
    """QA: a correction of an added line's modifiers took "ZZ". The service refuses what the
    form refuses (coding/modifiers.py), beside the modifiers; lower case is kept in capitals;
    the line is removed whatever it carries."""
    encounter, run, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, added=added, action="change", code="96372", units=1,
            modifiers=["ZZ"], reason="second site",
        )  # fmt: skip
    assert list(refused.value.message_dict) == ["modifiers"]
    assert refused.value.message_dict["modifiers"][0].startswith(
        "ZZ is not a modifier of these lines: the ones taken are 25, 27, 59,"
    )
    with pytest.raises(ValidationError, match="ZZ is not a modifier"):
        charge_line_correct(
            item=item, user=coder_user, action="add", code="96523", units=3, modifiers=["ZZ"],
            reason="port flushed",
        )  # fmt: skip
    changed = charge_line_correct(
        item=item, user=coder_user, added=added, action="change", code="96372", units=1,
        modifiers=["xs"], reason="second site",
    )  # fmt: skip
    assert changed.corrected["modifiers"] == ["XS"]
    (line,) = coder_lines(run)
    assert line.modifiers == ("XS",)

    # A line added with "ZZ" before the rule: its units are not changed with ZZ kept (the
    # coder fixes its modifiers at the same time), and it is removed as it stands.
    ChargeCorrection.objects.filter(pk=changed.pk).update(
        corrected={**changed.corrected, "modifiers": ["ZZ"]}
    )
    with pytest.raises(ValidationError, match="ZZ is not a modifier"):
        charge_line_correct(
            item=item, user=coder_user, added=added, action="change", code="96372", units=2,
            reason="two hours",
        )  # fmt: skip
    charge_line_correct(
        item=item, user=coder_user, added=added, action="remove", reason="charted twice"
    )
    assert coder_lines(run) == []


def test_an_added_line_is_removed_with_a_reason_and_shown_removed(coder_user) -> None:
    encounter, run, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    charge_line_correct(
        item=item, user=coder_user, added=added, action="remove", reason="added on the wrong visit"
    )
    assert coder_lines(run) == []
    (shown,) = coder_lines(run, include_removed=True)
    assert shown.removed and shown.code == "96372"
    assert shown.correction.reason == "added on the wrong visit"
    with pytest.raises(ValidationError, match="already removed"):
        charge_line_correct(
            item=item, user=coder_user, added=added, action="remove", reason="again"
        )
    with pytest.raises(ValidationError, match="removed"):
        charge_line_correct(
            item=item, user=coder_user, added=added, action="change", code="96372", units=2,
            reason="bring it back",
        )  # fmt: skip


def test_correcting_an_added_line_needs_a_reason_and_a_change(coder_user) -> None:
    encounter, _, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, added=added, action="change", code="96372", units=2,
            reason=" ",
        )  # fmt: skip
    assert "reason" in refused.value.message_dict
    with pytest.raises(ValidationError, match="Nothing changed"):
        charge_line_correct(
            item=item, user=coder_user, added=added, action="change", code="96372", units=1,
            modifiers=[], reason="same again",
        )  # fmt: skip
    assert ChargeCorrection.objects.filter(amends=added).count() == 0


def test_only_an_added_line_of_the_charges_under_review_is_corrected(coder_user) -> None:
    encounter, run, item = claimed(coder_user)
    other, _, other_item = claimed(coder_user)
    foreign = add_96372(coder_user, other, other_item)
    with pytest.raises(ValidationError, match="not one of the charges under review"):
        charge_line_correct(
            item=item, user=coder_user, added=foreign, action="remove", reason="not mine"
        )
    line_fix = charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
        code="96415", units=1, modifiers=[], reason="one hour",
    )  # fmt: skip
    with pytest.raises(ValidationError, match="not an added line"):
        charge_line_correct(
            item=item, user=coder_user, added=line_fix, action="remove", reason="not an add"
        )


def kept_as_added(coder):
    """A correction kept as an added line: 96374 corrected to 96375, the push then charted as an
    infusion (96374 gone), and the coder keeps her 96375 (QA's "line kept with its original
    gone"). Returns (encounter, run, item, the kept correction)."""
    encounter = hydration_and_ondansetron()
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    item = review_claim(user=coder, item_id=item_of(encounter).pk)
    charge_line_correct(
        item=item, user=coder, line=run.lines.get(code="96374"), action="change", code="96375",
        units=1, modifiers=[], reason="a second push, per the flowsheet",
    )  # fmt: skip
    new_run = ondansetron_infused(encounter, coder)
    item = held_after_rerun(item, coder)
    (waiting,) = corrections_waiting(new_run)
    kept = correction_resolve(
        item=item, user=coder, correction=waiting, decision="keep", reason="flowsheet stands"
    )
    assert kept.action == ChargeCorrection.Action.ADD and kept.line is None
    return encounter, new_run, item, kept


def test_a_line_kept_with_its_original_gone_is_corrected_and_removed_like_an_added_one(
    coder_user,
) -> None:
    encounter, run, item, kept = kept_as_added(coder_user)
    charge_line_correct(
        item=item, user=coder_user, added=kept, action="change", code="96375", units=2,
        modifiers=[], reason="two pushes on the flowsheet",
    )  # fmt: skip
    (line,) = coder_lines(run)
    assert (line.code, line.units) == ("96375", 2)
    charge_line_correct(
        item=item, user=coder_user, added=kept, action="remove", reason="the infusion covers it"
    )
    assert coder_lines(run) == []
    review_accept(item=item_of(encounter), user=coder_user)


def test_before_export_the_export_sends_the_added_line_as_last_corrected(coder_user) -> None:
    encounter, run, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    charge_line_correct(
        item=item, user=coder_user, added=added, action="change", code="96372", units=2,
        modifiers=[], reason="two hours",
    )  # fmt: skip
    review_accept(item=item_of(encounter), user=coder_user)
    export = export_create(user=coder_user).export
    sent = [(e.kind, e.code, e.units) for e in export.entries.filter(code="96372")]
    assert sent == [("CG", "96372", 2)]


def test_after_export_removing_an_added_line_credits_it_and_nothing_else(coder_user) -> None:
    from coding.review import review_reopen

    encounter, run, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    review_accept(item=item_of(encounter), user=coder_user)
    first = export_create(user=coder_user).export
    billed = ledger_sum(encounter.pk)
    assert billed[("96372", (), run.lines.first().date)] == 1
    reopened = review_reopen(item=item_of(encounter), user=coder_user)
    charge_line_correct(
        item=reopened, user=coder_user, added=added, action="remove",
        reason="the second hour was a flush, not hydration",
    )  # fmt: skip
    review_accept(item=item_of(encounter), user=coder_user)
    second = export_create(user=coder_user).export
    assert second.pk != first.pk
    charge = LedgerEntry.objects.get(export=first, code="96372")
    (credit,) = LedgerEntry.objects.filter(export=second)
    assert (credit.kind, credit.code, credit.units, credit.reverses) == ("CD", "96372", 1, charge)
    expected = {key: units for key, units in billed.items() if key[0] != "96372"}
    assert ledger_sum(encounter.pk) == expected


def test_after_export_correcting_an_added_line_credits_and_charges_it_once(coder_user) -> None:
    from coding.review import review_reopen

    encounter, run, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    review_accept(item=item_of(encounter), user=coder_user)
    export_create(user=coder_user)
    reopened = review_reopen(item=item_of(encounter), user=coder_user)
    charge_line_correct(
        item=reopened, user=coder_user, added=added, action="change", code="96372", units=2,
        modifiers=[], reason="two hours on the pump log",
    )  # fmt: skip
    review_accept(item=item_of(encounter), user=coder_user)
    second = export_create(user=coder_user).export
    sent = sorted((e.kind, e.code, e.units) for e in second.entries.all())
    assert sent == [("CD", "96372", 1), ("CG", "96372", 2)]
    assert ledger_sum(encounter.pk)[("96372", (), run.lines.first().date)] == 2


def test_a_corrected_added_line_is_carried_once_to_a_new_run_and_a_removed_one_not(
    coder_user, nurse_user
) -> None:
    """A new run (the antiemetic charted as an infusion) carries the added line as the coder
    left it, not the addition and its correction both; a removed added line is not carried."""
    encounter, run, item = claimed(coder_user)
    kept = add_96372(coder_user, encounter, item)
    charge_line_correct(
        item=item, user=coder_user, added=kept, action="change", code="96372", units=2,
        modifiers=[], reason="two hours",
    )  # fmt: skip
    gone = charge_line_correct(
        item=item, user=coder_user, action="add", code="96374", units=1, modifiers=[],
        administrations=[hydration_id(encounter)], reason="an injection",
    )  # fmt: skip
    charge_line_correct(
        item=item, user=coder_user, added=gone, action="remove", reason="no injection charted"
    )
    carried = {c.pk for c in corrections_to_carry(run)}
    assert gone.pk not in carried
    new_run = ondansetron_infused(encounter, nurse_user)
    lines = coder_lines(new_run)
    assert [(line.code, line.units) for line in lines] == [("96372", 2)]
    assert lines[0].correction.state == ChargeCorrection.State.CARRIED
    assert all(c.carried_to.exists() for c in corrections_to_carry(run))


def test_the_review_page_offers_correct_and_remove_on_an_added_line(client_as, coder_user) -> None:
    encounter, run, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    client = client_as(roles.CODER)
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    url = reverse("coding:added_line_correct", args=[encounter.pk, added.pk])
    assert f'action="{url}"' in page
    prefix = f"a{added.pk}"
    # Refused without a reason: beside the field, on the page, what was typed kept.
    refused = client.post(
        url, {f"{prefix}-action": "change", f"{prefix}-code": "96372", f"{prefix}-units": "4"}
    )
    assert refused.status_code == 200
    shown = refused.content.decode()
    assert "Say why the line is corrected" in shown and 'value="4"' in shown
    done = client.post(
        url,
        {
            f"{prefix}-action": "change", f"{prefix}-code": "96372", f"{prefix}-units": "2",
            f"{prefix}-modifiers": "", f"{prefix}-reason": "two hours",
        },
    )  # fmt: skip
    assert done.status_code == 302
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert "Added line 96372 ×1 corrected to 96372 ×2: two hours" in page
    assert "Was</strong> 96372 ×1" in page and "(as added)" in page
    client.post(url, {f"{prefix}-action": "remove", f"{prefix}-reason": "wrong visit"})
    page = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert "Added line 96372 ×2 removed: wrong visit" in page
    assert f'action="{url}"' not in page  # a removed line shows no form


@pytest.mark.parametrize("role", [roles.NURSE, roles.PHARMACIST, roles.CLERK])
def test_only_coders_correct_an_added_line(client_as, coder_user, role) -> None:
    encounter, _, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    url = reverse("coding:added_line_correct", args=[encounter.pk, added.pk])
    response = client_as(role).post(
        url, {f"a{added.pk}-action": "remove", f"a{added.pk}-reason": "added by mistake"}
    )
    assert response.status_code == 403
    assert not ChargeCorrection.objects.filter(amends=added).exists()


def test_an_added_line_of_another_encounter_is_not_found_under_this_one(
    client_as, coder_user
) -> None:
    encounter, _, item = claimed(coder_user)
    other, _, _ = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    url = reverse("coding:added_line_correct", args=[other.pk, added.pk])
    response = client_as(roles.CODER).post(
        url, {f"a{added.pk}-action": "remove", f"a{added.pk}-reason": "added by mistake"}
    )
    assert response.status_code == 404


@pytest.mark.postgresql("the audit trail is PostgreSQL's triggers (django-pghistory)")
def test_the_correction_of_an_added_line_is_in_the_audit_trail(coder_user) -> None:
    from mar.audit.models import EVENTS

    encounter, _, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    removal = charge_line_correct(
        item=item, user=coder_user, added=added, action="remove", reason="wrong visit"
    )
    (event,) = EVENTS[ChargeCorrection].objects.filter(pgh_obj_id=removal.pk)
    assert event.pgh_label == "insert"
    assert (event.action, event.amends_id, event.reason) == ("remove", added.pk, "wrong visit")


def test_a_keep_is_not_undone_once_the_line_it_kept_was_corrected(coder_user) -> None:
    """Undoing the keep would leave the coder's later correction of the line applying to
    nothing: she corrects or removes the line instead."""
    from coding.corrections import correction_decision_undo

    encounter, run, item, kept = kept_as_added(coder_user)
    charge_line_correct(
        item=item, user=coder_user, added=kept, action="change", code="96375", units=2,
        modifiers=[], reason="two pushes on the flowsheet",
    )  # fmt: skip
    with pytest.raises(ValidationError, match="corrected since this decision"):
        correction_decision_undo(item=item, user=coder_user, correction=kept, reason="re-read")
    kept.refresh_from_db()
    assert kept.state == ChargeCorrection.State.KEPT


def test_the_reconciliation_report_says_a_correction_is_of_a_line_added(
    client_as, coder_user
) -> None:
    from django.utils import timezone

    encounter, run, item = claimed(coder_user)
    added = add_96372(coder_user, encounter, item)
    charge_line_correct(
        item=item, user=coder_user, added=added, action="remove", reason="wrong visit"
    )
    day = timezone.localdate(encounter.arrived_at).isoformat()
    page = client_as(roles.CODER).get(
        reverse("coding:report_reconciliation"), {"date_from": day, "date_to": day}
    )
    rows = page.content.decode().split('data-testid="correction-row"')[1:]
    (removal,) = [row for row in rows if "wrong visit" in row]
    assert "Remove" in removal and "of a line added" in removal
    assert "96372 ×1" in removal and "(as added, not the engine's)" in removal
