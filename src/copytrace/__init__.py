"""copytrace: find copies of known text — whole, reformatted, excerpted or obfuscated — by fingerprints.

Normalise → fingerprint (winnowed, keyed k-gram hashes) → index → match, with evidence spans in the original
text::

    >>> import copytrace
    >>> index = copytrace.Index()
    >>> fp = index.add("a1", "The quick brown fox jumps over the lazy dog near the river bank today.")
    >>> m = index.match("Someone wrote: the QUICK brown fox jumps over the lazy dog near the river!")[0]
    >>> m.item_id, round(m.query_containment, 2) > 0
    ('a1', True)
"""

from __future__ import annotations

from importlib import metadata as _metadata

from .errors import (
    CopytraceError,
    DuplicateItemError,
    FingerprintFormatError,
    InputError,
    InvalidNameError,
    KeyFormatError,
    ParameterMismatchError,
    RecordError,
    StoreError,
    TooShortError,
    UnknownBankError,
    UnknownItemError,
)
from .fingerprint import DEFAULT_PARAMS, Fingerprint, FingerprintParams, fingerprint
from .index import DEFAULT_BANK, Index
from .keys import Key
from .match import DEFAULT_MATCH_PARAMS, Match, MatchParams, Span
from .normalize import NORMALISATION_VERSION, Tokens, normalize, tokenize

try:
    __version__ = _metadata.version("copytrace")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_BANK",
    "DEFAULT_MATCH_PARAMS",
    "DEFAULT_PARAMS",
    "NORMALISATION_VERSION",
    "CopytraceError",
    "DuplicateItemError",
    "Fingerprint",
    "FingerprintFormatError",
    "FingerprintParams",
    "Index",
    "InputError",
    "InvalidNameError",
    "Key",
    "KeyFormatError",
    "Match",
    "MatchParams",
    "ParameterMismatchError",
    "RecordError",
    "Span",
    "StoreError",
    "Tokens",
    "TooShortError",
    "UnknownBankError",
    "UnknownItemError",
    "__version__",
    "fingerprint",
    "normalize",
    "tokenize",
]
