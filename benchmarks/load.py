"""The load test (issue 7): 60 users for 10 minutes against gunicorn, Celery, PostgreSQL, Redis.

    .venv/bin/python benchmarks/load.py                      # 60 users, 10 minutes
    .venv/bin/python benchmarks/load.py --users 20 --minutes 1   # a quick look

Everything runs on this machine, on loopback only, and stops by itself: its own PostgreSQL
(initdb in a temp dir, Debian's binaries) and Redis on spare ports, `migrate`, seeded users and
encounters, gunicorn (3 sync workers), one Celery worker with beat, then locust headless
(benchmarks/locustfile.py). Afterwards it waits for the worker to finish every charge owed and
checks that each signed encounter has exactly one current charge run. Results go to
benchmarks/results/<timestamp>/ (locust CSVs and HTML, summary.json) and a table is printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.servers import (  # noqa: E402
    VENV_BIN,
    Postgres,
    Process,
    Redis,
    app_env,
    free_port,
    port_open,
    wait_until,
)

PASSWORD = "load-test-password-1"
BARE = "bare view (/healthz)"
ROUND_TRIP = "flush = live checklist round trip (htmx)"
CHECKLIST = "checklist (GET)"
SEEDED_SIGNED = 60  # signed visits seeded for the coders before the run
# The charting actions a nurse's round makes (issue 19: how many a second before saturating).
CHARTING = ("start (htmx)", ROUND_TRIP, "stop (htmx)", "sign", "sign, reasons asked")


def seed(out: Path, nurses: int, coders: int, open_encounters: int, signed: int) -> None:
    """Users and encounters for the run (runs inside the app's environment)."""
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.utils import timezone

    from mar.models import AccessSite, DrugClass, Encounter, Order
    from mar.services.signature import signature_store
    from tests import factories

    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ("nurse", "coder")}
    hashed = User(username="x")
    hashed.set_password(PASSWORD)
    for role, count in (("nurse", nurses), ("coder", coders)):
        for n in range(1, count + 1):
            user = User.objects.create(username=f"load-{role}-{n}", password=hashed.password)
            user.groups.add(groups[role])
    now = timezone.now()
    fluid = factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION)
    antiemetic = factories.drug_get("ondansetron")
    chemo = factories.drug_get("paclitaxel", DrugClass.CHEMO)
    opened: list[int] = []
    for n in range(open_encounters):
        with transaction.atomic():
            encounter = factories.encounter_create(
                arrived_at=now - timedelta(minutes=30), location_label=str(n % 40 + 1)
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
        opened.append(encounter.pk)
    nurse = User.objects.get(username="load-nurse-1")
    done = []
    for _ in range(signed):
        encounter = factories.chemo_encounter_create()
        signature_store(encounter=encounter, user=nurse)
        done.append(encounter.pk)
    assert Encounter.objects.count() >= open_encounters + signed
    out.write_text(json.dumps({"open": opened, "signed": done}))


def feed(queue: Path, target: int, seconds: float) -> None:
    """Admissions: keep `target` encounters in progress, appending new ids to `queue`."""
    import django

    django.setup()
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from mar.models import AccessSite, DrugClass, Encounter, Order
    from tests import factories

    fluid = factories.drug_get("sodium chloride 0.9%", DrugClass.HYDRATION)
    antiemetic = factories.drug_get("ondansetron")
    chemo = factories.drug_get("paclitaxel", DrugClass.CHEMO)
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        missing = target - Encounter.objects.filter(status="in_progress").count()
        for _ in range(max(0, missing)):
            n += 1
            now = timezone.now()
            with transaction.atomic():
                encounter = factories.encounter_create(
                    arrived_at=now - timedelta(minutes=5), location_label=f"F{n % 40 + 1}"
                )
                AccessSite.objects.create(
                    encounter=encounter, kind=AccessSite.Kind.PERIPHERAL_IV,
                    location="left forearm", placed_at=now - timedelta(minutes=4),
                )  # fmt: skip
                for drug, dose, indication, purpose in (
                    (fluid, "1000 mL", "E86.0", Order.Purpose.HYDRATION),
                    (antiemetic, "8 mg", "R11.2", ""),
                    (chemo, "175 mg/m2", "C34.90", ""),
                ):
                    Order.objects.create(
                        encounter=encounter, drug=drug, dose=dose, indication=indication,
                        purpose=purpose,
                    )  # fmt: skip
            with queue.open("a") as f:
                f.write(f"{encounter.pk}\n")
        time.sleep(1)


def stats(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def cpu_by_process() -> dict[int | str, tuple[str, float]]:
    """Every process now on the machine: its command name (`postgres`, `gunicorn`, `locust`,
    `celery`, ...) and CPU seconds (user + system, its own and its ended children's) so far;
    and the machine's busy seconds (all cores, from /proc/stat) under "machine". Linux only."""
    tick = os.sysconf("SC_CLK_TCK")
    seen: dict[int | str, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # Its own time and its ended children's (PostgreSQL's backends that closed, for the
        # postmaster; locust, run to its end by this script, for this one).
        if int(entry.name) == os.getpid():
            name = "locust"
        seen[int(entry.name)] = (name, sum(int(x) for x in fields[11:15]) / tick)
    cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    seen["machine"] = ("(machine busy)", (sum(cpu) - cpu[3] - cpu[4]) / tick)  # not idle/iowait
    return seen


def cpu_shares(
    before: dict[int | str, tuple[str, float]],
    after: dict[int | str, tuple[str, float]],
    wall: float,
) -> dict[str, float]:
    """Cores used during the run, summed by command name (those at 0.02 of a core or more): a
    process's time since the first reading (all of it if it started since); one that ended
    between the readings counts in its parent's (its children's time), where it was waited for."""
    used: dict[str, float] = {}
    for key, (name, seconds) in after.items():
        name = name.split("/")[0]  # kernel threads: kworker/1:3-events -> kworker
        used[name] = used.get(name, 0.0) + seconds - before.get(key, (name, 0.0))[1]
    return {name: round(total / wall, 2) for name, total in
            sorted(used.items(), key=lambda kv: -kv[1]) if total / wall >= 0.02}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--spawn-rate", type=float, default=1)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--open", type=int, default=100, help="encounters in progress at a time")
    parser.add_argument("--nurse-wait", default="60,120", help="seconds between charting rounds")
    parser.add_argument("--coder-wait", default="30,90", help="seconds between two reviews")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    nurses = round(args.users * 0.8)
    coders = args.users - nurses
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or ROOT / "benchmarks" / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)

    pg, redis = Postgres(), Redis()
    processes: list[Process] = []
    try:
        print(f"PostgreSQL on {pg.port}, Redis on {redis.port}; results in {out}", flush=True)
        pg.init()
        redis.start()
        env = app_env(pg, redis, LOG_LEVEL="WARNING")
        python = sys.executable
        subprocess.run([python, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                       check=True, capture_output=True, timeout=300)  # fmt: skip
        seed_file = out / "seed.json"
        started = time.monotonic()
        subprocess.run(
            [python, __file__, "--seed", str(seed_file), str(nurses), str(coders),
             str(args.open), str(SEEDED_SIGNED)],
            cwd=ROOT, env=env, check=True, timeout=900,
        )  # fmt: skip
        print(f"seeded in {time.monotonic() - started:.0f}s", flush=True)

        port = free_port()
        host = f"http://127.0.0.1:{port}"
        processes.append(Process(
            [str(VENV_BIN / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.web_workers), "--timeout", "60"],
            env, out / "gunicorn.log",
        ))  # fmt: skip
        processes.append(Process(
            [str(VENV_BIN / "celery"), "-A", "config", "worker", "--beat", "--concurrency", "1",
             "--loglevel", "WARNING", "--schedule", str(out / "beat-schedule")],
            env, out / "worker.log",
        ))  # fmt: skip
        queue = out / "queue.txt"
        queue.write_text("")
        run_seconds = int(args.minutes * 60)
        processes.append(Process(
            [python, __file__, "--feed", str(queue), str(args.open), str(run_seconds + 30)],
            env, out / "feeder.log",
        ))  # fmt: skip
        wait_until(lambda: port_open(port), 60, "gunicorn")

        cpu_before, cpu_started = cpu_by_process(), time.monotonic()
        locust = subprocess.run(
            [str(VENV_BIN / "locust"), "-f", str(ROOT / "benchmarks" / "locustfile.py"),
             "--headless", "-u", str(args.users), "-r", str(args.spawn_rate),
             "-t", f"{run_seconds}s", "--stop-timeout", "10", "--host", host,
             "--csv", str(out / "locust"), "--html", str(out / "locust.html"), "--only-summary"],
            cwd=ROOT,
            env={**env, "LOAD_SEED": str(seed_file), "LOAD_PASSWORD": PASSWORD,
                 "LOAD_QUEUE": str(queue), "LOAD_NURSE_WAIT": args.nurse_wait,
                 "LOAD_CODER_WAIT": args.coder_wait,
                 "LOAD_NURSES": str(nurses), "LOAD_CODERS": str(coders)},
            timeout=run_seconds + 300, capture_output=True, text=True,
        )  # fmt: skip
        cores = cpu_shares(cpu_before, cpu_by_process(), time.monotonic() - cpu_started)
        (out / "locust.out").write_text(locust.stdout + locust.stderr)

        # Every charge owed is made, once: wait for the worker (and beat) to drain.
        pending = "SELECT count(*) FROM coding_chargeoutbox WHERE done_at IS NULL"
        try:
            wait_until(lambda: pg.scalar(pending) == 0, 180, "the outbox to drain")
        except TimeoutError:
            pass
        signed = pg.scalar("SELECT count(*) FROM mar_encounter WHERE status = 'signed'")
        with_one_run = pg.scalar(
            "SELECT count(*) FROM mar_encounter e WHERE e.status = 'signed' AND "
            "(SELECT count(*) FROM coding_chargerun r WHERE r.encounter_id = e.id "
            "AND r.is_current) = 1"
        )
        rows = {row["Name"]: row for row in stats(out / "locust_stats.csv")}
        total = rows.pop("Aggregated")
        table = {
            name: {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"]),
                "p95_ms": float(row["95%"]),
                "p99_ms": float(row["99%"]),
                "rps": round(float(row["Requests/s"]), 2),
            }
            for name, row in rows.items()
        }

        def ratio(name: str, pct: str) -> float | None:
            if name not in table or BARE not in table or not table[BARE][pct]:
                return None
            return round(table[name][pct] / table[BARE][pct], 1)

        revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                  capture_output=True, text=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
        summary = {
            "when": stamp,
            "revision": revision + ("+uncommitted" if dirty else ""),
            "users": args.users,
            "nurse_wait_s": args.nurse_wait,
            "coder_wait_s": args.coder_wait,
            "nurses": nurses,
            "coders": coders,
            "seconds": run_seconds,
            "requests": int(total["Request Count"]),
            "failures": int(total["Failure Count"]),
            "rps": round(float(total["Requests/s"]), 1),
            "p95_ms_all": float(total["95%"]),
            "ratio_round_trip_to_bare_p50": ratio(ROUND_TRIP, "p50_ms"),
            "ratio_round_trip_to_bare_p95": ratio(ROUND_TRIP, "p95_ms"),
            "ratio_checklist_get_to_bare_p50": ratio(CHECKLIST, "p50_ms"),
            "ratio_checklist_get_to_bare_p95": ratio(CHECKLIST, "p95_ms"),
            "charting_actions_per_s": round(
                sum(table[name]["requests"] for name in CHARTING if name in table) / run_seconds, 1
            ),
            "signed_encounters": signed,
            # A run whose nurses sign nothing makes no charges: it would leave the worker idle.
            "signed_in_run": signed - SEEDED_SIGNED,
            "signed_with_exactly_one_current_run": with_one_run,
            "outbox_pending_after": pg.scalar(pending),
            "load_average": os.getloadavg(),
            # Where the machine's cores went while locust ran: the app (gunicorn), PostgreSQL,
            # the load generator itself, the worker, and anything else on the machine.
            "cores_used_during_run": cores,
            "cores_on_machine": os.cpu_count(),
            "by_request": table,
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        print("| request | count | failures | p50 ms | p95 ms | p99 ms |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, row in sorted(table.items()):
            print(f"| {name} | {row['requests']} | {row['failures']} | {row['p50_ms']:.0f} | "
                  f"{row['p95_ms']:.0f} | {row['p99_ms']:.0f} |")  # fmt: skip
        print(json.dumps({k: v for k, v in summary.items() if k != "by_request"}, indent=2))
        if summary["signed_in_run"] == 0:
            print("warning: no visit was signed during the run (no charges were made)")
        ok = summary["failures"] == 0 and signed == with_one_run and locust.returncode == 0
        return 0 if ok else 1
    finally:
        for process in reversed(processes):
            process.stop()
        redis.stop() if redis.process else None
        pg.destroy()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--seed":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        out, nurses, coders, open_encounters, signed = sys.argv[2:7]
        seed(Path(out), int(nurses), int(coders), int(open_encounters), int(signed))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--feed":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        feed(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
