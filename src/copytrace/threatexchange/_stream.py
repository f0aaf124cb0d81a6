"""The serialised threatexchange indexes: a pickle that HMA's ``pickle.load`` turns into the index.

threatexchange's ``SignalTypeIndex.deserialize`` is ``pickle.load``, and HMA's matchers call it on the base
class for every signal type, so an index must serialise to a pickle stream that loads as the right class.
copytrace's indexes pickle as one call, ``restore(stream)``, whose argument is copytrace's own versioned
stream of length-prefixed blocks::

    block 0   MAGIC "copytrace-tx-<kind>/<version>\\n" + JSON header
    block 1+  the blocks of that kind (index snapshots; pickled entries last)

``restore`` refuses a stream of another kind or a newer version with an error that says so.  Streams written
before the pickle wrapper (the bare blocks) are still read by the classes' own ``deserialize``, which the
threatexchange CLI calls; HMA cannot read those and must rebuild its index (``docs/threatexchange.md``).
"""

from __future__ import annotations

import io
import pickle
import struct
import typing as t

from ..errors import CopytraceError

_LEGACY_PROBE = 64
"""Bytes read to tell a bare stream (written before the pickle wrapper) from a pickle."""


class IndexStreamError(CopytraceError):
    """A serialised threatexchange index that copytrace cannot read: another kind, a newer version, cut."""


def magic(kind: str, version: int) -> bytes:
    return f"copytrace-tx-{kind}/{version}\n".encode("ascii")


def write_block(fout: t.BinaryIO, data: bytes) -> None:
    fout.write(struct.pack("<Q", len(data)))
    fout.write(data)


def read_block(fin: t.BinaryIO) -> bytes:
    size = fin.read(8)
    if len(size) != 8:
        raise IndexStreamError("copytrace threatexchange index is truncated: rebuild it")
    (n,) = struct.unpack("<Q", size)
    data = fin.read(n)
    if len(data) != n:
        raise IndexStreamError("copytrace threatexchange index is truncated: rebuild it")
    return data


def check_header(head: bytes, kind: str, version: int) -> bytes:
    """The JSON header after the magic of ``head``; an ``IndexStreamError`` naming what it is otherwise."""
    expected = magic(kind, version)
    if head.startswith(expected):
        return head[len(expected) :]
    prefix = f"copytrace-tx-{kind}/".encode("ascii")
    if head.startswith(prefix):
        found = head[len(prefix) : head.find(b"\n")].decode("ascii", "replace")
        raise IndexStreamError(
            f"copytrace threatexchange {kind} stream of format version {found}; this copytrace reads "
            f"version {version}: upgrade copytrace where the index is loaded, or rebuild the index"
        )
    raise IndexStreamError(f"not a copytrace threatexchange {kind} stream: rebuild the index with copytrace")


def load(fin: t.BinaryIO, cls: type[t.Any], kind: str, read_bare: t.Callable[[t.BinaryIO], t.Any]) -> t.Any:
    """Read ``cls`` from ``fin``: the pickle that ``serialize`` writes, or a bare stream of ``kind`` from
    before the pickle wrapper (read by ``read_bare``)."""
    probe = fin.read(_LEGACY_PROBE)
    if probe[8:].startswith(f"copytrace-tx-{kind}/".encode("ascii")):
        return read_bare(_chain(probe, fin))
    try:
        out = pickle.load(_chain(probe, fin))
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise IndexStreamError(
            f"not a copytrace threatexchange {kind} stream ({exc}): rebuild the index with copytrace"
        ) from exc
    if not isinstance(out, cls):
        raise IndexStreamError(
            f"the stream holds a {type(out).__qualname__}, not a {cls.__qualname__}: it is another signal "
            "type's index"
        )
    return out


def _chain(head: bytes, rest: t.BinaryIO) -> t.BinaryIO:
    return t.cast(t.BinaryIO, io.BufferedReader(_Chain(head, rest)))


class _Chain(io.RawIOBase):
    """Bytes already read, then the rest of a stream, as one raw stream."""

    def __init__(self, head: bytes, rest: t.BinaryIO) -> None:
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf: t.Any) -> int:
        out = memoryview(buf).cast("B")
        if self._head:
            n = min(len(out), len(self._head))
            out[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(out))
        out[: len(data)] = data
        return len(data)
