"""A worker killed (SIGKILL) in the middle of the charge task: the charges still appear, once.

The task is held mid-run by a row lock this test takes on the encounter (the task locks it
first thing), the worker process is killed with SIGKILL, the lock released, and a new worker
started. The message was never acknowledged (acks_late), so Redis hands it out again after the
visibility timeout (4 s here); generation is idempotent, so there is exactly one charge run.
"""

import json
import time
from pathlib import Path

import pytest

from tests.faults.servers import Postgres, Redis, app_env, celery_worker, run_app, wait_until

pytestmark = pytest.mark.integration

VISIBILITY = 4


def test_a_killed_worker_leaves_the_task_to_the_next_one(
    fault_pg: Postgres, fault_redis: Redis, logs: Path
) -> None:
    env = app_env(
        fault_pg,
        fault_redis,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY),
        CELERY_TASK_TIME_LIMIT=str(VISIBILITY - 1),
        CELERY_UNACKED_RESTORE_INTERVAL="1",
        CELERY_UNACKED_RESTORE_THROTTLE="1",
        # No resend from beat here: the redelivery must come from the broker alone.
        CHARGE_OUTBOX_RESEND_AFTER_SECONDS="3600",
    )
    fault_redis.start()
    encounter = json.loads(run_app(env, "create"))["encounter"]
    run_app(env, "sign", str(encounter))  # the task waits in Redis: no worker yet
    runs = "SELECT count(*) FROM coding_chargerun WHERE encounter_id = %s"
    waiting_on_lock = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query ILIKE '%%mar_encounter%%' AND pid <> pg_backend_pid()"
    )

    with fault_pg.connect() as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT id FROM mar_encounter WHERE id = %s FOR UPDATE", (encounter,))
        first = celery_worker(env, logs / "first.log")
        try:
            wait_until(lambda: fault_pg.scalar(waiting_on_lock) == 1, 40, "the task to start")
        except BaseException:
            print(first.output())
            raise
        finally:
            first.kill()  # SIGKILL to the worker's process group, mid-task
        holder.execute("ROLLBACK")

    time.sleep(1)
    assert fault_pg.scalar(runs, encounter) == 0, "the killed task must not have committed"

    second = celery_worker(env, logs / "second.log")
    try:
        wait_until(lambda: fault_pg.scalar(runs, encounter) == 1, 45, "the redelivered task")
        time.sleep(VISIBILITY + 1)  # a further redelivery would have come by now
        assert fault_pg.scalar(runs, encounter) == 1
        assert (
            fault_pg.scalar(
                "SELECT count(*) FROM coding_chargeoutbox WHERE encounter_id = %s "
                "AND done_at IS NOT NULL",
                encounter,
            )
            == 1
        )
    except BaseException:
        print(second.output())
        raise
    finally:
        second.stop()
