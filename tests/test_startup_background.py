"""The background model's word table is cached on disk: built from wordfreq the first time, read back after
that without importing wordfreq, identical to a fresh build; a damaged, foreign or unusable cache is done
without (built again), never believed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from copytrace.errors import InputError
from copytrace.text import background as bg
from copytrace.text.normalize import tokenize


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache folder of its own, and the process's tables forgotten before and after."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("COPYTRACE_CACHE", str(folder))
    bg._words.cache_clear()
    yield folder
    bg._words.cache_clear()


@pytest.fixture(scope="module")
def built() -> tuple[np.ndarray, np.ndarray]:
    """The English table built from wordfreq, with no cache involved."""
    return bg._build_words("en")


def _cached(folder: Path) -> list[Path]:
    return sorted(folder.glob("background-en-*.npz"))


def test_the_first_use_caches_the_table_and_the_next_reads_it_back_identical(
    cache: Path, built: tuple[np.ndarray, np.ndarray]
) -> None:
    first = bg._words("en")
    assert len(_cached(cache)) == 1
    bg._words.cache_clear()
    again = bg._words("en")
    for table in (first, again):
        assert np.array_equal(table[0], built[0]) and table[0].dtype == np.uint64
        assert np.array_equal(table[1], built[1]) and table[1].dtype == np.float64


def test_a_fresh_process_reads_the_cached_table_without_wordfreq(cache: Path) -> None:
    bg._words("en")  # builds and caches it
    text = "we don't sleep for one night unless we think of eliminating"
    code = (
        "import sys\n"
        "from copytrace.text.background import background\n"
        "from copytrace.text.normalize import tokenize\n"
        f"print(repr(background('en').information(tokenize({text!r}).hashes)))\n"
        "print('wordfreq' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "COPYTRACE_CACHE": str(cache)},
        timeout=300,
        check=True,
    )
    bits, imported = proc.stdout.split()
    assert imported == "False"  # the table came from the cache
    assert float(bits) == bg.background("en").information(tokenize(text).hashes)


def test_a_damaged_cache_file_is_built_again_and_replaced(
    cache: Path, built: tuple[np.ndarray, np.ndarray]
) -> None:
    bg._words("en")
    (path,) = _cached(cache)
    path.write_bytes(b"PK\x03\x04 not a table")
    bg._words.cache_clear()
    hashes, bits = bg._words("en")
    assert np.array_equal(hashes, built[0]) and np.array_equal(bits, built[1])
    with np.load(path) as npz:  # written again, whole
        assert np.array_equal(npz["hashes"], built[0])


def test_a_table_made_under_another_key_is_not_believed(
    cache: Path, built: tuple[np.ndarray, np.ndarray]
) -> None:
    key = bg.model_key("en")
    assert key is not None and "wordfreq 3." in key and "language en" in key
    path = bg._cache_path("en", key)
    assert path is not None
    wrong = np.zeros(3, dtype=np.uint64), np.zeros(3, dtype=np.float64)
    bg._save_words(path, key.replace("wordfreq", "wordfreq 0.0 of"), *wrong)
    hashes, bits = bg._words("en")
    assert np.array_equal(hashes, built[0]) and np.array_equal(bits, built[1])


def test_a_folder_others_can_write_to_is_not_used(cache: Path, built: tuple[np.ndarray, np.ndarray]) -> None:
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)
    hashes, bits = bg._words("en")
    assert np.array_equal(hashes, built[0]) and np.array_equal(bits, built[1])
    assert _cached(cache) == []


def test_an_unknown_language_is_still_refused_and_nothing_is_cached(cache: Path) -> None:
    with pytest.raises(InputError, match="no word frequencies for language 'xx'"):
        bg.background("xx")
    assert list(cache.glob("background-*")) == []
