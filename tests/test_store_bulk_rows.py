"""The rows of a bulk write (``copytrace.store.bulk_rows``): fingerprint strings made for many items at once
are the strings ``str`` makes, and rows inserted as tuples read back as the ORM stores them, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from copytrace.fingerprints.batch import fingerprint_many
from copytrace.fingerprints.fingerprint import Fingerprint, FingerprintParams
from copytrace.store import ItemRecord
from copytrace.store.bulk_rows import fingerprint_strings, insert_rows
from copytrace.store.models import BankRow, Base, ItemRow
from copytrace.store.store import Store

GOLDEN = json.loads((Path(__file__).parent / "golden" / "fingerprints_v1.json").read_text(encoding="utf-8"))
PARAMS = FingerprintParams()
KEYED = FingerprintParams(key_id="0123456789abcdef")


def test_the_golden_vectors_are_made_again() -> None:
    fps = [Fingerprint.parse(v["fingerprint"]) for v in GOLDEN]
    assert fingerprint_strings(fps) == [v["fingerprint"] for v in GOLDEN]


@st.composite
def fingerprints(draw: st.DrawFn) -> Fingerprint:
    """Any fingerprint object, also ones ``fingerprint`` never makes (positions out of order, huge values):
    the string form of each is what ``str`` writes."""
    n = draw(st.integers(0, 40))
    hashes = draw(st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n))
    positions = draw(st.lists(st.integers(0, 2**62), min_size=n, max_size=n))
    if draw(st.booleans()):
        positions.sort()
    return Fingerprint(
        draw(st.sampled_from([PARAMS, KEYED])),
        np.array(hashes, dtype=np.uint64),
        np.array(positions, dtype=np.int64),
        draw(st.integers(0, 2**40)),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(fingerprints(), max_size=12))
def test_fingerprint_strings_are_the_strings_str_makes(fps: list[Fingerprint]) -> None:
    assert fingerprint_strings(fps) == [str(fp) for fp in fps]


@pytest.mark.parametrize(
    "n_hashes",
    [pytest.param(0, id="no-hashes"), pytest.param(1, id="one"), pytest.param(5000, id="many")],
)
def test_fingerprint_strings_of_one(n_hashes: int) -> None:
    rng = np.random.default_rng(n_hashes)
    fp = Fingerprint(
        PARAMS,
        rng.integers(0, 2**63, n_hashes, dtype=np.uint64) * 2,
        np.cumsum(rng.integers(1, 4, n_hashes)).astype(np.int64),
        3 * n_hashes + 200,
    )
    assert fingerprint_strings([fp]) == [str(fp)]


def _raw_rows(store: Store) -> list[tuple[Any, ...]]:
    """Every item row as the driver reads it (JSON and timestamps as stored, not converted back)."""
    with store.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.exec_driver_sql(
                "SELECT item_id, text, fingerprint, CAST(labels AS TEXT), CAST(metadata AS TEXT), "
                "CAST(links AS TEXT), phrase, CAST(added_at AS TEXT) FROM items ORDER BY id"
            )
        ]


VALUES: list[dict[str, Any]] = [
    {"labels": [], "meta": {}, "links": None, "phrase": None, "text": "a"},
    {"labels": ["x", "ü"], "meta": {"k": [1, 2.5, None], "n": {"é": True}}, "links": ["a"], "text": None},
    {"labels": [], "meta": {}, "links": [], "phrase": None, "text": ""},
]


def test_rows_inserted_as_tuples_are_stored_as_the_orm_stores_them(db_url: str) -> None:
    """The same items written by the ORM and by ``insert_rows`` read back the same, as the driver reads
    them, on both backends (JSON ``null`` for no links included), and as given through the ORM."""
    at = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)
    columns = (
        "item_id",
        "text",
        "fingerprint",
        "labels",
        "metadata",
        "links",
        "phrase",
        "bank_id",
        "added_at",
    )
    with Store(db_url) as store:
        with store.session() as s, s.begin():
            bank = BankRow(name="b", params=str(PARAMS), created_at=at)
            s.add(bank)
            s.flush()
            for n, v in enumerate(VALUES):
                s.add(
                    ItemRow(
                        item_id=f"orm{n}",
                        text=v["text"],
                        fingerprint=f"fp{n}",
                        labels=v["labels"],
                        meta=v["meta"],
                        links=v["links"],
                        phrase=v.get("phrase"),
                        bank_id=bank.id,
                        added_at=at,
                    )
                )
            s.flush()
            rows = [
                (
                    f"tup{n}",
                    v["text"],
                    f"fp{n}",
                    v["labels"],
                    v["meta"],
                    v["links"],
                    v.get("phrase"),
                    bank.id,
                    at,
                )
                for n, v in enumerate(VALUES)
            ]
            insert_rows(s.connection(), Base.metadata.tables["items"], columns, rows)
        raw = _raw_rows(store)
        assert [r[1:] for r in raw[: len(VALUES)]] == [r[1:] for r in raw[len(VALUES) :]]
        with store.session() as s:
            read = [
                (r.labels, r.meta, r.links, r.added_at)
                for r in s.scalars(select(ItemRow).order_by(ItemRow.id))
            ]
        assert read == [(v["labels"], v["meta"], v["links"], at) for v in VALUES] * 2


def test_a_bulk_write_reads_back_each_item(db_url: str) -> None:
    """``Store.add_items`` of many items (several insert batches) stores each one's fingerprint string, text,
    labels and metadata as given, and one change row per item."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words, int(rng.integers(1, 40)))) for _ in range(4500)]
    fps, _ = fingerprint_many(texts, allow_short=True)
    records = [
        ItemRecord(f"item/{n}", fp, text if n % 3 else None, ["l"] * (n % 2), {"n": n}, links=[])
        for n, (text, fp) in enumerate(zip(texts, fps, strict=True))
    ]
    with Store(db_url) as store:
        assert store.add_items("b", records, create=PARAMS) == 4500
        got = list(store.iter_items("b", with_text=True))
        assert [(r.item_id, str(r.fingerprint), r.text, r.labels, r.metadata) for r in got] == [
            (r.item_id, str(r.fingerprint), r.text, r.labels, r.metadata) for r in records
        ]
        with store.engine.connect() as conn:
            changes = conn.exec_driver_sql(
                "SELECT op, item_id FROM changes WHERE op = 'add' ORDER BY id"
            ).all()
        assert [tuple(c) for c in changes] == [("add", r.item_id) for r in records]
