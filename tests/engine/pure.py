"""The pure-Python engine, loaded from the sources whatever build is installed (issue 19).

`pip install -e .` compiles coding/engine with mypyc (coding/engine/_build.py) and the app runs
that build; the sources stay the reference. `pure_engine()` copies them (without any extension
module) to a temporary directory and imports them there as the package `engine_pure`, so both
engines can run side by side in one process and be compared.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ENGINE = Path(__file__).resolve().parents[2] / "coding" / "engine"


def import_package(name: str, package: Path) -> ModuleType:
    """The package in the folder `package` (an engine's copy), imported under `name`."""
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def pure_engine() -> ModuleType:
    package = Path(tempfile.mkdtemp(prefix="engine-pure-")) / "engine_pure"
    shutil.copytree(
        ENGINE,
        package,
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "_compiled.sha256"),
    )
    module = import_package("engine_pure", package)
    assert module.BUILD == "pure"
    assert str(importlib.import_module("engine_pure.charges").__file__).endswith(".py")
    return module


def pure(submodule: str) -> ModuleType:
    """`engine_pure.<submodule>`, e.g. pure("record")."""
    pure_engine()
    return importlib.import_module(f"engine_pure.{submodule}")
