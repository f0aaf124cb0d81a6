"""The first item added through a worker, and the matches after it, load no compiled kernel: the
supervisor's ``load_kernels`` loaded each one for the argument types the live index passes (a mapped
snapshot, before and after items are added to it)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from copytrace import DEFAULT_PARAMS, fingerprint
from copytrace.banks import Store
from copytrace.store import ItemRecord
from copytrace.store.api_keys import create_key

WORKER = textwrap.dedent(
    """
    import gc
    import json
    import sys

    from fastapi.testclient import TestClient
    from numba.core.dispatcher import Dispatcher

    from copytrace.numba_start import load_kernel_support
    from copytrace.service import ServiceConfig, create_app
    from copytrace.service.workers import load_kernels

    db, snapshots, key, removed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[5]
    texts = json.loads(sys.argv[4])


    def loaded() -> set[tuple[str, str]]:
        return {
            (f"{f.py_func.__module__}.{f.py_func.__qualname__}", str(sig))
            for f in gc.get_objects()
            if isinstance(f, Dispatcher) and f.py_func.__module__.startswith("copytrace")
            for sig in f.signatures
        }


    load_kernel_support()
    load_kernels()  # what the supervisor runs before it forks the workers
    app = create_app(ServiceConfig(db=db, snapshot_dir=snapshots, poll_seconds=3600))
    batch = {"queries": [{"id": str(n), "text": t} for n, t in enumerate(texts)]}
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        assert app.state.ctx.live.wait_ready(500)  # kernels compiled after a change take minutes
        before = loaded()
        steps = [
            ("post", c.post("/v1/banks/speeches/items", json={"id": "new-0", "text": texts[0]})),
            ("post", c.post("/v1/banks/speeches/items", json={"id": "new-1", "text": texts[1]})),
            ("match", c.post("/v1/match", json={"text": texts[0]})),
            ("match", c.post("/v1/match", json={"text": texts[0], "all_versions": True})),
            ("batch", c.post("/v1/match:batch", json=batch)),
            ("delete", c.delete("/v1/banks/speeches/items/new-0")),
            ("match", c.post("/v1/match", json={"text": texts[1]})),
            ("delete", c.delete(f"/v1/banks/speeches/items/{removed}")),  # one of the snapshot's
            ("post", c.post("/v1/banks/speeches/items", json={"id": "new-2", "text": texts[0]})),
            ("match", c.post("/v1/match", json={"text": texts[0]})),
            ("batch", c.post("/v1/match:batch", json=batch)),
        ]
        statuses = [(what, r.status_code) for what, r in steps]
        matched = [m["item_id"] for m in steps[3][1].json()["matches"]]  # every version
    print(json.dumps({"statuses": statuses, "matched": matched, "new": sorted(map(list, loaded() - before))}))
    """
)


def test_the_first_post_and_matches_through_a_worker_load_no_kernel(
    tmp_path: Path, state_union: dict[str, str]
) -> None:
    """A worker maps its index from a snapshot: the arrays the first link, add and match pass it have other
    types (read-only, or a mix of mapped and in-memory) than those of an index built in memory."""
    db = str(tmp_path / "store.db")
    names = sorted(state_union)[:6]
    with Store(db) as store:
        _, key = create_key(store, "ops", "admin")
        store.create_bank("speeches", DEFAULT_PARAMS)
        fps = [(n, fingerprint(state_union[n])) for n in names[:4]]
        store.add_items("speeches", [ItemRecord(n, fp, state_union[n], [], {}) for n, fp in fps])
    # a version of a banked item (it links to it), and a text of its own
    texts = [state_union[names[0]] + " And so it was written down again.", state_union[names[4]]]
    out = subprocess.run(
        [sys.executable, "-c", WORKER, db, str(tmp_path / "snapshots"), key, json.dumps(texts), names[1]],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["statuses"] == [
        ["post", 201],
        ["post", 201],
        ["match", 200],
        ["match", 200],
        ["batch", 200],
        ["delete", 200],
        ["match", 200],
        ["delete", 200],
        ["post", 201],
        ["match", 200],
        ["batch", 200],
    ]
    assert {"new-0", names[0]} <= set(result["matched"])
    assert result["new"] == [], "\n".join(map(str, result["new"]))


def test_the_supervisors_kernel_load_announces_no_llvm_lock_event_and_numba_gets_its_callbacks_back() -> None:
    """Loading cached kernels calls LLVM thousands of times; Numba announced each call as a lock event that
    only its compile timers hear (a sixth of the supervisor's kernel load).  While the supervisor loads them
    nothing is announced; afterwards Numba's callbacks are back, as a forked worker's compiler expects."""
    from llvmlite import binding as llvm
    from numba.core import event

    from copytrace.service.workers import _quiet_llvm_lock

    heard: list[str] = []

    class Listener(event.Listener):
        def on_start(self, ev: event.Event) -> None:
            heard.append(ev.kind)

        def on_end(self, ev: event.Event) -> None:
            pass

    def llvm_calls() -> int:
        heard.clear()
        with event.install_listener("numba:llvm_lock", Listener()):
            module = llvm.parse_assembly("define i32 @f() {\n ret i32 1\n}")
            _ = [f.name for f in module.functions]
        return len(heard)

    with _quiet_llvm_lock():
        assert llvm_calls() == 0
    assert llvm_calls() > 0
