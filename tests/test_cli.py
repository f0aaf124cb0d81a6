"""The command line contract: names, JSON shapes, exit statuses and messages for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from copytrace import Fingerprint
from copytrace.banks import Store
from copytrace.text.textio import read_text_file

from .conftest import CANONICAL_000, CANONICAL_001, DATA, FOOTER

MATCH_KEYS = [
    "query",
    "bank",
    "item_id",
    "score",
    "query_containment",
    "item_containment",
    "spans",
    "family",
    "family_size",
    "kind",
]
SPAN_KEYS = ["query_start", "query_end", "item_start", "item_end"]


def _matches(out: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.splitlines()]


def test_demo_flow(cli, text_001: str, text_000: str) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("bank", "add", "news", CANONICAL_000)
    assert code == 0 and json.loads(out) == {"bank": "news", "added": 1, "skipped": 0}
    code, out, _ = cli("match", CANONICAL_001)
    assert code == 0
    (m,) = _matches(out)
    assert list(m) == MATCH_KEYS and list(m["spans"][0]) == SPAN_KEYS
    assert (m["query"], m["bank"], m["item_id"]) == (str(CANONICAL_001), "news", "000_ea7438489bd31fbe")
    assert m["item_containment"] >= 0.9
    s = m["spans"][0]
    assert text_001[s["query_start"] : s["query_end"]].startswith("We don't sleep")
    assert text_000[s["item_start"] : s["item_end"]].startswith("We don't sleep")
    code, out, _ = cli("bank", "list")
    assert code == 0 and out.startswith("news\t1 item(s)\t1 family\tctw1:n1:k5:w4:public")


def test_the_cli_runs_on_any_store_url(cli, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", "--db", db_url, CANONICAL_000)[0] == 0
    code, out, _ = cli("match", "--db", db_url, CANONICAL_001)
    (m,) = _matches(out)
    assert code == 0 and m["item_containment"] >= 0.9 and m["spans"][0]["item_start"] is not None
    assert cli("bank", "remove", "news", "000_ea7438489bd31fbe", "--db", db_url)[0] == 0
    assert cli("match", "--db", db_url, CANONICAL_001)[0] == 1


def test_no_match_exits_1(cli) -> None:  # type: ignore[no-untyped-def]
    cli("bank", "add", "news", CANONICAL_000)
    code, out, _ = cli("match", "-", stdin=FOOTER)
    assert (code, out) == (1, "")
    code, out, err = cli("match", "-", stdin="too short")
    assert code == 1 and "too short" in err


def test_jsonl_queries_report_bad_lines_and_go_on(cli, tmp_path: Path, text_001: str) -> None:  # type: ignore[no-untyped-def]
    cli("bank", "add", "news", CANONICAL_000)
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "post-1", "text": text_001})
        + "\n{broken\n"
        + json.dumps({"id": "post-2", "text": FOOTER})
        + "\n"
        + json.dumps({"id": "post-3", "text": text_001[:600]})
        + "\n"
    )
    code, out, err = cli("match", "--jsonl", queries)
    assert code == 2
    assert [m["query"] for m in _matches(out)] == ["post-1", "post-3"]
    assert f"{queries}:2: malformed JSON" in err


def test_bank_add_from_jsonl_is_atomic_unless_skip_bad(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = json.dumps({"id": "a", "text": "one two three four five six seven", "labels": ["x"]})
    records = tmp_path / "items.jsonl"
    records.write_text(good + "\n" + '{"id": "b", "text": 5}\n')
    code, out, err = cli("bank", "add", "b", "--jsonl", records)
    assert code == 2 and f"{records}:2: " in err and '"text" must be a string' in err
    code, out, err = cli("bank", "list", "--json")
    assert out == ""  # nothing stored, and no empty bank left behind
    code, out, err = cli("bank", "add", "b", "--jsonl", records, "--skip-bad")
    assert code == 2 and json.loads(out)["added"] == 1
    # status 2 as after scan's bad records, and the last line says why: some input was not used
    assert err.splitlines()[-1] == (
        "copytrace: error: 1 bad input(s) were skipped, each named above "
        "(the rest were stored: 1 item(s) in 'b')"
    )
    code, out, err = cli("bank", "export", "b", "--out", tmp_path / "list.jsonl")
    with (tmp_path / "list.jsonl").open("a") as fh:
        fh.write("{broken\n")
    code, out, err = cli("bank", "import", "c", tmp_path / "list.jsonl", "--skip-bad")
    assert code == 2 and json.loads(out)["imported"] == 1 and "malformed JSON" in err
    assert err.splitlines()[-1].startswith("copytrace: error: 1 bad input(s) were skipped, each named above")


def test_directories_add_every_txt_with_relative_ids(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "texts"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text(CANONICAL_000.read_text())
    (root / "sub" / "b.txt").write_text(CANONICAL_001.read_text())
    (root / "ignored.md").write_text("not a text item")
    code, out, _ = cli("bank", "add", "news", root)
    assert code == 0 and json.loads(out)["added"] == 2
    code, out, _ = cli("match", CANONICAL_001)  # the two are versions of one text: one family, one line
    assert [(m["item_id"], m["family"], m["family_size"]) for m in _matches(out)] == [("sub/b", "a", 2)]
    code, out, _ = cli("match", "--all-versions", CANONICAL_001)
    assert sorted(m["item_id"] for m in _matches(out)) == ["a", "sub/b"]
    code, _, err = cli("bank", "add", "news", root)
    assert code == 2 and "already in bank 'news'" in err
    assert cli("bank", "remove", "news", "sub/b")[0] == 0
    code, _, err = cli("bank", "remove", "news", "sub/b")
    assert code == 2 and "no item 'sub/b'" in err


def test_fingerprint_only_banks_report_null_item_offsets(cli) -> None:  # type: ignore[no-untyped-def]
    cli("bank", "add", "shared", "--fingerprint-only", CANONICAL_000)
    code, out, _ = cli("match", CANONICAL_001)
    (m,) = _matches(out)
    assert code == 0 and m["spans"][0]["item_start"] is None and m["spans"][0]["item_end"] is None


def test_keyed_banks_need_their_key(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "consortium.key"
    code, out, _ = cli("key", "generate")
    key.write_text(out)
    assert cli("bank", "add", "keyed", "--key-file", key, CANONICAL_000)[0] == 0
    key_id = Fingerprint.parse(cli("fingerprint", "--key-file", key, CANONICAL_000)[1].strip()).params.key_id
    code, out, err = cli("match", CANONICAL_001)  # no bank could be searched: an error, not "nothing matched"
    assert code == 2 and out == ""
    assert (
        f"no bank can be searched with ctw1:n1:k5:w4:public: 'keyed' (ctw1:n1:k5:w4:{key_id}: another key)"
        in err
    )
    code, _, err = cli("match", "--bank", "keyed", CANONICAL_001)
    assert code == 2 and err == (
        f"copytrace: error: bank 'keyed' was made with ctw1:n1:k5:w4:{key_id}, this search fingerprints with "
        "ctw1:n1:k5:w4:public: another key; search it with the key it was made with (--key-file)\n"
    )
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    code, out, err = cli("match", CANONICAL_001)  # some bank could be searched: one note names the others
    assert code == 0 and [m["bank"] for m in _matches(out)] == ["news"]
    assert err.count("copytrace: note: not searched") == 1 and "'keyed'" in err
    code, out, _ = cli("match", "--key-file", key, CANONICAL_001)
    assert code == 0 and _matches(out)[0]["bank"] == "keyed"
    code, _, err = cli("match", "--key-file", tmp_path / "missing.key", CANONICAL_001)
    assert code == 2 and "cannot read key file" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty text"), (b"   \n\t ", "empty text"), (b"\x00\x01binary\x00data", "binary")],
    ids=["empty", "whitespace", "binary"],
)
def test_unusable_files_are_refused(cli, tmp_path: Path, content: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    cli("bank", "add", "news", CANONICAL_000)  # a store with a bank, so that match reads its input
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    for args in (("bank", "add", "b", path), ("match", path), ("fingerprint", path)):
        code, _, err = cli(*args)
        errors = [line for line in err.splitlines() if line.startswith("copytrace: error:")]
        assert code == 2 and len(errors) == 1 and message in errors[0], (args, err)


def test_missing_paths_and_unknown_banks(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("bank", "add", "b", tmp_path / "nope.txt")
    assert code == 2 and "no such file" in err
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    code, _, err = cli("match", "--bank", "nope", CANONICAL_001)
    assert (
        code == 2 and err == "copytrace: error: unknown bank 'nope': list banks with 'copytrace bank list'\n"
    )
    code, _, err = cli("match", tmp_path / "nope.txt")
    assert code == 2 and "no such file" in err
    code, _, err = cli("bank", "delete", "nope", "--yes")
    assert code == 2 and "unknown bank" in err


def test_errors_speak_of_commands_and_options_never_routes(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    for args in (
        ("bank", "remove", "nope", "x"),
        ("bank", "export", "nope"),
        ("bank", "delete", "nope", "--yes"),
        ("match", "--bank", "nope", CANONICAL_001),
    ):
        code, _, err = cli(*args)
        assert code == 2 and "list banks with 'copytrace bank list'" in err, (args, err)
        assert "/v1/" not in err and "GET " not in err, err
    code, _, err = cli("bank", "add", "news", CANONICAL_000)
    assert code == 2 and "--replace" in err and "?replace" not in err and "/v1/" not in err


def test_latin1_files_are_read_with_a_note(cli) -> None:  # type: ignore[no-untyped-def]
    path = DATA / "corpora" / "state_union" / "1954-Eisenhower.txt"
    code, _, err = cli("bank", "add", "su", path)
    assert code == 0 and "read as Windows-1252" in err
    code, out, _ = cli("match", path)
    assert code == 0 and _matches(out)[0]["item_containment"] == 1.0


def test_fingerprint_command(cli, text_000: str) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("fingerprint", CANONICAL_000)
    assert code == 0 and Fingerprint.parse(out.strip())
    code, out2, _ = cli("fingerprint", "-", stdin=text_000)
    assert out2 == out
    code, _, err = cli("fingerprint", "-", stdin="two words")
    assert code == 2 and "too short" in err


def test_enormous_input(cli, tmp_path: Path, text_000: str) -> None:  # type: ignore[no-untyped-def]
    cli("bank", "add", "news", CANONICAL_000)
    filler = " ".join(read_text_file(p).text for p in sorted((DATA / "corpora" / "inaugural").glob("*.txt")))
    excerpt = " ".join(text_000.split()[100:140])
    big = tmp_path / "big.txt"
    with big.open("w", encoding="utf-8") as fh:
        for _ in range(200_000_000 // len(filler)):
            fh.write(filler)
        fh.write(excerpt + " end.")
    code, _, err = cli("match", "--max-size", "1000000", big)
    size = big.stat().st_size
    assert (
        code == 2 and f"{size:,} bytes ({size / 1e6:.3g} MB) is over the size limit of 1,000,000 bytes" in err
    )
    code, out, _ = cli("match", big)
    (m,) = _matches(out)
    s = m["spans"][0]
    with big.open(encoding="utf-8") as fh:
        fh.seek(big.stat().st_size - len(excerpt.encode()) - 5)
        assert fh.read() == excerpt + " end."
    assert s["query_end"] - s["query_start"] == len(excerpt)


def test_usage_errors_are_one_line(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("match", "--frobnicate")
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("copytrace: error:")


def test_installed_entry_point_runs(tmp_path: Path) -> None:
    env = {
        "COPYTRACE_DB": str(tmp_path / "e.db"),
        "COPYTRACE_CACHE": str(tmp_path / "cache"),
        "PATH": str(Path(sys.executable).parent),
    }
    exe = Path(sys.executable).parent / "copytrace"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.startswith("copytrace ")
    subprocess.run(
        [str(exe), "bank", "add", "news", str(CANONICAL_000)], env=env, check=True, capture_output=True
    )
    proc = subprocess.run([str(exe), "match", str(CANONICAL_001)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["item_id"] == "000_ea7438489bd31fbe"


# ------------------------------------------------------------------------------- banks people keep adding to
def _texts(n: int) -> list[str]:
    paths = sorted((DATA / "corpora" / "inaugural").glob("*.txt"))[:n]
    return [read_text_file(p).text for p in paths]


def _write_items(tmp_path: Path, how: str, items: dict[str, str]) -> list[str]:
    """The arguments after BANK that add ``items`` (id -> text): a folder of files or JSON Lines."""
    if how == "folder":
        root = tmp_path / "texts"
        root.mkdir(exist_ok=True)
        for item_id, text in items.items():
            (root / f"{item_id}.txt").write_text(text, encoding="utf-8")
        return [str(root)]
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in items.items()))
    return ["--jsonl", str(path)]


def _store_of(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "cli.db"), create=False)


@pytest.mark.parametrize("how", ["folder", "jsonl"], ids=["folder", "jsonl"])
def test_skip_existing_skips_unchanged_items_and_reports_changed_ones(cli, tmp_path: Path, how: str) -> None:  # type: ignore[no-untyped-def]
    a, b, c = _texts(3)
    assert cli("bank", "add", "news", *_write_items(tmp_path, how, {"a": a, "b": b}))[0] == 0
    code, _, err = cli("bank", "add", "news", *_write_items(tmp_path, how, {"a": a, "b": b}))
    assert code == 2 and "item 'a' is already in bank 'news': add --skip-existing" in err

    with _store_of(tmp_path) as store:
        generation = store.generation()
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)  # the refusal above built no index either
    code, out, err = cli(
        "bank", "add", "news", "--skip-existing", *_write_items(tmp_path, how, {"a": a, "b": b})
    )
    assert code == 0
    assert json.loads(out) == {"bank": "news", "added": 0, "skipped": 0, "unchanged": 2, "changed": 0}
    assert "2 unchanged, skipped" in err
    assert not list((tmp_path / "cache").glob("index-*.ctidx"))  # skipped before linking: no index was built
    with _store_of(tmp_path) as store:
        assert store.generation() == generation  # nothing was written

    args = _write_items(tmp_path, how, {"a": a, "b": b + " A new closing line.", "c": c})
    code, out, err = cli("bank", "add", "news", "--skip-existing", *args)
    assert code == 2  # a changed item was not stored as given
    assert json.loads(out) == {"bank": "news", "added": 1, "skipped": 0, "unchanged": 1, "changed": 1}
    assert "copytrace: error: item 'b' is in bank 'news' with another fingerprint or text: not stored" in err
    assert "stored 1 item(s) in 'news'; 1 unchanged, skipped; 1 changed, not stored" in err
    with _store_of(tmp_path) as store:
        assert store.get_item("news", "b").text == b and store.get_item("news", "c").text == c

    code, out, err = cli("bank", "add", "news", "--skip-existing", "--replace", *args)
    assert code == 0
    assert json.loads(out) == {"bank": "news", "added": 1, "skipped": 0, "unchanged": 2, "changed": 1}
    assert "1 changed, replaced" in err
    with _store_of(tmp_path) as store:
        assert store.get_item("news", "b").text == b + " A new closing line."
        assert [r.item_id for r in store.iter_items("news")] == ["a", "c", "b"]  # only b was rewritten

    code, out, _ = cli("bank", "add", "news", "--replace", *args)  # --replace alone replaces them all
    assert code == 0
    assert json.loads(out) == {"bank": "news", "added": 3, "skipped": 0, "unchanged": 3, "changed": 0}


def test_a_text_item_is_changed_for_a_fingerprint_only_add(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    code, out, _ = cli("bank", "add", "news", "--skip-existing", "--fingerprint-only", CANONICAL_000)
    assert code == 2 and (json.loads(out)["unchanged"], json.loads(out)["changed"]) == (0, 1)
    code, out, _ = cli(
        "bank", "add", "news", "--skip-existing", "--replace", "--fingerprint-only", CANONICAL_000
    )
    assert code == 0 and json.loads(out)["changed"] == 1
    code, out, _ = cli("bank", "add", "news", "--skip-existing", "--fingerprint-only", CANONICAL_000)
    assert code == 0 and json.loads(out)["unchanged"] == 1


def test_changed_items_are_named_up_to_a_bound(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(_texts(1))
    items = {f"item-{i:02}": f"{text} version {i}" for i in range(15)}
    assert cli("bank", "add", "news", *_write_items(tmp_path, "jsonl", items))[0] == 0
    changed = {i: t + " and more" for i, t in items.items()}
    code, out, err = cli("bank", "add", "news", "--skip-existing", *_write_items(tmp_path, "jsonl", changed))
    named = [line for line in err.splitlines() if "with another fingerprint or text" in line]
    assert code == 2 and json.loads(out)["changed"] == 15 and len(named) == 10
    assert "copytrace: error: and 5 more changed item(s): not stored" in err


def test_import_skips_existing_records(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = _texts(2)
    assert cli("bank", "add", "news", *_write_items(tmp_path, "jsonl", {"a": a, "b": b}))[0] == 0
    listed = tmp_path / "news.ctl.jsonl"
    assert cli("bank", "export", "news", "--out", listed)[0] == 0
    assert cli("bank", "import", "partner", listed)[0] == 0
    code, out, _ = cli("bank", "import", "partner", listed, "--skip-existing")
    assert code == 0
    assert json.loads(out) == {"bank": "partner", "imported": 0, "skipped": 0, "unchanged": 2, "changed": 0}
    code, _, err = cli("bank", "import", "partner", listed)
    assert code == 2 and "add --skip-existing" in err
    code, out, _ = cli("bank", "import", "news", listed, "--skip-existing")  # news holds the texts too
    assert code == 2 and (json.loads(out)["unchanged"], json.loads(out)["changed"]) == (0, 2)


# -------------------------------------------------------------------------------------------- disk given back
def _cached(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").glob("index-*.ctidx"))


def test_delete_and_remove_prune_the_cache_and_vacuum_gives_the_file_back(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    texts = {f"t{i}": t for i, t in enumerate(_texts(40))}
    assert cli("bank", "add", "big", *_write_items(tmp_path, "jsonl", texts))[0] == 0
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    assert cli("match", CANONICAL_001)[0] == 0
    assert cli("match", "--bank", "big", CANONICAL_001)[0] == 1
    assert len(_cached(tmp_path)) == 2  # an index of both banks, one of 'big'

    cached = _cached(tmp_path)
    assert cli("bank", "remove", "big", "t0")[0] == 0
    assert _cached(tmp_path) == cached  # kept: the next command catches them up with the removal
    assert cli("match", CANONICAL_001)[0] == 0
    assert _cached(tmp_path) == cached

    size = (tmp_path / "cli.db").stat().st_size
    code, out, err = cli("bank", "delete", "big", "--yes")
    assert code == 0 and json.loads(out) == {"bank": "big", "deleted_items": 39}
    assert "'copytrace store vacuum'" in err
    assert _cached(tmp_path) == []
    code, out, err = cli("store", "vacuum")
    report = json.loads(out)
    assert code == 0 and report["bytes_before"] >= size > report["bytes_after"]
    assert (tmp_path / "cli.db").stat().st_size <= report["bytes_after"] < size / 2
    assert f"{report['bytes_before'] - report['bytes_after']:,} fewer than before" in err
    code, out, _ = cli("match", CANONICAL_001)  # the store works as before
    assert code == 0 and _matches(out)[0]["item_id"] == "000_ea7438489bd31fbe"


def test_pruning_leaves_other_stores_cached_indexes(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    assert cli("match", CANONICAL_001)[0] == 0
    ours = _cached(tmp_path)
    monkeypatch.setenv("COPYTRACE_DB", str(tmp_path / "other.db"))  # a second store, the same cache
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    assert cli("bank", "add", "more", CANONICAL_001)[0] == 0
    assert cli("match", CANONICAL_001)[0] == 0
    assert cli("bank", "delete", "more", "--yes")[0] == 0
    assert _cached(tmp_path) == ours


def test_vacuum_on_every_backend(cli, db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", "--db", db_url, CANONICAL_000)[0] == 0
    assert cli("bank", "delete", "news", "--yes", "--db", db_url)[0] == 0
    code, out, err = cli("store", "vacuum", "--db", db_url)
    assert code == 0
    if db_url.startswith("postgresql"):
        assert out == "" and "autovacuum" in err and "VACUUM FULL" in err
    else:
        assert json.loads(out)["bytes_after"] <= json.loads(out)["bytes_before"]


def test_vacuum_does_not_create_a_store(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("store", "vacuum", "--db", tmp_path / "nope.db")
    assert code == 2 and out == "" and "no store at" in err and not (tmp_path / "nope.db").exists()


SLOGAN = "Death to the occupiers, burn their homes"


def test_short_items_are_banked_and_found_as_phrases(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    slogan = tmp_path / "slogan.txt"
    slogan.write_text(SLOGAN + "\n", encoding="utf-8")
    code, out, err = cli("bank", "add", "calls", slogan)
    assert code == 0 and json.loads(out) == {"bank": "calls", "added": 1, "skipped": 0, "phrases": 1}
    assert "banked as phrases" in err
    post = "so: D3ATH to the 0ccupiers, burn their h0mes! ok"
    code, out, _ = cli("match", "-", stdin=post)
    (m,) = _matches(out)
    assert code == 0 and (m["item_id"], m["kind"]) == ("slogan", "phrase")
    assert post[m["spans"][0]["query_start"] : m["spans"][0]["query_end"]].startswith("D3ATH")
    code, out, _ = cli("match", "--format", "text", "-", stdin=post)
    assert code == 0 and "calls/slogan" in out


def test_an_item_with_no_token_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dots = tmp_path / "dots.txt"
    dots.write_text("... !!! ---\n", encoding="utf-8")
    code, out, err = cli("bank", "add", "calls", dots)
    assert code == 2 and out == "" and "dots.txt" in err and "no token at all" in err


def test_a_phrase_bank_exports_and_imports_its_phrases(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("bank", "create", "chants", "--phrases")
    assert code == 0 and json.loads(out)["created"] is True and json.loads(out)["phrases"] is True
    chant = "No justice, no peace: we fight on the beaches and in the streets of our towns and cities"
    records = tmp_path / "chants.jsonl"
    records.write_text(json.dumps({"id": "c1", "text": chant}) + "\n", encoding="utf-8")
    code, out, _ = cli("bank", "add", "chants", "--jsonl", records)
    assert code == 0 and json.loads(out)["phrases"] == 1
    code, out, _ = cli("bank", "list", "--json")
    assert json.loads(out)["phrases"] is True
    code, out, _ = cli("match", "-", stdin=chant.upper().replace(" ", "  "))
    assert [(m["item_id"], m["kind"]) for m in _matches(out)] == [("c1", "phrase")]
    exported = tmp_path / "chants.ctl.jsonl"
    assert cli("bank", "export", "chants", "--out", exported)[0] == 0
    assert json.loads(exported.read_text(encoding="utf-8").splitlines()[1])["phrase"].startswith("ctp1:p1:")
    code, out, _ = cli("bank", "import", "partner", exported)
    assert code == 0 and json.loads(out)["phrases"] == 1
    code, out, _ = cli("match", "--bank", "partner", "-", stdin="so " + chant + " ok")
    assert [(m["item_id"], m["kind"]) for m in _matches(out)] == [("c1", "phrase")]
