"""The charge outbox: owed with the signature, sent after commit, re-sent until done."""

from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from coding.models import ChargeOutbox, ChargeRun
from coding.outbox import outbox_pending, outbox_resend_pending, outbox_send
from coding.tasks import TRANSIENT_ERRORS, generate_charges
from mar.services.signature import addendum_store, signature_store
from tests import factories

pytestmark = pytest.mark.django_db


def test_signing_writes_the_outbox_row_in_the_signatures_transaction(nurse_user) -> None:
    encounter = factories.chemo_encounter_create()
    with pytest.raises(RuntimeError), transaction.atomic():
        signature_store(encounter=encounter, user=nurse_user)
        assert ChargeOutbox.objects.filter(encounter=encounter).exists()
        raise RuntimeError("the signature rolls back")
    assert not ChargeOutbox.objects.filter(encounter=encounter).exists()


def test_an_addendum_writes_an_outbox_row_with_its_reason(nurse_user) -> None:
    encounter = signature_store(encounter=factories.chemo_encounter_create(), user=nurse_user)
    addendum_store(encounter=encounter, user=nurse_user, what="stop 12:20", why="late entry")
    row = ChargeOutbox.objects.filter(encounter=encounter).order_by("pk").last()
    assert (row.kind, row.reason, row.done_at) == ("addendum", "late entry", None)


def test_after_commit_the_task_runs_and_marks_the_row_done(
    nurse_user, django_capture_on_commit_callbacks
) -> None:
    encounter = factories.chemo_encounter_create()
    with django_capture_on_commit_callbacks(execute=True):
        signature_store(encounter=encounter, user=nurse_user)
    row = ChargeOutbox.objects.get(encounter=encounter)
    assert row.done_at is not None and row.sent_at is not None and row.attempts == 1
    assert ChargeRun.objects.filter(encounter=encounter, is_current=True).count() == 1


def test_a_broker_that_is_down_leaves_the_row_pending_and_the_signature_stands(
    nurse_user, django_capture_on_commit_callbacks
) -> None:
    encounter = factories.chemo_encounter_create()
    down = BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with mock.patch.object(generate_charges, "apply_async", side_effect=down):
        with django_capture_on_commit_callbacks(execute=True):
            signature_store(encounter=encounter, user=nurse_user)
    encounter.refresh_from_db()
    assert encounter.is_signed
    row = ChargeOutbox.objects.get(encounter=encounter)
    assert row.done_at is None and row.sent_at is None and row.attempts == 1
    assert "Connection refused" in row.last_error
    assert not ChargeRun.objects.filter(encounter=encounter).exists()

    # The broker is back: the periodic resend delivers it, once.
    assert outbox_pending() == [row.pk]
    assert outbox_resend_pending() == 1
    row.refresh_from_db()
    assert row.done_at is not None and row.last_error == ""
    assert ChargeRun.objects.filter(encounter=encounter).count() == 1
    assert outbox_pending() == []


def test_resend_takes_unsent_and_long_unfinished_rows_only(nurse_user) -> None:
    now = timezone.now()
    lost_after = timedelta(seconds=settings.CHARGE_OUTBOX_RESEND_AFTER_SECONDS)
    encounter = factories.chemo_encounter_create()
    never_sent = ChargeOutbox.objects.create(encounter=encounter)
    presumed_lost = ChargeOutbox.objects.create(
        encounter=encounter, sent_at=now - lost_after - timedelta(seconds=1)
    )
    ChargeOutbox.objects.create(encounter=encounter, sent_at=now - timedelta(seconds=5))
    ChargeOutbox.objects.create(encounter=encounter, sent_at=now, done_at=now)
    assert outbox_pending(now=now) == [never_sent.pk, presumed_lost.pk]


def test_sending_a_done_row_again_does_nothing(nurse_user) -> None:
    encounter = factories.chemo_encounter_create()
    row = ChargeOutbox.objects.create(encounter=encounter, done_at=timezone.now())
    with mock.patch.object(generate_charges, "apply_async") as apply_async:
        assert outbox_send(outbox_id=row.pk) is False
    apply_async.assert_not_called()


def test_the_same_row_delivered_twice_makes_one_charge_run(nurse_user) -> None:
    encounter = factories.chemo_encounter_create()
    row = ChargeOutbox.objects.create(encounter=encounter)
    first = generate_charges(encounter.pk, "sign", "", outbox_id=row.pk)
    second = generate_charges(encounter.pk, "sign", "", outbox_id=row.pk)
    assert first == second
    assert ChargeRun.objects.filter(encounter=encounter).count() == 1


def test_the_task_retries_transient_errors_only_and_is_acknowledged_late() -> None:
    assert set(generate_charges.autoretry_for) == set(TRANSIENT_ERRORS)
    assert OperationalError in TRANSIENT_ERRORS
    assert generate_charges.acks_late is True
    assert generate_charges.reject_on_worker_lost is True
    assert generate_charges.retry_backoff and generate_charges.max_retries


def test_the_visibility_timeout_outlasts_the_longest_task() -> None:
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility > settings.CELERY_TASK_TIME_LIMIT


def test_beat_resends_pending_rows_periodically() -> None:
    from config.celery import app

    entry = app.conf.beat_schedule["resend-pending-charges"]
    assert entry["task"] == "coding.outbox_resend_pending"
    assert entry["task"] in app.tasks
    assert 0 < entry["schedule"] <= 300


def test_a_task_that_fails_for_good_leaves_the_row_pending_with_the_error() -> None:
    encounter = factories.chemo_encounter_create()
    row = ChargeOutbox.objects.create(encounter=encounter)
    with (
        mock.patch("coding.tasks.charge_run_generate", side_effect=ValueError("bad data")),
        pytest.raises(ValueError),
    ):
        generate_charges(encounter.pk, "sign", "", outbox_id=row.pk)
    row.refresh_from_db()
    assert row.done_at is None
    assert row.last_error == "ValueError: bad data"
