"""Building an index of banks from the store: written as a snapshot file, or held in memory.

The store keeps each item's fingerprint, links and phrase as text; an index is derived from them without
fingerprinting any text again.  ``stored_batches`` reads the fingerprints in chunks parsed in one compiled
pass (``Store.iter_fingerprint_batches``) and cuts them into runs of one bank, as ``Index.add_batch`` and
``SnapshotBuilder.add`` take them; ``stored_phrases`` reads the phrases made with the banks' key.  A row
that cannot be used is handed to ``on_bad`` and left out; the rest keep the order they were added in.

``build_snapshot`` writes the snapshot of the banks batch by batch (banks larger than memory), reading the
next batches from the store in a thread meanwhile (``read_ahead``: the store's reads and parsing and the
builder's sorting and spilling release the interpreter lock for most of their time, so the two overlap on
two cores) and the phrases in another, and
``build_in_memory`` builds the same index in memory: the command line's cache (``copytrace.banks.cache``)
and the service's live index (``copytrace.banks.live``) both build with them.  ``origin`` is what a
snapshot records of the store it was built from, and is checked before one is mapped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CopytraceError, ParameterMismatchError
from ..fingerprints.batch import FingerprintBatch
from ..fingerprints.fingerprint import FingerprintParams
from ..fingerprints.keys import Key
from ..index import Index
from ..index.match import MatchParams
from ..index.snapshot_build import SnapshotBuilder
from ..phrases import PhraseFingerprint, PhraseParams
from ..store.store import Store
from .sqlite_scan import fingerprint_batches

T = TypeVar("T")
Batch = tuple[str, list[str], FingerprintBatch, list[list[str]]]
OnBad = Callable[[str, str, CopytraceError], None]
StoredPhrase = tuple[str, str, PhraseFingerprint]


def origin(
    store_id: str, generation: int, banks: Iterable[str] | str, params: FingerprintParams
) -> dict[str, Any]:
    """What a snapshot derived from the store records of its source: the store's id and generation, the
    banks (``"*"``: every bank made with ``params``) and their parameters."""
    names: list[str] | str = banks if isinstance(banks, str) else sorted(banks)
    return {"store": store_id, "generation": generation, "banks": names, "params": str(params)}


def stored_batches(
    store: Store, banks: Iterable[str], params: FingerprintParams, *, on_bad: OnBad, size: int = 50_000
) -> Iterator[Batch]:
    """(bank, item ids, fingerprints, links as stored) of the items of ``banks``, made with ``params``, in
    runs of one bank of at most ``size`` items, in the order added (``Store.iter_fingerprint_batches``; an
    SQLite store's read by ``sqlite_scan``, the same rows read faster)."""
    chunks = fingerprint_batches(store, banks, params, size=size, on_bad=on_bad)
    if chunks is None:
        chunks = store.iter_fingerprint_batches(banks, params, size=size, on_bad=on_bad)
    for bank_names, ids, batch, links in chunks:
        at = 0
        while at < len(ids):
            end = at
            while end < len(ids) and bank_names[end] == bank_names[at]:
                end += 1
            lo, hi = int(batch.offsets[at]), int(batch.offsets[end])
            run = FingerprintBatch(
                params,
                batch.hashes[lo:hi],
                batch.positions[lo:hi],
                batch.offsets[at : end + 1] - lo,
                batch.n_tokens[at:end],
            )
            yield bank_names[at], ids[at:end], run, links[at:end]
            at = end


_DONE = object()


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """The items of ``items``, produced by a thread of their own at most ``depth`` ahead of the consumer.

    An exception of ``items`` is raised here, at the point in the sequence where it happened.  When the
    consumer stops early (``close``, or an exception of its own), the thread stops at its next item."""
    pending: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                pending.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((_DONE, exc))
            return
        put((_DONE, None))

    thread = threading.Thread(target=produce, name="copytrace-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = pending.get()
            if exc is not None:
                raise exc
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def stored_phrases(
    store: Store, banks: Iterable[str], params: FingerprintParams, *, on_bad: OnBad
) -> list[StoredPhrase]:
    """(bank, item id, phrase) of the items of ``banks`` kept as phrases, made with the key of ``params``;
    a phrase that does not parse or was made with another key is handed to ``on_bad`` and left out."""
    want = PhraseParams(key_id=params.key_id)
    out = []
    for bank, item_id, fp in store.iter_phrases(banks, on_bad=on_bad):
        if fp.params == want:
            out.append((bank, item_id, fp))
        else:
            on_bad(bank, item_id, ParameterMismatchError(want, fp.params, what="phrase"))
    return out


def build_snapshot(
    store: Store,
    path: Path,
    params: FingerprintParams,
    banks: Collection[str],
    *,
    phrase_banks: Collection[str],
    origin: dict[str, Any],
    on_bad: OnBad,
) -> None:
    """Write the snapshot of the items of ``banks`` at ``path``, batch by batch (``SnapshotBuilder``): the
    items of ``phrase_banks`` are matched as phrases only."""
    with (
        SnapshotBuilder(path, params, origin=origin) as builder,
        ThreadPoolExecutor(1, thread_name_prefix="copytrace-phrases") as pool,
    ):
        # the phrases are read meanwhile: a statement of their own, whose scan of the items' rows (no
        # index holds the few phrases) took seconds at a million items
        reading = pool.submit(stored_phrases, store, banks, params, on_bad=on_bad)
        for bank, ids, batch, links in read_ahead(stored_batches(store, banks, params, on_bad=on_bad)):
            builder.add(bank, ids, batch, links)
        phrases = reading.result()
        for only in (False, True):
            builder.add_phrases([x for x in phrases if (x[0] in phrase_banks) == only], phrase_only=only)


def build_in_memory(
    store: Store,
    params: FingerprintParams,
    banks: Collection[str],
    *,
    key: Key | None,
    match_params: MatchParams,
    phrase_banks: Collection[str],
    on_bad: OnBad,
) -> Index:
    """The index of the items of ``banks`` held in memory, with the store's texts for spans.  Without
    ``key`` it matches fingerprints only (``Index.for_params``): enough to link new items."""
    if key is None:
        index = Index.for_params(params, match_params=match_params, text_lookup=store.text)
    else:
        index = Index(
            key=key,
            k=params.k,
            window=params.window,
            match_params=match_params,
            keep_text=False,
            text_lookup=store.text,
        )
    for bank, ids, batch, links in stored_batches(store, banks, params, on_bad=on_bad):
        index.add_batch(ids, batch, bank=bank, links=links)
    for bank, item_id, fp in stored_phrases(store, banks, params, on_bad=on_bad):
        if (bank, item_id) in index:
            index.add_phrases([(bank, item_id, fp)], phrase_only=bank in phrase_banks)
    return index
