"""``CopytraceIndex``: threatexchange's ``SignalTypeIndex`` over copytrace's index.

Entries added with the same fingerprint string share one indexed item.  Fingerprints made with different
parameters or keys live in separate copytrace indexes and never match each other.  ``serialize`` writes the
copytrace indexes as ``.npz`` arrays (no pickle); only the entries — the caller's own metadata objects, whose
types copytrace does not know — are pickled, as threatexchange's indexes do.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import typing as t
from dataclasses import dataclass

from threatexchange.signal_type import index as tx_index

from ..errors import CopytraceError
from ..fingerprint import Fingerprint, FingerprintParams
from ..index import Index
from ..match import Match

T = t.TypeVar("T")
_MAGIC = b"copytrace-tx-index/1\n"


@dataclass
class CopytraceSimilarity(tx_index.SignalSimilarityInfoWithSingleDistance[int]):
    """Distance 0-100 (100 minus the larger containment, in percent) with both containments, and the copy
    family of the matched signal: ``family`` names it (the first 16 hex digits of the SHA-256 of its
    earliest-added version's signal string, the same in every index that holds that version) and
    ``family_size`` counts the versions the index holds (``copytrace.families``)."""

    query_containment: float = 0.0
    item_containment: float = 0.0
    family: str = ""
    family_size: int = 1

    def pretty_str(self) -> str:
        return (
            f"{self.distance}(post_in_bank={self.query_containment:.0%},"
            f"bank_in_post={self.item_containment:.0%},family={self.family}x{self.family_size})"
        )


def similarity(match: Match | None, family: str = "") -> CopytraceSimilarity:
    if match is None:
        return CopytraceSimilarity(100, 0.0, 0.0)
    return CopytraceSimilarity(
        100 - round(100 * match.score),
        round(match.query_containment, 4),
        round(match.item_containment, 4),
        family,
        match.family_size,
    )


class CopytraceIndex(tx_index.SignalTypeIndex[T]):
    """Maps copytrace fingerprint strings to entries; ``query`` takes the fingerprint of a post."""

    def __init__(self) -> None:
        self._indexes: dict[FingerprintParams, Index] = {}
        self._item_of: dict[str, int] = {}
        self._signals: list[str] = []
        self._entries: list[list[T]] = []

    def add(self, signal_str: str, entry: T) -> None:
        self.add_all(((signal_str, entry),))

    def add_all(self, entries: t.Iterable[tuple[str, T]]) -> None:
        for signal_str, entry in entries:
            n = self._item_of.get(signal_str)
            if n is None:
                fp = Fingerprint.parse(signal_str)
                n = len(self._entries)
                index = self._indexes.get(fp.params)
                if index is None:
                    index = self._indexes[fp.params] = Index.for_params(fp.params)
                index.add(str(n), fp)
                self._item_of[signal_str] = n
                self._signals.append(signal_str)
                self._entries.append([])
            self._entries[n].append(entry)

    def query(self, query: str) -> list[tx_index.IndexMatch[T]]:
        if not query:
            return []
        fp = Fingerprint.parse(query)
        index = self._indexes.get(fp.params)
        if index is None:
            return []
        out: list[tx_index.IndexMatch[T]] = []
        for m in index.match_fingerprint(fp, per_family=False):  # every banked signal is reported
            earliest = self._signals[int(m.family or m.item_id)]
            sim = similarity(m, hashlib.sha256(earliest.encode("ascii")).hexdigest()[:16])
            out.extend(
                tx_index.IndexMatchUntyped[tx_index.SignalSimilarityInfo, T](sim, entry)
                for entry in self._entries[int(m.item_id)]
            )
        return out

    def __len__(self) -> int:
        return len(self._entries)

    def serialize(self, fout: t.BinaryIO) -> None:
        header = {"signals": list(self._item_of), "groups": [str(p) for p in self._indexes]}
        _write_block(fout, _MAGIC + json.dumps(header).encode("utf-8"))
        for index in self._indexes.values():
            buf = io.BytesIO()
            index.save(buf)
            _write_block(fout, buf.getvalue())
        _write_block(fout, pickle.dumps(self._entries, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def deserialize(cls, fin: t.BinaryIO) -> CopytraceIndex[T]:
        head = _read_block(fin)
        if not head.startswith(_MAGIC):
            raise CopytraceError("not a copytrace threatexchange index")
        header = json.loads(head[len(_MAGIC) :])
        out: CopytraceIndex[T] = cls()
        for params in header["groups"]:
            out._indexes[FingerprintParams.parse(params)] = Index.load(io.BytesIO(_read_block(fin)))
        out._signals = list(header["signals"])
        out._item_of = {s: n for n, s in enumerate(out._signals)}
        out._entries = pickle.loads(_read_block(fin))
        return out


def _write_block(fout: t.BinaryIO, data: bytes) -> None:
    fout.write(struct.pack("<Q", len(data)))
    fout.write(data)


def _read_block(fin: t.BinaryIO) -> bytes:
    size = fin.read(8)
    if len(size) != 8:
        raise CopytraceError("copytrace threatexchange index is truncated")
    (n,) = struct.unpack("<Q", size)
    data = fin.read(n)
    if len(data) != n:
        raise CopytraceError("copytrace threatexchange index is truncated")
    return data
