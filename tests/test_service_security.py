"""What the service exposes and how browsers may treat it: security headers on every response, a
Content-Security-Policy that admits exactly the pages' own inline code, ``/metrics`` behind a key unless
made public (then without bank names), and the API docs served without a CDN."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from copytrace.banks import Store
from copytrace.errors import CopytraceError
from copytrace.service import ServiceConfig, create_app
from copytrace.service.security import API_CSP, page_csp
from copytrace.store.api_keys import create_key

TEXT = (
    "The committee met on Tuesday to discuss the budget for the coming year and agreed to publish the "
    "full minutes of the meeting, together with the letters received from residents, before the vote."
)


def _client(tmp_path: Path, **config: object) -> Iterator[tuple[TestClient, dict[str, str]]]:
    db = str(tmp_path / "store.db")
    with Store(db) as store:
        _, reader = create_key(store, "reader", "reader")
        _, admin = create_key(store, "admin", "admin")
    app = create_app(ServiceConfig(db=db, snapshot_dir=str(tmp_path / "snap"), **config))  # type: ignore[arg-type]
    with TestClient(app) as c:
        assert app.state.ctx.live.wait_ready(30)
        h = {"Authorization": f"Bearer {admin}"}
        assert c.post("/v1/banks", json={"name": "secret-partner"}, headers=h).status_code == 201
        assert c.post("/v1/banks/secret-partner/items", json={"id": "1", "text": TEXT}, headers=h).is_success
        assert c.post("/v1/match", json={"text": TEXT}, headers=h).json()["matches"]
        yield c, {"Authorization": f"Bearer {reader}"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    yield from _client(tmp_path)


@pytest.fixture
def public(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    yield from _client(tmp_path, public_metrics=True)


@pytest.mark.parametrize(
    ("method", "path", "keyed", "status"),
    [
        pytest.param("GET", "/v1/banks", True, 200, id="json"),
        pytest.param("GET", "/v1/banks", False, 401, id="refused"),
        pytest.param("POST", "/v1/match", True, 422, id="malformed"),
        pytest.param("GET", "/v1/nowhere", True, 404, id="no-route"),
        pytest.param("GET", "/health", False, 200, id="health"),
        pytest.param("GET", "/metrics", True, 200, id="metrics"),
        pytest.param("GET", "/openapi.json", False, 200, id="openapi"),
        pytest.param("GET", "/", False, 200, id="review-page"),
        pytest.param("GET", "/docs", False, 200, id="docs"),
        pytest.param("GET", "/docs/assets/swagger-ui.css", False, 200, id="docs-asset"),
    ],
)
def test_every_response_carries_the_security_headers(
    client: tuple[TestClient, dict[str, str]], method: str, path: str, keyed: bool, status: int
) -> None:
    c, h = client
    r = c.request(method, path, headers=h if keyed else {}, content=b"{" if method == "POST" else None)
    assert r.status_code == status
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    if r.headers["content-type"].startswith("text/html"):
        assert csp == page_csp(r.text) and "unsafe-inline" not in csp
    else:
        assert csp == API_CSP


@pytest.mark.parametrize("path", ["/", "/docs"], ids=["review-page", "docs"])
def test_a_page_policy_admits_exactly_its_own_inline_blocks(
    client: tuple[TestClient, dict[str, str]], path: str
) -> None:
    r = client[0].get(path)
    csp = r.headers["content-security-policy"]
    allowed = set(re.findall(r"'sha256-([^']+)'", csp))
    inline = re.findall(r"<(?:script|style)>(.*?)</(?:script|style)>", r.text, re.DOTALL)
    assert inline and allowed == {
        base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() for block in inline
    }
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp


def test_the_api_docs_load_nothing_from_another_host(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    page = c.get("/docs").text
    urls = re.findall(r"(?:src|href)=\"([^\"]+)\"", page)
    assert urls and all(u.startswith("/docs/assets/") for u in urls), urls
    for url in urls:
        r = c.get(url)
        assert r.status_code == 200 and len(r.content) > 1000, url
    assert "SwaggerUIBundle" in c.get("/docs/assets/swagger-ui-bundle.js").text
    assert c.get("/docs/assets/redoc.standalone.js").status_code == 404  # only the files the page uses
    assert c.get("/docs/assets/..%2f..%2fcore.py").status_code == 404
    assert c.get("/redoc").status_code == 404


def test_metrics_need_a_key_and_name_banks(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    r = c.get("/metrics")
    assert r.status_code == 401 and r.json()["error"].startswith("missing API key")
    text = c.get("/metrics", headers=h).text
    assert 'copytrace_matches_total{bank="secret-partner"} 1.0' in text


def test_public_metrics_need_no_key_and_name_no_bank(public: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = public
    r = c.get("/metrics")
    assert r.status_code == 200
    assert "copytrace_matches_total 1.0" in r.text and "secret-partner" not in r.text
    assert "copytrace_index_items 1.0" in r.text


@pytest.mark.parametrize(
    ("value", "public"),
    [("1", True), ("true", True), ("yes", True), ("0", False), ("", False), ("no", False)],
    ids=["1", "true", "yes", "0", "empty", "no"],
)
def test_public_metrics_setting_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, public: bool
) -> None:
    monkeypatch.setenv("COPYTRACE_PUBLIC_METRICS", value)
    config = ServiceConfig.from_env()
    assert config.public_metrics is public
    for name, setting in config.to_env().items():
        monkeypatch.setenv(name, setting)
    assert ServiceConfig.from_env() == config


def test_a_bad_public_metrics_setting_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPYTRACE_PUBLIC_METRICS", "maybe")
    with pytest.raises(CopytraceError, match="'maybe' is not a yes/no value"):
        ServiceConfig.from_env()
