"""The keeper of a job's private Ray: starts it, and stops every process of it when the job's driver is gone.

Run as a script (``python _ray_supervisor.py FOLDER NUM_CPUS``) by ``private_ray``, in a session of its own,
with a pipe on its standard input whose other end only the driver holds.  It starts a Ray head on this
machine in ``FOLDER/r`` (Ray opens its folder to all users; ``FOLDER`` is the job's alone), never in Ray's
shared ``/tmp/ray`` nor ``$RAY_TMPDIR``: the address Ray records there is neither read nor written.  It
prints ``ready ADDRESS`` (or ``failed REASON``) and waits.  When its standard input ends - the driver closed
it, exited, or was killed with SIGKILL: the kernel closes it in every case - it kills every process of its
session (all of Ray's: servers, agents and workers, whatever process group Ray puts them in) and exits;
a child of it waits for it to be gone (nothing of it can write in ``FOLDER`` then), stops what the keeper
started meanwhile and removes ``FOLDER``, holding the keeper's standard output until it is done.  Ctrl-C
at a terminal reaches the driver's process group, never this session: Ray is stopped by this keeper alone,
in one way, whatever happened to the driver.

It imports nothing of copytrace (it is run by path, so the package's ``__init__`` is not loaded either).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
import time

KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL
# What a job's Ray on one machine does without: metrics (collected and exported every few seconds by every
# process, for a dashboard nobody opens). Passed as ``ray.init(_system_config=...)``.
SYSTEM_CONFIG = {"enable_metrics_collection": False}


def session_members(sid: int) -> list[int]:
    """The live processes of session ``sid`` but this one (zombies are dead: they are not counted)."""
    me = os.getpid()
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for name in entries:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # after "pid (comm) "
        if len(fields) > 3 and fields[0] != b"Z" and int(fields[3]) == sid:
            found.append(int(name))
    return found


def _reap() -> None:
    """Collect the exit status of every ended child (orphans of Ray's come here: see ``_adopt_orphans``)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _adopt_orphans() -> None:
    """Become the parent of any process of Ray's whose parent dies first (``PR_SET_CHILD_SUBREAPER``), so
    that each is reaped here, not left a zombie under an init that does not reap (a container's)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: orphans go to init as usual
        pass


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def kill_session(sid: int) -> None:
    """SIGKILL to every other process of the session, at once (no grace: when time is short)."""
    _signal_all(session_members(sid), signal.SIGKILL)


def stop_session(sid: int) -> None:
    """SIGTERM to every other process of the session, then SIGKILL to what is left after ``KILL_GRACE``
    (Ray's agents have been seen to ignore SIGTERM for most of a minute)."""
    if not os.path.isdir("/proc"):  # no /proc: the process group is the best there is
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(0), signal.SIGKILL)
        return
    _signal_all(session_members(sid), signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE
    while time.monotonic() < deadline and session_members(sid):
        _reap()
        time.sleep(0.05)
    for _ in range(100):  # new processes may still be starting (a worker Ray was forking): until none
        _reap()
        left = session_members(sid)
        if not left:
            return
        _signal_all(left, signal.SIGKILL)
        time.sleep(0.05)


_FINISHING = threading.Lock()


def _finish(temp_dir: str, code: int) -> None:
    """Stop the session's processes, leave the folder to be removed once this process is gone, and exit.

    The keeper's main thread may be inside ``ray.init`` when the driver goes: it goes on making folders and
    files in ``temp_dir`` (and may start one more of Ray's processes) until this process ends, so a folder
    removed from here can be left non-empty or made again.  The removal is done by ``_remove_when_gone``, a
    child forked from this thread alone, after this process has exited.
    """
    if not _FINISHING.acquire(blocking=False):  # already under way in another thread (or this one, which a
        return  # signal interrupted): that call ends the process; a second one would stop its child
    sid = os.getsid(0)
    stop_session(sid)
    sys.stdout.flush()
    _remove_when_gone(temp_dir, sid)
    os._exit(code)


def _remove_when_gone(temp_dir: str, sid: int) -> None:
    """Fork a child that waits for this process to exit, stops what is left of the session and removes
    ``temp_dir``.  The child holds this process's standard output until then: the driver, which reads it
    to its end, knows that the folder is gone when it gets end-of-file."""
    keeper = os.getpid()
    try:
        pid = os.fork()
    except OSError:  # no process to spare: remove it from here, as well as can be done
        shutil.rmtree(temp_dir, ignore_errors=True)
        return
    if pid:
        return
    try:  # the child: only this thread was copied, and it calls nothing that takes another thread's lock
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the keeper's ``_finish``
        while os.getppid() == keeper:
            time.sleep(0.005)
        stop_session(sid)
        shutil.rmtree(temp_dir, ignore_errors=True)
    finally:
        os._exit(0)


def _watch_driver(temp_dir: str) -> None:
    """Block until the driver's end of the pipe is closed, then stop everything."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    _finish(temp_dir, 0)


def without_monitors() -> None:
    """Start no log monitor and no autoscaler monitor with the next Ray head this process starts.

    The log monitor copies the workers' output to drivers, and the job's driver asks for none
    (``log_to_driver=False``); the autoscaler monitor would add nodes to a Ray that has no node to add.
    Together about 1 CPU-s of each job's Ray (measured on a one-document scan: 15 CPU-s in all).
    ``ray.init`` names neither; ``ray start`` does (``--include-log-monitor``, ``--no-monitor``), through
    the same parameters, set here on their way to the head node.  A Ray whose parameters are named
    otherwise starts both, as before.
    """
    try:
        from ray._private import parameter
    except ImportError:
        return
    init = parameter.RayParams.__init__
    if not all(hasattr(parameter.RayParams(), name) for name in ("include_log_monitor", "no_monitor")):
        return

    def without(self: object, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        self.include_log_monitor = False  # type: ignore[attr-defined]
        self.no_monitor = True  # type: ignore[attr-defined]

    parameter.RayParams.__init__ = without  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    temp_dir, num_cpus = argv[0], int(argv[1])
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: _finish(temp_dir, 143))
    _adopt_orphans()
    threading.Thread(target=_watch_driver, args=(temp_dir,), daemon=True).start()
    try:
        import ray

        without_monitors()
        ray.init(
            address="local",
            _temp_dir=os.path.join(temp_dir, "r"),  # Ray opens its folder to all (0777): this one is in ours
            num_cpus=num_cpus or None,
            include_dashboard=False,
            _system_config=SYSTEM_CONFIG,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=True,
        )
        address = ray.get_runtime_context().gcs_address
    except BaseException as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"failed {reason}", flush=True)
        _finish(temp_dir, 1)
        threading.Event().wait()  # the watcher thread is finishing (when the driver went, Ray's start failed)
    print(f"ready {address}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: _finish(temp_dir, 143))  # ray.init installs its own
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
