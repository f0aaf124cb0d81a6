"""A small corpus shaped like a scan's real input, and a bank to scan it against (used by the scan tests).

The bank holds the canonical article and ten inaugural addresses.  The corpus mixes unrelated State of the
Union openings, the flattened republished copy of the article, a paragraph of it quoted inside other text, a
passage of an inaugural address inside another, and near-empty posts.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .conftest import CANONICAL_000, CANONICAL_001, DATA

INAUGURAL = sorted((DATA / "corpora" / "inaugural").glob("*.txt"))[:10]


def bank_files() -> list[Path]:
    return [CANONICAL_000, *INAUGURAL]


def documents() -> list[dict[str, Any]]:
    from copytrace.text.textio import read_text_file

    su = [read_text_file(p).text for p in sorted((DATA / "corpora" / "state_union").glob("*.txt"))]
    a000 = read_text_file(CANONICAL_000).text
    a001 = read_text_file(CANONICAL_001).text
    inaug = read_text_file(INAUGURAL[3]).text
    paragraph = max(a000.split("\n"), key=len)
    docs = [{"id": f"su-{i:02d}", "text": t[:2500]} for i, t in enumerate(su[:40])]
    docs.insert(7, {"id": "republished", "text": a001})
    docs.insert(19, {"id": "quoted", "text": su[50][:1500] + "\n\n" + paragraph + "\n\n" + su[51][:1500]})
    mid = len(inaug) // 2
    docs.insert(
        30, {"id": "speech-excerpt", "text": su[52][:1200] + " " + inaug[mid : mid + 900] + " thanks"}
    )
    docs.append({"id": "short", "text": "too short"})
    docs.append({"id": "empty", "text": ""})
    return docs


def write_jsonl(path: Path, docs: list[dict[str, Any]], *, extra_lines: list[bytes] = ()) -> Path:  # type: ignore[assignment]
    data = b"".join(json.dumps(d).encode() + b"\n" for d in docs) + b"".join(extra_lines)
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def write_parquet(
    path: Path,
    docs: list[dict[str, Any]],
    *,
    id_column: str = "id",
    text_column: str = "text",
    row_group_size: int = 16,
) -> Path:
    table = pa.table({id_column: [d["id"] for d in docs], text_column: [d["text"] for d in docs]})
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def write_txt(folder: Path, docs: list[dict[str, Any]]) -> Path:
    for d in docs:
        if d["text"]:
            target = folder / f"{d['id']}.txt"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(d["text"], encoding="utf-8")
    return folder


def matched(rows: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(r["query"], r["bank"], r["item_id"]) for r in rows}


def read_rows(out: Path) -> list[dict[str, Any]]:
    if (out / "matches.jsonl").exists():
        return [json.loads(line) for line in (out / "matches.jsonl").read_text(encoding="utf-8").splitlines()]
    return pq.read_table(out / "matches.parquet").to_pylist()  # type: ignore[no-any-return]


def reference_rows(db: str, corpus: Path) -> list[dict[str, Any]]:
    """The rows of an in-process scan of ``corpus`` against bank ``ref`` of the store ``db``, without Ray:
    ``scan_block`` over every block, the step the Ray actors run."""
    from copytrace.banks import Store
    from copytrace.batch.inputs import expand, plan
    from copytrace.batch.scan import ScanSettings, scan_block

    store = Store(db)
    try:
        index = store.build_index(["ref"], cache=False)
        rows: list[dict[str, Any]] = []
        for block in plan(expand([str(corpus)])):
            part, _ = scan_block(index, block, ScanSettings(banks=("ref",)))
            rows.extend(pq.read_table(pa.BufferReader(part)).to_pylist())
    finally:
        store.close()
    return rows


def scan_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Ray's or AWS's settings, a store and a cache in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAY_"))}
    env.update(
        COPYTRACE_DB=str(tmp_path / "store.db"),
        COPYTRACE_CACHE=str(tmp_path / "cache"),
        PYTHONWARNINGS="ignore",
        **extra,
    )
    return env
