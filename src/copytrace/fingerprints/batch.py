"""Many fingerprints at once: one compiled pass to parse stored strings or to fingerprint many texts.

Building an index of a million stored items, or matching a batch of texts, must not pay Python's per-call
costs once per item.  A ``FingerprintBatch`` holds the fingerprints of many items in four flat arrays (all
hashes and positions concatenated, ``offsets`` delimiting the items, ``n_tokens`` per item), so an index can
take them whole; ``batch[i]`` is item ``i`` as a ``Fingerprint`` whose arrays are views into the batch.

``parse_many`` reads fingerprint strings in one compiled pass over their concatenated bytes and accepts
exactly what ``Fingerprint.parse`` accepts (the canonical string form, ``MAX_TOKENS``, the winnowing
invariants), and only strings made with the expected parameters.  The few it refuses are handed to
``Fingerprint.parse`` for the error, so a refused string gets the same ``FingerprintFormatError`` message as
parsing it alone.  ``fingerprint_many`` tokenises the texts and hashes and winnows all of them in one compiled
call; each result equals ``fingerprint(text, ...)``.

>>> from copytrace import fingerprint
>>> batch, tokens = fingerprint_many(["a short one", "one two three four five six seven eight"])
>>> len(batch), len(batch[0]), batch[1] == fingerprint("one two three four five six seven eight")
(2, 0, True)
>>> parsed, bad = parse_many([str(batch[1]), "ctw1:n1:k5:w4:public:AICAgICAIA"], batch.params)
>>> len(parsed), bad[0][0], parsed[0] == batch[1]
(1, 1, True)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import FingerprintFormatError, InputError, ParameterMismatchError, TooShortError
from ..jit import njit
from ..text.html import looks_like_html
from ..text.normalize import Tokens, tokenize
from . import _hashing
from .fingerprint import (
    DEFAULT_K,
    DEFAULT_WINDOW,
    MAX_TOKENS,
    Fingerprint,
    FingerprintParams,
)
from .keys import Key, as_key

__all__ = ["FingerprintBatch", "fingerprint_many", "parse_many"]


@dataclass(frozen=True, eq=False)
class FingerprintBatch:
    """The fingerprints of ``len(batch)`` items made with ``params``, in flat arrays.

    Item ``i`` has the hashes ``hashes[offsets[i]:offsets[i + 1]]`` (uint64) at the token positions
    ``positions[offsets[i]:offsets[i + 1]]`` (int64, ascending) and covers ``n_tokens[i]`` tokens.
    """

    params: FingerprintParams
    hashes: np.ndarray
    positions: np.ndarray
    offsets: np.ndarray
    n_tokens: np.ndarray

    def __post_init__(self) -> None:
        n = self.n_tokens.shape[0]
        if (
            self.offsets.shape != (n + 1,)
            or self.hashes.shape != self.positions.shape
            or int(self.offsets[0]) != 0
            or int(self.offsets[-1]) != self.hashes.shape[0]
        ):
            raise ValueError(
                f"inconsistent batch: {n} items, {self.offsets.shape[0]} offsets ending at "
                f"{int(self.offsets[-1])}, {self.hashes.shape[0]} hashes, {self.positions.shape[0]} positions"
            )

    def __len__(self) -> int:
        return int(self.n_tokens.shape[0])

    def __getitem__(self, i: int) -> Fingerprint:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"item {i} of a batch of {n}")
        if i < 0:
            i += n
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return Fingerprint(self.params, self.hashes[a:b], self.positions[a:b], int(self.n_tokens[i]))

    def __iter__(self) -> Iterator[Fingerprint]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"FingerprintBatch({self.params}, {len(self)} items, {self.hashes.shape[0]} hashes)"

    @classmethod
    def from_fingerprints(cls, fps: Iterable[Fingerprint], params: FingerprintParams) -> FingerprintBatch:
        """The batch of ``fps`` in order; ``ParameterMismatchError`` if one was made with other ``params``."""
        fps = list(fps)
        for fp in fps:
            if fp.params != params:
                raise ParameterMismatchError(params, fp.params)
        counts = np.fromiter((len(fp) for fp in fps), dtype=np.int64, count=len(fps))
        offsets = np.zeros(len(fps) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return cls(
            params,
            _concat([fp.hashes for fp in fps], np.uint64),
            _concat([fp.positions for fp in fps], np.int64),
            offsets,
            np.fromiter((fp.n_tokens for fp in fps), dtype=np.int64, count=len(fps)),
        )

    @classmethod
    def empty(cls, params: FingerprintParams) -> FingerprintBatch:
        """A batch of no items."""
        return cls.from_fingerprints([], params)


def _concat(arrays: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
    if not arrays:
        return np.empty(0, dtype=dtype)
    return np.concatenate(arrays).astype(dtype, copy=False)


# --------------------------------------------------------------------------------------------- parsing
_B64_VALUES = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"):
    _B64_VALUES[_c] = _i
_SPACE = np.zeros(256, dtype=np.bool_)
_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True  # the ASCII characters str.strip() removes


@njit(cache=True, nogil=True)
def _b64_decode(buf, a, b, values, out):  # type: ignore[no-untyped-def]
    """Decode canonical unpadded base64url ``buf[a:b]`` into ``out``; its length, or -1 when not canonical."""
    n = b - a
    rem = n % 4
    if rem == 1:
        return -1
    p = 0
    i = a
    full = a + n - rem
    while i < full:
        c0 = values[buf[i]]
        c1 = values[buf[i + 1]]
        c2 = values[buf[i + 2]]
        c3 = values[buf[i + 3]]
        if c0 < 0 or c1 < 0 or c2 < 0 or c3 < 0:
            return -1
        v = (c0 << 18) | (c1 << 12) | (c2 << 6) | c3
        out[p] = (v >> 16) & 0xFF
        out[p + 1] = (v >> 8) & 0xFF
        out[p + 2] = v & 0xFF
        p += 3
        i += 4
    if rem >= 2:
        c0 = values[buf[i]]
        c1 = values[buf[i + 1]]
        if c0 < 0 or c1 < 0:
            return -1
        out[p] = ((c0 << 2) | (c1 >> 4)) & 0xFF
        p += 1
        if rem == 2:
            if c1 & 0xF:
                return -1  # stray bits: not what encoding the bytes gives
        else:
            c2 = values[buf[i + 2]]
            if c2 < 0 or c2 & 0x3:
                return -1
            out[p] = (((c1 & 0xF) << 4) | (c2 >> 2)) & 0xFF
            p += 1
    return p


@njit(cache=True, nogil=True)
def _varint(payload, p, n):  # type: ignore[no-untyped-def]
    """The canonical LEB128 value at ``payload[p:n]`` and the index after it; index -1 when truncated,
    overlong or wider than 64 bits."""
    v = np.uint64(0)
    shift = np.uint64(0)
    while True:
        if p >= n or shift > np.uint64(63):
            return v, -1
        byte = payload[p]
        p += 1
        v |= np.uint64(byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and shift > np.uint64(0):
                return v, -1  # overlong: a final zero byte
            if shift == np.uint64(63) and byte > 1:
                return v, -1  # bits beyond 64 are lost
            return v, p
        shift += np.uint64(7)


@njit(cache=True, nogil=True)
def _parse_one(buf, a, b, prefix, values, k, window, max_tokens, payload, out_h, out_p, c):  # type: ignore[no-untyped-def]
    """Parse the string ``buf[a:b]`` and write its hashes and positions at ``out_h[c:]``/``out_p[c:]``.

    Returns (hash count, n_tokens), count -1 when ``Fingerprint.parse`` would refuse the string or it was
    made with other parameters than ``prefix`` names.
    """
    while a < b and _SPACE[buf[a]]:
        a += 1
    while b > a and _SPACE[buf[b - 1]]:
        b -= 1
    m = prefix.shape[0]
    if b - a < m:
        return -1, 0
    for j in range(m):
        if buf[a + j] != prefix[j]:
            return -1, 0
    plen = _b64_decode(buf, a + m, b, values, payload)
    if plen < 0:
        return -1, 0
    count_u, p = _varint(payload, 0, plen)
    if p < 0:
        return -1, 0
    n_tokens_u, p = _varint(payload, p, plen)
    if p < 0 or n_tokens_u > np.uint64(max_tokens):
        return -1, 0
    if count_u > np.uint64((plen - p) // 8):
        return -1, 0
    count = np.int64(count_u)
    n_tokens = np.int64(n_tokens_u)
    n_kgrams = n_tokens - k + 1
    if n_kgrams <= 0:
        if count != 0:
            return -1, 0
    elif count == 0 or count > n_kgrams:
        return -1, 0
    for j in range(count):
        h = np.uint64(0)
        q = p + 8 * j
        for byte in range(8):
            h |= np.uint64(payload[q + byte]) << np.uint64(8 * byte)
        out_h[c + j] = h
    p += 8 * count
    position = np.int64(0)
    for j in range(count):
        delta_u, p = _varint(payload, p, plen)
        if p < 0:
            return -1, 0
        if j == 0:
            if delta_u >= np.uint64(window):
                return -1, 0
        elif delta_u == np.uint64(0) or delta_u > np.uint64(window):
            return -1, 0
        position += np.int64(delta_u)
        out_p[c + j] = position
    if p != plen:
        return -1, 0
    if count and not n_kgrams - window <= position <= n_kgrams - 1:
        return -1, 0
    return count, n_tokens


@njit(cache=True, nogil=True)
def _parse_kernel(buf, starts, ends, prefix, values, k, window, max_tokens):  # type: ignore[no-untyped-def]
    """Parse every string ``buf[starts[i]:ends[i]]``: returns (ok, counts, n_tokens, hashes, positions),
    the hashes and positions of the accepted strings concatenated in order."""
    n = starts.shape[0]
    cap = 0
    longest = 0
    for i in range(n):
        length = ends[i] - starts[i]
        cap += length * 3 // 32 + 1  # a payload of 3/4 of the characters, 8 bytes per hash at least
        longest = max(longest, length)
    out_h = np.empty(cap, dtype=np.uint64)
    out_p = np.empty(cap, dtype=np.int64)
    payload = np.empty(longest * 3 // 4 + 3, dtype=np.uint8)
    ok = np.zeros(n, dtype=np.bool_)
    counts = np.zeros(n, dtype=np.int64)
    n_tokens = np.zeros(n, dtype=np.int64)
    c = 0
    for i in range(n):
        count, nt = _parse_one(
            buf, starts[i], ends[i], prefix, values, k, window, max_tokens, payload, out_h, out_p, c
        )
        if count >= 0:
            ok[i] = True
            counts[i] = count
            n_tokens[i] = nt
            c += count
    if c < cap * 3 // 4:  # do not keep a mostly unused buffer alive
        return ok, counts, n_tokens, out_h[:c].copy(), out_p[:c].copy()
    return ok, counts, n_tokens, out_h[:c], out_p[:c]


def _supported(params: FingerprintParams) -> bool:
    try:
        return FingerprintParams.parse(str(params)) == params
    except FingerprintFormatError:
        return False


def _compiled_parse(
    strings: Sequence[str], params: FingerprintParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The compiled pass of ``parse_many``: (ok, counts, n_tokens, hashes, positions) as ``_parse_kernel``.

    It refuses every string with a character outside ASCII (so ``ok`` is exact for ASCII strings only),
    and every string when ``params`` is of a version this copytrace cannot read.
    """
    n = len(strings)
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=n)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    if not _supported(params):
        starts = ends  # no string: each is refused, and parsed alone for its error
    joined = "".join(strings)
    try:
        raw = joined.encode("ascii")
    except UnicodeEncodeError:
        raw = joined.encode("ascii", "replace")  # one '?' per other character: never valid, offsets kept
    return _parse_bytes(np.frombuffer(raw, dtype=np.uint8), starts, ends, params)


def _parse_bytes(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, params: FingerprintParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    prefix = np.frombuffer(f"{params}:".encode("ascii", "replace"), dtype=np.uint8)
    result: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] = _parse_kernel(
        buf, starts, ends, prefix, _B64_VALUES, params.k, params.window, MAX_TOKENS
    )
    return result


def parse_ascii_many(blobs: Sequence[bytes], params: FingerprintParams) -> FingerprintBatch | None:
    """The batch of the fingerprint strings ``blobs`` (encoded, as a database returns them as bytes) made
    with ``params``, parsed in one compiled pass over their joined bytes; None when that pass refuses any of
    them (a malformed string, other parameters, a character outside ASCII), for ``parse_many`` to tell which
    and why."""
    if not _supported(params):
        return None
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    ok, counts, n_tokens, hashes, positions = _parse_bytes(
        np.frombuffer(b"".join(blobs), dtype=np.uint8), starts, ends, params
    )
    if not ok.all():
        return None
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return FingerprintBatch(params, hashes, positions, offsets, n_tokens)


def parse_many(
    strings: Sequence[str], params: FingerprintParams
) -> tuple[FingerprintBatch, list[tuple[int, FingerprintFormatError]]]:
    """Parse fingerprint strings made with ``params``; return the batch of the good ones (in input order)
    and ``(input position, error)`` for each bad one.

    A string is good when ``Fingerprint.parse`` accepts it and it was made with ``params``; a bad one's
    error is the one ``Fingerprint.parse`` raises, or one naming both parameter strings.
    """
    ok, counts, n_tokens, hashes, positions = _compiled_parse(strings, params)
    errors: list[tuple[int, FingerprintFormatError]] = []
    rescued: list[tuple[int, Fingerprint]] = []
    for i in np.flatnonzero(~ok).tolist():
        try:
            fp = Fingerprint.parse(strings[i])
        except FingerprintFormatError as exc:
            errors.append((i, exc))
            continue
        if fp.params != params:
            errors.append(
                (
                    i,
                    FingerprintFormatError(
                        f"fingerprint made with {fp.params}, expected {params}: fingerprint both sides with "
                        "the same algorithm version, k, window and key"
                    ),
                )
            )
            continue
        rescued.append((i, fp))  # e.g. surrounded by non-ASCII whitespace, which the compiled pass refuses
    good = ok
    if rescued:
        good = ok.copy()
        good[[i for i, _ in rescued]] = True
        hashes, positions = _splice(counts, hashes, positions, rescued)
        counts = counts.copy()
        n_tokens = n_tokens.copy()
        for i, fp in rescued:
            counts[i] = len(fp)
            n_tokens[i] = fp.n_tokens
    offsets = np.zeros(int(good.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[good], out=offsets[1:])
    return FingerprintBatch(params, hashes, positions, offsets, n_tokens[good]), errors


def _splice(
    counts: np.ndarray,
    hashes: np.ndarray,
    positions: np.ndarray,
    rescued: list[tuple[int, Fingerprint]],
) -> tuple[np.ndarray, np.ndarray]:
    """``hashes``/``positions`` of the accepted strings with those of ``rescued`` put in their places."""
    before = np.cumsum(counts)  # counts are 0 where not ok: at a refused i, the hashes of those before it
    at = np.concatenate([np.full(len(fp), before[i]) for i, fp in rescued])
    return (
        np.insert(hashes, at, np.concatenate([fp.hashes for _, fp in rescued])),
        np.insert(positions, at, np.concatenate([fp.positions for _, fp in rescued])),
    )


# --------------------------------------------------------------------------------------- fingerprinting
@njit(cache=True, nogil=True)
def _fingerprint_kernel(token_hashes, token_offsets, k, k0, k1, window):  # type: ignore[no-untyped-def]
    """Hash and winnow the tokens of each text (``token_hashes[token_offsets[i]:token_offsets[i + 1]]``)
    as ``fingerprint`` does; returns (hashes, positions, offsets) of all texts concatenated."""
    n = token_offsets.shape[0] - 1
    total = token_hashes.shape[0]
    out_h = np.empty(total, dtype=np.uint64)
    out_p = np.empty(total, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    c = 0
    for i in range(n):
        grams = _hashing.kgram_hashes(token_hashes[token_offsets[i] : token_offsets[i + 1]], k, k0, k1)
        selected = _hashing.winnow(grams, window)
        for j in range(selected.shape[0]):
            out_h[c + j] = grams[selected[j]]
            out_p[c + j] = selected[j]
        c += selected.shape[0]
        offsets[i + 1] = c
    return out_h[:c].copy(), out_p[:c].copy(), offsets


def _tokenize_many(texts: Sequence[str], html: bool | None) -> tuple[list[Tokens], np.ndarray, np.ndarray]:
    """``tokenize(text, html=html)`` of each text, with all texts' token counts and token hashes.

    The plain texts are tokenised in one call, joined by spaces: a space separates tokens, so none runs
    across two texts.  Texts that are HTML (or all, with ``html=True``) are tokenised one by one.
    """
    is_html = [html] * len(texts) if html is not None else list(map(looks_like_html, texts))
    plain = [t for t, h in zip(texts, is_html, strict=True) if not h]
    lengths = np.fromiter(map(len, plain), dtype=np.int64, count=len(plain))
    bases = np.cumsum(lengths + 1) - (lengths + 1)  # where each text starts in the joined one
    joined = tokenize(" ".join(plain), html=False)
    cuts = np.searchsorted(joined.starts, bases)
    n_plain = np.diff(cuts, append=len(joined))
    owner_base = np.repeat(bases, n_plain)
    starts, ends, hashes = joined.starts - owner_base, joined.ends - owner_base, joined.hashes
    bounds = [*cuts.tolist(), len(joined)]
    tokens = [Tokens(starts[a:b], ends[a:b], hashes[a:b]) for a, b in itertools.pairwise(bounds)]
    if len(plain) == len(texts):
        return tokens, n_plain, hashes
    found = iter(tokens)
    tokens = [tokenize(t, html=True) if h else next(found) for t, h in zip(texts, is_html, strict=True)]
    n_tokens = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    return tokens, n_tokens, _concat([t.hashes for t in tokens], np.uint64)


def fingerprint_many(
    texts: Sequence[str],
    *,
    key: Key | str | bytes | None = None,
    k: int = DEFAULT_K,
    window: int = DEFAULT_WINDOW,
    html: bool | None = None,
    allow_short: bool = True,
) -> tuple[FingerprintBatch, list[Tokens]]:
    """Fingerprint many texts: ``batch[i] == fingerprint(texts[i], ...)``, and ``tokens[i]`` its tokens.

    The options are those of ``fingerprint``; a text with fewer than ``k`` tokens has an empty fingerprint,
    or with ``allow_short=False`` raises ``TooShortError`` (the first such text; a note gives its position).
    """
    key_ = as_key(key)
    params = FingerprintParams(k=k, window=window, key_id=key_.key_id)
    tokens, n_tokens, token_hashes = _tokenize_many(texts, html)
    if n_tokens.size and int(n_tokens.max()) > MAX_TOKENS:
        i = int(np.argmax(n_tokens))
        raise InputError(f"text {i} has {int(n_tokens[i])} tokens: at most {MAX_TOKENS} can be fingerprinted")
    if not allow_short and n_tokens.size and int(n_tokens.min()) < k:
        i = int(np.argmax(n_tokens < k))
        exc = TooShortError(int(n_tokens[i]), k)
        exc.add_note(f"text {i} of the {len(texts)} given")
        raise exc
    token_offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum(n_tokens, out=token_offsets[1:])
    hashes, positions, offsets = _fingerprint_kernel(
        token_hashes, token_offsets, k, np.uint64(key_.k0), np.uint64(key_.k1), window
    )
    return FingerprintBatch(params, hashes, positions, offsets, n_tokens), tokens
