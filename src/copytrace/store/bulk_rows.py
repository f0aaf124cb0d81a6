"""The rows of many items written at once: their fingerprints' string form made for a whole chunk in NumPy,
and the rows inserted as the driver takes them.

Writing a chunk of items used to cost more in Python than in the database: ``str(fingerprint)`` of each
item (a ``np.diff`` and a compiled call per item, about 60 us), and SQLAlchemy's ORM making a parameter
dictionary per row.  ``fingerprint_strings`` makes the same strings as ``str`` for a list of fingerprints
with one pass of array operations over all their hashes and positions (the string form is pinned by the
golden vectors; a test compares the two on random fingerprints).  ``insert_rows`` hands SQLite's driver
plain tuples through ``executemany``, each value converted once by the column's own SQLAlchemy type (so
what is stored is what an ORM insert stores, JSON ``null`` included); other databases get a Core
``insert`` of dictionaries, which their dialects batch themselves (PostgreSQL: multi-row ``VALUES``).

>>> from copytrace.fingerprints.fingerprint import fingerprint
>>> fps = [fingerprint("a text long enough to make some hashes, " * 3), fingerprint("hi", allow_short=True)]
>>> fingerprint_strings(fps) == [str(fp) for fp in fps]
True
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection

from ..fingerprints.fingerprint import Fingerprint

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _leb128(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unsigned LEB128 of each of ``values`` (uint64), concatenated, and the bytes of each."""
    sizes = np.ones(values.shape[0], dtype=np.int64)
    for shift in range(7, 64, 7):
        sizes += (values >> np.uint64(shift)) != 0
    total = int(sizes.sum())
    value_of = np.repeat(values, sizes)
    byte_no = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    out = ((value_of >> (7 * byte_no).astype(np.uint64)) & np.uint64(0x7F)).astype(np.uint8)
    out |= (byte_no < np.repeat(sizes - 1, sizes)).astype(np.uint8) << np.uint8(7)
    return out, sizes


def _segment_sums(sizes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The sums of ``sizes`` over consecutive segments of ``counts`` elements each."""
    ends = np.cumsum(sizes)
    bounds = np.cumsum(counts)
    at_end = np.concatenate(([0], ends))[bounds]
    return np.diff(at_end, prepend=0)


def _scatter(out: np.ndarray, src: np.ndarray, seg_sizes: np.ndarray, dest: np.ndarray) -> None:
    """Copy ``src``, consecutive segments of ``seg_sizes`` bytes, to ``out`` at ``dest[i]`` each."""
    if not src.shape[0]:
        return
    starts = np.cumsum(seg_sizes) - seg_sizes
    at = np.arange(src.shape[0], dtype=np.int64) + np.repeat(dest - starts, seg_sizes)
    out[at] = src


def fingerprint_strings(fps: Sequence[Fingerprint]) -> list[str]:
    """``[str(fp) for fp in fps]``, made for all of them together.

    Each payload is LEB128 ``count`` and ``n_tokens``, the hashes as little-endian uint64, then the
    positions as LEB128 deltas (``copytrace.fingerprints.fingerprint``): the three parts of every
    fingerprint are encoded in one array pass each and placed in one buffer, and only the base64 of each
    payload is made per item.
    """
    n = len(fps)
    if not n:
        return []
    counts = np.fromiter((len(fp) for fp in fps), dtype=np.int64, count=n)
    heads = np.empty(2 * n, dtype=np.uint64)
    heads[0::2] = counts
    heads[1::2] = np.fromiter((fp.n_tokens for fp in fps), dtype=np.int64, count=n)
    head_bytes, head_sizes = _leb128(heads)
    head_len = head_sizes[0::2] + head_sizes[1::2]
    if int(counts.sum()):
        hashes = np.concatenate([fp.hashes for fp in fps]).astype("<u8")
        positions = np.concatenate([fp.positions for fp in fps]).astype(np.uint64)
    else:
        hashes = np.empty(0, dtype="<u8")
        positions = np.empty(0, dtype=np.uint64)
    deltas = np.empty_like(positions)
    if positions.shape[0]:
        deltas[1:] = positions[1:] - positions[:-1]  # wraps as np.diff of uint64 does
        first = (np.cumsum(counts) - counts)[counts > 0]
        deltas[first] = positions[first]  # each fingerprint's first delta is from 0
    delta_bytes, delta_sizes = _leb128(deltas)
    delta_len = _segment_sums(delta_sizes, counts)
    lengths = head_len + 8 * counts + delta_len
    # Each payload starts at a multiple of 3 bytes, the gap after it zeros: base64 of the whole buffer is
    # then, at 4/3 of each start, the base64 of each payload followed by characters of the zeros, which
    # are cut (base64 fills a last partial group with zero bits too: the characters before the cut are
    # those of the payload's own base64 without padding).
    spans = -(-lengths // 3) * 3
    starts = np.cumsum(spans) - spans
    buf = np.zeros(int(spans.sum()), dtype=np.uint8)
    _scatter(buf, head_bytes, head_len, starts)
    _scatter(buf, hashes.view(np.uint8), 8 * counts, starts + head_len)
    _scatter(buf, delta_bytes, delta_len, starts + head_len + 8 * counts)
    text = binascii.b2a_base64(buf.tobytes(), newline=False).translate(_URLSAFE).decode("ascii")
    firsts = (starts // 3 * 4).tolist()
    ends = (starts // 3 * 4 + -(-4 * lengths // 3)).tolist()
    params, prefix = None, ""
    out = []
    for fp, a, b in zip(fps, firsts, ends, strict=True):
        if fp.params is not params:  # the items of a chunk share one parameters object, mostly
            params, prefix = fp.params, f"{fp.params}:"
        out.append(prefix + text[a:b])
    return out


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (tuples of the values of ``columns``, as Python values) into ``table``.

    SQLite: one ``executemany`` of the driver over tuples whose values each column's SQLAlchemy type has
    converted (JSON to its text, a timestamp to SQLite's string form), as an ORM or Core insert converts
    them; a value that recurs (an empty label list, the call's timestamp) is converted once.  Other
    databases: a Core ``insert`` of dictionaries, batched by the dialect.
    """
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name != "sqlite":
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    converters = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    if any(c is not None for c in converters):
        rows = _converted(rows, converters)
    names = ", ".join(dialect.identifier_preparer.quote(name) for name in columns)
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({names}) VALUES ({marks})"
    conn.exec_driver_sql(sql, rows)


def _converted(rows: list[tuple[Any, ...]], converters: list[Any]) -> list[tuple[Any, ...]]:
    """``rows`` with each value converted by its column's converter (None: as it is), the last value
    converted remembered per column: a chunk's rows mostly share their labels, metadata and time."""
    columns = list(zip(*rows, strict=True))
    for i, process in enumerate(converters):
        if process is None:
            continue
        done: dict[Any, Any] = {}
        out = []
        for value in columns[i]:
            key = _key(value)
            if key is None:
                out.append(process(value))
                continue
            converted = done.get(key, done)
            if converted is done:
                converted = done[key] = process(value)
            out.append(converted)
        columns[i] = tuple(out)
    return list(zip(*columns, strict=True))


def _key(value: Any) -> Any:
    """A hashable key that stands for ``value`` as its converted form does, or None (convert it alone):
    None, an empty list or dictionary, or the very same object (the call's timestamp)."""
    if value is None:
        return (None,)
    if isinstance(value, list) and not value:
        return (list,)
    if isinstance(value, dict) and not value:
        return (dict,)
    if isinstance(value, datetime):
        return (datetime, id(value))  # the rows hold it, so its id is not reused meanwhile
    return None
