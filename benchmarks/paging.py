"""A page of the coder's worklist as the signed encounters grow: the count capped against a count
of every row (issue 19).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mar_bench .venv/bin/python benchmarks/paging.py
    ... benchmarks/paging.py --sizes 100,1000,10000,100000 --n 200

A throwaway test database (test_<name>) with the demo day, signed; then the signed encounters are
grown to each size by copying one of them in SQL (each an arrival a minute earlier; the record
guard's triggers off for the copy), and the worklist's first page of ids is read, alternated:

  capped  `mar.paging.page_of_ids` (the ids up to the page's end, at most COUNT_CAP + 1);
  window  the same page with a count of every row beside it (`COUNT(*) OVER ()`, as
          `page_of_ids` read it before: one statement, but it counts the whole list).

Prints the median of each (ms) and their ratio at each size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Count, Window  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    parser.add_argument("--n", type=int, default=200, help="reads of each kind a size")
    args = parser.parse_args()
    from celery import current_app

    current_app.conf.task_always_eager = True
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run([int(size) for size in args.sizes.split(",")], args.n)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(sizes: list[int], n: int) -> None:
    from django.utils import timezone

    from mar.demo import demo_day_create, demo_day_sign, demo_users_ensure
    from mar.models import Encounter
    from mar.paging import page_of_ids
    from mar.pharmacy.formulary import formulary_load_csv

    formulary_load_csv()
    users = demo_users_ensure()
    demo_day_sign(
        encounters=demo_day_create(now=timezone.now(), nurse=users["nurse"]), nurse=users["nurse"]
    )
    columns = [f.column for f in Encounter._meta.concrete_fields if f.column != "id"]
    signed = Encounter.objects.filter(status=Encounter.Status.SIGNED)
    source = signed.values_list("pk", flat=True)[0]

    def listed():  # type: ignore[no-untyped-def]
        return Encounter.objects.filter(status=Encounter.Status.SIGNED).order_by(
            "-arrived_at", "-pk"
        )

    def capped() -> list[int]:
        return list(page_of_ids(listed(), None, 50).object_list)

    def window() -> list[int]:
        rows = listed().annotate(_total=Window(Count("pk"))).values_list("pk", "_total")[:50]
        return [pk for pk, _ in rows]

    print(f"{'signed':>8} {'capped ms':>10} {'window ms':>10} {'window / capped':>16}")
    for size in sizes:
        have = Encounter.objects.filter(status=Encounter.Status.SIGNED).count()
        if size > have:
            selected = ", ".join(
                "arrived_at - g * interval '1 minute'" if c == "arrived_at" else c for c in columns
            )
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE mar_encounter DISABLE TRIGGER USER")
                cursor.execute(
                    f"INSERT INTO mar_encounter ({', '.join(columns)}) SELECT {selected} "
                    "FROM mar_encounter, generate_series(1, %s) g WHERE id = %s",
                    [size - have, source],
                )
                cursor.execute("ALTER TABLE mar_encounter ENABLE TRIGGER USER")
                cursor.execute("ANALYZE mar_encounter")
        assert capped() == window()
        times: dict[str, list[float]] = {"capped": [], "window": []}
        for _ in range(5):
            capped(), window()
        for _ in range(n):
            for name, read in (("capped", capped), ("window", window)):
                started = time.perf_counter()
                read()
                times[name].append((time.perf_counter() - started) * 1000)
        a, b = statistics.median(times["capped"]), statistics.median(times["window"])
        print(f"{size:>8} {a:>10.2f} {b:>10.2f} {b / a:>16.1f}")


if __name__ == "__main__":
    main()
