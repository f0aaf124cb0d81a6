"""The phrase fingerprint: a phrase as hashes, its parameters and its string form.

A phrase's shareable form is a ``PhraseFingerprint``: keyed 64-bit hashes of its skeleton's first
``PREFIX`` letters (or all of them, when shorter) and of the whole skeleton, with the skeleton's length and
the number of tokens: enough to match, never the text.  String form (``docs/formats.md``)::

    ctp1:p1:public:<base64url payload>

>>> str(phrase_fingerprint("death to the occupiers").params)
'ctp1:p1:public'
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import FingerprintFormatError, NoTokenError
from ..jit import njit
from ..text.phrase_fold import PHRASE_NORMALISATION_VERSION, phrase_tokens_many
from . import _hashing
from ._phrase_hashing import PREFIX, keyed, lookup_hash
from .keys import PUBLIC_KEY, Key, as_key

PHRASE_ALGORITHM_VERSION = 1

_BASE = np.uint64(0x9E3779B97F4A7C15)
_PARAMS_RE = re.compile(r"ctp([0-9]{1,9}):p([0-9]{1,9}):(public|[0-9a-f]{16})")
_STRING_RE = re.compile(r"\s*ctp\d+:p\d+:(?:public|[0-9a-f]{16}):[A-Za-z0-9_-]*\s*")
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


def looks_like_phrase_fingerprint(text: str) -> bool:
    """True when ``text`` has the form of a phrase fingerprint string."""
    return _STRING_RE.fullmatch(text) is not None


@dataclass(frozen=True)
class PhraseParams:
    """What a phrase fingerprint was made with; two compare only when equal."""

    algorithm: int = PHRASE_ALGORITHM_VERSION
    normalisation: int = PHRASE_NORMALISATION_VERSION
    key_id: str = PUBLIC_KEY.key_id

    def __str__(self) -> str:
        return f"ctp{self.algorithm}:p{self.normalisation}:{self.key_id}"

    @classmethod
    def parse(cls, text: str) -> PhraseParams:
        """Read ``ctp1:p1:KEY``; raise ``FingerprintFormatError`` naming what is wrong."""
        m = _PARAMS_RE.fullmatch(text)
        if m is None:
            raise FingerprintFormatError(
                f"bad phrase fingerprint parameters {text[:60]!r}: expected e.g. 'ctp1:p1:public'"
            )
        params = cls(int(m[1]), int(m[2]), m[3])
        if str(params) != text:
            raise FingerprintFormatError(
                f"bad phrase fingerprint parameters {text!r}: numbers have no leading zeros (write {params})"
            )
        if (
            params.algorithm != PHRASE_ALGORITHM_VERSION
            or params.normalisation != PHRASE_NORMALISATION_VERSION
        ):
            raise FingerprintFormatError(
                f"phrase fingerprint version {params} is not supported by this copytrace (it reads "
                f"ctp{PHRASE_ALGORITHM_VERSION}:p{PHRASE_NORMALISATION_VERSION}): upgrade copytrace"
            )
        return params


@dataclass(frozen=True)
class PhraseFingerprint:
    """A phrase as hashes: ``length`` skeleton letters in ``n_tokens`` tokens; ``prefix_hash`` is the keyed
    hash of the first ``prefix_length`` letters (``min(PREFIX, length)``), ``full_hash`` of all of them,
    ``strict_hash`` of the strict skeleton (doubled letters kept: ``meet`` is not ``met``)."""

    params: PhraseParams
    n_tokens: int
    length: int
    prefix_length: int
    prefix_hash: int
    full_hash: int
    strict_hash: int

    def __str__(self) -> str:
        head = _hashing.varint_encode(
            np.array([self.n_tokens, self.length, self.prefix_length], dtype=np.uint64)
        ).tobytes()
        hashes = np.array([self.prefix_hash, self.full_hash, self.strict_hash], dtype="<u8")
        payload = head + hashes.tobytes()
        return f"{self.params}:{base64.urlsafe_b64encode(payload).rstrip(b'=').decode('ascii')}"

    @classmethod
    def parse(cls, text: str) -> PhraseFingerprint:
        """Read the string form (canonical only); raise ``FingerprintFormatError`` naming what is wrong."""
        text = text.strip()
        head, sep, b64 = text.rpartition(":")
        if not sep:
            raise FingerprintFormatError("not a phrase fingerprint: expected 'ctp1:p1:KEY:DATA'")
        params = PhraseParams.parse(head)
        if _BASE64URL_RE.fullmatch(b64) is None or len(b64) % 4 == 1:
            raise FingerprintFormatError("phrase fingerprint data is not base64url (A-Z a-z 0-9 - _)")
        try:
            payload = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (binascii.Error, ValueError) as exc:
            raise FingerprintFormatError(f"phrase fingerprint data is not base64url: {exc}") from exc
        counts, used = _hashing.varint_decode(np.frombuffer(payload, dtype=np.uint8), 3)
        if used < 0 or len(payload) != used + 24:
            raise FingerprintFormatError("phrase fingerprint data is truncated or followed by extra data")
        n_tokens, length, prefix_length = (int(x) for x in counts)
        if not (1 <= n_tokens <= length < 2**31 and prefix_length == min(PREFIX, length)):
            raise FingerprintFormatError(
                f"phrase fingerprint of {n_tokens} tokens, {length} letters and a prefix of {prefix_length} "
                f"letters is impossible (the prefix is min({PREFIX}, letters), tokens at most letters)"
            )
        hashes = np.frombuffer(payload, dtype="<u8", count=3, offset=used)
        fp = cls(params, n_tokens, length, prefix_length, int(hashes[0]), int(hashes[1]), int(hashes[2]))
        if str(fp) != text:
            raise FingerprintFormatError("phrase fingerprint string is not in canonical form")
        return fp


@njit(cache=True, nogil=True)
def _phrase_hashes(key, text_key, strict, text_strict, k0, k1, prefix):  # type: ignore[no-untyped-def]
    """(length, prefix length, keyed prefix hash, keyed full hash, keyed strict hash) of each text."""
    n = text_key.shape[0] - 1
    lens = np.empty(n, dtype=np.int64)
    plens = np.empty(n, dtype=np.int64)
    ph = np.empty(n, dtype=np.uint64)
    fh = np.empty(n, dtype=np.uint64)
    sh = np.empty(n, dtype=np.uint64)
    for t in range(n):
        a = text_strict[t]
        m = text_strict[t + 1] - 1 - a
        h = np.uint64(0)
        for i in range(m):
            h = h * _BASE + np.uint64(strict[a + i])
        sh[t] = keyed(k0, k1, h, m)
        a = text_key[t]
        m = text_key[t + 1] - 1 - a
        h = np.uint64(0)
        lp = min(prefix, m)
        for i in range(m):
            h = h * _BASE + np.uint64(key[a + i])
        ph[t] = lookup_hash(k0, k1, key, a, lp) if m > 0 else np.uint64(0)
        lens[t] = m
        plens[t] = lp
        fh[t] = keyed(k0, k1, h, m)
    return lens, plens, ph, fh, sh


def phrase_fingerprints(
    texts: Sequence[str], *, key: Key | str | bytes | None = None, html: bool | None = None
) -> list[PhraseFingerprint | None]:
    """The phrase fingerprint of each text (None for a text with no token: nothing to match)."""
    key_ = as_key(key)
    toks = phrase_tokens_many(texts, html=html)
    lens, plens, ph, fh, sh = _phrase_hashes(
        toks.key, toks.text_key, toks.strict, toks.text_strict, np.uint64(key_.k0), np.uint64(key_.k1), PREFIX
    )
    n_tokens = np.bincount(toks.text, minlength=len(texts))
    params = PhraseParams(key_id=key_.key_id)
    return [
        PhraseFingerprint(
            params, int(n_tokens[i]), int(lens[i]), int(plens[i]), int(ph[i]), int(fh[i]), int(sh[i])
        )
        if n_tokens[i]
        else None
        for i in range(len(texts))
    ]


def phrase_fingerprint(
    text: str, *, key: Key | str | bytes | None = None, html: bool | None = None
) -> PhraseFingerprint:
    """The phrase fingerprint of ``text``; ``NoTokenError`` when it has no token (no letter, digit or
    ideograph): there would be nothing to find."""
    (fp,) = phrase_fingerprints([text], key=key, html=html)
    if fp is None:
        raise NoTokenError(f"text {text[:40]!r}")
    return fp
