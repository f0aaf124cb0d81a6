"""The banks' index (or any read-only file of a job), opened once per machine of a Ray cluster and shared by
every worker on it.

The driver writes the index as a snapshot (``Index.save``) and hands workers a ``SharedIndex``: the path,
the file's digest, and the driver's node.  A worker on the driver's node maps that file; all workers of a
node map the same file, so its pages sit once in the page cache and count once however many workers read
them.  A worker on another node cannot see the driver's disk: the first on its node copies the snapshot out
of Ray's object store into a node-local file named by the digest (under a lock, so once per node), and every
worker there maps that.  The bytes go into the object store only when the cluster has more than one node.
``SharedFile`` does the same for any other file a job's workers read (the texts of a corpus, for ``cluster``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from ..fingerprints.keys import Key
    from ..index import Index, TextLookup
    from ..index.match import MatchParams


def file_digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass(frozen=True)
class SharedFile:
    """How a worker finds a file of the driver's: ``blob`` is ``[ObjectRef]`` of the file's bytes (wrapped in
    a list so that Ray does not fetch it for workers on the driver's node), or None on a one-node cluster."""

    path: str
    digest: str
    size: int
    node: str
    blob: list[Any] | None = None

    @classmethod
    def publish(cls, path: Path) -> Self:
        """Share the file at ``path`` (on the driver's machine) with the workers of the running Ray.  The
        path is made absolute here: a worker's current folder is not the driver's."""
        import numpy as np
        import ray

        path = Path(os.path.abspath(path))
        node = ray.get_runtime_context().get_node_id()
        nodes = [n for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
        blob = None
        if len(nodes) > 1:
            blob = [ray.put(np.fromfile(path, dtype=np.uint8))]
        return cls(str(path), file_digest(path), path.stat().st_size, node, blob)

    def local_path(self) -> Path:
        """The file on this worker's machine: the driver's file, or a copy made once per node."""
        if self.blob is None:  # one machine (or the local executor, which needs no Ray)
            return Path(self.path)
        import ray

        if ray.get_runtime_context().get_node_id() == self.node:
            return Path(self.path)
        base = Path(
            os.environ.get("COPYTRACE_CACHE") or Path(tempfile.gettempdir()) / f"copytrace-{os.getuid()}"
        )
        target = base / "shared-index" / f"{self.digest}{Path(self.path).suffix}"
        if target.exists() and target.stat().st_size == self.size:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.with_suffix(".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker of the node copies, the others wait
            if not (target.exists() and target.stat().st_size == self.size):
                data = ray.get(self.blob[0])
                tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                with open(tmp, "wb") as fh:
                    fh.write(memoryview(data))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
        return target


@dataclass(frozen=True)
class SharedIndex(SharedFile):
    """How a worker finds the job's index (a snapshot): a ``SharedFile`` it can open as an ``Index``."""

    def open(self, *, key: Key | None, match_params: MatchParams, text_lookup: TextLookup | None) -> Index:
        """Map the index for this worker."""
        from ..index import Index

        return Index.load(self.local_path(), key=key, match_params=match_params, text_lookup=text_lookup)
