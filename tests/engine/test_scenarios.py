"""The 41 worked scenarios (copies of ../shared/scenarios, kept here as data because CI clones only
this repository), compared as run-scenarios compares them: total units per (code, sorted
modifiers), and every rule in `findings_include` among the findings."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from coding.engine import code_record, parse_record

SCENARIOS = Path(__file__).parent / "scenarios"
FILES = sorted(SCENARIOS.glob("*.json"))
ROOT = Path(__file__).resolve().parents[2]


def totals(charges: list[dict]) -> Counter:
    out: Counter = Counter()
    for c in charges:
        key = (str(c["code"]), tuple(sorted(str(m) for m in c.get("modifiers") or [])))
        out[key] += int(c.get("units", 1))
    return out


def test_all_41_scenarios_are_here():
    """issue 2: all 41 shared scenarios are kept in the repository as data."""
    assert len(FILES) == 41


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_scenario(path: Path):
    """coding-rules.md, worked scenario: charges and findings as the scenario file expects."""
    scenario = json.loads(path.read_text(encoding="utf-8"))
    result = code_record(parse_record(scenario["record"])).to_json()
    assert totals(result["charges"]) == totals(scenario["expected"]["charges"])
    found = {f["rule"] for f in result["findings"]}
    for rule in scenario["expected"].get("findings_include", []):
        assert rule in found, f"{rule} missing from {sorted(found)}"


def test_scenarios_through_the_command_line(tmp_path: Path):
    """record-format.md: `python -m coding.engine DIR/` prints one JSON line per record, exit 0."""
    for path in FILES:
        record = json.loads(path.read_text(encoding="utf-8"))["record"]
        (tmp_path / path.name).write_text(json.dumps(record), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "coding.engine", f"{tmp_path}/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(FILES)
    by_encounter = {json.loads(line)["encounter"]: json.loads(line) for line in lines}
    for path in FILES:
        scenario = json.loads(path.read_text(encoding="utf-8"))
        got = by_encounter[scenario["record"]["encounter"]["id"]]
        assert totals(got["charges"]) == totals(scenario["expected"]["charges"]), path.stem
