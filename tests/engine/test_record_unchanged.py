"""The record is immutable by convention (issue 19): its dataclasses are not frozen, for speed, so
these tests hold the engine to it. Coding a record leaves every field of every part of it, the
derived ones included, as it was; and no engine module but record.py assigns to an attribute
named like a field of the record, or calls setattr.

The result's dataclasses (result.py: Charge, Finding, NotCharged, Result) are immutable by the
same convention: they keep the equality and hash of frozen ones, and no module of the project
that uses the engine assigns to an attribute named like one of their fields (the book's `Line`,
the mutable draft of a charge, excepted)."""

from __future__ import annotations

import ast
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coding.engine import code_record, parse_record
from coding.engine import record as record_module
from coding.engine import result as result_module

from .generator import generated_records

ENGINE = Path(record_module.__file__).parent
SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))


def _dataclasses_of(module) -> list[type]:
    """The dataclasses a module defines (not those it imports)."""
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__module__ == module.__name__
    ]


RECORD_CLASSES = _dataclasses_of(record_module)
RECORD_FIELDS = {f.name for cls in RECORD_CLASSES for f in dataclasses.fields(cls)}
RESULT_CLASSES = _dataclasses_of(result_module)
RESULT_FIELDS = {f.name for cls in RESULT_CLASSES for f in dataclasses.fields(cls)}
PROJECT = ENGINE.parents[1]


def snapshot(value):
    """Every field of every dataclass in `value`, recursively, as plain nested tuples."""
    if dataclasses.is_dataclass(value):
        return (
            type(value).__name__,
            tuple((f.name, snapshot(getattr(value, f.name))) for f in dataclasses.fields(value)),
        )
    if isinstance(value, tuple | list):
        return (type(value).__name__, tuple(snapshot(v) for v in value))
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo), value.fold)
    return (type(value).__name__, repr(value))


def documents():
    for path in SCENARIOS:
        yield json.loads(path.read_text(encoding="utf-8"))["record"]
    yield from generated_records(300, seed=19)


def test_the_record_classes_are_the_records_dataclasses():
    names = {cls.__name__ for cls in RECORD_CLASSES}
    assert {"Record", "Encounter", "Site", "Order", "Administration", "Pause", "Flush"} <= names
    assert {"start_ts", "stop_ts", "spans", "administrations", "flushes"} <= RECORD_FIELDS


def test_coding_a_record_leaves_it_unchanged():
    for doc in documents():
        record = parse_record(doc)
        before = snapshot(record)
        starts = [a.start for a in record.administrations]
        bedside = (
            max(starts) + timedelta(minutes=45) if starts else datetime(2026, 3, 2, tzinfo=UTC)
        )
        code_record(record)
        code_record(record, now=bedside)
        code_record(record, now=bedside, signing=True)
        assert snapshot(record) == before, record.encounter.id


def test_records_keep_the_equality_and_hash_of_frozen_dataclasses():
    doc = next(generated_records(1, seed=5))
    first, second = parse_record(doc), parse_record(doc)
    assert first == second and hash(first) == hash(second)
    assert hash(first.administrations[0]) == hash(second.administrations[0])


def _assignments(tree: ast.AST):
    """(line, attribute, owner) of every attribute assigned (owner: the name it is set on, as
    in `owner.attribute = ...`, else ""), and (line, name, "") of every setattr call."""
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("setattr", "__setattr__", "delattr", "__delattr__"):
                yield node.lineno, name, ""
        while targets:
            target = targets.pop()
            if isinstance(target, ast.Tuple | ast.List):
                targets.extend(target.elts)
            elif isinstance(target, ast.Starred):
                targets.append(target.value)
            elif isinstance(target, ast.Attribute):
                owner = target.value.id if isinstance(target.value, ast.Name) else ""
                yield target.lineno, target.attr, owner


def test_no_engine_module_assigns_to_a_record():
    """An engine object sets its own attributes (`self.x = ...`); nothing sets a record's."""
    offending = []
    for path in sorted(ENGINE.glob("*.py")):
        if path.name == "record.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, attr, owner in _assignments(tree):
            if owner == "self":
                continue
            if attr in RECORD_FIELDS or attr in (
                "setattr",
                "__setattr__",
                "delattr",
                "__delattr__",
            ):
                offending.append(f"{path.name}:{line} {attr}")
    assert offending == []


def test_results_keep_the_equality_and_hash_of_frozen_dataclasses():
    """Findings are gathered in sets and results compared: a result's hash is its fields'."""
    assert {cls.__name__ for cls in RESULT_CLASSES} == {"Charge", "Finding", "NotCharged", "Result"}
    # A scenario whose result has charges, findings and administrations not charged.
    path = Path(__file__).parent / "scenarios" / "P18b-split-hydration-continuous.json"
    doc = json.loads(path.read_text(encoding="utf-8"))["record"]
    first, second = code_record(parse_record(doc)), code_record(parse_record(doc))
    assert first.charges and first.findings and first.not_charged
    assert first == second and hash(first) == hash(second)
    for value in (first, *first.charges, *first.findings, *first.not_charged):
        fields = tuple(getattr(value, f.name) for f in dataclasses.fields(value))
        assert hash(value) == hash(fields), type(value).__name__
    assert len({first.findings[0], second.findings[0]}) == 1  # equal findings are one in a set


def _uses_the_engine(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return "coding.engine" in text or path.parent == ENGINE


def test_no_module_assigns_to_a_result():
    """Nothing sets a field of a charge, finding, not-charged entry or result once made; the
    engine's own drafts of charges (`line`, book.Line) are the one mutable thing of that shape."""
    offending = []
    for package in ("coding", "mar"):
        for path in sorted((PROJECT / package).rglob("*.py")):
            if "migrations" in path.parts or not _uses_the_engine(path):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for line, attr, owner in _assignments(tree):
                if attr in RESULT_FIELDS and owner not in ("self", "line"):
                    offending.append(f"{path.relative_to(PROJECT)}:{line} {attr}")
    assert offending == []
