"""Stored fingerprints read in batches (``copytrace.store.batches``) are the rows ``iter_parsed_fingerprints``
gives, in runs of one bank; a row that does not parse is reported and left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from copytrace import DEFAULT_PARAMS, fingerprint
from copytrace.errors import CopytraceError
from copytrace.store import ItemRecord, Store
from copytrace.store.batches import fingerprint_batches

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
            fingerprint_batches(
                store, ["a", "b"], DEFAULT_PARAMS, on_bad=lambda *row: bad.append(row), size=size
            )
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
