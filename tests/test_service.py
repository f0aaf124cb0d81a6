"""The HTTP service through its API, on SQLite and on a real PostgreSQL: access, banks and items, matching,
bad input, audit, reviews, metrics, freshness across instances, and a store that goes down and comes back."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from copytrace import fingerprint
from copytrace.banks import Store
from copytrace.service import ServiceConfig, create_app
from copytrace.store.api_keys import create_key

from .postgres import PostgresServer, create_database, server_binaries


@dataclass
class Service:
    client: TestClient
    admin: str
    writer: str
    reader: str

    def h(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: object, key: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=body, headers=self.h(key or self.admin), **kw)  # type: ignore[arg-type]

    def get(self, path: str, key: str | None = None):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self.h(key or self.admin))

    def delete(self, path: str, key: str | None = None):  # type: ignore[no-untyped-def]
        return self.client.delete(path, headers=self.h(key or self.admin))


def _keys(db: str) -> tuple[str, str, str]:
    with Store(db) as store:
        return tuple(create_key(store, role, role)[1] for role in ("admin", "writer", "reader"))  # type: ignore[return-value]


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    admin, writer, reader = _keys(db_url)
    app = create_app(ServiceConfig(db=db_url, poll_seconds=0.1, snapshot_dir=str(tmp_path / "snap")))
    with TestClient(app) as client:
        assert app.state.ctx.live.wait_ready(30)
        app.state.keys.ttl = 0  # revocation takes effect on the next request
        yield Service(client, admin, writer, reader)


@pytest.fixture
def news(service: Service, text_000: str) -> Service:
    assert service.post("/v1/banks", {"name": "news"}).status_code == 201
    assert service.post("/v1/banks/news/items", {"id": "000", "text": text_000}).status_code == 201
    return service


def test_health_needs_no_key_and_reports_the_index(news: Service) -> None:
    body = news.client.get("/health").json()
    assert body["status"] == "ok" and body["index"]["items"] == 1
    assert body["lag"]["generations"] == 0
    spec = news.client.get("/openapi.json").json()
    assert {"/v1/match", "/v1/match:batch", "/v1/banks/{bank}/items:bulk", "/v1/audit"} <= set(spec["paths"])


def test_the_review_page_names_an_icon_that_is_served(service: Service) -> None:
    page = service.client.get("/").text
    assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in page
    for path in ("/favicon.svg", "/favicon.ico"):  # the second where a browser looks by default
        r = service.client.get(path)  # no key: a browser asks for it before one is entered
        assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml", path
        assert r.content.startswith(b"<svg") and b"</svg>" in r.content


def test_keys_and_roles(service: Service, text_000: str) -> None:
    c = service.client
    assert c.get("/v1/banks").status_code == 401
    assert c.get("/v1/banks", headers={"Authorization": "Bearer ctk_000000000000_nope"}).status_code == 401
    assert c.get("/v1/banks", headers={"Authorization": service.reader}).status_code == 401  # no scheme
    assert service.get("/v1/banks", service.reader).status_code == 200
    assert service.post("/v1/banks", {"name": "b"}, service.reader).status_code == 403
    assert service.post("/v1/banks", {"name": "b"}, service.writer).status_code == 201
    assert service.get("/v1/audit", service.writer).status_code == 403
    assert service.get("/v1/keys", service.writer).status_code == 403
    made = service.post("/v1/keys", {"name": "queue", "role": "reader"}).json()
    assert made["key"].startswith("ctk_") and made["role"] == "reader"
    assert service.get("/v1/banks", made["key"]).status_code == 200
    listed = {k["name"]: k for k in service.get("/v1/keys").json()["keys"]}
    assert "key" not in listed["queue"] and listed["queue"]["revoked_at"] is None
    assert service.delete("/v1/keys/queue").status_code == 200
    assert service.get("/v1/banks", made["key"]).status_code == 401
    assert service.delete("/v1/keys/nobody").status_code == 404


def test_banks_and_items(service: Service, text_000: str, text_001: str) -> None:
    assert service.post("/v1/banks", {"name": "news"}, service.writer).status_code == 201
    assert service.post("/v1/banks", {"name": "news"}, service.writer).status_code == 409
    r = service.post("/v1/banks/news/items", {"id": "000", "text": text_000, "labels": ["a"]}, service.writer)
    assert r.status_code == 201 and r.json() == {"id": "000"}
    assert service.post("/v1/banks/news/items", {"id": "000", "text": text_001}).status_code == 409
    assert (
        service.client.post(
            "/v1/banks/news/items?replace=true",
            json={"id": "000", "text": text_000, "labels": ["a"]},
            headers=service.h(service.admin),
        ).status_code
        == 201
    )
    # an item without an id gets one from its content; the same content again is a conflict
    auto = service.post("/v1/banks/news/items", {"fingerprint": str(fingerprint(text_001))}).json()["id"]
    assert auto.startswith("sha256:")
    assert (
        service.post("/v1/banks/news/items", {"fingerprint": str(fingerprint(text_001))}).status_code == 409
    )
    item = service.get("/v1/banks/news/items/000", service.reader).json()
    assert item["text"] == text_000 and item["labels"] == ["a"] and item["fingerprint"].startswith("ctw1:")
    banks = service.get("/v1/banks").json()["banks"]
    assert [(b["name"], b["items"]) for b in banks] == [("news", 2)]
    assert service.post("/v1/banks/nope/items", {"text": text_000}).status_code == 404
    assert service.get("/v1/banks/news/items/nope").status_code == 404
    assert service.delete(f"/v1/banks/news/items/{auto}", service.writer).status_code == 200
    assert service.delete(f"/v1/banks/news/items/{auto}").status_code == 404
    assert service.delete("/v1/banks/news").json() == {"deleted": "news", "items": 1}
    assert service.delete("/v1/banks/news").status_code == 404


def test_the_republished_copy_and_a_quoted_paragraph_match_with_spans(
    news: Service, text_000: str, text_001: str
) -> None:
    (m,) = news.post("/v1/match", {"text": text_001}, news.reader).json()["matches"]
    assert (m["bank"], m["item_id"]) == ("news", "000") and m["score"] > 0.9
    assert all(s["item_start"] is not None for s in m["spans"])
    paragraph = max(text_000.split("\n"), key=len)
    post = f"Look what they published today!!\n\n{paragraph}\n\nShare before it gets deleted."
    (m,) = news.post("/v1/match", {"text": post, "banks": ["news"]}, news.reader).json()["matches"]
    (span,) = m["spans"]
    passage = paragraph.strip().rstrip(".")  # a span runs from the first to the last matched word
    assert post[span["query_start"] : span["query_end"]] == passage
    assert text_000[span["item_start"] : span["item_end"]] == passage
    assert news.post("/v1/match", {"text": "nothing like it at all, not one bit"}).json() == {"matches": []}


def test_batch_and_fingerprint(news: Service, text_001: str) -> None:
    body = {"queries": [{"id": "q1", "text": text_001}, {"id": "q2", "text": "unrelated words " * 20}]}
    results = news.post("/v1/match:batch", body, news.reader).json()["results"]
    assert [r["id"] for r in results] == ["q1", "q2"]
    assert [m["item_id"] for m in results[0]["matches"]] == ["000"] and results[0]["matches"][0][
        "query"
    ] == "q1"
    assert results[1]["matches"] == []
    fp = news.post("/v1/fingerprint", {"text": text_001}, news.reader).json()
    assert fp["fingerprint"] == str(fingerprint(text_001))


def test_a_batch_answers_the_librarys_match_objects_and_counts_each_match(
    news: Service, text_000: str, text_001: str
) -> None:
    """Each result is ``Match.to_dict`` of the library's match, spans as ``dataclasses.asdict`` gives them
    (same keys, same order), and every match returned is counted in the metrics under its bank."""
    assert news.post("/v1/banks/news/items", {"id": "000-again", "text": text_000}).status_code == 201
    body = {"queries": [{"id": "q1", "text": text_001}], "all_versions": True}
    (result,) = news.post("/v1/match:batch", body, news.reader).json()["results"]
    live = news.client.app.state.ctx.live  # type: ignore[attr-defined]
    (expected,) = live.match_many([text_001], queries=["q1"], per_family=False)
    assert len(expected) == 2 and result["matches"] == [json.loads(json.dumps(m.to_dict())) for m in expected]
    for got, match in zip(result["matches"], expected, strict=True):
        assert [list(s.items()) for s in got["spans"]] == [list(asdict(s).items()) for s in match.spans]
    text = news.get("/metrics", news.reader).text
    assert 'copytrace_matches_total{bank="news"} 2.0' in text


def test_bulk_stores_good_lines_and_reports_bad_ones(news: Service, state_union: dict[str, str]) -> None:
    names = sorted(state_union)[:5]
    lines = [json.dumps({"id": n, "text": state_union[n]}) for n in names]
    lines[1:1] = [
        "{not json",
        json.dumps({"id": "x"}),
        json.dumps({"id": "000", "text": state_union[names[0]]}),
    ]
    lines.append(json.dumps({"id": "short", "text": "..."}))  # no token at all (a short text is a phrase)
    body = ("\n".join(lines) + "\n").encode()

    def chunks() -> Iterator[bytes]:  # streamed in pieces that cut lines in the middle
        for i in range(0, len(body), 7001):
            yield body[i : i + 7001]

    r = news.client.post("/v1/banks/news/items:bulk", content=chunks(), headers=news.h(news.writer))
    out = r.json()
    assert r.status_code == 200 and out["added"] == 5 and out["lines"] == 9
    assert [e["line"] for e in out["errors"]] == [2, 3, 4, 9]
    assert "malformed JSON" in out["errors"][0]["error"] and "already in bank" in out["errors"][2]["error"]
    assert news.get("/v1/banks").json()["banks"][0]["items"] == 6
    best = news.post("/v1/match", {"text": state_union[names[3]]}).json()["matches"][0]
    assert best["item_id"] == names[3] and best["score"] == 1.0
    assert (
        news.client.post("/v1/banks/nope/items:bulk", content=b"{}", headers=news.h(news.writer)).status_code
        == 404
    )


def test_bad_input_is_refused_with_a_clear_status(news: Service, text_000: str) -> None:
    c, h = news.client, news.h(news.reader)
    r = c.post("/v1/match", content=b'{"text": "abc",', headers=h)
    assert r.status_code == 422 and "malformed JSON" in r.json()["error"]
    r = c.post("/v1/match", json={"txt": "abc"}, headers=h)
    assert r.status_code == 422 and "text: Field required" in r.json()["error"]
    r = c.post("/v1/match", json={"text": 42}, headers=h)
    assert r.status_code == 422 and r.json()["error"].startswith("text:")
    r = c.post("/v1/match", content=b'{"text": "\xff\xfe"}', headers=h)
    assert r.status_code == 422 and "UTF-8" in r.json()["error"]
    r = c.post("/v1/match", content=b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", headers=h)
    assert r.status_code == 422 and r.json()["error"] == "body: malformed JSON (nested too deeply)"
    r = c.post("/v1/match", json={"text": "word " * 250_000}, headers=h)  # 1.25 MB
    assert r.status_code == 413 and "text: 1,250,000 bytes" in r.json()["error"]
    r = c.post("/v1/match", content=b"x" * 9_000_000, headers=h)
    assert r.status_code == 413
    r = c.post(
        "/v1/match:batch", json={"queries": [{"id": str(i), "text": "a"} for i in range(1001)]}, headers=h
    )
    assert r.status_code == 413 and "queries" in r.json()["error"]
    r = c.post("/v1/match:batch", json={"queries": [{"id": "1"}]}, headers=h)
    assert r.status_code == 422 and "queries.0.text" in r.json()["error"]
    assert c.post("/v1/match", json={"text": text_000, "banks": ["nope"]}, headers=h).status_code == 404
    r = news.post("/v1/banks/news/items", {"id": "a", "text": "x", "fingerprint": "y"})
    assert r.status_code == 422 and "exactly one" in r.json()["error"]
    assert news.post("/v1/banks/news/items", {"id": "a", "fingerprint": "ctw1:garbage"}).status_code == 422
    assert news.post("/v1/fingerprint", {"text": "too short"}).status_code == 422
    assert news.post("/v1/banks", {"name": ""}).status_code == 422
    assert news.get("/health").json()["index"]["items"] == 1  # nothing above changed the store


# A command or an option in an API error is advice the caller cannot follow: each status the API answers with
# is checked for the command line's terms, and where it gives a remedy, for the route or parameter to use.
CLI_TERMS = re.compile(r"(?<![\w-])--[a-z]|\bcopytrace [a-z]|\$COPYTRACE_")


def test_every_error_status_speaks_of_routes_fields_and_parameters(news: Service, text_000: str) -> None:
    c, writer = news.client, news.writer
    answers = {
        401: (c.get("/v1/banks"), "POST /v1/keys"),
        403: (news.post("/v1/banks", {"name": "x"}, news.reader), "role"),
        404: (news.post("/v1/banks/nope/items", {"id": "a", "text": text_000}, writer), "GET /v1/banks"),
        409: (news.post("/v1/banks/news/items", {"id": "000", "text": text_000}, writer), "?replace=true"),
        413: (news.post("/v1/match", {"text": "word " * 250_000}, news.reader), "text:"),
        422: (news.post("/v1/banks/news/items", {"id": "a"}, writer), "text"),
    }
    for code, (r, remedy) in answers.items():
        message = r.json()["error"]
        assert r.status_code == code and remedy in message and not CLI_TERMS.search(message), (code, message)
    for r, remedy in [
        (news.post("/v1/banks", {"name": "news"}, writer), "POST /v1/banks/{bank}/items"),  # 409, exists
        (news.post("/v1/match", {"text": text_000, "banks": ["nope"]}, news.reader), "POST /v1/banks"),
        (news.get("/v1/banks/news/items/nope", news.reader), "no item 'nope' in bank 'news'"),
        (news.delete("/v1/keys/nope"), "no API key named 'nope'"),
    ]:
        message = r.json()["error"]
        assert r.status_code in (404, 409) and remedy in message and not CLI_TERMS.search(message), message
    bulk = _bulk(news, "news", [json.dumps({"id": "000", "text": text_000})]).json()  # per line, the same
    (line,) = bulk["errors"]
    assert "?replace=true" in line["error"] and not CLI_TERMS.search(line["error"]), line
    assert (
        news.post("/v1/banks/news/items?replace=true", {"id": "000", "text": text_000}, writer).status_code
        == 201
    )


def test_every_change_is_audited_and_reviews_are_stored(news: Service, text_001: str) -> None:
    news.post("/v1/banks/news/items", {"id": "x1", "text": text_001}, news.writer)
    news.delete("/v1/banks/news/items/x1", news.writer)
    review = news.post(
        "/v1/reviews",
        {
            "bank": "news",
            "item_id": "000",
            "decision": "confirmed",
            "note": "same article",
            "query": text_001,
        },
        news.reader,
    )
    assert review.status_code == 201
    assert review.json()["query_sha256"] == hashlib.sha256(text_001.encode()).hexdigest()
    assert review.json()["actor"] == "key:reader"
    assert (
        news.post(
            "/v1/reviews", {"bank": "news", "item_id": "000", "decision": "maybe", "query": "q"}
        ).status_code
        == 422
    )
    got = news.get("/v1/reviews?bank=news&item_id=000", news.reader).json()["reviews"]
    assert [r["decision"] for r in got] == ["confirmed"]
    entries = news.get("/v1/audit?limit=3").json()
    assert [(e["action"], e["actor"], e["item_id"]) for e in entries["entries"]] == [
        ("review", "key:reader", "000"),
        ("remove_item", "key:writer", "x1"),
        ("add_item", "key:writer", "x1"),
    ]
    older = news.get(f"/v1/audit?limit=3&before={entries['next_before']}").json()["entries"]
    assert [e["action"] for e in older] == ["add_item", "create_bank", "create_key"]
    assert older[0]["actor"] == "key:admin" and older[0]["at"].endswith("+00:00")


def test_metrics(news: Service, text_001: str) -> None:
    news.post("/v1/match", {"text": text_001})
    assert news.client.get("/metrics").status_code == 401  # bank names are for key holders
    text = news.get("/metrics", news.reader).text
    assert 'copytrace_requests_total{method="POST",route="/v1/match",status="200"} 1.0' in text
    assert 'copytrace_matches_total{bank="news"} 1.0' in text
    assert "copytrace_index_items 1.0" in text
    assert 'copytrace_request_seconds_bucket{le="0.001",route="/v1/match"}' in text


def test_an_item_added_through_one_instance_is_matchable_on_another(
    db_url: str, tmp_path: Path, state_union: dict[str, str]
) -> None:
    admin, _, _ = _keys(db_url)
    h = {"Authorization": f"Bearer {admin}"}
    apps = [
        create_app(ServiceConfig(db=db_url, poll_seconds=0.2, snapshot_dir=str(tmp_path / f"s{n}")))
        for n in range(2)
    ]
    names = sorted(state_union)[18:30]  # the last matches none of the others, but for a quote
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        for app in apps:
            assert app.state.ctx.live.wait_ready(30)
        a.post("/v1/banks", json={"name": "speeches"}, headers=h)
        for name in names:
            assert (
                a.post(
                    "/v1/banks/speeches/items", json={"id": name, "text": state_union[name]}, headers=h
                ).status_code
                == 201
            )
        assert [
            m["item_id"]
            for m in a.post("/v1/match", json={"text": state_union[names[-1]]}, headers=h).json()["matches"]
            if m["kind"] != "quote"  # 1973 also quotes the Constitution's words 1961 quotes
        ] == [names[-1]]  # at once where added

        def seen_on_b(name: str) -> bool:
            found = b.post("/v1/match", json={"text": state_union[name]}, headers=h).json()["matches"]
            return name in [m["item_id"] for m in found]

        deadline = time.monotonic() + 5
        while not all(seen_on_b(n) for n in names[-3:]):
            assert time.monotonic() < deadline, "not matchable on the other instance within 5 s"
            time.sleep(0.05)
        assert b.delete(f"/v1/banks/speeches/items/{names[0]}", headers=h).status_code == 200
        deadline = time.monotonic() + 5
        while names[0] in [
            m["item_id"]
            for m in a.post("/v1/match", json={"text": state_union[names[0]]}, headers=h).json()["matches"]
        ]:
            assert time.monotonic() < deadline, "removal not applied on the other instance within 5 s"
            time.sleep(0.05)
        # incremental, not rebuilt: each instance applied one change per item
        assert apps[1].state.ctx.live.applied_changes <= len(names) + 2
        assert a.get("/health").json()["index"]["items"] == b.get("/health").json()["index"]["items"] == 11
    # a restart loads its snapshot and replays only what changed since
    with TestClient(create_app(ServiceConfig(db=db_url, snapshot_dir=str(tmp_path / "s0")))) as c:
        assert c.app.state.ctx.live.wait_ready(30)  # type: ignore[attr-defined]
        assert c.get("/health").json()["index"]["items"] == 11


@pytest.mark.skipif(server_binaries() is None and not os.environ.get("CI"), reason="no PostgreSQL server")
def test_store_down_gives_503_and_the_service_recovers(tmp_path: Path, text_000: str, text_001: str) -> None:
    bindir = server_binaries()
    assert bindir is not None, "PostgreSQL server binaries not found: apt-get install postgresql"
    server = PostgresServer(bindir)
    try:
        server.start()
        db = create_database(server.url, "downtime")
        admin, _, _ = _keys(db)
        h = {"Authorization": f"Bearer {admin}"}
        app = create_app(ServiceConfig(db=db, poll_seconds=0.1, snapshot_dir=str(tmp_path / "snap")))
        with TestClient(app) as c:
            assert app.state.ctx.live.wait_ready(30)
            c.post("/v1/banks", json={"name": "news"}, headers=h)
            assert (
                c.post("/v1/banks/news/items", json={"id": "000", "text": text_000}, headers=h).status_code
                == 201
            )
            server.stop()
            health = c.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "store unavailable"
            r = c.post("/v1/banks/news/items", json={"id": "001", "text": text_001}, headers={**h})
            assert r.status_code in (401, 503)  # the key check or the write reaches the dead store
            server.start()
            deadline = time.monotonic() + 10
            while c.get("/health").status_code != 200:
                assert time.monotonic() < deadline, "service did not recover"
                time.sleep(0.1)
            r = c.post("/v1/banks/news/items", json={"id": "001", "text": text_001}, headers=h)
            assert r.status_code == 201
            body = {"text": text_001, "all_versions": True}
            ids = {m["item_id"] for m in c.post("/v1/match", json=body, headers=h).json()["matches"]}
            assert ids == {"000", "001"}
    finally:
        server.stop()
        server.remove()


def test_a_keyed_service_fingerprints_and_matches_with_its_key(
    tmp_path: Path, text_000: str, text_001: str
) -> None:
    from copytrace import Key

    secret = Key.generate()
    key_file = tmp_path / "consortium.key"
    key_file.write_text(secret + "\n")
    db = str(tmp_path / "keyed.db")
    admin, _, _ = _keys(db)
    h = {"Authorization": f"Bearer {admin}"}
    app = create_app(ServiceConfig(db=db, key_file=str(key_file), snapshot_dir=str(tmp_path / "snap")))
    with TestClient(app) as c:
        assert app.state.ctx.live.wait_ready(30)
        key_id = Key.from_secret(secret).key_id
        assert c.post("/v1/banks", json={"name": "shared"}, headers=h).json()["params"].endswith(key_id)
        fp = c.post("/v1/fingerprint", json={"text": text_000}, headers=h).json()["fingerprint"]
        assert fp == str(fingerprint(text_000, key=secret)) and fp != str(fingerprint(text_000))
        # a partner sends the keyed fingerprint only; the text never reaches the service
        assert (
            c.post("/v1/banks/shared/items", json={"id": "000", "fingerprint": fp}, headers=h).status_code
            == 201
        )
        (m,) = c.post("/v1/match", json={"text": text_001}, headers=h).json()["matches"]
        assert m["item_id"] == "000" and m["spans"][0]["item_start"] is None  # no text stored: query spans
        public = str(fingerprint(text_000))
        r = c.post("/v1/banks/shared/items", json={"id": "p", "fingerprint": public}, headers=h)
        assert r.status_code == 409 and "public" in r.json()["error"]


# ------------------------------------------------------------------------- hostile and odd input (#14, #15)
def _bulk(service: Service, bank: str, lines: list[str]):  # type: ignore[no-untyped-def]
    body = ("\n".join(lines) + "\n").encode()
    return service.client.post(
        f"/v1/banks/{bank}/items:bulk", content=body, headers=service.h(service.writer)
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"id": "k0", "fingerprint": "ctw1:n1:k0:w4:public:"}, "", id="fingerprint-k0"),
        pytest.param({"id": "w0", "fingerprint": "ctw1:n1:k5:w0:public:"}, "", id="fingerprint-w0"),
        pytest.param({"id": "e", "text": ""}, "text", id="empty-text"),
        pytest.param({"id": "e", "text": " \n\t "}, "text", id="blank-text"),
        pytest.param({"id": "s", "text": "a\ud800 b c d e f g h"}, "", id="lone-surrogate"),
        pytest.param(
            {"id": "n", "text": "x", "metadata": {"a": float("nan")}}, "metadata", id="nan-metadata"
        ),
    ],
)
def test_a_bad_item_is_a_422_naming_what_is_wrong(news: Service, body: dict[str, object], field: str) -> None:
    r = news.client.post(
        "/v1/banks/news/items",
        content=json.dumps(body).encode(),  # allow_nan: NaN as JSON's NaN literal, as a careless client sends
        headers=news.h(news.writer),
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(field)
    assert news.get("/health").json()["index"]["items"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"text": ""}, "text", id="empty"),
        pytest.param({"text": "   \n "}, "text", id="whitespace"),
        pytest.param({"text": "some words here", "limit": 0}, "limit", id="limit-0"),
        pytest.param({"text": "some words here", "limit": -1}, "limit", id="limit-negative"),
        pytest.param({"text": "some words here", "min_score": 2}, "min_score", id="min-score-2"),
        pytest.param({"text": "some words here", "min_score": -5}, "min_score", id="min-score-negative"),
    ],
)
def test_match_refuses_what_the_cli_refuses(news: Service, body: dict[str, object], field: str) -> None:
    r = news.post("/v1/match", body, news.reader)
    assert r.status_code == 422 and r.json()["error"].startswith(f"{field}:"), r.text
    batch = {"queries": [{"id": "q", "text": body["text"]}], **{k: v for k, v in body.items() if k != "text"}}
    r = news.post("/v1/match:batch", batch, news.reader)
    assert r.status_code == 422 and field in r.json()["error"], r.text


def test_min_score_drops_weaker_matches(news: Service, text_000: str) -> None:
    paragraph = max(text_000.split("\n"), key=len)
    post = f"{paragraph}\n\n" + " ".join(f"unrelated filler word{n}" for n in range(300))
    (m,) = news.post("/v1/match", {"text": post}, news.reader).json()["matches"]
    assert 0 < m["score"] < 1
    below, above = m["score"] - 0.01, m["score"] + 0.01  # the answer rounds scores
    assert news.post("/v1/match", {"text": post, "min_score": below}).json()["matches"] == [m]
    assert news.post("/v1/match", {"text": post, "min_score": above}).json()["matches"] == []


def test_a_review_needs_an_existing_bank_and_item(news: Service) -> None:
    review = {"decision": "note", "query": "q"}
    r = news.post("/v1/reviews", {"bank": "nope", "item_id": "000", **review}, news.reader)
    assert r.status_code == 404 and "unknown bank 'nope'" in r.json()["error"]
    r = news.post("/v1/reviews", {"bank": "news", "item_id": "nope", **review}, news.reader)
    assert r.status_code == 404 and "no item 'nope'" in r.json()["error"]
    r = news.post("/v1/reviews", {"bank": "news", "item_id": "000", **review, "score": 1.5}, news.reader)
    assert r.status_code == 422 and r.json()["error"].startswith("score:")
    assert news.post("/v1/reviews", {"bank": "news", "item_id": "000", **review}).status_code == 201


@pytest.mark.parametrize(
    "item_id",
    ["?#%", "a b/c d", "50%/x?y=1", "ñews/“quoted”"],
    ids=["url-chars", "spaces", "query", "unicode"],
)
def test_any_item_id_can_be_read_by_query(news: Service, text_001: str, item_id: str) -> None:
    """``GET /v1/item?bank=&item_id=`` serves any id, even one a URL path would resolve (an old store may
    hold ids named ``.`` or ``..``, which the review page must still open)."""
    assert news.post("/v1/banks/news/items", {"id": item_id, "text": text_001}).status_code == 201
    r = news.client.get("/v1/item", params={"bank": "news", "item_id": item_id}, headers=news.h(news.reader))
    assert r.status_code == 200 and r.json()["id"] == item_id and r.json()["text"] == text_001
    r = news.client.get("/v1/item", params={"bank": "news", "item_id": "x"}, headers=news.h(news.reader))
    assert r.status_code == 404


def _unrelated_fingerprints(n: int, text: str) -> list[str]:
    """Fingerprints of ``n`` seeded draws of ``text``'s words: no two share a passage, so a bulk load of them
    links no versions (``n`` copies of one fingerprint are ``n`` versions, every pair of them linked)."""
    rng = random.Random(n)
    words = sorted(set(text.split()))
    return [str(fingerprint(" ".join(rng.choices(words, k=30)))) for _ in range(n)]


def test_bulk_a_bad_fingerprint_after_a_committed_batch_is_one_line_error(
    news: Service, text_001: str
) -> None:
    fps = _unrelated_fingerprints(1500, text_001)
    lines = [json.dumps({"id": f"i{n}", "fingerprint": fps[n - 1]}) for n in range(1, 1501)]
    lines[1199] = json.dumps({"id": "i1200", "fingerprint": "ctw1:n1:k0:w4:public:"})  # issue 14.4
    r = _bulk(news, "news", lines)
    out = r.json()
    assert r.status_code == 200, r.text
    assert (out["added"], out["lines"], out["errors_total"]) == (1499, 1500, 1)
    assert [e["line"] for e in out["errors"]] == [1200] and out["error_lines"] == [[1200, 1200]]
    assert "fingerprint" in out["errors"][0]["error"]
    assert news.get("/v1/banks").json()["banks"][0]["items"] == 1 + 1499  # what it says is what is stored


def test_bulk_caps_the_error_list_and_gives_every_refused_line_as_ranges(
    news: Service, text_001: str
) -> None:
    fp = str(fingerprint(text_001))
    fps = _unrelated_fingerprints(1200, text_001)
    lines = [json.dumps({"id": f"i{n}", "fingerprint": fps[n - 1]}) for n in range(1, 1201)]
    for n in range(1001, 1151):
        lines[n - 1] = "{}"  # 150 malformed lines in one run
    lines[1189] = json.dumps({"id": "000", "fingerprint": fp})  # a duplicate, refused by the store
    lines.insert(10, "")  # a blank line is neither stored nor refused
    out = _bulk(news, "news", lines).json()
    assert (out["added"], out["lines"], out["errors_total"]) == (1200 - 151, 1201, 151)
    assert len(out["errors"]) == 100 and out["errors"][0] == {
        "line": 1002,
        "error": '"id" must be a non-empty string',
    }
    assert out["error_lines"] == [[1002, 1151], [1191, 1191]] and out["error_lines_complete"]
    assert news.get("/v1/banks").json()["banks"][0]["items"] == 1 + 1200 - 151


def test_bulk_stops_a_request_that_is_garbage(news: Service) -> None:
    body = b"{}\n" * 200_000  # issue 14.5 sent 2,000,000 of these
    r = news.client.post("/v1/banks/news/items:bulk", content=body, headers=news.h(news.writer))
    out = r.json()
    assert r.status_code == 422 and out["error"].startswith("stopped after line 2,000: 2,000 of the lines")
    assert (out["added"], out["lines"], out["errors_total"], len(out["errors"])) == (0, 2000, 2000, 100)
    assert out["error_lines"] == [[1, 2000]] and len(r.content) < 10_000
    assert news.get("/v1/banks").json()["banks"][0]["items"] == 1


def test_bulk_reads_deeply_nested_and_overlong_lines_as_line_errors(news: Service, text_001: str) -> None:
    fp = str(fingerprint(text_001))
    lines = [
        json.dumps({"id": "a", "fingerprint": fp}),
        "[" * 100_000 + "]" * 100_000,
        json.dumps({"id": "b", "fingerprint": fp, "metadata": {"x": 1}}),
        json.dumps({"id": "c", "text": "x" * 2_100_000}),
        json.dumps({"id": "d", "fingerprint": fp}),
    ]
    out = _bulk(news, "news", lines).json()
    assert (out["added"], out["lines"]) == (3, 5)
    assert [e["line"] for e in out["errors"]] == [2, 4]
    assert "nested too deeply" in out["errors"][0]["error"]
    assert out["errors"][1]["error"] == "line longer than 2,065,536 bytes: not stored"


def test_a_key_revoked_through_the_service_is_refused_at_once_by_that_worker(
    service: Service, text_001: str
) -> None:
    service.client.app.state.keys.ttl = 60  # type: ignore[attr-defined]  # as remembered as it gets
    made = service.post("/v1/keys", {"name": "leaked", "role": "reader"}).json()["key"]
    assert service.get("/v1/banks", made).status_code == 200  # now remembered
    assert service.delete("/v1/keys/leaked").status_code == 200
    assert service.get("/v1/banks", made).status_code == 401
    assert service.get("/v1/banks", service.reader).status_code == 200  # other keys stay remembered


def test_a_requests_key_and_context_are_taken_on_the_event_loop(
    news: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dependencies of a route (the context, the key) hand nothing to the thread pool, and a key
    verified within the cache's ttl is not looked up again (no store read): a sync dependency went to the
    pool and back on every request."""
    import fastapi.dependencies.utils

    from copytrace.service.auth import KeyCache

    news.client.app.state.keys.ttl = 60  # type: ignore[attr-defined]
    assert news.post("/v1/match", {"text": "nothing like it"}, news.reader).status_code == 200  # remembered
    pooled: list[str] = []
    looked_up: list[str] = []
    run_in_threadpool = fastapi.dependencies.utils.run_in_threadpool
    lookup = KeyCache.lookup

    async def counted(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        pooled.append(getattr(func, "__name__", repr(func)))
        return await run_in_threadpool(func, *args, **kwargs)

    def counted_lookup(self: KeyCache, presented: str):  # type: ignore[no-untyped-def]
        looked_up.append(presented)
        return lookup(self, presented)

    monkeypatch.setattr(fastapi.dependencies.utils, "run_in_threadpool", counted)
    monkeypatch.setattr(KeyCache, "lookup", counted_lookup)
    r = news.post("/v1/match", {"text": "nothing like it either"}, news.reader)
    assert r.status_code == 200 and r.json() == {"matches": []}
    assert pooled == [] and looked_up == []
    assert news.post("/v1/match", {"text": "x"}, "ctk_000000000000_" + "1" * 43).status_code == 401
    assert looked_up == ["ctk_000000000000_" + "1" * 43]  # an unknown key is still read from the store


def test_phrases_short_items_and_phrase_banks(service: Service) -> None:
    assert service.post("/v1/banks", {"name": "calls"}).status_code == 201
    assert service.post("/v1/banks", {"name": "chants", "phrases": True}).json()["phrases"] is True
    slogan = {"id": "slogan", "text": "Death to the occupiers, burn their homes"}
    assert service.post("/v1/banks/calls/items", slogan).status_code == 201
    chant = {
        "id": "chant",
        "text": "No justice, no peace: we fight on the beaches and in the streets of our towns",
    }
    assert service.post("/v1/banks/chants/items", chant).status_code == 201
    r = service.post("/v1/banks/calls/items", {"id": "dots", "text": "... !!!"})
    assert r.status_code in (400, 422) and "no token" in r.text
    query = "so: D3ATH to the 0ccupiers, burn their h0mes! NO JUSTICE NO PEACE we fight on the beaches"
    (m,) = service.post("/v1/match", {"text": query}, service.reader).json()["matches"]
    assert (m["item_id"], m["kind"]) == ("slogan", "phrase")
    assert query[m["spans"][0]["query_start"] : m["spans"][0]["query_end"]].startswith("D3ATH")
    body = {"queries": [{"id": "a", "text": chant["text"].upper()}, {"id": "b", "text": "nothing"}]}
    results = service.post("/v1/match:batch", body, service.reader).json()["results"]
    assert [[(x["item_id"], x["kind"]) for x in r["matches"]] for r in results] == [[("chant", "phrase")], []]
    banks = {b["name"]: b["phrases"] for b in service.get("/v1/banks").json()["banks"]}
    assert banks == {"calls": False, "chants": True}


def test_adding_an_item_reads_no_statement_of_every_bank(news: Service, text_001: str) -> None:
    """A POST of one item reads its own bank's row, not every bank's parameters (the bank is checked by the
    add, which reads them to link the item), and an unknown bank is still a 404 naming it."""
    from sqlalchemy import event

    assert news.post("/v1/banks", {"name": "other"}).status_code == 201
    store = news.client.app.state.ctx.store  # type: ignore[attr-defined]
    statements: list[str] = []

    def seen(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        assert news.post("/v1/banks/news/items", {"id": "one", "text": text_001}).status_code == 201
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    every_bank = [s for s in statements if re.search(r"\bFROM banks\b", s) and " WHERE " not in s]
    assert every_bank == [], every_bank
    assert any(s.startswith("INSERT INTO items") for s in statements)
    r = news.post("/v1/banks/nope/items", {"id": "two", "text": text_001})
    assert r.status_code == 404 and "nope" in r.json()["error"]
