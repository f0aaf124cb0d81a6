"""A quote found by ``copytrace scan`` carries its evidence as ``match`` prints it: the run's tokens and
bits, in JSON lines and in Parquet; rows of other kinds have no ``quote``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from .conftest import DATA

POST = (
    "Under a photo of the commander: who believed in the cause of Al-Quds, sacrificed on its fronts. Shared."
)


@pytest.fixture
def corpus(cli, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    code, _, err = cli("bank", "add", "news", DATA / "canonical" / "000_ea7438489bd31fbe.txt")
    assert code == 0, err
    copy = (DATA / "canonical" / "001_5e32e1b4a13a1b7e.txt").read_text(encoding="utf-8")
    docs = [
        {"id": "quote", "text": POST},
        {"id": "copy", "text": copy},
        {
            "id": "unrelated",
            "text": "Nothing in this post was ever banked by anyone at all, as far as we know.",
        },
    ]
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_scans_quote_rows_carry_the_evidence_match_prints(
    cli, corpus: Path, tmp_path: Path, fmt: str
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    code, _, err = cli(
        "scan", corpus, "--out", out, "--format", fmt, "--executor", "processes", "--workers", "1"
    )
    assert code == 0, err
    if fmt == "jsonl":
        rows: list[dict[str, Any]] = [
            json.loads(line) for line in (out / "matches.jsonl").read_text().splitlines()
        ]
    else:
        rows = [
            {k: v for k, v in r.items() if v is not None or k != "quote"}
            for r in pq.read_table(out / "matches.parquet").to_pylist()
        ]
    code, printed, err = cli("match", "--jsonl", corpus)
    assert code == 0, err
    assert [{k: v for k, v in r.items() if k != "source"} for r in rows] == [
        json.loads(x) for x in printed.splitlines()
    ]
    kinds = {r["query"]: r["kind"] for r in rows}
    assert kinds == {"quote": "quote", "copy": "text"}
    (quote,) = [r for r in rows if r["kind"] == "quote"]
    assert quote["quote"] == {"tokens": 12, "bits": 57.07}
