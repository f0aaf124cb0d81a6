"""The suite runs in parallel (``pytest -n auto``): each test process has temporary folders, a Ray folder and
a PostgreSQL server of its own, and the processes it starts inherit its temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import WORKER


def test_this_process_has_a_temporary_folder_of_its_own(_private_temp_folder: Path) -> None:
    assert _private_temp_folder.is_dir()
    assert _private_temp_folder.name.startswith(f"ct-{WORKER}-")
    assert os.environ["TMPDIR"] == os.environ["RAY_TMPDIR"] == str(_private_temp_folder)


def test_ray_keeps_its_sessions_and_cluster_address_in_that_folder(_private_temp_folder: Path) -> None:
    """A cluster another process starts writes its address elsewhere: ``ray.init()`` here never joins it."""
    pytest.importorskip("ray")
    from ray._common.utils import get_default_ray_temp_dir, get_ray_address_file

    assert get_default_ray_temp_dir() == str(_private_temp_folder / "ray")
    assert Path(get_ray_address_file(None)).parent == _private_temp_folder / "ray"
    # Ray's sockets live under <folder>/ray/session_<date>_<pid>/sockets/: they must fit in 107 bytes
    session = "session_2026-12-06_00-00-00_000000_4194304"
    longest = _private_temp_folder / "ray" / session / "sockets" / "raylet"
    assert len(str(longest).encode()) < 107


def test_the_processes_a_test_starts_use_the_same_folder(_private_temp_folder: Path, tmp_path: Path) -> None:
    # the scan and cluster tests give their processes an environment without RAY_* variables: TMPDIR remains
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    code = "import tempfile; print(tempfile.gettempdir())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(_private_temp_folder)


def test_postgres_databases_are_named_for_their_process(db_url: str) -> None:
    if db_url.startswith("postgresql"):
        assert f"/test_{WORKER}_{os.getpid()}_" in db_url
