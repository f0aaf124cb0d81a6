"""Ctrl-C and SIGTERM while a batch job runs: one line, exit status 128 + the signal, even while the main
thread is blocked in code that never returns to Python (as it is inside Ray's C++ waits)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# The main thread blocks in a lock that no signal handler can break: only the watching thread can end it.
SCRIPT = """
import signal, sys, threading
from copytrace.batch.interrupts import exit_on_signal

with exit_on_signal("the blocks finished so far are kept"):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(9))  # as ray.init does: taken back by rearm()
    from copytrace.batch.interrupts import rearm
    rearm()
    print("ready", flush=True)
    lock = threading.Lock()
    lock.acquire()
    while True:
        lock.acquire()
"""


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_ends_the_job_with_one_line_and_its_status(sig: int, code: int, word: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(0.2)  # the main thread is in its endless wait
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert err == f"copytrace: {word}; the blocks finished so far are kept\n"


def test_outside_the_block_signals_are_as_before() -> None:
    from copytrace.batch.interrupts import exit_on_signal

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with exit_on_signal("x"):
        assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert signal.set_wakeup_fd(-1) == -1  # no wakeup pipe left behind
