"""The command line's index cache is caught up with the change feed, not rebuilt after every change.

A cached snapshot of generation g plus the changes after g gives the index a full rebuild would (on SQLite
and a real PostgreSQL); a change leaves the snapshot file as it is; a snapshot the feed no longer reaches
back to, or of another store, is rebuilt; ``store compact`` and the background compaction write the
snapshot of the current generation, leave no process behind and do not disturb a concurrent command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from copytrace import DEFAULT_PARAMS, fingerprint
from copytrace.banks import Store
from copytrace.index import Index
from copytrace.store import ItemRecord
from copytrace.store.models import ChangeRow

BANKS = ["a", "b"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache folder of each test's own, so that it sees only its own snapshots."""
    monkeypatch.setenv("COPYTRACE_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as s:
        yield s


@pytest.fixture(scope="module")
def pool(state_union_texts: list[str]) -> list[str]:
    """Texts and versions of them (an excerpt, the same text again), so that items form copy families."""
    whole = state_union_texts[:6]
    return [*whole, *(t[: len(t) // 2] for t in whole[:3]), whole[0]]


@pytest.fixture(scope="module")
def state_union_texts() -> list[str]:
    from .conftest import DATA

    paths = sorted((DATA / "corpora" / "state_union").glob("*.txt"))[:8]
    return [p.read_text(encoding="utf-8", errors="replace") for p in paths]


def _rec(item_id: str, text: str) -> ItemRecord:
    return ItemRecord(item_id, fingerprint(text), text)


def _snapshots() -> list[Path]:
    return sorted(Path(os.environ["COPYTRACE_CACHE"]).glob("index-*.ctidx"))


def _answers(index: Index, queries: list[str]) -> list[object]:
    """What an index says: its items, and every query's matches per family and per version."""
    out: list[object] = [sorted(index.items())]
    for q in queries:
        for per_family in (True, False):
            found = index.match(q, per_family=per_family)
            out.append(sorted((m.bank, m.item_id, m.kind, round(m.score, 9)) for m in found))
    return out


OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "replace", "remove", "compact"]), st.sampled_from(BANKS), st.integers(0, 9)
    ),
    max_size=8,
)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_the_caught_up_index_equals_a_full_rebuild(
    store: Store, pool: list[str], ops: list[tuple[str, str, int]]
) -> None:
    """Random adds, replacements and removals after a cached snapshot (examples follow each other on one
    store, so each starts from the state the one before left): the index from the cache answers as one
    built from the store."""
    for bank in BANKS:
        store.create_bank(bank, DEFAULT_PARAMS)
    store.build_index(BANKS)  # a snapshot of some generation now exists
    held = {(bank, item_id) for bank, item_id in store.build_index(BANKS).items()}
    changed = 0
    for op, bank, n in ops:
        item_id = f"item-{n}"
        if op == "compact":
            store.snapshots.compact(BANKS, DEFAULT_PARAMS)
            changed = 0
        elif op == "remove" and (bank, item_id) in held:
            store.remove_item(bank, item_id)
            held.discard((bank, item_id))
            changed += 1
        elif op in ("add", "replace"):
            text = pool[(n + (op == "replace")) % len(pool)]
            store.add_items(bank, [_rec(item_id, text)], replace=True)
            held.add((bank, item_id))
            changed += 1
    cached = store.build_index(BANKS)
    assert store.snapshots.replayed >= changed  # caught up from an older snapshot, not rebuilt
    rebuilt = store.build_index(BANKS, cache=False)
    assert {pair for pair in cached.items()} == held
    assert _answers(cached, pool[:6]) == _answers(rebuilt, pool[:6])


def test_a_match_after_an_add_does_not_rebuild(store: Store, pool: list[str]) -> None:
    store.add_items("a", [_rec("first", pool[0])], create=DEFAULT_PARAMS)
    assert [m.item_id for m in store.build_index(["a"]).match(pool[1])] == []
    (snapshot,) = _snapshots()
    before = snapshot.stat()
    store.add_items("a", [_rec("second", pool[1])])
    index = store.build_index(["a"])
    assert [m.item_id for m in index.match(pool[1])] == ["second"]
    assert store.snapshots.replayed == 1
    assert _snapshots() == [snapshot]
    after = snapshot.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    store.remove_item("a", "first")  # a removal is replayed too
    assert [m.item_id for m in store.build_index(["a"]).match(pool[0])] == []
    assert store.snapshots.replayed == 2 and _snapshots() == [snapshot]


def test_the_cli_match_after_an_add_answers_from_the_same_snapshot(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, pool: list[str]
) -> None:
    query = tmp_path / "query.txt"
    query.write_text(pool[1], encoding="utf-8")
    with Store(os.environ["COPYTRACE_DB"]) as store:
        store.add_items("news", [_rec("first", pool[0])], create=DEFAULT_PARAMS)
    assert cli("match", query)[0] == 1  # no match; the snapshot is written
    (snapshot,) = _snapshots()
    before = snapshot.stat()
    with Store(os.environ["COPYTRACE_DB"]) as store:
        store.add_items("news", [_rec("second", pool[1])])
    code, out, _ = cli("match", query)
    assert code == 0 and [json.loads(line)["item_id"] for line in out.splitlines()] == ["second"]
    after = snapshot.stat()
    assert _snapshots() == [snapshot] and (after.st_ino, after.st_mtime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
    )


def test_more_changes_than_are_worth_replaying_rebuild(store: Store, pool: list[str]) -> None:
    store.add_items("a", [_rec("first", pool[0])], create=DEFAULT_PARAMS)
    store.build_index(["a"])
    (old,) = _snapshots()
    store.add_items("a", [_rec("second", pool[1]), _rec("third", pool[2])])  # one generation, two changes
    store.snapshots.compact_minimum, store.snapshots.rebuild_fraction = 1, 0.0  # past what is worth replaying
    index = store.build_index(["a"])
    assert store.snapshots.replayed == 0 and sorted(index.items()) == [
        ("a", "first"),
        ("a", "second"),
        ("a", "third"),
    ]
    assert _snapshots() == [store.snapshots.path(["a"], DEFAULT_PARAMS, store.generation(), store.store_id)]
    assert not old.exists()
    store.add_items("a", [_rec("fourth", pool[3])])  # one change: replayed
    assert ("a", "fourth") in store.build_index(["a"]).items() and store.snapshots.replayed == 1


def test_a_feed_that_no_longer_reaches_the_snapshot_rebuilds(
    store: Store, pool: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    store.add_items("a", [_rec("first", pool[0])], create=DEFAULT_PARAMS)
    store.build_index(["a"])
    (old,) = _snapshots()
    store.add_items("a", [_rec("second", pool[1])])
    with store.session() as s, s.begin():  # the feed pruned past the snapshot's generation
        s.execute(delete(ChangeRow).where(ChangeRow.generation == store.generation()))
    index = store.build_index(["a"])
    assert "no longer reaches back" in caplog.text
    assert store.snapshots.replayed == 0 and [m.item_id for m in index.match(pool[1])] == ["second"]
    assert _snapshots() == [store.snapshots.path(["a"], DEFAULT_PARAMS, store.generation(), store.store_id)]
    assert not old.exists()


def test_another_stores_snapshot_at_an_older_generation_is_rebuilt(
    tmp_path: Path, pool: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with Store(str(tmp_path / "a.db")) as a, Store(str(tmp_path / "b.db")) as b:
        a.add_items("news", [_rec("a-item", pool[0])], create=DEFAULT_PARAMS)
        b.add_items("news", [_rec("b-item", pool[1])], create=DEFAULT_PARAMS)
        b.add_items("news", [_rec("b-other", pool[2])])
        a.build_index(["news"])
        (theirs,) = _snapshots()
        ours = b.snapshots.path(["news"], DEFAULT_PARAMS, 1, b.store_id)  # older than b's generation 2
        shutil.copyfile(theirs, ours)
        index = b.build_index(["news"])
        assert "rebuilding the cached index" in caplog.text and b.snapshots.replayed == 0
        assert index.match(pool[0]) == [] and sorted(index.items()) == [
            ("news", "b-item"),
            ("news", "b-other"),
        ]
        assert not ours.exists()


def test_store_compact_writes_the_snapshot_of_the_current_generation(
    cli: Callable[..., tuple[int, str, str]], pool: list[str]
) -> None:
    with Store(os.environ["COPYTRACE_DB"]) as store:
        store.add_items("news", [_rec("first", pool[0])], create=DEFAULT_PARAMS)
        store.build_index()
        (old,) = _snapshots()
        store.add_items("news", [_rec("second", pool[1])])
        store.remove_item("news", "first")
        generation, store_id = store.generation(), store.store_id
    code, out, _ = cli("store", "compact")
    assert code == 0
    (row,) = [json.loads(line) for line in out.splitlines()]
    new = Path(row["snapshot"])
    assert row["banks"] == ["news"] and row["generation"] == generation
    assert new.name.endswith(f"-g{generation}.ctidx") and store_id[:12] in new.name
    assert _snapshots() == [new] and not old.exists()
    with Store(os.environ["COPYTRACE_DB"]) as store:
        index = store.build_index()
        assert store.snapshots.replayed == 0 and sorted(index.items()) == [("news", "second")]
    assert cli("store", "compact")[0] == 0 and _snapshots() == [new]  # current: left as it is


def _compactions(cache: str) -> list[int]:
    """The live (not zombie) background compactions of the cache folder ``cache``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"compact_main" not in (proc / "cmdline").read_bytes():
                continue
            if f"COPYTRACE_CACHE={cache}".encode() not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            pids.append(int(proc.name))
    return pids


def test_the_background_compaction_leaves_no_process_and_no_broken_command(
    tmp_path: Path, state_union_texts: list[str]
) -> None:
    from .conftest import DATA

    db = str(tmp_path / "store.db")
    cache = os.environ["COPYTRACE_CACHE"]
    texts = {
        p.stem: p.read_text(encoding="utf-8", errors="replace")
        for p in (DATA / "corpora").glob("[is]*/*.txt")
    }
    names = sorted(texts)
    with Store(db) as store:
        store.add_items("news", [_rec(n, texts[n]) for n in names[:-20]], create=DEFAULT_PARAMS)
        store.build_index()
        for n in names[-20:]:
            store.add_items("news", [_rec(n, texts[n])])
        store.snapshots.compact_minimum = 10  # 20 changes replayed: past it
        store.snapshots.compact_fraction = 0.0
        store.snapshots.rebuild_fraction = 1.0  # and worth replaying
        query = texts[names[-1]]
        started = time.monotonic()
        index = store.build_index()
        assert [m.item_id for m in index.match(query)][:1] == [names[-1]]
        assert store.snapshots.compaction is not None and store.snapshots.compaction.returncode == 0
        generation = store.generation()
        final = store.snapshots.path(["news"], DEFAULT_PARAMS, generation, store.store_id)
        queries = 0
        while _compactions(cache) or not final.exists():  # commands go on meanwhile
            assert time.monotonic() - started < 120, "the background compaction did not finish"
            with Store(db) as other:
                assert [m.item_id for m in other.build_index().match(query)][:1] == [names[-1]]
            queries += 1
        env = {**os.environ, "COPYTRACE_DB": db}
        done = subprocess.run(
            [str(Path(sys.executable).with_name("copytrace")), "match", "-"],
            input=query,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[0])["item_id"] == names[-1]
    assert _compactions(cache) == []
    assert _snapshots() == [final]


def test_a_large_banks_compaction_starts_at_compact_maximum_not_at_its_share(
    tmp_path: Path, state_union_texts: list[str]
) -> None:
    """Every command replays every change after its snapshot, at a cost per change that does not shrink with
    the bank: past ``compact_maximum`` changes a compaction starts even where they are a small share of a
    large bank's items (1% of 1,000,000 would be 10,000 changes)."""
    db = str(tmp_path / "store.db")
    with Store(db) as store:
        assert store.snapshots.compact_after(100) == store.snapshots.compact_minimum
        assert store.snapshots.compact_after(1_000_000) == store.snapshots.compact_maximum == 2_000
        store.add_items("news", [_rec("t0", state_union_texts[0])], create=DEFAULT_PARAMS)
        store.build_index()
        for n, text in enumerate(state_union_texts[1:6], start=1):
            store.add_items("news", [_rec(f"t{n}", text)])
        store.snapshots.compact_fraction = 1.0  # a share never reached: one change per snapshot item
        store.snapshots.compact_minimum, store.snapshots.compact_maximum = 1, 3  # 5 changes: past it
        store.snapshots.rebuild_fraction = 10.0  # and worth replaying
        index = store.build_index()
        assert store.snapshots.replayed == 5 and len(index) == 6
        assert store.snapshots.compaction is not None and store.snapshots.compaction.returncode == 0
        final = store.snapshots.path(["news"], DEFAULT_PARAMS, store.generation(), store.store_id)
        started = time.monotonic()
        while _compactions(os.environ["COPYTRACE_CACHE"]) or not final.exists():
            assert time.monotonic() - started < 120, "the background compaction did not finish"
            time.sleep(0.2)
    assert _snapshots() == [final]
