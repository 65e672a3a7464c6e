"""The charge master (coding/chargemaster.py): the loader refuses bad files whole with line
numbers; each load is a version in effect from its date, history kept, and a line is priced by
the version in effect on its date of service; lines carry revenue code, unit price and amount in
every export (parsed back); a code missing from a loaded charge master is an edit that blocks
until loaded or overridden."""

import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.chargeitem import ChargeItem
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from coding.chargemaster import (
    BEGINNING,
    ChargeMasterFileError,
    charge_master_any,
    charge_master_for,
    charge_master_items,
    charge_master_load,
    charge_master_parse,
)
from coding.claim import claim_details
from coding.exports import REVENUE_EXTENSION, UNIT_PRICE_EXTENSION, export_create
from coding.models import ChargeMasterItem, ChargeRun, LedgerEntry, ReviewItem
from coding.review import (
    charge_edits_for_run,
    edit_override_create,
    effective_lines,
    review_accept,
    review_claim,
)
from mar import roles
from tests.coding.review_helpers import reviewed
from tests.mar.test_prepared import ON_POSTGRESQL, _snapshot

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "coding" / "data" / "charge_master_sample.csv"


HEADER = "code,revenue_code,description,unit_price\n"


def load_sample() -> None:
    call_command("load_charge_master", stdout=io.StringIO())


def write_cdm(folder: Path, *rows: str) -> Path:
    path = folder / "cdm.csv"
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def accepted(coder, **kwargs):
    encounter, run, item = reviewed(**kwargs)
    review_claim(user=coder, item_id=item.pk)
    review_accept(item=item, user=coder)
    return encounter, run, item


def test_the_sample_maps_iv_chemo_and_drug_codes_to_their_revenue_codes() -> None:
    rows = {row.code: row for row in charge_master_parse(SAMPLE.read_text())}
    assert rows["96365"].revenue_code == "0260"
    assert rows["96374"].revenue_code == "0260"
    assert rows["96413"].revenue_code == "0335"
    assert rows["96401"].revenue_code == "0331"
    assert rows["J9267"].revenue_code == "0636"
    assert all(row.unit_price > 0 and row.description for row in rows.values())


def test_a_bad_file_is_refused_whole_with_every_bad_line_named(tmp_path) -> None:
    load_sample()
    before = dict(ChargeMasterItem.objects.values_list("code", "unit_price"))
    bad = tmp_path / "cdm.csv"
    bad.write_text(
        "code,revenue_code,description,unit_price\n"
        "96365,0260,IV infusion,310.00\n"  # line 2: good
        "96413,335X,Chemo infusion,540\n"  # line 3: revenue code
        "ABC,0260,Nothing,1\n"  # line 4: not a code
        "96374,0260,,165\n"  # line 5: no description
        "96375,0260,IV push add-on,sixty\n"  # line 6: price
        "96365,0260,IV infusion again,1.00\n"  # line 7: listed twice
    )
    with pytest.raises(CommandError) as refused:
        call_command("load_charge_master", str(bad))
    text = str(refused.value)
    for line in (3, 4, 5, 6, 7):
        assert f"line {line}:" in text
    assert "line 2:" not in text
    assert "already on line 2" in text
    assert "nothing loaded" in text
    assert dict(ChargeMasterItem.objects.values_list("code", "unit_price")) == before


def test_a_header_without_the_columns_is_refused_on_line_1() -> None:
    with pytest.raises(ChargeMasterFileError) as refused:
        charge_master_parse("cpt,price\n96365,1\n")
    assert refused.value.errors[0][0] == 1
    assert "revenue_code" in str(refused.value)


def test_a_three_digit_revenue_code_keeps_its_leading_zero_and_dollars_parse() -> None:
    (row,) = charge_master_parse(
        'Code,Revenue Code,Description,Unit Price\n96365,260,IV,"$1,310.5"\n'
    )
    assert (row.revenue_code, row.unit_price) == ("0260", Decimal("1310.50"))


def test_loading_replaces_codes_the_file_no_longer_lists_from_its_effective_date() -> None:
    load_sample()
    sample = ChargeMasterItem.objects.get(code="96413").unit_price
    charge_master_load(
        rows=charge_master_parse("code,revenue_code,description,unit_price\n96365,0260,IV,1\n"),
        effective_from=date(2026, 7, 1),
    )
    on_the_date = charge_master_for(["96365", "96413"])
    assert on_the_date.get("96413", date(2026, 7, 1)) is None  # no longer priced from then
    assert on_the_date.get("96365", date(2026, 7, 1)).unit_price == Decimal("1.00")
    day_before = on_the_date.get("96413", date(2026, 6, 30))
    assert day_before is not None and day_before.unit_price == sample  # history kept
    listed_now = {
        code
        for code in ChargeMasterItem.objects.values_list("code", flat=True).distinct()
        if charge_master_for([code]).get(code, date(2026, 7, 1)) is not None
    }
    assert listed_now == {"96365"}


def test_the_first_load_prices_every_date_and_a_later_one_defaults_to_today(tmp_path) -> None:
    load_sample()
    assert set(ChargeMasterItem.objects.values_list("effective_from", flat=True)) == {BEGINNING}
    call_command(
        "load_charge_master", str(write_cdm(tmp_path, "96413,0335,Chemo IV up to 1 h,600")),
        "--keep", stdout=io.StringIO(),
    )  # fmt: skip
    new = ChargeMasterItem.objects.get(code="96413", unit_price=Decimal("600.00"))
    assert new.effective_from == timezone.localdate()
    assert ChargeMasterItem.objects.filter(code="96413").count() == 2  # the old price kept


def test_a_load_dated_the_same_day_corrects_that_version_and_an_identical_one_adds_none() -> None:
    load_sample()
    rows = charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,600\n")
    charge_master_load(rows=rows, replace=False, effective_from=date(2026, 5, 1))
    charge_master_load(rows=rows, replace=False, effective_from=date(2026, 6, 1))  # same price
    fixed = charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,610\n")
    charge_master_load(rows=fixed, replace=False, effective_from=date(2026, 5, 1))
    versions = list(
        ChargeMasterItem.objects.filter(code="96413").values_list("effective_from", "unit_price")
    )
    assert versions == [(BEGINNING, Decimal("540.00")), (date(2026, 5, 1), Decimal("610.00"))]


def test_a_load_dated_before_a_later_one_leaves_the_later_one_in_effect_from_its_date() -> None:
    load_sample()
    later = charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,700\n")
    charge_master_load(rows=later, replace=False, effective_from=date(2026, 9, 1))
    earlier = charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,600\n")
    charge_master_load(rows=earlier, replace=False, effective_from=date(2026, 5, 1))
    master = charge_master_for(["96413"])
    assert [
        master.get("96413", day).unit_price
        for day in (date(2026, 4, 30), date(2026, 5, 1), date(2026, 8, 31), date(2026, 9, 1))
    ] == [Decimal("540.00"), Decimal("600.00"), Decimal("600.00"), Decimal("700.00")]


def test_an_effective_date_that_is_no_date_is_refused_and_nothing_loaded() -> None:
    load_sample()
    before = ChargeMasterItem.objects.count()
    with pytest.raises(CommandError, match="not a date like 2026-07-01"):
        call_command("load_charge_master", "--effective-from", "2026-13-45")
    assert ChargeMasterItem.objects.count() == before


def test_a_code_first_priced_after_the_date_of_service_is_edit_cdm_for_that_service(
    coder_user,
) -> None:
    load_sample()
    ChargeMasterItem.objects.filter(code="96413").delete()
    charge_master_load(
        rows=charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,540\n"),
        replace=False, effective_from=date(2026, 3, 3),
    )  # fmt: skip
    _, run, _ = reviewed()  # the service is on 2026-03-02
    assert [e.finding.rule for e in charge_edits_for_run(run).blocking] == ["EDIT-CDM"]


def test_lines_carry_revenue_code_unit_price_and_amount_in_csv_hl7_and_fhir(coder_user) -> None:
    load_sample()
    encounter, run, _ = accepted(coder_user, billable=True, waste=Decimal(0))
    export = export_create(user=coder_user).export
    prices = {i.code: i for i in ChargeMasterItem.objects.all()}
    lines = effective_lines(ChargeRun.objects.get(pk=run.pk))
    expected = [
        (line.code, prices[line.code].revenue_code, prices[line.code].unit_price,
         prices[line.code].unit_price * line.units)
        for line in lines
    ]  # fmt: skip
    assert any(code == "J9267" for code, *_ in expected)

    rows = list(csv.DictReader(io.StringIO(export.csv_text)))
    assert [
        (r["code"], r["revenue_code"], Decimal(r["unit_price"]), Decimal(r["amount"])) for r in rows
    ] == expected

    message = parse_message(
        export.hl7_text.strip().replace("\n", "\r"), validation_level=VALIDATION_LEVEL.STRICT
    )
    ft1s = [g.ft1 for g in message.children if g.name == "DFT_P03_FINANCIAL"]
    got = [
        (
            ft1.ft1_7.ce_1.value,
            ft1.ft1_7.ce_4.value,
            Decimal(ft1.ft1_12.cp_1.mo_1.to_er7()),
            Decimal(ft1.ft1_11.cp_1.mo_1.to_er7()),
        )
        for ft1 in ft1s
    ]
    assert got == expected
    assert {ft1.ft1_7.ce_6.to_er7() for ft1 in ft1s} == {"NUBC"}
    assert {ft1.ft1_11.cp_1.mo_2.to_er7() for ft1 in ft1s} == {"USD"}

    bundle = Bundle.model_validate(json.loads(export.fhir_json))
    items = [ChargeItem.model_validate(e.resource.model_dump()) for e in bundle.entry]
    got = []
    for item in items:
        ext = {e.url: e for e in item.extension}
        got.append(
            (
                item.code.coding[0].code,
                ext[REVENUE_EXTENSION].valueCoding.code,
                ext[UNIT_PRICE_EXTENSION].valueMoney.value,
                item.priceOverride.value,
            )
        )
    assert got == expected
    assert encounter.pk  # the encounter's lines, in claim order


def test_a_code_missing_from_the_charge_master_blocks_until_overridden(coder_user) -> None:
    load_sample()
    ChargeMasterItem.objects.filter(code="96413").delete()
    encounter, run, item = reviewed()
    review_claim(user=coder_user, item_id=item.pk)
    edits = charge_edits_for_run(run).blocking
    assert [e.finding.rule for e in edits] == ["EDIT-CDM"]
    assert "96413 is not in the charge master" in edits[0].finding.message
    with pytest.raises(ValidationError, match="EDIT-CDM"):
        review_accept(item=item, user=coder_user)
    edit_override_create(
        item=item, user=coder_user, rule="EDIT-CDM", message=edits[0].finding.message,
        reason="new code, price to follow from finance",
    )  # fmt: skip
    review_accept(item=item, user=coder_user)
    export = export_create(user=coder_user).export
    row = next(r for r in csv.DictReader(io.StringIO(export.csv_text)) if r["code"] == "96413")
    assert (row["revenue_code"], row["amount"]) == ("", "")


def test_no_charge_master_loaded_means_no_prices_and_no_edit(coder_user) -> None:
    _, run, _ = reviewed()
    assert charge_master_for(["96413"]).loaded is False
    assert [e.finding.rule for e in charge_edits_for_run(run).items] == []


@pytest.mark.django_db
def test_a_loaded_charge_master_is_known_as_loaded_whichever_codes_are_asked() -> None:
    """A code found: one query, by the code; none of the codes found: one more, whether any
    charge master is loaded (an edit blocks a code missing from a loaded one, not from none)."""
    charge_master_load(
        rows=charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,600\n"), replace=False
    )
    with CaptureQueriesContext(connection) as found:
        master = charge_master_for(["96413", "96415"])
    assert master.loaded is True and len(found) == 1
    with CaptureQueriesContext(connection) as none_found:
        assert charge_master_for(["J9999"]).loaded is True
    assert len(none_found) == 2
    ChargeMasterItem.objects.all().delete()
    assert charge_master_for(["96413"]).loaded is False


@pytest.mark.django_db
def test_the_charge_masters_prepared_reads_give_the_orms_rows() -> None:
    """The prices read for a page (issue 19: their SQL compiled once, by the number of codes)
    are the ORM's rows, every version of each code asked for, for any codes and none."""
    load_sample()
    charge_master_load(
        rows=charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,650\n"),
        replace=False,
        effective_from=date(2030, 1, 1),
    )
    codes = ["96413", "96415", "J9267", "NOPE1"]
    for asked in (codes, codes[:1], ["NOPE1"], [], list(reversed(codes))):
        got = charge_master_items(asked)
        expected = list(
            ChargeMasterItem.objects.filter(code__in=asked).order_by("code", "effective_from")
        )
        assert [_snapshot(r) for r in got] == [_snapshot(r) for r in expected], asked
    assert [v[0] for v in charge_master_for(["96413"]).versions["96413"]][-1] == date(2030, 1, 1)
    assert [r.pk for r in charge_master_any()] == [ChargeMasterItem.objects.order_by("pk")[0].pk]
    ChargeMasterItem.objects.all().delete()
    assert charge_master_any() == [] and charge_master_items(codes) == []


@ON_POSTGRESQL
@pytest.mark.django_db
def test_the_charge_masters_reads_run_as_statements_planned_once() -> None:
    load_sample()
    for asked in (["96413", "96415"], ["J9267", "96413"]):
        with CaptureQueriesContext(connection) as captured:
            charge_master_for(asked)
        assert captured.captured_queries
        for query in captured.captured_queries:
            assert query["sql"].startswith(("PREPARE ", "EXECUTE ")), query["sql"]


def rebill_after(coder, item, **load) -> list[tuple[str, str]]:
    """Load 96413 at $600 as told, accept the encounter again (as after an addendum
    elsewhere) and export: what the export sent, (kind, code)."""
    charge_master_load(
        rows=charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,600\n"),
        replace=False, **load,
    )  # fmt: skip
    ReviewItem.objects.filter(pk=item.pk).update(state=ReviewItem.State.ACCEPTED)
    second = export_create(user=coder).export
    return [(e.kind, e.code) for e in LedgerEntry.objects.filter(export=second)] if second else []


def test_a_price_corrected_back_to_the_date_of_service_is_sent_as_a_credit_and_a_new_charge(
    coder_user,
) -> None:
    """A correction effective on or before the date of service (2026-03-02) re-prices the
    billed line: billing gets a credit of the old price and the new charge."""
    load_sample()
    encounter, run, item = accepted(coder_user)
    export_create(user=coder_user)
    assert rebill_after(coder_user, item, effective_from=date(2026, 3, 2)) == [
        ("CD", "96413"),
        ("CG", "96413"),
    ]
    charge = LedgerEntry.objects.get(kind="CG", code="96413", reversed_by__isnull=True)
    assert (charge.detail["unit_price"], charge.detail["amount"]) == ("600.00", "600.00")


def test_a_new_price_effective_after_the_date_of_service_changes_nothing_billed(
    coder_user,
) -> None:
    """Was test_a_new_price_after_billing_is_sent_as_a_credit_and_a_new_charge: a reload of
    the charge master re-billed every line already billed. The price of a service is the one in
    effect on its date."""
    load_sample()
    encounter, run, item = accepted(coder_user)
    export_create(user=coder_user)
    assert rebill_after(coder_user, item, effective_from=date(2026, 3, 3)) == []
    assert ReviewItem.objects.get(pk=item.pk).state == ReviewItem.State.EXPORTED
    (charge,) = LedgerEntry.objects.filter(code="96413")
    assert charge.detail["unit_price"] == "540.00"
    run = ChargeRun.objects.get(pk=run.pk)
    line = next(ln for ln in effective_lines(run) if ln.code == "96413")
    assert claim_details(encounter, [line], run=run)[0]["unit_price"] == "540.00"


def test_the_worklist_shows_each_encounters_money_total(client_as) -> None:
    load_sample()
    encounter, run, _ = reviewed()
    prices = dict(ChargeMasterItem.objects.values_list("code", "unit_price"))
    total = sum(prices[line.code] * line.units for line in effective_lines(run))
    page = client_as(roles.CODER).get(reverse("coding:worklist")).content.decode()
    assert f"${total:,.2f}" in page
    review = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    assert f"${total:,.2f}" in review.content.decode()


def test_a_line_of_a_thousand_dollars_or_more_reads_as_the_total_does(client_as) -> None:
    """The review page wrote "$12000.00" on a line above a total of "$12,975.00"."""
    load_sample()
    encounter, run, _ = reviewed()
    ChargeMasterItem.objects.filter(code="96413").update(unit_price=Decimal("1310.50"))
    review = client_as(roles.CODER).get(reverse("coding:encounter_charges", args=[encounter.pk]))
    page = review.content.decode()
    assert "$1,310.50</span>" in page  # the line's amount (one unit)
    assert "$1,310.50</span> each" in page  # its unit price
    assert "$1310.50" not in page


def test_the_review_page_prices_each_line_on_its_date_of_service_and_says_from_when(
    client_as,
) -> None:
    load_sample()
    encounter, _, _ = reviewed()  # the service is on 2026-03-02
    url = reverse("coding:encounter_charges", args=[encounter.pk])
    page = client_as(roles.CODER).get(url).content.decode()
    assert "$540.00</span> each" in page
    assert 'data-testid="price-from"' not in page  # in effect from the beginning: said nowhere
    for price, since in (("600", date(2026, 3, 1)), ("700", date(2026, 3, 3))):
        charge_master_load(
            rows=charge_master_parse(f"{HEADER}96413,0335,Chemo IV up to 1 h,{price}\n"),
            replace=False, effective_from=since,
        )  # fmt: skip
    page = client_as(roles.CODER).get(url).content.decode()
    assert '$600.00</span> each <span class="text-nowrap" data-testid="price-from"' in page
    assert "(price since 2026-03-01)</span>" in page
    assert "$700.00" not in page  # from the day after the service
