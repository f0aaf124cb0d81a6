"""Stored fingerprints read in batches are the rows ``iter_parsed_fingerprints`` gives: in runs of one bank
(``copytrace.banks.build.stored_batches``), or in chunks read with Core statements
(``Store.iter_fingerprint_batches``, on SQLite and PostgreSQL); a row that does not parse is reported and
left out."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update

from copytrace import DEFAULT_PARAMS, ParameterMismatchError, UnknownBankError, fingerprint
from copytrace.banks import Store
from copytrace.banks.build import stored_batches
from copytrace.errors import CopytraceError
from copytrace.fingerprints.fingerprint import FingerprintParams
from copytrace.store import ItemRecord
from copytrace.store.models import ItemRow

from .test_live_index import _insert_raw


@pytest.mark.parametrize("size", [1, 3, 1000], ids=["rows-of-one", "rows-of-three", "one-chunk"])
def test_batches_are_the_parsed_rows(tmp_path: Path, state_union: dict[str, str], size: int) -> None:
    db = str(tmp_path / "store.db")
    names = sorted(state_union)[:9]
    with Store(db) as store:
        for bank in ("a", "b"):
            store.create_bank(bank, DEFAULT_PARAMS)
        for n, name in enumerate(names):  # the banks interleave in the order added
            text = state_union[name]
            store.add_items("ab"[n % 2], [ItemRecord(name, fingerprint(text), text)])
    _insert_raw(db, "a", "broken", "ctw1:n1:k5:w4:public:AICAgICAIA")
    with Store(db) as store:
        store.add_items("b", [ItemRecord("late", fingerprint(state_union[names[0]]), None)])
        bad: list[tuple[str, str, CopytraceError]] = []
        got = list(
            stored_batches(store, ["a", "b"], DEFAULT_PARAMS, on_bad=lambda *row: bad.append(row), size=size)
        )
        want = list(store.iter_parsed_fingerprints(["a", "b"]))
    assert [(b, i) for b, i, _ in bad] == [("a", "broken")]
    rows = [
        (bank, item_id, fp, links)
        for bank, ids, batch, links_of in got
        for item_id, fp, links in zip(ids, batch, links_of, strict=True)
    ]
    assert [(b, i, links) for b, i, _, links in rows] == [(b, i, links) for b, i, _, links in want]
    for (_, _, fp, _), (_, _, parsed, _) in zip(rows, want, strict=True):
        assert fp == parsed and np.array_equal(fp.positions, parsed.positions)
    assert all(0 < len(ids) <= size for _, ids, _, _ in got)


# -------------------------------------------------------------------- Store.iter_fingerprint_batches
@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as s:
        yield s


def _pieces(state_union: dict[str, str], n: int) -> list[str]:
    text = " ".join(state_union.values())
    return [text[i * 1500 : (i + 1) * 1500] for i in range(n)]


def _fill(store: Store, state_union: dict[str, str]) -> None:
    """Two banks made with the default parameters (one row corrupt, one of other parameters), and one
    bank made with k=6."""
    texts = _pieces(state_union, 12)
    store.add_items(
        "news",
        [
            ItemRecord(f"n{i}", fingerprint(t), links=[f"n{i - 1}"] if i % 3 else [])
            for i, t in enumerate(texts[:7])
        ],
        create=DEFAULT_PARAMS,
    )
    store.add_items(
        "blogs",
        [ItemRecord(f"b{i}", fingerprint(t), links=[]) for i, t in enumerate(texts[7:])],
        create=DEFAULT_PARAMS,
    )
    store.add_items(
        "k6", [ItemRecord("x", fingerprint(texts[0], k=6), links=[])], create=FingerprintParams(k=6)
    )
    with store.engine.begin() as conn:
        conn.execute(
            update(ItemRow).where(ItemRow.item_id == "n2").values(fingerprint="ctw1:n1:k5:w4:public:AAAA")
        )
        conn.execute(
            update(ItemRow).where(ItemRow.item_id == "b1").values(fingerprint=str(fingerprint(texts[8], k=6)))
        )


def _flat(store: Store, banks: list[str], size: int) -> list[tuple[str, str, str, list[str]]]:
    out = []
    for names, ids, batch, links in store.iter_fingerprint_batches(banks, DEFAULT_PARAMS, size=size):
        assert len(names) == len(ids) == len(batch) == len(links) > 0
        out += [(n, i, str(fp), ln) for n, i, fp, ln in zip(names, ids, batch, links, strict=True)]
    return out


@pytest.mark.parametrize("size", [1, 3, 50_000], ids=["size-1", "size-3", "default-size"])
def test_batches_hold_what_iter_parsed_fingerprints_gives(
    store: Store, state_union: dict[str, str], size: int, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(store, state_union)
    banks = ["news", "blogs"]
    with caplog.at_level(logging.WARNING, logger="copytrace.store"):
        want = [
            (b, i, str(fp), ln)
            for b, i, fp, ln in store.iter_parsed_fingerprints(banks)
            if fp.params == DEFAULT_PARAMS
        ]
    parsed_warnings = [r.getMessage() for r in caplog.records]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="copytrace.store"):
        got = _flat(store, banks, size)
    assert got == want and len(got) == 10
    assert [i for _, i, _, _ in got] == ["n0", "n1", "n3", "n4", "n5", "n6", "b0", "b2", "b3", "b4"]
    assert got[1][3] == ["n0"] and got[0][3] == []
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings[0] == parsed_warnings[0] and "'n2'" in warnings[0]
    assert len(warnings) == 2 and "'b1'" in warnings[1] and "expected ctw1:n1:k5:w4:public" in warnings[1]


def test_chunks_have_the_size_asked_for_and_a_chunk_of_bad_rows_is_skipped(
    store: Store, state_union: dict[str, str]
) -> None:
    _fill(store, state_union)
    sizes = [len(b) for _, _, b, _ in store.iter_fingerprint_batches(["news"], DEFAULT_PARAMS, size=3)]
    assert sizes == [2, 3, 1]  # n2 is corrupt
    sizes = [len(b) for _, _, b, _ in store.iter_fingerprint_batches(["news"], DEFAULT_PARAMS, size=1)]
    assert sizes == [1] * 6


def test_banks_must_exist_and_have_the_parameters(store: Store, state_union: dict[str, str]) -> None:
    _fill(store, state_union)
    with pytest.raises(UnknownBankError, match="nope"):
        next(store.iter_fingerprint_batches(["news", "nope"], DEFAULT_PARAMS))
    with pytest.raises(
        ParameterMismatchError, match="bank 'k6' parameters ctw1:n1:k5:w4:public do not match"
    ):
        next(store.iter_fingerprint_batches(["news", "k6"], DEFAULT_PARAMS))
    with pytest.raises(ValueError, match="size must be at least 1"):
        next(store.iter_fingerprint_batches(["news"], DEFAULT_PARAMS, size=0))
    assert list(store.iter_fingerprint_batches([], DEFAULT_PARAMS)) == []
