"""Adding a few items to a large bank reads those items' rows, not the bank: ``Store.fingerprints_of`` looks
up the ids a call adds (for --skip-existing, --replace and the refusal of an id the bank holds), and the
checks of a bank (its parameters, whether it is a phrase bank) count no bank's items.

Asserted on the SQL a ``bank add`` runs and on what the lookups return, never on a time:
benchmarks/bench_cli_cache.py measures the times.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from copytrace import fingerprint
from copytrace.banks import Store
from copytrace.cli.main import main
from copytrace.errors import UnknownBankError
from copytrace.store import ItemRecord

Run = Callable[..., tuple[int, str, str]]


def _text(i: int) -> str:
    return f"item number {i} of the bank tells its own story about harbour {i * 7} and river {i * 13}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


def _fill(store: Store, bank: str, n: int) -> dict[str, str]:
    """``n`` items stored without linking (``links=[]``); their fingerprint strings by id."""
    records = [
        ItemRecord(f"i{i}", fingerprint(_text(i), allow_short=True), _text(i), links=[]) for i in range(n)
    ]
    store.add_items(bank, records, create=records[0].fingerprint.params)
    return {r.item_id: str(r.fingerprint) for r in records}


def test_fingerprints_of_gives_the_held_ids_only_across_batches(store: Store) -> None:
    held = _fill(store, "big", 1_203)  # more ids than one IN list takes
    _fill(store, "other", 3)  # the same ids in another bank are not this bank's
    asked = [f"i{i}" for i in range(0, 1_203, 2)] + [f"missing{i}" for i in range(400)] + ["i0"]
    got = store.fingerprints_of("big", asked)
    assert got == {i: held[i] for i in asked if i in held}
    assert store.fingerprints_of("big", []) == {}
    with pytest.raises(UnknownBankError):
        store.fingerprints_of("nobody", ["i0"])


def test_a_bank_is_described_with_its_own_count(store: Store) -> None:
    _fill(store, "big", 40)
    _fill(store, "small", 3)
    assert (store.bank("big").n_items, store.bank("small").n_items) == (40, 3)
    assert [(b.name, b.n_items) for b in store.banks()] == [("big", 40), ("small", 3)]
    with pytest.raises(UnknownBankError):
        store.bank("nobody")


@pytest.fixture
def run(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """``copytrace ARGS`` in this process, on the store of ``db_url``."""
    monkeypatch.setenv("COPYTRACE_DB", db_url)
    monkeypatch.setenv("COPYTRACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COPYTRACE_KEY_FILE", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL every engine runs while the test does, each on one line."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


_ITEMS_READ = re.compile(r"^SELECT .*\bFROM items\b", re.IGNORECASE)
_BY_ID = re.compile(r"items\.item_id (IN|=)", re.IGNORECASE)


@pytest.mark.parametrize(
    "options", [[], ["--skip-existing"], ["--replace"]], ids=["plain", "skip", "replace"]
)
def test_adding_one_item_reads_no_other_items_row(
    run: Run, store: Store, tmp_path: Path, statements: list[str], options: list[str]
) -> None:
    _fill(store, "big", 30)
    one = tmp_path / "new-one.txt"
    one.write_text(_text(1) + " and a sentence of its own about the lighthouse keeper's dog")
    assert run("match", one)[0] in (0, 1)  # the index of the bank is cached, as after any earlier command
    assert list((tmp_path / "cache").glob("index-*"))
    statements.clear()
    code, out, err = run("bank", "add", "big", one, *options)
    assert code == 0, err
    assert '"added": 1' in out
    whole_bank = [s for s in statements if _ITEMS_READ.search(s) and not _BY_ID.search(s)]
    assert whole_bank == []
    assert any(_ITEMS_READ.search(s) and "items.fingerprint" in s for s in statements)  # the id was looked up
    code, out, err = run("bank", "add", "big", one, "--skip-existing")
    assert (code, '"unchanged": 1' in out) == (0, True), err


def test_adding_one_file_does_not_import_rich(tmp_path: Path) -> None:
    """No progress bar is shown for a few files, so its library is not imported (a terminal or not)."""
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text(_text(1))
    two.write_text(_text(2))
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-X", "importtime", "-m", "copytrace.cli.main", "bank", "add", "b"]
    subprocess.run([*command, str(one)], capture_output=True, env=env, timeout=300, check=True)  # a store
    proc = subprocess.run(
        [*command, str(two)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "copytrace.cli.bank_bulk" in modules  # the listing was read
    assert not {m for m in modules if m.split(".")[0] == "rich"}


_KERNELS_USED = """
import gc, sys
from numba.core.base import BaseContext
refreshed = []
refresh = BaseContext.refresh
def counted(self):
    refreshed.append(1)
    refresh(self)
BaseContext.refresh = counted
from copytrace.cli.main import main
status = main(sys.argv[1:])
from numba.core.dispatcher import Dispatcher
loaded = compiled = 0
for f in (o for o in gc.get_objects() if isinstance(o, Dispatcher)):
    loaded += sum(f.stats.cache_hits.values())
    compiled += sum(f.stats.cache_misses.values())
    for sig in f.stats.cache_misses:
        print("compiled:", f.py_func.__module__, f.py_func.__qualname__, sig, file=sys.stderr)
print(status, loaded, compiled, len(refreshed))
"""


def test_a_second_add_and_match_load_every_kernel_from_numbas_cache(tmp_path: Path) -> None:
    """Each compiled function a ``bank add`` of one file and the ``match`` after it call is loaded from
    Numba's cache in a later process (``cache=True``, the same argument types every time): none is
    compiled, so no type inference runs once the first command has compiled and cached them.  Nor is
    Numba's CPU target set up in full (its typing and lowering registries, ``refresh``): a kernel loaded
    from the cache needs Numba's runtime only (``copytrace.numba_start``)."""
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "cache")}

    def run(*args: str) -> tuple[int, int, int, int]:
        proc = subprocess.run(
            [sys.executable, "-c", _KERNELS_USED, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        status, loaded, compiled, refreshed = map(int, proc.stdout.splitlines()[-1].split())
        assert compiled == 0 or "compiled:" in proc.stderr
        return status, loaded, compiled, refreshed

    files = []
    for i in range(3):
        files.append(tmp_path / f"post-{i}.txt")
        files[-1].write_text(_text(i) + " and the lighthouse keeper's dog who guards the harbour at night")
    for path in files[:2]:  # the first round may compile (and caches) what the commands call
        run("bank", "add", "big", str(path))
        run("match", str(path))
    for args in (["bank", "add", "big", str(files[2])], ["match", str(files[2])]):
        status, loaded, compiled, refreshed = run(*args)
        assert (status, compiled, refreshed) == (0, 0, 0) and loaded > 0, args


_NEVER_IMPORTED = """
import sys
from copytrace.cli.main import main
status = main(sys.argv[1:])
unused = ("copytrace.banks.live", "copytrace.banks.live_snapshots", "copytrace.service", "fastapi", "uvicorn",
          "scipy", "rich", "alembic")
print(status, sorted(m for m in sys.modules if m.startswith(unused)))
"""


def test_adding_one_file_imports_neither_the_live_index_nor_the_service(tmp_path: Path) -> None:
    """What only the service (its live index, FastAPI, uvicorn), a migration (Alembic), a progress bar
    (rich) or a SciPy probe needs is not imported by ``bank add`` of one file to a store that exists."""
    env = {**os.environ, "COPYTRACE_DB": str(tmp_path / "s.db"), "COPYTRACE_CACHE": str(tmp_path / "cache")}
    outs = []
    for i in range(2):  # the first call creates the store (and migrates it with Alembic)
        path = tmp_path / f"post-{i}.txt"
        path.write_text(_text(i) + " and the lighthouse keeper's dog who guards the harbour at night")
        proc = subprocess.run(
            [sys.executable, "-c", _NEVER_IMPORTED, "bank", "add", "b", str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append(proc.stdout.splitlines()[-1])
    assert outs[1] == "0 []"
