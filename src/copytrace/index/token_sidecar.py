"""The cut token hashes of every item of a snapshot, in a file beside it, mapped read-only and shared.

The quote pass's first check (``_quote_runs.long_enough``) measures each candidate chain on the cut token
hashes (``_quote_runs.cut``) of its item's text.  Read from the store, tokenized and cut at query time, those
were most of the cost of a query at 1,000,000 items, and a per-process cache of them holds a small share of
such a bank.  A *token sidecar* (``<snapshot>.tokens``) holds them for every item of one snapshot, by the
snapshot's item numbers: exactly what ``_quote_runs.cut_items`` gives (``NO_TEXT`` where it gives None).
Every process that maps the snapshot maps the sidecar too (the system shares its pages).

Layout: a header block of ``HEADER_BYTES`` (a magic line, then JSON: the identity of the snapshot it belongs
to, the item and token counts, and the store generation its texts were read at), then the hashes (uint16,
end to end in item order), then each item's state (int8), then the offsets (int64, one more than items).
It is written to a temporary name and renamed into place, read-only.  ``load`` believes a file only for the
identity asked for, and refuses one of another length or with offsets that do not add up: a sidecar is a
cache, never the record.

A write may carry over the hashes of a previous sidecar (``Previous``: the sidecar of an earlier snapshot
and, for each item of the new one, its number there or -1): those items are copied from it, a run of
consecutive items at a time, and only the others are read and cut.  The caller proves the carried items
unchanged (``live_tokens``).

A mapped file that another program truncates makes the next read of a page past its new end raise SIGBUS;
``TokenSidecar.changed`` tells (from the descriptor held open since it was mapped) whether its size or
modification time moved, so that its user stops reading it first.
"""

from __future__ import annotations

import itertools
import json
import logging
import mmap
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._quote_runs import NO_TEXT, TEXT
from .snapshot import _publish, _temporary

log = logging.getLogger("copytrace.index")

MAGIC = b"copytrace token sidecar 1\n"
HEADER_BYTES = 4096
SUFFIX = ".tokens"
CHUNK = 2048
"""Items whose texts are read and cut at a time while a sidecar is written."""


def path_for(snapshot: Path) -> Path:
    """The sidecar of ``snapshot``: ``<snapshot>.tokens``."""
    return snapshot.with_name(snapshot.name + SUFFIX)


class SidecarError(ValueError):
    """A sidecar file that cannot be believed: of another snapshot, truncated, or not one at all."""


@dataclass
class TokenSidecar:
    """A sidecar mapped read-only: item ``i`` (a snapshot item number) has state ``state[i]`` (``TEXT`` or
    ``NO_TEXT``) and cut hashes ``hashes[offsets[i]:offsets[i + 1]]``."""

    identity: dict[str, Any]
    texts_generation: int  # the store generation read after the last text was read
    state: np.ndarray
    offsets: np.ndarray
    hashes: np.ndarray
    _map: mmap.mmap
    fd: int = -1  # the file, held open while mapped (``changed``); closed when this is freed
    size: int = 0  # its size and modification time when it was mapped
    mtime_ns: int = 0
    path: Path | None = None  # where it was mapped from

    @property
    def n_items(self) -> int:
        return len(self.state)

    def changed(self) -> str | None:
        """What changed in the file since it was mapped (its size, or its contents), or None.  A file
        truncated under the mapping raises SIGBUS at the first read of a page past its end: a reader that
        asks first stops before that, unless the truncation falls between the question and the read."""
        if self.fd < 0:
            return None
        try:
            info = os.fstat(self.fd)
        except OSError as exc:
            return f"cannot check it: {exc.strerror or exc}"
        if info.st_size != self.size:
            return f"{self.size} bytes when mapped, {info.st_size} now"
        if info.st_mtime_ns != self.mtime_ns:
            return "written to since it was mapped"
        return None

    def discard(self) -> bool:
        """Delete the file this was mapped from, if its path still names it (not a newer sidecar renamed
        over it since): a sidecar found changed while mapped is written again rather than mapped again
        (a change that kept its size would pass ``load``'s checks).  True if it was deleted."""
        if self.path is None or self.fd < 0:
            return False
        try:
            mine, there = os.fstat(self.fd), os.stat(self.path, follow_symlinks=False)
            if (mine.st_dev, mine.st_ino) != (there.st_dev, there.st_ino):
                return False
            self.path.unlink()
        except OSError:
            return False
        return True

    @property
    def nbytes(self) -> int:
        return len(self._map)

    def take(self, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(state, starts, ends)`` of items ``numbers`` (all below ``n_items``)."""
        return self.state[numbers], self.offsets[numbers], self.offsets[numbers + 1]


@dataclass
class Previous:
    """What a write may carry over: ``sidecar`` (of an earlier snapshot) holds item ``j`` of the new
    snapshot as its item ``numbers[j]`` (-1: not carried, read and cut)."""

    sidecar: TokenSidecar
    numbers: np.ndarray

    def carried(self) -> int:
        return int((self.numbers >= 0).sum())


def write(
    path: Path,
    identity: dict[str, Any],
    n_items: int,
    cut_chunk: Callable[[list[int]], list[np.ndarray | None]],
    generation: Callable[[], int],
    stop: threading.Event | None = None,
    previous: Previous | None = None,
) -> bool:
    """Write the sidecar of the snapshot named by ``identity`` to ``path``: the cut hashes of items
    ``0..n_items-1`` from ``cut_chunk`` (a list of item numbers in, their cut hashes or None out), a chunk at
    a time, then ``generation()`` (the store's, read after every text) into the header.  The items that
    ``previous`` carries are copied from its sidecar instead.  Written to a temporary name and renamed into
    place.  Returns False (nothing written) when ``stop`` is set first."""
    state = np.zeros(n_items, dtype=np.int8)
    offsets = np.zeros(n_items + 1, dtype=np.int64)
    if previous is not None and len(previous.numbers) != n_items:
        raise ValueError(f"a carry-over of {len(previous.numbers)} items for a sidecar of {n_items}")
    with _temporary(path) as tmp, open(tmp, "r+b") as fh:
        fh.write(b"\0" * HEADER_BYTES)
        total = 0
        for first in range(0, n_items, CHUNK):
            if stop is not None and stop.is_set():
                return False
            last = min(n_items, first + CHUNK)
            if previous is None:
                numbers = list(range(first, last))
                found = cut_chunk(numbers)
                parts = []
                for j, hashes in zip(numbers, found, strict=True):
                    if hashes is None:
                        state[j] = NO_TEXT
                    else:
                        state[j] = TEXT
                        parts.append(np.ascontiguousarray(hashes, dtype=np.uint16))
                        total += len(hashes)
                    offsets[j + 1] = total
                if parts:
                    fh.write(np.concatenate(parts).tobytes())
            else:
                total = _write_carried(fh, previous, first, last, cut_chunk, state, offsets, total)
        fh.write(state.tobytes())
        fh.write(b"\0" * (-(n_items) % 8))  # the offsets start on 8 bytes
        fh.write(offsets.tobytes())
        head = {
            "identity": identity,
            "n_items": n_items,
            "n_tokens": total,
            "texts_generation": int(generation()),
        }
        header = MAGIC + json.dumps(head, sort_keys=True).encode() + b"\n"
        if len(header) > HEADER_BYTES:
            raise SidecarError("the snapshot's identity does not fit in a sidecar header")
        fh.seek(0)
        fh.write(header)
        fh.flush()
        _publish(tmp, path)
    return True


def _write_carried(
    fh: Any,
    previous: Previous,
    first: int,
    last: int,
    cut_chunk: Callable[[list[int]], list[np.ndarray | None]],
    state: np.ndarray,
    offsets: np.ndarray,
    total: int,
) -> int:
    """Write items ``first..last-1``: those ``previous`` carries copied from its sidecar (a run of items
    consecutive in both at a time), the others read and cut; returns the tokens written so far."""
    side = previous.sidecar
    src = previous.numbers[first:last]
    carried = src >= 0
    fresh = (np.flatnonzero(~carried) + first).tolist()
    found = dict(zip(fresh, cut_chunk(fresh), strict=True)) if fresh else {}
    sizes = np.zeros(last - first, dtype=np.int64)
    at = src[carried]
    state[first:last][carried] = side.state[at]
    sizes[carried] = side.offsets[at + 1] - side.offsets[at]
    for j, hashes in found.items():
        state[j] = NO_TEXT if hashes is None else TEXT
        sizes[j - first] = 0 if hashes is None else len(hashes)
    np.cumsum(sizes, out=offsets[first + 1 : last + 1])
    offsets[first + 1 : last + 1] += total
    # runs: a carried item that follows the one before in the previous sidecar too continues its run
    starts = np.ones(last - first, dtype=bool)
    starts[1:] = ~(carried[1:] & carried[:-1] & (src[1:] == src[:-1] + 1))
    bounds = [*np.flatnonzero(starts).tolist(), last - first]
    for a, b in itertools.pairwise(bounds):
        if carried[a]:
            lo, hi = int(side.offsets[src[a]]), int(side.offsets[src[b - 1] + 1])
            fh.write(side.hashes[lo:hi].tobytes())
        else:
            hashes = found[first + a]
            if hashes is not None:
                fh.write(np.ascontiguousarray(hashes, dtype=np.uint16).tobytes())
    return int(offsets[last])


def _layout(n_items: int, n_tokens: int) -> tuple[int, int, int]:
    """Where the state and the offsets start, and the file's length."""
    state_at = HEADER_BYTES + 2 * n_tokens
    offsets_at = state_at + n_items + (-n_items % 8)
    return state_at, offsets_at, offsets_at + 8 * (n_items + 1)


def load(path: Path, identity: dict[str, Any]) -> TokenSidecar | None:
    """The sidecar at ``path`` mapped, if it belongs to the snapshot ``identity`` names; None when there is
    none.  Raises ``SidecarError`` for a file of another snapshot (stale or foreign), truncated, or not a
    sidecar."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SidecarError(f"cannot open {path}: {exc.strerror or exc}") from exc
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, HEADER_BYTES, 0)
        if size < HEADER_BYTES or not head.startswith(MAGIC):
            raise SidecarError(f"{path} is not a token sidecar ({size} bytes)")
        try:
            meta = json.loads(head[len(MAGIC) :].split(b"\n", 1)[0])
            n_items, n_tokens = int(meta["n_items"]), int(meta["n_tokens"])
            texts_generation = int(meta["texts_generation"])
            theirs = meta["identity"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SidecarError(f"{path}: unreadable header ({exc})") from exc
        if theirs != identity:
            raise SidecarError(f"{path} is of another snapshot ({theirs}, not {identity})")
        state_at, offsets_at, length = _layout(n_items, n_tokens)
        if n_items < 0 or n_tokens < 0 or size != length:
            raise SidecarError(f"{path} is {size} bytes, not the {length} its header says (truncated?)")
        info = os.fstat(fd)
        mapped = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    except BaseException:
        os.close(fd)
        raise
    hashes = np.frombuffer(mapped, dtype=np.uint16, count=n_tokens, offset=HEADER_BYTES)
    state = np.frombuffer(mapped, dtype=np.int8, count=n_items, offset=state_at)
    offsets = np.frombuffer(mapped, dtype=np.int64, count=n_items + 1, offset=offsets_at)
    lengths = np.diff(offsets)
    bad_state = ((state != TEXT) & (state != NO_TEXT)).any() or (lengths[state != TEXT] != 0).any()
    if offsets[0] != 0 or offsets[-1] != n_tokens or (lengths < 0).any() or bad_state:
        os.close(fd)
        raise SidecarError(f"{path}: its offsets or states do not add up")
    sidecar = TokenSidecar(
        theirs, texts_generation, state, offsets, hashes, mapped, fd, info.st_size, info.st_mtime_ns, path
    )
    weakref.finalize(sidecar, os.close, fd)  # held open for ``changed`` while the sidecar is in use
    return sidecar
