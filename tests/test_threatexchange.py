"""The threatexchange extension: the signal type through the library's own interfaces, and the real CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from threatexchange.content_type.text import TextContent
from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
from threatexchange.interface_validation import SignalTypeMapping
from threatexchange.signal_type.raw_text import RawTextSignal

from copytrace import fingerprint
from copytrace.phrases import phrase_fingerprint
from copytrace.threatexchange import (
    TX_MANIFEST,
    CopytraceIndex,
    CopytracePhraseIndex,
    CopytracePhraseSignal,
    CopytraceSignal,
)

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
    assert "post_in_bank=" in excerpt.distance.pretty_str() and " " not in excerpt.distance.pretty_str()


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


def test_empty_index_round_trips_as_hma_builds_it() -> None:
    buf = io.BytesIO()
    CopytraceIndex.build([]).serialize(buf)
    buf.seek(0)
    assert CopytraceIndex.deserialize(buf).query(CopytraceSignal.get_examples()[0]) == []


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
    assert "family=" in found[0].similarity_info.pretty_str()


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
