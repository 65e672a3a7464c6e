"""Issue 13, every line traceable: the rule book (coding/engine/RULEBOOK.md) and the engine agree.

Every rule id the engine can write (the registry coding/engine/rules.py, and every finding id in
the engine's source) has an entry; every entry names a rule that exists, its source and the
tests that pin it, and those tests exist; every line and not-charged entry names the ids of the
rules it applied; the documents the engine's code cites are in the repository.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from coding.engine import code_record, codes, parse_record
from coding.engine import rules as r
from coding.engine.drug_units import SINGLE_DOSE, DrugGiven, drug_line_items

from .generator import generated_records
from .records import billed, chemo, hydration, infusion, push, record, run, site

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "coding" / "engine"
BOOK = ENGINE / "RULEBOOK.md"
ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")  # SEQUENTIAL, PUSH-96376-CLOCK, RAC-7
LITERAL_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")  # an id written as a string: RAC-7
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[[^\]`]*\])?`")


def book_entries() -> dict[str, str]:
    """Each entry of the book by its id: a `### `ID`` heading and the text up to the next."""
    text = BOOK.read_text(encoding="utf-8")
    parts = re.split(r"^### `([^`]+)`", text, flags=re.M)
    entries: dict[str, str] = {}
    for rule_id, body in zip(parts[1::2], parts[2::2], strict=True):
        assert rule_id not in entries, f"{rule_id} has two entries"
        entries[rule_id] = body.split("\n## ", 1)[0]
    return entries


def ids_in_the_engines_source() -> dict[str, str]:
    """Every rule id written as a literal in the engine's modules (findings' `rule`, rule ids
    named in `rules=`), with the module that writes it; `f"EDIT-{code}"` for each code CPT
    allows once per encounter."""
    found: dict[str, str] = {}
    for path in sorted(ENGINE.glob("*.py")):
        if path.name == "rules.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if LITERAL_ID.match(node.value):
                    found.setdefault(node.value, path.name)
            elif isinstance(node, ast.JoinedStr):
                head = node.values[0] if node.values else None
                if isinstance(head, ast.Constant) and head.value == "EDIT-":
                    for code in codes.ONCE_PER_ENCOUNTER:
                        found.setdefault(f"EDIT-{code}", path.name)
    return found


def test_every_rule_id_is_stable_uppercase_and_has_a_title() -> None:
    assert all(ID.match(rule_id) for rule_id in r.RULES), sorted(r.RULES)
    assert all(title.strip() for title in r.RULES.values())
    assert not set(r.CODING_RULES) & set(r.CHECKS)


def test_every_rule_id_in_the_engines_source_is_registered() -> None:
    """A finding or a `rules=` id written in the code is in rules.py (and so in the book)."""
    unknown = {i: m for i, m in ids_in_the_engines_source().items() if i not in r.RULES}
    assert unknown == {}, "register these in coding/engine/rules.py and the rule book"


def test_every_registered_rule_has_an_entry_in_the_rule_book() -> None:
    missing = sorted(set(r.RULES) - set(book_entries()))
    assert missing == [], "add an entry to coding/engine/RULEBOOK.md for each"


def test_every_entry_of_the_rule_book_names_a_rule_that_exists() -> None:
    unknown = sorted(set(book_entries()) - set(r.RULES))
    assert unknown == [], "the book names rules the engine does not have"


def test_every_entry_says_what_it_decides_its_source_and_the_tests_that_pin_it() -> None:
    for rule_id, body in book_entries().items():
        for part in ("**Decides**", "**Source**", "**Tests**"):
            assert part in body, f"{rule_id}: no {part}"
        assert TEST_REF.search(body), f"{rule_id}: names no test"


def test_every_test_the_rule_book_names_exists() -> None:
    text = BOOK.read_text(encoding="utf-8")
    refs = TEST_REF.findall(text)
    assert refs
    defined: dict[str, set[str]] = {}
    missing = []
    for file, name in refs:
        path = ROOT / file
        if file not in defined:
            tree = ast.parse(path.read_text(encoding="utf-8")) if path.is_file() else None
            defined[file] = {
                n.name for n in (tree.body if tree else []) if isinstance(n, ast.FunctionDef)
            }
        if name not in defined[file]:
            missing.append(f"{file}::{name}")
    assert missing == []


def test_every_policy_switch_has_its_entry() -> None:
    """Each Policy field (record.py) is named in the book, in the entry of the rule it decides."""
    from coding.engine.record import Policy

    text = BOOK.read_text(encoding="utf-8")
    missing = [name for name in Policy.__dataclass_fields__ if f"`{name}`" not in text]
    assert missing == []


# --- the documents the code cites are in the repository ---------------------------------------

DOC_REF = re.compile(r"[\w./-]*[\w-]\.md\b")
SECTION_REF = re.compile(r"coding-rules(?:\.md)?,? §(\d+)(?:-§(\d+))?")


def cited_documents(path: Path) -> list[str]:
    return DOC_REF.findall(path.read_text(encoding="utf-8"))


def resolves(name: str, where: Path) -> bool:
    if ".." in Path(name).parts or name.startswith("/") or "shared/" in name:
        return False
    return any((base / name).is_file() for base in (ROOT, where.parent, ROOT / "docs"))


@pytest.mark.parametrize(
    "path",
    [*sorted(ENGINE.glob("*.py")), BOOK, ROOT / "coding" / "README.md"],
    ids=lambda p: p.name,
)
def test_the_documents_the_engine_cites_resolve_inside_the_repository(path: Path) -> None:
    """coding-rules.md, rac-checklist.md and record-format.md are kept in docs/; a citation of
    another repository's path (../shared/...) would not resolve for an auditor reading this one."""
    outside = [name for name in cited_documents(path) if not resolves(name, path)]
    assert outside == []


def test_the_coding_rules_sections_the_engine_cites_exist() -> None:
    headings = {
        int(n)
        for n in re.findall(r"^## (\d+)\.", (ROOT / "docs/coding-rules.md").read_text(), re.M)
    }
    cited: set[int] = set()
    for path in [*ENGINE.glob("*.py"), BOOK]:
        for first, last in SECTION_REF.findall(path.read_text(encoding="utf-8")):
            cited |= set(range(int(first), int(last or first) + 1))
    assert cited and cited <= headings


# --- every line and not-charged entry names its rules ------------------------------------------


def coded_results():
    for path in sorted((Path(__file__).parent / "scenarios").glob("*.json")):
        yield code_record(parse_record(json.loads(path.read_text(encoding="utf-8"))["record"]))
    for doc in generated_records(400, seed=13):
        yield code_record(parse_record(doc))


def test_every_line_and_not_charged_entry_names_registered_rule_ids() -> None:
    """The 41 scenarios and 400 generated records: no line or not-charged entry without its
    rules; every id in the book's registry; the JSON carries them."""
    for result in coded_results():
        out = result.to_json()
        for charge, line in zip(result.charges, out["charges"], strict=True):
            assert charge.rules and set(charge.rules) <= set(r.RULES), charge
            assert line["rules"] == list(charge.rules)
        for item, entry in zip(result.not_charged, out["not_charged"], strict=True):
            assert item.rules and set(item.rules) <= set(r.RULES), item
            assert entry["rules"] == list(item.rules)
        assert {f.rule for f in result.findings} <= set(r.RULES)


def rules_of(result, code: str) -> set[str]:
    return {i for c in result.charges if c.code == code for i in c.rules}


def test_a_96376_line_names_the_same_drug_rule_and_its_clock() -> None:
    result = run(record(push("A1", at=0), push("A2", at=45)))
    assert billed(result) == {"96374": 1, "96376": 1}
    assert {r.IV_HIERARCHY, r.INITIAL_PUSH} <= rules_of(result, "96374")
    assert {r.PUSH_SAME_DRUG, r.PUSH_CLOCK, r.ALREADY_REPORTED} <= rules_of(result, "96376")


def test_a_push_within_the_clock_is_not_charged_naming_the_clock() -> None:
    result = run(record(push("A1", at=0), push("A2", at=20)))
    (item,) = result.not_charged
    assert item.administration == "A2" and r.PUSH_CLOCK in item.rules


def test_a_sequential_line_names_sequential_and_the_overlap_rule() -> None:
    result = run(record(chemo("A1", minutes=60), infusion("A2", start=40, minutes=60)))
    assert billed(result) == {"96413": 1, "96367": 1}
    assert {r.SEQUENTIAL, r.OVERLAP_COUNTED_ONCE, r.MINUTES} <= rules_of(result, "96367")


def test_an_infusion_beside_a_pump_names_concurrent_and_the_pump_rule() -> None:
    rec = record(
        chemo("A1", "fluorouracil", method="push", start=0),
        chemo("A2", "fluorouracil", start=10, pump="portable", planned_hours=24),
        infusion("A3", "fosaprepitant", start=20, minutes=150),
    )
    result = run(rec)
    assert {"96409", "96416", "96368"} <= set(billed(result))
    assert {r.CONCURRENT, r.PUMP_NOT_SEQUENTIAL} <= rules_of(result, "96368")
    assert r.PUMP_START in rules_of(result, "96416")


def test_a_second_sites_initial_names_the_site_and_its_modifier() -> None:
    rec = record(
        chemo("A1", minutes=60),
        infusion("A2", start=0, minutes=60, site="S2"),
        sites=[site("S1"), site("S2", reason="incompatible with cisplatin")],
    )
    result = run(rec)
    assert {r.SECOND_SITE, r.MOD_SECOND_SITE} <= rules_of(result, "96365")
    assert r.MOD_SECOND_SITE not in rules_of(result, "96413")


def test_hydration_after_another_initial_names_its_rules_and_policy() -> None:
    result = run(record(hydration("A1", start=0, minutes=60), infusion("A2", start=60, minutes=30)))
    assert {r.HYDRATION_AFTER_INITIAL, r.HYDRATION_ALONE, r.HYDRATION_SEGMENTS} <= rules_of(
        result, "96361"
    )


def test_a_policy_switch_that_decides_is_named_among_the_rules() -> None:
    rec = record(
        infusion("A1", minutes=120),
        infusion("A2", "cefazolin", start=30, minutes=60, site="S2"),
        sites=[site("S1"), site("S2")],
    )
    for value in ("one_line", "own_minutes"):
        result = run({**rec, "policy": {"second_line_without_reason": value}})
        named = {i for c in result.charges for i in c.rules} | {
            i for n in result.not_charged for i in n.rules
        }
        assert r.SECOND_LINE_WITHOUT_REASON in named, value


def test_drug_lines_name_their_rules() -> None:
    given = DrugGiven(
        administration="A1", day=date(2026, 3, 2), drug="paclitaxel", hcpcs="J9267",
        billing_unit_label="1 mg", per_unit=Decimal(1), billing_unit="mg",
        container=SINGLE_DOSE, dose_value=Decimal(300), dose_unit="mg",
        waste_value=Decimal(20), waste_unit="mg",
    )  # fmt: skip
    lines = drug_line_items(given).lines
    assert [line["rules"] for line in lines] == [
        [r.DRUG_BILLING_UNITS],
        [r.DRUG_JW, r.DRUG_BILLING_UNITS],
    ]
    none_wasted = drug_line_items(replace(given, waste_value=Decimal(0))).lines
    assert none_wasted[0]["rules"] == [r.DRUG_BILLING_UNITS, r.DRUG_JZ]


def test_a_therapeutic_intra_arterial_infusion_is_unlisted_96379_with_a_finding() -> None:
    """CPT has no code for it: unlisted 96379, and the coder is told the note must go along."""
    rec = record(infusion("A1", route="ia", minutes=40), sites=[site("S1", "intra_arterial")])
    result = run(rec)
    assert billed(result) == {"96379": 1}
    assert [f.rule for f in result.findings] == ["CODING-UNLISTED"]
    assert {r.IA_UNLISTED, r.INTRA_ARTERIAL} <= rules_of(result, "96379")
