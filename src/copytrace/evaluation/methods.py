"""copytrace and its peers behind one interface: ``build(items)``, then ``query(text) -> matched item ids``.

Each peer is used as its users use it: MD5 of the whitespace-normalised text (shared hash lists);
threatexchange's ``raw_text`` signal through its own index (``matches_str``: Levenshtein within 5% of the
banked text, linear scan); threatexchange's ``text_tlsh`` extension through its own index; datasketch
MinHash-LSH with word 5-shingles, 128 permutations and threshold 0.5.  A peer whose package is missing is
reported as unavailable, not skipped silently.

copytrace runs twice: ``copytrace`` banks fingerprints only (as a shared hash list holds them: the chain
rule alone), ``copytrace_text`` keeps the banked texts, as ``copytrace bank add`` does, so short quotes are
verified on them (``copytrace.index.quotes``).  Both at the default matching parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..index import Index


class UnavailableError(Exception):
    """A method whose package is not installed."""


class Method:
    """One way of finding copies.  ``slow`` methods are run on a time budget."""

    name = ""
    description = ""
    slow = False

    def build(self, items: Mapping[str, str]) -> None:
        raise NotImplementedError

    def query(self, text: str) -> set[str]:
        raise NotImplementedError

    def cost(self, text: str) -> float:
        """An estimate of what one query costs, for ordering the queries of a slow method."""
        return 0.0


class Copytrace(Method):
    name = "copytrace"
    description = "copytrace at its default settings (k=5, window=4), fingerprints only"

    def build(self, items: Mapping[str, str]) -> None:
        self.index = Index(keep_text=False)
        for item_id, text in items.items():
            self.index.add(item_id, text)

    def query(self, text: str) -> set[str]:
        return {m.item_id for m in self.index.match(text)}


class CopytraceText(Copytrace):
    name = "copytrace_text"
    description = "copytrace with the banked texts kept, as `copytrace bank add` keeps them: quotes verified"

    def build(self, items: Mapping[str, str]) -> None:
        self.index = Index()
        for item_id, text in items.items():
            self.index.add(item_id, text)


class MD5(Method):
    name = "md5"
    description = "MD5 of the text with whitespace runs made one space (as in shared hash lists)"

    @staticmethod
    def _digest(text: str) -> str:
        return hashlib.md5(" ".join(text.split()).encode("utf-8")).hexdigest()

    def build(self, items: Mapping[str, str]) -> None:
        self.table: dict[str, set[str]] = {}
        for item_id, text in items.items():
            self.table.setdefault(self._digest(text), set()).add(item_id)

    def query(self, text: str) -> set[str]:
        return set(self.table.get(self._digest(text), ()))


class RawText(Method):
    name = "raw_text"
    description = "threatexchange raw_text: its index, matches_str (Levenshtein within 5%), linear scan"
    slow = True

    def build(self, items: Mapping[str, str]) -> None:
        try:
            from threatexchange.signal_type.raw_text import RawTextSignal
        except ImportError as exc:
            raise UnavailableError("pip install threatexchange") from exc
        from threatexchange import common

        self.normalize: Any = common.normalize_string
        self.index: Any = RawTextSignal.get_index_cls().build((text, i) for i, text in items.items())
        self.lengths = [len(self.normalize(t)) for t in items.values()]

    def query(self, text: str) -> set[str]:
        return {m.metadata for m in self.index.query(text)}

    def cost(self, text: str) -> float:
        """Levenshtein runs only against banked texts whose normalised length (lower case, letters and digits
        only, as ``matches_str`` compares them) is within 5% of the query's: the products of those lengths.
        Each product is also the size of the distance matrix it fills (8 bytes a cell)."""
        n = len(self.normalize(text))
        return float(sum(n * m for m in self.lengths if abs(n - m) <= 0.05 * n))


class TextTLSH(Method):
    name = "text_tlsh"
    description = (
        "threatexchange text_tlsh extension: TLSH digests compared with its compare_hash at its default "
        "threshold, linear scan (the extension ships no index)"
    )

    def build(self, items: Mapping[str, str]) -> None:
        try:
            from threatexchange.extensions.tlsh.text_tlsh import TextTLSHSignal
        except ImportError as exc:
            raise UnavailableError("pip install threatexchange py-tlsh") from exc
        self.signal: Any = TextTLSHSignal
        self.digests = [(TextTLSHSignal.hash_from_str(t), i) for i, t in items.items()]
        self.digests = [(h, i) for h, i in self.digests if h]

    def query(self, text: str) -> set[str]:
        digest = self.signal.hash_from_str(text)
        if not digest:
            return set()
        return {i for h, i in self.digests if self.signal.compare_hash(h, digest).match}


class MinHashLSH(Method):
    name = "minhash_lsh"
    description = "datasketch MinHashLSH: word 5-shingles, 128 permutations, threshold 0.5"

    @staticmethod
    def _minhash(text: str) -> Any:
        from datasketch import MinHash

        words = text.lower().split()
        shingles = {" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))}
        m = MinHash(num_perm=128)
        m.update_batch([s.encode("utf-8") for s in shingles])
        return m

    def build(self, items: Mapping[str, str]) -> None:
        try:
            from datasketch import MinHashLSH as DatasketchLSH
        except ImportError as exc:
            raise UnavailableError("pip install datasketch") from exc
        self.lsh = DatasketchLSH(threshold=0.5, num_perm=128)
        for item_id, text in items.items():
            self.lsh.insert(item_id, self._minhash(text))

    def query(self, text: str) -> set[str]:
        return set(self.lsh.query(self._minhash(text)))


ALL_METHODS: tuple[type[Method], ...] = (Copytrace, CopytraceText, MD5, RawText, TextTLSH, MinHashLSH)
"""Every method, copytrace first."""
