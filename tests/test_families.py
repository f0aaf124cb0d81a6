"""Copy families: a bank full of versions of one text still finds its copies and excerpts, one result per
family; families survive restarts, split when the item holding them together goes, and are the same in the
library, the store, every live index and the service."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import Index, fingerprint
from copytrace.banks import Store
from copytrace.banks.live import LiveIndex
from copytrace.fingerprints.fingerprint import DEFAULT_PARAMS
from copytrace.fingerprints.keys import PUBLIC_KEY
from copytrace.index.families import Families
from copytrace.service import ServiceConfig, create_app
from copytrace.store.api_keys import create_key
from copytrace.store.store import ItemRecord

from .conftest import FOOTER

FILLER = (
    "The weather was mild this weekend and the market by the river stayed open late. Children played "
    "football on the green while their parents talked about the harvest, the price of bread and the new "
    "bus timetable that nobody seems to understand."
)
LOOKALIKE = str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441"})


def versions_of_000(text_000: str, n: int = 15) -> dict[str, str]:
    """Reposts of the article as a team banks them: each with its own first line, half with 2% word edits."""
    rng = random.Random(9)
    out = {}
    for i in range(n):
        words = text_000.split(" ")
        if i % 2:
            for j in rng.sample(range(len(words)), len(words) // 50):
                words[j] = rng.choice(["indeed", "truly", "again", "today"])
        out[f"repost-{i:02d}"] = (
            f"Version {i} repost from channel @news{rng.randrange(100, 999)}\n" + " ".join(words)
        )
    return out


def excerpt(text: str, n_words: int, start: int) -> str:
    return FILLER + " " + " ".join(text.split()[start : start + n_words]) + " " + FILLER


def queries(text_000: str, text_001: str) -> Iterator[tuple[str, str]]:
    yield "republished-001", text_001
    yield "look-alike", text_000.translate(LOOKALIKE)
    for n in (20, 40):
        for start in (30, 250, 500):
            yield f"excerpt-{n}@{start}", excerpt(text_000, n, start)


@pytest.fixture(scope="module", params=["text", "fingerprint-only"])
def dense_bank(request: pytest.FixtureRequest, text_000: str, state_union: dict[str, str]) -> Index:
    index = Index(keep_text=request.param == "text")
    for name, text in state_union.items():
        index.add(name, text if request.param == "text" else fingerprint(text), bank="news")
    for name, text in versions_of_000(text_000).items():
        index.add(name, text if request.param == "text" else fingerprint(text), bank="news")
    return index


def test_versions_form_one_family_beside_unrelated_texts(
    dense_bank: Index, state_union: dict[str, str]
) -> None:
    assert dense_bank.family("repost-07", bank="news") == ("repost-00", 15)
    assert dense_bank.n_families("news") == len(state_union) + 1


@pytest.mark.parametrize("case", [name for name, _ in queries("a b", "c")], ids=str)
def test_a_dense_bank_finds_copies_and_excerpts_once_per_family(
    dense_bank: Index, text_000: str, text_001: str, case: str
) -> None:
    text = dict(queries(text_000, text_001))[case]
    found = dense_bank.match(text, banks=["news"])
    assert [(m.family, m.family_size) for m in found] == [("repost-00", 15)]
    assert found[0].item_id.startswith("repost-")
    every = dense_bank.match(text, banks=["news"], per_family=False)
    assert len(every) > 1 and {m.family for m in every} == {"repost-00"}


def test_the_licence_footer_alone_matches_nothing_in_a_dense_bank(
    text_000: str, state_union: dict[str, str]
) -> None:
    index = Index()
    for name, text in state_union.items():
        index.add(name, text + "\n" + FOOTER)  # unrelated texts share the footer: boilerplate
    for name, text in versions_of_000(text_000).items():
        index.add(name, text + "\n" + FOOTER)
    assert index.match("Read the news today. " + FOOTER) == []


# ----------------------------------------------------------------------------- the families themselves
@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, int, list[int]]]:
    """Adds (with links to earlier items) and removals, as a bank sees them."""
    ops: list[tuple[str, int, list[int]]] = []
    n = 0
    alive: list[int] = []
    for _ in range(draw(st.integers(1, 40))):
        if alive and draw(st.booleans()) and draw(st.booleans()):
            victim = draw(st.sampled_from(alive))
            alive.remove(victim)
            ops.append(("remove", victim, []))
        else:
            links = draw(st.lists(st.integers(0, max(0, n - 1)), max_size=3)) if n else []
            ops.append(("add", n, links))
            alive.append(n)
            n += 1
    return ops


def components(alive: list[int], links: dict[int, list[int]]) -> set[frozenset[int]]:
    """Connected components of the links among the items present, by plain search."""
    edges = {a: set() for a in alive}
    for a in alive:
        for b in links.get(a, []):
            if b in edges:
                edges[a].add(b)
                edges[b].add(a)
    seen: set[int] = set()
    out = set()
    for a in alive:
        if a in seen:
            continue
        group, todo = set(), [a]
        while todo:
            x = todo.pop()
            if x not in group:
                group.add(x)
                todo.extend(edges[x] - group)
        seen |= group
        out.add(frozenset(group))
    return out


@given(st.lists(st.lists(st.integers(0, 30), max_size=3), min_size=1, max_size=30), st.data())
@settings(max_examples=100, deadline=None, derandomize=True)
def test_families_restored_with_links_taken_on_first_need_are_those_restored_at_once(
    linked: list[list[int]], data: st.DataObject
) -> None:
    present = {f"i{n}": n for n in range(len(linked))}
    saved = Families(present.get, lambda n: f"i{n}")
    for n, targets in enumerate(linked):
        saved.add(n, f"i{n}", [f"i{t}" for t in targets if t < n])
    links = {name: saved.links(name) for _, name in saved.linked()}
    calls = []

    def later() -> dict[object, tuple[object, ...]]:
        calls.append(1)
        return dict(links)

    eager, lazy = Families(present.get, lambda n: f"i{n}"), Families(present.get, lambda n: f"i{n}")
    eager.restore(saved.labels[: len(linked)], links)
    lazy.restore(saved.labels[: len(linked)], later)
    everyone = range(len(linked))
    assert [(lazy.family_of(n), lazy.size(n)) for n in everyone] == [
        (eager.family_of(n), eager.size(n)) for n in everyone
    ]
    assert calls == []  # reading families needs no links
    gone = data.draw(st.integers(0, len(linked) - 1))
    for f in (eager, lazy):
        f.remove(gone)
    del present[f"i{gone}"]
    new = len(linked)
    present[f"i{new}"] = new
    for f in (eager, lazy):
        f.add(new, f"i{new}", [f"i{t}" for t in linked[0]])
    left = [n for n in range(new + 1) if n != gone]
    assert [(lazy.family_of(n), lazy.size(n), lazy.links(f"i{n}")) for n in left] == [
        (eager.family_of(n), eager.size(n), eager.links(f"i{n}")) for n in left
    ]
    assert calls == [1]


@given(histories())
@settings(max_examples=200, deadline=None, derandomize=True)
def test_families_are_the_components_of_the_links_among_present_items(
    ops: list[tuple[str, int, list[int]]],
) -> None:
    present: dict[str, int] = {}
    families = Families(present.get, lambda n: f"i{n}")
    links: dict[int, list[int]] = {}
    alive: list[int] = []
    for op, number, linked in ops:
        if op == "add":
            present[f"i{number}"] = number
            links[number] = linked
            families.add(number, f"i{number}", [f"i{x}" for x in linked])
            alive.append(number)
        else:
            del present[f"i{number}"]
            families.remove(number)
            alive.remove(number)
    expected = components(alive, links)
    got: dict[int, set[int]] = {}
    for a in alive:
        got.setdefault(int(families.labels[a]), set()).add(a)
    assert {frozenset(g) for g in got.values()} == expected
    for group in expected:
        for a in group:
            assert families.family_of(a) == min(group) and families.size(a) == len(group)


def test_compaction_keeps_families(text_000: str, state_union: dict[str, str]) -> None:
    index = Index()
    for name, text in list(state_union.items())[:10]:
        index.add(name, text)
    for name, text in versions_of_000(text_000, 6).items():
        index.add(name, text)
    for name in list(state_union)[:10]:
        index.remove(name)
    index.compact()
    assert index.family("repost-05") == ("repost-00", 6)
    index.remove("repost-00")
    assert index.family("repost-05")[1] == 5


# ------------------------------------------------------------------------------- store and live indexes
def _records(texts: dict[str, str]) -> list[ItemRecord]:
    return [ItemRecord(name, fingerprint(text), text) for name, text in texts.items()]


def test_families_are_stored_and_split_in_the_store_and_every_live_index(
    db_url: str, text_000: str, state_union: dict[str, str]
) -> None:
    """A chain a ~ b ~ c (c is not a version of a): removing b splits it, in the store's derived families
    and in two live indexes following the store, as two service workers would."""
    words = text_000.split()
    tenth = len(words) // 10
    a, b, c = (" ".join(words[start * tenth : (start + 5) * tenth]) for start in (0, 2, 4))
    store = Store(db_url)
    store.add_items("news", _records(dict(list(state_union.items())[:5])), create=DEFAULT_PARAMS)
    store.add_items("news", _records({"a": a, "b": b}))
    store.add_items("news", _records({"c": c}))
    assert store.get_item("news", "b").links == ["a"] and store.get_item("news", "c").links == ["b"]
    assert store.family_counts() == {"news": 6}
    workers = [LiveIndex(store, PUBLIC_KEY, poll_seconds=0.05) for _ in range(2)]
    for live in workers:
        live.catch_up()
    [m] = workers[0].match(c, banks=["news"])
    assert (m.item_id, m.family, m.family_size) == ("c", "a", 3)
    store.remove_item("news", "b")
    assert store.family_counts() == {"news": 7}
    for live in workers:  # a and c share a passage, but are no longer one family
        live.catch_up()
        found = {(m.item_id, m.family, m.family_size) for m in live.match(c, banks=["news"])}
        assert found == {("c", "c", 1), ("a", "a", 1)}
    rebuilt = store.build_index(["news"], cache=False)
    assert rebuilt.family("c", bank="news") == ("c", 1) and rebuilt.family("a", bank="news") == ("a", 1)
    for live in workers:
        live.stop()
    store.close()


def test_a_restarted_store_derives_the_same_families(tmp_path: Path, text_000: str) -> None:
    db = str(tmp_path / "store.db")
    with Store(db) as store:
        store.add_items("news", _records(versions_of_000(text_000, 5)), create=DEFAULT_PARAMS)
    with Store(db, create=False) as store:
        assert store.family_counts() == {"news": 1}
        index = store.build_index(["news"])
        assert index.family("repost-04", bank="news") == ("repost-00", 5)
        assert store.build_index(["news"]).family("repost-04", bank="news") == ("repost-00", 5)  # cached


def test_an_upgraded_store_links_the_items_it_already_held(tmp_path: Path, text_000: str) -> None:
    from alembic import command

    from copytrace.store.store import _alembic_config

    db = str(tmp_path / "old.db")
    with Store(db) as store:
        store.add_items("news", _records(versions_of_000(text_000, 4)), create=DEFAULT_PARAMS)
        cfg = _alembic_config()
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")  # the store as the previous release left it: no links
    with Store(db) as store:  # opening migrates, and links what was there
        links = [r.links for r in store.iter_items("news")]
        assert links[0] == [] and all(links[1:]) and links[1] == ["repost-00"]
        assert store.family_counts() == {"news": 1}


def test_the_service_reports_one_match_per_family(
    tmp_path: Path, text_000: str, text_001: str, state_union: dict[str, str]
) -> None:
    """Versions posted one by one and in bulk join one family: /v1/match reports it once, all_versions
    every version."""
    db = str(tmp_path / "service.db")
    with Store(db) as store:
        h = {"Authorization": f"Bearer {create_key(store, 'ops', 'admin')[1]}"}
    config = ServiceConfig(db=db, poll_seconds=0.1, snapshot_dir=str(tmp_path / "snap"))
    reposts = list(versions_of_000(text_000).items())
    with TestClient(create_app(config)) as c:
        assert c.app.state.ctx.live.wait_ready(30)  # type: ignore[attr-defined]
        assert c.post("/v1/banks", json={"name": "news"}, headers=h).status_code == 201
        for name, text in list(state_union.items())[:10] + reposts[:5]:
            assert (
                c.post("/v1/banks/news/items", json={"id": name, "text": text}, headers=h).status_code == 201
            )
        lines = "\n".join(json.dumps({"id": name, "text": text}) for name, text in reposts[5:])
        r = c.post("/v1/banks/news/items:bulk", content=lines.encode(), headers=h)
        assert r.status_code == 200 and r.json()["added"] == 10, r.text
        for name, text in queries(text_000, text_001):
            found = c.post("/v1/match", json={"text": text}, headers=h).json()["matches"]
            assert [(m["family"], m["family_size"]) for m in found] == [("repost-00", 15)], name
        every = c.post("/v1/match", json={"text": text_001, "all_versions": True}, headers=h).json()[
            "matches"
        ]
        assert len(every) == 15 and {m["family"] for m in every} == {"repost-00"}


def test_add_many_links_as_adding_one_by_one_does(text_000: str, state_union: dict[str, str]) -> None:
    items = list(versions_of_000(text_000, 8).items()) + list(state_union.items())[:10]
    one_by_one, at_once = Index(), Index()
    for name, text in items:
        one_by_one.add(name, text)
    at_once.add_many(items)
    assert [at_once.links(name) for name, _ in items] == [one_by_one.links(name) for name, _ in items]
    assert at_once.family("repost-07") == one_by_one.family("repost-07") == ("repost-00", 8)


def test_consecutive_adds_reuse_the_linking_index(
    tmp_path: Path, text_000: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk load in calls of many items links each call against the index the last one left, instead of
    rebuilding the bank's index from the store every time; a change by anyone else in between is seen."""
    store = Store(str(tmp_path / "store.db"))
    reposts = list(versions_of_000(text_000, 6).items())
    store.add_items("news", _records(dict(reposts[:2])), create=DEFAULT_PARAMS)
    built = []
    real = store.snapshots.index
    monkeypatch.setattr(store.snapshots, "index", lambda *a, **k: built.append(1) or real(*a, **k))
    store.add_items("news", _records(dict(reposts[2:4])))
    store.add_items("news", _records(dict(reposts[4:5])))
    assert built == [] and store.get_item("news", "repost-04").links
    with Store(str(tmp_path / "store.db")) as other:  # another writer: the kept index is stale
        other.remove_item("news", "repost-00")
    store.add_items("news", _records(dict(reposts[5:])))
    assert built == [1] and "repost-00" not in store.get_item("news", "repost-05").links
    store.close()
