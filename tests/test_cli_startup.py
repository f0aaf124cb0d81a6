"""Start-up: ``copytrace --version``, ``--help`` and ``COMMAND --help`` import only argparse-level code, and
the public names of ``copytrace`` are loaded on first use yet all resolve.

Asserted on the set of modules a fresh interpreter imports (``python -X importtime``), never on a time:
benchmarks/bench_startup.py measures the times.
"""

from __future__ import annotations

import ast
import inspect
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import copytrace
from copytrace.cli import keys as keys_cmd
from copytrace.cli import serve as serve_cmd
from copytrace.cli.main import _subparsers, build_parser

from .conftest import CANONICAL_000

HEAVY = {"numpy", "numba", "sqlalchemy", "alembic", "fastapi", "uvicorn", "starlette", "pydantic", "rich"}
"""Top-level packages that printing a version or a help text must not import."""

HELP_COMMANDS = sorted(p.prog.split()[1:] for p in _subparsers(build_parser()))


def _imported(
    *code: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime *code`` in a fresh interpreter: the process and every module it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *code],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return proc, modules - {"imported package"}


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY}


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["bank", "--help"], ["bank", "--version"]]
    + [[*words, "--help"] for words in HELP_COMMANDS],
    ids=" ".join,
)
def test_version_and_help_import_no_heavy_dependency(argv: list[str]) -> None:
    proc, modules = _imported("-m", "copytrace.cli.main", *argv)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("copytrace " if "--version" in argv else "usage: copytrace")
    assert "copytrace.cli.common" in modules  # the importtime listing was read
    assert _heavy(modules) == set()


def test_version_prints_the_package_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "copytrace.cli.main", "--version"], capture_output=True, text=True, check=True
    )
    assert proc.stdout == f"copytrace {copytrace.__version__}\n"


@pytest.mark.parametrize(
    "code",
    ["import copytrace; copytrace.__version__", "from copytrace import CopytraceError, __version__"],
    ids=["version", "errors"],
)
def test_the_package_imports_numpy_only_when_needed(code: str) -> None:
    proc, modules = _imported("-c", code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "copytrace" in modules
    assert _heavy(modules) == set()


def test_a_command_that_runs_imports_what_it_needs(tmp_path: Path) -> None:
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "c")}
    proc, modules = _imported("-m", "copytrace.cli.main", "fingerprint", str(CANONICAL_000), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ctw1:")
    assert {"numpy", "copytrace.fingerprints.fingerprint"} <= modules


def test_a_busy_store_is_still_one_line_when_sqlalchemy_was_not_imported_at_start(tmp_path: Path) -> None:
    """main.py maps SQLAlchemy's errors without importing SQLAlchemy at start-up: in a fresh process the
    store imports it, and a locked SQLite file is still the one-line 'is busy' message, exit 2 (``keys
    create`` writes to the store without fingerprinting anything)."""
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "c")}
    cli = [sys.executable, "-m", "copytrace.cli.main"]
    subprocess.run(
        [*cli, "keys", "create", "first", "--role", "reader"], env=env, check=True, capture_output=True
    )
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        proc = subprocess.run(
            [*cli, "keys", "create", "second", "--role", "reader"],
            env={**env, "COPYTRACE_BUSY_TIMEOUT": "0.1"},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "is busy: another process is writing to it" in proc.stderr


@pytest.mark.parametrize("name", copytrace.__all__, ids=str)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(copytrace, name)
    namespace: dict[str, object] = {}
    exec(f"from copytrace import {name}", namespace)
    assert namespace[name] is value
    assert not inspect.ismodule(value)
    assert name in dir(copytrace)


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from copytrace import *", namespace)
    assert set(copytrace.__all__) <= set(namespace)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Indx'"):
        copytrace.Indx  # noqa: B018


@pytest.mark.parametrize(
    "first",
    ["copytrace.fingerprints.fingerprint", "copytrace.text.normalize"],
    ids=["fingerprint", "normalize"],
)
def test_a_function_named_as_its_module_stays_the_function(first: str) -> None:
    """Importing the submodule that defines ``copytrace.fingerprint`` before the name is used leaves
    ``copytrace.fingerprint`` the function, as it was when the package imported everything eagerly."""
    code = (
        f"import {first}, copytrace, inspect\n"
        "from copytrace import fingerprint, normalize\n"
        "assert inspect.isfunction(copytrace.fingerprint) and copytrace.fingerprint is fingerprint\n"
        "assert inspect.isfunction(copytrace.normalize) and copytrace.normalize is normalize\n"
        "assert fingerprint('one two three four five six seven eight nine ten')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_constants_named_in_the_cli_agree_with_the_library() -> None:
    """The CLI names two constants itself so that building its parser imports neither the service nor the
    store; they must stay those of the library."""
    from copytrace.service.config import DEFAULT_MAX_TEXT
    from copytrace.store.api_keys import ROLES

    assert serve_cmd.DEFAULT_MAX_TEXT == DEFAULT_MAX_TEXT
    assert keys_cmd.ROLES == ROLES


KERNEL_COMMANDS = [["fingerprint", str(CANONICAL_000)], ["bank", "add", "b", str(CANONICAL_000)]]


@pytest.mark.parametrize("argv", KERNEL_COMMANDS, ids=" ".join)
def test_a_command_that_runs_compiled_code_leaves_scipy_out(tmp_path: Path, argv: list[str]) -> None:
    """Numba's start-up would import SciPy (its version check, and its BLAS probe: all of scipy.linalg)
    where SciPy is installed, and CFFI where CFFI is; a command hides both from those probes
    (``load_kernel_support``)."""
    pytest.importorskip("scipy.linalg")  # where SciPy is absent there is nothing to hide
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "c")}
    code = (
        "import sys\n"
        "from copytrace.cli.main import main\n"
        f"status = main({argv!r})\n"
        "print(status, sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'scipy'))[-3:],"
        " 'cffi' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    status, modules = proc.stdout.splitlines()[-1].split(" ", 1)
    assert status == "0"
    assert "'numba." in modules and "scipy" not in modules  # the last names sorted: numba's, or SciPy's
    assert modules.endswith(" False")  # no CFFI


def test_adding_and_matching_import_no_orm(tmp_path: Path) -> None:
    """The store reads and writes with SQLAlchemy Core statements (``copytrace.store.tables``): ``bank add``
    to a store that exists and ``match`` never import SQLAlchemy's ORM or the mapped classes, about a fifth
    of a second of their start-up.  (Creating a store runs its Alembic migrations, which do.)"""
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "c")}
    cli = [sys.executable, "-m", "copytrace.cli.main"]
    subprocess.run([*cli, "bank", "add", "b", str(CANONICAL_000)], env=env, check=True, capture_output=True)
    other = tmp_path / "other.txt"
    other.write_text(CANONICAL_000.read_text(encoding="utf-8")[:3000], encoding="utf-8")
    for argv in (["bank", "add", "b", str(other)], ["match", str(other)]):
        proc, modules = _imported("-m", "copytrace.cli.main", *argv, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert {"sqlalchemy", "copytrace.store.store"} <= modules  # the importtime listing was read
        assert {m for m in modules if m.startswith("sqlalchemy.orm")} == set(), argv
        assert "copytrace.store.models" not in modules, argv
    assert CANONICAL_000.stem in proc.stdout  # the match found the first item


@pytest.mark.parametrize(
    ("call", "files", "expected"),
    [
        ("run", 1, "paused 0"),  # the whole command is start-up
        ("run", 2, "running frozen"),  # past start-up at the second file: what start-up made is frozen
        ("main", 1, "running 0"),  # a caller's own process (a library user, a test) is left as it is
    ],
    ids=["program, one file", "program, two files", "main in a caller's process"],
)
def test_bank_add_pauses_the_garbage_collector_for_its_start_up(
    tmp_path: Path, call: str, files: int, expected: str
) -> None:
    """``bank add`` run as the program (``run``) pauses Python's cyclic garbage collector while it starts
    up (``pause_collector``) and starts it again, past start-up, at its second input (``resume_collector``);
    ``main`` called in another program's process never touches the collector."""
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "c")}
    text = CANONICAL_000.read_text(encoding="utf-8")
    paths = []
    for n in range(files):
        path = tmp_path / f"item{n}.txt"
        path.write_text(text[n * 2000 : n * 2000 + 3000], encoding="utf-8")
        paths.append(str(path))
    code = (
        "import atexit, gc, sys\n"
        "def state():\n"
        "    frozen = 'frozen' if gc.get_freeze_count() else '0'\n"
        "    sys.stderr.write(f\"gc: {'running' if gc.isenabled() else 'paused'} {frozen}\\n\")\n"
        "atexit.register(state)\n"
        f"from copytrace.cli.main import {call}\n"
        f"status = {call}(['bank', 'add', 'b', *{paths!r}])\n"
        "state()\n"  # main returns here; run ended the process after the atexit handler
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f'"added": {files}' in proc.stdout
    states = [line for line in proc.stderr.splitlines() if line.startswith("gc: ")]
    assert states and set(states) == {f"gc: {expected}"}, proc.stderr[-2000:]


def test_scipy_imports_as_usual_after_the_probes_were_answered() -> None:
    pytest.importorskip("scipy.linalg")
    pytest.importorskip("cffi")
    code = (
        "import sys\n"
        "from copytrace.numba_start import load_kernel_support\n"
        "load_kernel_support()\n"
        "assert 'numba.np.arraymath' in sys.modules and 'scipy' not in sys.modules\n"
        "from numba.np import arraymath\n"
        "assert not arraymath._HAVE_BLAS\n"
        "import scipy.linalg.cython_blas, scipy.linalg, cffi\n"
        "from copytrace import fingerprint\n"
        f"print(fingerprint(open({str(CANONICAL_000)!r}, encoding='utf-8').read()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(copytrace.fingerprint(CANONICAL_000.read_text(encoding="utf-8")))


def test_no_compiled_code_calls_blas() -> None:
    """What makes hiding SciPy's BLAS from Numba safe: no module of the package multiplies matrices (``@``)
    or names a BLAS routine of NumPy (``np.dot``, ``np.linalg``...)."""
    blas = {"dot", "vdot", "matmul", "inner", "outer", "tensordot", "einsum", "linalg"}
    found = []
    for path in Path(copytrace.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.MatMult) or (isinstance(node, ast.Attribute) and node.attr in blas):
                found.append(f"{path.name}:{getattr(node, 'lineno', '?')}")
    assert found == []


def test_the_program_ends_without_tearing_the_interpreter_down(tmp_path: Path) -> None:
    """``python -m copytrace.cli.main`` (and the ``copytrace`` script, ``run``) flushes its output and runs
    the atexit handlers, then ends the process at once: no object is torn down one by one."""
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "c")}
    code = (
        "import atexit, sys\n"
        "class TornDown:\n"  # says so when the interpreter tears it down
        "    def __del__(self): sys.stderr.write('torn down\\n')\n"
        "kept = TornDown()\n"
        "atexit.register(lambda: sys.stderr.write('atexit ran\\n'))\n"
        "from copytrace.cli.main import run\n"
        f"run(['fingerprint', {str(CANONICAL_000)!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(copytrace.fingerprint(CANONICAL_000.read_text(encoding="utf-8")))
    assert "atexit ran" in proc.stderr
    assert "torn down" not in proc.stderr
    # the same without ``run``: Python's own exit tears it down (what the test tells apart)
    normal = subprocess.run(
        [sys.executable, "-c", code.replace("from copytrace.cli.main import run\n", "").split("run([")[0]],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert normal.returncode == 0 and "torn down" in normal.stderr, normal.stderr[-2000:]


@pytest.mark.parametrize(
    ("argv", "status"),
    [(["match", "--bank", "nobody", str(CANONICAL_000)], 2), (["fingerprint", "/no/such/file"], 2)],
    ids=["unknown bank", "missing file"],
)
def test_the_program_keeps_the_exit_status(tmp_path: Path, argv: list[str], status: int) -> None:
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "c")}
    proc = subprocess.run(
        [sys.executable, "-m", "copytrace.cli.main", *argv], capture_output=True, text=True, env=env
    )
    assert proc.returncode == status and proc.stderr.startswith("copytrace: error: "), proc.stderr


def test_the_copytrace_script_is_the_program() -> None:
    """The installed ``copytrace`` script runs ``run`` (which ends the process at once), not ``main``."""
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "copytrace"]
    assert script.value == "copytrace.cli.main:run"
