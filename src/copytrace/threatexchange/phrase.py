"""The ``copytrace_phrase`` signal type: a short text's phrase fingerprint, whatever its spelling.

The signal is the phrase fingerprint string (``copytrace.phrases``, ``ctp1:p1:KEY:...``) of a short text:
a slogan, a chant, a call to violence.  Two texts have the same one when their folded letters are the same
(``copytrace.text.phrase_fold``): ``Death to the occupiers`` and ``D3ATH t0 the 0ccupiers`` or
``deathtotheoccupiers`` do.  Through threatexchange a post is hashed whole, so a phrase signal matches a
post that *is* the phrase, in any spelling; to find phrases inside longer posts, bank them in copytrace
and use its ``match``, ``scan`` or service, which search every post for every phrase.

The index is a hash table from the phrase's folded letters to its entries: a query costs one lookup.  It
serialises as ``CopytraceIndex`` does (``_stream``): a pickle of one ``restore_phrase_index`` call on a
versioned stream.  An empty signal (a text with no letter or digit) is never indexed and matches nothing.
"""

from __future__ import annotations

import io
import json
import pickle
import typing as t
from dataclasses import dataclass

from threatexchange.content_type.content_base import ContentType
from threatexchange.content_type.text import TextContent
from threatexchange.signal_type import index as tx_index
from threatexchange.signal_type.signal_base import (
    SignalComparisonResult,
    SignalType,
)

from ..errors import CopytraceError, InputError
from ..phrases import PhraseFingerprint, phrase_fingerprint
from ._stream import check_header, load, magic, read_block, write_block
from .signal import TextBytesHasher, configured_key, validate_or_empty

T = t.TypeVar("T")
_KIND, _VERSION = "phrases", 1
EXAMPLE_PHRASES = (
    "All human beings are born free and equal",
    "Everyone has the right to life, liberty and security of person",
)


def _key(fp: PhraseFingerprint) -> tuple[str, int, int]:
    """What two phrase fingerprints share when their folded letters are the same."""
    return str(fp.params), fp.length, fp.full_hash


def _parse(signal_str: str) -> PhraseFingerprint:
    try:
        return PhraseFingerprint.parse(signal_str)
    except CopytraceError as exc:
        raise ValueError(str(exc)) from exc


@dataclass(eq=False)  # compared by distance, as threatexchange's similarity infos are
class PhraseSimilarity(tx_index.SignalSimilarityInfoWithSingleDistance[int]):
    """Distance 0: the same folded letters (the only match a phrase signal makes); 1 in ``compare_hash``'s
    answer for other letters."""


class CopytracePhraseIndex(tx_index.SignalTypeIndex[T]):
    """Maps phrase fingerprint strings to entries; ``query`` takes the phrase fingerprint of a post."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int, int], list[T]] = {}

    def add(self, signal_str: str, entry: T) -> None:
        if not signal_str:
            return  # no letter or digit: nothing to find it by
        self._entries.setdefault(_key(_parse(signal_str)), []).append(entry)

    def query(self, query: str) -> list[tx_index.IndexMatch[T]]:
        if not query:
            return []
        found = self._entries.get(_key(_parse(query)), [])
        return [tx_index.IndexMatchUntyped[PhraseSimilarity, T](PhraseSimilarity(0), e) for e in found]

    def __len__(self) -> int:
        return sum(map(len, self._entries.values()))

    def serialize(self, fout: t.BinaryIO) -> None:
        """Write the pickle that ``deserialize`` and ``SignalTypeIndex.deserialize`` read back."""
        pickle.dump(self, fout, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def deserialize(cls, fin: t.BinaryIO) -> CopytracePhraseIndex[T]:
        """Read what ``serialize`` wrote, or a stream from before the pickle wrapper; raise
        ``IndexStreamError`` for anything else."""
        out: CopytracePhraseIndex[T] = load(fin, cls, _KIND, _read_stream)
        return out

    def __reduce__(self) -> tuple[t.Callable[[bytes], CopytracePhraseIndex[t.Any]], tuple[bytes]]:
        return restore_phrase_index, (self._stream(),)

    def _stream(self) -> bytes:
        fout = io.BytesIO()
        keys = [list(k) for k in self._entries]
        write_block(fout, magic(_KIND, _VERSION) + json.dumps(keys).encode("utf-8"))
        write_block(fout, pickle.dumps(list(self._entries.values()), protocol=pickle.HIGHEST_PROTOCOL))
        return fout.getvalue()


def restore_phrase_index(stream: bytes) -> CopytracePhraseIndex[t.Any]:
    """The index that ``stream`` (``CopytracePhraseIndex._stream``) holds.  Serialised indexes name this
    function: keep its module and name."""
    return _read_stream(io.BytesIO(stream))


def _read_stream(fin: t.BinaryIO) -> CopytracePhraseIndex[t.Any]:
    header = json.loads(check_header(read_block(fin), _KIND, _VERSION))
    keys = [(str(p), int(n), int(h)) for p, n, h in header]
    out: CopytracePhraseIndex[t.Any] = CopytracePhraseIndex()
    out._entries = dict(zip(keys, pickle.loads(read_block(fin)), strict=True))
    return out


class CopytracePhraseSignal(SignalType, TextBytesHasher):
    """Phrase fingerprints of short texts, equal for every evasive spelling of the same words."""

    @classmethod
    def get_name(cls) -> str:
        return "copytrace_phrase"

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [TextContent]

    @classmethod
    def get_index_cls(cls) -> type[tx_index.SignalTypeIndex[t.Any]]:
        return CopytracePhraseIndex

    @classmethod
    def validate_signal_str(cls, signal_str: str) -> str:
        """The canonical phrase fingerprint string; ``""`` for the empty signal (a text with no letter)."""
        return validate_or_empty(signal_str, PhraseFingerprint.parse)

    @classmethod
    def hash_from_str(cls, text: str) -> str:
        """The phrase fingerprint string of ``text``; ``""`` when it has no letter or digit."""
        try:
            return str(phrase_fingerprint(text, key=configured_key()))
        except InputError:
            return ""

    @classmethod
    def compare_hash(cls, hash1: str, hash2: str) -> SignalComparisonResult:
        """A match when both name the same folded letters (made with the same key and version)."""
        if not hash1.strip() or not hash2.strip():
            return SignalComparisonResult(False, PhraseSimilarity(1))
        same = _key(_parse(hash1)) == _key(_parse(hash2))
        return SignalComparisonResult(same, PhraseSimilarity(0 if same else 1))

    @staticmethod
    def get_examples() -> list[str]:
        return [str(phrase_fingerprint(text)) for text in EXAMPLE_PHRASES]
