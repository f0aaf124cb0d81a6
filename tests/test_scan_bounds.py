"""Records over ``--max-size``: decompression bombs and huge lines, cells and files are bad records, read past
without being held, in ``scan`` and ``cluster`` alike; the memory a reader needs stays bounded."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from copytrace.batch.inputs import TableColumns, expand, plan
from copytrace.batch.readers import Bad, BlockReading, Doc, read_block

from .scan_corpus import bank_files, documents

MIB = 1024 * 1024
LIMIT = MIB  # --max-size in these tests: small, so that bombs are quick to make and to read past


def _bomb_line(n_bytes: int) -> Iterator[bytes]:
    """One JSON Lines record of ``n_bytes`` of text, a MiB at a time."""
    yield b'{"id": "bomb", "text": "'
    piece = b"a" * MIB
    for _ in range(n_bytes // MIB):
        yield piece
    yield b'"}\n'


def _lines(docs: list[dict[str, str]]) -> bytes:
    return b"".join(json.dumps(d).encode() + b"\n" for d in docs)


def write_bomb(path: Path, n_bytes: int, before: list[dict[str, str]], after: list[dict[str, str]]) -> Path:
    """``before``, one line of ``n_bytes``, ``after``: plain, .gz or .zst by the name, written as a stream."""
    if path.name.endswith(".zst"):
        import zstandard

        with open(path, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as fh:
            fh.write(_lines(before))
            for chunk in _bomb_line(n_bytes):
                fh.write(chunk)
            fh.write(_lines(after))
    elif path.name.endswith(".gz"):
        with gzip.open(path, "wb", compresslevel=1) as fh:
            fh.write(_lines(before))
            for chunk in _bomb_line(n_bytes):
                fh.write(chunk)
            fh.write(_lines(after))
    else:
        with open(path, "wb") as fh:
            fh.write(_lines(before))
            for chunk in _bomb_line(n_bytes):
                fh.write(chunk)
            fh.write(_lines(after))
    return path


def _docs() -> list[dict[str, str]]:
    return [{"id": f"doc-{i}", "text": f"document number {i} " * 20} for i in range(6)]


def _read(path: Path, limit: int = LIMIT) -> list[Doc | Bad]:
    blocks = plan(expand([str(path)]))
    got: list[Doc | Bad] = []
    for b in blocks:
        got.extend(read_block(b, TableColumns(), BlockReading(), max_bytes=limit))
    return got


@pytest.mark.parametrize(
    ("name", "size"),
    [("bomb.jsonl.zst", 64 * MIB), ("bomb.jsonl.gz", 16 * MIB), ("big.jsonl", 8 * MIB)],
    ids=["zst", "gz", "plain"],
)
def test_a_line_over_max_size_is_a_bad_record_and_the_rest_is_read(
    tmp_path: Path, name: str, size: int
) -> None:
    docs = _docs()
    path = write_bomb(tmp_path / name, size, docs[:3], docs[3:])
    got = _read(path)
    assert [d.id for d in got if isinstance(d, Doc)] == [d["id"] for d in docs]
    assert [d.row for d in got if isinstance(d, Doc)] == [1, 2, 3, 5, 6, 7]
    (bad,) = [b for b in got if isinstance(b, Bad)]
    assert (bad.file, bad.row) == (str(path), 4)
    assert bad.reason.startswith("record over --max-size (")
    assert f"the limit is {LIMIT:,}" in bad.reason


def test_a_line_at_the_limit_is_read_and_one_byte_more_is_not(tmp_path: Path) -> None:
    head = b'{"id": "x", "text": "'
    tail = b'"}'
    exact = head + b"b" * (LIMIT - len(head) - len(tail)) + tail
    assert len(exact) == LIMIT
    over = exact[:-2] + b'b"}'
    (tmp_path / "edge.jsonl").write_bytes(exact + b"\n" + over + b"\n" + exact)  # the last without a newline
    got = _read(tmp_path / "edge.jsonl")
    assert [type(r).__name__ for r in got] == ["Doc", "Bad", "Doc"]
    assert got[1].row == 2 and isinstance(got[1], Bad) and f"{LIMIT + 2:,} bytes" in got[1].reason


def test_a_long_line_across_byte_ranges_keeps_every_other_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from copytrace.batch import inputs as batch_inputs

    docs = _docs()
    path = write_bomb(tmp_path / "ranges.jsonl", 6 * MIB, docs[:3], docs[3:])
    monkeypatch.setattr(batch_inputs, "BLOCK_BYTES", 1_000_000)  # the long line spans several ranges
    blocks = plan(expand([str(path)]))
    assert len(blocks) > 5
    got: list[Doc | Bad] = []
    for b in blocks:
        got.extend(read_block(b, TableColumns(), BlockReading(), max_bytes=LIMIT))
    assert [d.id for d in got if isinstance(d, Doc)] == [d["id"] for d in docs]
    assert sum(isinstance(r, Bad) for r in got) == 1


def test_a_parquet_cell_and_a_txt_file_over_max_size_are_bad_records(tmp_path: Path) -> None:
    docs = _docs()
    texts = [d["text"] for d in docs]
    texts[2] = "c" * (2 * LIMIT)
    pq.write_table(pa.table({"id": [d["id"] for d in docs], "text": texts}), tmp_path / "t.parquet")
    got = _read(tmp_path / "t.parquet")
    assert [r.row for r in got if isinstance(r, Bad)] == [3]
    assert [r.id for r in got if isinstance(r, Doc)] == [d["id"] for i, d in enumerate(docs) if i != 2]
    assert "record over --max-size" in next(r.reason for r in got if isinstance(r, Bad))
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "small.txt").write_text("a small text file")
    (folder / "huge.txt").write_bytes(b"h" * (LIMIT + 1))
    got = _read(folder)
    assert [r.id for r in got if isinstance(r, Doc)] == ["small"]
    (bad,) = [r for r in got if isinstance(r, Bad)]
    assert bad.file == str(folder / "huge.txt") and bad.reason.startswith("record over --max-size")


_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from copytrace.batch.inputs import TableColumns, expand, plan
    from copytrace.batch.readers import Bad, BlockReading, read_block

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bad = docs = 0
    for block in plan(expand([sys.argv[1]])):
        for rec in read_block(block, TableColumns(), BlockReading(), max_bytes=int(sys.argv[2])):
            bad += isinstance(rec, Bad)
            docs += not isinstance(rec, Bad)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"bad": bad, "docs": docs, "before_kib": before, "peak_kib": after}))
    """
)


def test_reading_past_a_half_gib_line_in_a_small_zst_file_stays_in_bounded_memory(tmp_path: Path) -> None:
    """The bomb: 512 MiB of text in one line, a few hundred KB compressed.  Reading it holds at most the limit
    plus a piece of the line: the reader's peak stays far below the line's size (the old reader held it
    whole, then decoded and parsed it: several GiB)."""
    docs = _docs()
    path = write_bomb(tmp_path / "bomb.jsonl.zst", 512 * MIB, docs[:2], docs[2:])
    assert path.stat().st_size < 2 * MIB
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(LIMIT)], capture_output=True, text=True, check=True
    )
    got = json.loads(done.stdout)
    assert got["bad"] == 1 and got["docs"] == len(docs)
    grown_mib = (got["peak_kib"] - got["before_kib"]) / 1024
    assert grown_mib < 64, got  # a generous bound: the limit (1 MiB), a piece, and the decompressor's buffers


ray = pytest.importorskip("ray")


@pytest.mark.slow  # on Ray
def test_scan_reports_the_bomb_with_its_line_and_scans_the_rest(cli, tmp_path: Path, shared_ray: str) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "ref", *bank_files())[0] == 0
    docs = documents()
    # first the same documents without the long line: the memory a worker needs for them
    plain = write_bomb(tmp_path / "plain.jsonl.zst", 0, docs[:10], docs[10:])
    code, _, err = cli("scan", plain, "--out", tmp_path / "plain", "--max-size", str(LIMIT))
    assert code == 0, err
    reference = json.loads((tmp_path / "plain" / "summary.json").read_text())["worker_peak_rss"]
    path = write_bomb(tmp_path / "posts.jsonl.zst", 512 * MIB, docs[:10], docs[10:])
    assert path.stat().st_size < MIB
    code, _, err = cli("scan", path, "--out", tmp_path / "out", "--max-size", str(LIMIT))
    assert code == 2, err  # a bad record
    assert f"{path}:11: record over --max-size" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["bad_records"] == 1 and summary["documents"] == len(docs)
    assert summary["bytes"] > 512 * MIB  # every byte was read past, none kept
    # the worker that read past 512 MiB of one line never held it (the old reader held the line, its text
    # and its JSON: over 1.5 GB more)
    assert summary["worker_peak_rss"] < reference + 128 * MIB, (summary["worker_peak_rss"], reference)


@pytest.mark.slow  # on Ray
def test_cluster_reports_the_bomb_and_clusters_the_rest(cli, tmp_path: Path, shared_ray: str) -> None:  # type: ignore[no-untyped-def]
    docs = _docs()
    path = write_bomb(tmp_path / "posts.jsonl.gz", 8 * MIB, docs[:2], docs[2:])
    code, _, err = cli("cluster", path, "--out", tmp_path / "out", "--max-size", str(LIMIT), "--no-report")
    assert code == 2, err
    assert f"{path}:3: record over --max-size" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["bad_records"] == 1 and summary["documents"] == len(docs)


@pytest.mark.slow  # on Ray
def test_a_block_whose_worker_dies_twice_fails_alone_with_its_reason(tmp_path: Path, shared_ray: str) -> None:
    """A worker that dies on a block (killed by the kernel for its memory, say) is replaced and the block
    tried once more; when it dies again the block is failed with that reason, not retried forever, and the
    other blocks are done."""
    import os

    import pyarrow as pa

    from copytrace.batch import engine
    from copytrace.batch.inputs import Block
    from copytrace.batch.markers import lost_blocks

    tries = tmp_path / "tries"
    tries.mkdir()

    class DiesOnOneBlock:
        def __call__(self, batch: pa.Table) -> pa.Table:
            block = Block.from_row(json.loads(batch.column("block")[0].as_py()))
            if block.path.endswith("deadly.jsonl"):
                (tries / str(os.getpid())).touch()
                os._exit(9)
            return pa.table({"key": [block.key], "part": pa.array([b""], pa.binary()), "stats": ["{}"]})

    blocks = [Block("jsonl", str(tmp_path / f"{name}.jsonl")) for name in ("a", "b", "deadly", "c")]
    rows = list(engine.run(DiesOnOneBlock, blocks, constructor_kwargs={}, actors=2))
    assert sorted(r["key"] for r in rows) == sorted(b.key for b in blocks if "deadly" not in b.path)
    assert len(list(tries.iterdir())) == engine.MAX_TRIES == 2  # two workers died on it, no third try
    (lost,) = lost_blocks(blocks, {r["key"]: {} for r in rows}, [], tmp_path / "ray.log")
    assert lost["file"] == str(tmp_path / "deadly.jsonl")
    assert lost["error"].startswith("its worker died 2 times working on it (killed, out of memory or crashed")
