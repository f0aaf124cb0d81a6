"""Ctrl-C before a command runs (while the command line's modules load or its arguments are read) is one
line and exit 130, never a traceback; once the command runs, it is the command's own interrupted line.
Every interrupted line starts ``copytrace: interrupted; ``, as a batch job's does."""

from __future__ import annotations

import subprocess
import sys

import pytest

LOADED = "import os, signal, time\nimport copytrace.cli.main\n"


@pytest.mark.parametrize(
    "code",
    [
        # while the modules load: the handler is the first thing the entry module sets
        LOADED + "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(10)\n",
        # while the arguments are read
        LOADED
        + "from copytrace.cli import main as m\n"
        + "real = m.build_parser\n"
        + "def slow():\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(10)\n    return real()\n"
        + "m.build_parser = slow\n"
        + "m.main(['--version'])\n",
    ],
    ids=["loading", "parsing"],
)
def test_ctrl_c_before_the_command_runs_is_one_line_and_130(code: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 130
    assert proc.stderr == "copytrace: interrupted; nothing was done\n"


def test_ctrl_c_once_the_command_runs_is_the_commands_own(tmp_path: object) -> None:
    code = (
        LOADED + "from copytrace.cli import main as m\n"
        "from copytrace.cli import fingerprint\n"
        "def run(args):\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(10)\n"
        "real = m.parse_args\n"
        "def parse(parser, argv):\n    args = real(parser, argv)\n    args.run = run\n    return args\n"
        "m.parse_args = parse\n"
        "raise SystemExit(m.main(['fingerprint', '-']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 130
    assert proc.stderr == "copytrace: interrupted; nothing of the interrupted step was stored\n"
