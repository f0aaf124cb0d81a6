"""The output folder of a batch job, and what lets a killed job resume exactly once.

Layout of ``--out DIR``::

    DIR/job.json             what the job is: command, inputs, banks, options (a resume must match it)
    DIR/inputs.json          each input file's identity (size and mtime, or ETag/version) when last read
    DIR/index.ctidx          the banks' index the job searches, pinned for its whole life (resumes too)
    DIR/parts/KEY.parquet    the rows of one finished block
    DIR/done/KEY.json        the block's completion marker: its statistics and bad records
    DIR/matches.parquet ...  the job's results, gathered from the parts of the planned blocks
    DIR/summary.json
    DIR/ray.log              what Ray's core printed while the job ran (on Ray)

On Ray only the driver writes here (workers return a block's rows and statistics to it), so the folder needs
to be on the driver's machine only; worker processes forked on the driver's machine (``processes``) record
their own blocks here, with the same two steps (``JobDir.complete``). A block's part is written (to a
temporary name, flushed, renamed) before its marker, and a result is gathered only from blocks that have a
marker: a job killed at any point leaves blocks done or not done, never half done, and a block done twice (a
worker's block retried) writes the same part again under the same name. Everything is gathered from the parts
of the blocks planned now, so stale parts of an earlier plan never reach the results.

``--resume`` needs ``job.json``: a folder without one is refused, never filled.  A job that stopped before
any block was done (it failed, or was killed, early) has claimed nothing: the folder is reused by the next
run, with or without ``--resume``.  A block's key holds its file's identity, so a file changed since the
job started has new blocks; ``changed_inputs`` names those files for the job to rescan or refuse.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CopytraceError

if TYPE_CHECKING:
    from .inputs import Block

JOB_FILES = ("job.json", "inputs.json", "index.ctidx", "versions.ctidx", "corpus.ctidx", "texts.bin")


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

    @property
    def inputs_file(self) -> Path:
        return self.root / "inputs.json"

    def started(self) -> bool:
        """Whether any block of the job in this folder is done (it then holds work a run must not lose)."""
        done = self.root / "done"
        return done.is_dir() and any(p.suffix == ".json" for p in done.iterdir())

    def open(self, job: dict[str, Any], *, resume: bool) -> bool:
        """Prepare the folder for ``job``; True when it resumes an earlier run of the same job.

        A folder holding another job's output, or this job's without ``resume``, is refused rather than
        mixed or overwritten; ``resume`` into a folder that holds no job is refused too.  A folder whose job
        stopped before its first block is taken over as if empty.
        """
        if self.root.exists() and not self.root.is_dir():
            raise ResumeError(f"{self.root}: --out must be a folder, and this is a file")
        earlier = self._earlier()
        ours = earlier is not None  # a folder with our job.json holds nothing else worth keeping
        if earlier is not None and not self.started():
            self._clear_unstarted()
            earlier = None
        elif earlier is None and resume:
            raise ResumeError(
                f"{self.root}: --resume, but this folder holds no job to resume (no job.json); run the "
                "command without --resume to start one"
            )
        if earlier is None:
            if not ours and self.root.exists() and any(p.name != "ray.log" for p in self.root.iterdir()):
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

    def _clear_unstarted(self) -> None:
        """Remove what a job that did no block left: its description, pinned indexes and stray parts."""
        for sub in ("parts", "done"):
            folder = self.root / sub
            if folder.is_dir():
                for p in folder.iterdir():
                    if p.is_file() and p.suffix in (".parquet", ".json", ".tmp"):
                        p.unlink()
                if not any(folder.iterdir()):
                    folder.rmdir()
        for name in JOB_FILES:
            (self.root / name).unlink(missing_ok=True)
        for p in self.root.glob(".*.tmp"):
            p.unlink()

    def changed_inputs(self, identities: dict[str, str], *, record: bool = True) -> list[str]:
        """Each input file that differs from the last run's (``inputs.json``): changed, new or gone, as
        ``FILE (what)``; then, with ``record``, record ``identities`` as the last run's (a job that refuses
        the change keeps the earlier ones, so that every later resume is refused too)."""
        try:
            then = json.loads(self.inputs_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            then = None
        except (OSError, ValueError) as exc:
            raise ResumeError(f"{self.inputs_file}: unreadable ({exc}); name another --out folder") from exc
        changes: list[str] = []
        if isinstance(then, dict):
            for url, now in identities.items():
                if url not in then:
                    changes.append(f"{url} (new since the earlier run)")
                elif then[url] != now:
                    changes.append(f"{url} (changed: {then[url]} then, {now} now)")
            changes.extend(f"{url} (gone since the earlier run)" for url in then if url not in identities)
        if record or not isinstance(then, dict):
            write_atomic(self.inputs_file, (json.dumps(identities, indent=1) + "\n").encode())
        return changes

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


def lost_blocks(
    todo: list[Block], done: dict[str, Any], failed: list[dict[str, Any]], log_file: Path | None
) -> list[dict[str, Any]]:
    """The blocks of ``todo`` that came back neither done nor failed: the executor gave up on them after
    their worker died ``engine.MAX_TRIES`` times (killed, out of memory, crashed); each is a failed block
    with that reason, naming ``log_file`` (Ray's messages) when there is one."""
    from .engine import MAX_TRIES

    seen = set(done) | {f["key"] for f in failed}
    return [
        {
            "key": b.key,
            "file": b.where,
            "error": f"its worker died {MAX_TRIES} times working on it (killed, out of memory or crashed"
            + (f"; see {log_file})" if log_file is not None else "; any error it printed is on stderr)"),
        }
        for b in todo
        if b.key not in seen
    ]
