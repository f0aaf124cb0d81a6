"""``python -m copytrace.threatexchange``: compile and cache copytrace's inner loops before serving.

copytrace's inner loops are compiled by numba on first use and cached beside the package (or in
``$NUMBA_CACHE_DIR``).  In a fresh install the first hash and the first index build compile for tens of
seconds; inside a gunicorn worker that holds up the worker past its 30-second timeout and it is killed.  Run
this once where HMA is installed (``RUN python -m copytrace.threatexchange`` in its image, after
``pip install``): it hashes, indexes, serialises, loads and queries the example texts with both signal
types, so every later process loads the compiled code from the cache.
"""

from __future__ import annotations

import io
import sys
import time

from threatexchange.signal_type.index import SignalTypeIndex

from . import CopytracePhraseSignal, CopytraceSignal
from .signal import EXAMPLE_TEXTS


def warm() -> None:
    """Run every compiled path the signal types use, once."""
    for signal_type in (CopytraceSignal, CopytracePhraseSignal):
        signals = [signal_type.hash_from_bytes(text.encode("utf-8")) for text in EXAMPLE_TEXTS]
        index = signal_type.get_index_cls().build([(s, n) for n, s in enumerate(signals)])
        buf = io.BytesIO()
        index.serialize(buf)
        buf.seek(0)
        loaded: SignalTypeIndex[int] = SignalTypeIndex.deserialize(buf)
        if not loaded.query(signals[0]):
            raise SystemExit(f"copytrace.threatexchange: the {signal_type.get_name()} index finds nothing")
        signal_type.compare_hash(signals[0], signals[1])


def main() -> None:
    start = time.monotonic()
    warm()
    print(
        f"copytrace.threatexchange: compiled code cached ({time.monotonic() - start:.1f} s)", file=sys.stderr
    )


if __name__ == "__main__":
    main()
