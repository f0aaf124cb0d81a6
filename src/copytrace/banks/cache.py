"""The store's cached index snapshots: named for the store and the banks, believed for one generation.

``build_index`` would read every stored fingerprint at each command; instead the snapshot of the banks is
saved under ``$COPYTRACE_CACHE`` (default ``$XDG_CACHE_HOME/copytrace``) for the store's current generation
and mapped until the store changes.  A snapshot records the store's id, its generation, the banks and their
parameters (``build.origin``) and is used only when all of them are the store's now: a store deleted and
made again at the same path, or a snapshot of another store copied or linked there, is rebuilt, with one
warning.  Every change raises the generation, so older snapshots are never loaded again: ``prune`` deletes
them.  The folder must be private (``cache_dir.private_folder``); otherwise the index is built in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from ..errors import CopytraceError
from ..fingerprints.fingerprint import FingerprintParams
from ..fingerprints.keys import Key
from ..index import Index
from ..index.match import MatchParams
from ..store.store import Store, quarantine
from .build import build_in_memory, build_snapshot, origin
from .cache_dir import private_folder, remove_orphans

log = logging.getLogger("copytrace.store")


class SnapshotCache:
    """The cached snapshots of one store's banks."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._checked: bool | None = None  # whether the folder may be used, once checked

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

    def path(self, names: list[str], params: FingerprintParams, generation: int, store_id: str) -> Path:
        """Where the snapshot of ``names`` at ``generation`` of the store ``store_id`` is cached."""
        digest = hashlib.sha256(f"{self.store.url}|{sorted(names)}|{params}".encode()).hexdigest()[:12]
        return self.folder() / f"{self.prefix()}{store_id[:12]}-{digest}-g{generation}.ctidx"

    def index(
        self,
        names: list[str],
        params: FingerprintParams,
        key: Key | None,
        match_params: MatchParams,
        *,
        cache: bool = True,
    ) -> Index:
        """The index of ``names`` (made with ``params``), from the cache when the store has not changed since.

        Without ``key`` it matches fingerprints only (``Index.for_params``): enough to link new items.
        """
        store = self.store
        store_id, generation = store.identity()
        source = origin(store_id, generation, names, params)
        path = self.path(names, params, generation, store_id) if cache and self.usable() else None
        if path is not None and os.path.lexists(path):
            try:
                return Index.load(
                    path, key=key, match_params=match_params, text_lookup=store.text, origin=source
                )
            except (CopytraceError, OSError) as exc:  # unreadable, stale, or pruned meanwhile: rebuild it
                if os.path.lexists(path):
                    log.warning("rebuilding the cached index %s: %s", path.name, exc)
                _discard(path)
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

    def prune(self, generation: int | None = None) -> int:
        """Delete this store's cached indexes of generations older than ``generation`` (default: the
        store's current one), and those of a store that was at its URL before (another store id); returns
        how many.  Every change raises the generation and an index is cached for one generation, so those
        files are never loaded again."""
        if not self.usable():
            return 0
        if generation is None:
            generation = self.store.generation()
        ours = f"{self.prefix()}{self.store.store_id[:12]}-"
        n = 0
        folder = self.folder()
        stale = [*folder.glob(f"{self.prefix()}*-g*.ctidx"), *folder.glob(f"{self.prefix()}*-g*.npz")]
        for path in stale:  # and those of the format before, whatever their generation
            tail = path.name.rsplit("-g", 1)[1].removesuffix(".ctidx")
            if path.suffix == ".npz" or not path.name.startswith(ours):
                tail = "0"
            if not tail.isdigit() or int(tail) >= generation:
                continue
            try:
                path.unlink()
                n += 1
            except FileNotFoundError:
                continue  # another process pruned it first
            except OSError as exc:
                log.warning("cannot delete the stale cached index %s: %s", path, exc.strerror)
        return n


def _discard(path: Path) -> None:
    """Remove what is at ``path`` (a file, a link, a FIFO) if it can be: it is rebuilt in its place."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc.strerror or exc)
