"""config/gc_tuning.py: a web worker (config/wsgi.py, what gunicorn loads) freezes the loaded
app's objects out of the garbage collector's walks and collects its youngest generation less
often (issue 19); GC_TUNING=0 keeps Python's defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from config.gc_tuning import THRESHOLD

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import gc, json, config.wsgi; print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]))"
)


def _worker(**env: str) -> tuple[list[int], int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    threshold, frozen = json.loads(out.strip().splitlines()[-1])
    return threshold, frozen


def test_the_wsgi_worker_freezes_the_loaded_app_and_raises_the_thresholds() -> None:
    threshold, frozen = _worker()
    assert tuple(threshold) == THRESHOLD
    assert frozen > 10_000  # Django, the app's models and middleware: loaded before


def test_gc_tuning_0_leaves_pythons_defaults() -> None:
    threshold, frozen = _worker(GC_TUNING="0")
    assert tuple(threshold) == (700, 10, 10) and frozen == 0
