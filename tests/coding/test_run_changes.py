"""What changed since the run before (coding/run_changes.py): plain functions of two runs' lines,
paired as corrections follow their target (coding/corrections.py `lines_matched`). No database:
the lines are built in memory with the pks a stored run would give them."""

from datetime import UTC, date, datetime

from coding.models import ChargeLine, ChargeRun
from coding.run_changes import gone_label, preceding_run, run_changes

DAY = date(2026, 3, 5)


def line(
    pk: int, code: str, units: int = 1, *, modifiers: tuple[str, ...] = (),
    administrations: tuple[str, ...] = ("A1",), day: date = DAY, position: int | None = None,
) -> ChargeLine:  # fmt: skip
    return ChargeLine(
        pk=pk, run_id=1, position=pk if position is None else position, code=code, units=units,
        modifiers=list(modifiers), date=day, administrations=list(administrations), why="",
    )  # fmt: skip


def test_identical_runs_show_nothing() -> None:
    before = [line(1, "96413", administrations=("A3",)), line(2, "96375", administrations=("A2",))]
    after = [line(11, "96413", administrations=("A3",)), line(12, "96375", administrations=("A2",))]
    changes = run_changes(since=4, previous=before, current=after)
    assert not changes
    assert changes.lines == {} and changes.gone == []


def test_a_line_whose_units_changed_says_what_it_was_in_the_run_before() -> None:
    changes = run_changes(
        since=4, previous=[line(1, "96415", 2, administrations=("A3",))],
        current=[line(11, "96415", 1, administrations=("A3",))],
    )  # fmt: skip
    assert set(changes.lines) == {11} and changes.gone == []
    assert changes.lines[11].text == "was ×2 in run 4"
    assert not changes.lines[11].is_new


def test_modifiers_date_and_administrations_changed_are_each_said() -> None:
    before = [line(1, "96375", modifiers=("59",), administrations=("A2",))]
    after = [line(11, "96375", administrations=("A2", "A5"), day=date(2026, 3, 6))]
    change = run_changes(since=7, previous=before, current=after).lines[11]
    assert change.differences == ("mod. 59", "03-05", "for A2")
    assert change.text == "was mod. 59, 03-05, for A2 in run 7"
    gained = run_changes(
        since=7, previous=[line(1, "96375", administrations=("A2",))],
        current=[line(11, "96375", modifiers=("XU",), administrations=("A2",))],
    )  # fmt: skip
    assert gained.lines[11].text == "was no modifier in run 7"


def test_a_line_the_run_before_did_not_have_is_new() -> None:
    changes = run_changes(
        since=4,
        previous=[line(1, "96413", administrations=("A3",))],
        current=[
            line(11, "96413", administrations=("A3",)),
            line(12, "96376", administrations=("A6",)),
        ],
    )  # fmt: skip
    assert set(changes.lines) == {12}
    assert changes.lines[12].is_new and changes.lines[12].text == "new since run 4"


def test_a_line_no_longer_charged_is_listed_as_gone() -> None:
    gone = line(2, "96375", administrations=("A2",))
    changes = run_changes(
        since=4, previous=[line(1, "96413", administrations=("A3",)), gone],
        current=[line(11, "96413", administrations=("A3",))],
    )  # fmt: skip
    assert changes and changes.lines == {} and changes.gone == [gone]
    assert gone_label(gone) == "96375 ×1 (A2)"
    assert gone_label(
        line(3, "96375", 2, modifiers=("59", "XU"), administrations=("A2", "A4"))
    ) == ("96375-59-XU ×2 (A2, A4)")


def test_a_line_is_never_paired_with_a_line_of_another_code() -> None:
    """The same administration coded 96365 instead of 96413 (a pharmacist's class change): the
    chemotherapy line is gone and the therapeutic one new, as a correction would not follow it."""
    changes = run_changes(
        since=4, previous=[line(1, "96413", administrations=("A3",))],
        current=[line(11, "96365", administrations=("A3",))],
    )  # fmt: skip
    assert [g.code for g in changes.gone] == ["96413"]
    assert changes.lines[11].is_new


def test_an_identical_line_is_paired_first_so_a_near_one_never_takes_its_place() -> None:
    """Two pushes of one code: the one unchanged stays unmarked; the other, gone, is listed."""
    both = line(1, "96375", administrations=("A2", "A3"))
    alone = line(2, "96375", administrations=("A3",))
    changes = run_changes(
        since=4, previous=[both, alone], current=[line(11, "96375", administrations=("A3",))]
    )
    assert changes.lines == {} and changes.gone == [both]


def test_a_date_moved_is_the_same_line_changed_not_one_gone_and_one_new() -> None:
    changes = run_changes(
        since=4, previous=[line(1, "96413", administrations=("A3",))],
        current=[line(11, "96413", administrations=("A3",), day=date(2026, 3, 4))],
    )  # fmt: skip
    assert changes.gone == [] and changes.lines[11].text == "was 03-05 in run 4"


def test_the_run_compared_with_is_the_one_immediately_before() -> None:
    def run(pk: int, hour: int) -> ChargeRun:
        return ChargeRun(pk=pk, created_at=datetime(2026, 3, 5, hour, tzinfo=UTC))

    first, second, third = run(3, 9), run(5, 10), run(8, 11)
    newest_first = [third, second, first]
    assert preceding_run(newest_first, third) is second
    assert preceding_run(newest_first, second) is first
    assert preceding_run(newest_first, first) is None
    # Two runs stored in the same instant: the older pk is the earlier.
    twin = run(9, 11)
    assert preceding_run([twin, third, second], twin) is third


def test_the_run_compared_with_is_the_one_accepted_when_it_is_earlier() -> None:
    from coding.run_changes import changes_since_preceding

    def run(pk: int, hour: int) -> ChargeRun:
        made = ChargeRun(pk=pk, created_at=datetime(2026, 3, 5, hour, tzinfo=UTC))
        made._prefetched_objects_cache = {"lines": ChargeLine.objects.none()}
        return made

    first, second, third = run(3, 9), run(5, 10), run(8, 11)
    runs = [third, second, first]
    accepted = changes_since_preceding(runs, third, accepted_run_id=first.pk)
    assert accepted is not None and (accepted.since, accepted.accepted) == (3, True)
    assert accepted.since_number == 1  # named as the encounter's run 1, not by its pk 3
    before = changes_since_preceding(runs, third, accepted_run_id=None)
    assert before is not None and (before.since, before.accepted) == (5, False)
    assert before.since_number == 2
    # The run accepted is the current one (nothing since), or unknown: the run before.
    current = changes_since_preceding(runs, third, accepted_run_id=third.pk)
    assert current is not None and (current.since, current.accepted) == (5, False)


def test_the_runs_between_are_those_after_the_one_compared_and_before_the_current() -> None:
    from coding.run_changes import runs_between

    def run(pk: int, hour: int) -> ChargeRun:
        return ChargeRun(pk=pk, created_at=datetime(2026, 3, 5, hour, tzinfo=UTC))

    first, second, third, fourth = run(3, 9), run(5, 10), run(8, 11), run(9, 12)
    runs = [fourth, third, second, first]
    assert runs_between(runs, fourth, first.pk) == [second, third]
    assert runs_between(runs, fourth, third.pk) == []
    assert runs_between(runs, fourth, 999) == []


def test_runs_are_numbered_within_their_encounter_oldest_first() -> None:
    from coding.run_changes import run_numbers

    def run(pk: int, hour: int) -> ChargeRun:
        return ChargeRun(pk=pk, created_at=datetime(2026, 3, 5, hour, tzinfo=UTC))

    # Global ids with gaps (other encounters' runs between), read newest first; a twin in the
    # same instant after its older pk.
    runs = [run(41, 11), run(40, 11), run(17, 10), run(10, 9)]
    assert run_numbers(runs) == {10: 1, 17: 2, 40: 3, 41: 4}
    assert run_numbers([]) == {}


def test_a_marker_names_the_run_by_its_number_when_given() -> None:
    before = [line(1, "96415", 2)]
    after = [line(11, "96415", 1), line(12, "96375", administrations=("A2",))]
    changes = run_changes(since=10, since_number=2, previous=before, current=after)
    assert changes.since == 10 and changes.since_number == 2
    assert changes.lines[11].text == "was ×2 in run 2"
    assert changes.lines[12].text == "new since run 2"
