"""Every endpoint's body under random and mutated input (hypothesis, derandomised): no answer is a 5xx, and
every 4xx is JSON ``{"error": "..."}``.

Bodies are JSON values of every type, valid bodies with one field replaced, dropped or added, huge numbers,
NaN and Infinity, deep nesting, bytes that are not UTF-8, lone surrogates, and strings shaped like
fingerprints (right prefix, wrong numbers, random or truncated data).  They go through the in-process app
on an SQLite store, as ``tests/test_service.py`` drives it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from copytrace import fingerprint
from copytrace.banks import Store
from copytrace.service import ServiceConfig, create_app
from copytrace.store.api_keys import create_key

TEXT = (
    "The committee met on Tuesday to discuss the budget for the coming year and agreed to publish the "
    "full minutes of the meeting, together with the letters received from residents, before the vote."
)
FP = str(fingerprint(TEXT))

FUZZ = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    db = str(tmp / "store.db")
    with Store(db) as store:
        _, admin = create_key(store, "admin", "admin")
    app = create_app(ServiceConfig(db=db, poll_seconds=0.1, snapshot_dir=str(tmp / "snap")))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.ctx.live.wait_ready(30)
        h = {"Authorization": f"Bearer {admin}"}
        assert c.post("/v1/banks", json={"name": "news"}, headers=h).status_code == 201
        assert c.post("/v1/banks/news/items", json={"id": "000", "text": TEXT}, headers=h).status_code == 201
        yield c, h


# ---------------------------------------------------------------------------------------------- strategies
FIELDS = [
    "id", "text", "fingerprint", "labels", "metadata", "name", "role", "banks", "limit", "min_score",
    "queries", "bank", "item_id", "decision", "note", "query", "query_sha256", "score",
]  # fmt: skip
surrogates = st.integers(0xD800, 0xDFFF).map(chr)
strings = st.one_of(
    st.text(max_size=40),
    st.text(st.one_of(st.characters(), surrogates), max_size=20),
    st.sampled_from(["", " ", "\n\t", ".", "..", "news", "000", "a/../b", "\x00", "\u202e", "x" * 3000]),
)
huge = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
    st.integers(min_value=10**300, max_value=10**301),
    st.sampled_from([-(2**64), 2**64, -1, 0]),
)
scalars = st.one_of(st.none(), st.booleans(), huge, st.floats(allow_nan=True, allow_infinity=True), strings)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(strings, st.sampled_from(FIELDS)), inner, max_size=4),
    ),
    max_leaves=12,
)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@st.composite
def fingerprint_like(draw: st.DrawFn) -> str:
    k, w = draw(huge), draw(st.one_of(huge, st.integers(0, 64)))
    key = draw(st.sampled_from(["public", "0123456789ab", "", "x:y"]))
    head = draw(
        st.sampled_from(
            [
                f"ctw1:n1:k{k}:w{w}:{key}",
                f"ctw1:n1:k5:w4:{key}",
                "ctw1:n1:k5:w4:public",
                "ctw2:n1:k5:w4:public",
            ]
        )
    )
    kind = draw(st.sampled_from(["random", "counts", "cut", "flip"]))
    if kind == "random":
        payload = draw(st.binary(max_size=64))
    elif kind == "counts":  # hash and token counts of any size, then some data
        payload = _varint(draw(st.integers(0, 2**70))) + _varint(draw(st.integers(0, 2**70)))
        payload += draw(st.binary(max_size=40))
    else:
        real = base64.urlsafe_b64decode(FP.rsplit(":", 1)[1] + "==")
        at = draw(st.integers(0, len(real) - 1))
        payload = real[:at] if kind == "cut" else real[:at] + bytes([real[at] ^ 0xFF]) + real[at + 1 :]
    data = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return draw(st.sampled_from([f"{head}:{data}", f"{head}:{data}!", f" {head}:{data} ", head]))


VALID: dict[str, dict[str, Any]] = {
    "/v1/banks": {"name": "fuzzed"},
    "/v1/banks/news/items": {"id": "i1", "text": TEXT, "labels": ["a"], "metadata": {"k": 1}},
    "/v1/match": {"text": TEXT, "banks": ["news"], "limit": 5, "min_score": 0.1},
    "/v1/match:batch": {"queries": [{"id": "q", "text": TEXT}], "banks": ["news"], "limit": 3},
    "/v1/fingerprint": {"text": TEXT},
    "/v1/reviews": {"bank": "news", "item_id": "000", "decision": "note", "query": TEXT, "score": 0.5},
    "/v1/keys": {"name": "k1", "role": "reader"},
}


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """A valid body with one field replaced (by any JSON value or a fingerprint-like string), dropped, or
    added; or a JSON value in place of the whole body."""
    body = dict(valid)
    how = draw(st.sampled_from(["replace", "fingerprint", "drop", "add", "whole", "nest"]))
    field = draw(st.sampled_from(sorted(body)))
    if how == "replace":
        body[field] = draw(json_values)
    elif how == "fingerprint":
        if "labels" in body:  # an item: sent as a fingerprint instead of its text
            del body["text"]
            field = "fingerprint"
        body[field] = draw(fingerprint_like())
    elif how == "drop":
        del body[field]
    elif how == "add":
        body[draw(st.sampled_from(FIELDS))] = draw(json_values)
    elif how == "nest":  # spliced in as bytes: hypothesis cannot show a value nested this deep
        depth = draw(st.sampled_from([10, 500, 990, 5000]))
        body[field] = "NEST"
        return _encoded(body).replace(b'"NEST"', b"[" * depth + b"1" + b"]" * depth)
    else:
        return draw(json_values)
    return body


def _encoded(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")


@st.composite
def raw_bytes(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    """Bytes that are not a well-formed JSON body: cut, with bad UTF-8 spliced in, deeply nested, random."""
    good = _encoded(valid)
    how = draw(st.sampled_from(["cut", "splice", "deep", "random", "bom"]))
    if how == "cut":
        return good[: draw(st.integers(0, len(good)))]
    if how == "splice":
        at = draw(st.integers(0, len(good)))
        return (
            good[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\\ud800"]))
            + good[at:]
        )
    if how == "deep":
        n = draw(st.sampled_from([1000, 100_000]))
        return b'{"text": ' + b"[" * n + b"]" * n + b"}"
    if how == "bom":
        return b"\xef\xbb\xbf" + good
    return draw(st.binary(max_size=200))


def _check(response: Any, what: object) -> None:
    assert response.status_code < 500, f"{response.status_code} for {what!r:.300}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], response.text


ENDPOINTS = sorted(VALID)


@pytest.mark.parametrize("path", ENDPOINTS, ids=ENDPOINTS)
def test_json_bodies_never_get_a_5xx(client: tuple[TestClient, dict[str, str]], path: str) -> None:
    c, h = client

    @FUZZ
    @given(body=mutated(VALID[path]))
    def run(body: Any) -> None:
        _check(c.post(path, content=_encoded(body), headers=h), body)

    run()


@pytest.mark.parametrize("path", ENDPOINTS, ids=ENDPOINTS)
def test_malformed_bytes_never_get_a_5xx(client: tuple[TestClient, dict[str, str]], path: str) -> None:
    c, h = client

    @settings(FUZZ, max_examples=40)
    @given(body=raw_bytes(VALID[path]))
    def run(body: bytes) -> None:
        _check(c.post(path, content=body, headers=h), body)

    run()


@st.composite
def jsonl(draw: st.DrawFn) -> bytes:
    lines: list[bytes] = []
    for n in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["item", "mutated", "fingerprint", "raw", "blank"]))
        if kind == "item":
            lines.append(_encoded({"id": f"b{n}", "fingerprint": FP}))
        elif kind == "mutated":
            lines.append(_encoded(draw(mutated(VALID["/v1/banks/news/items"]))))
        elif kind == "fingerprint":
            lines.append(_encoded({"id": draw(strings), "fingerprint": draw(fingerprint_like())}))
        elif kind == "raw":
            lines.append(draw(raw_bytes(VALID["/v1/banks/news/items"])).replace(b"\n", b" "))
        else:
            lines.append(b"  ")
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n"]))


def test_bulk_lines_never_get_a_5xx_and_the_report_adds_up(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client

    @settings(FUZZ, max_examples=80)
    @given(body=jsonl(), replace=st.booleans())
    def run(body: bytes, replace: bool) -> None:
        r = c.post(f"/v1/banks/news/items:bulk?replace={str(replace).lower()}", content=body, headers=h)
        _check(r, body)
        out = r.json()
        blank = sum(1 for line in body.split(b"\n")[: out["lines"]] if not line.strip())
        assert out["added"] + out["errors_total"] + blank == out["lines"]
        assert sum(b - a + 1 for a, b in out["error_lines"]) == out["errors_total"]

    run()
