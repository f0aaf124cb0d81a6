"""The background model: how much a run of words says, measured against ordinary language.

A quote (``copytrace.index.quotes``) is a short run shared by a query and a banked text.  Whether it is a copy
or a coincidence depends on its words: "at the end of the day we will" is everywhere, "we don't sleep for
one night unless we think of eliminating" is one text's.  A bank's own document frequencies cannot say so
when the bank is small, so the run is measured against the language itself.

**Words.**  Each token's frequency in the language comes from ``wordfreq`` (its lists ship inside the
package; nothing is downloaded).  Words are matched by their normalised token hash (``normalize``), so the
model reads the same tokens the fingerprints are made of and needs no text: a query fingerprint made from
text carries them.  A token's *surprisal* is ``-log2(frequency)``, capped at ``MAX_BITS`` (unknown words,
names and typos count as rare, not as infinitely rare).  Its *content* is what it carries above the
function words: ``max(0, surprisal - BASE_BITS)``; "the", "of", "and" carry nothing, "sleep" 6 bits,
"eliminating" 10.  ``information(hashes)``, the sum of the content of a run's distinct tokens, is what a
quote must reach (``QuoteParams.min_bits``).

**Phrases.**  Words that are each common may still make a rare phrase, and rare words may make a stock
phrase (a licence line, a publisher's footer).  An optional ``Reference`` holds the word trigrams that
occur in at least ``min_docs`` documents of the user's own clean text; a token covered by such a trigram
carries nothing.  Build one with ``python -m copytrace.evaluation.reference OUT.npz CORPUS...`` (folders
of .txt files or JSON Lines of ``{"id", "text"}``) and name it in ``QuoteParams.reference``.

**Cached.**  Building a language's word table from ``wordfreq`` takes most of a second (reading its lists,
tokenising every word), which a command would pay at every start.  The table is saved the first time as
``background-<language>-<key>.npz`` in ``$COPYTRACE_CACHE`` (default ``$XDG_CACHE_HOME/copytrace``), keyed
by wordfreq's version, the language and this module's rules (``model_key``), and loaded from there in a few
milliseconds after that: the same arrays, so the same answers.  A folder that cannot be used (not this
user's, writable by others) or a file that does not read back is done without: the table is built in
memory, as before.

>>> from copytrace.text.normalize import tokenize
>>> bg = background("en")
>>> stock = bg.information(tokenize("at the end of the day we will").hashes)
>>> quote = bg.information(tokenize("we don't sleep for one night unless we think of eliminating").hashes)
>>> stock < 20 <= quote
True
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import logging
import os
import secrets
import stat
import threading
import zipfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError
from .normalize import NORMALISATION_VERSION, tokenize

log = logging.getLogger("copytrace.background")

MAX_BITS = 20.0
"""Surprisal of a word the language lists as rarer than about one in a million, or not at all."""
BASE_BITS = 7.0
"""Surprisal that carries no content: the few most common words of the language (about 1 in 128)."""
REFERENCE_N = 3
"""Words per phrase in a ``Reference``."""
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


class Background:
    """Per-token content of a language's words, looked up by token hash; with an optional ``Reference``
    of stock phrases.  Made by ``background(language)``."""

    def __init__(
        self, language: str, hashes: np.ndarray, bits: np.ndarray, reference: Reference | None = None
    ) -> None:
        self.language = language
        self._hashes = hashes  # sorted, unique
        self._bits = bits
        self.reference = reference

    def with_reference(self, reference: Reference | None) -> Background:
        """The same word model with ``reference``'s stock phrases."""
        return Background(self.language, self._hashes, self._bits, reference)

    def surprisal(self, hashes: np.ndarray) -> np.ndarray:
        """Bits of each token (``-log2`` of its frequency in the language, at most ``MAX_BITS``)."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        if not len(self._hashes):
            return np.full(len(hashes), MAX_BITS)
        # sorted needles walk the table in order: an unsorted search misses the cache at every step
        distinct, inverse = np.unique(hashes, return_inverse=True)
        at = np.minimum(np.searchsorted(self._hashes, distinct), len(self._hashes) - 1)
        bits = np.where(self._hashes[at] == distinct, self._bits[at], MAX_BITS)
        return bits[inverse]

    def content(self, hashes: np.ndarray) -> np.ndarray:
        """What each token of a run carries: surprisal above ``BASE_BITS``, 0 where a stock phrase of the
        reference covers it."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        out = np.maximum(0.0, self.surprisal(hashes) - BASE_BITS)
        if self.reference is not None:
            out[self.reference.covered(hashes)] = 0.0
        return out

    def information(self, hashes: np.ndarray) -> float:
        """Bits a run of tokens carries beyond ordinary language: the sum of its tokens' ``content``, each
        distinct token once (a word said ten times says no more than once)."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        content = self.content(hashes)
        distinct, inverse = np.unique(hashes, return_inverse=True)
        if len(distinct) == len(hashes):
            return float(content.sum())
        best = np.zeros(len(distinct))
        np.maximum.at(best, inverse, content)
        return float(best.sum())


def phrase_hashes(hashes: np.ndarray, n: int = REFERENCE_N) -> np.ndarray:
    """Hash of each run of ``n`` consecutive tokens (``len - n + 1`` of them)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    m = len(hashes) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    out = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            out = (out ^ hashes[j : j + m]) * _MIX[j % len(_MIX)]
            out ^= out >> np.uint64(29)
    return out


class Reference:
    """Stock phrases of a language: the hashes of the word ``n``-grams found in at least ``min_docs``
    documents of a clean corpus (``build``).  Holds no text."""

    def __init__(self, phrases: np.ndarray, *, n: int = REFERENCE_N, min_docs: int = 3, n_docs: int = 0):
        self.phrases = np.unique(np.asarray(phrases, dtype=np.uint64))
        self.n, self.min_docs, self.n_docs = n, min_docs, n_docs

    def __len__(self) -> int:
        return len(self.phrases)

    @classmethod
    def build(cls, texts: Iterable[str], *, n: int = REFERENCE_N, min_docs: int = 3) -> Reference:
        """The ``n``-grams of tokens that occur in at least ``min_docs`` of ``texts`` (each counted once
        a document)."""
        if n < 2 or min_docs < 1:
            raise InputError(f"a reference needs n >= 2 and min_docs >= 1, got n={n}, min_docs={min_docs}")
        per_doc = []
        for text in texts:
            per_doc.append(np.unique(phrase_hashes(tokenize(text).hashes, n)))
        if not per_doc:
            return cls(np.zeros(0, dtype=np.uint64), n=n, min_docs=min_docs)
        values, counts = np.unique(np.concatenate(per_doc), return_counts=True)
        return cls(values[counts >= min_docs], n=n, min_docs=min_docs, n_docs=len(per_doc))

    def covered(self, hashes: np.ndarray) -> np.ndarray:
        """Mask of the tokens of a run that lie in one of its stock phrases."""
        grams = phrase_hashes(hashes, self.n)
        mask = np.zeros(len(hashes), dtype=bool)
        if not len(grams) or not len(self.phrases):
            return mask
        at = np.minimum(np.searchsorted(self.phrases, grams), len(self.phrases) - 1)
        for start in np.flatnonzero(self.phrases[at] == grams).tolist():
            mask[start : start + self.n] = True
        return mask

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the reference (an ``.npz`` of hashes and its settings)."""
        with open(path, "wb") as fh:
            np.savez(fh, phrases=self.phrases, settings=np.array([self.n, self.min_docs, self.n_docs]))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Reference:
        """Read a reference written by ``save``; ``InputError`` when the file is not one."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                n, min_docs, n_docs = (int(v) for v in npz["settings"])
                return cls(npz["phrases"], n=n, min_docs=min_docs, n_docs=n_docs)
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(
                f"{os.fspath(path)!r} is not a copytrace reference ({exc}): build one with "
                "python -m copytrace.evaluation.reference OUT.npz CORPUS..."
            ) from exc


_LOCK = threading.Lock()
_MODEL_FORMAT = 1
"""Version of the rules ``_build_words`` applies (bump it when they change: cached tables are rebuilt)."""


def _wordfreq_version() -> str | None:
    """wordfreq's installed version, read from its ``.dist-info`` folder beside the package without
    importing it (``importlib.metadata`` takes 0.1-0.2 s in a large environment); None when not found."""
    spec = importlib.util.find_spec("wordfreq")
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin).parent
    found = sorted(glob.glob(glob.escape(str(package.parent)) + "/wordfreq-*.dist-info"))
    if len(found) != 1:  # none (installed another way), or the leftovers of a broken install
        return None
    version = Path(found[0]).name[len("wordfreq-") : -len(".dist-info")]
    init = os.stat(spec.origin)  # a reinstall of the same version is another installation
    return f"{version} ({init.st_size}, {init.st_mtime_ns})"


def model_key(language: str) -> str | None:
    """What a cached word table of ``language`` must have been built from: wordfreq's version and
    installation, the normalisation and this module's rules.  None when wordfreq's version cannot be told
    (then nothing is cached)."""
    version = _wordfreq_version()
    if version is None:
        return None
    return (
        f"copytrace background {_MODEL_FORMAT}; language {language}; wordfreq {version}; "
        f"normalisation {NORMALISATION_VERSION}; max bits {MAX_BITS}"
    )


def cache_folder() -> Path:
    """Where word tables are cached: ``$COPYTRACE_CACHE``, else ``$XDG_CACHE_HOME/copytrace``."""
    return Path(
        os.environ.get("COPYTRACE_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "copytrace"
    )


def _cache_path(language: str, key: str) -> Path | None:
    """The cached table's file, in a folder of this user's that no one else can write to (created 0700);
    None when there is no such folder."""
    folder = cache_folder()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
    except OSError as exc:
        log.debug("not caching the background model in %s: %s", folder, exc)
        return None
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.geteuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        log.debug("not caching the background model in %s: not a private folder of this user's", folder)
        return None
    name = language if language.replace("-", "").replace("_", "").isalnum() else "x"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return folder / f"background-{name[:32]}-{digest}.npz"


def _load_words(path: Path, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The table cached at ``path`` if it is one made for ``key``; None otherwise (missing, other key,
    unreadable)."""
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:  # np.load(path) leaks on errors
            if str(npz["key"]) != key:
                return None
            hashes, bits = npz["hashes"], npz["bits"]
    except FileNotFoundError:
        return None
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        log.debug("the cached background model %s does not read back (%s): building it again", path, exc)
        return None
    if hashes.dtype != np.uint64 or bits.dtype != np.float64 or hashes.shape != bits.shape:
        return None
    return hashes, bits


def _save_words(path: Path, key: str, hashes: np.ndarray, bits: np.ndarray) -> None:
    """Write the table atomically (a temporary file renamed into place: a reader sees all or nothing)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, key=np.array(key), hashes=hashes, bits=bits)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cannot cache the background model at %s: %s", path, exc)
        tmp.unlink(missing_ok=True)


@lru_cache(maxsize=8)
def _words(language: str) -> tuple[np.ndarray, np.ndarray]:
    """The word table of ``language``: from the cache when it holds one built from the same wordfreq and
    rules, else built (``_build_words``) and cached."""
    key = model_key(language)
    path = None if key is None else _cache_path(language, key)
    if path is not None and key is not None:
        cached = _load_words(path, key)
        if cached is not None:
            return cached
    hashes, bits = _build_words(language)
    if path is not None and key is not None:
        _save_words(path, key, hashes, bits)
    return hashes, bits


def _build_words(language: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique token hashes of ``language``'s words and each one's surprisal, from ``wordfreq``."""
    try:
        import wordfreq
    except ImportError as exc:  # a dependency: only a broken installation lacks it
        raise InputError("the background model needs wordfreq: pip install wordfreq") from exc
    try:
        freqs = wordfreq.get_frequency_dict(language, wordlist="best")
    except LookupError as exc:
        raise InputError(
            f"no word frequencies for language {language!r}: choose one of "
            f"{', '.join(sorted(wordfreq.available_languages()))}"
        ) from exc
    words = list(freqs)
    # Numbers: wordfreq lists digit shapes ("0000"); counts and years up to 2099 get their own estimate.
    numbers = [str(i) for i in range(2100)]
    values = [freqs[w] for w in words] + [wordfreq.word_frequency(w, language) for w in numbers]
    words += numbers
    text = "\n".join(words)
    toks = tokenize(text, html=False)
    line_starts = np.concatenate(([0], np.cumsum([len(w) + 1 for w in words])[:-1]))
    line = np.searchsorted(line_starts, toks.starts, side="right") - 1
    single = np.bincount(line, minlength=len(words)) == 1  # words that are one token
    keep = single[line]
    freq = np.asarray(values, dtype=np.float64)[line[keep]]
    hashes, inverse = np.unique(toks.hashes[keep], return_inverse=True)
    total = np.zeros(len(hashes), dtype=np.float64)
    np.add.at(total, inverse, freq)  # spellings that normalise alike are one token
    bits = np.minimum(MAX_BITS, -np.log2(np.maximum(total, 2.0**-MAX_BITS)))
    return hashes, bits


def background(language: str = "en", reference: str | os.PathLike[str] | None = None) -> Background:
    """The background model of ``language`` (a ``wordfreq`` code), with the ``Reference`` saved at
    ``reference``; loaded once per process and shared (from the cache: milliseconds; built the first time
    in a cache folder: about a second)."""
    with _LOCK:
        hashes, bits = _words(language)
        ref = None if reference is None else _reference(os.fspath(reference))
    return Background(language, hashes, bits, ref)


@lru_cache(maxsize=8)
def _reference(path: str) -> Reference:
    return Reference.load(path)
