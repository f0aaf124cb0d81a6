"""The token sidecar of a snapshot: the quote pass's first check measured from it gives the answers it
gives from the stored texts, through adds, removes and replacements after the snapshot; its items' texts
are not read for it; a sidecar of another snapshot, truncated, or of items numbered anew is not believed;
a live index writes it in the background and takes it up."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from copytrace import DEFAULT_PARAMS, Index, fingerprint
from copytrace.banks import Store, live_tokens
from copytrace.banks.live import LiveIndex
from copytrace.banks.texts import BatchTexts
from copytrace.fingerprints.keys import PUBLIC_KEY
from copytrace.index import _quote_runs, token_sidecar
from copytrace.index.token_sidecar import SidecarError
from copytrace.store import ItemRecord
from copytrace.store.tables import changes

WORDS = [
    "tide",
    "harbor",
    "lantern",
    "copper",
    "violet",
    "meadow",
    "quarry",
    "ember",
    "falcon",
    "thistle",
    "orchard",
    "granite",
    "willow",
    "the",
    "of",
    "and",
    "committee",
    "budget",
    "river",
    "stone",
]


def prose(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


class Lookup:
    """A text lookup over ``texts`` (item id to text; a missing id has no text) that counts what it reads."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.batch: set[tuple[str, str]] = set()
        self.prefetched: list[set[str]] = []
        self.one_by_one: list[str] = []

    def prefetch(self, names: list[tuple[str, str]]) -> None:
        self.batch = set(names)
        self.prefetched.append({item_id for _, item_id in names})

    def __call__(self, bank: str, item_id: str) -> str | None:
        if (bank, item_id) not in self.batch:
            self.one_by_one.append(item_id)
        return self.texts.get(item_id)

    def read(self) -> set[str]:
        return set().union(*self.prefetched, self.one_by_one)

    def reset(self) -> None:
        self.prefetched, self.one_by_one = [], []


IDENTITY = {"snapshot": "test", "n_items": 0}


def snapshot_pair(
    tmp_path: Path, texts: dict[str, str], stored: dict[str, str] | None = None
) -> tuple[Index, Index, Lookup, Lookup, Path]:
    """Two openings of one snapshot of the fingerprints of ``texts``, whose texts the lookups give
    (``stored``: other texts): the first with the sidecar, written from a third opening as a live index
    writes it, the second without."""
    stored = texts if stored is None else stored
    index = Index()
    index.add_many(((item_id, fingerprint(text)) for item_id, text in texts.items()), bank="b")
    path = tmp_path / "snap.ctidx"
    index.save(path)
    source = Index.load(path, text_lookup=Lookup(stored))
    n = len(texts)
    identity = {**IDENTITY, "n_items": n}

    def cut(numbers: list[int]) -> list[Any]:
        return _quote_runs.cut_items(source._contents, numbers)

    side_path = token_sidecar.path_for(path)
    assert token_sidecar.write(side_path, identity, n, cut, lambda: 7)
    sidecar = token_sidecar.load(side_path, identity)
    assert sidecar is not None and sidecar.texts_generation == 7
    with_lookup, plain_lookup = Lookup(dict(stored)), Lookup(dict(stored))
    with_side = Index.load(path, text_lookup=with_lookup)
    assert with_side._contents.attach_tokens(sidecar)
    plain = Index.load(path, text_lookup=plain_lookup)
    return with_side, plain, with_lookup, plain_lookup, side_path


def posts_about(rng: random.Random, texts: dict[str, str], n: int) -> list[str]:
    """Quotes of 8 to 16 words of the items, chance words of several, and posts of other words."""
    ids = sorted(texts)
    out = []
    for p in range(n):
        words = texts[rng.choice(ids)].rstrip(".").split()
        at = rng.randrange(max(1, len(words) - 16))
        kind = p % 3
        if kind == 0:
            out.append("A post quoting " + " ".join(words[at : at + rng.randint(8, 16)]) + " and more.")
        elif kind == 1:
            parts = [" ".join(texts[rng.choice(ids)].split()[at : at + 6]) for _ in range(4)]
            out.append(" then ".join(parts))
        else:
            out.append(prose(rng, 30))
    return out


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000), changes=st.lists(st.sampled_from(["add", "remove", "replace"]), max_size=12)
)
def test_the_sidecar_gives_the_answers_of_the_stored_texts(
    tmp_path_factory: pytest.TempPathFactory, seed: int, changes: list[str]
) -> None:
    rng = random.Random(seed)
    texts = {f"i{n}": prose(rng, rng.randint(20, 90)) for n in range(rng.randint(5, 25))}
    texts[f"i{len(texts)}"] = "tide harbor lantern copper violet"  # one k-gram
    stored = {**texts, "i0": prose(rng, 30)}  # an item stored with a text not of its fingerprint
    with_side, plain, with_lookup, plain_lookup, _ = snapshot_pair(
        tmp_path_factory.mktemp("s"), texts, stored
    )
    fresh = len(texts)
    for change in changes:
        present = sorted(with_side.items())
        if change == "add" or not present:
            item_id, text = f"n{fresh}", prose(rng, rng.randint(20, 90))
            fresh += 1
        else:
            _, item_id = rng.choice(present)
            for index in (with_side, plain):
                index.remove(item_id, bank="b")
            if change == "remove":
                continue
            text = prose(rng, rng.randint(20, 90))  # replaced: another text under the same id
        for index, lookup in ((with_side, with_lookup), (plain, plain_lookup)):
            lookup.texts[item_id] = text
            index.add(item_id, fingerprint(text), bank="b")
    everything = {**texts, **with_lookup.texts}
    posts = posts_about(rng, everything, 30)
    assert with_side.match_many(posts) == plain.match_many(posts)
    for post in posts[:6]:
        assert with_side.match(post) == plain.match(post)


def test_the_quote_pass_reads_no_text_for_sidecar_items(tmp_path: Path) -> None:
    rng = random.Random(4)
    texts = {f"i{n}": prose(rng, 60) for n in range(20)}
    with_side, plain, with_lookup, plain_lookup, _ = snapshot_pair(tmp_path, texts)
    late = prose(rng, 60)
    for index, lookup in ((with_side, with_lookup), (plain, plain_lookup)):
        lookup.texts["late"] = late
        index.add("late", fingerprint(late), bank="b")
    posts = [  # six words of each of four items: a few words in common by chance, no quote
        " and then ".join(" ".join(texts[f"i{n}"].split()[20:26]) for n in range(p, p + 4))
        for p in range(0, 20, 4)
    ]
    posts.append(" and then ".join([" ".join(late.split()[10:18]), " ".join(texts["i0"].split()[30:36])]))
    assert with_side.match_many(posts) == plain.match_many(posts) == [[] for _ in posts]
    assert len(plain_lookup.read()) > 5  # the store path reads the candidates' texts
    assert with_lookup.read() == {"late"}  # only the item added after the snapshot is read


def test_a_sidecar_of_another_snapshot_is_not_believed(tmp_path: Path) -> None:
    texts = {f"i{n}": prose(random.Random(n), 40) for n in range(8)}
    _, plain, _, _, side_path = snapshot_pair(tmp_path, texts)
    with pytest.raises(SidecarError, match="another snapshot"):
        token_sidecar.load(side_path, {**IDENTITY, "n_items": 8, "snapshot": "other"})
    assert token_sidecar.load(tmp_path / "none.tokens", IDENTITY) is None
    sidecar = token_sidecar.load(side_path, {**IDENTITY, "n_items": 8})
    assert sidecar is not None
    smaller = Index.load(tmp_path / "snap.ctidx")
    smaller._contents.snapshot_items = 7  # an index of other items
    assert not smaller._contents.attach_tokens(sidecar)
    for n in range(6):
        plain.remove(f"i{n}", bank="b")  # compacts: the items are numbered anew
    assert plain._contents.snapshot_items is None and not plain._contents.attach_tokens(sidecar)


def test_a_sidecar_whose_counts_are_not_the_items_is_refused(tmp_path: Path) -> None:
    texts = {f"i{n}": prose(random.Random(n), 40) for n in range(8)}
    _, _, _, _, side_path = snapshot_pair(tmp_path, texts)
    sidecar = token_sidecar.load(side_path, {**IDENTITY, "n_items": 8})
    assert sidecar is not None
    other = {f"i{n}": prose(random.Random(n + 100), 50) for n in range(8)}  # other lengths
    index = Index()
    index.add_many(((item_id, fingerprint(text)) for item_id, text in other.items()), bank="b")
    index.save(tmp_path / "other.ctidx")
    assert not Index.load(tmp_path / "other.ctidx")._contents.attach_tokens(sidecar)


@pytest.mark.parametrize("cut_at", [1, 100, -1, -9])
def test_a_truncated_sidecar_is_rejected(tmp_path: Path, cut_at: int) -> None:
    texts = {f"i{n}": prose(random.Random(n), 40) for n in range(8)}
    _, _, _, _, side_path = snapshot_pair(tmp_path, texts)
    data = side_path.read_bytes()
    short = tmp_path / "short.tokens"
    short.write_bytes(data[:cut_at] if cut_at > 0 else data[: len(data) + cut_at])
    with pytest.raises(SidecarError):
        token_sidecar.load(short, {**IDENTITY, "n_items": 8})


def test_offsets_that_do_not_add_up_are_rejected(tmp_path: Path) -> None:
    texts = {f"i{n}": prose(random.Random(n), 40) for n in range(8)}
    _, _, _, _, side_path = snapshot_pair(tmp_path, texts)
    data = bytearray(side_path.read_bytes())
    offsets_at = len(data) - 8 * 9
    data[offsets_at + 8 * 3 : offsets_at + 8 * 4] = np.int64(10**6).tobytes()
    bad = tmp_path / "bad.tokens"
    bad.write_bytes(bytes(data))
    with pytest.raises(SidecarError, match="add up"):
        token_sidecar.load(bad, {**IDENTITY, "n_items": 8})


def test_a_live_index_writes_the_sidecar_and_takes_it_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_union: dict[str, str]
) -> None:
    monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(live_tokens, "CHECK_SECONDS", 0.0)
    names = sorted(state_union)[:12]
    db = str(tmp_path / "store.db")
    store = Store(db)
    try:
        store.create_bank("speeches", DEFAULT_PARAMS)
        for name in names[:10]:
            store.add_items("speeches", [ItemRecord(name, fingerprint(state_union[name]), state_union[name])])
        live = LiveIndex(store, PUBLIC_KEY, poll_seconds=0.05, snapshot_dir=str(tmp_path / "snap"))
        live.start()
        try:
            assert live.wait_ready(60)
            deadline = time.monotonic() + 60
            while live._index is None or live._index._contents.sidecar is None:
                assert time.monotonic() < deadline, "the sidecar was not taken up"
                time.sleep(0.05)
            assert list((tmp_path / "snap").glob("*.ctidx.tokens"))
            quote = " ".join(state_union[names[3]].split()[200:215])
            assert [m.item_id for m in live.match(f"He said {quote} and left.")] == [names[3]]
            store.remove_item("speeches", names[3])
            store.add_items("speeches", [ItemRecord(names[11], fingerprint(state_union[names[11]]), None)])
            live.catch_up()
            assert live.match(f"He said {quote} and left.") == []
        finally:
            live.stop()
        index, mapped = live._index, live._mapped
        assert index is not None and mapped is not None
        contents = index._contents
        sidecar = contents.sidecar
        assert sidecar is not None
        contents.sidecar = None
        live.tokens.poll(index, mapped, sidecar.texts_generation - 1)
        assert contents.sidecar is None  # its texts are newer than the index: not believed yet
        live.tokens.poll(index, mapped, sidecar.texts_generation)
        assert contents.sidecar is not None
    finally:
        store.close()


def _stopped_live_index(tmp_path: Path, texts: dict[str, str]) -> tuple[Store, LiveIndex]:
    """A live index over a few items, started (its snapshot saved and mapped), then stopped: its
    sidecar's ``poll`` is then called by the test alone."""
    store = Store(str(tmp_path / "store.db"))
    store.create_bank("speeches", DEFAULT_PARAMS)
    for name in sorted(texts)[:6]:
        store.add_items("speeches", [ItemRecord(name, fingerprint(texts[name]), texts[name])])
    live = LiveIndex(store, PUBLIC_KEY, poll_seconds=0.05, snapshot_dir=str(tmp_path / "snap"))
    live.tokens.build = False  # nothing written in the background
    live.start()
    try:
        assert live.wait_ready(60)
    finally:
        live.stop()
    live._stop.clear()  # stopped so that the test alone polls: writes are not stopped
    live.tokens.build = True
    return store, live


def _poll_until_idle(live: LiveIndex, times: int) -> None:
    index, mapped = live._index, live._mapped
    assert index is not None and mapped is not None
    for _ in range(times):
        live.tokens.poll(index, mapped, live._generation)
        thread = live.tokens._thread
        if thread is not None:
            thread.join(30)


def test_a_failed_write_waits_before_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_union: dict[str, str]
) -> None:
    monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(live_tokens, "CHECK_SECONDS", 0.0)
    store, live = _stopped_live_index(tmp_path, state_union)
    tries = []

    def full_disk(*args: Any, **kwargs: Any) -> bool:
        tries.append(1)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(token_sidecar, "write", full_disk)
    try:
        _poll_until_idle(live, 5)
        assert len(tries) == 1  # every try reads and cuts every text: not once a poll
        live.tokens._retry_at = 0.0  # its wait over
        _poll_until_idle(live, 1)
        assert len(tries) == 2
    finally:
        store.close()


def test_no_sidecar_is_written_for_a_snapshot_deleted_while_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_union: dict[str, str]
) -> None:
    monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(live_tokens, "CHECK_SECONDS", 0.0)
    store, live = _stopped_live_index(tmp_path, state_union)
    try:
        assert live._mapped is not None
        live._mapped.path.unlink()  # a newer snapshot replaced it (``drop_others``)
        _poll_until_idle(live, 3)
        assert live.tokens._thread is None
        assert not list((tmp_path / "snap").glob("*.tokens*"))
    finally:
        store.close()


def test_the_sidecar_of_a_snapshot_gone_is_deleted_with_the_others(tmp_path: Path) -> None:
    from copytrace.banks.live_snapshots import LiveSnapshots

    folder = tmp_path / "snap"
    folder.mkdir()
    stem = folder / "live-abc-123"
    kept = LiveSnapshots.path(stem, 7)
    kept.write_bytes(b"snapshot")
    mine = token_sidecar.path_for(kept)
    mine.write_bytes(b"sidecar")
    orphan = token_sidecar.path_for(LiveSnapshots.path(stem, 5))  # its snapshot set aside or deleted
    orphan.write_bytes(b"sidecar")
    orphan.with_name(orphan.name + ".lock").write_bytes(b"")
    LiveSnapshots.drop_others(stem, kept)
    assert sorted(p.name for p in folder.iterdir()) == sorted([kept.name, mine.name])


def test_a_write_carries_over_the_items_it_is_given(tmp_path: Path) -> None:
    rng = random.Random(11)
    texts = {f"i{n}": prose(rng, rng.randint(20, 90)) for n in range(40)}
    _, _, _, _, side_path = snapshot_pair(tmp_path, texts, {k: v for k, v in texts.items() if k != "i3"})
    old = token_sidecar.load(side_path, {**IDENTITY, "n_items": 40})
    assert old is not None
    source = Index.load(tmp_path / "snap.ctidx", text_lookup=Lookup(texts))
    identity = {**IDENTITY, "snapshot": "next", "n_items": 40}
    asked: list[int] = []

    def cut(numbers: list[int]) -> list[Any]:
        asked.extend(numbers)
        return _quote_runs.cut_items(source._contents, numbers)

    numbers = np.arange(40, dtype=np.int64)
    numbers[[0, 3, 4, 20, 39]] = -1  # read and cut: i3 has a text now
    numbers[10:14] = numbers[10:14][::-1].copy()  # carried, but not in runs
    carried, fresh = tmp_path / "carried.tokens", tmp_path / "fresh.tokens"
    previous = token_sidecar.Previous(old, numbers)
    assert token_sidecar.write(carried, identity, 40, cut, lambda: 9, previous=previous)
    assert sorted(asked) == [0, 3, 4, 20, 39]
    want = np.arange(40)
    want[10:14] = want[10:14][::-1].copy()
    full = Index.load(tmp_path / "snap.ctidx", text_lookup=Lookup(texts))

    def reorder(numbers: list[int]) -> list[Any]:  # the items as ``numbers`` lays them out
        return _quote_runs.cut_items(full._contents, [int(want[j]) for j in numbers])

    assert token_sidecar.write(fresh, identity, 40, reorder, lambda: 9)
    mine, theirs = token_sidecar.load(carried, identity), token_sidecar.load(fresh, identity)
    assert mine is not None and theirs is not None
    assert mine.state[3] == _quote_runs.TEXT and old.state[3] == _quote_runs.NO_TEXT
    for a, b in ((mine.state, theirs.state), (mine.offsets, theirs.offsets), (mine.hashes, theirs.hashes)):
        assert np.array_equal(a, b)


def _wait(what: str, done: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("kept", [8, 40])
def test_a_new_snapshot_carries_over_the_sidecar_of_the_items_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_union: dict[str, str], kept: int
) -> None:
    """With 8 items the removal and the replacement compact the index (its names are read from the old
    snapshot's file); with 40 they do not (the index's own names)."""
    monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(live_tokens, "CHECK_SECONDS", 0.0)
    names = sorted(state_union)[: kept + 3]
    store = Store(str(tmp_path / "store.db"))
    try:
        store.create_bank("speeches", DEFAULT_PARAMS)
        for name in names[:kept]:
            store.add_items("speeches", [ItemRecord(name, fingerprint(state_union[name]), state_union[name])])
        live = LiveIndex(store, PUBLIC_KEY, poll_seconds=0.05, snapshot_dir=str(tmp_path / "snap"))
        live.start()
        try:
            assert live.wait_ready(60)
            _wait("the first sidecar", lambda: live._index is not None and live._index._contents.sidecar)
            first = live._mapped.path if live._mapped else None
            replaced = state_union[names[kept + 2]]  # names[2] stored again with another text
            store.remove_item("speeches", names[1])
            store.add_items("speeches", [ItemRecord(names[2], fingerprint(replaced), replaced)], replace=True)
            for name in names[kept : kept + 2]:
                store.add_items(
                    "speeches", [ItemRecord(name, fingerprint(state_union[name]), state_union[name])]
                )
            live.catch_up()
            assert live._index is not None
            assert (live._index._contents.snapshot_items is None) == (kept == 8)
            monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 3600.0)  # with a carry: at once
            with live._sync_lock:
                live._save_snapshot()
            assert live._mapped is not None and live._mapped.path != first
            assert first is not None and not first.exists()  # its sidecar deleted with it, kept mapped
            _wait("the second sidecar", lambda: live._index is not None and live._index._contents.sidecar)
            assert live.tokens.carried_items == kept - 2  # not the one removed nor the one replaced
            quote = " ".join(replaced.split()[300:315])
            assert [m.item_id for m in live.match(f"He said {quote} and left.")] == [names[2]]
        finally:
            live.stop()
        path = live._mapped.path
        sidecar = live._index._contents.sidecar if live._index else None
        assert sidecar is not None
        again = Index.load(path, text_lookup=BatchTexts(store))
        n = sidecar.n_items
        fresh = tmp_path / "fresh.tokens"
        cut = lambda numbers: _quote_runs.cut_items(again._contents, numbers)  # noqa: E731
        assert token_sidecar.write(fresh, sidecar.identity, n, cut, lambda: 0)
        theirs = token_sidecar.load(fresh, sidecar.identity)
        assert theirs is not None
        for a, b in ((sidecar.state, theirs.state), (sidecar.offsets, theirs.offsets)):
            assert np.array_equal(a, b)
        assert np.array_equal(sidecar.hashes, theirs.hashes)
    finally:
        store.close()


@contextmanager
def _running_live_index(tmp_path: Path, texts: dict[str, str]) -> Iterator[tuple[Store, LiveIndex]]:
    """A live index over ``texts`` (one bank), started and ready; stopped and its store closed after."""
    store = Store(str(tmp_path / "store.db"))
    try:
        store.create_bank("speeches", DEFAULT_PARAMS)
        for name, text in texts.items():
            store.add_items("speeches", [ItemRecord(name, fingerprint(text), text)])
        live = LiveIndex(store, PUBLIC_KEY, poll_seconds=0.05, snapshot_dir=str(tmp_path / "snap"))
        live.start()
        try:
            assert live.wait_ready(60)
            yield store, live
        finally:
            live.stop()
    finally:
        store.close()


def test_no_carry_over_when_the_feed_no_longer_holds_every_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_union: dict[str, str]
) -> None:
    """An item edited in place (one word: the same token count) after the first sidecar, the feed then
    pruned past the edit: nothing may be carried, since the edit cannot be seen; the quote of the edit is
    found through the new sidecar exactly as through the texts."""
    monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(live_tokens, "CHECK_SECONDS", 0.0)
    names = sorted(state_union)[:8]
    with _running_live_index(tmp_path, {name: state_union[name] for name in names}) as (store, live):
        _wait("the first sidecar", lambda: live._index is not None and live._index._contents.sidecar)
        before = live._generation
        words = state_union[names[2]].split()
        words[300] = "zebra"
        edited = " ".join(words)
        store.add_items("speeches", [ItemRecord(names[2], fingerprint(edited), edited)], replace=True)
        live.catch_up()
        assert live._generation > before
        with store.engine.begin() as conn:  # every follower has applied it: pruned
            conn.execute(delete(changes).where(changes.c.generation > before))
        monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 3600.0)  # with a carry: at once
        with live._sync_lock:
            live._save_snapshot()
        _wait("the second sidecar", lambda: live._index is not None and live._index._contents.sidecar)
        assert live.tokens.carried_items is None
        queries = [f"He said {' '.join(words[a : a + 10])} and left." for a in range(291, 301)]
        through_sidecar = live.match_many(queries)
        assert live._index is not None
        live._index._contents.sidecar = None
        assert live.match_many(queries) == through_sidecar
        assert all(names[2] in [m.item_id for m in found] for found in through_sidecar)


def test_a_sidecar_written_to_in_place_is_written_again_not_mapped_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_union: dict[str, str]
) -> None:
    """Zeros written over some hashes (the size kept): the file is deleted and a new one written."""
    monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(live_tokens, "CHECK_SECONDS", 0.0)
    names = sorted(state_union)[:8]
    with _running_live_index(tmp_path, {name: state_union[name] for name in names}) as (_store, live):
        _wait("the sidecar", lambda: live._index is not None and live._index._contents.sidecar)
        assert live._index is not None and live._mapped is not None
        first = live._index._contents.sidecar
        assert first is not None
        path = token_sidecar.path_for(live._mapped.path)
        inode = path.stat().st_ino
        good = np.array(first.hashes)
        time.sleep(0.01)  # a modification time of its own
        with open(path, "r+b") as file:
            file.seek(token_sidecar.HEADER_BYTES)
            file.write(bytes(min(4096, 2 * len(good))))

        def again() -> bool:
            sidecar = live._index._contents.sidecar if live._index else None
            return sidecar is not None and sidecar is not first and path.exists()

        _wait("a sidecar written again", again)
        assert path.stat().st_ino != inode
        sidecar = live._index._contents.sidecar if live._index else None
        assert sidecar is not None and np.array_equal(sidecar.hashes, good)


def test_the_writer_runs_at_the_lowest_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_union: dict[str, str]
) -> None:
    monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(live_tokens, "CHECK_SECONDS", 0.0)
    store, live = _stopped_live_index(tmp_path, state_union)
    seen: list[int] = []

    def write(*args: Any, **kwargs: Any) -> bool:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return False

    monkeypatch.setattr(token_sidecar, "write", write)
    if os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) >= 19:
        pytest.skip("the tests run at the lowest priority already: nothing to tell apart")
    try:
        _poll_until_idle(live, 1)
        assert seen == [19]
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != 19  # not the caller's
    finally:
        store.close()


def test_stop_stops_a_write_in_progress_and_removes_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_union: dict[str, str]
) -> None:
    monkeypatch.setattr(live_tokens, "BUILD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(live_tokens, "CHECK_SECONDS", 0.0)
    monkeypatch.setattr(token_sidecar, "CHUNK", 1)
    cut_items = _quote_runs.cut_items

    def slowly(contents: Any, numbers: list[int]) -> list[Any]:
        time.sleep(0.5)
        return cut_items(contents, numbers)

    monkeypatch.setattr(_quote_runs, "cut_items", slowly)
    store, live = _stopped_live_index(tmp_path, state_union)
    try:
        index, mapped = live._index, live._mapped
        assert index is not None and mapped is not None
        live.tokens.poll(index, mapped, live._generation)
        thread = live.tokens._thread
        assert thread is not None
        folder = tmp_path / "snap"
        _wait("a temporary file", lambda: list(folder.glob("*.tokens.*.tmp")), 10)
        live.stop()
        assert not thread.is_alive()
        assert not list(folder.glob("*.tokens*.tmp"))
        assert not list(folder.glob("*.ctidx.tokens"))
    finally:
        store.close()


TRUNCATE = """
import json, os, sys
from copytrace import DEFAULT_PARAMS, fingerprint
from copytrace.banks import Store, live_tokens
from copytrace.banks.live import LiveIndex
from copytrace.banks.texts import BatchTexts
from copytrace.fingerprints.keys import PUBLIC_KEY
from copytrace.index import token_sidecar
from copytrace.store import ItemRecord
import time

folder, texts = sys.argv[1], json.loads(open(sys.argv[2]).read())
live_tokens.BUILD_AFTER_SECONDS = live_tokens.CHECK_SECONDS = 0.0
store = Store(folder + "/store.db")
store.create_bank("speeches", DEFAULT_PARAMS)
for name, text in texts.items():
    store.add_items("speeches", [ItemRecord(name, fingerprint(text), text)])
live = LiveIndex(store, PUBLIC_KEY, poll_seconds=0.05, snapshot_dir=folder + "/snap")
live.start()
assert live.wait_ready(60)
deadline = time.monotonic() + 60
while live._index is None or live._index._contents.sidecar is None:
    assert time.monotonic() < deadline
    time.sleep(0.05)
names = sorted(texts)
posts = [  # a quote; six words of each of four items, which the quote pass measures and finds no quote in
    "He said " + " ".join(texts[names[3]].split()[200:215]) + " and left.",
    " and then ".join(" ".join(texts[n].split()[100:106]) for n in names[:4]),
]
before = [[m.item_id for m in found] for found in live.match_many(posts)]
path = token_sidecar.path_for(live._mapped.path)
os.chmod(path, 0o644)
os.truncate(path, token_sidecar.HEADER_BYTES)  # the same file, shorter: mapped pages past its end
after = [[m.item_id for m in found] for found in live.match_many(posts)]
print(json.dumps([before, after, live._index._contents.sidecar is None]), flush=True)
live.stop()
"""


def test_a_sidecar_truncated_while_mapped_is_dropped_before_it_is_read(
    tmp_path: Path, state_union: dict[str, str]
) -> None:
    texts = {name: state_union[name] for name in sorted(state_union)[:8]}
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    script = tmp_path / "truncate.py"
    script.write_text(TRUNCATE)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(tmp_path / "texts.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]  # SIGBUS: -7
    before, after, dropped = json.loads(done.stdout.strip().split("\n")[-1])
    assert before == after and before[0] == [sorted(texts)[3]] and dropped
