"""The progress of a batch job (``scan``, ``cluster``) on standard error, on a terminal or not.

``--progress auto`` (the default) draws a bar on a terminal and, anywhere else (nohup, a container, a CI
log), writes one line every ``--progress-interval`` seconds (10 by default)::

    copytrace: scan: 120,000 documents, 45.1 MB of 118.2 MB (38%), 2,150 docs/s, 34 s left

``lines`` writes those lines on a terminal too, ``json`` writes the same as one JSON object a line (``event``:
``ray``, ``stage``, ``progress``, ``done``) and ``none`` nothing.  The rate counts from when Ray is up:
Ray's start-up is reported on its own (a line, an ``event: ray`` object, the bar's caption), so it does not
make the first minutes look slow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from typing import Any

MODES = ("auto", "bar", "lines", "json", "none")
DEFAULT_INTERVAL = 10.0


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid interval {text!r}: a number of seconds above 0")
    return value


def add_progress_options(p: argparse.ArgumentParser) -> None:
    """``--progress`` and ``--progress-interval``, as every batch command has them."""
    p.add_argument(
        "--progress",
        choices=MODES,
        default="auto",
        help="how progress is shown on stderr: a bar on a terminal and lines elsewhere (auto, the default), "
        "bar, lines, json (one object a line) or none",
    )
    p.add_argument(
        "--progress-interval",
        type=_interval,
        default=DEFAULT_INTERVAL,
        metavar="S",
        help=f"seconds between progress lines (default: {DEFAULT_INTERVAL:g})",
    )


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class JobProgress:
    """What a job has done, shown as ``mode`` says; ``stage``, ``ray_ready`` and ``block`` are the job's
    callbacks, ``stop`` ends the display."""

    def __init__(
        self, command: str, mode: str = "auto", interval: float = DEFAULT_INTERVAL, *, engine: str = "Ray"
    ) -> None:
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.command, self.mode, self.interval = command, mode, interval
        self.engine = engine  # what starts before the work: "Ray", or the local executor's "workers"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None
        self._task: Any = None
        self.stage_name = command
        self.total_bytes = self.documents = self.nbytes = 0
        self.clock = time.perf_counter()  # when the rate's count starts: the stage's start or Ray's
        self.ray_up = False

    @classmethod
    def from_args(cls, args: argparse.Namespace, command: str, *, engine: str = "Ray") -> JobProgress:
        return cls(command, args.progress, args.progress_interval, engine=engine)

    # ---------------------------------------------------------------------------- the job's callbacks
    def stage(self, name: str, blocks: int, nbytes: int) -> None:
        """A pass over ``blocks`` blocks of ``nbytes`` bytes begins (``scan`` has one, ``cluster`` three)."""
        with self._lock:
            self.stage_name, self.total_bytes, self.documents, self.nbytes = name, nbytes, 0, 0
            self.clock = time.perf_counter()
        if self.mode == "json":
            self._emit({"event": "stage", "stage": name, "blocks": blocks, "total_bytes": nbytes})
        elif self.mode == "bar":
            self._start_bar()
        if self.mode in ("lines", "json") and self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="copytrace-progress", daemon=True)
            self._thread.start()

    def ray_ready(self, cluster: dict[str, Any]) -> None:
        """Ray is up: reported on its own, and the rate counts from now."""
        with self._lock:
            self.clock = time.perf_counter()
            self.ray_up = True
        seconds = float(cluster.get("start_seconds") or 0.0)
        local = cluster.get("executor") == "processes"
        if self.mode == "json":
            if local:
                self._emit({"event": "workers", **{k: cluster.get(k) for k in _LOCAL_FIELDS}})
            else:
                self._emit({"event": "ray", **{k: cluster.get(k) for k in _RAY_FIELDS}})
            return
        if local:
            what = f"started {cluster.get('workers')} worker process(es) on this machine in {seconds:.1f} s"
        elif cluster.get("private"):
            what = f"started a private Ray on this machine in {seconds:.1f} s"
        else:
            what = f"joined the Ray cluster at {cluster.get('address')} in {seconds:.1f} s"
        line = f"{what} ({cluster.get('nodes')} node(s), {cluster.get('cpus')} CPUs)"
        if self.mode == "lines":
            self._line(line)
        elif self.mode == "bar" and self._bar is not None:
            self._bar.console.print(f"copytrace: {self.command}: {line}", highlight=False)
            self._update_bar()

    def block(self, stats: dict[str, Any]) -> None:
        with self._lock:
            self.documents += int(stats.get("documents", 0))
            self.nbytes += int(stats.get("bytes", 0))
        if self.mode == "bar":
            self._update_bar(advance=int(stats.get("bytes", 0)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None
            if self.mode == "json":
                self._emit({"event": "done", **self.snapshot()})
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    # ---------------------------------------------------------------------------------- the numbers
    def snapshot(self) -> dict[str, Any]:
        """Where the current stage stands: documents, bytes, documents/s and seconds left (None when not
        known yet)."""
        with self._lock:
            elapsed = time.perf_counter() - self.clock
            docs, done, total, up = self.documents, self.nbytes, self.total_bytes, self.ray_up
        rate = docs / elapsed if up and docs and elapsed > 0 else None
        left = (total - done) * elapsed / done if up and done and total >= done else None
        return {
            "stage": self.stage_name,
            "documents": docs,
            "bytes": done,
            "total_bytes": total,
            "docs_per_second": round(rate, 1) if rate is not None else None,
            "eta_seconds": round(left, 1) if left is not None else None,
            "ray_started": up,
        }

    def text(self) -> str:
        s = self.snapshot()
        stage = f"{s['stage']}: " if s["stage"] != self.command else ""
        if not s["ray_started"]:
            return f"{stage}waiting for {self.engine} to start"
        share = f" ({100 * s['bytes'] / s['total_bytes']:.0f}%)" if s["total_bytes"] else ""
        rate = f"{s['docs_per_second']:,.0f} docs/s" if s["docs_per_second"] is not None else "- docs/s"
        left = f"{_duration(s['eta_seconds'])} left" if s["eta_seconds"] is not None else "time left unknown"
        return (
            f"{stage}{s['documents']:,} documents, {_size(s['bytes'])} of {_size(s['total_bytes'])}"
            f"{share}, {rate}, {left}"
        )

    # ---------------------------------------------------------------------------------- the outputs
    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            if self.mode == "json":
                self._emit({"event": "progress", **self.snapshot()})
            else:
                self._line(self.text())

    def _line(self, text: str) -> None:
        self._write(f"copytrace: {self.command}: {text}")

    def _emit(self, record: dict[str, Any]) -> None:
        self._write(json.dumps({"command": self.command, **record}))

    def _write(self, text: str) -> None:
        from ..batch.interrupts import EXITING

        if EXITING.is_set():  # the job is being stopped: its one line is the last word
            return
        with contextlib.suppress(OSError, ValueError):  # stderr closed: not worth failing the job for
            print(text, file=sys.stderr, flush=True)

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TextColumn("{task.fields[docs]:,} docs  {task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
        elif self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(self.stage_name, total=max(self.total_bytes, 1), docs=0, rate="")
        self._update_bar()

    def _update_bar(self, advance: int = 0) -> None:
        if self._bar is None or self._task is None:
            return
        s = self.snapshot()
        rate = f"{s['docs_per_second']:,.0f} docs/s" if s["docs_per_second"] is not None else ""
        caption = s["stage"] if s["ray_started"] else f"{s['stage']} (starting {self.engine})"
        self._bar.update(self._task, advance=advance, docs=s["documents"], rate=rate, description=caption)


_RAY_FIELDS = ("address", "gcs_address", "private", "nodes", "cpus", "start_seconds")
_LOCAL_FIELDS = ("executor", "nodes", "cpus", "workers", "start_seconds")
