"""The first change a service worker applies to the index it mapped from a snapshot: the item posted links
to banked versions without the snapshot's saved links being named (at 1,000,000 items naming its 14,306
links took that post 0.08 s and more), and the families stay those of an index that took every link at
once."""

from __future__ import annotations

import random
from collections.abc import Hashable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import DEFAULT_PARAMS, fingerprint
from copytrace.banks import Store
from copytrace.index import snapshot_contents
from copytrace.index.families import Families
from copytrace.service import ServiceConfig, create_app
from copytrace.store import ItemRecord
from copytrace.store.api_keys import create_key


def reposts(text: str, n: int) -> dict[str, str]:
    """Versions of ``text`` as a team banks them: each with its own first line, some with word edits."""
    rng = random.Random(5)
    out = {}
    for i in range(n):
        words = text.split(" ")
        for j in rng.sample(range(len(words)), len(words) // 60 if i % 2 else 0):
            words[j] = rng.choice(["indeed", "truly", "again"])
        out[f"repost-{i}"] = f"Repost {i} from channel @news{rng.randrange(100, 999)}\n" + " ".join(words)
    return out


def test_the_first_post_through_a_worker_names_no_saved_link(
    tmp_path: Path, text_000: str, state_union: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "store.db")
    versions = reposts(text_000, 4)
    with Store(db) as store:
        _, key = create_key(store, "ops", "admin")
        store.create_bank("news", DEFAULT_PARAMS)
        others = sorted(state_union)[:4]
        store.add_items("news", [ItemRecord(n, fingerprint(state_union[n]), state_union[n]) for n in others])
        banked = [ItemRecord(n, fingerprint(t), t) for n, t in list(versions.items())[:3]]
        store.add_items("news", banked)  # linked to each other as they are stored: the snapshot keeps it
    named = []
    name_links = snapshot_contents.links

    def links(*args: object) -> dict[Hashable, tuple[Hashable, ...]]:
        named.append(1)
        return name_links(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot_contents, "links", links)
    app = create_app(ServiceConfig(db=db, snapshot_dir=str(tmp_path / "snapshots"), poll_seconds=3600))
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        assert app.state.ctx.live.wait_ready(120)
        assert app.state.ctx.live._mapped is not None  # the worker maps the snapshot it built
        version = c.post("/v1/banks/news/items", json={"id": "repost-3", "text": versions["repost-3"]})
        new = c.post(
            "/v1/banks/news/items", json={"id": "speech", "text": state_union[sorted(state_union)[5]]}
        )
        assert (version.status_code, new.status_code) == (201, 201)
        assert named == []  # neither post named the snapshot's links

        def family_sizes() -> dict[str, int]:
            body = {"text": text_000, "all_versions": True, "limit": 10}
            return {m["item_id"]: m["family_size"] for m in c.post("/v1/match", json=body).json()["matches"]}

        assert family_sizes() == {f"repost-{i}": 4 for i in range(4)}  # the post joined the banked family
        assert c.delete("/v1/banks/news/items/repost-0").status_code == 200  # of the snapshot: links named
        assert named == [1]
        # the links the post made are kept with those named now: without them it would be a family alone
        assert family_sizes() == {f"repost-{i}": 3 for i in range(1, 4)}


@given(st.lists(st.lists(st.integers(0, 40), max_size=3), min_size=2, max_size=25), st.data())
@settings(max_examples=150, deadline=None, derandomize=True)
def test_items_added_with_links_before_the_saved_links_are_taken_leave_the_families_of_taking_them_first(
    saved_links: list[list[int]], data: st.DataObject
) -> None:
    """Families restored with their links taken on first need, told which names those links mention: items
    added with links (to saved items, to each other, to absent names, under a name a saved link names or
    not) before any removal, then removals and more additions, leave the families and links of families
    that took the saved links at once."""
    present = {f"i{n}": n for n in range(len(saved_links))}
    names = [f"i{n}" for n in range(len(saved_links))]
    saved = Families(present.get, names.__getitem__)
    for n, targets in enumerate(saved_links):  # targets from 30 on: items absent when it was saved
        saved.add(n, f"i{n}", [f"i{t}" for t in targets if t < n] + [f"gone{t}" for t in targets if t >= 30])
    links = {name: saved.links(name) for _, name in saved.linked()}
    mentioned = {name for name in links} | {other for linked in links.values() for other in linked}
    taken: list[int] = []

    def later() -> dict[Hashable, tuple[Hashable, ...]]:
        taken.append(1)
        return dict(links)

    eager, lazy = Families(present.get, names.__getitem__), Families(present.get, names.__getitem__)
    eager.restore(saved.labels[: len(saved_links)], links)
    lazy.restore(saved.labels[: len(saved_links)], later)
    lazy.mentions(mentioned.__contains__)

    def add(name: str, linked: list[str]) -> None:
        present[name] = len(names)
        names.append(name)
        for f in (eager, lazy):
            f.add(present[name], name, linked)

    def targets(k: int) -> list[str]:
        return data.draw(st.lists(st.sampled_from([*sorted(present), "gone31", "new-x"]), max_size=k))

    for step in range(data.draw(st.integers(1, 6))):  # no removal: the saved links stay untaken
        add(f"new-{step}", targets(3))
    assert taken == []
    for step in range(data.draw(st.integers(0, 5))):
        what = data.draw(st.sampled_from(["remove", "add", "add absent"]))
        if what == "remove" and len(present) > 1:
            number = present.pop(data.draw(st.sampled_from(sorted(present))))
            for f in (eager, lazy):
                f.remove(number)
        else:  # a name no saved link mentions, or one they name as absent (it must take them)
            name = f"gone{data.draw(st.integers(30, 40))}" if what == "add absent" else f"late-{step}"
            if name not in present:
                add(name, targets(2))
    numbers = sorted(present.values())

    def families(f: Families) -> list[tuple[int, int]]:
        return [(f.family_of(k), f.size(k)) for k in numbers]

    assert families(lazy) == families(eager)
    assert {name: lazy.links(name) for name in present} == {name: eager.links(name) for name in present}
    assert sorted(lazy.linked(), key=str) == sorted(eager.linked(), key=str)
