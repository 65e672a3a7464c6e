"""Benchmark of the chart's widgets alone (issue 19): every field of a whole chart rendered by
Django (`str(field)`: its widget templates through the template engine) and by
`render_widget` (mar/templatetags/fields.py: the same markup built in Python from the widget's
`get_context()`), alternately in the same process, with the output checked to be identical.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mar_bench \
        .venv/bin/python benchmarks/widgets.py --rounds 30

It creates a throwaway test database (test_<name>), loads the demo formulary and the demo day and
takes the demo encounter in progress with the most administrations (`--extra N` adds N
push+flush pairs to it, as benchmarks/checklist.py does), builds the chart's context as the
chart page does (`chart_context` and `care_context`), and times one pass over every field of
every form in it, each way, per round. Prints the medians per chart and per field.
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
from django.forms.boundfield import BoundField  # noqa: E402
from django.test import RequestFactory  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--extra", type=int, default=0)
    args = parser.parse_args()
    from celery import current_app

    current_app.conf.task_always_eager = True
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run(args.rounds, args.extra)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(rounds: int, extra: int) -> None:
    from benchmarks.checklist import demo_encounter
    from mar.care_context import care_context
    from mar.chart_context import chart_context
    from mar.templatetags.fields import _COVERED, render_widget
    from tests.mar.chart_helpers import forms_in

    users, _signed, encounter, _adm = demo_encounter(extra)
    request = RequestFactory().get("/")
    request.user = users["nurse"]
    context = chart_context(encounter)
    context.update(care_context(request, encounter))
    fields: list[BoundField] = [form[name] for form in forms_in(context) for name in form.fields]
    covered = [f for f in fields if type(f.field.widget) in _COVERED]
    for field in fields:
        assert render_widget(field) == str(field)
    django_ms: list[float] = []
    python_ms: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        for field in fields:
            str(field)
        django_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for field in fields:
            render_widget(field)
        python_ms.append((time.perf_counter() - started) * 1000)
    django_med, python_med = statistics.median(django_ms), statistics.median(python_ms)
    print(
        f"Encounter {encounter.pk}: {encounter.administrations.count()} administrations; "
        f"{len(fields)} fields ({len(covered)} of covered widgets); {rounds} rounds; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("path                    chart median ms  per field us")
    for name, med in (("Django str(field)", django_med), ("render_widget", python_med)):
        print(f"{name:<22} {med:>16.2f} {med * 1000 / len(fields):>13.1f}")
    print(f"render_widget / Django: {python_med / django_med:.2f}")


if __name__ == "__main__":
    main()
