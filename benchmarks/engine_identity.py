"""Output identity of the charge engine against a reference commit (issue 19, target 4).

    python benchmarks/engine_identity.py                 # against 70fa87b, the full corpus
    python benchmarks/engine_identity.py --ref HEAD~1 --quick

The engine at `--ref` is taken out of git (`git archive`) into a temporary directory and imported
beside the working tree's engine under another name (`engine_ref`; the engine imports itself
only relatively). Both then read and code the same documents, and every output must be
byte-identical: the JSON text of `to_json()`, the repr of the parsed record, or the type, field
and message of the error. Each valid document is coded four ways: without `now`, at the bedside
(`now` 45 minutes after its last start), signing at that moment, and with `now` before its first
start (the future-time checks).

The documents: the scenarios (tests/engine/scenarios), records from the issue 13 generator
(tests/engine/generator.py) and the benchmark's corpus, each with several seeds, the
property-test strategies (tests/engine/test_properties.py: valid records, broken records, random
JSON; derandomized, so the same examples every run), and generated records broken here by a
seeded mutator (fields deleted, values of the wrong type, bad or DST-skipped times).

Exit 0 when everything is identical, 1 with the first differences otherwise. The digests printed
are over the reference's outputs. The strategies' examples are derandomized, but Hypothesis also
draws constants from the source of the project's loaded modules, so they (and their digest)
change when that source does; the comparison itself is always of both engines on the same
documents in the same run.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import coding.engine as current  # noqa: E402

DEFAULT_REF = "70fa87b"


def load_reference(ref: str, into: Path) -> types.ModuleType:
    """The engine package as it was at `ref`, imported as `engine_ref`."""
    archive = subprocess.run(
        ["git", "archive", ref, "coding/engine"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    from tests.engine.pure import import_package

    return import_package("engine_ref", into / "coding" / "engine")


# --- the documents ------------------------------------------------------------------------------


def scenarios() -> list[Any]:
    files = sorted((ROOT / "tests" / "engine" / "scenarios").glob("*.json"))
    return [json.loads(f.read_text(encoding="utf-8"))["record"] for f in files]


def generated(n: int, seeds: tuple[int, ...]) -> list[Any]:
    from tests.engine.generator import generated_records

    return [doc for seed in seeds for doc in generated_records(n, seed=seed)]


def benchmark_corpus(n: int, seeds: tuple[int, ...]) -> list[Any]:
    import engine as bench

    return [doc for seed in seeds for doc in bench.corpus(n, seed)]


def from_strategy(strategy: Any, n: int) -> list[Any]:
    """`n` examples of a hypothesis strategy, derandomized: the same examples on every run."""
    from hypothesis import HealthCheck, Phase, given, settings

    out: list[Any] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(doc: Any) -> None:
        out.append(copy.deepcopy(doc))

    collect()
    return out


WRONG_VALUES: list[Any] = [
    None, "", " ", 0, -1, 1.5, True, [], {}, "x", "2026-03-02T25:00", "2026-13-02T08:00",
    "2026-03-08T02:30", "2026-11-01T01:30", "1850-01-01T00:00", "2026-03-02T08:00+05:00",
    "S9", "O-none", "iv", "push", "chemo", 10**12, float("inf"), [1, 2], {"a": 1},
]  # fmt: skip


def _spots(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield value, k
            yield from _spots(v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield value, i
            yield from _spots(v)


def mutated(docs: list[Any], n: int, seed: int) -> list[Any]:
    """`n` documents broken by 1-3 seeded changes each: a field deleted or given another value."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        doc = copy.deepcopy(rnd.choice(docs))
        for _ in range(rnd.randint(1, 3)):
            spots = list(_spots(doc))
            if not spots:
                break
            container, key = rnd.choice(spots)
            if isinstance(container, dict) and rnd.random() < 0.4:
                del container[key]
            else:
                container[key] = copy.deepcopy(rnd.choice(WRONG_VALUES))
        out.append(doc)
    return out


# --- running an engine --------------------------------------------------------------------------


def _error(exc: BaseException) -> str:
    field = getattr(exc, "field", None)
    message = getattr(exc, "message", None)
    return f"!{type(exc).__name__}|{field}|{message}|{exc}"


def outputs(engine: types.ModuleType, doc: Any, nows: list[datetime | None]) -> list[str]:
    """What `engine` makes of `doc`: the record's repr, then each coding's JSON text or error."""
    try:
        record = engine.parse_record(doc)
    except Exception as exc:  # noqa: BLE001 - any exception is an output to compare
        return [_error(exc)]
    out = [repr(record)]
    for now, signing in [(None, False), *((n, s) for n in nows[1:] for s in (False, True))]:
        try:
            result = engine.code_record(record, now=now, signing=signing)
            out.append(json.dumps(result.to_json()))
        except Exception as exc:  # noqa: BLE001
            out.append(_error(exc))
    return out


def moments(engine: types.ModuleType, doc: Any) -> list[datetime | None]:
    """None, the bedside (45 min after the last start) and a moment before the first start."""
    try:
        record = engine.parse_record(doc)
    except Exception:  # noqa: BLE001
        return [None]
    starts = [a.start for a in record.administrations]
    if not starts:
        return [None, datetime(2026, 3, 2, 12, 0, tzinfo=UTC)]
    return [None, max(starts) + timedelta(minutes=45), min(starts) - timedelta(minutes=10)]


def compare(
    name: str,
    docs: list[Any],
    ref: types.ModuleType,
    digest: Any,
    report: Callable[[str], None],
    limit: int = 5,
) -> tuple[int, int]:
    """(documents that differ, outputs compared)."""
    started = time.perf_counter()
    differences = compared = 0
    own = hashlib.sha256()
    for i, doc in enumerate(docs):
        nows = moments(ref, doc)
        want = outputs(ref, doc, nows)
        got = outputs(current, doc, nows)
        compared += len(want)
        for text in want:
            digest.update(text.encode())
            digest.update(b"\n")
            own.update(text.encode())
            own.update(b"\n")
        if got != want:
            differences += 1
            if differences <= limit:
                report(f"  DIFFERENT {name}[{i}]")
                for k, (w, g) in enumerate(zip(want, got, strict=False)):
                    if w != g:
                        report(f"    output {k}\n      ref: {w[:600]}\n      now: {g[:600]}")
                if len(want) != len(got):
                    report(f"    {len(want)} outputs at ref, {len(got)} now")
    seconds = time.perf_counter() - started
    verdict = "identical" if not differences else f"{differences} DIFFERENT"
    report(
        f"{name:<28} {len(docs):>6,} documents {compared:>7,} outputs  {verdict}  "
        f"({seconds:.0f} s, digest {own.hexdigest()[:12]})"
    )
    return differences, compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default=DEFAULT_REF, help=f"reference commit ({DEFAULT_REF})")
    parser.add_argument("--quick", action="store_true", help="a tenth of the documents")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1

    from tests.engine.test_properties import broken_records, json_values, records

    with tempfile.TemporaryDirectory() as tmp:
        ref = load_reference(args.ref, Path(tmp))
        gen = generated(2000 // scale, (13, 14))
        corpora: list[tuple[str, list[Any]]] = [
            ("scenarios", scenarios()),
            ("generator (seeds 13, 14)", gen),
            ("benchmark (3 seeds)", benchmark_corpus(3000 // scale, (2026, 7, 11))),
            ("strategy: records", from_strategy(records(), 2000 // scale)),
            ("strategy: broken records", from_strategy(broken_records(), 1500 // scale)),
            ("strategy: random JSON", from_strategy(json_values, 500 // scale)),
            ("mutated generator records", mutated(gen, 3000 // scale, seed=19)),
        ]
        digest = hashlib.sha256()
        total = differences = outputs_compared = 0
        for name, docs in corpora:
            differing, compared = compare(name, docs, ref, digest, print)
            differences += differing
            outputs_compared += compared
            total += len(docs)
    print(
        f"{total:,} documents, {outputs_compared:,} outputs against {args.ref}: "
        f"digest {digest.hexdigest()[:16]}"
    )
    if differences:
        print(f"{differences} documents give different output")
        return 1
    print("every output byte-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
