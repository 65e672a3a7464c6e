"""DOC-3 on a signed record (rac-checklist DOC-3, checks.py `Lateness`): a signed record is judged
at its signature (the record's `encounter.signed_at`) whoever asks, the chart (which passes the
signature as `now`), the coder's run (no `now`) or an addendum's check (the wall clock): the same
findings. A time after the signature that is not in the future is said as it is ("is after the
record was signed"), a warning; "in the future" stays for a time after the wall clock.

QA: signed at 11:53, the stop changed by addendum from 11:51 to 11:58 at 11:59: the chart said
"The stop time of teprotumumab (... 11:58) is in the future" (an error the nurse could not fix),
and the coder's review of the same run said nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from coding.engine import code_record, parse_record

from .records import chemo, flush, record, t

NY = ZoneInfo("America/New_York")
START = 180  # 11:00


def at(minutes: int) -> datetime:
    return datetime(2026, 3, 2, 8, 0, tzinfo=NY) + timedelta(minutes=minutes)


def signed_record(stop: int, signed: int, **kw):
    doc = record(chemo("A1", "teprotumumab", start=START, stop=stop), **kw)
    doc["encounter"]["signed_at"] = t(signed)
    return parse_record(doc)


def doc3(findings):
    return [(f.severity, f.field, f.message) for f in findings if f.rule == "DOC-3"]


def test_doc_3_a_stop_after_the_signature_says_so_not_in_the_future():
    """QA's case: signed 11:53, stop 11:58 by addendum, asked at 11:59."""
    rec = signed_record(stop=238, signed=233)
    chart = code_record(rec, now=at(233), signing=True).findings
    assert doc3(chart) == [
        (
            "warning",
            "stop",
            "The stop time of teprotumumab (2026-03-02 11:58) is after the record was signed "
            "(11:53)",
        )
    ]


def test_doc_3_the_chart_the_coder_and_the_addendum_see_the_same_findings_on_a_signed_record():
    rec = signed_record(stop=238, signed=233)
    chart = code_record(rec, now=at(233), signing=True)
    coder = code_record(rec)  # coding/services.py `charge_run_generate`
    addendum = code_record(rec, now=at(239))  # the wall clock at the addendum
    assert chart == coder == addendum
    assert doc3(coder.findings)


def test_doc_3_an_addendum_time_after_the_wall_clock_is_still_in_the_future():
    """An addendum typed at 11:57 with a stop of 11:58: in the future, an error (the chart's
    input check refuses it, mar/services/charting.py `_refuse_input_errors`)."""
    rec = signed_record(stop=238, signed=233)
    (finding,) = doc3(code_record(rec, now=at(237)).findings)
    assert finding == (
        "error",
        "stop",
        "The stop time of teprotumumab (2026-03-02 11:58) is in the future",
    )


def test_doc_3_a_live_record_keeps_in_the_future():
    rec = parse_record(record(chemo("A1", "teprotumumab", start=START, stop=238)))
    assert doc3(code_record(rec, now=at(235)).findings) == [
        ("error", "stop", "The stop time of teprotumumab (2026-03-02 11:58) is in the future")
    ]
    assert doc3(code_record(rec).findings) == []  # no clock, no reference


def test_doc_3_a_flush_and_an_arrival_after_the_signature_say_so():
    rec = signed_record(stop=230, signed=233, flushes=[flush(240)], arrived_at=236)
    said = {f: (s, m) for s, f, m in doc3(code_record(rec).findings)}
    assert said["flushes[0]"] == (
        "warning",
        "A flush on S1 charted at 2026-03-02 12:00 is after the record was signed (11:53)",
    )
    assert said["encounter.arrived_at"] == (
        "warning",
        "The arrival time (2026-03-02 11:56) is after the record was signed (11:53)",
    )


def test_doc_3_a_signature_on_another_day_names_its_date():
    rec = signed_record(stop=970, signed=950)  # signed 23:50, stopped 00:10 the next day
    (finding,) = doc3(code_record(rec).findings)
    assert finding[2] == (
        "The stop time of teprotumumab (2026-03-03 00:10) is after the record was signed "
        "(2026-03-02 23:50)"
    )


def test_doc_3_nothing_after_the_signature_is_no_finding():
    rec = signed_record(stop=230, signed=233)
    assert doc3(code_record(rec).findings) == []
    assert code_record(rec) == code_record(rec, now=at(233), signing=True)


@settings(max_examples=60, deadline=None)
@given(
    stop=st.integers(min_value=START + 1, max_value=START + 120),
    signed=st.integers(min_value=START, max_value=START + 120),
    clock=st.integers(min_value=0, max_value=120),
)
def test_doc_3_a_signed_records_findings_do_not_depend_on_who_asks(stop, signed, clock):
    """Whatever the stop, the signature and a wall clock at or after it: the coder's run, the
    chart and an addendum's check agree, and nothing after the signature is "in the future"
    unless it is after the wall clock."""
    rec = signed_record(stop=stop, signed=signed)
    coder = code_record(rec)
    assert code_record(rec, now=at(signed), signing=True) == coder
    asked = code_record(rec, now=at(signed + clock))
    late = doc3(asked.findings)
    if clock and stop > signed + clock:  # clock 0: the signature itself, as the chart asks
        assert [s for s, _f, m in late if "in the future" in m] == ["error"]
    else:
        assert asked == coder
        assert all(s == "warning" and "after the record was signed" in m for s, _f, m in late)
        assert bool(late) == (stop > signed)
