"""The coder's worklist counts every finding of the current charges, info ones too, and the review
page's "No findings that change a charge" says how many info ones it folds below, so a worklist's
"Findings 2" and a review page with none listed agree in words (QA walkthrough)."""

import re

from django.urls import reverse

from mar import roles
from tests.coding.review_helpers import reviewed


def info_finding(run, position: int) -> None:
    """DRUG-WASTE at info level (the drug's container not stated): it changes no charge."""
    run.findings.create(
        position=position, rule="DRUG-WASTE", severity="info", administrations=["A1"],
        message="Container not stated for zorblumab: JW/JZ not decided",
    )  # fmt: skip


def test_the_worklist_says_its_findings_count_info_ones_and_the_review_says_how_many_it_folds(
    client_as, nurse_user
) -> None:
    encounter, run, _item = reviewed(nurse=nurse_user)
    run.findings.exclude(severity="info").delete()  # none changes a charge
    info_finding(run, 98)
    info_finding(run, 99)
    client = client_as(roles.CODER)
    worklist = client.get(reverse("coding:worklist")).content.decode()
    header = re.search(r"<th[^>]*>Findings.*?</th>", worklist)
    assert header and "(all, info too)" in header.group(0)
    row = worklist[worklist.index(f'data-encounter="{encounter.pk}"') :].split("</tr>")[0]
    assert re.search(r'data-testid="finding-count"[^>]*>2<', row)
    review = client.get(reverse("coding:encounter_charges", args=[encounter.pk]))
    listed = review.content.decode()
    listed = listed[listed.index('data-testid="findings"') :].split("</ul>")[0]
    assert "No findings that change a charge; 2 info findings below, for the record." in " ".join(
        re.sub(r"<[^>]+>", "", listed).split()
    )
