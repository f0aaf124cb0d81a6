"""``CopytraceIndex``: threatexchange's ``SignalTypeIndex`` over copytrace's index.

Entries added with the same fingerprint string share one indexed item.  Fingerprints made with different
parameters or keys live in separate copytrace indexes and never match each other.  ``serialize`` writes a
pickle that ``SignalTypeIndex.deserialize`` (``pickle.load``, as HMA calls it) loads as this class: one call
of ``restore_index`` on copytrace's own versioned stream (``_stream``), which holds the copytrace indexes as
snapshots (arrays, no pickled copytrace objects) and the entries — the caller's own metadata objects, whose
types copytrace does not know — pickled, as threatexchange's indexes do.

An empty signal (``""``: a text too short to fingerprint, see ``CopytraceSignal.hash_from_str``) is never
indexed and matches nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import typing as t
from dataclasses import dataclass

from threatexchange.signal_type import index as tx_index

from ..fingerprints.fingerprint import Fingerprint, FingerprintParams
from ..index import Index
from ..index.match import Match
from ._stream import check_header, load, magic, read_block, write_block

T = t.TypeVar("T")
_KIND, _VERSION = "index", 1


@dataclass(eq=False)  # compared and ordered by distance alone, as threatexchange's similarity infos are
class CopytraceSimilarity(tx_index.SignalSimilarityInfoWithSingleDistance[int]):
    """An integer ``distance`` from 0 to 100 — 100 minus the larger containment, in percent — which is all
    that ``pretty_str`` shows (HMA reports it as the match's distance, for clients to threshold), and in
    other fields: both containments, and the copy family of the matched signal.  ``family`` names it (the
    first 16 hex digits of the SHA-256 of its earliest-added version's signal string, the same in every
    index that holds that version) and ``family_size`` counts the versions the index holds
    (``copytrace.index.families``)."""

    query_containment: float = 0.0
    item_containment: float = 0.0
    family: str = ""
    family_size: int = 1


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
            if not signal_str:
                continue  # a text too short to fingerprint: nothing to find it by
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
        """Write the pickle that ``deserialize`` and ``SignalTypeIndex.deserialize`` read back."""
        pickle.dump(self, fout, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def deserialize(cls, fin: t.BinaryIO) -> CopytraceIndex[T]:
        """Read what ``serialize`` wrote, or a stream from before the pickle wrapper; raise
        ``IndexStreamError`` for anything else."""
        out: CopytraceIndex[T] = load(fin, cls, _KIND, _read_stream)
        return out

    def __reduce__(self) -> tuple[t.Callable[[bytes], CopytraceIndex[t.Any]], tuple[bytes]]:
        return restore_index, (self._stream(),)

    def _stream(self) -> bytes:
        fout = io.BytesIO()
        header = {"signals": self._signals, "groups": [str(p) for p in self._indexes]}
        write_block(fout, magic(_KIND, _VERSION) + json.dumps(header).encode("utf-8"))
        for index in self._indexes.values():
            buf = io.BytesIO()
            index.save(buf)
            write_block(fout, buf.getvalue())
        write_block(fout, pickle.dumps(self._entries, protocol=pickle.HIGHEST_PROTOCOL))
        return fout.getvalue()


def restore_index(stream: bytes) -> CopytraceIndex[t.Any]:
    """The index that ``stream`` (``CopytraceIndex._stream``) holds.  Serialised indexes name this function:
    keep its module and name."""
    return _read_stream(io.BytesIO(stream))


def _read_stream(fin: t.BinaryIO) -> CopytraceIndex[t.Any]:
    header = json.loads(check_header(read_block(fin), _KIND, _VERSION))
    out: CopytraceIndex[t.Any] = CopytraceIndex()
    for params in header["groups"]:
        out._indexes[FingerprintParams.parse(params)] = Index.load(io.BytesIO(read_block(fin)))
    out._signals = list(header["signals"])
    out._item_of = {s: n for n, s in enumerate(out._signals)}
    out._entries = pickle.loads(read_block(fin))
    return out
