"""``copytrace serve`` as a real process: several workers stay consistent, and what a request acknowledged
survives the server being killed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx2
import pytest

from copytrace.banks import Store
from copytrace.store.api_keys import create_key

from . import server

pytestmark = pytest.mark.slow  # a server of two workers killed with SIGKILL


def test_workers_agree_and_acknowledged_items_survive_a_kill(
    db_url: str, tmp_path: Path, state_union: dict[str, str]
) -> None:
    with Store(db_url) as store:
        _, key = create_key(store, "ops", "admin")
    h = {"Authorization": f"Bearer {key}"}
    names = sorted(state_union)[:16]  # 8 added one by one, 8 in one bulk request
    proc, url = server.start(db_url, tmp_path, workers=2)
    acknowledged = []
    try:
        with httpx2.Client(base_url=url, headers=h, timeout=30) as c:
            assert c.post("/v1/banks", json={"name": "speeches"}).status_code == 201
            for name in names[:8]:
                r = c.post("/v1/banks/speeches/items", json={"id": name, "text": state_union[name]})
                assert r.status_code == 201
                acknowledged.append(name)
            bulk = "\n".join(json.dumps({"id": n, "text": state_union[n]}) for n in names[8:])
            assert c.post("/v1/banks/speeches/items:bulk", content=bulk).json()["added"] == 8
            acknowledged += names[8:]
            # whichever worker answers, every acknowledged item is matchable within 5 s
            deadline = time.monotonic() + 5
            for name in names[::2] * 2:
                while name not in [
                    m["item_id"]
                    for m in c.post("/v1/match", json={"text": state_union[name]}).json()["matches"]
                ]:
                    assert time.monotonic() < deadline, f"{name} not matchable on every worker within 5 s"
                    time.sleep(0.05)
    finally:
        server.kill(proc)  # SIGKILL: no shutdown code runs
    with Store(db_url) as store:
        assert sorted(i.item_id for i in store.iter_items("speeches")) == sorted(acknowledged)
    with server.serving(db_url, tmp_path) as url, httpx2.Client(base_url=url, headers=h) as c:
        assert c.get("/health").json()["index"]["items"] == 16
        actions = [e["action"] for e in c.get("/v1/audit?limit=200").json()["entries"]]
        assert actions.count("add_item") == 8 and actions.count("add_items") == 1
