"""Celery tasks: thin wrappers that fetch by id and call one service."""

from celery import shared_task
from django.db import OperationalError, transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from coding.models import ChargeRun
from coding.outbox import (
    GENERATE_CHARGES_TASK,
    outbox_failed,
    outbox_mark_done,
    outbox_resend_pending,
)
from coding.services import charge_run_generate
from coding.sweep import SWEEP_CHUNK_TASK, sweep_chunk_run

# Retried: the database or Redis briefly unreachable. Anything else (a bug, bad data) fails
# once and stays visible; the outbox row stays pending for the periodic resend to try again.
TRANSIENT_ERRORS = (OperationalError, RedisConnectionError)


@shared_task(
    name=GENERATE_CHARGES_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def generate_charges(
    encounter_id: int,
    trigger: str = ChargeRun.Trigger.SIGN,
    reason: str = "",
    outbox_id: int | None = None,
) -> int:
    """Generate (or confirm) the encounter's current charge run; returns the run's id.

    The outbox row is marked done in the transaction that stores the run, so it is done exactly
    when the charges exist.
    """
    try:
        with transaction.atomic():
            run, _created = charge_run_generate(
                encounter_id=encounter_id, trigger=trigger, reason=reason
            )
            if outbox_id is not None:
                outbox_mark_done(outbox_id=outbox_id)
    except TRANSIENT_ERRORS:
        raise  # retried with backoff
    except Exception as exc:
        # A bug or bad data: not retried here; the row stays pending with the error for the
        # coders' and developers' eyes, and the periodic resend tries it again much later.
        if outbox_id is not None:
            outbox_failed(outbox_id=outbox_id, error=f"{type(exc).__name__}: {exc}")
        raise
    return run.pk


@shared_task(name="coding.outbox_resend_pending", acks_late=True, ignore_result=True)
def resend_pending_charges() -> int:
    """Celery beat: hand the broker every charge generation still owed (see coding/outbox.py)."""
    return outbox_resend_pending()


@shared_task(
    name=SWEEP_CHUNK_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    max_retries=8,
    ignore_result=True,
)
def sweep_chunk(chunk_id: int) -> bool:
    """One chunk of an audit sweep (coding/sweep.py); done once, however often delivered."""
    return sweep_chunk_run(chunk_id=chunk_id)
