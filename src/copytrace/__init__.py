"""copytrace: find copies of known text — whole, reformatted, excerpted or obfuscated — by fingerprints.

Normalise → fingerprint (winnowed, keyed k-gram hashes) → index → match, with evidence spans in the original
text::

    >>> import copytrace
    >>> index = copytrace.Index()
    >>> article = ("The quick brown fox jumps over the lazy dog near the river bank today, while the farmers "
    ...            "of the valley gather their sheep before the storm the radio promised reaches the hills.")
    >>> fp = index.add("a1", article)
    >>> m = index.match("Someone wrote: the QUICK brown fox jumps over the lazy dog near the river bank "
    ...                 "today, while the farmers of the valley gather their sheep before the storm!")[0]
    >>> m.item_id, m.kind, m.query_containment > 0.5
    ('a1', 'text', True)

The public names are loaded when first used (PEP 562): ``import copytrace`` and ``copytrace.__version__``
import neither NumPy nor Numba, so ``copytrace --version`` and ``--help`` start at once; ``copytrace.Index``
or ``from copytrace import Index`` imports what ``Index`` needs.
"""

from __future__ import annotations

import typing as _typing
from importlib import import_module as _import_module

from .errors import (
    BankExistsError,
    CopytraceError,
    DuplicateItemError,
    FingerprintFormatError,
    InputError,
    InvalidNameError,
    KeyFormatError,
    NoTokenError,
    ParameterMismatchError,
    RecordError,
    StoreError,
    TooShortError,
    UnknownBankError,
    UnknownItemError,
)

if _typing.TYPE_CHECKING:
    from .batch.clustering import Clusters, cluster
    from .fingerprints.fingerprint import DEFAULT_PARAMS, Fingerprint, FingerprintParams, fingerprint
    from .fingerprints.keys import Key
    from .index import DEFAULT_BANK, Index
    from .index.match import DEFAULT_MATCH_PARAMS, Match, MatchParams, QuoteEvidence, QuoteParams, Span
    from .text.normalize import NORMALISATION_VERSION, Tokens, normalize, tokenize

    __version__: str

_LAZY = {
    "Clusters": "batch.clustering",
    "cluster": "batch.clustering",
    "DEFAULT_PARAMS": "fingerprints.fingerprint",
    "Fingerprint": "fingerprints.fingerprint",
    "FingerprintParams": "fingerprints.fingerprint",
    "fingerprint": "fingerprints.fingerprint",
    "DEFAULT_BANK": "index",
    "Index": "index",
    "Key": "fingerprints.keys",
    "DEFAULT_MATCH_PARAMS": "index.match",
    "Match": "index.match",
    "MatchParams": "index.match",
    "QuoteEvidence": "index.match",
    "QuoteParams": "index.match",
    "Span": "index.match",
    "NORMALISATION_VERSION": "text.normalize",
    "Tokens": "text.normalize",
    "normalize": "text.normalize",
    "tokenize": "text.normalize",
}
"""Each public name loaded on first use, and the submodule that defines it."""

__all__ = [
    "DEFAULT_BANK",
    "DEFAULT_MATCH_PARAMS",
    "DEFAULT_PARAMS",
    "NORMALISATION_VERSION",
    "BankExistsError",
    "Clusters",
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
    "NoTokenError",
    "ParameterMismatchError",
    "QuoteEvidence",
    "QuoteParams",
    "RecordError",
    "Span",
    "StoreError",
    "Tokens",
    "TooShortError",
    "UnknownBankError",
    "UnknownItemError",
    "__version__",
    "cluster",
    "fingerprint",
    "normalize",
    "tokenize",
]


def _version() -> str:
    from importlib import metadata  # 30 ms: only for the version

    try:
        return metadata.version("copytrace")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        return "0+unknown"


def __getattr__(name: str) -> object:
    """A public name's value, imported from its submodule on first use and kept (PEP 562)."""
    if name == "__version__":
        value: object = _version()
    elif name in _LAZY:
        value = getattr(_import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
