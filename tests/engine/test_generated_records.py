"""Issue 13, "Proof": realistic generated records (generator.py) coded and checked against the
invariants (invariants.py): a few hundred on every run, many more under `-m slow` with
GENERATED_RECORDS set (e.g. GENERATED_RECORDS=100000)."""

from __future__ import annotations

import os

import pytest

from coding.engine import code_record, parse_record

from .generator import POLICIES, generated_records
from .invariants import violations


def broken(count: int, seed: int) -> list[tuple[str, str]]:
    out = []
    for doc in generated_records(count, seed=seed):
        rec = parse_record(doc)
        out.extend((rec.encounter.id, v) for v in violations(rec, code_record(rec)))
    return out


def test_generated_records_keep_every_invariant():
    """400 realistic encounters (pumps, bags, second lines, pushes, office/facility, every
    policy): every invariant holds."""
    assert broken(400, seed=13) == []


def test_the_generator_covers_every_policy_value_and_the_issue_13_services():
    """The generated records exercise what issue 13 fixed: each policy value, pumps beside
    infusions, mixed bags, repeated pushes, second lines, intralesional sessions."""
    seen: dict[str, set] = {k: set() for k in POLICIES}
    codes: set[str] = set()
    for doc in generated_records(400, seed=13):
        for key, value in (doc.get("policy") or {}).items():
            seen[key].add(value)
        codes |= {c.code for c in code_record(parse_record(doc)).charges}
    assert all(seen[k] == set(v) for k, v in POLICIES.items()), seen
    assert {"96368", "96376", "96416", "G0498", "96405", "96406", "96417", "96367"} <= codes


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("GENERATED_RECORDS"), reason="set GENERATED_RECORDS=N for a bigger run"
)
def test_many_generated_records_keep_every_invariant():
    count = int(os.environ.get("GENERATED_RECORDS", "0"))
    for seed in range(1, 4):
        assert broken(count, seed=seed) == []
