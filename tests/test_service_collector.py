"""What a service worker inherits from its supervisor is frozen for Python's collector: the supervisor's
modules and kernels (250,000-420,000 objects) were traversed by each full collection of a worker, 87-211
ms at 1,000,000 items with every request of the worker waiting, among its first requests.  And the build
of a worker's index from the store pauses the collector: the rows it reads set off 125 collections of
over 1 ms at 1,000,000 items (2.1 s), each traversing all the process held."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path
from typing import Any

import pytest

from copytrace import DEFAULT_PARAMS, fingerprint
from copytrace.banks import LiveIndex, Store
from copytrace.fingerprints.keys import PUBLIC_KEY
from copytrace.store import ItemRecord

SUPERVISOR = textwrap.dedent(
    """
    import gc
    import json
    import os

    from copytrace.index import Index
    from copytrace.service.workers import prepare_supervisor

    enabled = gc.isenabled()
    prepare_supervisor()  # what ``run_workers`` does before it forks the workers
    read, write = os.pipe()
    if os.fork() == 0:  # a worker, as uvicorn's supervisor forks it
        os.close(read)
        traversed = len(gc.get_objects())  # what a full collection of the worker traverses
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        scratch = sum(isinstance(o, Index) for o in gc.get_objects())  # load_kernels' indexes
        garbage = gc.collect()  # what was frozen but unreachable, kept for good in every worker
        os.write(write, json.dumps([traversed, frozen, scratch, garbage, gc.isenabled() == enabled]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as r:
        print(r.read())
    """
)


def test_a_forked_worker_traverses_none_of_what_the_supervisor_loaded() -> None:
    out = subprocess.run([sys.executable, "-c", SUPERVISOR], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    traversed, frozen, scratch, garbage, collector_as_before = json.loads(out.stdout.strip().splitlines()[-1])
    assert frozen > 50_000  # the service's modules and kernels
    assert traversed < frozen // 50  # a worker's full collection traverses only what it made since
    assert scratch == 0  # the scratch indexes of the kernel load are freed, not frozen for good
    assert garbage < 100  # the start's garbage in reference cycles was collected before the freeze
    assert collector_as_before  # the collector runs in the worker as it did before


@pytest.mark.parametrize("snapshots", [True, False], ids=["to-a-snapshot", "in-memory"])
def test_building_the_live_index_sets_off_no_collection(
    tmp_path: Path, state_union: dict[str, str], snapshots: bool
) -> None:
    db = str(tmp_path / "store.db")
    texts = list(state_union.values())
    with Store(db) as store:
        store.create_bank("speeches", DEFAULT_PARAMS)
        fps = [fingerprint(t) for t in texts]
        records = [
            ItemRecord(f"s{i}-{n}", fp, t)
            for i, (fp, t) in enumerate(zip(fps, texts, strict=True))
            for n in range(8)
        ]
        store.add_items("speeches", records)
        building: list[str] = []

        def seen(phase: str, info: dict[str, int]) -> None:  # a collection set off inside a build
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_name in ("build_snapshot", "build_in_memory"):
                    building.append(frame.f_code.co_name)
                    return
                frame = frame.f_back  # type: ignore[assignment]

        live = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(tmp_path / "snap") if snapshots else None)
        gc.callbacks.append(seen)
        try:
            live.catch_up()
        finally:
            gc.callbacks.remove(seen)
        assert len(live.match(texts[0])) >= 1  # it was built
        assert building == []  # the rows read and the arrays made set off no collection meanwhile
        assert gc.isenabled()  # the collector runs again after


def test_an_index_built_again_frees_the_old_one_before_the_build(
    tmp_path: Path, state_union: dict[str, str]
) -> None:
    """The mapped snapshot written to by another program: the index is built again from the store, with
    the collector paused; the old index (reference cycles: only a collection frees it) is gone by then."""
    texts = list(state_union.values())
    with Store(str(tmp_path / "store.db")) as store:
        store.create_bank("speeches", DEFAULT_PARAMS)
        store.add_items("speeches", [ItemRecord(f"s{i}", fingerprint(t), t) for i, t in enumerate(texts)])
        live = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(tmp_path / "snap"))
        live.catch_up()
        old = weakref.ref(live._index._contents)  # type: ignore[union-attr]  # in reference cycles
        (snapshot,) = (tmp_path / "snap").glob("*.ctidx")
        os.utime(snapshot, ns=(0, 0))  # "written to since it was mapped"
        alive_at_build: list[bool] = []
        build = live._build_index

        def watched(*args: Any, **kwargs: Any) -> Any:
            alive_at_build.append(old() is not None)
            return build(*args, **kwargs)

        live._build_index = watched  # type: ignore[method-assign]
        live.catch_up()
        assert alive_at_build == [False]  # built again, with the old index already freed
        assert [m.item_id for m in live.match(texts[0])][:1] == ["s0"]
