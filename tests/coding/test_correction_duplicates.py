"""A coder's first correction never makes a line the claim already sends: changing a line (or
adding one, or correcting an added one) to the code, date and modifiers another line sends is
refused beside the field, naming that line by its number on the review page ("96361 on
2026-03-02 is already billed by line 2 ...: change that line's units instead"). A distinct
service is a distinct line: other modifiers (59, XU) are another key. Two drug lines of one
code are two NDCs, not twice. (The re-review's keep and adapt refused it already:
coding/corrections.py.)"""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from coding.models import ChargeCorrection
from coding.review import charge_line_correct, effective_lines, review_claim
from mar import roles
from tests.coding.review_helpers import ondansetron_twice, reviewed

pytestmark = pytest.mark.django_db


def claimed(coder):
    """The chemotherapy visit's charges claimed: 1 96413, 2 96361 (A1), 3 96375 (A2),
    4 96415 ×2, on 2026-03-02."""
    encounter, run, item = reviewed()
    return encounter, run, review_claim(user=coder, item_id=item.pk)


def test_changing_a_line_into_one_another_line_sends_is_refused_beside_the_code(
    coder_user,
) -> None:
    _, run, item = claimed(coder_user)
    push = run.lines.get(code="96375")
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, line=push, action="change", code="96361", units=1,
            modifiers=[], reason="read as hydration",
        )  # fmt: skip
    said = refused.value.message_dict["code"][0]
    assert said.startswith("96361 on 2026-03-02 is already billed by line 2 (96361 ×1")
    assert "change that line's units instead" in said
    assert not ChargeCorrection.objects.exists()


def test_a_distinct_service_with_its_own_modifier_is_a_line_of_its_own(coder_user) -> None:
    _, run, item = claimed(coder_user)
    push = run.lines.get(code="96375")
    charge_line_correct(
        item=item, user=coder_user, line=push, action="change", code="96361", units=1,
        modifiers=["XU"], reason="hydration at a second site, a distinct service",
    )  # fmt: skip
    sent = sorted((line.code, line.modifiers) for line in effective_lines(run))
    assert ("96361", ()) in sent and ("96361", ("XU",)) in sent


def test_dropping_the_modifier_that_made_a_line_distinct_is_refused_beside_the_modifiers(
    coder_user,
) -> None:
    _, run, item = claimed(coder_user)
    push = run.lines.get(code="96375")
    charge_line_correct(
        item=item, user=coder_user, line=push, action="change", code="96361", units=1,
        modifiers=["59"], reason="a distinct hydration",
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, line=push, action="change", code="96361", units=1,
            modifiers=[], reason="no modifier after all",
        )  # fmt: skip
    assert "already billed by line 2" in refused.value.message_dict["modifiers"][0]


def test_units_changed_on_a_line_keeps_its_own_key_and_is_not_a_duplicate(coder_user) -> None:
    _, run, item = claimed(coder_user)
    line = run.lines.get(code="96361")
    charge_line_correct(
        item=item, user=coder_user, line=line, action="change", code="96361", units=2,
        modifiers=[], reason="two hours",
    )  # fmt: skip
    assert ChargeCorrection.objects.count() == 1


def test_a_line_removed_sends_nothing_so_another_may_take_its_code(coder_user) -> None:
    _, run, item = claimed(coder_user)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96361"), action="remove",
        reason="no hydration order",
    )  # fmt: skip
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96375"), action="change",
        code="96361", units=1, modifiers=[], reason="read as hydration",
    )  # fmt: skip
    assert [line.code for line in effective_lines(run)].count("96361") == 1


def test_adding_a_line_the_claim_already_sends_is_refused(coder_user) -> None:
    encounter, run, item = claimed(coder_user)
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, action="add", code="96415", units=1, modifiers=[],
            reason="a third hour",
        )  # fmt: skip
    said = refused.value.message_dict["code"][0]
    assert "96415 on 2026-03-02 is already billed by line 4" in said
    assert "change that line's units instead" in said


def test_correcting_an_added_line_into_a_line_sent_is_refused(coder_user) -> None:
    _, _, item = claimed(coder_user)
    added = charge_line_correct(
        item=item, user=coder_user, action="add", code="96372", units=1, modifiers=[],
        reason="an extra hour",
    )  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, added=added, action="change", code="96415", units=1,
            modifiers=[], reason="it was chemotherapy",
        )  # fmt: skip
    assert "already billed by line 4" in refused.value.message_dict["code"][0]


def test_two_drug_lines_of_one_code_are_two_ndcs_not_a_duplicate(coder_user) -> None:
    """Two pushes of ondansetron with two NDCs scanned: two J2405 lines, the same code, date and
    modifiers; a correction that gives one the other's key again is no duplicate (each keeps
    its NDC)."""
    from coding.services import charge_run_generate

    encounter = ondansetron_twice(scanned=("00409400101", "00781305195"))
    run, _ = charge_run_generate(encounter_id=encounter.pk)
    item = review_claim(user=coder_user, item_id=encounter.review_item.pk)
    drug = [line for line in run.lines.order_by("position") if line.code == "J2405"]
    assert len(drug) == 2
    for mods in (["JZ"], []):  # away from the other NDC's key, then back to it
        charge_line_correct(
            item=item, user=coder_user, line=drug[1], action="change", code="J2405",
            units=drug[1].units, modifiers=mods, reason="the modifier re-read",
        )  # fmt: skip
    assert [line.code for line in effective_lines(run)].count("J2405") == 2


def test_the_review_page_says_the_duplicate_beside_the_code_and_numbers_its_lines(
    client_as, coder_user
) -> None:
    encounter, run, _ = claimed(coder_user)
    push = run.lines.get(code="96375")
    client = client_as(roles.CODER)
    prefix = f"l{push.pk}"
    response = client.post(
        reverse("coding:line_correct", args=[encounter.pk, push.pk]),
        {
            f"{prefix}-action": "change", f"{prefix}-code": "96361", f"{prefix}-units": "1",
            f"{prefix}-modifiers": "", f"{prefix}-reason": "read as hydration",
        },
    )  # fmt: skip
    assert response.status_code == 200
    page = response.content.decode()
    assert "is already billed by line 2" in page
    assert 'data-testid="line-number">2<' in page
    assert not ChargeCorrection.objects.exists()
