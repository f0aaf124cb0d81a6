"""The threatexchange extension: the signal type through the library's own interfaces, and the real CLI."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from threatexchange.content_type.text import TextContent
from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
from threatexchange.interface_validation import SignalTypeMapping
from threatexchange.signal_type.index import SignalTypeIndex
from threatexchange.signal_type.raw_text import RawTextSignal
from threatexchange.signal_type.signal_base import BytesHasher

from copytrace import FingerprintParams, Index, fingerprint
from copytrace.fingerprints.fingerprint import Fingerprint
from copytrace.phrases import phrase_fingerprint
from copytrace.text.textio import read_text_file
from copytrace.threatexchange import (
    TX_MANIFEST,
    CopytraceIndex,
    CopytracePhraseIndex,
    CopytracePhraseSignal,
    CopytraceSignal,
    CopytraceSimilarity,
    IndexStreamError,
)
from copytrace.threatexchange._stream import magic, write_block

from .conftest import CANONICAL_000, CANONICAL_001, DATA, FOOTER

BIN = Path(sys.executable).parent


def _paragraph(text: str, n: int = 3) -> str:
    return text.split("\n")[n]


def test_manifest_loads_and_names_are_unique() -> None:
    manifest = ThreatExchangeExtensionManifest.load_from_module_name("copytrace.threatexchange")
    assert manifest is TX_MANIFEST and manifest.signal_types == (CopytraceSignal, CopytracePhraseSignal)
    mapping = SignalTypeMapping([TextContent], [RawTextSignal, CopytraceSignal, CopytracePhraseSignal])
    assert mapping.signal_type_by_name["copytrace"] is CopytraceSignal
    assert mapping.signal_type_by_name["copytrace_phrase"] is CopytracePhraseSignal
    assert CopytraceSignal in mapping.get_supported_signal_types_for_content(TextContent)


def test_hashing_and_validation(text_000: str) -> None:
    signal = CopytraceSignal.hash_from_str(text_000)
    assert signal == str(fingerprint(text_000))
    assert CopytraceSignal.hash_from_file(CANONICAL_000) == signal
    assert CopytraceSignal.validate_signal_str(" " + signal + "\n") == signal
    assert CopytraceSignal.hash_from_str("") == "" and CopytraceSignal.hash_from_str("too short") == ""
    with pytest.raises(ValueError, match=r"base64url|truncated|fingerprint"):
        CopytraceSignal.validate_signal_str("ctw1:n1:k5:w4:public:!!")
    for example in CopytraceSignal.get_examples():
        assert CopytraceSignal.validate_signal_str(example) == example


def test_compare_hash_distance_means_something(
    text_000: str, text_001: str, inaugural: dict[str, str]
) -> None:
    banked = CopytraceSignal.hash_from_str(text_000)
    whole = CopytraceSignal.compare_hash(banked, CopytraceSignal.hash_from_str(text_001))
    post = inaugural["1961-Kennedy"][:1500] + _paragraph(text_000) + inaugural["1961-Kennedy"][-800:]
    excerpt = CopytraceSignal.compare_hash(banked, CopytraceSignal.hash_from_str(post))
    unrelated = CopytraceSignal.compare_hash(banked, CopytraceSignal.hash_from_str(inaugural["1961-Kennedy"]))
    assert whole.match and whole.distance.distance <= 5
    assert excerpt.match and whole.distance < excerpt.distance
    assert not unrelated.match and unrelated.distance.distance == 100


def test_distance_is_an_integer_and_the_rest_are_fields(text_000: str, inaugural: dict[str, str]) -> None:
    """HMA reports ``pretty_str`` as the match's distance: a bare integer that clients can threshold."""
    post = inaugural["1961-Kennedy"][:1500] + _paragraph(text_000) + inaugural["1961-Kennedy"][-800:]
    banked = CopytraceSignal.hash_from_str(text_000)
    found = CopytraceIndex.build([(banked, 7)]).query(CopytraceSignal.hash_from_str(post))
    (match,) = found
    info = match.similarity_info
    assert isinstance(info, CopytraceSimilarity) and isinstance(info.distance, int)
    assert info.pretty_str() == str(info.distance) and 50 < info.distance < 100
    assert info.distance == 100 - round(100 * max(info.query_containment, info.item_containment))
    assert 0 < info.item_containment < info.query_containment < 1
    assert info.family_size == 1 and info.family == hashlib.sha256(banked.encode()).hexdigest()[:16]
    assert CopytraceSimilarity(3, 0.5) == CopytraceSimilarity(3, 0.9) < CopytraceSimilarity(4)  # by distance


def test_index_build_query_serialize(text_000: str, text_001: str, inaugural: dict[str, str]) -> None:
    s000 = CopytraceSignal.hash_from_str(text_000)
    other = CopytraceSignal.hash_from_str(inaugural["1961-Kennedy"])
    index = CopytraceIndex.build(
        [(s000, "a"), (s000, "b"), (other, "c"), *[(e, "ex") for e in CopytraceSignal.get_examples()]]
    )
    found = index.query(CopytraceSignal.hash_from_str(text_001))
    assert sorted(m.metadata for m in found) == ["a", "b"]
    assert index.query(CopytraceSignal.hash_from_str("Some post. " + _paragraph(text_000) + " More."))
    assert index.query(CopytraceSignal.hash_from_str(FOOTER)) == []
    buf = io.BytesIO()
    index.serialize(buf)
    assert b"copytrace.index" not in buf.getvalue()  # the index itself is arrays, not pickled objects
    buf.seek(0)
    again = CopytraceIndex.deserialize(buf)
    assert [
        (m.metadata, m.similarity_info) for m in again.query(CopytraceSignal.hash_from_str(text_001))
    ] == [(m.metadata, m.similarity_info) for m in found]


def test_empty_index_round_trips_as_hma_builds_and_loads_it() -> None:
    """HMA's matcher starts from ``build([])`` and loads stored indexes with the base class."""
    for cls, signal in ((CopytraceIndex, CopytraceSignal), (CopytracePhraseIndex, CopytracePhraseSignal)):
        buf = io.BytesIO()
        cls.build([]).serialize(buf)
        buf.seek(0)
        loaded = SignalTypeIndex.deserialize(buf)
        assert type(loaded) is cls and len(loaded) == 0 and loaded.query(signal.get_examples()[0]) == []


def test_keyed_hashing_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text_000: str, text_001: str
) -> None:
    key = tmp_path / "k"
    key.write_text("a consortium secret of enough length\n")
    public = CopytraceSignal.hash_from_str(text_000)
    monkeypatch.setenv("COPYTRACE_KEY_FILE", str(key))
    keyed = CopytraceSignal.hash_from_str(text_000)
    assert keyed != public and keyed.split(":")[4] != "public"
    index = CopytraceIndex.build([(keyed, "keyed"), (public, "public")])
    assert [m.metadata for m in index.query(CopytraceSignal.hash_from_str(text_001))] == ["keyed"]
    monkeypatch.setenv("COPYTRACE_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot be read"):
        CopytraceSignal.hash_from_str(text_000)


def _tx(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run(
        [str(BIN / "threatexchange"), *args],
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=300,
    )


def test_the_real_threatexchange_cli_flow(tmp_path: Path, text_000: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    added = _tx(home, "config", "extensions", "add", "copytrace.threatexchange")
    assert added.returncode == 0 and "copytrace - CopytraceSignal" in added.stdout, added.stderr
    hashed = _tx(home, "hash", "text", str(CANONICAL_000))
    assert hashed.returncode == 0 and ["copytrace", str(fingerprint(text_000))] in [
        line.split() for line in hashed.stdout.splitlines()
    ]
    signals = tmp_path / "signals.txt"
    signals.write_text(str(fingerprint(text_000)) + "\n")
    collab = _tx(
        home,
        "config",
        "collab",
        "edit",
        "local_file",
        "--create",
        "--filename",
        str(signals),
        "--signal-type",
        "copytrace",
        "mehr",
    )
    assert collab.returncode == 0, collab.stderr
    fetched = _tx(home, "fetch")
    assert fetched.returncode == 0 and "Index for copytrace ready" in fetched.stderr, fetched.stderr
    whole = _tx(home, "match", "text", str(CANONICAL_001))
    assert whole.returncode == 0 and whole.stdout.startswith("copytrace ") and "(mehr)" in whole.stdout
    kennedy = (DATA / "corpora" / "inaugural" / "1961-Kennedy.txt").read_text(encoding="utf-8")
    post = kennedy[:700] + "\n" + _paragraph(text_000) + "\n" + kennedy[-400:]
    excerpt = _tx(home, "match", "text", "-", stdin=post)
    assert excerpt.returncode == 0 and "(mehr)" in excerpt.stdout, excerpt.stderr
    footer = _tx(home, "match", "text", "-", stdin=FOOTER)
    assert footer.returncode == 0 and footer.stdout == ""


def test_every_version_is_reported_with_its_family(text_000: str, text_001: str) -> None:
    """HMA banks each repost as its own signal: all are reported, each naming the copy family it is in."""
    versions = [
        CopytraceSignal.hash_from_str(f"Repost {i} from channel {i * 17}\n{text_000}") for i in range(3)
    ]
    index = CopytraceIndex.build([(s, f"v{i}") for i, s in enumerate(versions)])
    found = index.query(CopytraceSignal.hash_from_str(text_001))
    assert sorted(m.metadata for m in found) == ["v0", "v1", "v2"]
    families = {(m.similarity_info.family, m.similarity_info.family_size) for m in found}  # type: ignore[attr-defined]
    ((family, size),) = families
    assert size == 3 and len(family) == 16
    assert found[0].similarity_info.pretty_str() == str(found[0].similarity_info.distance)


SLOGAN = "Death to the occupiers, burn their homes"


@pytest.mark.parametrize(
    "post",
    [SLOGAN, "D3ATH t0 the 0ccupiers - burn their h0mes!", "deathtotheoccupiersburntheirhomes"],
    ids=["plain", "leet", "glued"],
)
def test_phrase_signals_match_every_spelling(post: str) -> None:
    banked = CopytracePhraseSignal.hash_from_str(SLOGAN)
    assert CopytracePhraseSignal.validate_signal_str(banked) == banked
    query = CopytracePhraseSignal.hash_from_str(post)
    assert CopytracePhraseSignal.compare_hash(banked, query).match
    index = CopytracePhraseIndex.build([(banked, "slogan-1"), (str(phrase_fingerprint("no justice")), "x")])
    assert [m.metadata for m in index.query(query)] == ["slogan-1"]
    buf = io.BytesIO()
    index.serialize(buf)
    buf.seek(0)
    again = CopytracePhraseIndex.deserialize(buf)
    assert len(again) == 2 and [m.metadata for m in again.query(query)] == ["slogan-1"]


def test_phrase_signals_refuse_garbage_and_other_words() -> None:
    with pytest.raises(ValueError, match="phrase fingerprint"):
        CopytracePhraseSignal.validate_signal_str(str(fingerprint(SLOGAN * 3)))
    other = CopytracePhraseSignal.hash_from_str("death to the occupation")
    assert not CopytracePhraseSignal.compare_hash(CopytracePhraseSignal.hash_from_str(SLOGAN), other).match
    assert CopytracePhraseSignal.hash_from_str("...") == ""
    assert all(CopytracePhraseSignal.validate_signal_str(e) for e in CopytracePhraseSignal.get_examples())


def _both_indexes(text_000: str) -> list[tuple[type[SignalTypeIndex[t.Any]], list[tuple[str, int]], str]]:
    """Each index class, entries as HMA builds them (integer ids), and a query that must find id 1."""
    return [
        (
            CopytraceIndex,
            [(CopytraceSignal.hash_from_str(text_000), 1), (CopytraceSignal.get_examples()[0], 2), ("", 3)],
            CopytraceSignal.hash_from_str("Some post. " + _paragraph(text_000) + " More."),
        ),
        (
            CopytracePhraseIndex,
            [(CopytracePhraseSignal.hash_from_str(SLOGAN), 1), (CopytracePhraseSignal.get_examples()[0], 2)],
            CopytracePhraseSignal.hash_from_str("D3ATH t0 the 0ccupiers - burn their h0mes!"),
        ),
    ]


@pytest.mark.parametrize("kind", [0, 1], ids=["copytrace", "copytrace_phrase"])
def test_hma_loads_the_index_with_the_base_class(kind: int, text_000: str) -> None:
    """HMA's matcher reads every index with ``SignalTypeIndex.deserialize`` (``pickle.load``), not the
    signal type's own class: that must give back a working index of the right class."""
    cls, entries, query = _both_indexes(text_000)[kind]
    buf = io.BytesIO()
    cls.build(entries).serialize(buf)
    for loaded in (
        SignalTypeIndex.deserialize(io.BytesIO(buf.getvalue())),
        cls.deserialize(io.BytesIO(buf.getvalue())),
        pickle.loads(pickle.dumps(cls.build(entries))),
    ):
        assert type(loaded) is cls
        assert [m.metadata for m in loaded.query(query)] == [1]
        assert [m.metadata for m in loaded.query(entries[1][0])] == [2]
        assert loaded.query("") == []
    assert b"copytrace.index\n" not in buf.getvalue()  # copytrace's index is a snapshot, not pickled objects


def _legacy_stream(entries: list[tuple[str, int]]) -> bytes:
    """A stream as ``serialize`` wrote it before the pickle wrapper: the bare blocks."""
    out = io.BytesIO()
    fps = [Fingerprint.parse(s) for s, _ in entries]
    groups = sorted({str(fp.params) for fp in fps})
    header = {"signals": [s for s, _ in entries], "groups": groups}
    write_block(out, magic("index", 1) + json.dumps(header).encode())
    for params in groups:
        index = Index.for_params(FingerprintParams.parse(params))
        for n, fp in enumerate(fps):
            if str(fp.params) == params:
                index.add(str(n), fp)
        snapshot = io.BytesIO()
        index.save(snapshot)
        write_block(out, snapshot.getvalue())
    write_block(out, pickle.dumps([[entry] for _, entry in entries]))
    return out.getvalue()


def test_streams_from_before_the_pickle_wrapper_are_read(text_000: str, text_001: str) -> None:
    entries = [(CopytraceSignal.hash_from_str(text_000), 5), (CopytraceSignal.get_examples()[1], 6)]
    legacy = CopytraceIndex.deserialize(io.BytesIO(_legacy_stream(entries)))
    assert [m.metadata for m in legacy.query(CopytraceSignal.hash_from_str(text_001))] == [5]
    phrases = io.BytesIO()
    write_block(phrases, magic("phrases", 1) + json.dumps([list(_phrase_key(SLOGAN))]).encode())
    write_block(phrases, pickle.dumps([["slogan"]]))
    phrases.seek(0)
    again = CopytracePhraseIndex.deserialize(phrases)
    assert [m.metadata for m in again.query(CopytracePhraseSignal.hash_from_str(SLOGAN.upper()))] == [
        "slogan"
    ]


def _phrase_key(text: str) -> tuple[str, int, int]:
    fp = phrase_fingerprint(text)
    return str(fp.params), fp.length, fp.full_hash


def test_other_streams_are_refused_with_a_message(text_000: str) -> None:
    newer = io.BytesIO()
    write_block(newer, magic("index", 2) + b"{}")
    with pytest.raises(IndexStreamError, match="format version 2; this copytrace reads version 1: upgrade"):
        CopytraceIndex.deserialize(io.BytesIO(newer.getvalue()))
    wrapped = pickle.dumps(CopytraceIndex.build([]))
    wrapped = wrapped.replace(magic("index", 1), magic("index", 2))  # what a newer copytrace would write
    with pytest.raises(IndexStreamError, match="format version 2"):
        SignalTypeIndex.deserialize(io.BytesIO(wrapped))
    with pytest.raises(IndexStreamError, match="not a copytrace threatexchange index stream"):
        CopytraceIndex.deserialize(io.BytesIO(b"\x0f\x00garbage" * 10))
    phrases = io.BytesIO()
    CopytracePhraseIndex.build([]).serialize(phrases)
    with pytest.raises(IndexStreamError, match="holds a CopytracePhraseIndex, not a CopytraceIndex"):
        CopytraceIndex.deserialize(io.BytesIO(phrases.getvalue()))
    cut = io.BytesIO()
    CopytraceIndex.build([(CopytraceSignal.hash_from_str(text_000), 1)]).serialize(cut)
    with pytest.raises(IndexStreamError):
        CopytraceIndex.deserialize(io.BytesIO(cut.getvalue()[:-300]))


TEXT = "Everyone has the right to freedom of thought, conscience and religion; café, naïve, “quoted”."


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        b"\xef\xbb\xbf" + TEXT.encode("utf-8"),
        TEXT.encode("utf-16"),
        TEXT.encode("cp1252"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "windows-1252"],
)
@pytest.mark.parametrize("signal", [CopytraceSignal, CopytracePhraseSignal], ids=lambda s: s.get_name())
def test_bytes_are_hashed_as_the_cli_reads_files(
    data: bytes, signal: type[CopytraceSignal] | type[CopytracePhraseSignal], tmp_path: Path
) -> None:
    """HMA hashes uploads of a ``BytesHasher`` with ``hash_from_bytes``, whatever their size."""
    assert issubclass(signal, BytesHasher)
    expected = signal.hash_from_str(TEXT)
    assert expected and signal.hash_from_bytes(data) == expected
    (tmp_path / "post.txt").write_bytes(data)
    assert signal.hash_from_file(tmp_path / "post.txt") == expected


@pytest.mark.parametrize("signal", [CopytraceSignal, CopytracePhraseSignal], ids=lambda s: s.get_name())
def test_binary_and_short_texts_hash_to_the_empty_signal_which_matches_nothing(
    signal: type[CopytraceSignal] | type[CopytracePhraseSignal],
) -> None:
    assert signal.hash_from_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == ""
    short = signal.hash_from_bytes(b"!!! ...")
    assert short == "" and signal.validate_signal_str(short) == "" and signal.validate_signal_str(" \n") == ""
    banked = signal.hash_from_str(SLOGAN)
    assert not signal.compare_hash(banked, short).match and not signal.compare_hash(short, banked).match
    index = signal.get_index_cls().build([(short, 1), (banked, 2)])
    assert index.query(short) == [] and [m.metadata for m in index.query(banked)] == [2]


def test_a_latin_1_file_hashes_like_the_cli_reads_it() -> None:
    path = DATA / "corpora" / "state_union" / "1954-Eisenhower.txt"
    decoded = read_text_file(path)
    assert decoded.encoding == "windows-1252"  # not UTF-8
    assert CopytraceSignal.hash_from_file(path) == str(fingerprint(decoded.text))


def test_warming_the_compiled_code_for_a_server() -> None:
    """``python -m copytrace.threatexchange``, the image's build step: every path runs, and it says so."""
    done = subprocess.run(
        [sys.executable, "-m", "copytrace.threatexchange"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "compiled code cached" in done.stderr
