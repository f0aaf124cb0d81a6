"""``copytrace scan`` on a local Ray and on the local executor: every input kind, bad records, resume, and
the answers of ``match``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from copytrace.batch import inputs as batch_inputs

from .scan_corpus import bank_files, documents, matched, read_rows, write_jsonl, write_parquet, write_txt

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # jobs on Ray


@pytest.fixture(scope="module", autouse=True)
def local_ray(shared_ray: str) -> None:
    """The test process's Ray, joined for the module (a scan joins a running Ray and leaves it running)."""


def test_the_modules_ray_is_the_test_processs_own_and_not_recorded(shared_ray: str) -> None:
    """A ``ray.init()`` with no address in this process (a test of a job's own Ray) does not find it."""
    from ray._common.utils import get_ray_address_file

    assert ray.is_initialized() and ray.get_runtime_context().gcs_address == shared_ray
    record = Path(get_ray_address_file(None))
    assert not record.exists() or record.read_text().strip() != shared_ray


@pytest.fixture(params=["ray", "processes"])
def banked(cli, request: pytest.FixtureRequest) -> Any:  # type: ignore[no-untyped-def]
    """The CLI with a bank; its scans run on the module's Ray, or on the local executor's processes: the
    same tests hold for both."""
    code, _, err = cli("bank", "add", "ref", *bank_files())
    assert code == 0, err

    def run(*args: object) -> Any:
        if args and args[0] == "scan":
            args = (*args, "--executor", request.param)
        return cli(*args)

    return run


def _match_jsonl(cli, path: Path) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    code, out, err = cli("match", "--jsonl", path)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_rows_are_what_match_prints_plus_their_source(banked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = documents()
    corpus = write_jsonl(tmp_path / "posts.jsonl", docs)
    code, _, err = banked("scan", corpus, "--out", tmp_path / "out", "--format", "jsonl")
    assert code == 0, err
    rows = read_rows(tmp_path / "out")
    expected = _match_jsonl(banked, corpus)
    assert [{k: v for k, v in r.items() if k != "source"} for r in rows] == expected
    assert matched(rows) >= {
        ("republished", "ref", "000_ea7438489bd31fbe"),
        ("quoted", "ref", "000_ea7438489bd31fbe"),
    }
    assert any(r["query"] == "speech-excerpt" for r in rows)
    line_of = {d["id"]: n for n, d in enumerate(docs, start=1)}
    for r in rows:
        assert r["source"] == {"file": str(corpus), "row": line_of[r["query"]]}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["documents"] == len(docs)
    assert summary["matched_documents"] == len({r["query"] for r in rows})
    assert summary["bad_records"] == 0 and summary["bytes"] == corpus.stat().st_size
    assert summary["documents_per_second"] > 0


@pytest.mark.parametrize("kind", ["jsonl.gz", "jsonl.zst", "parquet", "txt"])
def test_every_input_kind_finds_the_same_copies(banked, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    docs = documents()
    reference = write_jsonl(tmp_path / "reference.jsonl", docs)
    expected = matched(_match_jsonl(banked, reference))
    extra: list[str] = []
    if kind == "parquet":
        corpus = write_parquet(tmp_path / "posts.parquet", docs, id_column="doc", text_column="body")
        extra = ["--id-column", "doc", "--text-column", "body"]
    elif kind == "txt":
        corpus = write_txt(tmp_path / "posts", [d for d in docs if d["id"] != "empty"])
    else:
        corpus = write_jsonl(tmp_path / f"posts.{kind}", docs)
    code, _, err = banked("scan", corpus, "--out", tmp_path / "out", *extra)
    assert code == 0, err
    rows = read_rows(tmp_path / "out")
    assert matched(rows) == expected
    for r in rows:
        if kind == "parquet":  # the 1-based row of the table
            assert docs[r["source"]["row"] - 1]["id"] == r["query"]
        elif kind == "txt":
            assert r["source"] == {"file": str(corpus / f"{r['query']}.txt"), "row": None}


def test_a_jsonl_file_cut_into_ranges_keeps_the_files_line_numbers(
    banked, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    docs = documents()
    bad_lines = [b'{"id": "no-text"}\n', b"\xff\xfe not UTF-8\n", b"{broken\n"]
    corpus = write_jsonl(tmp_path / "posts.jsonl", docs, extra_lines=bad_lines)
    with corpus.open("ab") as fh:  # and documents after the bad lines
        fh.write(b"".join(json.dumps({**d, "id": d["id"] + "-again"}).encode() + b"\n" for d in docs[:10]))
    monkeypatch.setattr(batch_inputs, "BLOCK_BYTES", 9_000)
    blocks = batch_inputs.plan(batch_inputs.expand([str(corpus)]))
    assert len(blocks) > 10
    code, _, err = banked("scan", corpus, "--out", tmp_path / "out", "--format", "jsonl")
    assert code == 2  # bad records: reported, skipped, the rest scanned
    lines = corpus.read_bytes().splitlines()
    first_bad = len(docs) + 1
    assert f'{corpus}:{first_bad}: "text" is missing' in err
    assert f"{corpus}:{first_bad + 1}: not UTF-8" in err
    assert f"{corpus}:{first_bad + 2}: malformed JSON" in err
    rows = read_rows(tmp_path / "out")
    for r in rows:  # every source line holds the document the row names
        assert json.loads(lines[r["source"]["row"] - 1])["id"] == r["query"]
    assert {r["query"] for r in rows} >= {"republished", "republished-again"} - {"republished-again"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["documents"] == len(docs) + 10
    assert summary["bad_records"] == 3
    assert [b["row"] for b in summary["bad"]] == [first_bad, first_bad + 1, first_bad + 2]


def test_bad_records_of_every_kind_are_counted_and_named(banked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = documents()[:10]
    table = pa.table(
        {
            "id": ["a", None, "c", "d", ""],
            "text": [docs[7]["text"].encode(), b"x", None, b"\xff\xfe\xfd bad", b"y"],
        }
    )
    pq.write_table(table, tmp_path / "rows.parquet")
    folder = write_txt(tmp_path / "texts", docs)
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (folder / "blank.txt").write_text("   \n")
    code, _, err = banked("scan", tmp_path / "rows.parquet", folder, "--out", tmp_path / "out")
    assert code == 2
    assert f"{tmp_path / 'rows.parquet'}:2: the id is missing" in err
    assert f"{tmp_path / 'rows.parquet'}:3: the text is missing" in err
    assert f"{tmp_path / 'rows.parquet'}:4: the text is not UTF-8" in err
    assert f"{tmp_path / 'rows.parquet'}:5: the id is missing" in err
    assert f"{folder / 'binary.txt'}: looks like binary data" in err
    assert f"{folder / 'blank.txt'}: empty text" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["bad_records"] == 6
    assert summary["documents"] == 1 + len(docs)
    assert ("a", "ref", "000_ea7438489bd31fbe") in matched(read_rows(tmp_path / "out"))


def test_resume_skips_finished_blocks_and_refuses_another_job(
    banked, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    corpus = write_jsonl(tmp_path / "posts.jsonl", documents())
    monkeypatch.setattr(batch_inputs, "BLOCK_BYTES", 20_000)
    out = tmp_path / "out"
    assert banked("scan", corpus, "--out", out)[0] == 0
    first = read_rows(out)
    code, _, err = banked("scan", corpus, "--out", out)
    assert code == 2 and "--resume" in err
    code, _, err = banked("scan", corpus, "--out", out, "--resume", "--min-score", "0.5")
    assert code == 2 and "min_score" in err
    # a block whose marker was lost (killed between part and marker) is scanned again, the others are not
    markers = sorted((out / "done").iterdir())
    markers[1].unlink()
    code, _, err = banked("scan", corpus, "--out", out, "--resume")
    assert code == 0, err
    assert f"{len(markers) - 1} block(s) were finished by an earlier run; 1 left" in err
    assert read_rows(out) == first
    summary = json.loads((out / "summary.json").read_text())
    assert summary["blocks_resumed"] == len(markers) - 1
    assert summary["documents"] == len(documents())


def test_exit_status_says_whether_something_was_searched(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = write_jsonl(tmp_path / "posts.jsonl", documents()[:5])
    code, _, err = cli("scan", corpus, "--out", tmp_path / "o1")
    assert code == 2 and "no store" in err
    assert cli("bank", "add", "ref", *bank_files())[0] == 0
    assert cli("scan", corpus, "--out", tmp_path / "o2")[0] == 1  # searched, nothing matched
    code, _, err = cli("scan", corpus, "--out", tmp_path / "o3", "--bank", "nope")
    assert code == 2 and "nope" in err
    code, _, err = cli("scan", tmp_path / "missing.jsonl", "--out", tmp_path / "o4")
    assert code == 2 and "no such file" in err
    (tmp_path / "notes.md").write_text("hello")
    code, _, err = cli("scan", tmp_path / "notes.md", "--out", tmp_path / "o5")
    assert code == 2 and "not a kind of file" in err
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    code, _, err = cli("scan", empty, "--out", tmp_path / "o6")
    assert code == 2 and "no document" in err
    write_parquet(tmp_path / "t.parquet", documents()[:3])
    code, _, err = cli("scan", tmp_path / "t.parquet", "--text-column", "body", "--out", tmp_path / "o7")
    assert code == 2 and "no column 'body'" in err and "--text-column" in err


def test_globs_and_folders_of_mixed_files_are_expanded_once(banked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = documents()
    write_jsonl(tmp_path / "posts-1.jsonl", docs[:25])
    write_jsonl(tmp_path / "posts-2.jsonl.gz", docs[25:])
    (tmp_path / "README.md").write_text("not data")
    code, _, err = banked(
        "scan", f"{tmp_path}/posts-*", tmp_path / "posts-1.jsonl", "--out", tmp_path / "out"
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["documents"] == len(docs)  # posts-1 named twice, read once
    assert summary["blocks"] == 2
    code, _, err = banked("scan", f"{tmp_path}/nothing-*.jsonl", "--out", tmp_path / "o2")
    assert code == 2 and "matches no file" in err


def test_a_keyed_bank_is_scanned_with_its_key_only(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "consortium.key"
    key.write_text(cli("key", "generate")[1])
    assert cli("bank", "add", "keyed", "--key-file", key, *bank_files())[0] == 0
    corpus = write_jsonl(tmp_path / "posts.jsonl", documents())
    code, _, err = cli("scan", corpus, "--out", tmp_path / "o1")
    assert code == 2 and "no bank can be searched" in err
    code, _, err = cli("scan", corpus, "--bank", "keyed", "--out", tmp_path / "o2")
    assert code == 2 and "--key-file" in err
    code, _, err = cli("scan", corpus, "--key-file", key, "--out", tmp_path / "o3")
    assert code == 0, err
    assert ("republished", "keyed", "000_ea7438489bd31fbe") in matched(read_rows(tmp_path / "o3"))
