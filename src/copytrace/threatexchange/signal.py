"""The ``copytrace`` signal type: hashing text to a fingerprint string and comparing two of them.

Both copytrace signal types hash text given as a string, a file or bytes (HMA hashes uploads as bytes),
decoded as the CLI reads files (``copytrace.text.textio``: UTF-8, a BOM, UTF-16, else Windows-1252).
Following threatexchange, a text that cannot be hashed — too short, no letter, binary data — hashes to
``""``; the signal types accept ``""`` as the empty signal, which matches nothing, so HMA answers such a
post with no match rather than an error.
"""

from __future__ import annotations

import os
import pathlib
import typing as t
from functools import lru_cache

from threatexchange.content_type.content_base import ContentType
from threatexchange.content_type.text import TextContent
from threatexchange.signal_type import index as tx_index
from threatexchange.signal_type.signal_base import (
    BytesHasher,
    SignalComparisonResult,
    SignalType,
    TextHasher,
)

from ..errors import CopytraceError, InputError, TooShortError
from ..fingerprints.fingerprint import Fingerprint, fingerprint
from ..fingerprints.keys import Key
from ..index import Index
from ..text.textio import decode_bytes
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


def text_of(data: bytes) -> str | None:
    """``data`` decoded as the CLI decodes files; None for binary data."""
    try:
        return decode_bytes(data, source="upload").text
    except InputError:
        return None


def validate_or_empty(signal_str: str, parse: t.Callable[[str], object]) -> str:
    """The canonical form of a signal string (``str(parse(s))``), or ``""`` for the empty signal; a
    ``ValueError`` saying what is wrong otherwise (threatexchange's convention)."""
    signal_str = signal_str.strip()
    if not signal_str:
        return ""
    try:
        return str(parse(signal_str))
    except CopytraceError as exc:
        raise ValueError(str(exc)) from exc


class TextBytesHasher(TextHasher, BytesHasher):
    """Bytes and files hashed through ``hash_from_str`` after decoding them as the CLI decodes files:
    what both copytrace signal types share, so HMA's uploads of any size hash as their text does."""

    @classmethod
    def hash_from_bytes(cls, bytes_: bytes) -> str:
        """The signal string of a text's bytes (``text_of``); ``""`` for binary data."""
        text = text_of(bytes_)
        return "" if text is None else cls.hash_from_str(text)

    @classmethod
    def hash_from_file(cls, file: pathlib.Path) -> str:
        """The signal string of a text file, decoded as ``hash_from_bytes`` decodes."""
        return cls.hash_from_bytes(pathlib.Path(file).read_bytes())


class CopytraceSignal(SignalType, TextBytesHasher):
    """Text fingerprints that find copies, excerpts and obfuscated versions of banked text.

    Distance (an integer, 0-100) = 100 minus the larger containment in percent: 0 when the post holds the
    whole banked text or is wholly an excerpt of it, 90 when the copied passage is a tenth of the larger
    side.  Texts with no passage in common in the same order do not match at all.
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
        """The canonical fingerprint string; ``""`` for the empty signal (a text too short to hash)."""
        return validate_or_empty(signal_str, Fingerprint.parse)

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
        if not hash1.strip() or not hash2.strip():
            return SignalComparisonResult(False, similarity(None))
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
