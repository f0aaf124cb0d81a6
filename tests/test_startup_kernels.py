"""The service's supervisor loads the compiled kernels a worker's start runs, once, before it forks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHECK = textwrap.dedent(
    """
    import sys
    import types

    import numba.core.registry

    import copytrace.service.app  # noqa: F401
    from copytrace.banks import live
    from copytrace.fingerprints.fingerprint import FingerprintParams, fingerprint
    from copytrace.fingerprints.keys import PUBLIC_KEY
    from copytrace.index import Index
    from copytrace.numba_start import load_kernel_support
    from copytrace.service.workers import load_kernels


    def loaded() -> int:
        return sum(
            len(value.signatures)
            for name, module in list(sys.modules.items())
            if name.startswith("copytrace") and module is not None
            for value in vars(module).values()
            if isinstance(value, numba.core.registry.CPUDispatcher)
        )


    load_kernel_support()
    before = loaded()
    load_kernels()
    after = loaded()
    # what a worker's start runs on an index in memory (LiveIndex's warm-up), with other parameters
    params = FingerprintParams(k=7, window=5, key_id=PUBLIC_KEY.key_id)
    worker = types.SimpleNamespace(
        key=PUBLIC_KEY, params=params, match_params=live.DEFAULT_MATCH_PARAMS, _our_banks={"news"}
    )
    index = Index.for_params(params)
    index.add("n0", fingerprint(live._WARM_UP * 2, k=7, window=5), bank="news")  # a bank whose mask is made
    index.match(live._WARM_UP)
    live.LiveIndex._warm_up_changes(worker, index)
    print(before, after, loaded())
    """
)


def test_load_kernels_loads_what_a_workers_start_runs() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True).stdout
    before, after, worker = (int(n) for n in out.split())
    assert after > before  # the supervisor loaded kernels
    assert worker == after  # and a worker's warm-up then loads no other
