"""Fingerprints: winnowed, keyed 64-bit hashes of token k-grams, and their public string form.

A text is normalised and split into tokens (``normalize``); every run of ``k`` consecutive tokens is hashed to
64 bits (FNV-1a per token, a polynomial combination per k-gram, then SipHash-2-4 under the key, the all-zero
key when unkeyed); winnowing keeps the minimum hash of every window of ``window`` consecutive k-grams
(Schleimer, Wilkerson & Aiken 2003, robust variant).  Guarantee: two texts that share a run of at least
``k + window - 1`` tokens share at least one fingerprint hash.  Expected density: ``2 / (window + 1)``
fingerprints per token.

The string form is versioned and never changes for a released version::

    ctw1:n1:k5:w4:public:<base64url payload>

``ctw1`` is the hashing algorithm, ``n1`` the normalisation version, then k, window, and the key id
(``public`` or 16 hex digits).  The payload (base64url, no padding) is LEB128 ``count`` and ``n_tokens``, then
``count`` hashes as little-endian uint64, then ``count`` token positions as LEB128 deltas.

``Fingerprint.parse`` accepts only what ``fingerprint`` can produce, since a parsed fingerprint goes on into
an index: the string must be in its canonical form (``str(parse(s)) == s``), at most ``MAX_TOKENS`` tokens,
and the positions must meet the winnowing invariants (see ``Fingerprint.parse``).  Anything else raises
``FingerprintFormatError`` saying what is wrong.

>>> fp = fingerprint("We will continue our endeavors for the victory of the resistance day and night")
>>> fp.params
FingerprintParams(algorithm=1, normalisation=1, k=5, window=4, key_id='public')
>>> Fingerprint.parse(str(fp)) == fp
True
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

import numpy as np

from ..errors import FingerprintFormatError, InputError, TooShortError
from ..text.normalize import NORMALISATION_VERSION, Tokens, tokenize
from . import _hashing
from .keys import Key, as_key

ALGORITHM_VERSION = 1
DEFAULT_K = 5
DEFAULT_WINDOW = 4
MAX_K = 32
MAX_WINDOW = 1024
MAX_TOKENS = 2**31 - 1
"""The most tokens a fingerprint may cover: an index keeps token counts as int32 and positions as uint32."""

_PARAMS_RE = re.compile(r"ctw([0-9]{1,9}):n([0-9]{1,9}):k([0-9]{1,9}):w([0-9]{1,9}):(public|[0-9a-f]{16})")
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_STRING_RE = re.compile(r"\s*ctw\d+:n\d+:k\d+:w\d+:(?:public|[0-9a-f]{16}):[A-Za-z0-9_-]*\s*")


def looks_like_fingerprint(text: str) -> bool:
    """True when ``text`` has the form of a fingerprint string (a text never does: it has a space)."""
    return _STRING_RE.fullmatch(text) is not None


@dataclass(frozen=True)
class FingerprintParams:
    """What a fingerprint was made with.  Two fingerprints compare only when their params are equal."""

    algorithm: int = ALGORITHM_VERSION
    normalisation: int = NORMALISATION_VERSION
    k: int = DEFAULT_K
    window: int = DEFAULT_WINDOW
    key_id: str = "public"

    def __post_init__(self) -> None:
        if not 1 <= self.k <= MAX_K:
            raise ValueError(f"k must be between 1 and {MAX_K}, got {self.k}")
        if not 1 <= self.window <= MAX_WINDOW:
            raise ValueError(f"window must be between 1 and {MAX_WINDOW}, got {self.window}")

    def __str__(self) -> str:
        return f"ctw{self.algorithm}:n{self.normalisation}:k{self.k}:w{self.window}:{self.key_id}"

    @property
    def guarantee(self) -> int:
        """Any shared run of this many tokens yields a shared fingerprint."""
        return self.k + self.window - 1

    @classmethod
    def parse(cls, text: str) -> FingerprintParams:
        """Read the string form, e.g. ``ctw1:n1:k5:w4:public``; raise ``FingerprintFormatError`` if bad."""
        m = _PARAMS_RE.fullmatch(text)
        if m is None:
            raise FingerprintFormatError(
                f"bad fingerprint parameters {text[:60]!r}: expected e.g. 'ctw1:n1:k5:w4:public'"
            )
        try:
            params = cls(int(m[1]), int(m[2]), int(m[3]), int(m[4]), m[5])
        except ValueError as exc:
            raise FingerprintFormatError(f"bad fingerprint parameters {text!r}: {exc}") from exc
        if str(params) != text:
            raise FingerprintFormatError(
                f"bad fingerprint parameters {text!r}: numbers have no leading zeros (write {params})"
            )
        if params.algorithm != ALGORITHM_VERSION or params.normalisation != NORMALISATION_VERSION:
            raise FingerprintFormatError(
                f"fingerprint version {params} is not supported by this copytrace "
                f"(it reads ctw{ALGORITHM_VERSION}:n{NORMALISATION_VERSION}): upgrade copytrace"
            )
        return params


DEFAULT_PARAMS = FingerprintParams()


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """The winnowed hashes of one text.

    ``hashes[i]`` is the hash of the k-gram that starts at token ``positions[i]`` (ascending).  When computed
    from text, ``tokens`` holds the tokens with their character offsets, for locating evidence; a fingerprint
    parsed from its string form has none.
    """

    params: FingerprintParams
    hashes: np.ndarray
    positions: np.ndarray
    n_tokens: int
    tokens: Tokens | None = None

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return (
            self.params == other.params
            and self.n_tokens == other.n_tokens
            and np.array_equal(self.hashes, other.hashes)
            and np.array_equal(self.positions, other.positions)
        )

    def __hash__(self) -> int:
        return hash((self.params, self.n_tokens, self.hashes.tobytes()))

    def __str__(self) -> str:
        head = _hashing.varint_encode(np.array([len(self), self.n_tokens], dtype=np.uint64))
        deltas = np.diff(self.positions.astype(np.uint64), prepend=np.uint64(0))
        payload = (
            head.tobytes() + self.hashes.astype("<u8").tobytes() + _hashing.varint_encode(deltas).tobytes()
        )
        return f"{self.params}:{base64.urlsafe_b64encode(payload).rstrip(b'=').decode('ascii')}"

    def __repr__(self) -> str:
        return f"Fingerprint({self.params}, {len(self)} hashes over {self.n_tokens} tokens)"

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        """Read the string form; raise ``FingerprintFormatError`` naming what is wrong.

        Only what ``fingerprint`` can produce is accepted, so that a parsed fingerprint can always be indexed:
        the canonical string form, at most ``MAX_TOKENS`` tokens, no hashes for fewer than ``k`` tokens, and
        otherwise between 1 and ``n_kgrams = n_tokens - k + 1`` strictly increasing positions, the first
        below ``window``, the last at least ``n_kgrams - window`` and at most ``n_kgrams - 1``, each no more
        than ``window`` after the one before (every window of k-grams holds a selected one).
        """
        text = text.strip()
        head, sep, b64 = text.rpartition(":")
        if not sep:
            raise FingerprintFormatError("not a copytrace fingerprint: expected 'ctw1:n1:k5:w4:KEY:DATA'")
        params = FingerprintParams.parse(head)
        if _BASE64URL_RE.fullmatch(b64) is None or len(b64) % 4 == 1:
            raise FingerprintFormatError("fingerprint data is not base64url (A-Z a-z 0-9 - _, no padding)")
        try:
            payload = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (binascii.Error, ValueError) as exc:
            raise FingerprintFormatError(f"fingerprint data is not base64url: {exc}") from exc
        buf = np.frombuffer(payload, dtype=np.uint8)
        counts, used = _hashing.varint_decode(buf, 2)
        if used < 0:
            raise FingerprintFormatError("fingerprint data is truncated")
        count, n_tokens = int(counts[0]), int(counts[1])
        if n_tokens > MAX_TOKENS:
            raise FingerprintFormatError(
                f"fingerprint says {n_tokens} tokens: at most {MAX_TOKENS} are allowed"
            )
        end = used + 8 * count
        if end > len(payload):
            raise FingerprintFormatError(
                f"fingerprint data is truncated: {count} hashes need {8 * count} bytes, "
                f"{len(payload) - used} are left"
            )
        hashes = np.frombuffer(payload, dtype="<u8", count=count, offset=used).astype(np.uint64)
        deltas, used2 = _hashing.varint_decode(buf[end:], count)
        if used2 < 0 or end + used2 != len(payload):
            raise FingerprintFormatError("fingerprint positions are truncated or followed by extra data")
        _check_positions(params, n_tokens, deltas)
        fp = cls(params, hashes, np.cumsum(deltas).astype(np.int64), n_tokens)
        if str(fp) != text:
            raise FingerprintFormatError(
                "fingerprint string is not in canonical form (overlong numbers or stray bits in its data)"
            )
        return fp


def _check_positions(params: FingerprintParams, n_tokens: int, deltas: np.ndarray) -> None:
    """Raise ``FingerprintFormatError`` unless ``deltas`` (LEB128-decoded position gaps) could come from
    winnowing ``n_tokens`` tokens with ``params`` (the invariants of ``_hashing.winnow``)."""
    count = len(deltas)
    n_kgrams = n_tokens - params.k + 1
    if n_kgrams <= 0:
        if count:
            raise FingerprintFormatError(
                f"fingerprint has {count} hashes for {n_tokens} tokens: fewer than k={params.k} tokens "
                "have none"
            )
        return
    if count == 0:
        raise FingerprintFormatError(f"fingerprint of {n_tokens} tokens has no hashes: it must have one")
    if count > n_kgrams:
        raise FingerprintFormatError(
            f"fingerprint has {count} hashes for {n_kgrams} k-grams ({n_tokens} tokens, k={params.k})"
        )
    window = params.window
    if int(deltas[0]) >= window:
        raise FingerprintFormatError(
            f"fingerprint's first position {int(deltas[0])} is not within the first window of {window}"
        )
    gaps = deltas[1:]
    if gaps.size and (int(gaps.min()) == 0 or int(gaps.max()) > window):
        raise FingerprintFormatError(
            f"fingerprint positions must increase by 1 to {window} (the window), "
            f"found a step of {int(gaps.min()) if int(gaps.min()) == 0 else int(gaps.max())}"
        )
    last = int(deltas.sum())  # at most count * window < 2**42: no overflow
    if not n_kgrams - window <= last <= n_kgrams - 1:
        raise FingerprintFormatError(
            f"fingerprint's last position {last} is not within the last window of {window} of its "
            f"{n_kgrams} k-grams"
        )


def fingerprint(
    text: str,
    *,
    key: Key | str | bytes | None = None,
    k: int = DEFAULT_K,
    window: int = DEFAULT_WINDOW,
    html: bool | None = None,
    allow_short: bool = False,
) -> Fingerprint:
    """Fingerprint ``text``.

    ``key`` makes a keyed fingerprint (a ``Key`` or the secret itself).  ``html=None`` strips markup when the
    text looks like HTML.  Text with fewer than ``k`` tokens raises ``TooShortError`` unless
    ``allow_short``, which returns an empty fingerprint instead.
    """
    key_ = as_key(key)
    params = FingerprintParams(k=k, window=window, key_id=key_.key_id)
    tokens = tokenize(text, html=html)
    if len(tokens) > MAX_TOKENS:
        raise InputError(f"text has {len(tokens)} tokens: at most {MAX_TOKENS} can be fingerprinted")
    if len(tokens) < k and not allow_short:
        raise TooShortError(len(tokens), k)
    grams = _hashing.kgram_hashes(tokens.hashes, k, np.uint64(key_.k0), np.uint64(key_.k1))
    positions = _hashing.winnow(grams, window)
    return Fingerprint(params, grams[positions], positions, len(tokens), tokens)
