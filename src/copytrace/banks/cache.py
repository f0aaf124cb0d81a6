"""The store's cached index snapshots: named for the store and the banks, caught up with the change feed.

``build_index`` would read every stored fingerprint at each command; instead the snapshot of the banks is
saved under ``$COPYTRACE_CACHE`` (default ``$XDG_CACHE_HOME/copytrace``) for the store's generation g, and a
later command maps it and replays the changes made after g (``catch_up``: the store's change feed) into the
index's delta, so a change to a bank costs what the change costs, not a rebuild.  When the changes replayed
outgrow a fraction of the snapshot's items, or 2,000 changes in a large bank (``compact_after``: every
command replays them all), the command starts a detached process
that writes the snapshot of the current generation (``compact``: it takes the cache's build lock; the
command does not wait for it); ``copytrace store compact`` does the same at once.  Changes too many to be
worth replaying (``rebuild_fraction``: a bulk add) are not: the command builds the index again, as before.

A snapshot records the store's id, its generation, the banks and their parameters (``build.origin``) and is
used only when all of them are the store's: a store deleted and made again at the same path, or a snapshot
of another store copied or linked there, is rebuilt, with one warning; so is a snapshot whose generation
the change feed no longer reaches back to (``catch_up.feed_reaches``).  ``prune`` deletes the snapshots a
newer one of the same banks supersedes.  The folder must be private (``cache_dir.private_folder``);
otherwise the index is built in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import CopytraceError
from ..fingerprints.fingerprint import FingerprintParams
from ..fingerprints.keys import Key
from ..index import Index
from ..index.match import MatchParams
from ..store.feed import changes_since
from ..store.store import Store, quarantine
from .build import build_in_memory, build_snapshot, origin
from .cache_dir import held_lock, private_folder, remove_orphans
from .catch_up import apply_changes, pending_changes

log = logging.getLogger("copytrace.store")

_SUFFIX = ".ctidx"
_TRIES = 3  # snapshots looked for again when the one found was replaced meanwhile (compacted, pruned)
# What the detached compaction runs: the store's URL is passed in the environment, never on the command line.
_COMPACT_CODE = "from copytrace.banks.cache import compact_main; compact_main()"


class SnapshotCache:
    """The cached snapshots of one store's banks."""

    compact_fraction = 0.01
    """Changes replayed, as a share of the snapshot's items, past which a new snapshot is written: replaying
    a change costs a few times what building the index costs per item (0.2 ms against 0.05 ms at
    100,000 items), so 1% keeps the replay under a tenth of a rebuild..."""
    compact_minimum = 200
    """...and at least this many changes: replaying fewer costs less than starting a process..."""
    compact_maximum = 2_000
    """...and at most this many: every command replays them all, at about 0.2 ms each whatever the size of
    the bank, so 1% of a million items (10,000 changes, 2 s) would make every command after a run of
    single adds slower than a rebuild's share is worth; 2,000 keep the replay within about 0.4 s, and the
    compaction (a rebuild, in the background) runs once per 2,000 changes at most."""
    rebuild_fraction = 0.1
    """Changes to replay, as a share of the snapshot's items, past which the command builds the index again
    instead (after a bulk add, say): replaying them would take about as long."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._checked: bool | None = None  # whether the folder may be used, once checked
        self.replayed = 0  # changes the last ``index`` replayed from the feed (0: loaded or built as is)
        self.compaction: subprocess.Popen[bytes] | None = None  # the last background compaction started

    def folder(self) -> Path:
        return Path(
            os.environ.get("COPYTRACE_CACHE")
            or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "copytrace"
        )

    def usable(self) -> bool:
        """Whether the folder is private (``cache_dir.private_folder``), checked once per store opened,
        when the files dead processes left there are also removed."""
        if self._checked is None:
            folder = self.folder()
            self._checked = private_folder(folder)
            if self._checked:
                remove_orphans(folder)
        return self._checked

    def prefix(self) -> str:
        """``index-<digest of the store's URL>-``: the start of the name of every index it caches."""
        return f"index-{hashlib.sha256(self.store.url.encode()).hexdigest()[:12]}-"

    def stem(self, names: list[str], params: FingerprintParams, store_id: str) -> str:
        """The name of the snapshots of ``names`` of the store ``store_id``, without ``-g<generation>``."""
        digest = hashlib.sha256(f"{self.store.url}|{sorted(names)}|{params}".encode()).hexdigest()[:12]
        return f"{self.prefix()}{store_id[:12]}-{digest}"

    def path(self, names: list[str], params: FingerprintParams, generation: int, store_id: str) -> Path:
        """Where the snapshot of ``names`` at ``generation`` of the store ``store_id`` is cached."""
        return self.folder() / f"{self.stem(names, params, store_id)}-g{generation}{_SUFFIX}"

    def newest(
        self, names: list[str], params: FingerprintParams, store_id: str, upto: int
    ) -> tuple[Path, int] | None:
        """The cached snapshot of ``names`` of the newest generation at most ``upto``, with its generation."""
        stem = self.stem(names, params, store_id)
        found = [(g, p) for p, g in _generations(self.folder().glob(f"{stem}-g*{_SUFFIX}")) if g <= upto]
        if not found:
            return None
        generation, path = max(found)
        return path, generation

    def index(
        self,
        names: list[str],
        params: FingerprintParams,
        key: Key | None,
        match_params: MatchParams,
        *,
        cache: bool = True,
    ) -> Index:
        """The index of ``names`` (made with ``params``): the newest cached snapshot caught up with the
        changes made since, or built and cached when there is none the store's change feed reaches.

        Without ``key`` it matches fingerprints only (``Index.for_params``): enough to link new items.
        """
        store = self.store
        self.replayed = 0
        store_id, generation = store.identity()
        source = origin(store_id, generation, names, params)
        path = self.path(names, params, generation, store_id) if cache and self.usable() else None
        if path is not None:
            found = self._caught_up(names, params, key, match_params, store_id, generation)
            if found is not None:
                return found
        phrase_banks = store.phrase_banks()
        if path is not None:
            try:
                build_snapshot(
                    store, path, params, names, phrase_banks=phrase_banks, origin=source, on_bad=quarantine
                )
                self.prune(generation)
                return Index.load(
                    path, key=key, match_params=match_params, text_lookup=store.text, origin=source
                )
            except OSError as exc:  # a read-only or full cache is no reason to fail: build in memory
                log.warning("cannot cache the index in %s: %s", path.parent, exc)
        return build_in_memory(
            store,
            params,
            names,
            key=key,
            match_params=match_params,
            phrase_banks=phrase_banks,
            on_bad=quarantine,
        )

    def _caught_up(
        self,
        names: list[str],
        params: FingerprintParams,
        key: Key | None,
        match_params: MatchParams,
        store_id: str,
        upto: int,
    ) -> Index | None:
        """The newest snapshot of ``names`` mapped and brought to generation ``upto`` from the change feed;
        None when there is none it may be (then the caller builds one)."""
        for _ in range(_TRIES):
            newest = self.newest(names, params, store_id, upto)
            if newest is None:
                return None
            path, generation = newest
            pending = pending_changes(self.store, generation, upto)
            if pending is None:
                log.warning(
                    "rebuilding the cached index %s: the store's change feed no longer reaches back to its "
                    "generation %d",
                    path.name,
                    generation,
                )
                return None
            source = origin(store_id, generation, names, params)
            try:
                index = Index.load(
                    path, key=key, match_params=match_params, text_lookup=self.store.text, origin=source
                )
            except (CopytraceError, OSError) as exc:  # unreadable, stale, or replaced meanwhile
                if not os.path.lexists(path):
                    continue  # a newer snapshot replaced it: look again
                log.warning("rebuilding the cached index %s: %s", path.name, exc)
                _discard(path)
                return None
            if pending > max(self.compact_minimum, self.rebuild_fraction * len(index)):
                return None  # replaying them would take longer than building the index again
            if generation < upto:
                self.replayed = self._replay(index, names, params, generation, upto)
                if self.replayed > self.compact_after(len(index)):
                    self.compact_in_background(names, params)
            return index
        return None

    def compact_after(self, n_items: int) -> int:
        """How many changes replayed onto a snapshot of ``n_items`` items start its compaction: a share of
        its items (``compact_fraction``), at least ``compact_minimum``, at most ``compact_maximum``."""
        share = int(self.compact_fraction * n_items)
        return max(self.compact_minimum, min(self.compact_maximum, share))

    def _replay(
        self, index: Index, names: list[str], params: FingerprintParams, after: int, upto: int
    ) -> int:
        """Apply the changes with ``after < generation <= upto`` to ``index``; returns how many."""

        def unindexable(bank: str, item_id: str, why: str) -> None:
            log.warning(
                "skipped item %r of bank %r: its stored fingerprint cannot be used: %s", item_id, bank, why
            )

        return apply_changes(
            index,
            changes_since(self.store, after, upto),
            params=params,
            banks=set(names),
            phrase_banks=self.store.phrase_banks(),
            quarantined={},
            on_unindexable=unindexable,
        )

    # ------------------------------------------------------------------------------------- compaction
    @contextlib.contextmanager
    def build_lock(self, names: list[str], params: FingerprintParams, *, wait: bool) -> Iterator[bool]:
        """Hold the build lock of the snapshots of ``names`` (an ``flock`` the system drops if its process
        dies): yields whether it is held; ``wait`` blocks while another process holds it."""
        lock = self.folder() / f"{self.stem(names, params, self.store.store_id)}.lock"
        with held_lock(lock, wait=wait, what="cache folder") as held:
            yield held

    def compact(self, names: list[str], params: FingerprintParams, *, wait: bool = True) -> Path | None:
        """Write the snapshot of ``names`` at the store's current generation (unless it is there), under the
        build lock, and delete the ones it supersedes; returns its path.  None when the cache folder cannot
        be used, or, without ``wait``, when another process holds the lock (it is compacting them)."""
        if not self.usable():
            return None
        with self.build_lock(names, params, wait=wait) as held:
            if not held:
                return None
            store_id, generation = self.store.identity()
            path = self.path(names, params, generation, store_id)
            if not path.exists():
                build_snapshot(
                    self.store,
                    path,
                    params,
                    names,
                    phrase_banks=self.store.phrase_banks(),
                    origin=origin(store_id, generation, names, params),
                    on_bad=quarantine,
                )
            self.prune(generation)
            return path

    def compact_in_background(self, names: list[str], params: FingerprintParams) -> None:
        """Start a detached process that runs ``compact`` of ``names``, unless one holds the build lock.

        The command does not wait for it: ``sh`` starts it in the background and exits, so it is nobody's
        child to reap and outlives the command; it writes nothing to the command's output."""
        with self.build_lock(names, params, wait=False) as free:
            if not free:
                return  # being compacted
        command = [sys.executable, "-c", _COMPACT_CODE, json.dumps(sorted(names)), str(params)]
        env = {**os.environ, "COPYTRACE_DB": self.store.url}
        try:
            self.compaction = subprocess.Popen(
                ["/bin/sh", "-c", '"$@" </dev/null >/dev/null 2>&1 &', "sh", *command],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C of the command does not stop it
            )
            self.compaction.wait()
        except OSError as exc:
            log.warning("cannot start compacting the cached index in the background: %s", exc)

    def prune(self, generation: int | None = None, *, superseded: bool = True) -> int:
        """Delete this store's cached indexes that a newer one of the same banks, of a generation at most
        ``generation`` (default: the store's current one), supersedes, and those of a store that was at its
        URL before (another store id); returns how many.  Without ``superseded``, every one of a generation
        older than ``generation`` goes (a bank was deleted: the next command rebuilds)."""
        if not self.usable():
            return 0
        if generation is None:
            generation = self.store.generation()
        ours = f"{self.prefix()}{self.store.store_id[:12]}-"
        folder = self.folder()
        stale: list[Path] = list(folder.glob(f"{self.prefix()}*-g*.npz"))  # the format before
        kept: dict[str, int] = {}
        mine: list[tuple[Path, str, int]] = []
        for path, g in _generations(folder.glob(f"{self.prefix()}*-g*{_SUFFIX}")):
            stem = path.name.rsplit("-g", 1)[0]
            if not path.name.startswith(ours):
                stale.append(path)
            elif g < generation or (g == generation and superseded):
                mine.append((path, stem, g))
                kept[stem] = max(kept.get(stem, -1), g) if superseded else generation
        stale += [path for path, stem, g in mine if g < kept[stem]]
        n = 0
        for path in stale:
            try:
                path.unlink()
                n += 1
            except FileNotFoundError:
                continue  # another process pruned it first
            except OSError as exc:
                log.warning("cannot delete the stale cached index %s: %s", path, exc.strerror)
        return n


def _generations(paths: Iterator[Path]) -> Iterator[tuple[Path, int]]:
    """Each of ``paths`` (``...-g<generation>.ctidx``) with its generation; other names are skipped."""
    for path in paths:
        tail = path.name.rsplit("-g", 1)[-1].removesuffix(_SUFFIX)
        if tail.isdigit():
            yield path, int(tail)


def _discard(path: Path) -> None:
    """Remove what is at ``path`` (a file, a link, a FIFO) if it can be: it is rebuilt in its place."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc.strerror or exc)


def compact_main() -> None:
    """The detached compaction (``compact_in_background``): ``argv[1:]`` = banks as JSON, parameters;
    the store's URL in ``$COPYTRACE_DB``."""
    names, params = json.loads(sys.argv[1]), FingerprintParams.parse(sys.argv[2])
    try:
        store = Store(os.environ["COPYTRACE_DB"], create=False, migrate=False)
        try:
            SnapshotCache(store).compact(names, params, wait=False)
        finally:
            store.close()
    except (CopytraceError, OSError) as exc:  # nobody reads its output: the next command tries again
        log.warning("compacting the cached index failed: %s", exc)
        sys.exit(1)
