"""The command line under bad input and contention: a busy store, internal errors, odd banks, hostile names,
unreadable stored fingerprints, out-of-range options and missing stores (issues #14 and #15)."""

from __future__ import annotations

import json
import os
import pty
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from copytrace import DEFAULT_PARAMS, fingerprint
from copytrace.fingerprints.exchange import ListRecord, write_list
from copytrace.fingerprints.fingerprint import FingerprintParams
from copytrace.store import Store

from .conftest import CANONICAL_000, CANONICAL_001


def _matches(out: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.splitlines()]


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("copytrace: ")]


def test_a_busy_store_is_one_line_and_exit_2(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    monkeypatch.setenv("COPYTRACE_BUSY_TIMEOUT", "0.2")
    other = sqlite3.connect(tmp_path / "cli.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        code, out, err = cli("bank", "add", "news", CANONICAL_001)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "is busy: another process is writing to it" in err
    assert "Traceback" not in err
    assert cli("bank", "add", "news", CANONICAL_001)[0] == 0  # once the lock is free, the same call works


@pytest.mark.parametrize("value", ["soon", "-1"], ids=["not-a-number", "negative"])
def test_a_bad_busy_timeout_is_refused(cli, monkeypatch: pytest.MonkeyPatch, value: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COPYTRACE_BUSY_TIMEOUT", value)
    code, _, err = cli("bank", "add", "news", CANONICAL_000)
    assert code == 2 and "COPYTRACE_BUSY_TIMEOUT" in err


@pytest.fixture(scope="module")
def corrupt_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A store whose bank row has a creation time no reader can parse: ``bank list`` fails unexpectedly.
    Made once for the module: the commands run on it only read."""
    tmp = tmp_path_factory.mktemp("corrupt")
    with Store(str(tmp / "s.db")) as store:
        store.create_bank("news", DEFAULT_PARAMS)
    with sqlite3.connect(tmp / "s.db") as conn:
        conn.execute("UPDATE banks SET created_at = 'garbage'")
    return {**os.environ, "COPYTRACE_DB": str(tmp / "s.db"), "COPYTRACE_CACHE": str(tmp / "c")}


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
def test_an_internal_error_exits_2_with_one_line(corrupt_store: dict[str, str], debug: list[str]) -> None:
    env = corrupt_store
    proc = subprocess.run(
        [sys.executable, "-m", "copytrace.cli.main", *debug, "bank", "list"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = _errors(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("copytrace: internal error: ValueError: ")
    assert "re-run with --debug" in lines[0]
    assert ("Traceback (most recent call last)" in proc.stderr) == bool(debug)
    if not debug:
        assert proc.stderr == lines[0] + "\n"


def test_debug_is_accepted_after_the_command_too(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", CANONICAL_000, "--debug")[0] == 0
    assert cli("--debug", "match", CANONICAL_001)[0] == 0


def _odd_list(path: Path, text: str) -> None:
    params = FingerprintParams(k=32, window=1024)
    with path.open("w", encoding="utf-8") as fh:
        write_list(fh, params, [ListRecord("big-1", fingerprint(text, k=32, window=1024), [])], count=1)


def test_an_odd_bank_is_left_out_with_one_note(cli, tmp_path: Path, text_000: str) -> None:  # type: ignore[no-untyped-def]
    _odd_list(tmp_path / "big.jsonl", text_000)
    assert cli("bank", "import", "big", tmp_path / "big.jsonl")[0] == 0
    code, out, err = cli("match", CANONICAL_001)
    assert code == 2 and out == ""
    assert "no bank can be searched with ctw1:n1:k5:w4:public: 'big' (ctw1:n1:k32:w1024:public: other" in err
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    code, out, err = cli("match", CANONICAL_001)
    assert code == 0 and [m["bank"] for m in _matches(out)] == ["news"]
    assert _errors(err) == [
        "copytrace: note: not searched (made with other parameters than ctw1:n1:k5:w4:public): "
        "'big' (ctw1:n1:k32:w1024:public: other parameters)"
    ]
    code, out, _ = cli("match", "--bank", "big", CANONICAL_001)  # named, it is searched with its own k, w
    assert code == 0 and _matches(out)[0]["item_id"] == "big-1"
    code, _, err = cli("match", "--bank", "big", "--bank", "news", CANONICAL_001)
    assert code == 2 and err == (
        "copytrace: error: banks 'big' (ctw1:n1:k32:w1024:public) and 'news' (ctw1:n1:k5:w4:public) were "
        "made with different parameters and cannot be searched together: search them one at a time\n"
    )


def test_an_empty_store_is_an_error_not_nothing_found(cli) -> None:  # type: ignore[no-untyped-def]
    cli("keys", "create", "ops", "--role", "admin")  # creates the store, with no bank
    code, out, err = cli("match", CANONICAL_001)
    assert code == 2 and out == "" and "no banks in the store" in err


HOSTILE = "\x1b]0;pwned\x07\x1b[2J"


@pytest.mark.parametrize(
    "name",
    [HOSTILE, "with\ttab", "", ".hidden", "bad!name", "x" * 65, "a/b", "ñews"],
    ids=["escapes", "tab", "empty", "dot-first", "punctuation", "too-long", "slash", "non-ascii"],
)
def test_bad_bank_names_are_refused_before_any_work(cli, name: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("bank", "add", name, CANONICAL_000)
    assert code == 2 and out == "" and "bad bank name" in err
    assert "\x1b" not in err and "\x07" not in err and len(err.splitlines()) == 1
    assert cli("bank", "list")[0] == 2  # no store was made for it


@pytest.mark.parametrize(
    ("item_id", "problem"),
    [
        ("new\nline", "U+000A"),
        (HOSTILE, "U+001B"),
        ("rtl\u202eoverride", "U+202E"),
        (" leading", "whitespace"),
        ("x" * 513, "more than 512"),
        ("..", "'.' and '..'"),
        ("../../etc/passwd", "'.' and '..'"),
    ],
    ids=["newline", "escapes", "bidi", "leading-space", "too-long", "dotdot", "traversal"],
)
def test_bad_item_ids_in_jsonl_are_refused(cli, tmp_path: Path, item_id: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    text = "one two three four five six seven eight nine"
    records = tmp_path / "items.jsonl"
    records.write_text(
        json.dumps({"id": "good/a b", "text": text}) + "\n" + json.dumps({"id": item_id, "text": text}) + "\n"
    )
    code, out, err = cli("bank", "add", "b", "--jsonl", records)
    assert code == 2 and f"{records}:2: bad item id" in err and problem in err
    assert "\x1b" not in err and "\u202e" not in err
    assert cli("bank", "list")[1] == ""  # nothing stored, no empty bank
    code, out, err = cli("bank", "add", "b", "--jsonl", records, "--skip-bad")
    # nine words: too short for the long-text rule, so banked as a phrase
    assert code == 2 and json.loads(out) == {"bank": "b", "added": 1, "skipped": 1, "phrases": 1}


def test_a_bad_item_id_in_an_imported_list_is_refused(cli, tmp_path: Path, text_000: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "list.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        write_list(fh, FingerprintParams(), [ListRecord("..", fingerprint(text_000), [])], count=1)
    code, _, err = cli("bank", "import", "partner", path)
    assert code == 2 and f"{path}:2: bad item id '..'" in err
    assert cli("bank", "list")[1] == ""


def test_names_from_an_old_store_are_printed_escaped(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    with sqlite3.connect(tmp_path / "cli.db") as conn:  # written by an older copytrace, which checked nothing
        conn.execute("UPDATE banks SET name = ?", (HOSTILE,))
        conn.execute("UPDATE items SET item_id = ?", ("id\u202e\x9b",))
    code, out, _ = cli("bank", "list")
    assert code == 0 and out.startswith("\\x1b]0;pwned\\x07\\x1b[2J\t1 item(s)\t1 family")
    code, out, _ = cli("bank", "list", "--json")
    assert code == 0 and "\x1b" not in out and json.loads(out)["bank"] == HOSTILE
    code, out, _ = cli("match", CANONICAL_001)
    assert code == 0 and "\u202e" not in out and "\x9b" not in out
    assert _matches(out)[0]["item_id"] == "id\u202e\x9b"
    code, out, _ = cli("match", "--format", "text", CANONICAL_001)
    assert code == 0 and "\x1b" not in out and "\u202e" not in out and "id\\u202e\\x9b" in out


def test_an_unreadable_stored_fingerprint_is_skipped_with_a_warning(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", CANONICAL_000, CANONICAL_001)[0] == 0
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        conn.execute(
            "UPDATE items SET fingerprint = 'ctw1:n1:k5:w4:public:!!' WHERE item_id = '001_5e32e1b4a13a1b7e'"
        )
    code, out, err = cli("match", CANONICAL_001)
    assert code == 0 and [m["item_id"] for m in _matches(out)] == ["000_ea7438489bd31fbe"]
    (warning,) = _errors(err)
    assert warning.startswith("copytrace: warning: skipped item '001_5e32e1b4a13a1b7e' of bank 'news'")


@pytest.mark.parametrize(
    "option",
    [["--limit", "0"], ["--limit", "-1"], ["--limit", "x"], ["--min-score", "2"], ["--min-score", "-5"]],
    ids=["limit-0", "limit-negative", "limit-text", "score-over-1", "score-negative"],
)
def test_out_of_range_match_options_are_refused(cli, option: list[str]) -> None:  # type: ignore[no-untyped-def]
    cli("bank", "add", "news", CANONICAL_000)
    code, out, err = cli("match", *option, CANONICAL_001)
    assert code == 2 and out == "" and option[0] in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [["match", str(CANONICAL_001)], ["bank", "list"], ["bank", "export", "news"], ["keys", "list"]],
    ids=["match", "bank-list", "bank-export", "keys-list"],
)
def test_reading_commands_do_not_create_a_store(cli, tmp_path: Path, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "typo" / "dir" / "x.db"
    code, out, err = cli(*command, "--db", db)
    assert code == 2 and out == "" and f"no store at {db}" in err
    assert not (tmp_path / "typo").exists()


def test_remove_says_what_it_removed_and_json_is_utf8(cli, tmp_path: Path, text_000: str) -> None:  # type: ignore[no-untyped-def]
    records = tmp_path / "items.jsonl"
    records.write_text(json.dumps({"id": "ñews/000", "text": text_000}) + "\n", encoding="utf-8")
    code, out, _ = cli("bank", "add", "news", "--jsonl", records)
    assert code == 0
    code, out, _ = cli("match", CANONICAL_001)
    assert '"item_id": "ñews/000"' in out
    code, out, _ = cli("bank", "remove", "news", "ñews/000")
    assert code == 0 and out == '{"bank": "news", "removed": "ñews/000"}\n'


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("stdin", "<stdin>: more than 1,000 bytes (1 kB), the size limit; raise it with --max-size"),
        ("file", "{path}: 1,200 bytes (1.2 kB) is over the size limit of 1,000 bytes (1 kB); raise it"),
    ],
    ids=["stdin", "file"],
)
def test_over_limit_input_says_how_much_in_bytes(cli, tmp_path: Path, source: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    text = "word " * 240
    path = tmp_path / "big.txt"
    path.write_text(text)
    arg = "-" if source == "stdin" else str(path)
    code, out, err = cli("fingerprint", "--max-size", "1000", arg, stdin=text)
    assert code == 2 and out == "" and expected.format(path=path) in err and "1.0 MB" not in err


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"id": "a", "text": "abc', "malformed JSON: the string starting at column 21 is not closed"),
        ('{"id": "a" "text": "abc"}', "malformed JSON: Expecting ',' delimiter at column 12"),
    ],
    ids=["unterminated", "missing-comma"],
)
def test_json_errors_read_once(cli, tmp_path: Path, line: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    records = tmp_path / "items.jsonl"
    records.write_text(line)  # the last line, with no newline after it
    code, _, err = cli("bank", "add", "b", "--jsonl", records)
    assert code == 2 and f"{records}:1: {reason}" in err and "at at" not in err


def test_the_jsonl_progress_bar_shows_bytes_of_the_file_size(tmp_path: Path, text_000: str) -> None:
    records = tmp_path / "items.jsonl"
    records.write_text(
        "".join(json.dumps({"id": f"v{i}", "text": f"{text_000} {i}"}) + "\n" for i in range(30))
    )
    total = records.stat().st_size
    env = {
        **os.environ,
        "COPYTRACE_DB": str(tmp_path / "p.db"),
        "COPYTRACE_CACHE": str(tmp_path / "cache"),
        "TERM": "xterm",
        "COLUMNS": "120",
    }
    primary, secondary = pty.openpty()  # stderr is a terminal: the bar is drawn
    with subprocess.Popen(
        [sys.executable, "-m", "copytrace.cli.main", "bank", "add", "b", "--jsonl", str(records)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=secondary,
    ) as proc:
        os.close(secondary)
        drawn = b""
        while chunk := _read(primary):
            drawn += chunk
        out = proc.stdout.read() if proc.stdout else b""
    os.close(primary)
    assert proc.returncode == 0 and json.loads(out)["added"] == 30
    screen = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", drawn).decode()
    assert f"{total / 1000:.1f}/{total / 1000:.1f} kB" in screen and "/?" not in screen


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal closed: the command has ended
        return b""


def test_match_after_the_store_is_made_again_answers_from_its_items(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``rm store.db; copytrace bank add news B``: the new store is at generation 1 again, as the old one's
    cached index was; match answers from the new items, never the old store's."""
    speech = tmp_path / "speech.txt"
    speech.write_text(" ".join(f"word{i} of the speech number {i % 17}" for i in range(400)))
    assert cli("bank", "add", "news", speech)[0] == 0
    code, out, _ = cli("match", speech)
    assert code == 0 and [m["item_id"] for m in _matches(out)] == ["speech"]  # and cached
    for path in tmp_path.glob("cli.db*"):
        path.unlink()
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    code, out, _ = cli("match", speech)
    assert (code, out) == (1, "")
    code, out, _ = cli("match", CANONICAL_000)
    assert code == 0 and [m["item_id"] for m in _matches(out)] == [CANONICAL_000.stem]


def test_a_fifo_at_the_cached_index_path_does_not_hang_match(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    assert cli("match", CANONICAL_000)[0] == 0
    (cached,) = (tmp_path / "cache").glob("*.ctidx")
    cached.unlink()
    os.mkfifo(cached)
    out = subprocess.run(
        [sys.executable, "-m", "copytrace.cli.main", "match", str(CANONICAL_000)],
        env={
            **os.environ,
            "COPYTRACE_DB": str(tmp_path / "cli.db"),
            "COPYTRACE_CACHE": str(tmp_path / "cache"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and _matches(out.stdout)[0]["item_id"] == CANONICAL_000.stem
    assert _errors(out.stderr) == [
        f"copytrace: warning: rebuilding the cached index {cached.name}: "
        f"{str(cached)!r} is a FIFO, not an index snapshot"
    ]
    assert cached.is_file()


def test_match_removes_what_killed_processes_left_in_the_cache(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from .test_cache_dir import _killed_writer

    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    (tmp_path / "cache").mkdir(mode=0o700)
    _killed_writer(tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 2
    assert cli("match", CANONICAL_000)[0] == 0
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".ctidx"]


def _sqlite_tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))


@pytest.mark.parametrize(
    "command",
    [["bank", "list"], ["match", str(CANONICAL_001)], ["bank", "add", "news", str(CANONICAL_000)]],
    ids=["bank-list", "match", "bank-add"],
)
def test_another_applications_database_is_refused_in_one_line_and_left_alone(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, command: list[str]
) -> None:
    other = tmp_path / "other_app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    before = other.read_bytes()
    code, out, err = cli(*command, "--db", other)
    assert code == 2 and out == ""
    assert _errors(err) == [
        f"copytrace: error: {other} is not a copytrace store: it holds other tables (customers); it was "
        "left as it is: name a copytrace store or a new file with --db"
    ]
    assert _sqlite_tables(other) == ["customers"] and other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other_app.db"]  # not even a -wal beside it


def test_a_store_of_a_newer_copytrace_says_so_naming_both_schemas(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0042'")
    for command in (["bank", "list"], ["bank", "add", "news", str(CANONICAL_001)]):
        code, out, err = cli(*command)
        db = tmp_path / "cli.db"
        assert code == 2 and out == ""
        assert _errors(err) == [
            f"copytrace: error: the store at {db} was made by a newer copytrace: its schema is 0042, this "
            "copytrace knows schemas up to 0006; upgrade copytrace to open it"
        ]


def test_a_reading_command_leaves_an_older_store_as_it_is_and_store_upgrade_upgrades_it(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from copytrace.store.store import _alembic_config

    engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    engine.dispose()
    before = (tmp_path / "cli.db").read_bytes()
    code, out, err = cli("bank", "list")
    assert code == 2 and out == "" and len(_errors(err)) == 1
    assert (
        "has schema 0005, made by an older copytrace; this copytrace uses schema 0006: upgrade it with "
        "'copytrace store upgrade'" in err
    )
    assert (tmp_path / "cli.db").read_bytes() == before
    code, out, _ = cli("store", "upgrade")
    assert code == 0 and json.loads(out) == {"store": f"sqlite:///{tmp_path / 'cli.db'}", "schema": "0006"}
    code, _, err = cli("bank", "list")
    assert code == 0 and "no banks yet" in err
