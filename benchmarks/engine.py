"""Benchmark of the charge engine (issue 2): code a seeded corpus of typical encounters in process.

    python benchmarks/engine.py            # 10,000 encounters
    python benchmarks/engine.py --n 2000 --profile
    python benchmarks/engine.py --against 70fa87b   # also the engine at that commit, alternately
    python benchmarks/engine.py --pure     # also the pure-Python sources, beside the build
    python benchmarks/engine.py --offsets  # times written with their offset, as the bridge does

Measures, over the same records in the same process:
  (a) a plain JSON round trip, json.loads(json.dumps(record)), as the machine's yardstick;
  (b) parse_record + code_record + to_json, the engine's whole path;
  (c) with --floor: only building the record's dataclasses from the documents, with no
      validation, no rule and no output: the least any engine that reads into them must do;
  (d) with --against REF: the engine as it was at commit REF (taken out of git and imported
      beside this one, engine_identity.py), so before and after are timed in the same minutes;
  (e) with --pure: the engine's pure-Python sources, loaded under another name
      (tests/engine/pure.py) beside the build `pip install -e .` made (mypyc-compiled, issue 19
      target 4; `coding.engine.BUILD` says which runs), so both are timed in the same minutes.
The two are timed alternately in chunks of 250 encounters, so both see the same machine state (a
shared VM's speed drifts by 2x within minutes); the ratio is the median of the rounds' ratios and
is the figure to compare across machines. The corpus is moved out of the garbage collector's
sight first (`gc.freeze`): it is the benchmark's own data, not the engine's. The split of (b)
into reading, coding and `to_json` is printed as shares. Target: at least 10,000 encounters per
second per core for (b).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coding.engine import BUILD, code_record, parse_record  # noqa: E402
from coding.engine.reading import parse_time  # noqa: E402
from coding.engine.record import (  # noqa: E402
    Administration,
    Encounter,
    Flush,
    Order,
    Pause,
    Record,
    Site,
)

TARGET_PER_SECOND = 10_000
TARGET_RATIO = 3.0  # issue 19, target 4: the engine within 3x of a JSON round trip
CHUNK = 250  # encounters per alternation
DRUGS = [
    ("vancomycin", "therapeutic"),
    ("cefazolin", "therapeutic"),
    ("ondansetron", "therapeutic"),
    ("dexamethasone", "therapeutic"),
    ("morphine", "therapeutic"),
    ("cisplatin", "chemo"),
    ("paclitaxel", "chemo"),
    ("fluorouracil", "chemo"),
    ("rituximab", "chemo"),
]
SALINE = "sodium chloride 0.9%"


def encounter(rnd: random.Random, n: int) -> dict[str, Any]:
    """One typical encounter: 3-12 administrations over 1-3 sites, pushes, infusions with
    pauses, hydration with its order, flushes."""
    # Days between the 2026 DST changes (Mar 8, Nov 1): no wall-clock time is ambiguous.
    day = datetime(2026, 3, 10, 7, 0) + timedelta(days=rnd.randrange(200))
    at = lambda minutes: (day + timedelta(minutes=minutes)).isoformat(timespec="minutes")  # noqa: E731
    sites = [{"id": "S1", "kind": rnd.choice(["peripheral_iv", "port", "picc"]), "location": "arm"}]
    for k in range(2, rnd.randint(1, 3) + 1):
        site = {"id": f"S{k}", "kind": "peripheral_iv", "location": "other arm"}
        if rnd.random() < 0.5:
            site["separate_site_reason"] = "vesicant requires a dedicated line"
        sites.append(site)
    orders: dict[str, dict[str, Any]] = {}
    adms: list[dict[str, Any]] = []
    flushes: list[dict[str, Any]] = []
    clock = rnd.randrange(0, 120)
    for i in range(1, rnd.randint(3, 12) + 1):
        site_id = rnd.choice(sites)["id"]
        kind = rnd.choices(["push", "infusion", "hydration"], weights=[4, 4, 2])[0]
        if kind == "hydration":
            drug, drug_class = SALINE, "hydration"
        else:
            drug, drug_class = rnd.choice(DRUGS)
        order_id = f"O-{drug}"
        order = {
            "id": order_id,
            "drug": drug,
            "dose": "per protocol",
            "route": "iv",
            "indication": "R11.2",
        }
        if kind == "hydration":
            order.update(purpose="hydration", indication="E86.0")
        orders[order_id] = order
        adm: dict[str, Any] = {
            "id": f"A{i}",
            "drug": drug,
            "drug_class": drug_class,
            "route": "iv",
            "method": "push" if kind == "push" else "infusion",
            "site": site_id,
            "order": order_id,
            "start": at(clock),
            "stop": None,
        }
        if kind == "hydration":
            adm["purpose"] = "hydration"
        if kind != "push":
            minutes = rnd.randint(10, 200)
            adm["stop"] = at(clock + minutes)
            if minutes > 40 and rnd.random() < 0.3:
                pause = clock + rnd.randint(5, minutes - 20)
                adm["pauses"] = [{"start": at(pause), "end": at(pause + rnd.randint(2, 15))}]
            clock += minutes if rnd.random() < 0.7 else minutes // 2  # some overlap
        else:
            clock += rnd.randint(1, 40)
        if rnd.random() < 0.6:
            flushes.append({"site": site_id, "at": at(clock)})
            clock += 1
        adms.append(adm)
    return {
        "format": "infusion-record/1",
        "encounter": {"id": f"ENC-{n}", "setting": "facility", "timezone": "America/New_York"},
        "sites": sites,
        "orders": list(orders.values()),
        "administrations": adms,
        "flushes": flushes,
    }


def corpus(n: int, seed: int = 2026) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    return [encounter(rnd, i) for i in range(n)]


TIME_KEYS = ("start", "stop", "at", "end")
CORPUS_ZONE = ZoneInfo("America/New_York")  # the zone of every encounter of the corpus


def with_offsets(value: Any, zone: ZoneInfo = CORPUS_ZONE) -> Any:
    """The same document with every time written with its UTC offset, seconds included, as the
    database bridge (mar/record.py) writes them (--offsets)."""
    if isinstance(value, dict):
        return {
            key: datetime.fromisoformat(item).replace(tzinfo=zone).isoformat(timespec="seconds")
            if key in TIME_KEYS and isinstance(item, str)
            else with_offsets(item, zone)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [with_offsets(item, zone) for item in value]
    return value


def json_round_trip(records: list[dict[str, Any]]) -> None:
    for rec in records:
        json.loads(json.dumps(rec))


def engine(records: list[dict[str, Any]]) -> None:
    for rec in records:
        code_record(parse_record(rec)).to_json()


def engine_of(package: Any) -> Any:
    """The whole path of another copy of the engine (--against)."""
    parse, code = package.parse_record, package.code_record

    def run(records: list[dict[str, Any]]) -> None:
        for rec in records:
            code(parse(rec)).to_json()

    return run


def bare_record(doc: dict[str, Any]) -> Record:
    """The floor under (b): the record's dataclasses built straight from a well-formed
    document (positional arguments, the engine's own cached time parsing), nothing checked, no
    rule applied, nothing written."""
    zone = ZoneInfo(doc["encounter"]["timezone"])
    return Record(
        Encounter(doc["encounter"]["id"], zone.key),
        tuple(
            Site(s["id"], s["kind"], s.get("location", ""), s.get("separate_site_reason"))
            for s in doc["sites"]
        ),
        tuple(
            Order(
                o["id"],
                o["drug"],
                o.get("dose"),
                o.get("route"),
                o.get("indication"),
                o.get("purpose"),
            )
            for o in doc["orders"]
        ),
        tuple(
            Administration(
                a["id"],
                a["drug"],
                a["drug_class"],
                a["route"],
                a["method"],
                parse_time(a["start"], zone, ""),
                parse_time(a["stop"], zone, "") if a["stop"] else None,
                a["site"],
                a["order"],
                tuple(
                    Pause(parse_time(p["start"], zone, ""), parse_time(p["end"], zone, ""))
                    for p in a.get("pauses", ())
                ),
                a.get("purpose"),
            )
            for a in doc["administrations"]
        ),
        tuple(Flush(f["site"], parse_time(f["at"], zone, "")) for f in doc["flushes"]),
    )


def pure_engine() -> Any:
    """The pure-Python sources under another name (--pure)."""
    from tests.engine.pure import pure_engine as load

    return load()


def records_only(records: list[dict[str, Any]]) -> None:
    for doc in records:
        bare_record(doc)


def timed(fn: Any, records: list[Any]) -> float:
    started = time.perf_counter()
    fn(records)
    return time.perf_counter() - started


def phases(records: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Seconds spent reading, coding and writing the result, over the corpus."""
    read = code = write = 0.0
    clock = time.perf_counter
    for rec in records:
        t0 = clock()
        record = parse_record(rec)
        t1 = clock()
        result = code_record(record)
        t2 = clock()
        result.to_json()
        t3 = clock()
        read, code, write = read + t1 - t0, code + t2 - t1, write + t3 - t2
    return read, code, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="encounters (default 10,000)")
    parser.add_argument("--repeat", type=int, default=5, help="alternating rounds")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="cProfile the engine run")
    parser.add_argument(
        "--floor", action="store_true", help="also time building the record alone (c)"
    )
    parser.add_argument("--against", metavar="REF", help="also time the engine at commit REF (d)")
    parser.add_argument("--pure", action="store_true", help="also time the pure-Python sources (e)")
    parser.add_argument(
        "--offsets",
        action="store_true",
        help="times written with their UTC offset, as the database bridge writes them",
    )
    args = parser.parse_args(argv)
    against = compiled = None
    if args.against:
        import tempfile

        from engine_identity import load_reference

        with tempfile.TemporaryDirectory() as tmp:  # imported in full before it goes
            against = engine_of(load_reference(args.against, Path(tmp)))
    if args.pure:
        compiled = engine_of(pure_engine())

    records = corpus(args.n, args.seed)
    if args.offsets:
        records = [with_offsets(r) for r in records]
    adms = sum(len(r["administrations"]) for r in records)
    times = "times with their UTC offset" if args.offsets else "local times"
    print(f"corpus: {args.n:,} encounters, {adms:,} administrations (seed {args.seed}), {times}")
    engine(records[:200])  # warm caches and imports
    if against is not None:
        against(records[:200])
    if compiled is not None:
        compiled(records[:200])
    gc.collect()
    gc.freeze()
    json_times, engine_times, floor_times, against_times, compiled_times = [], [], [], [], []
    for _ in range(args.repeat):
        # Alternating in chunks of 250 encounters, so all see the same machine state even when
        # its speed drifts within a round; each round sums its chunks.
        json_round = engine_round = floor_round = against_round = compiled_round = 0.0
        for start in range(0, len(records), CHUNK):
            chunk = records[start : start + CHUNK]
            json_round += timed(json_round_trip, chunk)
            engine_round += timed(engine, chunk)
            if args.floor:
                floor_round += timed(records_only, chunk)
            if against is not None:
                against_round += timed(against, chunk)
            if compiled is not None:
                compiled_round += timed(compiled, chunk)
        json_times.append(json_round)
        engine_times.append(engine_round)
        floor_times.append(floor_round)
        against_times.append(against_round)
        compiled_times.append(compiled_round)
    ratio = statistics.median(e / j for e, j in zip(engine_times, json_times, strict=True))
    json_rate = args.n / min(json_times)
    engine_rate = args.n / min(engine_times)
    read, code, write = phases(records)
    total = read + code + write
    print(f"json round trip : {json_rate:>10,.0f} encounters/s (best of {args.repeat})")
    verdict = "met" if engine_rate >= TARGET_PER_SECOND else "NOT met"
    print(
        f"engine          : {engine_rate:>10,.0f} encounters/s "
        f"(target {TARGET_PER_SECOND:,}/s: {verdict})"
    )
    print(
        f"ratio           : engine ({BUILD}) takes {ratio:.2f}x the JSON round trip "
        f"(median of rounds; within {TARGET_RATIO:g}x: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'})"
    )
    if args.floor:
        floor_ratio = statistics.median(f / j for f, j in zip(floor_times, json_times, strict=True))
        floor_share = statistics.median(
            f / e for f, e in zip(floor_times, engine_times, strict=True)
        )
        floor_rate = args.n / min(floor_times)
        print(
            f"floor (c)       : {floor_rate:>10,.0f} encounters/s, {floor_ratio:.1f}x the JSON "
            f"round trip, {floor_share:.0%} of the engine's time; it alone uses "
            f"{TARGET_PER_SECOND / floor_rate:.0%} of the target's time budget"
        )
    if against is not None:
        against_ratio = statistics.median(
            a / j for a, j in zip(against_times, json_times, strict=True)
        )
        speedup = statistics.median(a / e for a, e in zip(against_times, engine_times, strict=True))
        print(
            f"engine at {args.against:<6}: {args.n / min(against_times):>10,.0f} encounters/s, "
            f"{against_ratio:.2f}x the JSON round trip; this engine is {speedup:.2f}x as fast "
            "(median of rounds)"
        )
    if compiled is not None:
        compiled_ratio = statistics.median(
            c / j for c, j in zip(compiled_times, json_times, strict=True)
        )
        speedup = statistics.median(
            e / c for e, c in zip(engine_times, compiled_times, strict=True)
        )
        print(
            f"engine (pure)   : {args.n / min(compiled_times):>10,.0f} encounters/s, "
            f"{compiled_ratio:.2f}x the JSON round trip; the engine in use ({BUILD}) is "
            f"{1 / speedup:.2f}x as fast (median of rounds)"
        )
    print(
        f"engine split    : reading {read / total:.0%}, coding {code / total:.0%}, "
        f"to_json {write / total:.0%}"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        engine(records)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
