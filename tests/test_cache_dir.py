"""Snapshot folders (``copytrace.banks.cache_dir``): private when made, refused when others can write to
them, and cleared of what killed processes left, never of what a live one is writing."""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from copytrace import fingerprint
from copytrace.banks.cache_dir import private_folder, remove_orphans
from copytrace.fingerprints.batch import FingerprintBatch
from copytrace.index.snapshot_build import SnapshotBuilder

# A process killed in the middle of writing a snapshot (``snapshot.writer``) and of building one
# (``SnapshotBuilder``): what ``kill -9`` of a service or a command leaves in the cache.
_KILLED = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from copytrace import fingerprint
    from copytrace.index import snapshot
    from copytrace.fingerprints.batch import FingerprintBatch
    from copytrace.index.snapshot_build import SnapshotBuilder
    folder = sys.argv[1]
    fp = fingerprint("a text long enough to have a fingerprint of a few hashes in it, for the spill")
    builder = SnapshotBuilder(f"{folder}/built.ctidx", fp.params).__enter__()
    builder.add("news", ["a"], FingerprintBatch.from_fingerprints([fp], fp.params))
    nine = {"a": snapshot.Placeholder(np.dtype(np.uint8), 9)}
    writing = snapshot.writer(f"{folder}/written.ctidx", "f", {}, nine)
    writing.__enter__()  # kept in a variable: the file is being written when the process dies
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _killed_writer(folder: Path) -> int:
    child = subprocess.run([sys.executable, "-c", _KILLED, str(folder)], capture_output=True, text=True)
    assert child.returncode == -9, child.stderr
    return int(next(folder.glob("copytrace-build-*")).name.split("-")[2])


def test_what_a_killed_process_left_is_removed(tmp_path: Path) -> None:
    pid = _killed_writer(tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and left[0].startswith(f"copytrace-build-{pid}-")
    assert left[1].startswith(f"written.ctidx.{pid}.") and left[1].endswith(".tmp")
    assert remove_orphans(tmp_path) == 2
    assert list(tmp_path.iterdir()) == []


def test_what_a_live_process_writes_is_left_alone(tmp_path: Path, text_000: str) -> None:
    fp = fingerprint(text_000)
    old = tmp_path / "copytrace-build-k3j2h1"  # of a version that named no process: an hour old, unlocked
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    recent = tmp_path / "copytrace-build-a8b7c6"
    recent.mkdir()
    unrelated = [tmp_path / "notes.tmp", tmp_path / "index-0123-g4.ctidx"]
    for path in unrelated:
        path.write_text("x")
    # a writer in another pid namespace: its pid means nothing here (beyond pid_max), but it holds the lock
    elsewhere = tmp_path / "bank.ctidx.4194305.0badf00d.tmp"
    elsewhere.write_bytes(b"")
    with open(elsewhere, "rb") as held, SnapshotBuilder(tmp_path / "mine.ctidx", fp.params) as builder:
        fcntl.flock(held, fcntl.LOCK_EX)
        builder.add("news", ["000"], FingerprintBatch.from_fingerprints([fp], fp.params))
        assert remove_orphans(tmp_path) == 1  # only the old folder
        assert not old.exists() and recent.exists() and elsewhere.exists()
        assert all(p.exists() for p in unrelated)
        assert len(list(tmp_path.glob(f"copytrace-build-{os.getpid()}-*"))) == 1
    assert remove_orphans(tmp_path) == 1  # unlocked now, and its pid is not a process here
    assert not elsewhere.exists() and (tmp_path / "mine.ctidx").exists()


def test_a_new_cache_folder_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "cache"
    assert private_folder(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.parametrize("how", ["group-writable", "world-writable", "symlink", "another-owner"])
def test_a_folder_others_can_write_to_is_refused_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    folder = tmp_path / "cache"
    if how == "symlink":
        (tmp_path / "real").mkdir(mode=0o700)
        folder.symlink_to(tmp_path / "real")
    else:
        folder.mkdir(mode=0o700)
    if how.endswith("writable"):
        folder.chmod(0o770 if how == "group-writable" else 0o1777)
    if how == "another-owner":
        if os.geteuid() != 0:
            pytest.skip("giving a folder to another user needs root")
        os.chown(folder, 65534, 65534)
    with caplog.at_level(logging.WARNING, logger="copytrace"):
        assert not private_folder(folder)
    (record,) = caplog.records
    expected = {
        "group-writable": "other users can write to it (mode 770); chmod 700",
        "world-writable": "other users can write to it (mode 1777)",
        "symlink": "it is a symbolic link or not a folder",
        "another-owner": "it belongs to another user (uid 65534)",
    }[how]
    assert f"not using the cache folder {folder}" in record.getMessage() and expected in record.getMessage()
