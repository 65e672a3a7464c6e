"""Benchmark of the board at 10 and at 500 encounters in progress (issue 19), against a bare view.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mar_bench .venv/bin/python benchmarks/board.py
    ... benchmarks/board.py --sizes 10,500 --n 60

Throwaway test database (test_<name>). For each size it charts that many chemotherapy visits in
progress (tests/factories.py: hydration, a push with its flush, paclitaxel with a pause), then
times, interleaved in rounds so the machine's load falls on all alike:

  bare    GET a view returning "ok" through the same middleware;
  board   GET /mar/board/ as a nurse, every summary stored (mar/summary.py): what a nurse waits for;
  cold    the same after marking every summary expired, so each request re-reads every open
          record in bulk and runs the engine on each (what every board load cost before the
          summaries), timed on fewer requests.

Prints median and p95 (ms), the ratio to the bare view's median, and queries per request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks.checklist import percentile, timed  # noqa: E402

urlpatterns = __import__("benchmarks.checklist", fromlist=["urlpatterns"]).urlpatterns


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return len(captured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,500", help="encounters in progress, in order")
    parser.add_argument("--n", type=int, default=60, help="board requests per size")
    parser.add_argument("--cold", type=int, default=10, help="cold board requests per size")
    args = parser.parse_args()
    from celery import current_app

    current_app.conf.task_always_eager = True
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        with override_settings(ROOT_URLCONF="benchmarks.checklist", DEBUG=False):
            run([int(s) for s in args.sizes.split(",")], args.n, args.cold)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(sizes: list[int], n: int, cold_n: int) -> None:
    from mar.models import Encounter, EncounterSummary
    from mar.summary import EXPIRED
    from tests import factories

    nurse = factories.user_create(username="bench-nurse", role="nurse")
    client = Client()
    client.force_login(nurse)
    board_url, bare_url = reverse("mar:board"), reverse("bench_bare")
    print(f"load average {os.getloadavg()[0]:.1f}; database {connection.vendor}")
    header = ("open", "request", "median ms", "p95 ms", "x bare", "queries")
    print("{:>5} {:<6} {:>10} {:>8} {:>7} {:>8}".format(*header))
    for size in sizes:
        now = timezone.now()
        while Encounter.objects.filter(status="in_progress").count() < size:
            factories.chemo_encounter_create(arrived_at=now, location_label="1")
        client.get(board_url)  # the summaries of the factories' records stored once
        results: dict[str, list[float]] = {"bare": [], "board": [], "cold": []}
        rounds = 5

        def cold(i: int):  # type: ignore[no-untyped-def]
            EncounterSummary.objects.update(valid_until=EXPIRED)
            return client.get(board_url)

        for _ in range(rounds):
            results["bare"].extend(timed(lambda i: client.get(bare_url), max(1, n // rounds)))
            results["board"].extend(timed(lambda i: client.get(board_url), max(1, n // rounds)))
            results["cold"].extend(timed(cold, max(1, cold_n // rounds)))
        client.get(board_url)
        counts = {"bare": queries(client, bare_url), "board": queries(client, board_url)}
        EncounterSummary.objects.update(valid_until=EXPIRED)
        counts["cold"] = queries(client, board_url)
        bare = statistics.median(results["bare"])
        for name, samples in results.items():
            median = statistics.median(samples)
            print(
                f"{size:>5} {name:<6} {median:>10.1f} {percentile(samples, 0.95):>8.1f} "
                f"{median / bare:>7.1f} {counts[name]:>8}"
            )
        client.get(board_url)


if __name__ == "__main__":
    main()
