"""What a service worker inherits from its supervisor is frozen for Python's collector: the supervisor's
modules and kernels (about 200,000 objects) were traversed by each full collection of a worker, 90-210 ms
at 1,000,000 items with every request of the worker waiting, among its first requests."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

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
        os.write(write, json.dumps([traversed, frozen, scratch, gc.isenabled() == enabled]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as r:
        print(r.read())
    """
)


def test_a_forked_worker_traverses_none_of_what_the_supervisor_loaded() -> None:
    out = subprocess.run([sys.executable, "-c", SUPERVISOR], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    traversed, frozen, scratch, collector_as_before = json.loads(out.stdout.strip().splitlines()[-1])
    assert frozen > 50_000  # the service's modules and kernels
    assert traversed < frozen // 50  # a worker's full collection traverses only what it made since
    assert scratch == 0  # the scratch indexes of the kernel load were collected, not frozen for good
    assert collector_as_before  # the collector runs in the worker as it did before
