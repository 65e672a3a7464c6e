"""The engine benchmark (issue 2) measures what it says: its corpus is valid, typical records, and
its floor (c) builds the very record the reader builds, so the floor is a fair lower bound."""

from __future__ import annotations

import sys
from pathlib import Path

from coding.engine import parse_record

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import engine as bench  # noqa: E402


def canonical(record):
    """Reading sorts the lists; the floor keeps the document's order."""
    return (
        record.encounter,
        sorted(record.sites, key=repr),
        sorted(record.orders, key=repr),
        sorted(record.administrations, key=repr),
        sorted(record.flushes, key=repr),
        record.policy,
    )


def test_the_floor_builds_the_same_record_as_the_reader():
    for doc in bench.corpus(200, seed=11):
        assert canonical(bench.bare_record(doc)) == canonical(parse_record(doc))


def test_the_corpus_is_typical_encounters_of_3_to_12_administrations_with_pauses_and_pushes():
    docs = bench.corpus(300, seed=12)
    sizes = {len(d["administrations"]) for d in docs}
    assert min(sizes) == 3 and max(sizes) == 12
    methods = {a["method"] for d in docs for a in d["administrations"]}
    assert methods == {"push", "infusion"}
    assert any(a.get("pauses") for d in docs for a in d["administrations"])
    assert any(a.get("purpose") == "hydration" for d in docs for a in d["administrations"])
    assert any(len(d["sites"]) > 1 for d in docs)


def test_the_benchmark_runs_and_reports_rate_ratio_and_floor(capsys):
    assert bench.main(["--n", "300", "--repeat", "1", "--floor"]) == 0
    out = capsys.readouterr().out
    assert "encounters/s" in out
    assert "x the JSON round trip" in out
    assert "floor (c)" in out
