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

A process that saves a new snapshot over one whose sidecar it can map keeps that sidecar (``Carry``) for the
new one's write: an item of the new snapshot named as one of the old (bank and id) carries its hashes over
when the change feed holds no change to it (nor to its bank) after the old snapshot's generation, up to a
generation read before the write starts, and its token count is the same; only the others are read and
cut.  An item replaced in place is an ``add`` in the feed, so it is read again.

The writing thread runs at the lowest scheduling priority (``os.setpriority`` of the thread, on Linux), so
that the requests of its process and the other workers take the CPU first.  The taken-up sidecar is checked
at every poll and before each query (``check``): one that another program truncated or wrote to is dropped
before it is read again (``TokenSidecar.changed``), and a new one written.  ``LiveIndex.stop`` stops a
write in progress and waits for it (``join``): its temporary file is removed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CopytraceError
from ..index import Index, _quote_runs, token_sidecar
from ..index.token_sidecar import Previous, SidecarError, TokenSidecar
from ..store.feed import changes_since
from .cache_dir import held_lock
from .catch_up import feed_reaches
from .texts import BatchTexts

if TYPE_CHECKING:
    from ..index._contents import Contents
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
NICE = 19
"""The scheduling priority (``nice``) of the thread that writes a sidecar: the lowest."""
JOIN_SECONDS = 10.0
"""How long ``LiveIndex.stop`` waits for a write in progress to stop (it looks between chunks of items)."""


@dataclass
class Carry:
    """The sidecar of a snapshot saved over, kept for the write of the next one: its items' name hashes
    (sorted, with the number of each, ``ItemNames.base_hashes``) and banks, the store and the old
    snapshot's generation (changes after it are not carried)."""

    sidecar: TokenSidecar
    hashes: np.ndarray
    order: np.ndarray
    banks: list[str]
    store_id: str | None
    params: str
    after: int


def snapshot_generation(path: Path) -> int | None:
    """The generation in a snapshot's name (``<stem>-g<generation>.ctidx``), or None."""
    stem = path.name.rsplit(".", 1)[0]
    try:
        return int(stem.rsplit("-g", 1)[1])
    except (IndexError, ValueError):
        return None


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
        self.carried_items: int | None = None  # items the last write carried over (None: no carry)
        self._carry: Carry | None = None  # the sidecar of the snapshot saved over, for the next write

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
        if contents.sidecar is not None:
            self.check(contents)
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
            self._carry = None
            log.info("quote pass: measuring %d snapshot items from %s", n, path.name)
        else:
            self._note(path, "its items are not those of the index")

    def check(self, contents: Contents) -> None:
        """Stop measuring on the taken-up sidecar of ``contents`` if its file was truncated or written to
        since it was mapped: a read of a page past a truncated end kills the process (SIGBUS).  Queries
        that took it up before go on with it.  Its file is deleted (when its path still names it), so that
        the next poll writes it again instead of mapping what was changed."""
        sidecar = contents.sidecar
        if sidecar is None:
            return
        changed = sidecar.changed()
        if changed is not None and contents.sidecar is sidecar:
            contents.sidecar = None
            name = sidecar.identity.get("snapshot")
            log.warning("the token sidecar of %s changed while mapped (%s): no longer used", name, changed)
            sidecar.discard()
            self._next_check = 0.0  # looked for (and written again) at the next poll

    def carry(self, index: Index, mapped: Mapped | None) -> Carry | None:
        """What the next snapshot's sidecar write may carry over from that of ``mapped`` (the snapshot
        ``index`` opened, about to be saved over): its sidecar, mapped (it stays readable once deleted),
        and its items' names (``index``'s while it numbers them as the snapshot, else read from the file);
        None when it has none that may be believed."""
        contents = index._contents
        after = None if mapped is None else snapshot_generation(mapped.path)
        if mapped is None or after is None or mapped.changed() is not None or not still_there(mapped):
            return None
        if contents.snapshot_items is None:  # numbered anew since (compacted): the snapshot's names
            try:
                contents = Index.load(mapped.path, text_lookup=None)._contents
            except (OSError, CopytraceError, ValueError) as exc:
                log.warning("cannot read the names of %s to carry its sidecar over: %s", mapped.path, exc)
                return None
        n = contents.snapshot_items
        sidecar = contents.sidecar
        if n is None:
            return None
        if sidecar is None:
            try:
                sidecar = token_sidecar.load(token_sidecar.path_for(mapped.path), self.identity(mapped, n))
            except SidecarError:
                return None
        if sidecar is None or sidecar.n_items != n or sidecar.changed() is not None:
            return None
        names = contents.names
        hashes, order = names.base_hashes()
        inside = order < n
        live = self.live
        return Carry(
            sidecar, hashes[inside], order[inside], list(names.banks), live._store_id, str(live.params), after
        )

    def carry_to(self, carry: Carry | None) -> None:
        """Keep ``carry`` for the next write (None: forget the one kept)."""
        self._carry = carry

    def join(self, timeout: float = JOIN_SECONDS) -> bool:
        """Wait for a write in progress (stopped by the live index's stop event); False if it goes on."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

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
        # with a carry-over the write mostly copies (seconds at 1,000,000 items): started at once, so that
        # this process, not another worker without one (10 s after its first look), takes the lock
        after = 0.0 if self._carry is not None else BUILD_AFTER_SECONDS
        if not self.build or now - self._first_look[1] < after or now < self._retry_at:
            return
        if self.live._stop.is_set():
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
        lowest_priority()
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
            return _quote_runs.cut_items(contents, numbers) if numbers else []

        previous = self._previous(contents, identity)
        self.carried_items = None if previous is None else previous.carried()
        done = token_sidecar.write(
            path,
            identity,
            int(identity["n_items"]),
            cut,
            lambda: live.store.identity()[1],
            live._stop,
            previous,
        )
        if done and not snapshot.exists():
            # its snapshot was deleted while it was written (a newer one saved, ``drop_others``): nobody
            # would delete this one after it
            path.unlink(missing_ok=True)
            return False
        if done:
            self._carry = None
            self.built_seconds = time.monotonic() - started
            log.info(
                "wrote the token sidecar %s (%d items, %d of them carried over) in %.1f s",
                path.name,
                identity["n_items"],
                self.carried_items or 0,
                self.built_seconds,
            )
        return done

    def _previous(self, contents: Contents, identity: dict[str, Any]) -> Previous | None:
        """The items of the snapshot ``contents`` opened that the kept ``Carry`` may give: named as one of
        its items, of as many tokens, and with no change in the feed (to the item or its bank) after the
        old snapshot's generation up to the store's generation now (read before any text is).  Changes
        after that are those of any text read in the write: an index that believes the sidecar has applied
        them, and holds the items they touched under new numbers."""
        carry = self._carry
        n = int(identity["n_items"])
        if carry is None or carry.store_id != identity["store_id"] or carry.params != identity["params"]:
            return None
        names = contents.names
        if list(names.banks[: len(carry.banks)]) != carry.banks or len(carry.hashes) == 0:
            return None
        upto = self.live.store.identity()[1]
        if not feed_reaches(self.live.store, carry.after, upto):
            log.info("the change feed no longer holds every change since the last sidecar: written whole")
            return None  # a change it no longer holds could be an item's text edited in place
        mine = names.hashes_by_number()[:n]
        if len(mine) != n:
            return None
        at = np.minimum(np.searchsorted(carry.hashes, mine), len(carry.hashes) - 1)
        found = carry.hashes[at] == mine
        twice = np.zeros(len(carry.hashes), dtype=bool)  # a hash two names share: neither is carried
        twice[1:] = carry.hashes[1:] == carry.hashes[:-1]
        twice[:-1] |= twice[1:]
        found &= ~twice[at]
        numbers = np.where(found, carry.order[at].astype(np.int64), -1)
        side = carry.sidecar
        carried = np.flatnonzero(numbers >= 0)
        old = numbers[carried]
        lengths = side.offsets[old + 1] - side.offsets[old]
        other = (side.state[old] == _quote_runs.TEXT) & (lengths != contents.ntok[carried])
        numbers[carried[other]] = -1
        for change in changes_since(self.live.store, carry.after, upto):
            if change.op in ("add", "remove") and change.item_id is not None:
                number = names.number(change.bank, change.item_id)
                if number is not None and number < n:
                    numbers[number] = -1
            else:  # a bank made or dropped: none of its items is carried
                code = names.bank_code(change.bank)
                if code is not None:
                    numbers[np.flatnonzero(names.bank_of[:n] == code)] = -1
        return Previous(side, numbers)


def lowest_priority() -> None:
    """Run the calling thread at priority ``NICE`` (Linux sets it per thread; elsewhere nothing)."""
    get_id = getattr(threading, "get_native_id", None)
    if get_id is None or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, get_id(), NICE)
    except OSError as exc:
        log.debug("cannot lower the priority of the token sidecar's writer: %s", exc)
