"""Index snapshots: round trip, sharing one mapping between processes, refusing damaged files."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from copytrace import Fingerprint, Index, fingerprint
from copytrace.index.snapshot import ALIGN, SnapshotError, StaleSnapshotError


@pytest.fixture()
def saved(tmp_path: Path, state_union: dict[str, str], text_000: str, text_001: str) -> tuple[Index, Path]:
    index = Index()
    for name, text in sorted(state_union.items())[:30]:
        index.add(name, text, bank="speeches")
    index.add("000", text_000, bank="news")
    index.add("001", text_001, bank="news")  # a version of 000: linked
    index.add("long", " ".join(f"w{i % 5000} x{i // 7}" for i in range(40_000)), bank="long")  # 80k tokens
    index.remove("1945-Truman", bank="speeches")
    path = tmp_path / "bank.idx"
    index.save(path)
    return index, path


def test_round_trip_answers_the_same(
    saved: tuple[Index, Path], state_union: dict[str, str], text_001: str
) -> None:
    index, path = saved
    loaded = Index.load(path)
    assert sorted(loaded.items()) == sorted(index.items()) and len(loaded) == len(index)
    assert loaded.n_fingerprints == index.n_fingerprints
    assert loaded.links("001", bank="news") == ["000"] and loaded.family("001", bank="news") == ("000", 2)
    long_text = " ".join(f"w{i % 5000} x{i // 7}" for i in range(40_000))
    queries = [text_001, *list(state_union.values())[:10], long_text[-3000:], long_text[200_000:203_000]]
    for q in queries:
        assert loaded.match(q) == index.match(q)
        assert loaded.match(q, per_family=False) == index.match(q, per_family=False)
    (m,) = loaded.match(long_text[-3000:])  # the end of an item of more than one 65,536-token page
    assert m.item_id == "long" and m.spans[0].item_start == len(long_text) - 3000 + m.spans[0].query_start


def test_a_loaded_index_changes_in_memory_and_saves_again(
    saved: tuple[Index, Path], tmp_path: Path, text_000: str
) -> None:
    index, path = saved
    loaded = Index.load(path)
    loaded.add("copy", text_000, bank="news")
    loaded.remove("000", bank="news")
    index.add("copy", text_000, bank="news")
    index.remove("000", bank="news")
    assert loaded.match(text_000) == index.match(text_000)
    assert loaded.family("copy", bank="news") == index.family("copy", bank="news")
    again = tmp_path / "again.idx"
    loaded.save(again)
    assert Index.load(again).match(text_000) == index.match(text_000)
    assert Index.load(path).match(text_000) != index.match(text_000)  # the first file is untouched


def test_streams_round_trip(saved: tuple[Index, Path], text_001: str) -> None:
    index, _ = saved
    buf = io.BytesIO()
    index.save(buf)
    buf.seek(0)
    assert Index.load(buf).match(text_001) == index.match(text_001)


def test_arrays_are_page_aligned_views_of_the_file(saved: tuple[Index, Path]) -> None:
    _, path = saved
    loaded = Index.load(path)
    tags = loaded._contents.main.tags
    assert not tags.flags.writeable and not tags.flags.owndata
    assert tags.__array_interface__["data"][0] % ALIGN == 0


def _damaged(path: Path, how: str) -> bytes:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        return bytes(data[: len(data) - ALIGN - 10])
    if how == "header byte":
        data[60] ^= 0x20
    elif how == "magic":
        data[0:8] = b"PK\x03\x04xxxx"
    elif how == "empty":
        return b""
    elif how == "page out of range":
        meta_end = len(data)
        # the refs array: every posting names a page; make one name a page that does not exist
        loaded = Index.load(path)
        refs_at = (
            loaded._contents.main.refs.__array_interface__["data"][0]
            - np.frombuffer(loaded._contents.main.refs.base, dtype=np.uint8).__array_interface__["data"][0]
        )
        data[refs_at : refs_at + 4] = (2**31).to_bytes(4, "little")
        assert len(data) == meta_end
    return bytes(data)


@pytest.mark.parametrize("how", ["truncated", "header byte", "magic", "empty", "page out of range"])
def test_damaged_snapshots_are_refused(saved: tuple[Index, Path], tmp_path: Path, how: str) -> None:
    _, path = saved
    bad = tmp_path / "bad.idx"
    bad.write_bytes(_damaged(path, how))
    with pytest.raises(SnapshotError):
        Index.load(bad)


def test_old_npz_indexes_are_refused_clearly(tmp_path: Path) -> None:
    old = tmp_path / "old.npz"
    np.savez(old, meta=np.frombuffer(b'{"format": "copytrace-index/2"}', dtype=np.uint8))
    with pytest.raises(SnapshotError, match="not a copytrace-index/4"):
        Index.load(old)


_CHILD = textwrap.dedent(
    """
    import sys, resource
    import numpy as np
    from copytrace import Index
    def rss_kb():
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("RssAnon:"))
    warm = Index()
    warm.add("w", "the matching code of this process is loaded once before memory is measured")
    warm.match("the matching code of this process is loaded once before memory is measured")
    before = rss_kb()
    index = Index.load(sys.argv[1])
    index.match("warm up the matching code of this process once before it is measured")
    main = index._contents.main
    touched = int(main.tags.sum() + main.refs.sum() + main.pos.sum())  # read it all
    print(rss_kb() - before, main.nbytes // 1024, touched > 0)
    """
)


def test_processes_share_one_mapping(tmp_path: Path) -> None:
    """A process that opens a snapshot and reads every posting does not grow its private memory by the
    postings: they are pages of the file, shared through the page cache."""
    rng = np.random.default_rng(5)
    index = Index()
    params = fingerprint("a text to take the parameters from").params
    for i in range(100):
        hashes = rng.integers(0, 2**63, 30_000, dtype=np.int64).astype(np.uint64)
        index.add(str(i), Fingerprint(params, hashes, np.arange(30_000, dtype=np.int64) * 2, 60_010))
    path = tmp_path / "big.idx"
    index.save(path)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True
    )
    grown_kb, postings_kb, touched = out.stdout.split()
    assert touched == "True" and int(postings_kb) > 5_000
    assert int(grown_kb) < int(postings_kb) // 2, out.stdout


def test_phrases_survive_a_round_trip(tmp_path: Path, text_000: str) -> None:
    index = Index()
    index.add("article", text_000)
    index.add("gone", "burn them all")
    index.add("slogan", "Death to the occupiers, burn their homes", bank="calls")
    index.add("chant", "no justice no peace", bank="chants")
    index.remove("gone")  # renumbers the items as it is saved
    path = tmp_path / "phrases.ctidx"
    index.save(path)
    loaded = Index.load(path)
    assert loaded.n_phrases == 2 and loaded.is_phrase("slogan", bank="calls")
    query = "deathtotheoccupiersburntheirhomes! no justice, no peace"
    assert loaded.match(query) == index.match(query)
    assert [(m.item_id, m.kind) for m in loaded.match(query)] == [("slogan", "phrase"), ("chant", "phrase")]
    assert loaded.match("burn them all") == []


_LOAD_CHILD = "import sys; from copytrace import Index; Index.load(sys.argv[1])"


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_a_path_that_is_not_a_regular_file_is_refused_at_once(
    saved: tuple[Index, Path], tmp_path: Path, kind: str
) -> None:
    """A FIFO with no writer would block ``open`` for ever: it is refused before anything is read.  A link
    is refused even to a good snapshot (``O_NOFOLLOW``): a cache never holds links."""
    _, good = saved
    path = tmp_path / "at.idx"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        path.symlink_to(good)
    else:
        path.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_CHILD, str(path)], capture_output=True, text=True, timeout=120
    )
    expected = {"fifo": "is a FIFO", "symlink": "is a symbolic link", "folder": "is a folder"}[kind]
    assert out.returncode == 1 and f"SnapshotError: {str(path)!r} {expected}" in out.stderr, out.stderr


def test_a_snapshot_is_written_read_only_and_leaves_no_temporary_file(
    saved: tuple[Index, Path], tmp_path: Path
) -> None:
    _, path = saved
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    Index.load(path).save(path)  # replaced, never written in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.idx"]


def test_a_snapshot_is_loaded_only_for_the_origin_it_records(tmp_path: Path, text_000: str) -> None:
    index = Index()
    index.add("000", text_000, bank="news")
    origin = {"store": "9f2c" * 8, "generation": 3, "banks": ["news"], "params": str(index.params)}
    index.save(tmp_path / "a.idx", origin=origin)
    index.save(tmp_path / "plain.idx")
    assert len(Index.load(tmp_path / "a.idx", origin=origin)) == 1
    assert len(Index.load(tmp_path / "a.idx")) == 1  # nothing expected, nothing checked
    for other in ({**origin, "generation": 4}, {**origin, "store": "0" * 32}, {**origin, "banks": ["x"]}):
        with pytest.raises(StaleSnapshotError, match="was made from store 9f2c9f2c, generation 3"):
            Index.load(tmp_path / "a.idx", origin=other)
    with pytest.raises(StaleSnapshotError, match="made from an unknown source"):
        Index.load(tmp_path / "plain.idx", origin=origin)


def test_a_written_snapshot_is_filled_in_pieces_in_any_order(tmp_path: Path) -> None:
    from copytrace.index.snapshot import Placeholder, read, writer

    big = np.arange(100_000, dtype=np.uint32) * 7
    small = np.arange(3, dtype=np.uint16)
    path = tmp_path / "filled.snap"
    arrays = {
        "small": small,
        "big": Placeholder(np.dtype(np.uint32), len(big)),
        "none": Placeholder(np.dtype(np.uint16), 0),
    }
    with writer(path, "test-format", {"n": 1}, arrays) as out:
        assert sorted(out) == ["big", "none"] and len(out["none"]) == 0
        for a, b in ((60_000, 100_000), (0, 1), (1, 60_000)):
            out["big"][a:b] = big[a:b]
        with pytest.raises(ValueError, match="3 values"):
            out["big"][0:2] = big[:3]
    meta, got = read(path, "test-format")
    assert meta == {"n": 1} and np.array_equal(got["big"], big) and np.array_equal(got["small"], small)
    assert len(got["none"]) == 0 and stat.S_IMODE(path.stat().st_mode) == 0o444


def test_a_snapshot_whose_filling_fails_leaves_nothing(tmp_path: Path) -> None:
    from copytrace.index.snapshot import Placeholder, writer

    path = tmp_path / "failed.snap"
    with (
        pytest.raises(RuntimeError),
        writer(path, "f", {}, {"a": Placeholder(np.dtype(np.uint8), 10)}) as out,
    ):
        out["a"][0:5] = np.ones(5, dtype=np.uint8)
        raise RuntimeError("the build failed")
    assert list(tmp_path.iterdir()) == []
