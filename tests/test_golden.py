"""Golden vectors: released fingerprint output never changes (a change is a new version)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from copytrace import Fingerprint, fingerprint, normalize

VECTORS = json.loads((Path(__file__).parent / "golden" / "fingerprints_v1.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_fingerprint_output_is_pinned(vector: dict[str, str]) -> None:
    assert str(fingerprint(vector["text"], key=vector["key"])) == vector["fingerprint"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_normalised_output_is_pinned(vector: dict[str, str]) -> None:
    assert normalize(vector["text"]) == vector["normalized"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_golden_strings_parse_and_round_trip(vector: dict[str, str]) -> None:
    assert str(Fingerprint.parse(vector["fingerprint"])) == vector["fingerprint"]


def test_reflowed_and_obfuscated_copies_share_the_fingerprint() -> None:
    by_name = {v["name"]: v["fingerprint"] for v in VECTORS}
    assert by_name["english"] == by_name["reflowed"]
    assert by_name["keyed"] != by_name["english"]
