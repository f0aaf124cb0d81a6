"""The progress of a batch job on stderr without a terminal: a line (or a JSON object) every interval with
documents, bytes, documents/s and time left, the rate counted from when Ray is up."""

from __future__ import annotations

import argparse
import json
import re
import time

import pytest

from copytrace.cli import progress as progress_module
from copytrace.cli.progress import JobProgress, add_progress_options

RAY = {"address": "local", "gcs_address": "10.0.0.1:1234", "private": True, "nodes": 1, "cpus": 2}


class Clock:
    """``time.perf_counter`` for the progress module, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", c)
    return c


def test_the_rate_counts_from_when_ray_is_up_not_from_the_start(clock: Clock) -> None:
    p = JobProgress("scan", "none")
    p.stage("scan", blocks=10, nbytes=1000)
    assert p.snapshot()["docs_per_second"] is None and p.text() == "waiting for Ray to start"
    clock.now += 60  # Ray takes a minute to start
    p.ray_ready({**RAY, "start_seconds": 60.0})
    clock.now += 10
    p.block({"documents": 500, "bytes": 250})
    s = p.snapshot()
    assert s["docs_per_second"] == 50.0  # 500 documents in the 10 s since Ray was up, not in 70 s
    assert s["eta_seconds"] == 30.0  # 750 bytes left at 25 bytes/s
    assert p.text() == "500 documents, 250 B of 1.0 kB (25%), 50 docs/s, 30 s left"


def test_each_pass_of_a_cluster_job_counts_its_own_rate(clock: Clock) -> None:
    p = JobProgress("cluster", "none")
    p.stage("fingerprint", blocks=2, nbytes=2_000_000)
    clock.now += 5
    p.ray_ready({**RAY, "start_seconds": 5.0})
    clock.now += 2
    p.block({"documents": 100, "bytes": 2_000_000})
    clock.now += 30  # the driver builds the index between passes
    p.stage("versions", blocks=2, nbytes=2_000_000)
    clock.now += 4
    p.block({"documents": 100, "bytes": 1_000_000})
    assert p.snapshot()["docs_per_second"] == 25.0
    assert p.text() == "versions: 100 documents, 1.0 MB of 2.0 MB (50%), 25 docs/s, 4 s left"


def test_lines_come_every_interval_and_name_ray_start_up_apart(capsys: pytest.CaptureFixture[str]) -> None:
    p = JobProgress("scan", "lines", interval=0.05)
    p.stage("scan", blocks=4, nbytes=4000)
    p.ray_ready({**RAY, "start_seconds": 3.25})
    p.block({"documents": 10, "bytes": 1000})
    time.sleep(0.5)
    p.stop()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "copytrace: scan: started a private Ray on this machine in 3.2 s (1 node(s), 2 CPUs)"
    pattern = r"copytrace: scan: 10 documents, 1\.0 kB of 4\.0 kB \(25%\), [\d,]+ docs/s, \d+ s left"
    assert len(lines) >= 3 and all(re.fullmatch(pattern, line) for line in lines[1:]), lines


def test_json_lines_carry_the_same_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    p = JobProgress("cluster", "json", interval=0.05)
    p.stage("edges", blocks=1, nbytes=100)
    p.ray_ready({**RAY, "address": "ray://head:10001", "private": False, "start_seconds": 1.5})
    p.block({"documents": 3, "bytes": 100})
    time.sleep(0.3)
    p.stop()
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert records[0] == {
        "command": "cluster",
        "event": "stage",
        "stage": "edges",
        "blocks": 1,
        "total_bytes": 100,
    }
    assert records[1] == {"command": "cluster", "event": "ray", **RAY, "address": "ray://head:10001",
                          "private": False, "start_seconds": 1.5}  # fmt: skip
    ticks = [r for r in records if r["event"] == "progress"]
    assert ticks and all(r["documents"] == 3 and r["bytes"] == r["total_bytes"] == 100 for r in ticks)
    assert records[-1]["event"] == "done" and records[-1]["eta_seconds"] == 0.0


def test_auto_draws_lines_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert JobProgress("scan").mode == "lines"  # pytest's capture is not a terminal


def test_a_joined_cluster_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    p = JobProgress("scan", "lines", interval=60)
    p.stage("scan", blocks=1, nbytes=1)
    p.ray_ready(
        {**RAY, "address": "ray://head:10001", "private": False, "nodes": 3, "cpus": 48, "start_seconds": 2}
    )
    p.stop()
    assert capsys.readouterr().err == (
        "copytrace: scan: joined the Ray cluster at ray://head:10001 in 2.0 s (3 node(s), 48 CPUs)\n"
    )


@pytest.mark.parametrize("value", ["0", "-1", "soon"], ids=str)
def test_an_interval_must_be_a_positive_number(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_progress_options(parser)
    assert parser.parse_args(["--progress-interval", "2.5", "--progress", "json"]).progress_interval == 2.5
    with pytest.raises(SystemExit):
        parser.parse_args(["--progress-interval", value])
    assert "a number of seconds above 0" in capsys.readouterr().err
