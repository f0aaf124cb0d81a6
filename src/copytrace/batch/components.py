"""Connected components of a corpus's verified edges: in memory (union-find), or on Ray (large/small star).

Documents are numbered ``0 .. n-1`` (their order in the corpus); an edge is two numbers.  Every component is
labelled by its smallest number: the corpus's earliest member names the family, as a bank's family is
named by its earliest-added member (``copytrace.index.families``).  Both algorithms give exactly these
labels, so a test compares them.

``union_find`` holds one int64 per document and reads the edges as arrays (compiled, no per-edge Python):
the choice when the edges fit in the driver's memory.  ``star_components`` never gathers the edges: they are
cut into partitions by node, held in Ray's object store, and each round of *large-star* then *small-star*
(Kiveris et al., "Connected Components in MapReduce and Beyond", 2014) is one Ray task per partition that
reads its edges grouped by node (a NumPy sort) and writes the next round's edges to the partitions of
their nodes.  When a round changes no edge, every edge points from a node to its component's smallest
node; the driver then needs only one label per document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..jit import njit


@njit(cache=True, nogil=True)
def _find(parent, x):  # type: ignore[no-untyped-def]
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True, nogil=True)
def _union_all(parent, a, b):  # type: ignore[no-untyped-def]
    for e in range(a.shape[0]):
        x = _find(parent, a[e])
        y = _find(parent, b[e])
        if x < y:
            parent[y] = x
        elif y < x:
            parent[x] = y


@njit(cache=True, nogil=True)
def _flatten(parent):  # type: ignore[no-untyped-def]
    for i in range(parent.shape[0]):
        parent[i] = _find(parent, i)


def union_find(n: int, edges: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each document's component label (its smallest member) over edges given as ``(a, b)`` array pairs
    (read one pair at a time: the edges of one block, say).

    >>> union_find(5, [(np.array([3, 1]), np.array([4, 3]))]).tolist()
    [0, 1, 2, 1, 1]
    """
    parent = np.arange(n, dtype=np.int64)
    for a, b in edges:
        _union_all(parent, np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    _flatten(parent)
    return parent


# ------------------------------------------------------------------------------------------ on Ray
def _route(u: np.ndarray, v: np.ndarray, parts: int) -> list[np.ndarray]:
    """Edges ``(u, v)`` cut by ``u``'s partition, each as a (2, m) array."""
    where = u % parts
    order = np.argsort(where, kind="stable")
    bounds = np.searchsorted(where[order], np.arange(parts + 1))
    uv = np.stack((u[order], v[order]))
    return [uv[:, bounds[p] : bounds[p + 1]] for p in range(parts)]


def _grouped(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct edges sorted by node, and for each its node's smallest neighbour (or the node itself)."""
    if uv.shape[1] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    pairs = np.unique(uv[0].astype(np.int64) * (1 << 32) + uv[1].astype(np.int64))
    u = pairs >> 32
    v = pairs & 0xFFFFFFFF
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    low = np.minimum.reduceat(v, starts)
    m = np.minimum(np.repeat(low, np.diff(np.r_[starts, len(u)])), u)
    return u, v, m


def _large_star(parts: int, *shards: np.ndarray) -> tuple[Any, ...]:
    """For each node u and neighbour v > u: the edge (v, m), m the smallest of u and its neighbours."""
    uv = np.concatenate(shards, axis=1) if shards else np.zeros((2, 0), dtype=np.int64)
    u, v, m = _grouped(uv)
    keep = v > u
    out_u = v[keep]
    out_v = m[keep]
    return tuple(_route(out_u, out_v, parts))


def _small_star(parts: int, *shards: np.ndarray) -> tuple[Any, ...]:
    """For each node u and its neighbours v <= u: the edges (v, m) and (u, m), m the smallest of them, in
    both directions (the next large-star reads every neighbour of a node)."""
    uv = np.concatenate(shards, axis=1) if shards else np.zeros((2, 0), dtype=np.int64)
    u, v, m = _grouped(uv)
    keep = v <= u
    u, v, m = u[keep], v[keep], m[keep]
    out_u = np.concatenate((v, np.unique(u)))
    first = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.zeros(0, dtype=np.int64)
    out_v = np.concatenate((m, m[first]))
    differ = out_u != out_v
    out_u, out_v = out_u[differ], out_v[differ]
    return tuple(_route(np.concatenate((out_u, out_v)), np.concatenate((out_v, out_u)), parts))


def _sym(parts: int, *shards: np.ndarray) -> tuple[Any, ...]:
    """Both directions of the edges, routed by node."""
    uv = np.concatenate(shards, axis=1) if shards else np.zeros((2, 0), dtype=np.int64)
    u = np.concatenate((uv[0], uv[1]))
    v = np.concatenate((uv[1], uv[0]))
    return tuple(_route(u, v, parts))


def _digest(*shards: np.ndarray) -> int:
    """An order-free checksum of a partition's distinct edges (rounds stop when no partition changes)."""
    uv = np.concatenate(shards, axis=1) if shards else np.zeros((2, 0), dtype=np.int64)
    pairs = np.unique(uv[0].astype(np.int64) * (1 << 32) + uv[1].astype(np.int64))
    mixed = (pairs.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(len(pairs))
    return int(np.bitwise_xor.reduce(mixed)) if len(mixed) else 0


def _labels_of(*shards: np.ndarray) -> np.ndarray:
    uv = np.concatenate(shards, axis=1) if shards else np.zeros((2, 0), dtype=np.int64)
    return np.unique(uv, axis=1) if uv.shape[1] else uv


def star_components(
    n: int, edges: Iterable[tuple[np.ndarray, np.ndarray]], *, parts: int = 8, max_rounds: int = 64
) -> np.ndarray:
    """``union_find``'s labels, computed on the running Ray by large-star and small-star rounds over edge
    partitions in the object store; the driver holds one block's edges at a time and the final labels."""
    import ray

    if n >= 1 << 32:
        raise ValueError(f"{n} documents: star_components numbers documents in 32 bits")
    sym = ray.remote(_sym).options(num_returns=parts)
    large = ray.remote(_large_star).options(num_returns=parts)
    small = ray.remote(_small_star).options(num_returns=parts)
    digest = ray.remote(_digest)
    # Each block's edges go to the object store as they are read, routed by node, in both directions.
    incoming: list[list[Any]] = [[] for _ in range(parts)]
    for a, b in edges:
        uv = np.stack((np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)))
        for p, shard in enumerate(_route(uv[0], uv[1], parts)):
            incoming[p].append(ray.put(shard))
    routed = [sym.remote(parts, *incoming[p]) for p in range(parts)]
    shards: list[list[Any]] = [[routed[q][p] for q in range(parts)] for p in range(parts)]
    before: list[int] | None = None
    for _ in range(max_rounds):
        out = [large.remote(parts, *shards[p]) for p in range(parts)]
        shards = [[out[q][p] for q in range(parts)] for p in range(parts)]
        out = [small.remote(parts, *shards[p]) for p in range(parts)]
        shards = [[out[q][p] for q in range(parts)] for p in range(parts)]
        now = ray.get([digest.remote(*shards[p]) for p in range(parts)])
        if now == before:
            break
        before = now
    else:
        raise RuntimeError(f"components did not converge in {max_rounds} rounds")
    labels = np.arange(n, dtype=np.int64)
    for p in range(parts):
        uv = ray.get(ray.remote(_labels_of).remote(*shards[p]))
        if uv.shape[1]:
            np.minimum.at(labels, uv[0], uv[1])
    return labels
