"""style.md / issue 2: the engine is plain Python: an import contract (import-linter, configured in
pyproject.toml) keeps Django and the app out of coding.engine, and importing it loads no Django."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lint_imports() -> str:
    beside = Path(sys.executable).parent / "lint-imports"
    return str(beside) if beside.exists() else (shutil.which("lint-imports") or "lint-imports")


def test_the_import_contract_holds():
    """issue 2: `lint-imports` passes: coding.engine imports nothing from Django or the app."""
    proc = subprocess.run([lint_imports()], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "plain Python" in proc.stdout


def test_importing_the_engine_loads_no_django():
    """record-format: the engine needs no database and no Django settings."""
    code = (
        "import sys, coding.engine, coding.engine.cli; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('django', 'mar', 'config')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
