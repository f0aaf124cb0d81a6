"""The ``copytrace`` signal type: hashing text to a fingerprint string and comparing two of them."""

from __future__ import annotations

import os
import typing as t
from functools import lru_cache

from threatexchange.content_type.content_base import ContentType
from threatexchange.content_type.text import TextContent
from threatexchange.signal_type import index as tx_index
from threatexchange.signal_type.signal_base import SignalComparisonResult, SignalType, TextHasher

from ..errors import CopytraceError, TooShortError
from ..fingerprint import Fingerprint, fingerprint
from ..index import Index
from ..keys import Key
from .index import CopytraceIndex, similarity

# Public-domain sentences (Universal Declaration of Human Rights, articles 1-3) for demos and tests.
EXAMPLE_TEXTS = (
    "All human beings are born free and equal in dignity and rights. They are endowed with reason and "
    "conscience and should act towards one another in a spirit of brotherhood.",
    "Everyone is entitled to all the rights and freedoms set forth in this Declaration, without distinction "
    "of any kind, such as race, colour, sex, language, religion, political or other opinion, national or "
    "social origin, property, birth or other status.",
    "Everyone has the right to life, liberty and security of person.",
)


@lru_cache(maxsize=4)
def _key_from_file(path: str, mtime: float) -> Key:
    return Key.from_file(path)


def configured_key() -> Key | None:
    """The key named by ``$COPYTRACE_KEY_FILE``, or None to hash unkeyed."""
    path = os.environ.get("COPYTRACE_KEY_FILE")
    if not path:
        return None
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise ValueError(f"COPYTRACE_KEY_FILE={path!r} cannot be read: {exc.strerror}") from exc
    return _key_from_file(path, mtime)


class CopytraceSignal(SignalType, TextHasher):
    """Text fingerprints that find copies, excerpts and obfuscated versions of banked text.

    Distance (0-100) = 100 minus the larger containment in percent: 0 when the post holds the whole banked
    text or is wholly an excerpt of it, 90 when the copied passage is a tenth of the larger side.  Texts
    with no passage in common in the same order do not match at all.
    """

    @classmethod
    def get_name(cls) -> str:
        return "copytrace"

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [TextContent]

    @classmethod
    def get_index_cls(cls) -> type[tx_index.SignalTypeIndex[t.Any]]:
        return CopytraceIndex

    @classmethod
    def validate_signal_str(cls, signal_str: str) -> str:
        try:
            return str(Fingerprint.parse(signal_str))
        except CopytraceError as exc:
            raise ValueError(str(exc)) from exc

    @classmethod
    def hash_from_str(cls, text: str) -> str:
        """The fingerprint string of ``text``; ``""`` when it is too short to have one."""
        try:
            return str(fingerprint(text, key=configured_key()))
        except TooShortError:
            return ""

    @classmethod
    def compare_hash(cls, hash1: str, hash2: str) -> SignalComparisonResult:
        """Compare a banked fingerprint (``hash1``) with a query fingerprint (``hash2``)."""
        banked = Fingerprint.parse(hash1)
        query = Fingerprint.parse(hash2)
        if banked.params != query.params:
            return SignalComparisonResult(False, similarity(None))
        index = Index.for_params(banked.params)
        index.add("banked", banked)
        matches = index.match_fingerprint(query)
        return SignalComparisonResult(bool(matches), similarity(matches[0] if matches else None))

    @staticmethod
    def get_examples() -> list[str]:
        return [str(fingerprint(text)) for text in EXAMPLE_TEXTS]
