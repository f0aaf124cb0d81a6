"""A live index: the index of every bank made with one key and parameters, kept current by following the
store's change feed (the service holds one per process).

On start it loads the newest snapshot it saved before (or builds from the stored fingerprints), then
applies, in order, every change made after the generation it holds: an item added or removed through any
process or instance is applied here within one poll (``poll_seconds``), without rebuilding the index.  A
process that made a change itself calls ``catch_up`` at once, so its own writes are matchable when the
request that made them returns.  Replaying a change twice does no harm (an add replaces, a remove of an
absent item is nothing), which is what makes a snapshot at least as new as its generation safe to load.

While the store is unreachable the index keeps answering from what it holds and the follower retries
until the store is back.

Three promises keep it serving:

- **Nothing stored stops it.** An item whose stored fingerprint cannot be parsed or indexed (a bad import,
  a store written by an older version) is *quarantined*: skipped, logged once with its bank and id, and
  listed in ``state().quarantine``; the build and the follower go on.  Any other failure of the follower
  is logged and the follower starts again (``state().failure`` says why until it succeeds).
- **Queries never wait for each other.** Queries share the index; applying changes takes it alone, and
  leaves it flushed, so a query only reads (see ``shared_lock``).  The numba kernels release the GIL, so
  queries in the server's thread pool run in parallel.
- **Ready means caught up.** ``ready`` turns True only once the index reflects the store's generation as
  read at start; until then ``match`` raises ``IndexNotReadyError`` (503 with ``Retry-After``).

A snapshot is believed only for the store it was made from: it records the store's id and generation
(``origin``), and one of another store (a store deleted and made again at the same URL, a file copied or
linked into the folder) is deleted and the index built from the store, with one warning.  A store replaced
under a running service is noticed at the next poll (its id changed): the index is built again, and not
ready meanwhile.  The snapshot files are kept by ``live_snapshots``; the folder must be private
(``copytrace.banks.cache_dir``); what dead processes left in it is removed at start.  The mapped snapshot
is checked at every poll: if another program truncated or rewrote it, the index stops answering from it and
is built again (``docs/service.md``: a query that touches a truncated page first dies of SIGBUS, and how
the service recovers from that).
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..errors import CopytraceError
from ..fingerprints.fingerprint import Fingerprint, FingerprintParams, fingerprint
from ..fingerprints.keys import Key
from ..index import Index
from ..index.match import DEFAULT_MATCH_PARAMS, Match, MatchParams
from ..index.snapshot import SnapshotError, StaleSnapshotError
from ..numba_start import load_kernel_support
from ..store.feed import Change, changes_since
from .build import build_in_memory, build_snapshot, origin
from .cache_dir import remove_orphans
from .catch_up import apply_changes
from .catch_up import reason as _reason
from .live_snapshots import LiveSnapshots, Mapped, read_quarantine, write_quarantine
from .live_tokens import LiveTokens
from .shared_lock import SharedLock
from .store import Store
from .texts import BatchTexts

log = logging.getLogger("copytrace.service")

_WARM_UP = "copytrace warms up its matching code before it serves the first request"
_CHUNK = 2000  # changes applied per hold of the index lock, so queries interleave with a long catch-up
# Banks whose mask of items (a byte an item) a worker makes before it serves, for the versions an item
# added to them links to: the first post to a bank of 1,000,000 items made it, 4-10 ms in-process.
_WARM_BANKS = 16
# How long a worker's start waits for another writer's SQLite lock to compile the statements of a change
# (``LiveIndex._warm_up_store``): another worker's warm-up holds it for milliseconds.
_STORE_WARM_UP_WAIT = 1.0
_QUARANTINE_LISTED = 50  # quarantined items named in ``state()`` (all are counted)


@dataclass(frozen=True)
class QuarantinedItem:
    """A stored item the index cannot hold, and why."""

    bank: str
    item_id: str
    reason: str


@dataclass(frozen=True)
class IndexState:
    ready: bool  # loaded and caught up with the store's generation as of start
    items: int
    fingerprints: int
    generation: int  # the store generation the index reflects
    store_generation: int | None  # last read from the store (None: never reached)
    last_sync: float | None  # time.time() of the last successful catch-up
    error: str | None  # the last failure of the follower, until a catch-up succeeds
    failure: str | None = None  # that failure, when it was not the store being unreachable
    restarts: int = 0  # times the follower failed and started again
    quarantined: int = 0  # stored items skipped because they cannot be indexed
    quarantine: tuple[QuarantinedItem, ...] = field(default=())  # the first few of them
    max_lag_seconds: float = 5.0  # behind the store for longer than this, the index is lagging

    def lagging(self, store_generation: int, now: float) -> bool:
        """Whether the index is behind ``store_generation`` and has not caught up for ``max_lag_seconds``."""
        if store_generation <= self.generation:
            return False
        return self.last_sync is None or now - self.last_sync > self.max_lag_seconds


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
        max_lag_seconds: float | None = None,
    ) -> None:
        self.store = store
        self.texts = BatchTexts(store)  # the matched items' and quote candidates' texts, a batch at a time
        self.key = key
        self.params = FingerprintParams(k=k, window=window, key_id=key.key_id)
        self.match_params = match_params
        self.poll_seconds = poll_seconds
        self.max_lag_seconds = max(5.0, 10 * poll_seconds) if max_lag_seconds is None else max_lag_seconds
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self.snapshots = LiveSnapshots(self.snapshot_dir, store.url, self.params)
        self._store_id: str | None = None  # the store the index was built from
        self._mapped: Mapped | None = None  # the snapshot file the index maps, watched at every poll
        self._index: Index | None = None
        self._ready = False
        self._generation = 0
        self._store_generation: int | None = None
        self._last_sync: float | None = None
        self._error: str | None = None
        self._failure: str | None = None
        self.restarts = 0
        self._our_banks: set[str] = set()  # banks made with ``params``: the others' changes are skipped
        self._phrase_banks: set[str] = set()  # phrase banks: their items are reported as phrases only
        self._quarantine: dict[tuple[str, str], str] = {}
        self._index_lock = SharedLock()  # the index: queries share it, changes take it alone
        self._sync_lock = threading.Lock()  # one catch-up at a time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied_changes = 0
        self.tokens = LiveTokens(self)  # the token sidecar of the mapped snapshot, for the quote pass

    # -------------------------------------------------------------------------------------------- life
    def start(self) -> None:
        """Load or build the index in the background and follow the feed until ``stop``.

        From then on, items added through this process's store find the versions they link to in this
        index (``Store.find_versions``) instead of building one from the store.
        """
        self.store.find_versions = self.versions_of
        if not faulthandler.is_enabled():  # a SIGBUS from a truncated snapshot then says so on stderr
            faulthandler.enable()
        self._thread = threading.Thread(target=self._run, name="copytrace-index-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following, and stop a token sidecar write in progress (its temporary file removed): each
        is waited for up to 10 s."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if not self.tokens.join():
            log.warning("the token sidecar's writer did not stop in time: it goes on in the background")

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the index has caught up with the store as of start; False after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self._ready and time.monotonic() < deadline:
            time.sleep(0.02)
        return self._ready

    def _run(self) -> None:
        load_kernel_support()
        backoff = self.poll_seconds
        while not self._stop.is_set():
            try:
                self.catch_up()
                backoff = self.poll_seconds
            except (SQLAlchemyError, CopytraceError, OSError) as exc:
                self._error = _reason(exc)
                log.warning("index follower: store unreachable (%s); retrying", self._error)
                backoff = min(5.0, backoff * 2)
            except Exception as exc:  # the follower must outlive any fault: report it and start again
                self._error = self._failure = _reason(exc)
                self.restarts += 1
                log.exception("index follower failed (%s); starting it again", self._failure)
                backoff = min(5.0, backoff * 2)
            self._wake.wait(backoff)
            self._wake.clear()

    # ------------------------------------------------------------------------------------- following
    def catch_up(self) -> int:
        """Apply every change committed so far; returns the generation now reflected."""
        with self._sync_lock:
            store_id, upto = self.store.identity()
            if self._index is not None and store_id != self._store_id:
                log.warning(
                    "the store at %s was replaced by another store (id %s, was %s): building the index again",
                    self.store.url,
                    store_id[:8],
                    (self._store_id or "?")[:8],
                )
                self._drop_index()
            elif self._index is not None and self._mapped is not None and self._mapped.changed():
                log.warning(
                    "the index snapshot %s was changed by another program while mapped (%s): building "
                    "the index again from the store",
                    self._mapped.path,
                    self._mapped.changed(),
                )
                self._mapped.set_aside()
                self._drop_index()
            if self._index is None:
                self._store_id = store_id
                self._load_or_build(upto)
            elif upto > self._generation:
                self._replay(self._generation, upto)
            self._store_generation = upto
            self._last_sync = time.time()
            self._error = self._failure = None
            if self._ready and threading.current_thread() is self._thread:
                # the follower's own polls only: taking a sidecar up (mapping and checking it, loading
                # its kernel) costs tens of milliseconds, which a request's catch-up would wait for
                self.tokens.poll(self._index, self._mapped, self._generation)
            return self._generation

    def _drop_index(self) -> None:
        """Stop answering from the index (``match`` is not ready until it is built again), and free it.

        An index holds reference cycles (its contents and their families), so only a collection frees it:
        one runs here, or the old index would stay alive through the whole build of the next, which runs
        with the collector paused (``collector_paused``), and memory would hold both."""
        self._ready = False
        with self._index_lock.exclusive():  # waits for the queries in progress
            self._index = None
            self._map(None)
            self._quarantine = {}
        gc.collect()

    def _map(self, path: Path | None) -> None:
        """Note that the index now maps the snapshot at ``path`` (None: it is held in memory), to watch it."""
        if self._mapped is not None:
            self._mapped.close()
        self._mapped = None if path is None else Mapped.watch(path)

    def _origin(self, generation: int) -> dict[str, object]:
        """What a snapshot of this index records of its source: checked before one is mapped."""
        return origin(self._store_id or "", generation, "*", self.params)

    def _replay(self, after: int, upto: int) -> None:
        batch: list[Change] = []
        for change in changes_since(self.store, after, upto):
            batch.append(change)
            if len(batch) >= _CHUNK:
                self._apply(batch)
                batch = []
        self._apply(batch)
        self._generation = upto

    def _apply(self, changes: list[Change]) -> None:
        if any(c.op in ("create_bank", "drop_bank") or c.bank not in self._our_banks for c in changes):
            self._our_banks = set(self._banks())  # read before taking the lock: queries go on meanwhile
            self._phrase_banks = self.store.phrase_banks()
        with self._index_lock.exclusive():
            index = self._index
            assert index is not None
            self.applied_changes += apply_changes(
                index,
                changes,
                params=self.params,
                banks=self._our_banks,
                phrase_banks=self._phrase_banks,
                quarantined=self._quarantine,
                on_unindexable=self._quarantine_item,
            )
            _ = index.n_fingerprints  # merges pending additions now, so that queries only read the index

    def _banks(self) -> list[str]:
        return [name for name, p in self.store.bank_params().items() if p == self.params]

    def _stem(self) -> Path | None:
        return self.snapshots.stem(self._store_id)

    def _load_or_build(self, upto: int) -> None:
        """Map the newest snapshot, or build the index from the store, save it as a snapshot and map that.

        The workers of one server start together: the first takes the snapshot lock and builds while the
        others wait for it, then every one of them maps the same file (one copy of the postings in memory).
        A snapshot that cannot be read (damaged, truncated, of another format) is set aside with a warning
        and the index is built again from the store: a snapshot is a cache, never the record."""
        started = time.monotonic()
        stem = self._stem()
        with self.snapshots.lock(stem, wait=True) as locked:
            if locked and stem is not None:
                remove_orphans(stem.parent)
                self.snapshots.remove_other_stores(stem)
            index, generation = self._load_newest(upto)
            if locked and stem is not None:  # a stale or damaged one it set aside left its sidecar
                self.snapshots.drop_orphan_sidecars(stem)
            built = index is None
            self._our_banks = set(self._banks())
            self._phrase_banks = self.store.phrase_banks()
            if index is None:
                generation = upto  # the build below reads a state at least this new
                index = self._build(locked, generation)
        # The first match loads (or, after an install, compiles) the numba kernels: pay that here, not in
        # the first request.  It also merges the additions, so queries only read the index.
        index.match(_WARM_UP)
        self._warm_up_match(index)
        self._warm_up_changes(index)
        self._warm_up_store()
        with self._index_lock.exclusive():
            self._index = index
            self._generation = generation
        applied_before = self.applied_changes
        if generation < upto:
            self._replay(generation, upto)
        replayed = self.applied_changes - applied_before
        self._ready = True  # caught up with the store as of start
        log.info(
            "index ready: %d items at generation %d in %.1f s (%d quarantined)",
            len(index),
            self._generation,
            time.monotonic() - started,
            len(self._quarantine),
        )
        if (built and not locked) or replayed > max(10_000, len(index) // 10):
            self._save_snapshot()  # else the old snapshot loads about as fast

    def _build(self, locked: bool, generation: int) -> Index:
        """The index of every stored item of our banks (``build``): written straight to the snapshot of
        ``generation`` (the store's, read before) and mapped when this process holds the snapshot lock, else
        built in memory.  An item whose stored fingerprint or phrase cannot be used is quarantined.

        Python's cyclic collector is paused meanwhile (``collector_paused``): the rows read and the arrays
        made are freed as their last reference goes, and the collections that the millions of rows set off
        each traversed all that the process held (at 1,000,000 items 125 collections of over 1 ms, 2.1 s
        in all, 1.5 s of it full collections; 4.1 s before the supervisor froze what it loaded)."""
        with collector_paused():
            return self._build_index(locked, generation)

    def _build_index(self, locked: bool, generation: int) -> Index:
        def bad(bank: str, item_id: str, exc: CopytraceError) -> None:
            self._quarantine_item(bank, item_id, _reason(exc))

        stem = self._stem()
        if locked and stem is not None:
            path = self.snapshots.path(stem, generation)
            try:
                build_snapshot(
                    self.store,
                    path,
                    self.params,
                    self._our_banks,
                    phrase_banks=self._phrase_banks,
                    origin=self._origin(generation),
                    on_bad=bad,
                )
                write_quarantine(path, self._quarantine)
                index = Index.load(
                    path,
                    key=self.key,
                    match_params=self.match_params,
                    text_lookup=self.texts,
                    origin=self._origin(generation),
                )
                self._map(path)
                return index
            except (OSError, SnapshotError) as exc:
                log.warning("cannot write an index snapshot to %s (building in memory): %s", path, exc)
        index = build_in_memory(
            self.store,
            self.params,
            self._our_banks,
            key=self.key,
            match_params=self.match_params,
            phrase_banks=self._phrase_banks,
            on_bad=bad,
        )
        self._map(None)
        return index

    def _warm_up_match(self, index: Index) -> None:
        """Match the text of one banked item, as a query that finds it: the first such match through a
        worker compiled the statements that read the texts of the items matched and quoted (``store.text``,
        ``texts_of``) and made the quote pass's cache, 25-35 ms of CPU more than the next match (in-process,
        100,000 items), in the worker's first second of service beside the first posts.  Best effort: an
        item without a stored text (among the first few) or a store that cannot answer now leaves it to the
        first query, as before."""
        try:
            for n, (bank, item_id) in enumerate(index.items()):
                if n == 8:
                    return
                if bank in self._phrase_banks:
                    continue
                text = self.texts(bank, item_id)
                if text:
                    index.match(text)
                    return
        except (SQLAlchemyError, CopytraceError) as exc:
            log.warning("cannot read a banked item's text to warm up matching (%s)", _reason(exc))

    def _warm_up_changes(self, index: Index) -> None:
        """Load the kernels that adding an item runs: reading its stored fingerprint, looking its name up
        in ``index`` and its versions in each bank (up to ``_WARM_BANKS``; both only read), linking it
        against the other items of its call, adding it and removing one (on scratch indexes, not the live
        one).  The first item added through a worker loaded seven kernels (0.4 s at 1,000,000 items: its
        p99); three remain, of calls whose arrays differ then."""
        fp = Fingerprint.parse(
            str(fingerprint(_WARM_UP, key=self.key, k=self.params.k, window=self.params.window))
        )
        _ = ("warm-up", "copytrace-warm-up") in index
        index._contents.make_room()  # the first change then copies no array sized for the snapshot
        for bank in sorted(self._our_banks)[:_WARM_BANKS]:
            index.versions_of(fp, bank=bank)  # makes the mask of the bank's items that linking searches
        for n in (1, 2):  # one item, as most adds; two, which link to each other
            scratch = Index.for_params(self.params, match_params=self.match_params)
            scratch.add_many([(f"i{i}", fp) for i in range(n)], bank="warm-up")
            scratch.versions_of(fp, bank="warm-up")
        scratch.add("c", fp, bank="warm-up", links=["i0"])  # the follower applying an add
        _ = scratch.n_fingerprints
        scratch.remove("c", bank="warm-up")

    def _warm_up_store(self) -> None:
        """Compile the statements an add and a removal run (``Store.warm_up``): the first item a worker
        stored spent 20-60 ms compiling them.  Best effort: a store that cannot take it now compiles them
        at its first change, as before.

        The warm-up writes in a transaction it rolls back, and on SQLite it fails at once when another
        writer holds the lock.  The workers of one server map their snapshot and warm up at the same moment,
        so one of them often found the other's warm-up holding it (in two of six starts at 100,000 items)
        and compiled the statements in its first post.  A warm-up refused for the lock is tried again, after
        5, 10, 20 ... ms (each with a random share, so that two workers do not meet again), for up to
        ``_STORE_WARM_UP_WAIT`` seconds from the first refusal (the first try may first load kernels, a
        second or more on a loaded machine, which is not waiting for the lock): the other worker's holds it
        for milliseconds; a longer holder (a bulk import's chunk) lets the start go on without."""
        deadline: float | None = None
        pause = 0.005
        while True:
            try:
                self.store.warm_up()
                return
            except OperationalError as exc:
                if deadline is None:
                    deadline = time.monotonic() + _STORE_WARM_UP_WAIT
                if _locked(exc) and time.monotonic() + pause < deadline:
                    time.sleep(pause * (0.5 + random.random()))
                    pause = min(2 * pause, 0.2)
                    continue
                log.warning("cannot prepare the store's statements before serving (%s)", _reason(exc))
                return
            except (SQLAlchemyError, CopytraceError) as exc:
                log.warning("cannot prepare the store's statements before serving (%s)", _reason(exc))
                return

    def _quarantine_item(self, bank: str, item_id: str, reason: str) -> None:
        if (bank, item_id) not in self._quarantine:
            log.warning("quarantined item %r of bank %r: cannot index it: %s", item_id, bank, reason)
        self._quarantine[(bank, item_id)] = reason

    def _load_newest(self, upto: int) -> tuple[Index | None, int]:
        """The newest snapshot at most ``upto`` mapped, with its generation; (None, 0) if there is none
        that reads."""
        newest = self.snapshots.newest(self._stem(), upto)
        if newest is None:
            return None, 0
        path, generation = newest
        try:
            index = Index.load(
                path,
                key=self.key,
                match_params=self.match_params,
                text_lookup=self.texts,
                origin=self._origin(generation),
            )
        except StaleSnapshotError as exc:
            log.warning("deleting snapshot %s (building the index from the store): %s", path, exc)
            try:
                path.unlink()
            except OSError as remove:
                log.warning("cannot delete the snapshot of another store: %s", remove)
            return None, 0
        except CopytraceError as exc:
            log.warning("ignoring unreadable snapshot %s (building the index from the store): %s", path, exc)
            try:
                path.replace(path.with_name(path.name + ".damaged"))  # not tried again; kept for a look
            except OSError as move:
                log.warning("cannot set the unreadable snapshot aside: %s", move)
            return None, 0
        self._quarantine = read_quarantine(path)
        self._map(path)
        return index, generation

    def _save_snapshot(self) -> None:
        """Save the index for the next start and map it in place of the one in memory (best effort).

        It runs under the sync lock, so no change is applied meanwhile, and shares the index lock with
        queries, so they go on while it writes.  One process at a time saves (the snapshot lock): the
        workers of one server would all write the same snapshot.
        """
        index = self._index
        if index is None:
            return
        with self.snapshots.lock(self._stem(), wait=False) as locked:
            if not locked:
                return  # another process is saving it
            carry = self.tokens.carry(index, self._mapped)  # the old sidecar, for the new one's write
            with self._index_lock.exclusive():
                index.compact()
            with self._index_lock.shared():  # after ``compact`` saving only reads the index
                mapped = self._save_and_map(index, self._generation)
            self.tokens.carry_to(carry if mapped is not index else None)
            mapped._contents.make_room()
            with self._index_lock.exclusive():
                self._index = mapped

    def _save_and_map(self, index: Index, generation: int) -> Index:
        """Save ``index`` as the snapshot of ``generation`` (the caller holds the snapshot lock), drop older
        ones, and return the saved file mapped (or ``index`` itself if it cannot be saved).

        Quarantined items are not in the index, so not in the snapshot: a start from it does not list them
        again (their changes are older), so they are written beside it."""
        stem = self._stem()
        if stem is None:
            return index
        path = self.snapshots.path(stem, generation)
        source = self._origin(generation)
        try:
            if not path.exists():
                index.save(path, origin=source)
                write_quarantine(path, self._quarantine)
            mapped = Index.load(
                path, key=self.key, match_params=self.match_params, text_lookup=self.texts, origin=source
            )
        except (OSError, CopytraceError) as exc:
            log.warning("cannot save an index snapshot to %s: %s", path, exc)
            return index
        self._map(path)
        self.snapshots.drop_others(stem, path)
        return mapped

    # -------------------------------------------------------------------------------------- queries
    def match(
        self,
        text: str,
        *,
        banks: list[str] | None = None,
        query: str | None = None,
        per_family: bool = True,
    ) -> list[Match]:
        """Match ``text``; raises ``IndexNotReadyError`` until the index has caught up as of start.

        Queries share the index lock: any number run at once, and only a change waits for them."""
        if not self._ready:
            raise IndexNotReadyError
        with self._index_lock.shared():
            index = self._index
            if index is None:  # dropped meanwhile, to be built again
                raise IndexNotReadyError
            self.tokens.check(index._contents)  # its sidecar truncated: dropped before it is read
            return index.match(text, banks=banks, query=query, per_family=per_family)

    def match_many(
        self,
        texts: list[str],
        *,
        banks: list[str] | None = None,
        queries: list[str | None] | None = None,
        per_family: bool = True,
    ) -> list[list[Match]]:
        """``match`` of each of ``texts`` in one compiled call (``Index.match_many``)."""
        if not self._ready:
            raise IndexNotReadyError
        with self._index_lock.shared():
            index = self._index
            if index is None:
                raise IndexNotReadyError
            self.tokens.check(index._contents)
            return index.match_many(texts, banks=banks, queries=queries, per_family=per_family)

    def versions_of(self, bank: str, fp: Fingerprint) -> list[str] | None:
        """Ids of the items of ``bank`` that ``fp`` is a version of, or None when this index cannot tell
        (still loading, or a bank made with other parameters): the store then builds its own."""
        if not self._ready or fp.params != self.params or bank not in self._our_banks:
            return None
        with self._index_lock.shared():
            index = self._index
            return None if index is None else index.versions_of(fp, bank=bank)

    def state(self) -> IndexState:
        with self._index_lock.shared():
            index = self._index
            items = len(index) if index is not None else 0
            fps = index.n_fingerprints if index is not None else 0
            quarantine = list(self._quarantine.items())
        listed = tuple(QuarantinedItem(b, i, r) for (b, i), r in quarantine[:_QUARANTINE_LISTED])
        return IndexState(
            self._ready,
            items,
            fps,
            self._generation,
            self._store_generation,
            self._last_sync,
            self._error,
            failure=self._failure,
            restarts=self.restarts,
            quarantined=len(quarantine),
            quarantine=listed,
            max_lag_seconds=self.max_lag_seconds,
        )


def _locked(exc: OperationalError) -> bool:
    """Whether ``exc`` is SQLite's refusal because another connection holds the lock (``SQLITE_BUSY``)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)  # an extended code: SQLITE_BUSY in its low byte
    if isinstance(code, int):
        return code & 0xFF == sqlite3.SQLITE_BUSY
    return "database is locked" in str(exc.orig)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused (``gc.disable``) meanwhile, as it was after: objects are
    still freed as their last reference goes; garbage held in reference cycles waits until after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class IndexNotReadyError(CopytraceError):
    def __init__(self) -> None:
        super().__init__("the index is still loading or catching up with the store; try again shortly")
