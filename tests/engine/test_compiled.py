"""The compiled engine (issue 19, target 4): built by `pip install -e .`, byte-identical to the
pure-Python sources, and never run when it is older than they are (coding/engine/_build.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import coding.engine as installed
from coding.engine import _build, charges

from .generator import generated_records
from .identity import moments, mutated, outputs
from .pure import pure_engine

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))
DECLINED = os.environ.get(_build.PURE) == "1"


def test_pip_install_built_the_engine_and_the_app_runs_it() -> None:
    """bin/test installs with `pip install -e .`, which compiles; only MAR_ENGINE_PURE=1 declines.
    Failing here after editing the engine means: rebuild (`pip install --no-deps -e .`)."""
    if DECLINED:
        assert installed.BUILD == "pure" and str(charges.__file__).endswith(".py")
        return
    assert installed.BUILD == "compiled", "the compiled engine is missing or older than sources"
    assert str(charges.__file__).endswith(tuple(_build.EXTENSION_SUFFIXES))
    assert _build.STAMP.read_text().strip() == _build.digest()


# --- byte-identical output ----------------------------------------------------------------------


@pytest.mark.skipif(DECLINED, reason="MAR_ENGINE_PURE=1: no compiled engine to compare")
def test_compiled_and_pure_engines_give_byte_identical_output() -> None:
    """The 41 scenarios, 3,000 generated records (issue 13's generator) and 1,000 broken ones,
    each read and coded four ways (tests/engine/identity.py): the same record, the same charges
    and findings as JSON text, the same errors."""
    pure = pure_engine()
    docs: list[Any] = [json.loads(p.read_text())["record"] for p in SCENARIOS]
    generated = list(generated_records(3000, seed=19))
    docs += generated + mutated(generated, 1000, seed=19)
    compared = 0
    for i, doc in enumerate(docs):
        nows = moments(pure, doc)
        want, got = outputs(pure, doc, nows), outputs(installed, doc, nows)
        assert got == want, f"document {i} differs"
        compared += len(want)
    assert len(docs) == 4041 and compared > 4 * 4041


# --- a stale build is never run -----------------------------------------------------------------


def _which_engine_runs(stamp: str | None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """In a fresh process: the build chosen when the stamp says `stamp` (None: as installed)."""
    script = f"""
import importlib.util, json, pathlib, sys, tempfile, warnings
warnings.simplefilter("always")
spec = importlib.util.spec_from_file_location("coding.engine._build", {str(_build.__file__)!r})
build = importlib.util.module_from_spec(spec)
sys.modules["coding.engine._build"] = build
spec.loader.exec_module(build)
stamp = {stamp!r}
if stamp is not None:
    build.STAMP = pathlib.Path(tempfile.mkdtemp()) / "stamp"
    build.STAMP.write_text(stamp)
with warnings.catch_warnings(record=True) as caught:
    import coding.engine
    import coding.engine.charges as charges
    import coding.engine.record as record
print(json.dumps({{"build": coding.engine.BUILD, "charges": charges.__file__,
                  "record": record.__file__, "warnings": [str(w.message) for w in caught]}}))
"""
    environ = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.skipif(not _build.compiled_files(), reason="no compiled build here")
def test_a_build_older_than_the_sources_is_not_run_and_says_so() -> None:
    ran = _which_engine_runs("0" * 64)
    assert ran["build"] == "pure"
    assert ran["charges"].endswith("charges.py") and ran["record"].endswith("record.py")
    assert any("older than the sources" in w for w in ran["warnings"])


@pytest.mark.skipif(not _build.compiled_files(), reason="no compiled build here")
def test_mar_engine_pure_runs_the_sources_without_a_warning() -> None:
    ran = _which_engine_runs(None, {_build.PURE: "1"})
    assert ran["build"] == "pure" and ran["charges"].endswith("charges.py")
    assert ran["warnings"] == []


@pytest.mark.skipif(DECLINED or not _build.compiled_files(), reason="no compiled build here")
def test_a_current_build_is_run() -> None:
    ran = _which_engine_runs(None, {_build.PURE: ""})
    assert ran["build"] == "compiled" and not ran["charges"].endswith(".py")
    assert ran["warnings"] == []


def test_the_digest_covers_every_compiled_source_and_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for source in _build.sources():
        (tmp_path / source.name).write_bytes(source.read_bytes())
    monkeypatch.setattr(_build, "HERE", tmp_path)
    before = _build.digest()
    edited = tmp_path / "hydration.py"
    edited.write_bytes(edited.read_bytes() + b"\n")
    assert _build.digest() != before
    assert {p.name for p in _build.sources()} >= {"charges.py", "record.py", "reading.py"}
    assert not {p.name for p in _build.sources()} & _build.NOT_COMPILED


# --- a build that cannot be made -----------------------------------------------------------------


@pytest.fixture
def build_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """_build pointed at a copy of the sources, with an earlier build's files beside them."""
    engine = tmp_path / "coding" / "engine"
    engine.mkdir(parents=True)
    for source in _build.sources():
        (engine / source.name).write_bytes(source.read_bytes())
    (engine / f"charges{_build.EXTENSION_SUFFIXES[0]}").write_bytes(b"an earlier build")
    monkeypatch.setattr(_build, "HERE", engine)
    monkeypatch.setattr(_build, "STAMP", engine / "_compiled.sha256")
    _build.STAMP.write_text("an earlier digest\n")
    return engine


def test_when_mypyc_refuses_the_sources_the_install_goes_on_with_the_sources(
    build_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mypyc.build

    def refuses(*args: Any, **kwargs: Any) -> list[Any]:
        raise SystemExit(2)  # what mypyc does on a type error

    monkeypatch.setattr(mypyc.build, "mypycify", refuses)
    monkeypatch.delenv(_build.PURE, raising=False)
    assert _build.ext_modules() == []
    assert _build.compiled_files() == [] and not _build.STAMP.exists()  # no older build kept
    assert "NOT compiled" in capsys.readouterr().err


def test_when_the_c_compiler_fails_no_partial_build_is_kept(
    build_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    def compiler_fails(self: Any) -> None:
        (build_folder / f"record{_build.EXTENSION_SUFFIXES[0]}").write_bytes(b"half a build")
        raise OSError("cc: not found")

    monkeypatch.setattr(build_ext, "run", compiler_fails)
    command = _build.commands()["build_ext"](Distribution())
    command.run()  # no exception: the install goes on
    assert _build.compiled_files() == [] and not _build.STAMP.exists()
    assert "NOT compiled (OSError: cc: not found)" in capsys.readouterr().err


def test_mar_engine_pure_at_install_builds_nothing(
    build_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_build.PURE, "1")
    assert _build.ext_modules() == []
    assert _build.compiled_files() == [] and not _build.STAMP.exists()
