"""The load test's nurse round in one process: what each request of a small visit costs, and the
CPU per request that bounds how many a machine serves before it saturates (issue 19, target 1).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mar_bench .venv/bin/python benchmarks/rounds.py
    .venv/bin/python benchmarks/rounds.py --visits 40 --profile chart   # cProfile one request kind
    PROFILE_CALLEES=encounter_checklist .venv/bin/python benchmarks/rounds.py --profile checklist
        # ... and what the functions matching a pattern spent their time on (PROFILE_SORT and
        # PROFILE_FILTER: the order and the selection of the main listing)
    .venv/bin/python benchmarks/rounds.py --visits 10 --split   # compiling SQL, database, templates
    .venv/bin/python benchmarks/rounds.py --visits 6 --fields   # forms built, fields drawn
    .venv/bin/python benchmarks/rounds.py --visits 2 --queries flush   # one request's statements
    .venv/bin/python benchmarks/rounds.py --visits 2 --queries flush --flush-typed
        # ... each flush a first in its minute (typed at a minute of its own), not "again"

It creates a throwaway test database (test_<name>), makes visits as `benchmarks/load.py` seeds
them (a peripheral IV, a hydration, an antiemetic and a chemotherapy order) and, with Django's
test client signed in as a nurse, charts each the way `benchmarks/locustfile.py` does: six rounds
of chart page, start of the next order (htmx), flush (htmx), live checklist (GET), the bare view
(/healthz) and stop (htmx), then sign (the refused sign form asks a reason for each open error
the chart did not list, e.g. a stop missing as signing sees it, and she gives it). No think time,
no network, no locust: the process's own CPU time over the requests it served (PostgreSQL's is
not counted), and each request kind's median.

Against another checkout (e.g. the code when issue 19 was filed), run this file with that
checkout's interpreter and point it there (the script reaches the app through its URLs only):

    git worktree add /tmp/base f3bd1d5
    (cd /tmp/base && python3 -m venv .venv && .venv/bin/pip install -e '.[dev]')
    /tmp/base/.venv/bin/python benchmarks/rounds.py --root /tmp/base
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

START_URL = re.compile(r"/orders/(\d+)/start/")
SITE_URL = re.compile(r"/sites/(\d+)/flush/")
STOP_URL = re.compile(r"/administrations/(\d+)/stop/")
ACK = re.compile(r'name="(ack_[^"]+)"')
# The version a card's pause/stop form names (required since 5b4866c: without it the stop is
# refused as "out of date", and from 2026-12-03 to 2026-12-05 every stop of this round was).
VERSION = re.compile(r'name="at(\d+)-version" value="(\d+)"')
# A start form's idempotency key (a double tap starts one), posted as the browser posts it.
REQUEST_KEY = re.compile(r'name="o(\d+)-request_key" value="([0-9a-f]+)"')
# What a refused action answers with: its fields marked invalid, or the page said out of date.
REFUSED = re.compile(r"is-invalid|out of date|alert-danger")
ACTIONS = ("start (htmx)", "flush (htmx)", "stop (htmx)")
CHART_NOW = re.compile(r'data-now="([^"]+)"')  # the chart's clock, in the encounter's zone


def started_at(chart: str, minutes: int = 2) -> str:
    """A start two minutes ago, on the encounter's wall clock (the chart's `data-now`; New York,
    the factories' zone, on a checkout without it). Started "now", the stop that follows within
    the same minute would be refused (a stop not after its start), as a nurse's would."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    found = CHART_NOW.search(chart)
    now = datetime.fromisoformat(found[1]) if found else datetime.now(ZoneInfo("America/New_York"))
    return (now - timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M")


FLUSH_TYPED = [False]  # --flush-typed: each round's flush at a minute of its own, not "again"


ROUNDS = 6  # as the load test's LOAD_CYCLES


def visits_create(n: int) -> tuple[Any, list[int]]:
    """A nurse and `n` visits in progress, as benchmarks/load.py seeds them. Written out here,
    not imported: load.py puts its own checkout on sys.path, and this file must measure another
    checkout (--root) through that checkout's own factories."""
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.utils import timezone

    from mar.models import AccessSite, DrugClass, Order
    from tests import factories

    nurse = User.objects.create(username="rounds-nurse")
    nurse.groups.add(Group.objects.get_or_create(name="nurse")[0])
    now = timezone.now()
    fluid = factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION)
    antiemetic = factories.drug_get("ondansetron")
    chemo = factories.drug_get("paclitaxel", DrugClass.CHEMO)
    ids = []
    for i in range(n):
        with transaction.atomic():
            encounter = factories.encounter_create(
                arrived_at=now - timedelta(minutes=30), location_label=str(i % 40 + 1)
            )
            AccessSite.objects.create(
                encounter=encounter, kind=AccessSite.Kind.PERIPHERAL_IV, location="left forearm",
                placed_at=now - timedelta(minutes=25),
            )  # fmt: skip
            Order.objects.create(encounter=encounter, drug=fluid, dose="1000 mL",
                                 indication="E86.0", purpose=Order.Purpose.HYDRATION)  # fmt: skip
            Order.objects.create(encounter=encounter, drug=antiemetic, dose="8 mg",
                                 indication="R11.2")  # fmt: skip
            Order.objects.create(encounter=encounter, drug=chemo, dose="175 mg/m2",
                                 indication="C34.90")  # fmt: skip
        ids.append(encounter.pk)
    return nurse, ids


# --split: where a request's time goes, summed over the run (seconds by part).
SPLIT: dict[str, float] = {}


def split_install() -> None:
    """Timers around Django's SQL compiler (building a query's SQL), the database cursor (the
    driver and PostgreSQL answering) and the outermost template render (templates drawn from
    inside one count in it: Django's and, where the checkout has them, the chart's Jinja2
    partials, mar/jinja.py). Each adds a little of its own to what it times."""
    from django.db.backends import utils
    from django.db.models.sql import compiler
    from django.template import base

    def timing(
        part: str,
        function: Callable[..., Any],
        outermost: bool = False,
        depth: list[int] | None = None,
    ) -> Any:
        depth = [0] if depth is None else depth

        def timed(*args: Any, **kwargs: Any) -> Any:
            if outermost and depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                depth[0] -= 1
                SPLIT[part] = SPLIT.get(part, 0.0) + time.perf_counter() - started

        return timed

    compiler.SQLCompiler.as_sql = timing(  # type: ignore[method-assign]
        "compiling SQL", compiler.SQLCompiler.as_sql, outermost=True
    )
    utils.CursorWrapper._execute = timing(  # type: ignore[method-assign]
        "database", utils.CursorWrapper._execute
    )
    drawing = [0]  # one depth for both engines: a Jinja2 partial in a Django page counts once
    base.Template.render = timing("templates", base.Template.render, True, drawing)  # type: ignore[method-assign]
    try:
        import jinja2
    except ImportError:
        return
    jinja2.Template.render = timing("templates", jinja2.Template.render, True, drawing)  # type: ignore[method-assign]


FIELDS: dict[str, dict[str, int]] = {}  # --fields: by request kind, forms built and fields read
KIND = [""]  # the request kind being timed
STATEMENTS: dict[str, list[str]] = {}  # --queries: the statements of the last request of a kind


def queries_install(prefix: str) -> None:
    """--queries: keep the SQL each request of the kinds `prefix` begins sent (the last one's
    statements are printed, with the count and the time each took)."""
    from django.db.backends import utils

    execute = utils.CursorWrapper._execute

    def logged(self: Any, sql: str, params: Any, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(self, sql, params, *args)
        finally:
            if KIND[0].startswith(prefix):
                took = (time.perf_counter() - started) * 1000
                STATEMENTS.setdefault(KIND[0], []).append(f"{took:6.2f} ms  {sql[:300]}")

    utils.CursorWrapper._execute = logged  # type: ignore[method-assign]


def fields_install() -> None:
    """--fields: count, by request kind, the forms built (by class) and the bound fields made
    (`form[name]`: a field drawn, or read by validation), in any checkout (Django's own classes,
    not the project's templates): the count, made by hand the session before, that showed a
    flush's answer drawing its whole site chip."""
    from django.forms import boundfield, forms

    def counted(key: str) -> None:
        kind = FIELDS.setdefault(KIND[0], {})
        kind[key] = kind.get(key, 0) + 1

    form_init = forms.BaseForm.__init__
    field_init = boundfield.BoundField.__init__

    def form_built(self: Any, *args: Any, **kwargs: Any) -> None:
        counted(f"form {type(self).__name__}")
        form_init(self, *args, **kwargs)

    def field_made(self: Any, form: Any, field: Any, name: str) -> None:
        counted(f"field {type(form).__name__}.{name}")
        field_init(self, form, field, name)

    forms.BaseForm.__init__ = form_built  # type: ignore[method-assign]
    boundfield.BoundField.__init__ = field_made  # type: ignore[method-assign]


def fields_print(times: dict[str, list[float]]) -> None:
    for name, counts in FIELDS.items():
        if name not in times:
            continue  # untimed (the chart read for the sign form's reasons)
        n = len(times[name])
        forms_built = sum(v for k, v in counts.items() if k.startswith("form "))
        fields_read = sum(v for k, v in counts.items() if k.startswith("field "))
        print(f"\n{name}: {forms_built / n:.1f} forms built, {fields_read / n:.1f} fields read")
        for key, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {value / n:7.2f}  {key}")


class Rounds:
    def __init__(self, client: Any, profile: str) -> None:
        import cProfile

        self.client = client
        self.profile = profile
        self.profiler = cProfile.Profile()
        self.times: dict[str, list[float]] = {}
        self.split: dict[str, dict[str, float]] = {}  # --split: seconds by part, by request kind

    def timed(self, name: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        KIND[0] = name
        STATEMENTS.pop(name, None)  # --queries: only the last request of a kind is kept
        if self.profile and name.startswith(self.profile):
            self.profiler.enable()
        before = dict(SPLIT)
        started = time.perf_counter()
        response = call(*args, **kwargs)
        elapsed = time.perf_counter() - started
        KIND[0] = ""  # what follows, untimed, is not counted against this kind
        if self.profile and name.startswith(self.profile):
            self.profiler.disable()
        assert response.status_code < 400, f"{name}: {response.status_code}"
        body = response.content.decode()
        refused = REFUSED.search(body) if name in ACTIONS else None
        if refused is not None:
            # A refusal costs less than the change: timing it would measure the wrong thing.
            start = max(refused.start() - 300, 0)
            raise SystemExit(f"{name} was refused: ...{body[start : refused.end() + 300]}...")
        self.times.setdefault(name, []).append(elapsed)
        parts = self.split.setdefault(name, {})
        for part, seconds in SPLIT.items():
            parts[part] = parts.get(part, 0.0) + seconds - before.get(part, 0.0)
        return body

    def visit(self, pk: int) -> None:
        """One visit charted as benchmarks/locustfile.py's Nurse.chart_a_little does."""
        client, base, hx = self.client, f"/mar/encounters/{pk}", {"HTTP_HX_REQUEST": "true"}
        for cycle in range(1, ROUNDS + 1):
            chart = self.timed("chart page", client.get, base + "/")
            orders, sites = START_URL.findall(chart), SITE_URL.findall(chart)
            # What runs before this round's start: the oldest is stopped at the round's end.
            running = sorted(set(STOP_URL.findall(chart)), key=int)
            versions = dict(VERSION.findall(chart))
            if orders:
                order = orders[(cycle - 1) % len(orders)]
                # --flush-typed: the starts further back, so the rounds' flushes still follow.
                ago = ROUNDS + 2 if FLUSH_TYPED[0] else 2
                data = {f"o{order}-method": "infusion", f"o{order}-at": started_at(chart, ago)}
                data[f"o{order}-request_key"] = dict(REQUEST_KEY.findall(chart)).get(order, "")
                if sites:
                    data[f"o{order}-site"] = sites[0]
                url = f"{base}/orders/{order}/start/"
                self.timed("start (htmx)", client.post, url, data, **hx)
            if sites:
                url = f"{base}/sites/{sites[0]}/flush/"
                # A flush in the minute of the round's last one is asked first ("chart it
                # again?"); the round means it, so each flush is charted (a write), as measured.
                # Said so ("again"), it runs the statements of a first flush in its minute (the
                # question is asked from the record's read: 14 either way) but for that check.
                # --flush-typed: each round's flush typed at a minute of its own (ROUNDS - cycle
                # minutes ago, after the round's start), asked about and charted, no "again".
                if FLUSH_TYPED[0]:
                    data = {f"flush{sites[0]}-at": started_at(chart, ROUNDS - cycle)}
                else:
                    data = {f"flush{sites[0]}-again": "1"}
                self.timed("flush (htmx)", client.post, url, data, **hx)
            self.timed("checklist (GET)", client.get, f"{base}/checklist/", **hx)
            self.timed("bare view", client.get, "/healthz")
            for adm in running[:1]:
                url = f"{base}/administrations/{adm}/stop/"
                data = {f"at{adm}-at": "", f"at{adm}-version": versions.get(adm, "")}
                self.timed("stop (htmx)", client.post, url, data, **hx)
        acks = {
            name: "charted in the benchmark"
            for name in ACK.findall(client.get(base + "/").content.decode())
        }
        acks["confirm"] = "on"  # the sign-off's "I have checked what I am signing" box
        # As the signature checks it, a running infusion is a stop missing: the refused sign form
        # asks a reason for it too, and she gives one (a second post, timed as its own kind).
        page = self.timed("sign (asks)", client.post, f"{base}/sign/", acks)
        asked = {name: "charted in the benchmark" for name in ACK.findall(page)}
        if asked:
            self.timed("sign", client.post, f"{base}/sign/", {**acks, **asked})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=30, help="visits charted (default 30)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the checkout to measure (default this one)")  # fmt: skip
    parser.add_argument(
        "--profile", default="", help="cProfile the request kinds it begins, e.g. 'chart'"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="also print where each request kind's time goes: compiling SQL, the database, "
        "templates (mean ms a request)",
    )
    parser.add_argument(
        "--fields",
        action="store_true",
        help="also print, by request kind, the forms built and the fields drawn (a request)",
    )
    parser.add_argument(
        "--queries",
        default="",
        help="also print the SQL statements of the last request of the kinds it begins, "
        "e.g. 'flush'",
    )
    parser.add_argument(
        "--flush-typed",
        action="store_true",
        help="post each round's flush at a minute of its own (typed; the starts typed "
        f"{ROUNDS + 2} minutes ago, not 2), a first flush in its minute, rather than 'again'",
    )
    args = parser.parse_args()
    FLUSH_TYPED[0] = args.flush_typed
    sys.path.insert(0, str(args.root))
    os.chdir(args.root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    if args.split:
        split_install()
    if args.fields:
        fields_install()
    if args.queries:
        queries_install(args.queries)
    from celery import current_app
    from django.db import connection
    from django.test import Client, override_settings

    current_app.conf.task_always_eager = True  # the charges of a signature are made in-process
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        with override_settings(DEBUG=False):
            nurse, ids = visits_create(args.visits + 2)
            client = Client()
            client.force_login(nurse)
            warm = Rounds(client, "")
            for pk in ids[:2]:
                warm.visit(pk)
            try:  # the collector as a gunicorn worker runs it (config/wsgi.py), where there is
                from config.gc_tuning import tune  # one (GC_TUNING=0: Python's defaults)
            except ImportError:
                pass
            else:
                tune()
            FIELDS.clear()  # the warm-up's counts
            rounds = Rounds(client, args.profile)
            cpu = time.process_time()
            for pk in ids[2:]:
                rounds.visit(pk)
            cpu = time.process_time() - cpu
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    served = sum(len(samples) for samples in rounds.times.values())
    print(
        f"{args.visits} visits, {served} requests, database {connection.vendor}, "
        f"load average {os.getloadavg()[0]:.1f}: process CPU {cpu * 1000 / served:.2f} ms a request"
    )
    bare = statistics.median(rounds.times["bare view"])
    print(f"{'request':<16} {'count':>6} {'median ms':>10} {'x bare':>7} {'share of time':>14}")
    total = sum(sum(samples) for samples in rounds.times.values())
    for name, samples in rounds.times.items():
        median = statistics.median(samples)
        print(
            f"{name:<16} {len(samples):>6} {median * 1000:>10.2f} {median / bare:>7.1f} "
            f"{sum(samples) / total:>13.0%}"
        )
    if args.split:
        print(f"{'request':<16} {'mean ms':>8} " + " ".join(f"{p:>14}" for p in sorted(SPLIT)))
        for name, parts in rounds.split.items():
            count = len(rounds.times[name])
            mean = sum(rounds.times[name]) * 1000 / count
            print(
                f"{name:<16} {mean:>8.2f} "
                + " ".join(f"{parts.get(p, 0.0) * 1000 / count:>14.2f}" for p in sorted(SPLIT))
            )
    if args.fields:
        fields_print(rounds.times)
    for name, statements in STATEMENTS.items():
        print(f"\n{name}: {len(statements)} statements")
        for line in statements:
            print("  " + line)
    if args.profile:
        import pstats

        stats = pstats.Stats(rounds.profiler).sort_stats(
            os.environ.get("PROFILE_SORT", "cumulative")
        )
        stats.print_stats(os.environ.get("PROFILE_FILTER", ""), 60)
        if os.environ.get("PROFILE_CALLEES"):  # what one function's time is made of
            stats.print_callees(os.environ["PROFILE_CALLEES"])


if __name__ == "__main__":
    main()
