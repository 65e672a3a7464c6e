"""Benchmark of the live checklist round trip (issue 4): server time of the bedside htmx endpoints
against a bare Django view, in the same process and the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mar_bench \
        .venv/bin/python benchmarks/checklist.py
    .venv/bin/python benchmarks/checklist.py --n 500        # without DATABASE_URL: SQLite

It creates a throwaway test database (test_<name>), loads the demo formulary and the demo day
(mar/demo.py), picks the demo encounter with the most administrations, signs in a nurse with the
Django test client and times, request by request (time.perf_counter around client.get/post, so the
full middleware stack, the views, the ORM on the real database, the engine and the templates):

  bare       GET a view that returns "ok" through the same middleware (session, auth, login,
             CSRF, htmx): the yardstick;
  checklist  GET /mar/encounters/<pk>/checklist/ with HX-Request: the live checklist panel
             (record_from_encounter -> the engine's checks -> the partial);
  save       POST a change of one field of an administration card with HX-Request, as every
             field change does: lock, version check, save, the engine's DOC-3 check, and the
             whole chart section re-rendered (checklist and timeline included).
  flush      POST a flush on the card's site (htmx), now;
  pause/resume  POST pause, then resume, alternately, on a running infusion (htmx);
  start      POST start of the card's order as an infusion (htmx);
  stop       POST stop of one started by `start` (htmx).
The record grows as the run goes (every flush, start and pause adds a row).

With --pages --full-worklist the coder's worklist is a full page (50 signed visits, the charge
master loaded, so each row is priced), as at a hospital; without it, the demo day's few visits.

Prints median and p95 in milliseconds and each one's ratio to the bare view's median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import include, path, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.views.decorators.http import require_GET  # noqa: E402


@require_GET
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


# The app's own URLs plus the bare view, so both run through one configuration.
urlpatterns = [path("bench/bare/", bare, name="bench_bare"), path("", include("config.urls"))]


def _grow(encounter, adm, extra: int) -> None:  # type: ignore[no-untyped-def]
    """A larger record: `extra` more pushes of the first drug, each after a flush."""
    from datetime import timedelta

    from mar.models import Administration, Flush

    site = adm.site or encounter.sites.first()
    last = encounter.administrations.order_by("-start").first().start
    for i in range(extra):
        at = last + timedelta(minutes=40 * (i + 1))
        if at > timezone.now():
            at = timezone.now() - timedelta(seconds=extra - i)
        Flush.objects.create(encounter=encounter, site=site, at=at - timedelta(seconds=30))
        Administration.objects.create(
            encounter=encounter, order=adm.order, drug=adm.drug, site=site, route=adm.route,
            method=Administration.Method.PUSH, start=at,
        )  # fmt: skip


def _worklist_fill(nurse) -> None:  # type: ignore[no-untyped-def]
    """--full-worklist: the charge master loaded and a full page of signed visits (priced rows)."""
    from django.core.management import call_command

    from coding.views import WORKLIST_PAGE
    from mar.models import Encounter
    from mar.services.signature import signature_store
    from tests import factories

    call_command("load_charge_master", verbosity=0)
    for _ in range(WORKLIST_PAGE - Encounter.objects.filter(status="signed").count()):
        signature_store(encounter=factories.chemo_encounter_create(), user=nurse)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed(call, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for i in range(n):
        started = time.perf_counter()
        response = call(i)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="requests per endpoint (default 300)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--extra", type=int, default=0, help="add this many push+flush pairs to the encounter"
    )
    parser.add_argument(
        "--full-worklist",
        action="store_true",
        help="with --pages: load the charge master (as bin/demo does) and sign chemotherapy "
        "visits until the coder's worklist shows a full page (50 rows, priced), as a coder at a "
        "hospital sees it; without it the worklist holds the demo day's few visits, unpriced",
    )
    parser.add_argument(
        "--profile", default="", help="cProfile this endpoint (e.g. flush) instead of timing"
    )
    parser.add_argument(
        "--queries",
        default="",
        help="print the SQL one request of this endpoint sends (e.g. board)",
    )
    parser.add_argument(
        "--pages",
        action="store_true",
        help="also time the chart page, the board and the coder's worklist and review (the "
        "demo's finished visits are signed first, so the coder has charges to review)",
    )
    args = parser.parse_args()

    from celery import current_app

    current_app.conf.task_always_eager = True  # nothing is signed here; keep Redis out of it
    # No setup_test_environment(): its instrumented template rendering (the test client's copy of
    # every context) would inflate the template time far beyond what a server spends.
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
            run(
                args.n,
                args.warmup,
                args.extra,
                args.profile,
                pages=args.pages,
                queries=args.queries,
                full_worklist=args.full_worklist,
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def demo_encounter(extra: int, *, sign: bool = False):  # type: ignore[no-untyped-def]
    """The demo formulary, users and day (its finished visits signed first with `sign`); the
    in-progress encounter with the most administrations, grown by `extra` push+flush pairs:
    (users, the visits signed, the encounter, its first administration)."""
    from mar.demo import demo_day_create, demo_day_sign, demo_users_ensure
    from mar.models import Encounter
    from mar.pharmacy.formulary import formulary_load_csv

    formulary_load_csv(update_existing=False)
    users = demo_users_ensure()
    day = demo_day_create(now=timezone.now(), nurse=users["nurse"])
    signed = demo_day_sign(encounters=day, nurse=users["nurse"]) if sign else []
    encounter = max(
        Encounter.objects.filter(status=Encounter.Status.IN_PROGRESS),
        key=lambda e: e.administrations.count(),
    )
    adm = encounter.administrations.order_by("pk").first()
    assert adm is not None
    _grow(encounter, adm, extra)
    return users, signed, encounter, adm


def run(  # noqa: C901
    n: int,
    warmup: int,
    extra: int,
    profile: str = "",
    *,
    pages: bool = False,
    queries: str = "",
    full_worklist: bool = False,
) -> None:
    users, signed, encounter, adm = demo_encounter(extra, sign=pages)
    if pages and full_worklist:
        _worklist_fill(users["nurse"])
    client = Client()
    client.force_login(users["nurse"])
    hx = {"HTTP_HX_REQUEST": "true"}

    checklist_url = reverse("mar:encounter_checklist", args=[encounter.pk])
    save_url = reverse("mar:adm_update", args=[encounter.pk, adm.pk])
    bare_url = reverse("bench_bare")
    zone = ZoneInfo(encounter.timezone)  # the card's times are the encounter's wall clock
    start = adm.start.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    stop = adm.stop.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if adm.stop else ""

    def save(i: int):  # type: ignore[no-untyped-def]
        adm.refresh_from_db(fields=["version"])
        prefix = f"a{adm.pk}-"
        data = {
            "start": start, "stop": stop, "method": adm.method, "site": adm.site_id or "",
            "bag": f"B{i % 2}", "purpose": adm.purpose, "started_by": adm.started_by,
            "pump": adm.pump, "planned_hours": "", "version": adm.version,
        }  # fmt: skip
        return client.post(save_url, {prefix + k: v for k, v in data.items()}, **hx)

    from mar.models import Administration
    from mar.services import charting

    site = adm.site or encounter.sites.first()
    order = adm.order
    assert site is not None and order is not None
    running = encounter.administrations.filter(
        stop__isnull=True, method="infusion"
    ).first() or charting.administration_start(
        order=order, site=site, start=timezone.now() - timedelta(minutes=30)
    )
    flush_url = reverse("mar:site_flush", args=[encounter.pk, site.pk])
    start_url = reverse("mar:order_start", args=[encounter.pk, order.pk])
    started: list[int] = []

    def at_action(target: Administration, action: str):  # type: ignore[no-untyped-def]
        target.refresh_from_db(fields=["version"])
        url = reverse(f"mar:adm_{action}", args=[encounter.pk, target.pk])
        data = {f"at{target.pk}-at": "", f"at{target.pk}-version": target.version}
        return client.post(url, data, **hx)

    def start_one(i: int):  # type: ignore[no-untyped-def]
        data = {
            f"o{order.pk}-method": "infusion",
            f"o{order.pk}-at": "",
            f"o{order.pk}-site": site.pk,
        }
        response = client.post(start_url, data, **hx)
        started.append(encounter.administrations.order_by("-pk").values_list("pk", flat=True)[0])
        return response

    def stop_one(i: int):  # type: ignore[no-untyped-def]
        return at_action(Administration.objects.get(pk=started.pop(0)), "stop")

    calls = {
        "bare": lambda i: client.get(bare_url),
        "checklist": lambda i: client.get(checklist_url, **hx),
        "save": save,
        # Meant again in the minute of the last flush (else asked first, and nothing charted);
        # the statements of a first flush in its minute (asked about from the record's read).
        "flush": lambda i: client.post(flush_url, {f"flush{site.pk}-again": "1"}, **hx),
        "pause/resume": lambda i: at_action(running, "pause" if i % 2 == 0 else "resume"),
        "start": start_one,
        "stop": stop_one,
    }
    if pages:
        coder = Client()
        coder.force_login(users["coder"])
        review = max(signed, key=lambda e: e.administrations.count())
        chart_url = reverse("mar:encounter", args=[encounter.pk])
        calls.update(
            {
                "chart page": lambda i: client.get(chart_url),
                "board": lambda i: client.get(reverse("mar:board")),
                "worklist": lambda i: coder.get(reverse("coding:worklist")),
                "review": lambda i: coder.get(
                    reverse("coding:encounter_charges", args=[review.pk])
                ),
            }
        )
    for call in calls.values():
        timed(call, warmup)
    if queries:
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            calls[queries](0)
        for query in captured.captured_queries:
            print(f"{query['time']:>6} {query['sql'][:300]}")
        print(f"{len(captured.captured_queries)} queries")
        return
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        timed(calls[profile], n)
        profiler.disable()
        stats = pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative"))
        stats.print_stats(os.environ.get("PROFILE_FILTER", ""), 60)
        return
    # Interleaved rounds, so load from other jobs falls on all three alike.
    results: dict[str, list[float]] = {name: [] for name in calls}
    rounds = 10
    for _ in range(rounds):
        for name, call in calls.items():
            results[name].extend(timed(call, max(1, n // rounds)))

    engine = connection.vendor
    size = encounter.administrations.count()
    print(
        f"Encounter E{encounter.pk}: {size} administrations, {encounter.sites.count()} sites, "
        f"{encounter.flushes.count()} flushes; database {engine}; "
        f"{len(results['bare'])} requests each; load average {os.getloadavg()[0]:.1f}"
    )
    bare_median = statistics.median(results["bare"])
    print(f"{'endpoint':<12} {'median ms':>10} {'p95 ms':>8} {'x bare (median)':>16}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(
            f"{name:<12} {median:>10.2f} {percentile(samples, 0.95):>8.2f} "
            f"{median / bare_median:>16.1f}"
        )
    if settings.DEBUG:
        print("warning: DEBUG is on; figures include query logging")


if __name__ == "__main__":
    main()
