"""Exports as a ledger (coding/ledger.py): the next export sends only the difference: credits
(CD) under the original transaction id, new charges (CG); nothing when nothing changed."""

import csv
import io
import json
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from coding.exports import _fhir_parse, export_create, ledger_sum
from coding.ledger import Sendable, ledger_difference
from coding.models import LedgerEntry, ReviewItem
from coding.review import (
    charge_line_correct,
    effective_lines,
    review_accept,
    review_claim,
    review_reopen,
)
from coding.services import charge_run_generate
from mar.models import Administration
from tests.coding.review_helpers import (
    ONDANSETRON_NDCS,
    addendum_for_test,
    ondansetron_twice,
    reviewed,
)

pytestmark = pytest.mark.django_db


def accept(coder, item):
    item = review_claim(user=coder, item_id=item.pk)
    review_accept(item=item, user=coder)


def accepted_sum(encounter):
    item = ReviewItem.objects.get(encounter=encounter)
    total: dict = {}
    for line in effective_lines(item.run):
        key = (line.code, tuple(line.modifiers), line.date)
        total[key] = total.get(key, 0) + line.units
    return total


def shorten_chemo(encounter, author, minutes):
    addendum_for_test(encounter, author)
    adm = Administration.objects.get(encounter=encounter, drug__name="paclitaxel")
    Administration.objects.filter(pk=adm.pk).update(stop=adm.start + timedelta(minutes=minutes))
    charge_run_generate(encounter_id=encounter.pk, trigger="addendum")


def test_a_change_after_billing_sends_credits_and_new_charges_only(coder_user) -> None:
    encounter, run, item = reviewed()
    accept(coder_user, item)
    first = export_create(user=coder_user).export
    charges = list(LedgerEntry.objects.filter(encounter=encounter, kind="CG"))
    assert len(charges) == run.lines.count()
    assert len({c.transaction_id for c in charges}) == len(charges)
    assert ledger_sum(encounter.pk) == accepted_sum(encounter)

    shorten_chemo(encounter, coder_user, 150)  # 96415 x2 becomes x1
    item.refresh_from_db()
    assert item.state == ReviewItem.State.NEW
    accept(coder_user, item)
    outcome = export_create(user=coder_user)
    second = outcome.export
    assert second is not None and second.pk != first.pk
    sent = list(LedgerEntry.objects.filter(export=second).order_by("pk"))
    credit = [e for e in sent if e.kind == "CD"]
    charge = [e for e in sent if e.kind == "CG"]
    assert [(e.code, e.units) for e in credit] == [("96415", 2)]
    assert [(e.code, e.units) for e in charge] == [("96415", 1)]
    original = LedgerEntry.objects.get(export=first, code="96415")
    assert credit[0].reverses == original
    assert credit[0].transaction_id == original.transaction_id
    assert charge[0].transaction_id not in {c.transaction_id for c in charges}
    assert ledger_sum(encounter.pk) == accepted_sum(encounter)

    # HL7: one CD under the original id, one CG, nothing else for the unchanged lines.
    msg = parse_message(
        second.hl7_text.strip(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True
    )
    ft1s = [group.ft1 for group in msg.dft_p03_financial]
    assert [(f.ft1_6.value, f.ft1_7.ce_1.value, f.ft1_10.value) for f in ft1s] == [
        ("CD", "96415", "2"),
        ("CG", "96415", "1"),
    ]
    assert ft1s[0].ft1_2.value == original.transaction_id
    # CSV: the same credit and charge rows.
    rows = list(csv.DictReader(io.StringIO(second.csv_text, newline="")))
    assert [(r["transaction"], r["transaction_id"], r["code"], r["units"]) for r in rows] == [
        ("CD", original.transaction_id, "96415", "2"),
        ("CG", charge[0].transaction_id, "96415", "1"),
    ]
    # FHIR: the replaced line entered-in-error under its original identifier, the new billable.
    from fhir.resources.R4B.bundle import Bundle

    bundle = _fhir_parse(Bundle, json.loads(second.fhir_json))
    items = [entry.resource for entry in bundle.entry]
    assert [(i.status, i.identifier[0].value) for i in items] == [
        ("entered-in-error", original.transaction_id),
        ("billable", charge[0].transaction_id),
    ]


def test_exporting_again_with_no_change_sends_nothing(coder_user) -> None:
    encounter, _, item = reviewed()
    accept(coder_user, item)
    export_create(user=coder_user)
    before = LedgerEntry.objects.count()
    # An addendum that changes no charge: a new review, the same lines.
    addendum_for_test(encounter, coder_user)
    administration = Administration.objects.filter(encounter=encounter).first()
    Administration.objects.filter(pk=administration.pk).update(bag="bag-1")
    charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    item.refresh_from_db()
    if item.state == ReviewItem.State.NEW:
        accept(coder_user, item)
        outcome = export_create(user=coder_user)
        assert outcome.export is None
        assert outcome.unchanged and str(encounter.pk) in outcome.unchanged[0]
        item.refresh_from_db()
        assert item.state == ReviewItem.State.EXPORTED
    assert LedgerEntry.objects.count() == before


def test_worklist_and_review_say_changed_after_billing(coder_user, client_as) -> None:
    encounter, _, item = reviewed()
    accept(coder_user, item)
    export_create(user=coder_user)
    shorten_chemo(encounter, coder_user, 150)
    client = client_as("coder")
    from django.urls import reverse

    worklist = client.get(reverse("coding:worklist")).content.decode()
    assert "Changed after billing" in worklist  # a new run since the export
    assert 'data-testid="back-from-billing"' not in worklist
    review = client.get(reverse("coding:encounter_charges", args=[encounter.pk])).content.decode()
    assert "Changed after billing" in review


def test_the_review_page_shows_what_the_next_export_credits_and_charges(
    coder_user, client_as
) -> None:
    """Before, "Changed after billing" said only that the difference would go: the coder could
    not see which billed charge would be credited and what charged instead before accepting.
    The page shows what the export then sends, transaction for transaction."""
    from django.urls import reverse

    encounter, run, item = reviewed()
    accept(coder_user, item)
    export_create(user=coder_user)
    billed_96415 = LedgerEntry.objects.get(encounter=encounter, code="96415")
    shorten_chemo(encounter, coder_user, 150)  # 96415 x2 becomes x1
    page = client_as("coder").get(reverse("coding:encounter_charges", args=[encounter.pk]))
    html = page.content.decode()
    difference = page.context["billing_difference"]

    assert [e.transaction_id for e in difference["credits"]] == [billed_96415.transaction_id]
    assert [line.label for line in difference["charges"]] == ["96415 x1"]
    assert difference["unchanged"] == run.lines.count() - 1
    assert f"credit (CD) of {billed_96415.transaction_id}: 96415 ×2" in html
    assert "new charge (CG): 96415 x1" in html

    accept(coder_user, item)
    sent = LedgerEntry.objects.filter(export=export_create(user=coder_user).export)
    assert sorted((e.kind, e.code, e.units) for e in sent) == [
        ("CD", "96415", 2), ("CG", "96415", 1),
    ]  # fmt: skip


def test_two_drug_lines_that_became_one_are_credited_and_charged_once(coder_user) -> None:
    """Two J2405 lines billed (two packages scanned: 5 + 5 units); the scan corrected, the
    re-coded encounter has the day's one line of 9: the export credits the two under their own
    transaction ids and charges the one; nothing else is sent; the ledger holds what is
    accepted, nothing lost or doubled."""
    encounter = ondansetron_twice(scanned=ONDANSETRON_NDCS)
    charge_run_generate(encounter_id=encounter.pk)
    item = ReviewItem.objects.get(encounter=encounter)
    accept(coder_user, item)
    first = export_create(user=coder_user).export
    billed = list(LedgerEntry.objects.filter(export=first, code="J2405").order_by("pk"))
    assert [(e.kind, e.units) for e in billed] == [("CG", 5), ("CG", 5)]

    addendum_for_test(encounter, coder_user)
    Administration.objects.filter(encounter=encounter, ndc=ONDANSETRON_NDCS[0]).update(
        ndc=ONDANSETRON_NDCS[1]
    )
    charge_run_generate(encounter_id=encounter.pk, trigger="addendum")
    item.refresh_from_db()
    accept(coder_user, item)
    second = export_create(user=coder_user).export
    assert second is not None and second.pk != first.pk
    sent = list(LedgerEntry.objects.filter(export=second).order_by("pk"))
    assert [(e.kind, e.code, e.units) for e in sent] == [
        ("CD", "J2405", 5),
        ("CD", "J2405", 5),
        ("CG", "J2405", 9),
    ]
    assert [e.reverses for e in sent[:2]] == billed
    assert [e.transaction_id for e in sent[:2]] == [e.transaction_id for e in billed]
    assert sorted(sent[2].administrations) == sorted(a for e in billed for a in e.administrations)
    assert sent[2].detail["ndc"] == ONDANSETRON_NDCS[1]
    assert ledger_sum(encounter.pk) == accepted_sum(encounter)
    assert ledger_sum(encounter.pk)[("J2405", (), sent[2].date)] == 9


def test_lines_billed_one_per_dose_are_credited_for_the_days_one_line() -> None:
    """An encounter billed before the drug lines were grouped (a line per dose, 2 + 2) and coded
    again (one line of 3): both standing charges are credited, the one line charged."""
    day = date(2026, 3, 2)
    standing = [
        LedgerEntry(pk=pk, code="J2405", modifiers=[], units=2, date=day, administrations=[a])
        for pk, a in ((1, "A1"), (2, "A2"))
    ]
    desired = [Sendable("J2405", (), 3, day, ("A1", "A2"))]
    difference = ledger_difference(standing, desired)
    assert difference.credits == standing
    assert difference.new == [0] and difference.kept == {}
    unchanged = ledger_difference(standing[:1], [Sendable("J2405", (), 2, day, ("A1",))])
    assert unchanged.empty


def test_a_coder_corrects_after_billing_and_the_next_export_sends_only_the_difference(
    coder_user, client_as
) -> None:
    """Exported charges taken back into review (the coder finds her own error once billing has
    them): billing's charges stay as they are until she accepts again; then the next export
    credits the line she corrected and charges it anew, nothing else; nothing is doubled."""
    encounter, run, item = reviewed()
    accept(coder_user, item)
    first = export_create(user=coder_user).export
    billed = ledger_sum(encounter.pk)
    client = client_as("coder")
    page = client.get(f"/coding/encounters/{encounter.pk}/").content.decode()
    assert 'data-testid="exported-note"' in page and "Correct after billing" in page
    assert f"with {coder_user.get_username()} since" not in page  # her claim ended at export

    reopened = review_reopen(item=ReviewItem.objects.get(pk=item.pk), user=coder_user)
    assert reopened.state == ReviewItem.State.IN_REVIEW and reopened.claimed_by == coder_user
    page = client.get(f"/coding/encounters/{encounter.pk}/").content.decode()
    # Nothing corrected yet: back from billing, not "changed after billing"; the worklist's
    # row says the same.
    assert 'data-testid="back-from-billing"' in page
    assert 'data-testid="changed-after-billing"' not in page
    assert "Billed before, nothing changed yet" in page and "changed since" not in page
    worklist = client.get("/coding/worklist/").content.decode()
    assert 'data-testid="back-from-billing"' in worklist
    assert 'data-testid="changed-after-billing"' not in worklist
    with pytest.raises(ValidationError, match="Nothing to export"):  # in review: nothing sent
        export_create(user=coder_user)
    assert ledger_sum(encounter.pk) == billed
    line = run.lines.get(code="96415")
    charge_line_correct(
        item=reopened, user=coder_user, line=line, action="change", code="96415",
        units=line.units - 1, modifiers=[], reason="documentation supports one hour less",
    )  # fmt: skip
    page = client.get(f"/coding/encounters/{encounter.pk}/").content.decode()
    assert 'data-testid="changed-after-billing"' in page  # corrected: now it differs
    assert "Billed before, changed since" in page
    worklist = client.get("/coding/worklist/").content.decode()
    assert 'data-testid="changed-after-billing"' in worklist
    assert 'data-testid="back-from-billing"' not in worklist
    review_accept(item=ReviewItem.objects.get(pk=item.pk), user=coder_user)
    second = export_create(user=coder_user).export
    assert second is not None and second.pk != first.pk
    sent = sorted((e.kind, e.code, e.units) for e in LedgerEntry.objects.filter(export=second))
    assert sent == [("CD", "96415", line.units), ("CG", "96415", line.units - 1)]
    assert ledger_sum(encounter.pk) == accepted_sum(encounter)
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.EXPORTED
