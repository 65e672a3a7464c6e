"""Redis is down when a record is signed: the signature stands, the charges come when it is back.

Real parts only: the app signs in a subprocess against this test's own PostgreSQL and a Redis
port with nothing listening; then Redis starts and a real `celery worker -B` (beat embedded,
resending every second) delivers the pending outbox row.
"""

import json
import time
from pathlib import Path

import pytest

from tests.faults.servers import Postgres, Redis, app_env, celery_worker, run_app, wait_until

pytestmark = pytest.mark.integration


def test_charges_appear_once_after_redis_returns(
    fault_pg: Postgres, fault_redis: Redis, logs: Path
) -> None:
    env = app_env(fault_pg, fault_redis, CHARGE_OUTBOX_BEAT_SECONDS="1")
    encounter = json.loads(run_app(env, "create"))["encounter"]

    started = time.monotonic()
    run_app(env, "sign", str(encounter))  # Redis is not running
    assert time.monotonic() - started < 30, "signing must not hang on a dead broker"

    assert fault_pg.scalar("SELECT status FROM mar_encounter WHERE id = %s", encounter) == "signed"
    pending = "SELECT count(*) FROM coding_chargeoutbox WHERE encounter_id = %s AND done_at IS NULL"
    assert fault_pg.scalar(pending, encounter) == 1
    assert "Connection refused" in str(
        fault_pg.scalar("SELECT last_error FROM coding_chargeoutbox WHERE encounter_id = %s",
                        encounter)
    )  # fmt: skip
    runs = "SELECT count(*) FROM coding_chargerun WHERE encounter_id = %s"
    assert fault_pg.scalar(runs, encounter) == 0

    fault_redis.start()
    worker = celery_worker(env, logs / "worker.log", "--beat", "--schedule",
                           str(logs / "beat-schedule"))  # fmt: skip
    try:
        wait_until(lambda: fault_pg.scalar(pending, encounter) == 0, 45, "the outbox row done")
        time.sleep(2.5)  # two more beat ticks: nothing is sent twice into a second run
        assert fault_pg.scalar(runs, encounter) == 1
        lines = (
            "SELECT count(*) FROM coding_chargeline l JOIN coding_chargerun r ON r.id = l.run_id"
        )
        assert fault_pg.scalar(f"{lines} WHERE r.encounter_id = %s AND l.code = '96413'",
                               encounter) == 1  # fmt: skip
    except BaseException:
        print(worker.output())
        raise
    finally:
        worker.stop()
