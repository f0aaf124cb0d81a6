"""The token sidecar of a live index's snapshot: written in the background, taken up when it appears.

The quote pass measures its candidates on the cut token hashes of their texts (``index.token_sidecar``).
Reading and tokenizing the texts of 1,000,000 items takes minutes on a small machine, so it is never part of
a start: once an index is ready and maps a snapshot, its follower (``LiveIndex.catch_up``, every poll) looks
for ``<snapshot>.tokens``.  Where there is none, one process writes it, in a background thread (the first to
take ``<snapshot>.tokens.lock``; the others only wait for the file), from a second opening of the snapshot
(its item numbers and token counts, never changed) and texts read from the store a chunk at a time.  Every
worker maps it once it appears, into the index that opened that snapshot (``Contents.attach_tokens``).

A sidecar is believed only for the snapshot it names (file name, size and time written, store id, params,
item count), and only by an index that has applied every change up to the store generation its texts were
read at (read after the last one): an item replaced or removed before then is dead in that index, so its
number is never measured from the sidecar, and an item replaced later still has, in the sidecar, the text
of the fingerprint the index holds for it.  Items added after the snapshot are measured as before (read,
cut and cached per process).  A sidecar that cannot be believed is logged once and written again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CopytraceError
from ..index import Index, _quote_runs, token_sidecar
from ..index.token_sidecar import SidecarError
from .cache_dir import held_lock
from .texts import BatchTexts

if TYPE_CHECKING:
    from .live import LiveIndex
    from .live_snapshots import Mapped

log = logging.getLogger("copytrace.service")

CHECK_SECONDS = 1.0
"""How often a follower looks for the sidecar of its snapshot while it has none."""
BUILD_AFTER_SECONDS = 10.0
"""How long after it first looks a follower starts writing a missing sidecar: the other workers of a
server are still starting then, and reading and tokenizing would take their CPU."""
RETRY_SECONDS = (30.0, 600.0)
"""After a write that gave no sidecar (a full disk, a store that cannot be read, another process's lock),
the next is tried this long after, doubled at each failure up to the second figure: every try reads and
tokenizes every text again."""


def still_there(mapped: Mapped) -> bool:
    """Whether the snapshot file ``mapped`` maps is still at its path (not deleted, replaced or set aside)."""
    try:
        return os.stat(mapped.path, follow_symlinks=False).st_ino == os.fstat(mapped.fd).st_ino
    except OSError:
        return False


class LiveTokens:
    """The token sidecar of ``live``'s mapped snapshot: looked for at each ``poll``, written when missing."""

    def __init__(self, live: LiveIndex, *, build: bool = True) -> None:
        self.live = live
        self.build = build
        self._next_check = 0.0
        self._first_look: tuple[Path, float] | None = None  # the snapshot looked for first, and when
        self._thread: threading.Thread | None = None
        self._refused: set[tuple[str, str]] = set()  # (path, reason) logged already
        self._failures = 0  # writes in a row that gave no sidecar
        self._retry_at = 0.0  # no write starts before this (monotonic)
        self.built_seconds: float | None = None  # how long the last sidecar this process wrote took

    def identity(self, mapped: Mapped, n_items: int) -> dict[str, Any]:
        """What a sidecar of the snapshot ``mapped`` records of it."""
        live = self.live
        return {
            "snapshot": mapped.path.name,
            "bytes": mapped.size,
            "mtime_ns": mapped.mtime_ns,
            "store_id": live._store_id,
            "params": str(live.params),
            "n_items": n_items,
        }

    def poll(self, index: Index | None, mapped: Mapped | None, generation: int) -> None:
        """Attach the sidecar of ``mapped`` to ``index`` (which opened it, and reflects ``generation``) when
        it is there and may be believed; start writing it when it is not.  Cheap when there is nothing to
        do: called at every poll of the follower, under its sync lock (no change is applied meanwhile)."""
        if index is None or mapped is None:
            return
        contents = index._contents
        n = contents.snapshot_items
        if contents.sidecar is not None or n is None:
            return
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_SECONDS
        identity = self.identity(mapped, n)
        path = token_sidecar.path_for(mapped.path)
        try:
            sidecar = token_sidecar.load(path, identity)
        except SidecarError as exc:
            self._note(path, str(exc))
            sidecar = None
            if self._thread is None or not self._thread.is_alive():
                self._start(mapped, identity)  # written again over it
            return
        if sidecar is None:
            if self._thread is None or not self._thread.is_alive():
                self._start(mapped, identity)
            return
        if sidecar.texts_generation > generation:
            return  # its texts are newer than the index: taken up once the index has caught up
        if contents.attach_tokens(sidecar):
            log.info("quote pass: measuring %d snapshot items from %s", n, path.name)
        else:
            self._note(path, "its items are not those of the index")

    def _note(self, path: Path, reason: str) -> None:
        if (str(path), reason) not in self._refused:
            self._refused.add((str(path), reason))
            log.warning("ignoring the token sidecar %s: %s", path, reason)

    def _start(self, mapped: Mapped, identity: dict[str, Any]) -> None:
        snapshot = mapped.path
        now = time.monotonic()
        if self._first_look is None or self._first_look[0] != snapshot:
            self._first_look = (snapshot, now)
            self._failures, self._retry_at = 0, 0.0
        if not self.build or now - self._first_look[1] < BUILD_AFTER_SECONDS or now < self._retry_at:
            return
        if not still_there(mapped):
            return  # deleted (a newer snapshot replaced it) or set aside: its sidecar would be an orphan
        self._thread = threading.Thread(
            target=self._write, args=(snapshot, identity), name="copytrace-token-sidecar", daemon=True
        )
        self._thread.start()

    def _write(self, snapshot: Path, identity: dict[str, Any]) -> None:
        """Write the sidecar of ``snapshot`` unless another process is at it (its lock) or it is there.
        When that gives no sidecar, the next try waits (``RETRY_SECONDS``)."""
        path = token_sidecar.path_for(snapshot)
        lock = path.with_name(path.name + ".lock")
        written = False
        try:
            with held_lock(lock, wait=False, what="snapshot directory") as held:
                if not held:
                    return
                try:
                    if token_sidecar.load(path, identity) is not None:
                        written = True
                        return  # written by another process meanwhile
                except SidecarError:
                    pass
                try:
                    written = self._write_locked(snapshot, path, identity)
                except (OSError, CopytraceError, ValueError) as exc:
                    log.warning("cannot write the token sidecar %s: %s", path, exc)
                except Exception:  # a background helper: never let it take the process down
                    log.exception("cannot write the token sidecar %s", path)
        finally:
            if written:
                self._failures = 0
            else:
                self._failures += 1
                first, most = RETRY_SECONDS
                self._retry_at = time.monotonic() + min(most, first * 2 ** (self._failures - 1))

    def _write_locked(self, snapshot: Path, path: Path, identity: dict[str, Any]) -> bool:
        live = self.live
        started = time.monotonic()
        index = Index.load(snapshot, key=live.key, match_params=live.match_params, text_lookup=None)
        contents = index._contents
        contents.text_lookup = BatchTexts(live.store)  # this thread's own batch of texts
        if contents.snapshot_items != identity["n_items"]:
            return False

        def cut(numbers: list[int]) -> list[Any]:
            return _quote_runs.cut_items(contents, numbers)

        done = token_sidecar.write(
            path, identity, int(identity["n_items"]), cut, lambda: live.store.identity()[1], live._stop
        )
        if done and not snapshot.exists():
            # its snapshot was deleted while it was written (a newer one saved, ``drop_others``): nobody
            # would delete this one after it
            path.unlink(missing_ok=True)
            return False
        if done:
            self.built_seconds = time.monotonic() - started
            log.info(
                "wrote the token sidecar %s (%d items) in %.1f s",
                path.name,
                identity["n_items"],
                self.built_seconds,
            )
        return done
