"""Locust scenario (issue 7): nurses charting at the bedside and coders reviewing, over HTTP.

Run it with benchmarks/load.py, which starts the servers, seeds the encounters and reports;
by hand: `locust -f benchmarks/locustfile.py --host http://127.0.0.1:8000` against a seeded app
(LOAD_NURSE_ENCOUNTERS names the file of encounter ids written by `load.py seed`).

Request names (the rows of the report):
  nurse: chart page, start (htmx), flush = the live checklist round trip (htmx: the chart with
  its checklist re-rendered after a tap), checklist (GET), stop (htmx), sign, bare view (/healthz)
  coder: worklist, coder charges page, claim, release
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from locust import HttpUser, between, task

PASSWORD = os.environ.get("LOAD_PASSWORD", "load-test-password-1")
NURSES = int(os.environ.get("LOAD_NURSES", 48))
CODERS = int(os.environ.get("LOAD_CODERS", 12))
_seed = json.loads(open(os.environ.get("LOAD_SEED", "benchmarks/.load-seed.json")).read())
# Patients to chart: the seeded ones, then those the runner's admissions feeder adds (one id a
# line), as the front desk registers them.
QUEUE = os.environ.get("LOAD_QUEUE", "")
_nurse_numbers = itertools.count(1)
_coder_numbers = itertools.count(1)
_taken: set[int] = set()
_lock = threading.Lock()

STOP_URL = re.compile(r"/mar/encounters/\d+/administrations/(\d+)/stop/")
SITE_URL = re.compile(r"/mar/encounters/\d+/sites/(\d+)/flush/")
START_URL = re.compile(r"/mar/encounters/\d+/orders/(\d+)/start/")
CODER_URL = re.compile(r"/coding/encounters/(\d+)/")
ACK = re.compile(r'name="(ack_[^"]+)"')
HTMX = {"HX-Request": "true"}
# The version a card's pause/stop form names (required since 5b4866c; without it every stop of
# this scenario was refused as "out of date" from 2026-12-03 to 2026-12-05).
VERSION = re.compile(r'name="at(\d+)-version" value="(\d+)"')
# A start form's idempotency key (a double tap starts one), posted as the browser posts it.
REQUEST_KEY = re.compile(r'name="o(\d+)-request_key" value="([0-9a-f]+)"')
CHART_NOW = re.compile(r'data-now="([^"]+)"')  # the chart's clock, in the encounter's zone
# What a refused action answers with (counted as a failure: it is not the change it stands for).
REFUSED = re.compile(r"is-invalid|out of date|alert-danger")
CYCLES = int(os.environ.get("LOAD_CYCLES", 6))  # charting rounds on a patient before signing


def next_encounter() -> int | None:
    with _lock:
        ids = list(_seed["open"])
        if QUEUE and os.path.exists(QUEUE):
            with open(QUEUE) as f:
                ids += [int(line) for line in f if line.strip()]
        for pk in ids:
            if pk not in _taken:
                _taken.add(pk)
                return pk
        return None


def started_at(chart: str) -> str:
    """A start two minutes ago on the encounter's wall clock (New York, the seeds' zone, where
    the chart does not say): the stop a round later must come after it (DOC-3), and with no
    think time it comes within the same minute."""
    found = CHART_NOW.search(chart)
    now = datetime.fromisoformat(found[1]) if found else datetime.now(ZoneInfo("America/New_York"))
    return (now - timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M")


class Signed(HttpUser):
    abstract = True

    def sign_in(self, username: str) -> None:
        self.client.get("/accounts/login/", name="login page")
        self.client.post(
            "/accounts/login/",
            {"username": username, "password": PASSWORD},
            headers=self.csrf(),
            name="login",
            allow_redirects=False,
        )

    def csrf(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"X-CSRFToken": self.client.cookies.get("csrftoken", ""), **(extra or {})}


class Nurse(Signed):
    weight = NURSES
    # Seconds between two charting rounds of one nurse (each round is ~7 requests in a burst).
    wait_time = between(*(float(x) for x in os.environ.get("LOAD_NURSE_WAIT", "60,120").split(",")))

    def on_start(self) -> None:
        self.sign_in(f"load-nurse-{next(_nurse_numbers)}")
        self.client.get("/mar/board/", name="board (start page)")
        self.encounter: int | None = None
        self.cycles = 0

    def chart(self) -> str:
        return self.client.get(f"/mar/encounters/{self.encounter}/", name="chart page").text

    @task
    def chart_a_little(self) -> None:
        if self.encounter is None or self.cycles >= CYCLES:
            if self.encounter is not None:
                # Sign, giving a reason for each checklist error still open (the sign form asks).
                acks = {name: "charted in the load test" for name in ACK.findall(self.chart())}
                acks["confirm"] = "on"  # the sign-off's "I have checked what I am signing" box
                url = f"/mar/encounters/{self.encounter}/sign/"
                page = self.client.post(url, acks, headers=self.csrf(), name="sign").text
                # As the signature checks it, an infusion still running is a stop missing: the
                # refused form asks a reason for it (and anything else the chart did not list);
                # she gives one and signs again.
                asked = {name: "charted in the load test" for name in ACK.findall(page)}
                if asked:
                    self.client.post(
                        url, {**acks, **asked}, headers=self.csrf(), name="sign, reasons asked"
                    )
            self.encounter, self.cycles = next_encounter(), 0
            if self.encounter is None:
                return
        self.cycles += 1
        base = f"/mar/encounters/{self.encounter}"
        page = self.chart()
        orders = START_URL.findall(page)
        sites = SITE_URL.findall(page)
        # What runs before this round's start: the oldest is stopped at the round's end.
        running = sorted(set(STOP_URL.findall(page)), key=int)
        versions = dict(VERSION.findall(page))
        if orders:
            order = orders[(self.cycles - 1) % len(orders)]
            data = {f"o{order}-method": "infusion", f"o{order}-at": started_at(page)}
            data[f"o{order}-request_key"] = dict(REQUEST_KEY.findall(page)).get(order, "")
            if sites:
                data[f"o{order}-site"] = sites[0]
            self.action(f"{base}/orders/{order}/start/", data, "start (htmx)")
        if sites:
            self.action(
                f"{base}/sites/{sites[0]}/flush/",
                # Meant, in the minute of the last one too: the statements of a first flush in
                # its minute (asked about from the record's read, 14 either way).
                {f"flush{sites[0]}-again": "1"},
                "flush = live checklist round trip (htmx)",
            )
        self.client.get(f"{base}/checklist/", headers=HTMX, name="checklist (GET)")
        self.client.get("/healthz", name="bare view (/healthz)")
        for adm in running[:1]:
            self.action(
                f"{base}/administrations/{adm}/stop/",
                {f"at{adm}-at": "", f"at{adm}-version": versions.get(adm, "")},
                "stop (htmx)",
            )

    def action(self, url: str, data: dict[str, str], name: str) -> None:
        """An htmx charting action; refused (a field marked, "out of date") counts as a failure."""
        with self.client.post(
            url, data, headers=self.csrf(HTMX), name=name, catch_response=True
        ) as response:
            refused = REFUSED.search(response.text or "")
            if refused is not None:
                start = max(refused.start() - 200, 0)
                response.failure(f"refused: {response.text[start : refused.end() + 200]}")


class Coder(Signed):
    weight = CODERS
    wait_time = between(*(float(x) for x in os.environ.get("LOAD_CODER_WAIT", "30,90").split(",")))

    def on_start(self) -> None:
        self.sign_in(f"load-coder-{next(_coder_numbers)}")
        self.client.get("/coding/worklist/", name="worklist")

    @task
    def review(self) -> None:
        page = self.client.get("/coding/worklist/", name="worklist").text
        ids = CODER_URL.findall(page) or [str(pk) for pk in _seed["signed"]]
        pk = random.choice(ids)
        self.client.get(f"/coding/encounters/{pk}/", name="coder charges page")
        claimed = self.client.post(
            f"/coding/encounters/{pk}/claim/", headers=self.csrf(), name="claim",
            allow_redirects=False,
        )  # fmt: skip
        if claimed.status_code in (200, 302):
            self.client.post(
                f"/coding/encounters/{pk}/release/", headers=self.csrf(), name="release",
                allow_redirects=False,
            )  # fmt: skip
