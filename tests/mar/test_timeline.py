"""The visit timeline: one lane per site, bars from start to stop less pauses, pushes as points."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from coding.engine import code_record, parse_record
from mar.timeline import CLASS_COLOURS, build_timeline


def _record(**extra):
    document = {
        "format": "infusion-record/1",
        "encounter": {"id": "E1", "timezone": "America/New_York"},
        "sites": [
            {"id": "S1", "kind": "port", "location": "chest"},
            {"id": "S2", "kind": "peripheral_iv", "location": "arm"},
        ],
        "orders": [],
        "administrations": [
            {
                "id": "A1",
                "drug": "paclitaxel",
                "drug_class": "chemo",
                "route": "iv",
                "method": "infusion",
                "site": "S1",
                "start": "2026-03-02T09:00",
                "stop": "2026-03-02T12:00",
                "pauses": [{"start": "2026-03-02T10:00", "end": "2026-03-02T10:10"}],
            },
            {
                "id": "A2",
                "drug": "ondansetron",
                "drug_class": "therapeutic",
                "route": "iv",
                "method": "push",
                "site": "S1",
                "start": "2026-03-02T08:50",
                "stop": None,
            },
            {
                "id": "A3",
                "drug": "famotidine",
                "drug_class": "therapeutic",
                "route": "iv",
                "method": "infusion",
                "site": "S1",
                "start": "2026-03-02T09:30",
                "stop": "2026-03-02T10:00",
                "bag": "B2",
            },
            {
                "id": "A4",
                "drug": "sodium chloride 0.9%",
                "drug_class": "hydration",
                "route": "iv",
                "method": "infusion",
                "site": "S2",
                "start": "2026-03-02T09:00",
                "stop": None,
                "purpose": "kvo",
            },
        ],
        "flushes": [{"site": "S1", "at": "2026-03-02T12:01"}],
    }
    document.update(extra)
    return parse_record(document)


def test_it_draws_one_lane_per_access_site():
    timeline = build_timeline(_record())
    # Each lane's site as the chart names its kind ("Peripheral IV", not "peripheral iv").
    assert [lane.label for lane in timeline.lanes] == ["S1 Port", "S2 Peripheral IV"]


def test_lanes_stand_in_the_sites_numbered_order_not_as_text():
    # The record sorts its sites by id as text (S10 before S9); the lanes read S9, S10, S11.
    sites = [{"id": f"S{n}", "kind": "peripheral_iv", "location": "arm"} for n in (11, 9, 10)]
    pushes = [
        {
            "id": f"A{n}",
            "drug": "ondansetron",
            "drug_class": "therapeutic",
            "route": "iv",
            "method": "push",
            "site": f"S{n}",
            "start": f"2026-03-02T09:{n:02d}",
            "stop": None,
        }
        for n in (9, 10, 11)
    ]
    timeline = build_timeline(_record(sites=sites, administrations=pushes, flushes=[]))
    assert [lane.site for lane in timeline.lanes] == ["S9", "S10", "S11"]


def test_a_pause_is_a_gap_in_the_bar():
    timeline = build_timeline(_record())
    bar = next(b for b in timeline.bars if b.administration == "A1")
    assert len(bar.segments) == 2
    first, second = bar.segments
    assert len(bar.pauses) == 1
    assert first.x + first.width <= bar.pauses[0].x + 0.2
    assert second.x >= bar.pauses[0].x + bar.pauses[0].width - 0.2


def test_a_push_charted_at_one_moment_is_a_point():
    timeline = build_timeline(_record())
    assert [p.administration for p in timeline.points] == ["A2"]


def test_overlapping_infusions_on_one_site_are_stacked_in_rows():
    timeline = build_timeline(_record())
    a1 = next(b for b in timeline.bars if b.administration == "A1")
    a3 = next(b for b in timeline.bars if b.administration == "A3")
    assert a1.y != a3.y
    s1 = timeline.lanes[0]
    assert s1.height >= 2 * 26


def test_bars_are_coloured_by_class_and_carriers_are_grey():
    timeline = build_timeline(_record())
    colours = {b.administration: b.colour for b in timeline.bars}
    assert colours["A1"] == CLASS_COLOURS["chemo"]
    assert colours["A3"] == CLASS_COLOURS["therapeutic"]
    assert colours["A4"] not in CLASS_COLOURS.values()


def test_a_running_infusion_is_drawn_up_to_now():
    now = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # 11:00 in New York
    timeline = build_timeline(_record(), now=now)
    kvo = next(b for b in timeline.bars if b.administration == "A4")
    assert kvo.running
    assert timeline.now_x is not None
    end = kvo.segments[-1].x + kvo.segments[-1].width
    assert abs(end - timeline.now_x) < 1


def test_flushes_are_ticks_on_their_site_lane():
    timeline = build_timeline(_record())
    assert [(f.label, f.y) for f in timeline.flushes] == [("12:01", timeline.lanes[0].y)]


def test_charged_administrations_are_marked_from_the_engine_result():
    record = _record()
    timeline = build_timeline(record, code_record(record))
    charged = {b.administration for b in timeline.bars if b.charged}
    assert "A1" in charged
    assert "A4" not in charged  # KVO is never charged


def test_an_empty_record_draws_nothing():
    timeline = build_timeline(_record(administrations=[], flushes=[]))
    assert timeline.empty


def test_the_partial_renders_an_svg_with_a_group_per_administration():
    from django.template.loader import render_to_string

    record = _record()
    html = render_to_string("_timeline.html", {"timeline": build_timeline(record)})
    assert 'class="timeline-svg"' in html
    for adm_id in ("A1", "A2", "A3", "A4"):
        assert f'data-administration="{adm_id}"' in html
    assert "style=" not in html  # no inline styles: the content security policy forbids them


def test_a_push_with_its_stop_charted_is_a_point_as_the_legend_says():
    """QA: a push with its stop charted was a short bar, where the legend says ● for a push."""
    push = {
        "id": "A5", "drug": "ondansetron", "drug_class": "therapeutic", "route": "iv",
        "method": "push", "site": "S2", "start": "2026-03-02T09:05", "stop": "2026-03-02T09:07",
    }  # fmt: skip
    timeline = build_timeline(_record(administrations=[push]))
    assert timeline.bars == []
    (point,) = timeline.points
    assert point.administration == "A5" and "push 09:05–09:07" in point.title


def test_a_two_minute_infusion_is_drawn_at_least_a_fingertip_wide():
    from mar.timeline import MIN_MARK_PX, pct

    short = {
        "id": "A5", "drug": "famotidine", "drug_class": "therapeutic", "route": "iv",
        "method": "infusion", "site": "S2", "start": "2026-03-02T09:05",
        "stop": "2026-03-02T09:07",
    }  # fmt: skip
    timeline = build_timeline(_record(administrations=[short]))
    (bar,) = timeline.bars
    assert sum(s.width for s in bar.segments) >= pct(MIN_MARK_PX) - 0.01


def test_names_in_one_row_never_run_into_each_other_on_the_narrowest_plot():
    from mar.timeline import CHAR_PX, pct

    timeline = build_timeline(_record())
    names = [(b.label_y, b.label_x, b.label) for b in timeline.bars]
    names += [(p.label_y, p.label_x, p.label) for p in timeline.points]
    assert len({y for y, _, _ in names}) >= 3  # A2's and A3's names would meet A1's: stacked
    for y, x, label in names:
        for other_y, other_x, other in names:
            if other_y == y and other != label and other_x >= x:
                assert other_x >= x + pct(len(label) * CHAR_PX), (label, other)


def _titrated(change_at: str):
    document = {
        "format": "infusion-record/1",
        "encounter": {"id": "E1", "timezone": "America/New_York"},
        "sites": [{"id": "S1", "kind": "port", "location": "chest"}],
        "orders": [],
        "administrations": [
            {
                "id": "A1",
                "drug": "carboplatin",
                "drug_class": "chemo",
                "route": "iv",
                "method": "infusion",
                "site": "S1",
                "start": "2026-03-02T09:00",
                "stop": "2026-03-02T10:00",
                "rates": [
                    {"at": "2026-03-02T09:00", "ml_h": 250},
                    {"at": change_at, "ml_h": 125},
                ],
            }  # fmt: skip
        ],
        "flushes": [],
    }
    return build_timeline(parse_record(document))


def test_a_rate_change_is_a_mark_on_its_bar_and_the_start_rate_is_not():
    bar = _titrated("2026-03-02T09:30").bars[0]
    assert [m.label for m in bar.rate_marks] == ["125 mL/h"]


def test_a_titration_charted_in_the_starts_minute_is_still_a_mark():
    """Issue 17: the record's times are to the minute, so a rate changed within the minute of
    the start shares its time; it is still a change, drawn at the bar's start."""
    bar = _titrated("2026-03-02T09:00").bars[0]
    assert [m.label for m in bar.rate_marks] == ["125 mL/h"]


def test_a_rate_change_corrected_by_addendum_after_signing_says_so_in_its_mark():
    """The coder's timeline tells a corrected rate row from an original one, as the card does:
    `amended` (mar.timeline.rate_corrections) keyed by the record's id, time and rate."""
    document_at = datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    plain = _titrated("2026-03-02T09:30")
    record = parse_record(
        {
            "format": "infusion-record/1",
            "encounter": {"id": "E1", "timezone": "America/New_York"},
            "sites": [{"id": "S1", "kind": "port", "location": "chest"}],
            "orders": [],
            "administrations": [
                {
                    "id": "A1", "drug": "carboplatin", "drug_class": "chemo", "route": "iv",
                    "method": "infusion", "site": "S1", "start": "2026-03-02T09:00",
                    "stop": "2026-03-02T10:00",
                    "rates": [
                        {"at": "2026-03-02T09:00", "ml_h": 250},
                        {"at": "2026-03-02T09:30", "ml_h": 125},
                        {"at": "2026-03-02T09:45", "ml_h": 100},
                    ],
                }
            ],
            "flushes": [],
        }
    )  # fmt: skip
    words = "corrected by addendum 14:32 by nurse2"
    marks = build_timeline(record, amended={("A1", document_at, 125.0): words}).bars[0].rate_marks
    assert [(m.label, m.amended) for m in marks] == [("125 mL/h", words), ("100 mL/h", "")]
    assert marks[0].title == f"rate 125 mL/h from 09:30 ({words})"
    assert plain.bars[0].rate_marks[0].amended == ""
    # The same time with another rate is not the row corrected (a run coded before it).
    other = build_timeline(record, amended={("A1", document_at, 152.0): words})
    assert all(not m.amended for m in other.bars[0].rate_marks)
