"""The build step pyproject.toml cannot declare: `pip install -e .` compiles the charge engine.

coding/engine/_build.py says what is compiled (with mypyc, a build requirement), how
MAR_ENGINE_PURE=1 declines it, and how an edited source is never shadowed by an older build.
"""

import importlib.util
from pathlib import Path

from setuptools import setup

_spec = importlib.util.spec_from_file_location(
    "engine_build", Path(__file__).resolve().parent / "coding" / "engine" / "_build.py"
)
assert _spec is not None and _spec.loader is not None
_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build)

setup(ext_modules=_build.ext_modules(), cmdclass=_build.commands())
