"""The layout's promises that import-linter does not check (its contracts: pyproject.toml)."""

import pkgutil
import tomllib
from pathlib import Path

from django.db.models.signals import post_save

from coding.models import ChargeRun
from coding.outbox import GENERATE_CHARGES_TASK
from coding.ports import CodingChargesPort
from config.celery import app
from mar.models import Addendum
from mar.ports import charges_port

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def test_the_engines_contract_names_every_module_of_coding_around_it() -> None:
    """import-linter's forbidden contract lists coding's modules by name: a new one is added."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    engine = next(
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c.get("source_modules") == ["coding.engine"]
    )
    around = {f"coding.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "coding")])}
    assert around - {"coding.engine"} <= set(engine["forbidden_modules"])


def test_storing_a_charge_run_has_no_hidden_receiver() -> None:
    """Drug lines and the review item are made by charge_run_store in plain calls."""
    assert not post_save.has_listeners(ChargeRun)


def test_coding_listens_to_no_signal_of_the_record() -> None:
    """An addendum answers a coder's query through explicit calls (the port's
    `queries_answered`; charge_run_store for the change it made), not a receiver that answered
    every open query whatever the addendum said."""
    assert not post_save.has_listeners(Addendum)


def test_the_records_port_to_coding_is_filled_by_coding() -> None:
    assert isinstance(charges_port(), CodingChargesPort)


def test_the_outbox_sends_a_registered_task_by_name() -> None:
    assert GENERATE_CHARGES_TASK in app.tasks


def test_the_tests_carry_no_type_ignores() -> None:
    """mypy checks coding/engine only (strictly); tests are not type-checked, so a
    type-ignore comment in them would silence nothing."""
    marker = "# type: " + "ignore"
    found = [
        f"{path.relative_to(TESTS)}:{n}"
        for path in sorted(TESTS.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if marker in line
    ]
    assert found == [], (
        "tests are not type-checked (mypy checks coding/engine): drop these comments"
    )
