"""The coder's worklist with N signed visits against a bare view (issue 19).

    .venv/bin/python benchmarks/worklist.py --visits 250      # with DATABASE_URL set
    .venv/bin/python benchmarks/worklist.py --root /tmp/before   # another commit's worktree
    .venv/bin/python benchmarks/worklist.py --visits 60 --n 20 --profile   # where the time goes
    .venv/bin/python benchmarks/worklist.py --visits 60 --priced   # the charge master loaded

A throwaway test database; N visits built by tests/coding/review_helpers.py `reviewed()` (the
factory's chemotherapy visit, signed, charged, on the worklist as new); then `/coding/worklist/`
and a bare view through the same middleware, interleaved, after 5 warm-up rounds; medians. With
--priced the charge master is loaded first (`manage.py load_charge_master`, as `bin/demo` does),
so each row also shows its money and the lines not priced, as at a hospital.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

urlpatterns: list[Any] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--visits", type=int, default=250, help="signed visits (default 250)")
    parser.add_argument("--n", type=int, default=40, help="requests each (default 40)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the worklist's requests (top 50)"
    )
    parser.add_argument("--priced", action="store_true", help="load the charge master first")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    os.chdir(args.root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from celery import current_app
    from django.db import connection
    from django.http import HttpRequest, HttpResponse
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import include, path

    current_app.conf.task_always_eager = True

    def bare(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    urlpatterns[:] = [path("bench/bare/", bare), path("", include("config.urls"))]
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
            from mar import roles
            from tests import factories
            from tests.coding.review_helpers import reviewed

            if args.priced:
                from django.core.management import call_command

                call_command("load_charge_master", verbosity=0)
            for _ in range(args.visits):
                reviewed()
            client = Client()
            client.force_login(factories.user_create(username="bench-coder", role=roles.CODER))
            try:
                from config.gc_tuning import tune  # as a web worker does, where it exists

                tune()
            except ImportError:
                pass
            times: dict[str, list[float]] = {"bare": [], "worklist": []}
            page = ""
            import cProfile

            profiler = cProfile.Profile()
            for i in range(args.n + 5):
                for name, url in (("bare", "/bench/bare/"), ("worklist", "/coding/worklist/")):
                    profiled = args.profile and name == "worklist" and i >= 5
                    if profiled:
                        profiler.enable()
                    start = time.perf_counter()
                    response = client.get(url)
                    elapsed = time.perf_counter() - start
                    if profiled:
                        profiler.disable()
                    assert response.status_code == 200, (url, response.status_code)
                    if i >= 5:
                        times[name].append(elapsed)
                    if name == "worklist":
                        page = response.content.decode()
            bare_ms = statistics.median(times["bare"]) * 1000
            worklist_ms = statistics.median(times["worklist"]) * 1000
            rows = page.count('data-testid="worklist-row"')
            priced = page.count('data-testid="amount-total"')
            print(
                f"{args.root}: {args.visits} signed, {rows} rows shown ({priced} priced); "
                f"bare view {bare_ms:.2f} ms, worklist {worklist_ms:.2f} ms "
                f"= {worklist_ms / bare_ms:.1f}x; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
            if args.profile:
                import pstats

                pstats.Stats(profiler).sort_stats(
                    os.environ.get("PROFILE_SORT", "cumulative")
                ).print_stats(os.environ.get("PROFILE_FILTER", ""), 50)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
