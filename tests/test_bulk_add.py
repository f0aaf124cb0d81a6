"""Bulk adds in chunks (``bank add --jsonl``, ``bank import``): each chunk linked and committed on its own,
with the links and copy families of one call, what was committed kept when the process dies, bad inputs
refused before anything is stored."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from copytrace import fingerprint
from copytrace.banks import Store
from copytrace.banks import store as bank_store
from copytrace.cli import bank_bulk
from copytrace.cli.main import main
from copytrace.index.phrase_rules import item_phrase
from copytrace.store import ItemRecord

from .conftest import DATA

CHUNK = 7
"""Items per chunk in these tests: the versions of one text fall in different chunks."""

Run = Callable[..., tuple[int, str, str]]


def _dense_items(n_texts: int = 5, versions: int = 9, seed: int = 7) -> list[dict[str, str]]:
    """``n_texts`` texts of the State of the Union corpus (their first 300 words), each with ``versions``
    versions (words changed, a sentence dropped, a footer added, a cut), shuffled: many items per family."""
    rng = random.Random(seed)
    paths = sorted((DATA / "corpora" / "state_union").glob("*.txt"))[:n_texts]
    items = []
    for t, path in enumerate(paths):
        words = path.read_text(encoding="utf-8").split()[:300]
        items.append({"id": f"t{t}-v0", "text": " ".join(words)})
        for v in range(1, versions + 1):
            w = list(words)
            for i in rng.sample(range(len(w)), 6):
                w[i] = rng.choice(["indeed", "truly", "always", "never", "people"])
            if v % 3 == 0:
                cut = rng.randrange(50, 250)
                del w[cut : cut + 12]
            if v % 4 == 0:
                w = w[: int(len(w) * 0.8)]
            tail = f" Shared by reader {v} of text {t}." if v % 2 else ""
            items.append({"id": f"t{t}-v{v}", "text": " ".join(w) + tail})
    rng.shuffle(items)
    return items


def _jsonl(path: Path, items: list[dict[str, str]], *extra: str) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items) + "".join(e + "\n" for e in extra))
    return path


@pytest.fixture
def run(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """``copytrace ARGS`` in this process, on the store of ``db_url`` (SQLite and PostgreSQL), in chunks
    of ``CHUNK`` items."""
    monkeypatch.setenv("COPYTRACE_DB", db_url)
    monkeypatch.setenv("COPYTRACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COPYTRACE_KEY_FILE", raising=False)
    monkeypatch.setattr(bank_bulk, "CHUNK_ITEMS", CHUNK)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as s:
        yield s


def _links(store: Store, bank: str) -> list[tuple[str, list[str]]]:
    return [(item_id, links or []) for item_id, links in store.bank_links().get(bank, [])]


def _reference(store: Store, items: list[dict[str, str]], bank: str, *, one_call: bool) -> None:
    """The same items added with the library, in one call or one call per item."""
    records = [ItemRecord(i["id"], fingerprint(i["text"], allow_short=True), i["text"]) for i in items]
    params = records[0].fingerprint.params
    if one_call:
        store.add_items(bank, records, create=params)
    else:
        for rec in records:
            store.add_items(bank, [rec], create=params)


def test_a_dense_file_in_chunks_links_as_one_call_and_as_one_item_at_a_time(
    run: Run, store: Store, tmp_path: Path
) -> None:
    items = _dense_items()
    code, out, err = run("bank", "add", "chunked", "--jsonl", _jsonl(tmp_path / "dense.jsonl", items))
    assert code == 0, err
    assert json.loads(out)["added"] == len(items)
    _reference(store, items, "whole", one_call=True)
    _reference(store, items, "single", one_call=False)
    chunked = _links(store, "chunked")
    assert [i for i, _ in chunked] == [i["id"] for i in items]  # stored in input order
    assert chunked == _links(store, "whole") == _links(store, "single")
    position = {item_id: n for n, (item_id, _) in enumerate(chunked)}
    across = [(a, b) for a, links in chunked for b in links if position[a] // CHUNK != position[b] // CHUNK]
    assert len(across) > 10, "the test needs versions linked across chunks"
    counts = store.family_counts()
    assert counts["chunked"] == counts["whole"] == counts["single"] == 5


def test_import_in_chunks_links_as_one_call(
    run: Run, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bank_bulk, "PROGRESS_GROUP", 5)  # records read in groups across chunks
    items = _dense_items(n_texts=3, versions=6, seed=3)
    _reference(store, items, "source", one_call=True)
    listing = tmp_path / "source.ctl.jsonl"
    assert run("bank", "export", "source", "--out", listing)[0] == 0
    code, out, err = run("bank", "import", "copy", listing)
    assert code == 0, err
    assert json.loads(out)["imported"] == len(items)
    assert _links(store, "copy") == _links(store, "source")
    assert store.family_counts()["copy"] == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param('{"id": "late", "text": ""}', "empty text", id="empty-text"),
        pytest.param("{not json", "dense.jsonl:", id="not-json"),
        pytest.param('{"id": "t0-v0", "text": "given twice"}', "given twice in this call", id="repeated-id"),
    ],
)
def test_a_bad_record_in_the_last_chunk_stores_nothing(
    run: Run, store: Store, tmp_path: Path, extra: str, message: str
) -> None:
    items = _dense_items(n_texts=2, versions=9)
    path = _jsonl(tmp_path / "dense.jsonl", items, extra)
    code, out, err = run("bank", "add", "b", "--jsonl", path)
    assert (code, out) == (2, "")
    assert message in err
    assert "b" not in store.bank_links()
    code, out, err = run("bank", "add", "b", "--jsonl", path, "--skip-bad")
    assert code == 2
    assert json.loads(out) == {"bank": "b", "added": len(items), "skipped": 1}
    assert "1 bad input(s) were skipped" in err


def test_an_id_the_bank_holds_in_a_later_chunk_stores_nothing(run: Run, store: Store, tmp_path: Path) -> None:
    items = _dense_items(n_texts=2, versions=9)
    assert run("bank", "add", "b", "--jsonl", _jsonl(tmp_path / "last.jsonl", items[-1:]))[0] == 0
    code, out, err = run("bank", "add", "b", "--jsonl", _jsonl(tmp_path / "all.jsonl", items))
    assert (code, out) == (2, "")
    assert f"item {items[-1]['id']!r} is already in bank 'b': add --skip-existing" in err
    assert [i for i, _ in _links(store, "b")] == [items[-1]["id"]]


def test_a_repeated_id_of_a_list_in_a_later_chunk_stores_nothing(
    run: Run, store: Store, tmp_path: Path
) -> None:
    items = _dense_items(n_texts=2, versions=9)
    _reference(store, items, "source", one_call=True)
    listing = tmp_path / "source.ctl.jsonl"
    assert run("bank", "export", "source", "--out", listing)[0] == 0
    lines = listing.read_text().splitlines()
    listing.write_text("\n".join([*lines, lines[1]]) + "\n")  # the first record again, at the end
    code, out, err = run("bank", "import", "copy", listing)
    assert (code, out) == (2, "")
    assert "is already in bank 'copy'" in err
    assert "copy" not in store.bank_links()


_DIES_AFTER = """
import os, sys
from copytrace.banks import store as bank_store
from copytrace.cli import bank_bulk
from copytrace.cli.main import main

bank_bulk.CHUNK_ITEMS = {chunk}
committed = 0
write = bank_store.Store._write_checked

def write_then_die(self, *args, **kwargs):
    global committed
    if committed == {chunks}:
        os._exit(137)  # the process dies between two chunks' writes, as when killed
    committed += 1
    return write(self, *args, **kwargs)

bank_store.Store._write_checked = write_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_a_call_killed_mid_file_keeps_the_committed_chunks_and_a_rerun_resumes(
    run: Run, store: Store, db_url: str, tmp_path: Path
) -> None:
    items = _dense_items()
    path = _jsonl(tmp_path / "dense.jsonl", items)
    script = _DIES_AFTER.format(chunk=CHUNK, chunks=3)
    env = {**os.environ, "COPYTRACE_DB": db_url, "COPYTRACE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", script, "bank", "add", "b", "--jsonl", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 137, proc.stderr
    stored = [i for i, _ in _links(store, "b")]
    assert stored == [i["id"] for i in items[: 3 * CHUNK]]  # the three chunks committed, in input order

    code, out, err = run("bank", "add", "b", "--jsonl", path)  # again, as it was: refused, nothing stored
    assert (code, out) == (2, "")
    assert f"item {items[0]['id']!r} is already in bank 'b': add --skip-existing" in err
    assert len(_links(store, "b")) == 3 * CHUNK

    code, out, err = run("bank", "add", "b", "--jsonl", path, "--skip-existing")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["added"], summary["unchanged"], summary["changed"]) == (
        len(items) - 3 * CHUNK,
        3 * CHUNK,
        0,
    )
    _reference(store, items, "whole", one_call=True)
    assert _links(store, "b") == _links(store, "whole")
    assert store.family_counts()["b"] == store.family_counts()["whole"] == 5


def test_an_error_after_committed_chunks_says_what_is_stored(run: Run, store: Store, tmp_path: Path) -> None:
    """Another writer's item with an id of the third chunk: the first two chunks stay, and the error says
    how many items are stored and how to add the rest."""
    items = _dense_items(n_texts=2, versions=9)
    path = _jsonl(tmp_path / "dense.jsonl", items)
    other = items[2 * CHUNK]
    write = Store._write_checked
    calls = []

    def another_writer_first(self: Store, bank: str, records: list[ItemRecord], **kw: object) -> object:
        calls.append(bank)
        if len(calls) == 3:  # between the second and third chunk, another process adds one of its ids
            with Store(self.url) as writer:
                writer.add_items(bank, [ItemRecord(other["id"], fingerprint(other["text"]), other["text"])])
        return write(self, bank, records, **kw)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Store, "_write_checked", another_writer_first)
        code, out, err = run("bank", "add", "b", "--jsonl", path)
    assert (code, out) == (2, "")
    assert f"{2 * CHUNK} item(s) of this call were stored in 'b' before this error" in err
    assert "--skip-existing to store the rest" in err
    assert [i for i, _ in _links(store, "b")] == [i["id"] for i in items[: 2 * CHUNK]] + [other["id"]]


def test_a_file_of_bad_records_only_creates_the_bank_as_before(
    run: Run, store: Store, tmp_path: Path
) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", [], '{"id": "a", "text": ""}')
    code, out, _ = run("bank", "add", "b", "--jsonl", path, "--skip-bad")
    assert code == 2
    assert json.loads(out) == {"bank": "b", "added": 0, "skipped": 1}
    assert store.bank("b").n_items == 0


def test_texts_fingerprinted_in_blocks_are_stored_as_one_by_one(
    run: Run, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of 3 records: texts, HTML, a short text (a phrase), a fingerprint, bad records between them;
    each item stored with the fingerprint and phrase that ``fingerprint`` of its text alone gives."""
    monkeypatch.setattr(bank_bulk, "FINGERPRINT_BLOCK", 3)
    items = _dense_items(n_texts=2, versions=3)
    items.insert(
        2, {"id": "html", "text": "<p>We hold these <b>truths</b> to be self-evident, that all men</p>"}
    )
    items.insert(4, {"id": "short", "text": "the Berlin Film Festival"})
    listed = fingerprint(items[0]["text"] + " and one more sentence at the end of it.")
    records = [json.dumps(i) for i in items]
    records.insert(3, '{"id": "empty", "text": "   "}')
    records.insert(6, json.dumps({"id": "listed", "fingerprint": str(listed)}))
    records.insert(7, "{not json")
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(records) + "\n")
    code, out, err = run("bank", "add", "b", "--jsonl", path, "--skip-bad")
    assert code == 2, err
    assert json.loads(out)["added"] == len(items) + 1
    assert "empty text" in err and "mixed.jsonl:8" in err
    stored = store.fingerprints_of("b", [i["id"] for i in items] + ["listed"])
    expected = {i["id"]: str(fingerprint(i["text"], allow_short=True)) for i in items}
    assert stored == {**expected, "listed": str(listed)}
    phrases = {r.item_id: None if r.phrase is None else str(r.phrase) for r in store.iter_items("b")}
    for item in items:
        made = item_phrase(item["text"], fingerprint(item["text"], allow_short=True))
        assert phrases[item["id"]] == (None if made is None else str(made))
    assert phrases["short"] is not None and phrases[items[0]["id"]] is None


@pytest.mark.parametrize("size", [1, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b'{"id": "a"}\n{"id": "b"}\n',
        b'{"id": "a"}\r\n\n\n{"id": "b"}',
        b"x" * 50 + b"\n" + b"y" * 3 + b"\n\n" + b"z" * 20,
    ],
    ids=["empty", "one-newline", "two-lines", "crlf-blank-lines-no-final-newline", "long-lines"],
)
def test_line_blocks_give_the_lines_of_the_file(tmp_path: Path, data: bytes, size: int) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    with path.open("rb") as fh:
        expected = [line.removesuffix(b"\n") for line in fh]
    with path.open("rb") as fh:
        blocks = list(bank_bulk._line_blocks(fh, size))
    assert all(b.endswith(b"\n") for b in blocks[:-1])
    assert list(bank_bulk._block_lines(blocks)) == expected


def test_a_chunk_linked_while_another_writer_adds_is_linked_again(
    run: Run, store: Store, tmp_path: Path
) -> None:
    """A chunk is linked while the chunk before it is written; when another writer stored an item in
    between (here: a version of a later item, while the second chunk is written), the chunks from the
    third on link to it, as adds of one chunk after another see it: the links equal those of adds of the
    same items in the same order, one call per chunk."""
    items = _dense_items(n_texts=2, versions=9)
    late = items[2 * CHUNK + 1]  # in the third chunk
    other = {"id": "other", "text": late["text"] + " Posted again elsewhere."}
    write = Store._write_checked
    calls = []

    def another_writer_meanwhile(self: Store, bank: str, records: list[ItemRecord], **kw: object) -> object:
        calls.append(bank)
        if len(calls) == 2:
            with Store(self.url) as writer:
                writer.add_items(bank, [ItemRecord(other["id"], fingerprint(other["text"]), other["text"])])
        return write(self, bank, records, **kw)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Store, "_write_checked", another_writer_meanwhile)
        code, _, err = run("bank", "add", "b", "--jsonl", _jsonl(tmp_path / "dense.jsonl", items))
    assert code == 0, err
    got = _links(store, "b")
    assert [i for i, _ in got] == [i["id"] for i in items[:CHUNK]] + ["other"] + [
        i["id"] for i in items[CHUNK:]
    ]
    assert "other" in dict(got)[late["id"]]

    def records(chunk: list[dict[str, str]]) -> list[ItemRecord]:
        return [ItemRecord(i["id"], fingerprint(i["text"], allow_short=True), i["text"]) for i in chunk]

    params = fingerprint(items[0]["text"]).params
    store.add_items("ref", records(items[:CHUNK]), create=params)
    store.add_items("ref", records([other]))
    linked = dict(got)  # the second chunk was linked before the other writer's item was stored
    store.add_items(
        "ref", [dataclasses.replace(r, links=linked[r.item_id]) for r in records(items[CHUNK : 2 * CHUNK])]
    )
    for start in range(2 * CHUNK, len(items), CHUNK):
        store.add_items("ref", records(items[start : start + CHUNK]))
    assert got == _links(store, "ref")


def test_a_record_given_its_links_keeps_every_other_field() -> None:
    """The bulk add's copy of a record with its links is ``dataclasses.replace`` of it, whatever fields
    the record has."""
    text = "the Berlin Film Festival"
    fp = fingerprint(text, allow_short=True)
    rec = ItemRecord(
        "a", fp, text, ["x"], {"k": 1}, datetime(2026, 1, 2, tzinfo=UTC), None, item_phrase(text, fp)
    )
    assert {f.name for f in dataclasses.fields(rec) if getattr(rec, f.name) in (None, [], {})} == {"links"}
    copy = bank_store._with_links(rec, ["b"])
    assert copy == dataclasses.replace(rec, links=["b"]) and copy is not rec and rec.links is None
