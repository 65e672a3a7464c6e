"""Reports: recurring documentation findings by nurse and unit; charge reconciliation."""

import re
from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from coding.reports import findings_by_nurse_and_unit, findings_by_rule, reconciliation
from coding.review import charge_line_correct, review_accept, review_claim
from mar import roles
from tests import factories
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db
DAY = date(2026, 3, 2)


def test_findings_are_counted_by_nurse_unit_and_rule(nurse_user) -> None:
    other = factories.user_create(username="nurse2", role="nurse")
    reviewed(nurse=nurse_user, unit="Infusion Center")
    reviewed(nurse=nurse_user, unit="Infusion Center")
    reviewed(nurse=other, unit="ED")
    rows = findings_by_nurse_and_unit(date_from=DAY, date_to=DAY)
    rac5 = {(r["nurse"], r["unit"]): r for r in rows if r["rule"] == "RAC-5"}
    assert rac5[("nurse1", "Infusion Center")]["findings"] == 2
    assert rac5[("nurse1", "Infusion Center")]["encounters"] == 2
    assert rac5[("nurse2", "ED")]["findings"] == 1
    by_rule = {r["rule"]: r for r in findings_by_rule(date_from=DAY, date_to=DAY)}
    assert by_rule["RAC-5"]["findings"] == 3
    assert by_rule["RAC-5"]["nurses"] == 2
    assert by_rule["RAC-5"]["units"] == 2


def test_findings_outside_the_range_are_left_out(nurse_user) -> None:
    reviewed(nurse=nurse_user)
    assert findings_by_nurse_and_unit(date_from=date(2026, 3, 3), date_to=date(2026, 3, 9)) == []


def test_reconciliation_lists_unaccepted_encounters_and_corrections(coder_user) -> None:
    pending, _, _ = reviewed()
    done, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96375"), action="remove",
        reason="given in the ED before transfer",
    )  # fmt: skip
    review_accept(item=item, user=coder_user)
    report = reconciliation(date_from=DAY, date_to=DAY)
    assert list(report.not_accepted) == [pending]
    correction = report.corrections.get()
    assert correction.reason == "given in the ED before transfer"
    assert correction.original["code"] == "96375"


def test_report_pages_show_the_rows(client_as, coder_user, nurse_user) -> None:
    pending, _, _ = reviewed(nurse=nurse_user)
    client = client_as(roles.CODER)
    params = {"date_from": "2026-03-01", "date_to": "2026-03-02"}
    page = client.get(reverse("coding:report_findings"), params).content.decode()
    assert "RAC-5" in page and "nurse1" in page
    page = client.get(reverse("coding:report_reconciliation"), params).content.decode()
    assert pending.patient.name in page


def _info_finding(run) -> None:
    """DRUG-WASTE at info level (the drug's container not stated): it changes no charge."""
    run.findings.create(
        position=99, rule="DRUG-WASTE", severity="info", administrations=["A1"],
        message="Container not stated for zorblumab: JW/JZ not decided",
    )  # fmt: skip


def test_info_level_findings_do_not_fill_the_findings_report(client_as, nurse_user) -> None:
    """Issue 15: info-level findings (DRUG-WASTE, container not stated) are left out of the
    findings report unless asked for; the page says how many it left out."""
    _encounter, run, _item = reviewed(nurse=nurse_user)
    _info_finding(run)
    assert "DRUG-WASTE" not in {r["rule"] for r in findings_by_rule(date_from=DAY, date_to=DAY)}
    rows = findings_by_nurse_and_unit(date_from=DAY, date_to=DAY)
    assert all(r["severity"] != "info" for r in rows)
    with_info = findings_by_rule(date_from=DAY, date_to=DAY, include_info=True)
    assert "DRUG-WASTE" in {r["rule"] for r in with_info}
    client = client_as(roles.CODER)
    url = reverse("coding:report_findings")
    span = {"date_from": DAY.isoformat(), "date_to": DAY.isoformat()}
    page = client.get(url, span).content.decode()
    assert "DRUG-WASTE" not in page and "1 info-level finding" in page
    page = client.get(url, {**span, "info": "1"}).content.decode()
    assert "DRUG-WASTE" in page and "Hide them" in page


def test_info_level_findings_are_folded_on_the_coders_review(client_as, nurse_user) -> None:
    encounter, run, _item = reviewed(nurse=nurse_user)
    _info_finding(run)
    page = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    html = page.content.decode()
    listed = html[html.index('data-testid="findings"') :]
    listed = listed[: listed.index("</ul>")]
    assert "DRUG-WASTE" not in listed
    folded = html[html.index('data-testid="info-findings"') :]
    assert "DRUG-WASTE" in folded[: folded.index("</details>")]


def test_a_correction_a_later_one_of_the_same_line_replaced_is_not_said_applied(
    client_as, coder_user
) -> None:
    """QA: "Change 96375 -> 96375 XU" and a later "Remove 96375" both read "Applied", though
    only the removal decides the line (`review.effective_lines`: a line's latest correction).
    The first reads "Replaced by a later correction (who, when)"; the last, and a correction of
    another line, read as they stand."""
    _, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    line = run.lines.get(code="96375")
    first = charge_line_correct(
        item=item, user=coder_user, line=line, action="change", code="96375", units=line.units,
        modifiers=["XU"], day=line.date, reason="separate encounter, distinct service",
    )  # fmt: skip
    last = charge_line_correct(
        item=item, user=coder_user, line=line, action="remove",
        reason="given in the ED before transfer",
    )  # fmt: skip
    other = next(li for li in run.lines.all() if li.pk != line.pk)
    alone = charge_line_correct(
        item=item, user=coder_user, line=other, action="remove", reason="not given here"
    )
    report = reconciliation(date_from=DAY, date_to=DAY)
    replaced = {h.current.pk: h.replaced_by for h in report.histories}
    assert replaced == {first.pk: last, last.pk: None, alone.pk: None}

    params = {"date_from": "2026-03-01", "date_to": "2026-03-02"}
    page = client_as(roles.CODER).get(reverse("coding:report_reconciliation"), params)
    states = re.findall(
        r'data-testid="correction-state" data-state="([^"]*)">([^<]*)<', page.content.decode()
    )
    when = timezone.localtime(last.at).strftime("%Y-%m-%d %H:%M")
    assert states == [
        ("replaced", f"Replaced by a later correction (coder1, {when})"),
        ("applied", "Applied"),
        ("applied", "Applied"),
    ]
