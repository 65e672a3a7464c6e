"""mar/services/charting.py: each change asks the engine, refuses input errors, keeps versions."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from coding.engine import parse_record
from mar.models import Administration, Encounter, FindingAcknowledgement, Pause
from mar.record import record_dict_from_encounter
from mar.services import charting
from mar.services.charting import ChartError, SignBlocked, StaleVersion
from tests import factories
from tests.mar.chart_helpers import hydration_order, running_visit

pytestmark = pytest.mark.django_db


def test_administration_start_carries_the_order_over() -> None:
    encounter, _ = running_visit()
    fluid = hydration_order(encounter)
    adm = charting.administration_start(
        order=fluid, site=None, start=timezone.now() - timedelta(minutes=1)
    )
    assert (adm.drug, adm.route, adm.order, adm.purpose) == (fluid.drug, "iv", fluid, "hydration")
    assert (adm.dose_value, adm.dose_unit) == (Decimal(1000), "mL")  # the order's "1000 mL"
    assert adm.version == 1


@pytest.mark.parametrize(
    ("ordered", "amount"),
    [
        ("8 mg", (Decimal(8), "mg")),
        (" 0.5mg ", (Decimal("0.5"), "mg")),
        ("30000 units", (Decimal(30000), "units")),
        ("175 mg/m2", None),  # a dose by body surface: the nurse charts the amount given
        ("AUC 5", None),
        ("per protocol", None),
        ("0 mg", None),
        ("", None),
    ],
)
def test_only_an_order_that_states_an_amount_carries_its_dose_over(ordered, amount) -> None:
    assert charting.ordered_amount(ordered) == amount


def test_a_start_in_the_future_is_refused_and_nothing_is_created() -> None:
    encounter, _ = running_visit()
    order = encounter.orders.get()
    with pytest.raises(ChartError) as refused:
        charting.administration_start(
            order=order, site=None, start=timezone.now() + timedelta(hours=1)
        )
    assert "start" in refused.value.errors
    assert "in the future" in refused.value.errors["start"][0]
    assert Administration.objects.filter(encounter=encounter).count() == 1


def test_every_change_bumps_the_version() -> None:
    _, adm = running_visit()
    now = timezone.now()
    charting.administration_pause(administration=adm, version=1, at=now - timedelta(minutes=5))
    charting.administration_resume(administration=adm, version=2, at=now - timedelta(minutes=2))
    stopped = charting.administration_stop(administration=adm, version=3, at=now)
    assert stopped.version == 4
    assert stopped.stop == now


def test_a_stale_version_raises_with_the_saved_row_and_changes_nothing() -> None:
    _, adm = running_visit()
    charting.administration_update(administration=adm, version=1, changes={"bag": "B1"})
    with pytest.raises(StaleVersion) as stale:
        charting.administration_update(administration=adm, version=1, changes={"bag": "B2"})
    assert stale.value.current.bag == "B1"
    assert stale.value.current.version == 2
    assert Administration.objects.get(pk=adm.pk).bag == "B1"


def test_stopping_a_paused_infusion_ends_its_pause() -> None:
    _, adm = running_visit()
    now = timezone.now()
    charting.administration_pause(administration=adm, version=1, at=now - timedelta(minutes=5))
    charting.administration_stop(administration=adm, version=2, at=now)
    assert Pause.objects.get(administration=adm).end == now


def test_pausing_twice_or_resuming_a_running_infusion_is_refused() -> None:
    _, adm = running_visit()
    now = timezone.now()
    with pytest.raises(ChartError, match="not paused"):
        charting.administration_resume(administration=adm, version=1, at=now)
    charting.administration_pause(administration=adm, version=1, at=now)
    with pytest.raises(ChartError, match="already paused"):
        charting.administration_pause(administration=adm, version=2, at=now)


def test_the_engines_doc3_field_names_the_error() -> None:
    _, adm = running_visit()
    with pytest.raises(ChartError) as refused:
        charting.administration_update(
            administration=adm, version=1, changes={"stop": adm.start - timedelta(minutes=1)}
        )
    assert list(refused.value.errors) == ["stop"]
    assert Administration.objects.get(pk=adm.pk).stop is None


def test_a_pause_outside_is_named_by_its_index() -> None:
    _, adm = running_visit()
    pause = Pause.objects.create(administration=adm, start=adm.start + timedelta(minutes=1))
    with pytest.raises(ChartError) as refused:
        charting.pause_update(
            pause=pause, version=1, start=adm.start - timedelta(minutes=9),
            end=adm.start - timedelta(minutes=5),
        )  # fmt: skip
    assert list(refused.value.errors) == ["pauses[0]"]


def test_sign_is_blocked_by_open_errors_and_stores_nothing(nurse_user) -> None:
    encounter, _ = running_visit()
    with pytest.raises(SignBlocked) as blocked:
        charting.encounter_sign(encounter=encounter, user=nurse_user)
    assert [f.rule for f in blocked.value.open_errors] == ["RAC-7"]
    assert str(blocked.value) == "1 error finding open"  # its plural in words, not '(s)'
    assert Encounter.objects.get(pk=encounter.pk).status == Encounter.Status.IN_PROGRESS
    assert not FindingAcknowledgement.objects.exists()


def test_an_acknowledged_error_no_longer_blocks(nurse_user) -> None:
    encounter, _ = running_visit()
    with pytest.raises(SignBlocked) as blocked:
        charting.encounter_sign(encounter=encounter, user=nurse_user)
    key = charting.finding_key(blocked.value.open_errors[0])
    signed = charting.encounter_sign(
        encounter=encounter, user=nurse_user, reasons={key: "continues at home on the pump"}
    )
    assert signed.status == Encounter.Status.SIGNED
    ack = FindingAcknowledgement.objects.get()
    assert charting.acknowledgement_key(ack) == key
    assert ack.by == nurse_user


def test_two_findings_of_one_rule_on_one_field_have_their_own_keys() -> None:
    """Sign-off: two visit-level findings of one rule naming one field (no administration) are
    two items, each with its own reason box (the key includes the message)."""
    from coding.engine import Finding

    first = Finding("DOC-3", "error", "A flush on S1 is charted in the future (14:00)", (), "x")
    second = Finding("DOC-3", "error", "A flush on S1 is charted in the future (15:00)", (), "x")
    assert charting.finding_key(first) != charting.finding_key(second)
    ack = FindingAcknowledgement(rule="DOC-3", administrations="", field="x",
                                 message=second.message)  # fmt: skip
    assert charting.acknowledgement_key(ack) == charting.finding_key(second)


def test_a_signed_record_refuses_plain_charting(nurse_user) -> None:
    encounter = factories.chemo_encounter_create()
    charting.encounter_sign(
        encounter=encounter,
        user=nurse_user,
        reasons={
            charting.finding_key(f): "flush given"
            for f in charting.check_record(parse_record(record_dict_from_encounter(encounter)))
            if f.severity == "error"
        },
    )
    site = encounter.sites.get()
    with pytest.raises(ChartError, match="addendum"):
        charting.flush_chart(site=site, at=timezone.now())
    adm = encounter.administrations.first()
    with pytest.raises(ChartError, match="addendum"):
        charting.administration_update(administration=adm, version=1, changes={"bag": "x"})


def test_the_same_edit_sent_twice_is_no_conflict() -> None:
    _, adm = running_visit()
    charting.administration_update(administration=adm, version=1, changes={"bag": "B1"})
    again = charting.administration_update(administration=adm, version=1, changes={"bag": "B1"})
    assert again.version == 2


@pytest.mark.postgresql("row locks: SQLite has none (the demo's database)")
@pytest.mark.django_db(transaction=True)
def test_two_nurses_saving_at_once_one_saves_the_other_is_told() -> None:
    """On PostgreSQL, at the same moment, from the same version: the row lock orders them."""
    import threading

    _, adm = running_visit()
    barrier = threading.Barrier(2)
    results: list[tuple[str, str]] = []

    def save(bag: str) -> None:
        try:
            mine = Administration.objects.select_related("encounter").get(pk=adm.pk)
            barrier.wait()
            charting.administration_update(administration=mine, version=1, changes={"bag": bag})
            results.append(("saved", bag))
        except StaleVersion as stale:
            results.append(("told", stale.current.bag))
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(bag,)) for bag in ("B1", "B2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(kind for kind, _ in results) == ["saved", "told"]
    winner = next(bag for kind, bag in results if kind == "saved")
    shown = next(bag for kind, bag in results if kind == "told")
    assert shown == winner  # the one told sees the winner's version
    saved = Administration.objects.get(pk=adm.pk)
    assert (saved.bag, saved.version) == (winner, 2)


@pytest.mark.postgresql("row locks: SQLite has none (the demo's database)")
@pytest.mark.django_db(transaction=True)
def test_two_flushes_of_a_site_in_one_minute_at_once_one_is_charted_the_other_asked(
    monkeypatch,
) -> None:
    """A second flush in a minute is asked first (issue 19: checked in the record's read after
    the insert, under the encounter's lock). Two taps at once: the first holds the lock, its
    flush inserted, while the second waits on the lock; the second then reads the first's flush
    and is asked, nothing of it charted."""
    import threading
    import time

    encounter, adm = running_visit()
    at = adm.start.replace(second=0, microsecond=0) + timedelta(minutes=5)
    inserted, waiting = threading.Event(), threading.Event()
    read = charting.record_dict_and_flushes
    first: list[threading.Thread] = []

    def held(encounter: Encounter):  # the first tap: its flush inserted, the lock held
        if threading.current_thread() is first[0]:
            inserted.set()
            waiting.wait(10)
            time.sleep(0.3)  # the second's lock read sent, and waiting
        return read(encounter)

    monkeypatch.setattr(charting, "record_dict_and_flushes", held)
    results: list[str] = []

    def flush(second: bool) -> None:
        try:
            site = encounter.sites.model.objects.select_related("encounter").get(pk=adm.site_id)
            if second:
                inserted.wait(10)
                waiting.set()
            charting.flush_chart(site=site, at=at + timedelta(seconds=second * 20))
            results.append("charted")
        except ChartError as asked:
            results.append(f"asked: {asked.errors}")
        finally:
            connection.close()

    threads = [threading.Thread(target=flush, args=(second,)) for second in (False, True)]
    first.append(threads[0])
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 and results[0] == "charted", results
    assert "chart it again?" in results[1]
    assert list(encounter.flushes.values_list("at", flat=True)) == [at]
