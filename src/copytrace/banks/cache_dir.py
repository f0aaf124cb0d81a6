"""The folders that hold snapshots derived from a store: the CLI's index cache and the service's snapshots.

A snapshot in such a folder is believed by whoever maps it next, so the folder must be this user's alone:

- ``private_folder`` creates a missing folder with mode 0700, and refuses an existing one that is not a real
  folder (a symbolic link), belongs to another user, or is writable by its group or by others: one warning
  names it and says how to fix it, and the caller does without it (the CLI builds the index in memory, the
  service keeps its index in memory), slower but never wrong.
- ``remove_orphans`` deletes what processes that died while writing left behind: temporary snapshot files
  (``<name>.<pid>.<random>.tmp``, ``copytrace.index.snapshot``) and build folders
  (``copytrace-build-<pid>-...``, ``copytrace.index.snapshot_build``).  A writer holds an ``flock`` on its
  file or folder for as long as it writes;
  one is removed only when its process is gone and nobody holds its lock (a folder from a version that did
  not name the process, only once it is an hour old and unlocked).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..index.snapshot_build import BUILD_PREFIX

log = logging.getLogger("copytrace.cache")

_TEMPORARY = re.compile(r"\.(\d+)(?:\.[0-9a-f]{8})?\.tmp$")  # <name>.<pid>[.<random>].tmp
_BUILD = re.compile(re.escape(BUILD_PREFIX) + r"(?:(\d+)-)?")
_UNNAMED_AGE = 3600.0  # seconds before an unlocked build folder that names no process is taken for dead


def private_folder(folder: Path) -> bool:
    """Whether ``folder`` can hold snapshots: created (0700) when missing; an existing one must be a folder
    of this user's that no other user can write to.  Otherwise one warning, and False."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
    except OSError as exc:
        log.warning("cannot use the cache folder %s: %s", folder, exc.strerror or exc)
        return False
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = "it is a symbolic link or not a folder"
    elif info.st_uid != os.geteuid():
        problem = f"it belongs to another user (uid {info.st_uid})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"other users can write to it (mode {stat.S_IMODE(info.st_mode):o}); chmod 700 {folder}"
    if problem is not None:
        log.warning(
            "not using the cache folder %s for index snapshots: %s; set COPYTRACE_CACHE to a folder "
            "of your own",
            folder,
            problem,
        )
        return False
    return True


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _locked(path: Path) -> bool:
    """Whether a process holds the ``flock`` of ``path`` (a file or a folder); True when it cannot tell."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return exc.errno != errno.ENOENT
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    finally:
        os.close(fd)  # releases the lock if it was taken
    return False


def remove_orphans(folder: Path) -> int:
    """Delete the temporary files and build folders in ``folder`` that dead processes left; returns how
    many.  What is in use, or may be, is left alone."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        path = Path(entry.path)
        temporary = _TEMPORARY.search(entry.name)
        build = _BUILD.match(entry.name)
        try:
            if temporary and entry.is_file(follow_symlinks=False):
                if _alive(int(temporary.group(1))) or _locked(path):
                    continue
                path.unlink()
            elif build and entry.is_dir(follow_symlinks=False):
                if build.group(1) is not None:
                    if _alive(int(build.group(1))):
                        continue
                elif time.time() - entry.stat(follow_symlinks=False).st_mtime < _UNNAMED_AGE:
                    continue
                if _locked(path):
                    continue
                shutil.rmtree(path)
            else:
                continue
        except FileNotFoundError:
            continue  # another process removed it first
        except OSError as exc:
            log.warning("cannot remove %s, left by a process that died: %s", path, exc.strerror or exc)
            continue
        removed += 1
    if removed:
        log.info("removed %d temporary file(s) and folder(s) of dead processes from %s", removed, folder)
    return removed


@contextmanager
def held_lock(path: Path, *, wait: bool, what: str) -> Iterator[bool]:
    """Hold the advisory lock file ``path`` (an ``flock`` the system drops if its process dies): yields
    whether it is held.  ``wait`` blocks while another process holds it; otherwise it gives up at once.  A
    lock file that cannot be opened is logged, naming ``what`` its folder is, and not held."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.warning("cannot use the %s %s: %s", what, path.parent, exc.strerror or exc)
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock
