"""Fingerprint lists: export and import round-trip; other versions and keys are refused; a keyed list is
useless without its key."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from copytrace import Fingerprint, Index, Key, RecordError, fingerprint
from copytrace.fingerprints.exchange import read_list

from .conftest import CANONICAL_000, CANONICAL_001, DATA
from .test_cli import _matches

SECRET = "consortium secret of enough length"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "consortium.key"
    path.write_text(SECRET + "\n")
    return path


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_import_round_trip(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    cli("bank", "add", "news", CANONICAL_000, "--labels", "glorification,mehr")
    cli("bank", "add", "news", DATA / "corpora" / "inaugural" / "1961-Kennedy.txt")
    out = tmp_path / "news.jsonl"
    code, _, err = cli("bank", "export", "news", "--out", out, "--source", "acme")
    assert code == 0 and "exported 2 item(s)" in err
    header, *records = _lines(out)
    assert header["format"] == "copytrace-fingerprint-list" and header["params"] == "ctw1:n1:k5:w4:public"
    assert header["count"] == 2 and header["key_id"] == "public"
    assert [r["id"] for r in records] == ["000_ea7438489bd31fbe", "1961-Kennedy"]
    assert records[0]["labels"] == ["glorification", "mehr"] and records[0]["source"] == "acme"
    assert "text" not in records[0] and "Soleimani" not in out.read_text()

    monkeypatch.setenv("COPYTRACE_DB", str(tmp_path / "partner.db"))
    code, stdout, _ = cli("bank", "import", "from-acme", out)
    assert code == 0 and json.loads(stdout) == {"bank": "from-acme", "imported": 2, "skipped": 0}
    code, stdout, _ = cli("match", CANONICAL_001)
    (m,) = _matches(stdout)
    assert (m["bank"], m["item_id"]) == ("from-acme", "000_ea7438489bd31fbe")
    assert m["item_containment"] >= 0.9 and m["spans"][0]["item_start"] is None
    reexport = tmp_path / "again.jsonl"
    cli("bank", "export", "from-acme", "--out", reexport, "--source", "acme")
    assert [r["fingerprint"] for r in _lines(reexport)[1:]] == [r["fingerprint"] for r in records]


def test_keyed_lists_need_their_key(cli, tmp_path: Path, key_file: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cli("bank", "add", "shared", "--key-file", key_file, "--fingerprint-only", CANONICAL_000)
    out = tmp_path / "shared.jsonl"
    assert cli("bank", "export", "shared", "--out", out)[0] == 0
    assert _lines(out)[0]["key_id"] == Key.from_secret(SECRET).key_id
    monkeypatch.setenv("COPYTRACE_DB", str(tmp_path / "member.db"))
    code, _, err = cli("bank", "import", "shared", out)
    assert code == 2 and "made with key" in err and "--key-file with the list's key" in err
    other = tmp_path / "other.key"
    other.write_text("a different secret of enough length")
    code, _, err = cli("bank", "import", "shared", out, "--key-file", other)
    assert code == 2 and "made with key" in err
    assert cli("bank", "list", "--json")[1] == ""  # nothing was created
    assert cli("bank", "import", "shared", out, "--key-file", key_file)[0] == 0
    code, stdout, _ = cli("match", "--key-file", key_file, CANONICAL_001)
    assert code == 0 and _matches(stdout)[0]["bank"] == "shared"
    code, stdout, err = cli("match", "--key-file", other, CANONICAL_001)  # the wrong key searches nothing
    assert code == 2 and stdout == "" and "no bank can be searched" in err
    code, _, err = cli("bank", "import", "plain", out)
    assert code == 2


def test_a_keyed_list_is_useless_without_the_key(text_000: str, text_001: str) -> None:
    listed = fingerprint(text_000, key=SECRET)
    for guess in ("the wrong secret of enough length", None):
        attacker = Index(key=guess)
        # Even ignoring the key id and indexing the list's hashes as if they were the attacker's own:
        forged = dataclasses.replace(listed, params=attacker.params, tokens=None)
        attacker.add("leaked", forged)
        assert attacker.match(text_000) == [] and attacker.match(text_001) == []
        assert not set(fingerprint(text_000, key=guess).hashes.tolist()) & set(listed.hashes.tolist())


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ('{"format": "something-else"}', "not a copytrace-fingerprint-list"),
        (
            '{"format": "copytrace-fingerprint-list", "version": 2, "params": "ctw1:n1:k5:w4:public"}',
            "list format version 2 is not supported",
        ),
        (
            '{"format": "copytrace-fingerprint-list", "version": 1, "params": "ctw2:n1:k5:w4:public"}',
            "not supported by this copytrace",
        ),
        (
            '{"format": "copytrace-fingerprint-list", "version": 1, "params": "ctw1:n9:k5:w4:public"}',
            "not supported by this copytrace",
        ),
        ("{broken", "malformed JSON in the header"),
    ],
    ids=["other-format", "future-format-version", "future-algorithm", "future-normalisation", "broken"],
)
def test_other_versions_are_refused(cli, tmp_path: Path, header: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "list.jsonl"
    path.write_text(header + "\n")
    code, _, err = cli("bank", "import", "b", path)
    assert code == 2 and message in err, err


def test_bad_records_stop_the_import_unless_skipped(cli, tmp_path: Path, text_000: str) -> None:  # type: ignore[no-untyped-def]
    fp = str(fingerprint(text_000))
    keyed = str(fingerprint(text_000, key=SECRET))
    path = tmp_path / "list.jsonl"
    path.write_text(
        '{"format": "copytrace-fingerprint-list", "version": 1, "params": "ctw1:n1:k5:w4:public"}\n'
        + json.dumps({"id": "ok", "fingerprint": fp, "labels": ["x"]})
        + "\n"
        + json.dumps({"id": "keyed", "fingerprint": keyed})
        + "\n"
        + '{"id": "broken", \n'
    )
    code, _, err = cli("bank", "import", "b", path)
    assert code == 2 and f"{path}:3: fingerprint made with" in err
    assert cli("bank", "list", "--json")[1] == ""
    code, stdout, err = cli("bank", "import", "b", path, "--skip-bad")
    assert code == 2 and json.loads(stdout)["imported"] == 1 and f"{path}:4: malformed JSON" in err
    assert Fingerprint.parse(fp).params.key_id == "public"


HEADER = {"format": "copytrace-fingerprint-list", "version": 1, "params": "ctw1:n1:k5:w4:public"}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            {**HEADER, "params": "ctw1:n1:k0:w4:public"},
            "list.jsonl:1: list header: bad fingerprint parameters",
        ),
        ({**HEADER, "params": "ctw1:n1:k5:w2000:public"}, "window must be between 1 and 1024"),
        ({**HEADER, "params": None}, "list.jsonl:1: list header: bad fingerprint parameters"),
        ({**HEADER, "k": 6}, "list.jsonl:1: list header: k is 6 but its params say ctw1:n1:k5:w4:public"),
        ({**HEADER, "key_id": "0123456789abcdef"}, "key_id is '0123456789abcdef'"),
    ],
    ids=["k0", "window-2000", "no-params", "k-disagrees", "key-id-disagrees"],
)
def test_bad_list_headers_name_the_file_and_line(cli, tmp_path: Path, header: dict, message: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    path = tmp_path / "list.jsonl"
    path.write_text(json.dumps(header) + "\n")
    with pytest.raises(RecordError, match=re.escape(message)):
        read_list([path.read_text()], source=str(path), key_id="public")
    code, _, err = cli("bank", "import", "b", path)
    assert code == 2 and message in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "fingerprint": "ctw1:n1:k5:w4:public:AICAgICAIA"}', "at most 2147483647"),
        ('{"id": "x", "fingerprint": "ctw1:n1:k0:w4:public:"}', "k must be between 1 and 32"),
        ('{"id": "x", "fingerprint": "ctw1:n1:k5:w4:public:AQUAAAAAAAAAAAQ"}', "first position 4"),
        ('{"id": "x", "fingerprint": 5}', '"fingerprint" must be a fingerprint string'),
        ('{"id": "x", "fingerprint": "ctw1:n1:k5:w4:public:AAA", "added_at": "noon"}', "Invalid isoformat"),
        ("[" * 100_000, "nested too deeply"),
        ('{"id": ' + "1" * 5000 + "}", "unreadable JSON"),
    ],
    ids=["poison", "k0", "bad-position", "not-a-string", "bad-date", "deep-nesting", "huge-number"],
)
def test_bad_records_are_errors_of_their_line(line: str, message: str) -> None:
    _, records = read_list([json.dumps(HEADER), line], source="list.jsonl", key_id="public")
    (rec,) = list(records)
    assert isinstance(rec, RecordError) and rec.line == 2 and str(rec).startswith("list.jsonl:2: ")
    assert message in str(rec), rec


def test_a_poison_record_is_refused_before_anything_is_stored(cli, tmp_path: Path, text_000: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "list.jsonl"
    good = json.dumps({"id": "ok", "fingerprint": str(fingerprint(text_000))})
    poison = json.dumps({"id": "poison", "fingerprint": "ctw1:n1:k5:w4:public:AICAgICAIA"})
    path.write_text(json.dumps(HEADER) + "\n" + good + "\n" + poison + "\n")
    code, _, err = cli("bank", "import", "b", path)
    assert code == 2 and f"{path}:3: fingerprint says 1099511627776 tokens" in err
    assert cli("bank", "list", "--json")[1] == ""
    code, stdout, _ = cli("bank", "import", "b", path, "--skip-bad")
    assert json.loads(stdout)["imported"] == 1
