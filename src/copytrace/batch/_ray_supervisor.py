"""The keeper of a job's private Ray: starts it, and stops every process of it when the job's driver is gone.

Run as a script (``python _ray_supervisor.py FOLDER NUM_CPUS``) by ``private_ray``, in a session of its own,
with a pipe on its standard input whose other end only the driver holds.  It starts a Ray head on this
machine in ``FOLDER/r`` (Ray opens its folder to all users; ``FOLDER`` is the job's alone), never in Ray's
shared ``/tmp/ray`` nor ``$RAY_TMPDIR``: the address Ray records there is neither read nor written.  It
prints ``ready ADDRESS`` (or ``failed REASON``) and waits.  When its standard input ends - the driver closed
it, exited, or was killed with SIGKILL: the kernel closes it in every case - it kills every process of its
session (all of Ray's: servers, agents and workers, whatever process group Ray puts them in) and exits.
``FOLDER`` is removed by a child forked before anything else (``leave_remover``): it waits for the keeper to
be gone, however it goes - its own exit, Ray's code ending it (a Ray driver that sees its Ray die may), or a
SIGKILL - then stops what is left of the session and removes ``FOLDER``, holding the keeper's standard
output until it is done.  Ctrl-C
at a terminal reaches the driver's process group, never this session: Ray is stopped by this keeper alone,
in one way, whatever happened to the driver.

It imports nothing of copytrace (it is run by path, so the package's ``__init__`` is not loaded either).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import sys
import threading
import time
from collections.abc import Collection

KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL
# What a job's Ray on one machine does without: metrics (collected and exported every few seconds by every
# process, for a dashboard nobody opens). Passed as ``ray.init(_system_config=...)``.
SYSTEM_CONFIG = {"enable_metrics_collection": False}


def session_members(sid: int, spare: Collection[int] = ()) -> list[int]:
    """The live processes of session ``sid`` but this one and ``spare`` (zombies are dead: they are not
    counted)."""
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
        if len(fields) > 3 and fields[0] != b"Z" and int(fields[3]) == sid and int(name) not in spare:
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


def stop_session(sid: int, spare: Collection[int] = (), group: int | None = None) -> None:
    """SIGTERM to every other process of the session but ``spare``, then SIGKILL to what is left after
    ``KILL_GRACE`` (Ray's agents have been seen to ignore SIGTERM for most of a minute).  Without /proc,
    SIGKILL to process group ``group`` (this process's own by default): the best there is."""
    if not os.path.isdir("/proc"):
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(0) if group is None else group, signal.SIGKILL)
        return
    _signal_all(session_members(sid, spare), signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE
    while time.monotonic() < deadline and session_members(sid, spare):
        _reap()
        time.sleep(0.05)
    for _ in range(100):  # new processes may still be starting (a worker Ray was forking): until none
        _reap()
        left = session_members(sid, spare)
        if not left:
            return
        _signal_all(left, signal.SIGKILL)
        time.sleep(0.05)


_FINISHING = threading.Lock()
_REMOVER: list[int] = []  # the child that removes the folder once this process is gone (``leave_remover``)
REMOVER_POLL = 0.5  # seconds between the remover's looks at its parent, should the pipe's end be late
REMOVE_TRIES = 20  # passes of the remover over the folder, 0.05 s apart, until it is gone


def _finish(temp_dir: str, code: int) -> None:
    """Stop the session's processes (but the remover) and exit; the remover removes the folder then.

    The keeper's main thread may be inside ``ray.init`` when the driver goes: it goes on making folders and
    files in ``temp_dir`` (and may start one more of Ray's processes) until this process ends, so a folder
    removed from here could be left non-empty or made again.
    """
    if not _FINISHING.acquire(blocking=False):  # already under way in another thread (or this one, which a
        return  # signal interrupted): that call ends the process; a second one would stop its child
    stop_session(os.getsid(0), spare=_REMOVER)
    sys.stdout.flush()
    if not _REMOVER:  # none could be forked: remove it from here, as well as can be done
        shutil.rmtree(temp_dir, ignore_errors=True)
    os._exit(code)


def leave_remover(temp_dir: str) -> None:
    """Fork a child that waits for this process to be gone, however it goes, then stops what is left of
    the session and removes ``temp_dir``.

    Called first, while this process has one thread.  This process holds the write end of a pipe that
    nothing else holds (it is closed on exec, so none of Ray's processes inherit it): the child wakes at
    its end, when this process's last thread has gone and its files are closed, so nothing of it can
    write in ``temp_dir`` then.  It also looks at its parent every ``REMOVER_POLL`` s, should something
    forked from here and never exec'd still hold the pipe.  The child holds this process's standard output
    until it is done: the driver, which reads it to its end, knows that the folder is gone at end-of-file.
    A keeper that Ray's own code ends, or a SIGKILL, leaves no folder behind either.
    """
    keeper = os.getpid()
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no process to spare: ``_finish`` removes it, as well as it can
        os.close(read_end)
        os.close(write_end)
        return
    if pid:
        os.close(read_end)
        _REMOVER.append(pid)  # the write end stays open for this process's life
        return
    try:  # the child
        os.close(write_end)
        os.setpgid(0, 0)  # a group of its own: the keeper's, killed whole where there is no /proc, is not it
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # it goes once its work is done (the driver may SIGKILL it)
        while os.getppid() == keeper:
            if select.select([read_end], [], [], REMOVER_POLL)[0] and not os.read(read_end, 1):
                break
        stop_session(os.getsid(0), group=keeper)  # the keeper leads its session and its group
        for _ in range(REMOVE_TRIES):  # a file made meanwhile by something outside the session fails a pass
            shutil.rmtree(temp_dir, ignore_errors=True)
            if not os.path.lexists(temp_dir):
                break
            time.sleep(0.05)
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
    leave_remover(temp_dir)
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
