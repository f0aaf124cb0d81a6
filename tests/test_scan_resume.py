"""What ``--resume`` checks before it trusts a job folder, and duplicate ids, in ``scan`` and ``cluster``:
a changed input is rescanned (scan) or refused (cluster) with the file named; a folder with no job is not
resumed; a job that stopped before its first block leaves the folder free; documents sharing an id are
counted and named."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from copytrace.batch import inputs as batch_inputs
from copytrace.batch.inputs import expand, plan

from .scan_corpus import bank_files, documents, read_rows, write_jsonl

# The jobs run on the executors chosen on one machine (scan's worker processes, cluster in process): what
# is checked here is the driver's, before and after any executor runs (the job folder, the inputs' identity,
# the ids read), the same whichever ran; resume on Ray is in test_scan and test_cluster_job.


@pytest.fixture
def banked(cli) -> Any:  # type: ignore[no-untyped-def]
    code, _, err = cli("bank", "add", "ref", *bank_files())
    assert code == 0, err
    return cli


def test_a_blocks_key_holds_its_files_identity(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "posts.jsonl", documents())
    keys = [b.key for b in plan(expand([str(corpus)]))]
    assert keys == [b.key for b in plan(expand([str(corpus)]))]  # stable while the file is
    st = corpus.stat()
    os.utime(corpus, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # same bytes, touched
    assert [b.key for b in plan(expand([str(corpus)]))] != keys
    with corpus.open("ab") as fh:
        fh.write(b'{"id": "more", "text": "more"}\n')
    (block,) = plan(expand([str(corpus)]))
    assert f"size={corpus.stat().st_size} " in block.identity


def test_a_changed_input_is_rescanned_on_resume_and_named(
    banked, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(batch_inputs, "BLOCK_BYTES", 20_000)
    docs = documents()
    corpus = write_jsonl(tmp_path / "posts.jsonl", docs)
    other = write_jsonl(tmp_path / "other.jsonl", docs[:5])
    out = tmp_path / "out"
    assert banked("scan", corpus, other, "--out", out, "--format", "jsonl")[0] == 0
    # the republished copy renamed, and a document appended: what the file holds is no longer what was read
    changed = [{**d, "id": "renamed"} if d["id"] == "republished" else d for d in docs]
    changed.append({"id": "appended", "text": docs[8]["text"]})  # a copy of a matching document
    write_jsonl(corpus, changed)
    code, _, err = banked("scan", corpus, other, "--out", out, "--format", "jsonl", "--resume")
    assert code == 0, err
    assert f"{corpus} (changed: " in err and "scanned again" in err
    assert str(other) not in err.split("scanned again")[1].split("\n")[0]  # only the changed file is named
    rows = read_rows(out)
    queries = {r["query"] for r in rows}
    assert "renamed" in queries and "republished" not in queries
    fresh = tmp_path / "fresh"
    assert banked("scan", corpus, other, "--out", fresh, "--format", "jsonl")[0] == 0
    assert rows == read_rows(fresh)  # as if scanned from scratch
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == len(changed) + 5
    assert summary["blocks_resumed"] == 1  # other.jsonl's block, unchanged, was kept


def test_resume_needs_a_job_in_the_folder(banked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = write_jsonl(tmp_path / "posts.jsonl", documents()[:10])
    folder = tmp_path / "important"
    folder.mkdir()
    (folder / "important.txt").write_text("keep me")
    code, _, err = banked("scan", corpus, "--out", folder, "--resume")
    assert code == 2 and "no job to resume" in err and "without --resume" in err
    assert sorted(p.name for p in folder.iterdir()) == ["important.txt"]
    code, _, err = banked("scan", corpus, "--out", tmp_path / "nothing", "--resume")
    assert code == 2 and "no job to resume" in err
    code, _, err = banked("cluster", corpus, "--out", folder, "--resume")
    assert code == 2 and "no job to resume" in err
    assert sorted(p.name for p in folder.iterdir()) == ["important.txt"]


def test_a_job_that_failed_before_its_first_block_leaves_the_folder_free(banked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "posts.jsonl.gz"
    corpus.write_bytes(b"this is not gzip data at all")
    out = tmp_path / "out"
    code, _, err = banked("scan", corpus, "--out", out)
    assert code == 2 and "could not be read" in err
    write_jsonl(corpus, documents())  # fixed
    code, _, err = banked("scan", corpus, "--out", out)  # the same command: not refused as "resume it"
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["documents"] == len(documents())
    broken = tmp_path / "other.jsonl.gz"
    broken.write_bytes(b"not gzip either")
    code, _, err = banked("cluster", broken, "--out", tmp_path / "c", "--no-report")
    assert code == 2 and "could not be read" in err
    write_jsonl(broken, documents()[:6])
    code, _, err = banked("cluster", broken, "--out", tmp_path / "c", "--no-report")
    assert code == 1, err  # ran: no family among six unrelated openings


def test_duplicate_ids_are_counted_noted_and_told_apart_by_source(banked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = documents()
    copy = next(d for d in docs if d["id"] == "republished")
    same = [{"id": "same", "text": copy["text"]}] * 3
    corpus = write_jsonl(tmp_path / "posts.jsonl", docs[:5] + same + docs[5:7] + [docs[5]])
    code, _, err = banked("scan", corpus, "--out", tmp_path / "out", "--format", "jsonl")
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["duplicate_ids"] == {
        "ids": 2,
        "documents": 5,
        "first": [{"id": "same", "count": 3}, {"id": docs[5]["id"], "count": 2}],
    }
    assert "2 id(s) name more than one document (5 documents, all scanned" in err
    assert f'"same" (3x), "{docs[5]["id"]}" (2x)' in err
    sources = [r["source"]["row"] for r in read_rows(tmp_path / "out") if r["query"] == "same"]
    assert sorted(set(sources)) == [6, 7, 8]  # three documents, three lines
    unique = write_jsonl(tmp_path / "unique.jsonl", docs)
    code, _, err = banked("scan", unique, "--out", tmp_path / "o2")
    assert "more than one document" not in err
    assert json.loads((tmp_path / "o2" / "summary.json").read_text())["duplicate_ids"]["ids"] == 0


def test_many_duplicate_ids_name_the_first_twenty(banked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = [{"id": f"d{i % 30}", "text": f"text number {i}"} for i in range(60)]
    corpus = write_jsonl(tmp_path / "posts.jsonl", docs)
    code, _, err = banked("scan", corpus, "--out", tmp_path / "out")
    assert code in (0, 1), err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["duplicate_ids"]["ids"] == 30 and summary["duplicate_ids"]["documents"] == 60
    assert [d["id"] for d in summary["duplicate_ids"]["first"]] == [f"d{i}" for i in range(20)]
    assert '"d19" (2x) and 10 more' in err and '"d20"' not in err


def _cluster_corpus(tmp_path: Path) -> Path:
    docs = documents()
    copy = next(d for d in docs if d["id"] == "republished")
    rows = [*docs[:12], {"id": "dup", "text": copy["text"]}, {"id": "dup", "text": docs[3]["text"]}]
    path = tmp_path / "posts.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(json.dumps(d).encode() + b"\n" for d in rows)))
    return path


def test_cluster_notes_duplicate_ids(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _cluster_corpus(tmp_path)
    code, _, err = cli("cluster", path, "--out", tmp_path / "out", "--no-report")
    assert code in (0, 1), err
    assert "1 id(s) name more than one document (2 documents, all clustered" in err and '"dup" (2x)' in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["duplicate_ids"]["first"] == [{"id": "dup", "count": 2}]


def test_cluster_resume_says_resuming_and_refuses_a_changed_input(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(batch_inputs, "BLOCK_BYTES", 8_000)
    docs = documents()
    path = write_jsonl(tmp_path / "posts.jsonl", docs)
    out = tmp_path / "out"
    assert cli("cluster", path, "--out", out, "--no-report")[0] in (0, 1)
    for marker in (out / "done").glob("edges-*.json"):  # killed as the last pass began
        marker.unlink()
    code, _, err = cli("cluster", path, "--out", out, "--resume", "--no-report")
    assert code in (0, 1), err
    assert "resuming" in err
    write_jsonl(path, docs[:-3])
    code, _, err = cli("cluster", path, "--out", out, "--resume", "--no-report")
    assert code == 2
    assert f"--resume refused: {path} (changed: " in err and "another --out folder" in err
    code, _, err = cli("cluster", path, "--out", out, "--resume", "--no-report")
    assert code == 2 and "--resume refused" in err  # and again: the refusal recorded nothing


def test_an_object_store_files_identity_is_its_etag_and_a_bomb_there_is_read_past(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On S3 (moto's server on loopback) a file's identity is its ETag, so rewriting an object changes its
    blocks' keys; and a long line in a plain object is read in pieces (fsspec's own files read a line to its
    end whatever its length)."""
    import socket

    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    from copytrace.batch.inputs import TableColumns, filesystem
    from copytrace.batch.readers import Bad, BlockReading, Doc, read_block

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="corpus")
        s3.put_object(Bucket="corpus", Key="posts.jsonl", Body=b'{"id": "a", "text": "first"}\n')
        url = "s3://corpus/posts.jsonl"
        (before,) = plan(expand([url]))
        assert "etag=" in before.identity
        long_line = b'{"id": "long", "text": "' + b"x" * (3 * 1024 * 1024) + b'"}\n'
        s3.put_object(Bucket="corpus", Key="posts.jsonl", Body=b'{"id": "a", "text": "first"}\n' + long_line)
        filesystem(url)[0].invalidate_cache()  # a new run is a new process, with no listing cached
        (after,) = plan(expand([url]))
        assert after.key != before.key and after.identity != before.identity
        got = list(read_block(after, TableColumns(), BlockReading(), max_bytes=1024 * 1024))
        assert [type(r) for r in got] == [Doc, Bad]
        assert got[1].row == 2 and got[1].reason.startswith("record over --max-size")
    finally:
        server.stop()
