"""The garbage collector tuned for a web worker (issue 19).

A request of this app makes thousands of short-lived objects (model instances, forms, the
rows of a 300-line worklist), and CPython's default collector runs its youngest generation
every 700 allocations and, every so often, a full collection that walks every object the
process holds, Django's own included (the URL resolver, the models' metadata, compiled
templates). Measured on the coder's worklist of 250 signed visits (benchmarks/README.md): 131
ms a page with the defaults, 107 ms with the objects of the loaded app frozen out of the
collector's walks (`gc.freeze()`, as Python's documentation advises after a server's start)
and the youngest generation collected every 50,000 allocations instead of 700. Cycles are
still collected, later: a worker holds at most a few more megabytes of garbage.

`tune()` is called by config/wsgi.py once the application is loaded (in each gunicorn worker);
`GC_TUNING=0` leaves the defaults.
"""

from __future__ import annotations

import gc
import os

THRESHOLD = (50_000, 20, 100)


def tune() -> bool:
    """Freeze what is alive now and raise the thresholds; False (and nothing done) when
    GC_TUNING=0."""
    if os.environ.get("GC_TUNING", "1") == "0":
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLD)
    return True
