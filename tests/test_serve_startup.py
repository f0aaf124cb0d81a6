"""``copytrace serve --workers N``'s supervisor loads the workers' compiled kernels in a thread while it
imports FastAPI and the service: importing the worker machinery imports no FastAPI, the load runs beside
those imports, and what the workers are forked with is as before (the kernels loaded, the collector's
objects frozen, no thread left).  Asserted on which modules are imported when and on threads, never on a
time: benchmarks/bench_service.py measures the start."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PREPARE = textwrap.dedent(
    """
    import gc
    import json
    import sys
    import threading

    import copytrace.service.workers as workers

    seen = {"fastapi_with_workers": "fastapi" in sys.modules}
    load = workers.load_kernels

    def watched():
        seen["thread"] = threading.current_thread() is not threading.main_thread()
        load()
        seen["fastapi_when_loaded"] = "fastapi" in sys.modules

    workers.load_kernels = watched
    preparing = workers.start_preparing()
    seen["fastapi_at_start"] = "fastapi" in sys.modules
    seen["collector_paused"] = not gc.isenabled()
    preparing.finish()
    seen["service_imported"] = "copytrace.service.app" in sys.modules
    seen["threads_left"] = threading.active_count()
    seen["frozen"] = gc.get_freeze_count()
    seen["collector_back"] = gc.isenabled()
    print(json.dumps(seen))
    """
)


def test_the_kernels_load_in_a_thread_while_the_service_is_imported() -> None:
    out = subprocess.run([sys.executable, "-c", PREPARE], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["fastapi_with_workers"] is False  # the worker machinery alone imports no FastAPI
    assert seen["fastapi_at_start"] is False  # the kernels' thread started before the service's import
    assert seen["thread"] is True  # loaded in a thread of its own, beside the main thread's imports
    assert seen["collector_paused"] is True
    assert seen["service_imported"] is True
    assert seen["threads_left"] == 1  # nothing but the main thread when the workers are forked
    assert seen["frozen"] > 50_000  # the service's modules and kernels, frozen for the workers
    assert seen["collector_back"] is True


FAILING = textwrap.dedent(
    """
    import threading

    import copytrace.service.workers as workers

    def broken():
        raise RuntimeError("no kernels")

    workers.load_kernels = broken
    preparing = workers.start_preparing()
    try:
        preparing.finish()
    except RuntimeError as exc:
        print(f"raised {exc}; threads {threading.active_count()}")
    """
)


def test_a_kernel_load_that_fails_fails_the_start_in_the_main_thread() -> None:
    out = subprocess.run([sys.executable, "-c", FAILING], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "raised no kernels; threads 1"


@pytest.mark.skipif(sys.platform == "win32", reason="forks its workers")
def test_a_start_of_several_workers_on_a_bad_store_fails_at_once_with_one_line(tmp_path: Path) -> None:
    """The kernels' thread is already loading when the store turns out unusable: the start still fails
    with one line and status 2, and leaves no thread behind to hold the exit."""
    db = tmp_path / "not-a-folder"
    db.write_text("a file where the store's folder should be")
    out = subprocess.run(
        [sys.executable, "-m", "copytrace.cli.main", "serve", "--workers", "2", "--db", str(db / "s.db")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith("copytrace: ")
