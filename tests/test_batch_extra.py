"""``scan`` and ``cluster`` without the ray extra: one line naming it, exit 2, nothing read or written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import CANONICAL_000


@pytest.mark.parametrize("missing", ["ray", "pyarrow", "fsspec", "zstandard"])
@pytest.mark.parametrize("command", ["scan", "cluster"])
def test_a_job_without_the_ray_extra_names_it(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, missing: str
) -> None:
    assert cli("bank", "add", "news", CANONICAL_000)[0] == 0
    monkeypatch.setitem(sys.modules, missing, None)  # what an install without the package looks like
    out = tmp_path / "job"
    args = ["--bank", "news"] if command == "scan" else []
    code, stdout, stderr = cli(command, *args, CANONICAL_000.parent, "--out", out)
    assert code == 2
    assert "pip install 'copytrace[ray]'" in stderr
    assert missing in stderr
    assert "Traceback" not in stderr and stdout == ""
    assert not out.exists()
