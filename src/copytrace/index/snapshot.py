"""The on-disk form of an index: uncompressed, page-aligned arrays that ``read`` maps instead of copying.

Every process that maps the same file shares its pages through the operating system's page cache: two
service workers, or the Ray actors of one node, hold one copy of a bank however many of them search it.

Layout (all integers little-endian)::

    0     8 bytes   magic  b"CTINDEX3"
    8     8 bytes   header length H
    16    32 bytes  BLAKE2b-256 of the header
    48    H bytes   header: UTF-8 JSON {"format", "meta", "arrays": [{"name", "dtype", "shape", "offset"}]}
    ...   zero padding to a multiple of 4096
          each array's bytes at its ``offset`` (a multiple of 4096), zero padding between them

``write`` goes through a temporary file and a rename, so a reader sees the old file or the new one, never
half of one.  The temporary file is named ``<name>.<pid>.<random>.tmp`` and locked (``flock``) while it is
written: ``copytrace.banks.cache_dir`` removes those a dead process left.  A snapshot is written read-only
(0444): it is never changed in place, only replaced.

``read`` refuses anything that is not exactly such a file: a symbolic link (the path is opened with
``O_NOFOLLOW``), a FIFO, device or folder (checked before anything is read, so a FIFO cannot hang it),
another magic, a header that does not match its checksum, an unknown format, or arrays that run past the end
(a truncated file).  It checks the header and the file's size, not every byte of the arrays (that would read
them all): the index checks the arrays' bounds as it opens them, so a corrupt array can give wrong answers
but never read out of bounds.  With ``origin``, the snapshot must have been written with exactly that origin
(``StaleSnapshotError`` otherwise): a cache records there which state of which store it was derived from.

A mapped file truncated by another program while it is mapped cannot be guarded against from Python: the
process that touches a page past the new end gets SIGBUS and dies (``docs/index.md`` says how the service
notices it first, and recovers).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import CopytraceError

MAGIC = b"CTINDEX3"
ALIGN = 4096
_PREFIX = 48
_MAX_HEADER = 1 << 30


class SnapshotError(CopytraceError):
    """A file is not a readable index snapshot: what is wrong with it, and that it should be rebuilt."""


class StaleSnapshotError(SnapshotError):
    """A readable snapshot derived from another store, or another state of it, than the one asked for."""


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass(frozen=True)
class Placeholder:
    """An array of a snapshot that ``writer`` lays out and the caller fills in place."""

    dtype: np.dtype[Any]
    length: int

    @property
    def shape(self) -> tuple[int]:
        return (self.length,)

    @property
    def nbytes(self) -> int:
        return self.dtype.itemsize * self.length


def _layout(
    fmt: str, meta: dict[str, Any], arrays: dict[str, np.ndarray | Placeholder]
) -> tuple[bytes, list[int], int]:
    """The header bytes, each array's offset and the file's size (the header's length moves the
    offsets: iterate)."""
    start = ALIGN
    while True:
        offsets, at, entries = [], start, []
        for name, a in arrays.items():
            offsets.append(at)
            entries.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": at})
            at = _aligned(at + a.nbytes)
        header = json.dumps({"format": fmt, "meta": meta, "arrays": entries}).encode("utf-8")
        if _PREFIX + len(header) <= start:
            return header, offsets, at
        start = _aligned(_PREFIX + len(header))


def _dump(fh: BinaryIO, fmt: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    header, offsets, _ = _layout(fmt, meta, dict(arrays))
    digest = hashlib.blake2b(header, digest_size=32).digest()
    fh.write(MAGIC + len(header).to_bytes(8, "little") + digest + header)
    at = _PREFIX + len(header)
    for offset, a in zip(offsets, arrays.values(), strict=True):
        fh.write(b"\0" * (offset - at))
        data = np.ascontiguousarray(a)
        if data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("<"))
        fh.write(data.tobytes() if data.nbytes < (1 << 24) else memoryview(data.view(np.uint8)))  # type: ignore[arg-type]
        at = offset + data.nbytes
    fh.write(b"\0" * (_aligned(at) - at))


TEMPORARY_SUFFIX = ".tmp"


@contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    """A new file beside ``path`` for its next contents, locked while this block runs and removed unless it
    was renamed into place.  Its name carries the process id (processes may save the same index at once)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until the end: a cleaner sees the file is being written
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)


def _publish(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk, make it read-only and rename it to ``path``."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o444)
    os.replace(tmp, path)


def write(
    target: str | os.PathLike[str] | BinaryIO, fmt: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Write a snapshot to a path (atomically: temporary file, fsync, rename; read-only) or to a binary
    stream."""
    if not isinstance(target, (str, os.PathLike)):
        _dump(target, fmt, meta, arrays)
        return
    path = Path(target)
    with _temporary(path) as tmp:
        with open(tmp, "wb") as fh:
            _dump(fh, fmt, meta, arrays)
        _publish(tmp, path)


class Column:
    """A ``Placeholder`` array of a snapshot being written (``writer``): ``column[start:stop] = values``
    writes the values at their place in the file with ``os.pwrite``.

    Filling a writable map of the new file instead faulted its pages in one at a time (the file is a hole
    until written), and its flush wrote them all at the end: at a million items that was a sixth of the
    build.  Each write here also asks the writer's flusher to start writing the file out (``fsync`` in a
    thread), so that the disk works while the next part is computed."""

    def __init__(self, fd: int, offset: int, dtype: np.dtype[Any], length: int, flusher: _Flusher) -> None:
        self.fd, self.offset, self.dtype, self.length = fd, offset, dtype, length
        self._flusher = flusher

    def __len__(self) -> int:
        return self.length

    def __setitem__(self, where: slice, values: np.ndarray) -> None:
        start, stop, step = where.indices(self.length)
        if step != 1 or len(values) != stop - start:
            raise ValueError(f"{len(values)} values for [{start}:{stop}:{step}] of a {self.length} array")
        data = memoryview(np.ascontiguousarray(values, dtype=self.dtype.newbyteorder("<"))).cast("B")  # type: ignore[arg-type]
        at = self.offset + start * self.dtype.itemsize
        while len(data):
            done = os.pwrite(self.fd, data, at)
            data, at = data[done:], at + done
        self._flusher.kick()


class _Flusher:
    """``fsync`` of one file in a thread, started again whenever kicked after it finished: the file is
    written out while it is being filled, and the last ``fsync`` (``_publish``) has little left to do."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wanted = threading.Event()
        self._done = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="copytrace-snapshot-flush", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._done:
                return
            try:
                os.fsync(self._fd)
            except OSError as exc:  # raised by ``close``, in the writing thread
                self._error = exc
                return

    def close(self) -> None:
        """Stop the thread; raise what its ``fsync`` raised, if anything."""
        self._done = True
        self._wanted.set()
        self._thread.join()
        if self._error is not None:
            raise self._error


@contextmanager
def writer(
    target: str | os.PathLike[str],
    fmt: str,
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray | Placeholder],
) -> Iterator[dict[str, Column]]:
    """Lay out a snapshot whose ``Placeholder`` arrays the caller fills: yields them as ``Column`` writers
    of the file.  When the block ends without error the file is flushed and renamed into place (atomically,
    as ``write``); an error leaves nothing behind.  For arrays too large to hold in memory beside the file."""
    path = Path(target)
    header, offsets, size = _layout(fmt, meta, arrays)
    with _temporary(path) as tmp, open(tmp, "r+b") as fh:
        fh.write(MAGIC + len(header).to_bytes(8, "little") + hashlib.blake2b(header, digest_size=32).digest())
        fh.write(header)
        for offset, a in zip(offsets, arrays.values(), strict=True):
            if isinstance(a, np.ndarray) and a.nbytes:
                fh.seek(offset)
                fh.write(memoryview(np.ascontiguousarray(a).view(np.uint8)))  # type: ignore[arg-type]
        fh.truncate(size)
        fh.flush()
        flusher = _Flusher(fh.fileno())
        try:
            yield {
                name: Column(fh.fileno(), offset, a.dtype, a.length, flusher)
                for (name, a), offset in zip(arrays.items(), offsets, strict=True)
                if isinstance(a, Placeholder)
            }
        finally:
            flusher.close()
        _publish(tmp, path)


def _origin(origin: object) -> str:
    """``store 9f2c…, generation 3`` for a message (the origin's own words when it has another form)."""
    if not isinstance(origin, dict):
        return "an unknown source"
    store = str(origin.get("store", "?"))
    return f"store {store[:8]}, generation {origin.get('generation', '?')}"


def _name(source: object) -> str:
    return repr(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else "stream"


def _open_regular(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor of the regular file at ``path``: a symbolic link, FIFO, device or folder is a
    ``SnapshotError`` (opened without blocking, so a FIFO with no writer cannot hang the caller)."""
    name = _name(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise SnapshotError(f"{name} is a symbolic link, not an index snapshot") from exc
        raise SnapshotError(f"cannot read index snapshot {name}: {exc.strerror}") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise SnapshotError(f"{name} is {kind}, not an index snapshot")
    return fd


def read(
    source: str | os.PathLike[str] | BinaryIO, fmt: str, *, origin: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The meta and the arrays of a snapshot of format ``fmt``.  A path is memory-mapped read-only (the
    arrays are views of the mapping, shared with every process that maps the file); a stream is read.
    With ``origin``, a snapshot whose meta records another ``origin`` is a ``StaleSnapshotError``."""
    name = _name(source)
    buf: mmap.mmap | bytes
    if isinstance(source, (str, os.PathLike)):
        fd = _open_regular(source)
        try:
            size = os.fstat(fd).st_size
            if size < _PREFIX:
                raise SnapshotError(f"{name} is not an index snapshot (only {size} bytes)")
            # MAP_POPULATE maps every page now (from the page cache, or reading the file): queries then
            # never stop on a page fault.  Pages stay shared with every other process mapping the file.
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            buf = mmap.mmap(fd, 0, flags=flags, prot=mmap.PROT_READ)
        except OSError as exc:
            raise SnapshotError(f"cannot read index snapshot {name}: {exc}") from exc
        finally:
            os.close(fd)
    else:
        try:
            buf = source.read()
        except OSError as exc:
            raise SnapshotError(f"cannot read index snapshot {name}: {exc}") from exc
    size = len(buf)
    if size < _PREFIX or buf[:8] != MAGIC:
        raise SnapshotError(f"{name} is not a {fmt} snapshot (bad magic number)")
    length = int.from_bytes(buf[8:16], "little")
    if length > min(_MAX_HEADER, size - _PREFIX):
        raise SnapshotError(f"{name} is truncated or corrupt: its header runs past the end of the file")
    header = bytes(buf[_PREFIX : _PREFIX + length])
    if hashlib.blake2b(header, digest_size=32).digest() != buf[16:48]:
        raise SnapshotError(f"{name} is corrupt: its header does not match its checksum")
    try:
        parsed = json.loads(header.decode("utf-8"))
        if parsed["format"] != fmt:
            raise SnapshotError(f"{name} is a {parsed['format']!r} snapshot, not {fmt}")
        if origin is not None and parsed["meta"].get("origin") != origin:
            raise StaleSnapshotError(
                f"{name} was made from {_origin(parsed['meta'].get('origin'))}, not {_origin(origin)}"
            )
        arrays: dict[str, np.ndarray] = {}
        for entry in parsed["arrays"]:
            dtype = np.dtype(entry["dtype"])
            shape = tuple(int(d) for d in entry["shape"])
            offset = int(entry["offset"])
            count = int(np.prod(shape, dtype=np.int64))
            if offset % ALIGN or offset < _PREFIX + length or offset + count * dtype.itemsize > size:
                raise SnapshotError(f"{name} is truncated: array {entry['name']!r} runs past the end")
            arrays[entry["name"]] = np.frombuffer(buf, dtype=dtype, count=count, offset=offset).reshape(shape)
        return parsed["meta"], arrays
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"{name} has a malformed header: {exc}") from exc
