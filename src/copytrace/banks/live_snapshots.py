"""The snapshot files of a live index: named for the store, locked while written, watched while mapped.

A live index saves its snapshot as ``<folder>/live-<digest of store URL and params>-<store id>-g<generation>
.ctidx``, so every worker of a server maps the same file, and a start loads the newest one at most as new as
the store.  One process at a time builds or saves (``lock``: an advisory lock the system drops if its
process dies).  The items quarantined when a snapshot was saved are not in it, and a start from it replays
only newer changes, so they are listed beside it (``write_quarantine``).  The folder must be private
(``cache_dir.private_folder``).  ``Mapped`` watches the file an index maps: another program that truncates
or rewrites it makes the index stop answering from it (``docs/service.md``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..fingerprints.fingerprint import FingerprintParams
from .cache_dir import held_lock, private_folder

log = logging.getLogger("copytrace.service")

SUFFIX = ".ctidx"
TOKENS = ".tokens"  # ``<snapshot>.tokens``: its token sidecar (``index.token_sidecar``)


def quarantine_path(snapshot: Path) -> Path:
    """The items quarantined when ``snapshot`` was saved, beside it: they are not in it, and a start from
    it replays only newer changes, so without this list it would forget them."""
    return snapshot.with_suffix(".quarantine.json")


def read_quarantine(snapshot: Path) -> dict[tuple[str, str], str]:
    path = quarantine_path(snapshot)
    try:
        rows = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
        return {(str(b), str(i)): str(r) for b, i, r in rows}
    except (OSError, ValueError, TypeError) as exc:
        log.warning("ignoring unreadable quarantine list %s: %s", path, exc)
        return {}


def write_quarantine(snapshot: Path, quarantined: dict[tuple[str, str], str]) -> None:
    rows = [[b, i, r] for (b, i), r in quarantined.items()]
    if rows:
        quarantine_path(snapshot).write_text(json.dumps(rows), encoding="utf-8")


class LiveSnapshots:
    """The snapshots of the live index of the store at ``url`` with ``params``, in ``folder`` (None: none)."""

    def __init__(self, folder: Path | None, url: str, params: FingerprintParams) -> None:
        self.folder = folder
        self.url = url
        self.params = params
        self._usable: bool | None = None  # the folder checked private (once)

    def stem(self, store_id: str | None) -> Path | None:
        """``<dir>/live-<store, store id and params digest>``: snapshots are ``<stem>-g<generation>.ctidx``.
        None without a snapshot folder, or when the folder is not private (``cache_dir.private_folder``)."""
        if self.folder is None or store_id is None:
            return None
        if self._usable is None:
            self._usable = private_folder(self.folder)
        if not self._usable:
            return None
        return self.folder / f"{self._prefix()}{store_id[:12]}"

    def _prefix(self) -> str:
        """``live-<store URL and params digest>-``: the snapshots of every store that was at the URL."""
        return f"live-{hashlib.sha256(f'{self.url}|{self.params}'.encode()).hexdigest()[:24]}-"

    @staticmethod
    def path(stem: Path, generation: int) -> Path:
        return stem.with_name(f"{stem.name}-g{generation}{SUFFIX}")

    def remove_other_stores(self, stem: Path) -> None:
        """Delete the snapshots of the stores that were at this URL before (other store ids)."""
        for path in stem.parent.glob(self._prefix() + "*"):
            ours = path.name.startswith(stem.name + "-g") or path.name.startswith(stem.name + ".")
            if not ours:
                log.info("deleting %s: a snapshot of a store that was at %s before", path, self.url)
                path.unlink(missing_ok=True)

    @contextmanager
    def lock(self, stem: Path | None, *, wait: bool) -> Iterator[bool]:
        """Hold ``<stem>.lock`` (an advisory lock the system drops if its process dies): yields whether it
        is held.  ``wait`` blocks while another process holds it; otherwise it gives up at once."""
        if stem is None:
            yield False
            return
        with held_lock(stem.with_name(stem.name + ".lock"), wait=wait, what="snapshot directory") as held:
            yield held

    def newest(self, stem: Path | None, upto: int) -> tuple[Path, int] | None:
        """The newest snapshot of a generation at most ``upto``, with its generation."""
        if stem is None or not stem.parent.is_dir():
            return None
        prefix = stem.name + "-g"
        found = []
        for p in stem.parent.glob(prefix + "*" + SUFFIX):
            try:
                g = int(p.name[len(prefix) : -len(SUFFIX)])
            except ValueError:
                continue
            if g <= upto:
                found.append((g, p))
        if not found:
            return None
        g, p = max(found)
        return p, g

    @staticmethod
    def drop_others(stem: Path, keep: Path) -> None:
        """Delete the snapshots of ``stem`` but ``keep`` (older ones, and those of the format before)."""
        for old in [*stem.parent.glob(f"{stem.name}-g*{SUFFIX}"), *stem.parent.glob(f"{stem.name}-g*.npz")]:
            if old != keep:
                old.unlink(missing_ok=True)
                quarantine_path(old).unlink(missing_ok=True)
                for sidecar in (TOKENS, TOKENS + ".lock"):  # its token sidecar (``live_tokens``)
                    old.with_name(old.name + sidecar).unlink(missing_ok=True)
        LiveSnapshots.drop_orphan_sidecars(stem)

    @staticmethod
    def drop_orphan_sidecars(stem: Path) -> None:
        """Delete the token sidecars (and their locks) of ``stem`` whose snapshot is gone: deleted while
        its sidecar was written, set aside as damaged, or deleted as stale."""
        for sidecar in [
            *stem.parent.glob(f"{stem.name}-g*{SUFFIX}{TOKENS}"),
            *stem.parent.glob(f"{stem.name}-g*{SUFFIX}{TOKENS}.lock"),
        ]:
            snapshot = sidecar.with_name(sidecar.name[: sidecar.name.index(SUFFIX) + len(SUFFIX)])
            if not snapshot.exists():
                sidecar.unlink(missing_ok=True)


@dataclass
class Mapped:
    """The snapshot file an index maps, held open: its size and modification time when it was mapped.

    The file may be deleted meanwhile (a newer snapshot replaced it): the open descriptor still tells what
    the mapping reads.  A change means another program wrote to it, which snapshots never are."""

    path: Path
    fd: int
    size: int
    mtime_ns: int

    @classmethod
    def watch(cls, path: Path) -> Mapped | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        info = os.fstat(fd)
        return cls(path, fd, info.st_size, info.st_mtime_ns)

    def changed(self) -> str | None:
        """What changed since the file was mapped (its size, or its contents), or None."""
        info = os.fstat(self.fd)
        if info.st_size != self.size:
            return f"{self.size} bytes when mapped, {info.st_size} now"
        if info.st_mtime_ns != self.mtime_ns:
            return "written to since it was mapped"
        return None

    def set_aside(self) -> None:
        """Rename the file ``<name>.damaged`` (when it is still the one mapped), so that it is not mapped
        again, and kept for a look."""
        try:
            if os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(self.fd).st_ino:
                self.path.replace(self.path.with_name(self.path.name + ".damaged"))
        except OSError as exc:
            log.warning("cannot set the changed snapshot %s aside: %s", self.path, exc)

    def close(self) -> None:
        os.close(self.fd)
