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
JSON; derandomized, so the same examples every run), and generated records broken by a seeded
mutator (fields deleted, values of the wrong type, bad or DST-skipped times). How an engine's
outputs are taken, and the mutator: tests/engine/identity.py (the compiled-vs-pure test uses them).

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
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import coding.engine as current  # noqa: E402
from tests.engine.identity import moments, mutated, outputs  # noqa: E402

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
