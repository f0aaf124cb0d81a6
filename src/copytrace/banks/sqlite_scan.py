"""The stored fingerprints of an SQLite store, read for an index build by a plain ``sqlite3`` cursor.

An index build reads every item's fingerprint once.  Through SQLAlchemy each row's fingerprint came back
as a ``str`` decoded from UTF-8, and the compiled parser then joined and encoded them all to bytes again:
at a million items the read took 16 CPU-s, more than half of a service's start from the store.  Here one
read-only connection on the store's file runs the same ``SELECT`` (the rows of the banks asked for, in the
order added), takes each fingerprint as bytes (``CAST ... AS BLOB``), joins a chunk's into the buffer the
compiled parser reads, and parses them in one pass.  A chunk with a row that pass refuses is parsed again
by ``parse_many``, as ``Store.iter_fingerprint_batches`` parses every chunk, so the rows left out and the
errors ``on_bad`` is told of are the same.

The connection reads the file the store opened, and one statement reads one consistent state of it.  The
caller reads the store's id and generation before the scan, as with the store's own reader, so a snapshot
built from the rows records a state no newer than the one it holds.  Stores of other databases (and
in-memory ones) are read by ``Store.iter_fingerprint_batches``: ``fingerprint_batches`` returns None.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import (
    CopytraceError,
    FingerprintFormatError,
    ParameterMismatchError,
    StoreError,
    UnknownBankError,
)
from ..fingerprints.batch import FingerprintBatch, parse_ascii_many, parse_many
from ..fingerprints.fingerprint import FingerprintParams
from ..store.items import fingerprint_chunk
from ..store.store import Store

Rows = tuple[list[str], list[str], FingerprintBatch, list[list[str]]]
OnBad = Callable[[str, str, CopytraceError], None]


def sqlite_file(store: Store) -> Path | None:
    """The file of an SQLite store, None for any other database."""
    prefix = "sqlite:///"
    url = store.url
    if not url.startswith(prefix) or url[len(prefix) :].split("?", 1)[0] in ("", ":memory:"):
        return None
    path = Path(url[len(prefix) :].split("?", 1)[0])
    return path if path.is_file() else None


def fingerprint_batches(
    store: Store, banks: Iterable[str], params: FingerprintParams, *, size: int, on_bad: OnBad
) -> Iterator[Rows] | None:
    """What ``store.iter_fingerprint_batches(banks, params, size=size, on_bad=on_bad)`` gives, read with
    ``sqlite3``; None when the store is not an SQLite file."""
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    path = sqlite_file(store)
    if path is None:
        return None
    return _batches(path, list(dict.fromkeys(banks)), params, size, on_bad, store.busy_timeout)


def _batches(
    path: Path, names: list[str], params: FingerprintParams, size: int, on_bad: OnBad, busy_timeout: float
) -> Iterator[Rows]:
    try:  # waits for a writer's lock as the store's own connections do
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False, timeout=busy_timeout
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the store at {path}: {exc}") from exc
    try:
        marks = ",".join("?" * len(names))
        stored = {
            name: (bank_id, bank_params)
            for bank_id, name, bank_params in conn.execute(
                f"SELECT id, name, params FROM banks WHERE name IN ({marks})", names
            )
        }
        for name in names:
            if name not in stored:
                raise UnknownBankError(name)
            if stored[name][1] != str(params):
                raise ParameterMismatchError(stored[name][1], str(params), what=f"bank {name!r}")
        name_of = {bank_id: name for name, (bank_id, _) in stored.items()}
        cursor = conn.execute(
            "SELECT bank_id, item_id, CAST(fingerprint AS BLOB), links FROM items "
            f"WHERE bank_id IN ({marks}) ORDER BY id",
            [stored[name][0] for name in names],
        )
        while True:
            rows = cursor.fetchmany(size)
            if not rows:
                return
            bank_ids, item_ids, blobs, raw_links = (list(column) for column in zip(*rows, strict=True))
            bank_names = [name_of[b] for b in bank_ids]
            chunk = fingerprint_chunk(bank_names, item_ids, raw_links, _parse(blobs, params), on_bad)
            if chunk is not None:
                yield chunk
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the store at {path}: {exc}") from exc
    finally:
        conn.close()


def _parse(
    blobs: list[bytes], params: FingerprintParams
) -> tuple[FingerprintBatch, list[tuple[int, FingerprintFormatError]]]:
    """``parse_many`` of the fingerprints ``blobs`` (UTF-8): the compiled pass on the joined bytes, and
    ``parse_many`` itself when it refuses any (a malformed row, non-ASCII text, unknown parameters)."""
    batch = parse_ascii_many(blobs, params)
    if batch is not None:
        return batch, []
    parsed, errors = parse_many([b.decode("utf-8", "replace") for b in blobs], params)
    return parsed, list(errors)
