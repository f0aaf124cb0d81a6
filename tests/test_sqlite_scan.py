"""An SQLite store's fingerprints read by a plain ``sqlite3`` cursor (``copytrace.banks.sqlite_scan``) are
the chunks ``Store.iter_fingerprint_batches`` reads: the same rows, links, rows left out and errors."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from copytrace import DEFAULT_PARAMS, ParameterMismatchError, UnknownBankError, fingerprint
from copytrace.banks import Store
from copytrace.banks.sqlite_scan import fingerprint_batches
from copytrace.errors import CopytraceError
from copytrace.fingerprints.batch import FingerprintBatch
from copytrace.fingerprints.fingerprint import FingerprintParams
from copytrace.store import ItemRecord

from .test_live_index import _insert_raw
from .test_store_batches import _fill

Chunk = tuple[list[str], list[str], FingerprintBatch, list[list[str]]]


def _chunks(
    chunks: Iterable[Chunk],
) -> list[tuple[list[str], list[str], list[str], list[list[str]], list[int]]]:
    return [
        (names, ids, [str(fp) for fp in batch], links, batch.positions.tolist())
        for names, ids, batch, links in chunks
    ]


@pytest.mark.parametrize("size", [1, 3, 50_000], ids=["size-1", "size-3", "default-size"])
def test_the_scan_reads_what_the_store_reads(tmp_path: Path, state_union: dict[str, str], size: int) -> None:
    db = str(tmp_path / "store.db")
    with Store(db) as store:
        _fill(store, state_union)  # a corrupt row, a row of other parameters, a bank of other parameters
    spaced = str(fingerprint("a text whose fingerprint is stored with a non-ASCII space around it"))
    # refused by the compiled pass, parsed by parse_many; and one that does not parse at all
    _insert_raw(db, "news", "spaced", f"\u00a0{spaced}\u00a0")
    _insert_raw(db, "blogs", "accented", "ctw1:n1:k5:w4:public:AICAgICAIAé")
    with Store(db) as store:
        store.add_items("news", [ItemRecord("late", fingerprint(state_union[sorted(state_union)[0]]), None)])
        for banks in (["news", "blogs"], ["blogs"], ["blogs", "news", "blogs"]):
            told_fast: list[tuple[str, str, str]] = []
            told_store: list[tuple[str, str, str]] = []

            def on_bad_fast(bank: str, item_id: str, exc: CopytraceError) -> None:
                told_fast.append((bank, item_id, str(exc)))  # noqa: B023 (called within the iteration)

            def on_bad_store(bank: str, item_id: str, exc: CopytraceError) -> None:
                told_store.append((bank, item_id, str(exc)))  # noqa: B023

            fast = fingerprint_batches(store, banks, DEFAULT_PARAMS, size=size, on_bad=on_bad_fast)
            assert fast is not None
            got = _chunks(fast)
            want = _chunks(
                store.iter_fingerprint_batches(banks, DEFAULT_PARAMS, size=size, on_bad=on_bad_store)
            )
            assert got == want and got
            assert told_fast == told_store and len(told_fast) >= 2
    ids = [i for _, chunk, _, _, _ in got for i in chunk]
    assert "spaced" in ids and "accented" not in ids and "late" in ids


def test_the_scan_refuses_what_the_store_refuses(tmp_path: Path, state_union: dict[str, str]) -> None:
    db = str(tmp_path / "store.db")
    with Store(db) as store:
        _fill(store, state_union)

        def scan(banks: list[str], params: FingerprintParams) -> None:
            found = fingerprint_batches(store, banks, params, size=10, on_bad=lambda *_: None)
            assert found is not None
            list(found)

        with pytest.raises(UnknownBankError):
            scan(["news", "nowhere"], DEFAULT_PARAMS)
        with pytest.raises(ParameterMismatchError, match="k6"):
            scan(["k6"], DEFAULT_PARAMS)
        with pytest.raises(ValueError, match="at least 1"):
            fingerprint_batches(store, ["news"], DEFAULT_PARAMS, size=0, on_bad=lambda *_: None)


def test_other_databases_are_left_to_the_store(db_url: str) -> None:
    with Store(db_url) as store:
        store.create_bank("news", DEFAULT_PARAMS)
        found = fingerprint_batches(store, ["news"], DEFAULT_PARAMS, size=10, on_bad=lambda *_: None)
        if db_url.startswith("postgresql"):
            assert found is None
        else:
            assert found is not None and list(found) == []
    with Store("sqlite://") as memory:
        memory.create_bank("news", DEFAULT_PARAMS)
        assert fingerprint_batches(memory, ["news"], DEFAULT_PARAMS, size=10, on_bad=lambda *_: None) is None


def test_positions_and_tokens_are_those_the_store_parses(tmp_path: Path, text_000: str) -> None:
    db = str(tmp_path / "store.db")
    with Store(db) as store:
        fp = fingerprint(text_000)
        store.add_items("news", [ItemRecord("a", fp, text_000)], create=DEFAULT_PARAMS)
        found = fingerprint_batches(store, ["news"], DEFAULT_PARAMS, size=10, on_bad=lambda *_: None)
        ((_, _, batch, _),) = list(found or [])
    assert np.array_equal(batch.hashes, fp.hashes) and np.array_equal(batch.positions, fp.positions)
    assert batch.n_tokens.tolist() == [fp.n_tokens]
