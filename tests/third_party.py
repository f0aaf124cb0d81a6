"""Third-party source the integration tests run: python-threatexchange's test helpers and HMA.

Neither ships where pip finds it (threatexchange's wheel leaves out its tests; HMA is not on the package
index), so the tests read them from the ThreatExchange source tree in ``../shared/third_party`` (or
``$COPYTRACE_THIRD_PARTY``).  Without it the tests that need it are skipped, and fail under CI.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIRD_PARTY = Path(os.environ.get("COPYTRACE_THIRD_PARTY", ROOT.parent / "shared" / "third_party"))
THREATEXCHANGE = THIRD_PARTY / "ThreatExchange" / "python-threatexchange"
HMA = THIRD_PARTY / "ThreatExchange" / "hasher-matcher-actioner"


def missing(message: str) -> None:
    """Skip the test (fail under CI, where everything must run): ``message`` says what is missing."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def threatexchange_module(relative: str) -> ModuleType:
    """A module of python-threatexchange's source tree that its wheel leaves out, such as its test helpers,
    loaded under a private name (the installed ``threatexchange`` package stays the one imported)."""
    path = THREATEXCHANGE / "threatexchange" / relative
    if not path.exists():
        missing(f"python-threatexchange source not found at {path}: set COPYTRACE_THIRD_PARTY")
    name = "threatexchange_source_" + relative.removesuffix(".py").replace("/", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
