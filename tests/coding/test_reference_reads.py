"""The reference data a review page reads by codes (MUE limits, NCCI PTP pairs, charge master
prices) are prepared reads (issue 19: their SQL compiled once, by the number of codes): each gives
the ORM's rows for any codes, none, and codes no row has, and runs as a statement PostgreSQL
planned once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coding.chargemaster import charge_master_items
from coding.models import ChargeMasterItem, MueLimit, PtpEdit
from coding.mue import mue_limits, mue_rows
from coding.ptp import ptp_pairs, ptp_rows
from tests.mar.test_prepared import ON_POSTGRESQL, _snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded() -> None:
    for command in ("load_mue", "load_ptp", "load_charge_master"):
        call_command(command, stdout=io.StringIO())


def _code_sets() -> list[list[str]]:
    mue = list(MueLimit.objects.values_list("code", flat=True)[:3])
    ptp = PtpEdit.objects.order_by("pk").values_list("column1", "column2")[:2]
    pairs = sorted({code for pair in ptp for code in pair} - set(mue))
    return [mue + pairs, mue[:1], pairs, ["NOPE1"], [], list(reversed(mue + pairs))]


def test_the_reference_reads_give_the_orms_rows(loaded) -> None:
    compared = 0
    for codes in _code_sets():
        for read, orm in (
            (mue_rows, lambda c: MueLimit.objects.filter(code__in=c).only("code", "limit")),
            (ptp_rows, lambda c: PtpEdit.objects.filter(column1__in=c, column2__in=c)),
            (charge_master_items, lambda c: ChargeMasterItem.objects.filter(code__in=c)),
        ):
            got = [_snapshot(row) for row in read(codes)]
            expected = [_snapshot(row) for row in read.build(codes)]
            assert got == expected, (read.__name__, codes)
            assert sorted(r[1] for r in got) == sorted(_snapshot(r)[1] for r in orm(codes))
            compared += len(got)
    assert compared > 10
    codes = _code_sets()[0]
    assert mue_limits(codes) == dict(
        MueLimit.objects.filter(code__in=codes).values_list("code", "limit")
    )
    assert (
        sum(len(v) for v in ptp_pairs(codes).values())
        == (PtpEdit.objects.filter(column1__in=codes, column2__in=codes).count())
        > 0
    )


@ON_POSTGRESQL
def test_the_reference_reads_run_as_statements_planned_once(loaded) -> None:
    codes = _code_sets()[0]
    for read in (mue_rows, ptp_rows, charge_master_items):
        with CaptureQueriesContext(connection) as captured:
            read(codes)
        assert [q["sql"].split(" ")[0] for q in captured.captured_queries] in (
            ["PREPARE"],
            ["EXECUTE"],
        ), read.__name__
