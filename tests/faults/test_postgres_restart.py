"""PostgreSQL restarted under a running app (gunicorn): the next requests succeed, nothing is lost.

gunicorn keeps its database connection between requests (CONN_MAX_AGE); the restart kills it.
CONN_HEALTH_CHECKS makes Django test the connection at the start of the next request and open
a new one, so no request fails. Everything committed before the restart is still there after.
"""

import json
import re
import time
from pathlib import Path

import pytest
import requests

from tests.faults.app import NURSE, PASSWORD
from tests.faults.servers import (
    VENV_BIN,
    Postgres,
    Process,
    Redis,
    app_env,
    free_port,
    port_open,
    run_app,
    wait_until,
)

pytestmark = pytest.mark.integration


def sign_in(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": NURSE, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def post(session: requests.Session, base: str, path: str) -> requests.Response:
    page = session.get(f"{base}/mar/encounters/{path.split('/')[3]}/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    return session.post(
        f"{base}{path}",
        # the sign-off's confirmation ticked (a sign post without it is refused)
        data={"csrfmiddlewaretoken": token.group(1), "confirm": "on"},
        headers={"Referer": f"{base}{path}"},
        timeout=15,
        allow_redirects=False,
    )


def test_requests_after_a_restart_succeed_and_nothing_is_lost(
    fault_pg: Postgres, fault_redis: Redis, logs: Path
) -> None:
    fault_redis.start()
    env = app_env(fault_pg, fault_redis)
    first = json.loads(run_app(env, "create"))
    second = json.loads(run_app(env, "create"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Process(
        [str(VENV_BIN / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "1", "--timeout", "30"],
        env, logs / "gunicorn.log",
    )  # fmt: skip
    try:
        wait_until(lambda: port_open(port), 30, "gunicorn")
        session = sign_in(base)
        assert session.get(f"{base}/healthz", timeout=10).text == "ok"
        signed = post(session, base, f"/mar/encounters/{first['encounter']}/sign/")
        assert signed.status_code in (200, 302), signed.text[:500]
        before = fault_pg.scalar(
            "SELECT count(*) FROM mar_administration WHERE encounter_id IN (%s, %s)",
            first["encounter"],
            second["encounter"],
        )
        assert (
            fault_pg.scalar("SELECT status FROM mar_encounter WHERE id = %s", first["encounter"])
            == "signed"
        )

        fault_pg.restart()  # gunicorn's open connection is now dead

        started = time.monotonic()
        page = session.get(f"{base}/mar/encounters/{first['encounter']}/", timeout=15)
        assert page.status_code == 200, page.text[:500]
        assert session.get(f"{base}/healthz", timeout=10).text == "ok"
        assert time.monotonic() - started < 10
        after_restart = post(session, base, f"/mar/encounters/{second['encounter']}/sign/")
        assert after_restart.status_code in (200, 302), after_restart.text[:500]

        assert (
            fault_pg.scalar(
                "SELECT count(*) FROM mar_administration WHERE encounter_id IN (%s, %s)",
                first["encounter"],
                second["encounter"],
            )
            == before
        )
        statuses = "SELECT count(*) FROM mar_encounter WHERE id IN (%s, %s) AND status = 'signed'"
        assert fault_pg.scalar(statuses, first["encounter"], second["encounter"]) == 2
        assert (
            fault_pg.scalar(
                "SELECT count(*) FROM coding_chargeoutbox WHERE encounter_id IN (%s, %s)",
                first["encounter"],
                second["encounter"],
            )
            == 2
        )
        assert "Internal Server Error" not in server.output()
    except BaseException:
        print(server.output())
        raise
    finally:
        server.stop()
