"""Benchmark of the audit sweep (issue 19): N signed encounters re-coded by 1, then 2 real Celery
workers on Redis; encounters per second and the ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mar_bench REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python benchmarks/sweep.py               # 100,000 encounters
    ... benchmarks/sweep.py --n 5000 --workers 1,2       # a quick run

It makes a throwaway database (test_<name>), generates N signed encounters over the past year in
bulk (three shapes of a chemotherapy visit: hydration, a push, a 3-hour infusion, flushes; the
rows written with the triggers off, as a data load would, the charge lines from the engine once
per shape; one encounter in twenty charged with one unit too many of 96413, so the sweep has
differences to find; seven in eight exported, their lines in the ledger as sent to billing, the
eighth not yet billed, so the sweep reads both sides: the ledger and the current runs), then for
each worker count starts that many `celery worker` processes (concurrency 1 each) against
REDIS_URL and the database, starts a sweep over the year (coding/sweep.py) and times it from the
start until its last chunk is stored. The workers are stopped after each run; nothing else runs
the tasks.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

BATCH = 2000


def generate(n: int, user) -> None:  # type: ignore[no-untyped-def]
    """N signed encounters, bulk-inserted, each with its current charge run and lines; seven in
    eight exported (their lines sent to billing: the ledger's charges, one export)."""
    from coding.engine import code_record, parse_record
    from coding.models import ChargeLine, ChargeRun, Export, LedgerEntry
    from mar.models import (
        AccessSite,
        Administration,
        Drug,
        DrugClass,
        Encounter,
        Flush,
        Order,
        Patient,
    )
    from mar.record import record_dict_from_encounter

    export = Export.objects.create(created_by=user, csv_text="", hl7_text="", fhir_json="")
    fluid = Drug.objects.create(name="sodium chloride 0.9%", drug_class=DrugClass.HYDRATION)
    antiemetic = Drug.objects.create(name="ondansetron", drug_class=DrugClass.THERAPEUTIC)
    chemo = Drug.objects.create(name="paclitaxel", drug_class=DrugClass.CHEMO)
    start_day = timezone.now().replace(hour=13, minute=0, second=0, microsecond=0)
    billed: dict[int, list[tuple[str, int, list[str]]]] = {}
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # a data load: triggers off
    made = 0
    while made < n:
        count = min(BATCH, n - made)
        with transaction.atomic():
            patients = Patient.objects.bulk_create(
                Patient(name=f"Sweep patient {made + i}", mrn=f"S{made + i:08d}")
                for i in range(count)
            )
            encounters = Encounter.objects.bulk_create(
                Encounter(
                    patient=patient,
                    unit="Infusion Center",
                    location_label=str(i % 40 + 1),
                    arrived_at=start_day - timedelta(days=1 + (made + i) % 360),
                    timezone="America/New_York",
                    status=Encounter.Status.SIGNED,
                    signed_at=start_day,
                )  # fmt: skip
                for i, patient in enumerate(patients)
            )
            sites = AccessSite.objects.bulk_create(
                AccessSite(
                    encounter=e,
                    kind="peripheral_iv",
                    location="left forearm",
                    placed_at=e.arrived_at,
                )  # fmt: skip
                for e in encounters
            )
            orders = Order.objects.bulk_create(
                Order(encounter=e, drug=drug, dose=dose, indication=icd, purpose=purpose)
                for e in encounters
                for drug, dose, icd, purpose in (
                    (fluid, "1000 mL", "E86.0", "hydration"),
                    (antiemetic, "8 mg", "R11.2", ""),
                    (chemo, "175 mg/m2", "C34.90", ""),
                )
            )
            adms, flushes = [], []
            for k, (e, site) in enumerate(zip(encounters, sites, strict=True)):
                shape = (made + k) % 3
                t = e.arrived_at
                o_fluid, o_push, o_chemo = orders[3 * k : 3 * k + 3]
                adms.append(Administration(
                    encounter=e, order=o_fluid, drug=fluid, site=site, route="iv",
                    method="infusion", start=t, stop=t + timedelta(minutes=60 + 30 * shape),
                    purpose="hydration",
                ))  # fmt: skip
                t2 = t + timedelta(minutes=65 + 30 * shape)
                flushes.append(Flush(encounter=e, site=site, at=t2 - timedelta(minutes=2)))
                adms.append(Administration(
                    encounter=e, order=o_push, drug=antiemetic, site=site, route="iv",
                    method="push", start=t2,
                ))  # fmt: skip
                if shape != 2:
                    t3 = t2 + timedelta(minutes=10)
                    flushes.append(Flush(encounter=e, site=site, at=t3 - timedelta(minutes=2)))
                    adms.append(Administration(
                        encounter=e, order=o_chemo, drug=chemo, site=site, route="iv",
                        method="infusion", start=t3, stop=t3 + timedelta(minutes=180 - 60 * shape),
                    ))  # fmt: skip
            Administration.objects.bulk_create(adms)
            Flush.objects.bulk_create(flushes)
            for k, e in enumerate(encounters[:3]):  # the billed lines of each shape, once
                shape = (made + k) % 3
                if shape not in billed:
                    result = code_record(parse_record(record_dict_from_encounter(e)))
                    billed[shape] = [(c.code, c.units, list(c.modifiers)) for c in result.charges]
            sent = [(made + k) % 8 != 7 for k in range(count)]  # the eighth not yet billed
            runs = ChargeRun.objects.bulk_create(
                ChargeRun(
                    encounter=e,
                    is_current=True,
                    input_snapshot={},
                    result={},
                    exported_at=start_day if sent[k] else None,
                )  # fmt: skip
                for k, e in enumerate(encounters)
            )
            lines, entries = [], []
            for k, (e, run) in enumerate(zip(encounters, runs, strict=True)):
                wrong = (made + k) % 20 == 7  # one in twenty charged with a unit too many
                for position, (code, units, modifiers) in enumerate(billed[(made + k) % 3]):
                    extra = 1 if wrong and code == "96413" else 0
                    lines.append(ChargeLine(
                        run=run, position=position, code=code, units=units + extra,
                        modifiers=modifiers, date=e.arrived_at.date(), administrations=[],
                        why="generated",
                    ))  # fmt: skip
                    if sent[k]:
                        entries.append(LedgerEntry(
                            encounter=e, export=export, run=run, kind=LedgerEntry.Kind.CHARGE,
                            transaction_id=f"E{e.pk}-{position + 1}", code=code,
                            modifiers=modifiers, units=units + extra, date=e.arrived_at.date(),
                            administrations=[], at=start_day,
                        ))  # fmt: skip
            ChargeLine.objects.bulk_create(lines)
            LedgerEntry.objects.bulk_create(entries)
        made += count
        print(f"  generated {made}", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = origin")


def sweep_with(workers: int, env: dict[str, str], user) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    from coding.models import AuditSweep
    from coding.sweep import sweep_start
    from config.celery import app

    app.control.purge()
    processes = [
        subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "celery"),
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "-n",
                f"sweep{i}-{os.getpid()}@%h",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for i in range(workers)
    ]
    try:
        time.sleep(8)  # the workers connected (Django loaded)
        today = timezone.localdate()
        started = time.perf_counter()
        sweep = sweep_start(
            date_from=today - timedelta(days=400), date_to=today, payer=None, user=user
        )
        while AuditSweep.objects.filter(pk=sweep.pk, finished_at__isnull=True).exists():
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        return elapsed, sweep.total
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    if not settings.REDIS_URL:
        sys.exit("REDIS_URL is needed: the sweep runs on real Celery workers")
    from django.contrib.auth.models import User

    from coding.sweep import CHUNK
    from coding.sweep import sweep_totals as totals_of

    old_name = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + test_name
        env = {**os.environ, "DATABASE_URL": url}
        user = User.objects.create_user(username="sweep-lead")
        started = time.perf_counter()
        generate(args.n, user)
        print(f"generated {args.n} signed encounters in {time.perf_counter() - started:.0f} s")
        rates = {}
        for workers in [int(w) for w in args.workers.split(",")]:
            load = os.getloadavg()[0]
            elapsed, total = sweep_with(workers, env, user)
            rates[workers] = total / elapsed
            print(
                f"{workers} worker(s): {total} encounters in {elapsed:.1f} s = "
                f"{rates[workers]:.0f} encounters/s (chunks of {CHUNK}; load average before "
                f"{load:.1f})",
                flush=True,
            )
        from coding.models import AuditSweep

        last = AuditSweep.objects.order_by("-pk").first()
        assert last is not None
        t = totals_of(last)
        print(
            f"last sweep: {t.encounters} compared ({t.billed_encounters} billed, "
            f"{t.current_encounters} not yet billed), {t.differing} differ "
            f"({t.billed_differing} billed, {t.current_differing} not yet billed), "
            f"{t.errors} errors"
        )
        if 1 in rates and 2 in rates:
            print(f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
