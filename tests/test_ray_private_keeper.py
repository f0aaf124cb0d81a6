"""The keeper of a private Ray removes its folder even while its own main thread is still writing in it, and
however the keeper itself goes.

When the driver goes during Ray's start, the keeper's main thread is inside ``ray.init``, making folders and
files in the private folder, while its watcher thread stops the session: a folder removed from that thread
could be left non-empty or made again.  Here the keeper's real remover and watcher run beside a main thread
that writes in the folder without pause (as ``ray.init`` does, only all the time), in a process of its own
session; no Ray is needed.  The keeper may also end without finishing - Ray's code in it may end it when
it sees its Ray die, or someone may SIGKILL it: its remover still removes the folder, and stops the rest of
the session (a real Ray's: ``test_ray_private_strangers``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from copytrace.batch import _ray_supervisor
from copytrace.batch._ray_supervisor import session_members

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="processes are read from /proc")

# The keeper module loaded by path, as ``private_ray`` runs it; its watcher thread waits for the end of
# standard input, while the main thread writes in the folder until the process ends.
KEEPER = """
import importlib.util, os, sys, threading
spec = importlib.util.spec_from_file_location("keeper", sys.argv[1])
keeper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(keeper)
folder = sys.argv[2]
if os.environ.get("KEEPER_NO_PROC"):  # a system without /proc, as the keeper sees it
    isdir = os.path.isdir
    os.path.isdir = lambda path: path != "/proc" and isdir(path)
keeper.leave_remover(folder)
threading.Thread(target=keeper._watch_driver, args=(folder,), daemon=True).start()
i = 0
while True:
    logs = os.path.join(folder, "r", "session", "logs", str(i % 7))
    os.makedirs(logs, exist_ok=True)
    with open(os.path.join(logs, f"{i}.log"), "w") as fh:
        fh.write("x")
    if i == 0:
        print("ready", flush=True)  # writing from now on
    i += 1
"""


@pytest.mark.parametrize("ending", ["driver-goes", "keeper-killed", "driver-goes-no-proc"])
@pytest.mark.parametrize("after", [0.0, 0.05, 0.3], ids=["at-once", "soon", "later"])
def test_the_folder_is_gone_when_the_keeper_is_although_its_main_thread_kept_writing_in_it(
    after: float, ending: str
) -> None:
    folder = tempfile.mkdtemp(prefix="ctray-", dir="/tmp")
    with subprocess.Popen(
        [sys.executable, "-c", KEEPER, _ray_supervisor.__file__, folder],
        env={**os.environ, "KEEPER_NO_PROC": "1"} if ending.endswith("no-proc") else None,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as keeper:
        try:
            assert keeper.stdout is not None and keeper.stdin is not None
            assert keeper.stdout.readline() == "ready\n"
            time.sleep(after)
            assert Path(folder, "r").exists()  # the writer is writing
            if ending == "driver-goes":
                keeper.stdin.close()  # what the driver does to stop its Ray, or the kernel when it dies
                assert keeper.wait(timeout=30) == 0
            elif ending == "driver-goes-no-proc":  # its process group is killed whole, the keeper with it
                keeper.stdin.close()
                assert keeper.wait(timeout=30) == -signal.SIGKILL
            else:  # the keeper ends without a word (as when Ray's code in it exits the process)
                os.kill(keeper.pid, signal.SIGKILL)
                assert keeper.wait(timeout=30) == -signal.SIGKILL
            # the end of the keeper's output: it and what it left to remove the folder are gone
            assert keeper.stdout.read() == ""
            assert not Path(folder).exists(), sorted(os.walk(folder))[:3]
            # nothing of the session is left (a process that closed its files may take a moment to end)
            deadline = time.monotonic() + 5
            while session_members(keeper.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert session_members(keeper.pid) == []
        finally:
            if keeper.poll() is None:
                keeper.kill()
            for pid in session_members(keeper.pid):
                os.kill(pid, 9)
            subprocess.run(["rm", "-rf", folder], check=False)
