"""A coder's reason: at most REASON_MAX characters (as every reason typed in the app), said
beside the field as a sentence with what was typed kept; a long one within the limit shown as
its head and a native "Show all" on the review page, the reconciliation report and the payer
policy pages, and cut in the banner.

QA (Chromium): a correction reason of ~1,700 characters was accepted with no limit said and
shown whole twice in the charge line's row ("corrected by…" and "Was J9045 ×2 (engine) — …"),
making the row thousands of pixels tall; the success banner repeated it."""

from __future__ import annotations

import importlib
import inspect
import re
from datetime import timedelta

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from coding.forms import ReasonField
from coding.models import ChargeCorrection
from coding.payer_views import PayerPolicyForm
from coding.review import REASON_MAX, charge_line_correct, review_claim
from tests.coding.review_helpers import reviewed

pytestmark = pytest.mark.django_db

WORDS = "The second bag was the same drug continued, charted as a new bag by the night nurse. "
LONG = (WORDS * 25)[:1700].strip()  # QA's ~1,700 characters, within the limit
TOO_LONG = (WORDS * 30)[:2100]


@pytest.fixture
def claimed(coder_user):
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    client = Client()
    client.force_login(coder_user)
    return encounter, run, item, client


def correction(line, reason: str) -> dict[str, str]:
    data = {"action": "change", "code": line.code, "units": "1", "modifiers": "",
            "reason": reason}  # fmt: skip
    return {f"l{line.pk}-{name}": value for name, value in data.items()}


def test_every_coder_reason_field_has_the_limit_said_and_no_maxlength_to_cut_a_paste() -> None:
    """Each reason of coding's forms is a ReasonField: REASON_MAX (2000, as mar's and the
    pharmacy's reasons), the limit in its help, and no `maxlength` on the box (the browser
    would cut a longer paste silently: the server says it instead, what was typed kept)."""
    found = {}
    for name, form_class in inspect.getmembers(importlib.import_module("coding.forms")):
        if inspect.isclass(form_class) and issubclass(form_class, forms.BaseForm):
            if "reason" in form_class.base_fields:
                found[name] = form_class.base_fields["reason"]
    found["PayerPolicyForm"] = PayerPolicyForm(initial_policy={}).fields["reason"]
    assert len(found) >= 10
    for name, field in found.items():
        assert isinstance(field, ReasonField), name
        assert field.max_length == REASON_MAX == 2000, name
        assert f"At most {REASON_MAX} characters." in str(field.help_text), name
        assert "maxlength" not in field.widget_attrs(field.widget), name


def test_a_reason_over_the_limit_is_said_beside_the_field_and_kept(claimed) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    response = client.post(url, correction(line, TOO_LONG))
    assert response.status_code == 200
    page = response.content.decode()
    said = "At most 2000 characters: say why in a few sentences (the record and the findings"
    assert said in page and "This one has 2100." in page
    box = re.search(rf'<textarea name="l{line.pk}-reason"[^>]*>', page)
    assert box is not None and "maxlength" not in box.group(0)
    assert TOO_LONG.strip()[:200] in page  # what was typed is back in the box
    assert not ChargeCorrection.objects.exists()


def test_the_services_refuse_a_reason_over_the_limit_beside_the_reason(claimed, coder_user) -> None:
    _, run, item, _ = claimed
    with pytest.raises(ValidationError) as refused:
        charge_line_correct(
            item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
            code="96415", units=1, reason="x" * (REASON_MAX + 1),
        )  # fmt: skip
    assert refused.value.message_dict["reason"][0].endswith("This one has 2001.")
    assert not ChargeCorrection.objects.exists()


def test_a_long_reason_is_folded_in_the_lines_row_and_cut_in_the_banner(claimed) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    response = client.post(url, correction(line, LONG), follow=True)
    assert response.status_code == 200
    (banner,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert banner.startswith("Line 96415 ×2 corrected to 96415 ×1: The second bag")
    assert "… The original is kept beside it." in banner and len(banner) < 260
    page = response.content.decode()
    row = page.split('data-code="96415"', 1)[1].split("</tr>", 1)[0]
    # The reason's head in the row, twice at most (the why and the correction), each folded.
    assert row.count('class="text-clamp text-clamp-inline"') == 2
    assert 'data-testid="correction-reason"' in row and 'data-testid="line-why"' in row
    assert f"Show all ({len(LONG)} characters)" in row
    # The whole text is reachable: inside each fold.
    assert row.count(LONG) == 2
    heads = re.findall(r'<span class="text-clamp-head">(.*?)</span>', row, flags=re.S)
    assert heads and all(len(head) <= 161 for head in heads)


def test_a_short_reason_is_shown_whole_without_a_fold(claimed) -> None:
    encounter, run, _, client = claimed
    line = run.lines.get(code="96415")
    url = reverse("coding:line_correct", args=[encounter.pk, line.pk])
    page = client.post(url, correction(line, "one hour only"), follow=True).content.decode()
    row = page.split('data-code="96415"', 1)[1].split("</tr>", 1)[0]
    assert "text-clamp" not in row and "“one hour only”" in row


def test_the_reconciliation_report_folds_a_long_reason(claimed, coder_user) -> None:
    encounter, run, item, client = claimed
    charge_line_correct(
        item=item, user=coder_user, line=run.lines.get(code="96415"), action="change",
        code="96415", units=1, reason=LONG,
    )  # fmt: skip
    today = timezone.localdate()
    page = client.get(
        reverse("coding:report_reconciliation"),
        {"date_from": (today - timedelta(days=3650)).isoformat(), "date_to": today.isoformat()},
    ).content.decode()
    row = page.split('data-testid="correction-row"', 1)[1].split("</tr>", 1)[0]
    assert 'data-testid="correction-reason"' in row and f"Show all ({len(LONG)} characters)" in row
    assert row.count(LONG) == 1
