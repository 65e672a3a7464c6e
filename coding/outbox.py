"""The charge outbox: charges owed to an encounter are written down before anyone is asked.

`outbox_enqueue` runs inside the transaction that makes charges owed (a signature, an
addendum), so the ChargeOutbox row commits or rolls back with it. After commit the task is
handed to the broker (`outbox_send`); if the broker is down the row simply stays pending, and
Celery beat runs `outbox_resend_pending` every CHARGE_OUTBOX_BEAT_SECONDS to hand it over again.
The task marks the row done in the transaction that stores the charge run, and generating
charges is idempotent (coding/services.py), so a row sent twice still makes one run: delivery
is at-least-once, the charges exactly-once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from coding.models import ChargeOutbox

logger = logging.getLogger(__name__)

# The task the outbox sends, by name (coding/tasks.py registers it): the outbox and the task do
# not import each other.
GENERATE_CHARGES_TASK = "coding.generate_charges"


def outbox_enqueue(*, encounter_id: int, kind: str, reason: str = "") -> ChargeOutbox:
    """Record that the encounter's charges must be (re)generated; send the task after commit."""
    row = ChargeOutbox.objects.create(encounter_id=encounter_id, kind=kind, reason=reason)
    transaction.on_commit(lambda: outbox_send(outbox_id=row.pk))
    return row


def outbox_send(*, outbox_id: int) -> bool:
    """Hand the row's task to the broker; True if the broker took it. Never raises for the broker.

    A broker that is down must not fail the request that signed the record: the row stays
    pending and the periodic resend picks it up.
    """
    row = ChargeOutbox.objects.filter(pk=outbox_id, done_at__isnull=True).first()
    if row is None:
        return False
    try:
        # The task by name from Celery's registry (CodingConfig.ready() registers coding/tasks.py
        # in every process), so eager mode (no REDIS_URL) still runs it in-process.
        current_app.tasks[GENERATE_CHARGES_TASK].apply_async(
            args=(row.encounter_id, row.kind, row.reason),
            kwargs={"outbox_id": row.pk},
            retry=True,
            retry_policy=settings.CHARGE_OUTBOX_PUBLISH_RETRY,
            # Nobody waits for a result: the outbox row is the state. Subscribing to the result
            # backend would also fail, stickily for the whole process, while Redis is down.
            ignore_result=True,
        )
    except (BrokerError, RedisError, OSError) as exc:
        logger.warning("charge outbox %s: broker unavailable, left pending: %s", row.pk, exc)
        ChargeOutbox.objects.filter(pk=row.pk).update(
            attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return False
    # Not conditional on done_at: a quick worker (or eager mode) may already have finished it.
    ChargeOutbox.objects.filter(pk=row.pk).update(
        sent_at=timezone.now(), attempts=F("attempts") + 1
    )
    return True


def outbox_pending(*, now: datetime | None = None) -> list[int]:
    """Ids of rows due for (re)sending: never sent, or sent long enough ago to be presumed lost."""
    now = now or timezone.now()
    presumed_lost = now - timedelta(seconds=settings.CHARGE_OUTBOX_RESEND_AFTER_SECONDS)
    return list(
        ChargeOutbox.objects.filter(done_at__isnull=True)
        .filter(Q(sent_at__isnull=True) | Q(sent_at__lt=presumed_lost))
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )


def outbox_resend_pending(*, now: datetime | None = None) -> int:
    """Send every due row again (Celery beat calls this); returns how many the broker took."""
    return sum(outbox_send(outbox_id=pk) for pk in outbox_pending(now=now))


def outbox_mark_done(*, outbox_id: int) -> None:
    ChargeOutbox.objects.filter(pk=outbox_id, done_at__isnull=True).update(
        done_at=timezone.now(), last_error=""
    )


def outbox_failed(*, outbox_id: int, error: str) -> None:
    """The task failed for good (not a transient error): keep the reason on the pending row."""
    ChargeOutbox.objects.filter(pk=outbox_id, done_at__isnull=True).update(last_error=error[:2000])
