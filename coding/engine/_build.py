"""The engine's compiled build (issue 19, target 4): what is compiled, and which engine runs.

`pip install -e .` (setup.py calls `ext_modules`) compiles the engine's modules with mypyc into
extension modules beside their sources and writes STAMP, the digest of the sources it compiled.
The pure-Python sources stay the reference and the compiled build must give byte-identical
output (tests/engine/test_compiled.py). On import the package calls `choose()`: the compiled
modules run only when STAMP matches the sources as they are now. After an edit, or with
MAR_ENGINE_PURE=1, every engine module is loaded from its .py file instead (with a warning to
rebuild after an edit), so a stale build never shadows an edited rule.

This module, `__init__`, `__main__` and `cli` are never compiled: the choice has to be made
before any compiled module is imported, and the command line is not on the hot path.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from importlib.util import spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = "coding.engine"
NOT_COMPILED = frozenset({"__init__.py", "__main__.py", "cli.py", "_build.py"})
STAMP = HERE / "_compiled.sha256"
PURE = "MAR_ENGINE_PURE"  # "1": build nothing, run the sources


def sources() -> list[Path]:
    """The modules that are compiled: every module of the engine but the four above."""
    return sorted(p for p in HERE.glob("*.py") if p.name not in NOT_COMPILED)


def digest() -> str:
    """The sources' digest: names and bytes, in name order."""
    h = hashlib.sha256()
    for path in sources():
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def compiled_files() -> list[Path]:
    """The extension modules a build left beside the sources."""
    return sorted(
        HERE / f"{path.stem}{suffix}"
        for path in sources()
        for suffix in EXTENSION_SUFFIXES
        if (HERE / f"{path.stem}{suffix}").exists()
    )


class _Sources(MetaPathFinder):
    """Finds each engine module at its .py file, ahead of an extension module beside it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        source = HERE / f"{name}.py"
        if package != PACKAGE or not source.exists():
            return None
        return spec_from_file_location(fullname, source)


def choose() -> str:
    """Which engine runs: "compiled" when a current build is there and not declined; else
    "pure", and `import coding.engine.<module>` loads the sources from now on in this process."""
    if not compiled_files():
        return "pure"
    if os.environ.get(PURE) != "1":
        stamp = STAMP.read_text().strip() if STAMP.exists() else ""
        if stamp == digest():
            return "compiled"
        warnings.warn(
            "coding/engine: the compiled build is older than the sources; running the sources "
            "(pure Python). Rebuild it with `pip install --no-deps -e .`.",
            RuntimeWarning,
            stacklevel=3,
        )
    if not any(isinstance(finder, _Sources) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Sources())
    return "pure"


def ext_modules() -> list[Any]:
    """For setup.py: the engine compiled by mypyc, unless MAR_ENGINE_PURE=1.

    An earlier build's extension modules are removed first, so a build that fails leaves the
    sources running, never an older build under a newer stamp. A build that cannot be made (mypyc
    refuses the sources, no C compiler: see `commands`) installs the app with the sources
    running and says so; `coding.engine.BUILD` is then "pure", and bin/test fails on it
    (tests/engine/test_compiled.py), so CI never ships the pure engine unnoticed.
    """
    _remove_build()
    if os.environ.get(PURE) == "1":
        return []
    from mypyc.build import mypycify  # a build requirement (pyproject.toml), not a runtime one

    root = HERE.parents[1]
    try:
        modules = list(mypycify([str(p.relative_to(root)) for p in sources()], opt_level="3"))
    except (Exception, SystemExit) as exc:  # mypyc exits on a type error in the sources
        _not_compiled(exc)
        return []
    STAMP.write_text(digest() + "\n")
    return modules


def commands() -> dict[str, Any]:
    """For setup.py: a `build_ext` that, when the C compiler fails, removes what it made and
    lets the install finish with the sources running."""
    from setuptools.command.build_ext import build_ext  # type: ignore[import-untyped]

    class BuildOrRunSources(build_ext):  # type: ignore[misc]  # setuptools is untyped here
        def run(self) -> None:
            try:
                super().run()
            except Exception as exc:  # noqa: BLE001 - any failure: no partial build is kept
                _remove_build()
                _not_compiled(exc)

    return {"build_ext": BuildOrRunSources}


def _remove_build() -> None:
    for stale in compiled_files():
        stale.unlink()
    STAMP.unlink(missing_ok=True)


def _not_compiled(exc: BaseException) -> None:
    print(
        f"coding/engine: NOT compiled ({type(exc).__name__}: {exc}); the app will run the "
        "pure-Python sources (coding.engine.BUILD == 'pure').",
        file=sys.stderr,
    )
