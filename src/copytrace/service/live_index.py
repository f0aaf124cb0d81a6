"""The service's index, kept current by following the store's change feed.

On start it loads the newest snapshot it saved before (or builds from the stored fingerprints), then
applies, in order, every change made after the generation it holds: an item added or removed through any
process or instance is applied here within one poll (``poll_seconds``), without rebuilding the index.  A
process that made a change itself calls ``catch_up`` at once, so its own writes are matchable when the
request that made them returns.  Replaying a change twice does no harm (an add replaces, a remove of an
absent item is nothing), which is what makes a snapshot at least as new as its generation safe to load.

While the store is unreachable the index keeps answering from what it holds; ``healthy`` turns False and
the follower retries until the store is back.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from ..errors import CopytraceError
from ..fingerprint import Fingerprint, FingerprintParams
from ..index import Index
from ..keys import Key
from ..match import DEFAULT_MATCH_PARAMS, Match, MatchParams
from ..store import Store
from ..store.feed import Change, changes_since

log = logging.getLogger("copytrace.service")

_CHUNK = 2000  # changes applied per hold of the index lock, so queries interleave with a long catch-up


@dataclass(frozen=True)
class IndexState:
    ready: bool
    items: int
    fingerprints: int
    generation: int  # the store generation the index reflects
    store_generation: int | None  # last read from the store (None: never reached)
    last_sync: float | None  # time.time() of the last successful read of the feed
    error: str | None


class LiveIndex:
    """An ``Index`` of every bank made with ``key`` and the default k and window, following the store."""

    def __init__(
        self,
        store: Store,
        key: Key,
        *,
        k: int = 5,
        window: int = 4,
        match_params: MatchParams = DEFAULT_MATCH_PARAMS,
        poll_seconds: float = 0.5,
        snapshot_dir: str | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.params = FingerprintParams(k=k, window=window, key_id=key.key_id)
        self.match_params = match_params
        self.poll_seconds = poll_seconds
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self._index: Index | None = None
        self._generation = 0
        self._store_generation: int | None = None
        self._last_sync: float | None = None
        self._error: str | None = None
        self._index_lock = threading.Lock()  # the index: queries and changes
        self._sync_lock = threading.Lock()  # one catch-up at a time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied_changes = 0

    # -------------------------------------------------------------------------------------------- life
    def start(self) -> None:
        """Load or build the index in the background and follow the feed until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="copytrace-index-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._index is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return self._index is not None

    def _run(self) -> None:
        backoff = self.poll_seconds
        while not self._stop.is_set():
            try:
                self.catch_up()
                backoff = self.poll_seconds
            except (SQLAlchemyError, CopytraceError, OSError) as exc:
                self._error = f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                log.warning("index follower: store unreachable (%s); retrying", self._error)
                backoff = min(5.0, backoff * 2)
            self._wake.wait(backoff)
            self._wake.clear()

    # ------------------------------------------------------------------------------------- following
    def catch_up(self) -> int:
        """Apply every change committed so far; returns the generation now reflected."""
        with self._sync_lock:
            upto = self.store.generation()
            if self._index is None:
                self._load_or_build(upto)
            elif upto > self._generation:
                self._replay(self._generation, upto)
            self._store_generation = upto
            self._last_sync = time.time()
            self._error = None
            return self._generation

    def _replay(self, after: int, upto: int) -> None:
        batch: list[Change] = []
        for change in changes_since(self.store, after, upto):
            batch.append(change)
            if len(batch) >= _CHUNK:
                self._apply(batch)
                batch = []
        self._apply(batch)
        self._generation = upto

    def _apply(self, changes: Iterable[Change]) -> None:
        with self._index_lock:
            index = self._index
            assert index is not None
            for c in changes:
                op, bank, item_id = c.op, c.bank, c.item_id or ""
                if op == "add":
                    fp = c.fingerprint
                    if (bank, item_id) in index:
                        index.remove(item_id, bank=bank)
                    if fp is not None:
                        parsed = Fingerprint.parse(fp)
                        if parsed.params == self.params:
                            index.add(item_id, parsed, bank=bank)
                elif op == "remove":
                    if (bank, item_id) in index:
                        index.remove(item_id, bank=bank)
                elif op == "drop_bank":
                    for b, i in [pair for pair in index.items() if pair[0] == bank]:
                        index.remove(i, bank=b)
                self.applied_changes += 1

    def _banks(self) -> list[str]:
        return [name for name, p in self.store.bank_params().items() if p == self.params]

    def _snapshot_stem(self) -> Path | None:
        """``<dir>/live-<store and params digest>``: snapshots are ``<stem>-g<generation>.npz``."""
        if self.snapshot_dir is None:
            return None
        digest = hashlib.sha256(f"{self.store.url}|{self.params}".encode()).hexdigest()[:24]
        return self.snapshot_dir / f"live-{digest}"

    def _load_or_build(self, upto: int) -> None:
        started = time.monotonic()
        newest = self._newest_snapshot(upto)
        index: Index | None = None
        generation = 0
        if newest is not None:
            path, generation = newest
            try:
                index = Index.load(
                    path, key=self.key, match_params=self.match_params, text_lookup=self.store.text
                )
            except CopytraceError as exc:
                log.warning("ignoring unreadable snapshot %s: %s", path, exc)
                index = None
        built = index is None
        if index is None:
            generation = upto  # the build below reads a state at least this new
            index = Index(
                key=self.key,
                k=self.params.k,
                window=self.params.window,
                match_params=self.match_params,
                keep_text=False,
                text_lookup=self.store.text,
            )
            for bank, item_id, fp in self.store.iter_fingerprints(self._banks()):
                index.add(item_id, Fingerprint.parse(fp), bank=bank)
        # The first match loads (or, after an install, compiles) the numba kernels: pay that here, not in
        # the first request.
        index.match("copytrace warms up its matching code before it serves the first request")
        with self._index_lock:
            self._index = index
            self._generation = generation
        applied_before = self.applied_changes
        if generation < upto:
            self._replay(generation, upto)
        replayed = self.applied_changes - applied_before
        log.info(
            "index ready: %d items at generation %d in %.1f s",
            len(index),
            self._generation,
            time.monotonic() - started,
        )
        if built or replayed > max(10_000, len(index) // 10):  # else the old snapshot loads about as fast
            self._save_snapshot()

    def _newest_snapshot(self, upto: int) -> tuple[Path, int] | None:
        stem = self._snapshot_stem()
        if stem is None or not stem.parent.is_dir():
            return None
        prefix = stem.name + "-g"
        found = []
        for p in stem.parent.glob(prefix + "*.npz"):
            try:
                g = int(p.name[len(prefix) : -len(".npz")])
            except ValueError:
                continue
            if g <= upto:
                found.append((g, p))
        if not found:
            return None
        g, p = max(found)
        return p, g

    def _save_snapshot(self) -> None:
        """Save the index for the next start, then drop older snapshots (best effort).

        It runs under the sync lock, so no change is applied meanwhile, and outside the index lock, so
        queries go on while it writes.  One process at a time saves (a lock file): the workers of one
        server would all write the same snapshot.
        """
        index = self._index
        stem = self._snapshot_stem()
        if stem is None or index is None:
            return
        path = stem.with_name(f"{stem.name}-g{self._generation}.npz")
        if path.exists():
            return
        lock = stem.with_name(stem.name + ".saving")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if lock.exists() and time.time() - lock.stat().st_mtime > 600:
                lock.unlink(missing_ok=True)  # left by a process that died while saving
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # another process is saving it
        except OSError as exc:
            log.warning("cannot save an index snapshot to %s: %s", path.parent, exc)
            return
        try:
            with self._index_lock:
                index.compact()
            index.save(path)
        except OSError as exc:
            log.warning("cannot save an index snapshot to %s: %s", path, exc)
            return
        finally:
            lock.unlink(missing_ok=True)
        for old in stem.parent.glob(stem.name + "-g*.npz"):
            if old != path:
                old.unlink(missing_ok=True)

    # -------------------------------------------------------------------------------------- queries
    def match(self, text: str, *, banks: list[str] | None = None, query: str | None = None) -> list[Match]:
        with self._index_lock:
            if self._index is None:
                raise IndexNotReadyError
            return self._index.match(text, banks=banks, query=query)

    def state(self) -> IndexState:
        index = self._index
        with self._index_lock:
            items = len(index) if index is not None else 0
            fps = index.n_fingerprints if index is not None else 0
        return IndexState(
            index is not None,
            items,
            fps,
            self._generation,
            self._store_generation,
            self._last_sync,
            self._error,
        )


class IndexNotReadyError(CopytraceError):
    def __init__(self) -> None:
        super().__init__("the index is still being built; try again shortly")
