"""What an added item becomes: its fingerprint, its text and its phrase, checked before anything changes.

``Index.add`` is given a text, a ``Fingerprint`` or its string, or a ``PhraseFingerprint`` or its string.
``prepare`` turns each into (fingerprint, text or None, phrase or None) and refuses what the index cannot
hold — other parameters, another key, positions past 32 bits — so that a refused item leaves no trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FingerprintFormatError, InputError, KeyFormatError, NoTokenError, ParameterMismatchError
from ..fingerprints.fingerprint import Fingerprint, FingerprintParams, fingerprint, looks_like_fingerprint
from ..fingerprints.keys import Key
from ..phrases import (
    PhraseFingerprint,
    PhraseParams,
    check_phrase_text,
    looks_like_phrase_fingerprint,
    phrase_fingerprint,
)
from .match import MatchParams
from .phrase_rules import is_short

if TYPE_CHECKING:
    from ..fingerprints.batch import FingerprintBatch

MAX_TOKENS = 1 << 31

PhraseOption = bool | PhraseFingerprint | None


def hashing_key(key: Key | None, params: FingerprintParams) -> Key:
    """The key that fingerprints text for an index of ``params``; ``KeyFormatError`` when it holds none."""
    if key is None:
        raise KeyFormatError(
            f"this index holds fingerprints keyed with key {params.key_id}: fingerprint text with "
            "that key (Index(key=...)) or add and match fingerprints"
        )
    return key


def check_indexable(fp: Fingerprint, item_id: str) -> None:
    """Refuse a fingerprint the postings cannot hold (token positions are 32-bit), naming the item."""
    if not 0 <= fp.n_tokens < MAX_TOKENS or (len(fp) and int(fp.positions.max()) >= fp.n_tokens):
        raise FingerprintFormatError(
            f"item {item_id!r}: fingerprint of {fp.n_tokens} tokens with positions up to "
            f"{int(fp.positions.max()) if len(fp) else 0} cannot be indexed "
            f"(at most {MAX_TOKENS - 1} tokens)"
        )


def prepare(
    item_id: str,
    text_or_fingerprint: str | Fingerprint | PhraseFingerprint,
    html: bool | None,
    phrase: PhraseOption,
    *,
    key: Key | None,
    params: FingerprintParams,
    phrase_params: PhraseParams,
    match_params: MatchParams,
) -> tuple[Fingerprint, str | None, PhraseFingerprint | None]:
    """The fingerprint of an item to add (its text, if given one, and its phrase, if it is one), checked
    against an index of ``params`` and ``phrase_params``."""
    text: str | None = None
    pfp = phrase if isinstance(phrase, PhraseFingerprint) else None
    if isinstance(text_or_fingerprint, str) and looks_like_phrase_fingerprint(text_or_fingerprint):
        text_or_fingerprint = PhraseFingerprint.parse(text_or_fingerprint)
    if isinstance(text_or_fingerprint, str) and looks_like_fingerprint(text_or_fingerprint):
        text_or_fingerprint = Fingerprint.parse(text_or_fingerprint)
    if isinstance(text_or_fingerprint, PhraseFingerprint):
        pfp = text_or_fingerprint
        empty = np.zeros(0, dtype=np.uint64)
        fp = Fingerprint(params, empty, empty.astype(np.int64), 0)
    elif isinstance(text_or_fingerprint, Fingerprint):
        fp = text_or_fingerprint
        if fp.params != params:
            raise ParameterMismatchError(params, fp.params, what=f"item {item_id!r}")
    else:
        text = text_or_fingerprint
        fp = fingerprint(
            text,
            key=hashing_key(key, params),
            k=params.k,
            window=params.window,
            html=html,
            allow_short=phrase is not False,
        )
        if pfp is None and (phrase is True or (phrase is None and is_short(fp, match_params))):
            try:
                check_phrase_text(text, f"item {item_id!r}", html=html)
                pfp = phrase_fingerprint(text, key=hashing_key(key, params), html=html)
            except NoTokenError as exc:
                raise NoTokenError(f"item {item_id!r}") from exc
    if phrase is True and pfp is None:
        raise InputError(f"item {item_id!r}: a phrase is added from its text or its phrase fingerprint")
    if pfp is not None and pfp.params != phrase_params:
        raise ParameterMismatchError(phrase_params, pfp.params, what=f"phrase of item {item_id!r}")
    check_indexable(fp, item_id)  # before anything changes: a refused item leaves no trace
    return fp, text, pfp


def check_batch(item_ids: Sequence[str], batch: FingerprintBatch) -> None:
    """``check_indexable`` of every fingerprint of ``batch`` at once, naming the first refused item."""
    offsets = np.asarray(batch.offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    n_tokens = np.asarray(batch.n_tokens, dtype=np.int64)
    positions = np.asarray(batch.positions, dtype=np.int64)
    top = np.full(len(item_ids), -1, dtype=np.int64)  # each item's largest position
    held = np.flatnonzero(lengths)
    if len(held):
        top[held] = np.maximum.reduceat(positions, offsets[held])
    bad = np.flatnonzero((n_tokens < 0) | (n_tokens >= MAX_TOKENS) | (top >= n_tokens))
    if len(bad):
        i = int(bad[0])
        check_indexable(batch[i], item_ids[i])  # raises, naming the item
