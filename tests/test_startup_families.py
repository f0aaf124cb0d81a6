"""An index mapped from a snapshot names its copy-family links only when a change needs them: an item added
without links under a name no saved link mentions (most additions: ``bank add`` of a new item, the
changes a command replays onto its cached snapshot) leaves them unnamed, and the families come out as those
of the same items and links added in memory."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import Index, fingerprint
from copytrace.fingerprints.fingerprint import Fingerprint
from copytrace.index import snapshot_contents

WORDS = [f"w{i}" for i in range(400)]
FINGERPRINTS: list[Fingerprint] = [
    fingerprint(" ".join(random.Random(seed).choices(WORDS, k=60))) for seed in range(16)
]
SAVED = [f"s{i}" for i in range(6)]  # the snapshot's items
LATER = [f"n{i}" for i in range(4)]  # names first added after it
ABSENT = [f"x{i}" for i in range(3)]  # names saved links name that the snapshot does not hold

Op = tuple[str, str, list[str]]


def _links(names: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(names), max_size=3, unique=True)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Op], list[Op]]:
    """Items saved in the snapshot (with links to one another and to absent names), then adds (with or
    without links, some under the absent names) and removes made after loading it."""
    saved = [("add", name, draw(_links(SAVED + ABSENT))) for name in SAVED[: draw(st.integers(1, 6))]]
    present = {name for _, name, _ in saved}
    after: list[Op] = []
    for _ in range(draw(st.integers(1, 8))):
        gone = sorted(present)
        if gone and draw(st.booleans()) and draw(st.booleans()):
            name = draw(st.sampled_from(gone))
            present.discard(name)
            after.append(("remove", name, []))
            continue
        free = [n for n in SAVED + LATER + ABSENT if n not in present]
        if not free:
            continue
        name = draw(st.sampled_from(free))
        present.add(name)
        linked = draw(st.one_of(st.just([]), _links(SAVED + LATER + ABSENT)))
        after.append(("add", name, [n for n in linked if n != name]))
    return saved, after


def _apply(index: Index, ops: list[Op]) -> None:
    for op, name, linked in ops:
        if op == "add":
            index.add(name, FINGERPRINTS[int(name[1:]) + "snx".index(name[0]) * 6], links=linked)
        else:
            index.remove(name)


def _families(index: Index) -> dict[str, tuple[tuple[str, int], list[str]]]:
    return {item_id: (index.family(item_id), index.links(item_id)) for _, item_id in index.items()}


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the calls that name a snapshot's links (the real function still answers them)."""
    calls: list[int] = []
    real = snapshot_contents.links

    def links(*args: Any) -> Callable[[], dict[Hashable, tuple[Hashable, ...]]]:
        calls.append(1)
        return real(*args)  # type: ignore[return-value]

    monkeypatch.setattr(snapshot_contents, "links", links)
    return calls


@given(histories())
@settings(max_examples=60, deadline=None, derandomize=True)
def test_families_after_changes_to_a_mapped_snapshot_are_those_made_in_memory(
    tmp_path_factory: pytest.TempPathFactory, history: tuple[list[Op], list[Op]]
) -> None:
    saved, after = history
    in_memory = Index()
    _apply(in_memory, saved)
    path = tmp_path_factory.mktemp("snap") / "index.ctx"
    in_memory.save(path)
    mapped = Index.load(path)
    _apply(in_memory, after)
    _apply(mapped, after)
    assert _families(mapped) == _families(in_memory)
    assert mapped.n_families() == in_memory.n_families()


def test_an_item_added_without_links_leaves_the_saved_links_unnamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = Index()
    _apply(index, [("add", "s0", []), ("add", "s1", ["s0"]), ("add", "s2", ["x0"])])
    index.save(tmp_path / "index.ctx")
    calls = _counted(monkeypatch)
    mapped = Index.load(tmp_path / "index.ctx")
    mapped.add("n0", FINGERPRINTS[6], links=[])
    mapped.add("n1", FINGERPRINTS[7], links=[])
    assert calls == []  # nothing named: a new name no saved link mentions joins no family
    assert [mapped.family(i) for i in ("n0", "n1", "s1")] == [("n0", 1), ("n1", 1), ("s0", 2)]
    mapped.add("x0", FINGERPRINTS[12], links=[])  # a saved link names it: it joins s2's family
    assert calls == [1]
    assert mapped.family("x0") == ("s2", 2) and mapped.links("s2") == ["x0"]
