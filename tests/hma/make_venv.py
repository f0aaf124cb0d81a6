"""Create ``.venv-hma``: HMA's Python environment with copytrace installed into it, as HMA's image has it.

HMA (Hasher-Matcher-Actioner, ``OpenMediaMatch``) is not on the package index.  Its Dockerfile installs its
``pyproject.toml`` dependencies into Python 3.13 and runs the source tree from ``/app``; this does the same
from the ThreatExchange source tree (``tests/third_party.py``) and PyPI, with two differences: the driver
is ``psycopg2-binary`` (the same psycopg2, without needing libpq's headers and a compiler) and copytrace
is installed from this checkout, editable, with its ``threatexchange`` extra.  The environment is kept
apart from ``.venv`` because HMA's dependencies pin their own versions of Flask, SQLAlchemy and
threatexchange.  A stamp records what it was made from; it is remade when that changes.

    python tests/hma/make_venv.py        # prints what it does; nothing when the stamp is current
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("COPYTRACE_HMA_VENV", ROOT / ".venv-hma"))
THIRD_PARTY = Path(os.environ.get("COPYTRACE_THIRD_PARTY", ROOT.parent / "shared" / "third_party"))
HMA = THIRD_PARTY / "ThreatExchange" / "hasher-matcher-actioner"
STAMP = "copytrace-hma.json"
RECIPE = "1"
"""Raise when the steps of ``ensure`` change, so existing environments are remade."""


class SetupError(Exception):
    """HMA's environment cannot be made; the message says why."""


def python() -> tuple[str, str]:
    """HMA's image runs Python 3.13: ``$COPYTRACE_HMA_PYTHON``, else a 3.13 from pyenv or on PATH; with its
    version."""
    candidates = [
        os.environ.get("COPYTRACE_HMA_PYTHON"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3")), reverse=True),
        shutil.which("python3.13"),
    ]
    for candidate in filter(None, candidates):
        done = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
        )
        if done.returncode == 0 and done.stdout.startswith("3.13"):
            return candidate, done.stdout.strip()
    raise SetupError("no Python 3.13 (HMA's) found: install it or set COPYTRACE_HMA_PYTHON")


def requirements() -> list[str]:
    """HMA's dependencies and its ``prod`` extra (gunicorn), as its Dockerfile installs them."""
    project = tomllib.loads((HMA / "pyproject.toml").read_text())["project"]
    deps = [*project["dependencies"], *project["optional-dependencies"]["prod"]]
    return ["psycopg2-binary" if d == "psycopg2" else d for d in deps]


def _stamp(version: str) -> dict[str, str]:
    """What the environment is made from: Python's version, HMA's version and dependencies, copytrace's
    dependencies and this recipe's version (not copytrace's code, installed editable)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    copytrace_deps = [*project["dependencies"], *project["optional-dependencies"]["threatexchange"]]
    return {
        "recipe": RECIPE,
        "python": version,
        "hma": (HMA / "version.txt").read_text().strip(),
        "hma_requirements": " ".join(requirements()),
        "copytrace": str(ROOT),
        "copytrace_requirements": " ".join(copytrace_deps),
    }


def _run(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        output = (done.stdout + done.stderr)[-4000:]
        raise SetupError(f"{' '.join(args)} failed ({done.returncode}):\n{output}")


def ensure() -> Path:
    """The environment's directory, made or remade if its stamp is not current.  Safe to call from many
    processes at once (a lock file serialises them)."""
    if not (HMA / "pyproject.toml").exists():
        raise SetupError(f"HMA source not found at {HMA}: set COPYTRACE_THIRD_PARTY")
    interpreter, version = python()
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f"{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        want = _stamp(version)
        stamp = VENV / STAMP
        if stamp.exists() and json.loads(stamp.read_text()) == want:
            print(f"{VENV} is current (Python {want['python']}, HMA from {HMA})", flush=True)
            return VENV
        print(f"making HMA's environment {VENV} (Python {want['python']}, HMA from {HMA})", flush=True)
        shutil.rmtree(VENV, ignore_errors=True)
        _run(interpreter, "-m", "venv", str(VENV))
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run(*pip, *requirements())
        with tempfile.TemporaryDirectory() as build:  # as the image: its pyproject.toml alone, built apart
            shutil.copy(HMA / "pyproject.toml", build)
            _run(*pip, "--no-deps", build)  # metadata only: the code runs from a copy of src/ (``/app``)
        _run(*pip, "-e", f"{ROOT}[threatexchange]")
        warm(VENV)
        stamp.write_text(json.dumps(want))
        return VENV


def warm(venv: Path) -> None:
    """Compile copytrace's inner loops into numba's cache, as the image should at build time (a gunicorn
    worker that compiles them while serving outlives its timeout).  Quick when the cache is current."""
    _run(str(venv / "bin" / "python"), "-m", "copytrace.threatexchange")


if __name__ == "__main__":
    try:
        ensure()
    except SetupError as exc:
        sys.exit(f"tests/hma/make_venv.py: {exc}")
