"""The output folder of a batch job, and what lets a killed job resume exactly once.

Layout of ``--out DIR``::

    DIR/job.json             what the job is: command, inputs, banks, options (a resume must match it)
    DIR/index.ctidx          the banks' index the job searches, pinned for its whole life (resumes too)
    DIR/parts/KEY.parquet    the rows of one finished block
    DIR/done/KEY.json        the block's completion marker: its statistics and bad records
    DIR/matches.parquet ...  the job's results, gathered from the parts of the planned blocks
    DIR/summary.json
    DIR/ray.log              what Ray's core printed while the job ran

Only the driver writes here (workers return a block's rows and statistics to it), so the folder needs to be
on the driver's machine only.  A block's part is written (to a temporary name, flushed, renamed) before its
marker, and a result is gathered only from blocks that have a marker: a job killed at any point leaves
blocks done or not done, never half done, and a block done twice (a worker retried by Ray) writes the same
part again under the same name.  Everything is gathered from the parts of the blocks planned now, so stale
parts of an earlier plan never reach the results.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CopytraceError


class ResumeError(CopytraceError):
    """``--out`` holds another job, or a job run with other inputs or options than the one resumed."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file that is flushed to disk and renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class JobDir:
    """The output folder of one job (``job.json`` says which)."""

    root: Path

    @property
    def job_file(self) -> Path:
        return self.root / "job.json"

    @property
    def index_file(self) -> Path:
        return self.root / "index.ctidx"

    def part(self, key: str) -> Path:
        return self.root / "parts" / f"{key}.parquet"

    def marker(self, key: str) -> Path:
        return self.root / "done" / f"{key}.json"

    def open(self, job: dict[str, Any], *, resume: bool) -> bool:
        """Prepare the folder for ``job``; True when it resumes an earlier run of the same job.

        A folder holding another job's output, or this job's without ``resume``, is refused rather than
        mixed or overwritten.
        """
        if self.root.exists() and not self.root.is_dir():
            raise ResumeError(f"{self.root}: --out must be a folder, and this is a file")
        earlier = self._earlier()
        if earlier is None:
            if self.root.exists() and any(p.name != "ray.log" for p in self.root.iterdir()) and not resume:
                raise ResumeError(f"{self.root}: --out is not empty; name a new folder (or an empty one)")
            for sub in ("parts", "done"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            write_atomic(self.job_file, (json.dumps(job, indent=2) + "\n").encode())
            return False
        if not resume:
            raise ResumeError(
                f"{self.root} holds the output of an earlier {earlier.get('command', 'job')}: resume it with "
                "--resume, or name another --out folder"
            )
        differs = [k for k in sorted(set(job) | set(earlier)) if job.get(k) != earlier.get(k)]
        if differs:
            what = "; ".join(f"{k}: {earlier.get(k)!r} then, {job.get(k)!r} now" for k in differs)
            raise ResumeError(
                f"{self.root} holds a job run with other inputs or options ({what}); resume it with the "
                "same command line, or name another --out folder"
            )
        for sub in ("parts", "done"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return True

    def _earlier(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.job_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ResumeError(f"{self.job_file}: unreadable ({exc}); name another --out folder") from exc
        if not isinstance(value, dict):
            raise ResumeError(f"{self.job_file}: not a job description; name another --out folder")
        return value

    def finished(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The markers of those of ``keys`` that are done (a marker that cannot be read is not done)."""
        done: dict[str, dict[str, Any]] = {}
        for key in keys:
            path = self.marker(key)
            try:
                stats = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError):
                path.unlink(missing_ok=True)
                continue
            if isinstance(stats, dict) and self.part(key).exists():
                done[key] = stats
        return done

    def complete(self, key: str, part: bytes, stats: dict[str, Any]) -> None:
        """Record a finished block: its part first, then its marker."""
        write_atomic(self.part(key), part)
        write_atomic(self.marker(key), (json.dumps(stats) + "\n").encode())
