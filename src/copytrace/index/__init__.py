"""The index: banked items' fingerprints, searchable without scanning the bank.

One public class, ``Index`` (``_index``), over one module per question: what an added item becomes
(``_prepare``) and which items are phrases (``phrase_rules``); what the index holds (``_contents``), where
each stored fingerprint occurs (``_postings``) and what was added since (``_delta``); the compiled loops of a
query (``_matching``) and the Python side that runs them (``_search``); the evidence spans of a match
(``evidence``), the quotes too short for the long-text rule (``quotes``) and the phrases found
(``_phrase_matches``); copy families (``families``); item names (``_item_names``); what a match is and the
settings that decide it (``match``); and the snapshot file (``snapshot``: the file format;
``snapshot_contents``: what an index puts in it; ``snapshot_build``: writing one batch by batch, for banks
larger than memory).

>>> from copytrace.index import Index
>>> index = Index()
>>> fp = index.add("speech", "We will continue our endeavors for the victory of the resistance.")
>>> said = "they said: we will continue our endeavors for the victory of the resistance!"
>>> [m.item_id for m in index.match(said)]
['speech']

The names are loaded when first used (PEP 562), so that importing one submodule (``match``,
``phrase_rules``) does not load ``Index`` first.
"""

from __future__ import annotations

import typing as _typing
from importlib import import_module as _import_module

if _typing.TYPE_CHECKING:
    from ._index import DEFAULT_BANK, Index, TextLookup
    from ._phrase_matches import PhraseMatches
    from ._postings import MAX_REPEATS

_LAZY = {
    "DEFAULT_BANK": "_index",
    "Index": "_index",
    "TextLookup": "_index",
    "PhraseMatches": "_phrase_matches",
    "MAX_REPEATS": "_postings",
}
"""Each public name, and the submodule that defines it."""

__all__ = ["DEFAULT_BANK", "MAX_REPEATS", "Index", "PhraseMatches", "TextLookup"]


def __getattr__(name: str) -> object:
    """A public name's value, imported from its submodule on first use and kept (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
