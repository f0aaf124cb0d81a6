"""Copy families in a corpus: which documents are linked, with evidence, and ``cluster`` for a list of texts.

The concept is the banks' (``copytrace.index.families``): two documents are *versions* of each other when the
ordered-chain evidence of ``match`` holds between them and each holds at least ``VERSION_CONTAINMENT`` of
the other's fingerprints, and a fingerprint counts as boilerplate when many *families* hold it (the
``common_df`` rule of ``MatchParams``), not many documents.  A corpus is not added one document at a time,
so the families that the boilerplate rule counts are found first, in two passes over one index of the whole
corpus (every document an item of the bank ``CORPUS``, named by its number):

1. **Versions** (``version_links``): each document against the corpus index with every fingerprint weighing
   1, and its versions (``Index.versions_of``, which looks at the earliest 64 holders of each fingerprint,
   so a footer on a million documents costs 64 anchors) become its links.  Weighing every fingerprint 1 can
   only add links; a licence footer or a template is a small share of a document and makes no version.
2. **Evidence** (``edges_of``): the index again, its families the components of those links, with the
   boilerplate rule as in a bank: a fingerprint held by many families weighs little.  Each document is
   matched against it; every other document found is an *edge* with both containments, the score and the
   spans in both texts.  A text pushed by 500 accounts is one family and its fingerprints are not
   boilerplate; a footer on a quarter of the corpus is held by thousands of families and links nothing.

``--link near-duplicate`` keeps the edges that are versions (``is_version``); ``--link partial`` keeps every
edge, so a document that quotes a passage of another joins its family.  Clusters are the connected components
of the version links and the kept edges (``components``), each named by its earliest document: versions are
linked under either ``--link``, and the evidence pass does not look up a fingerprint held by more than 1,000
documents (``CLUSTER_MATCH_PARAMS``), so the members of a family that large are joined by their links.

>>> found = cluster(["We will continue our endeavors for the victory of the resistance, said the commander "
...                  "to a crowd gathered in the square on Friday evening after the prayers ended."] * 2
...                 + ["An unrelated note about the weather, which was mild for the season."])
>>> found.labels.tolist(), found.sizes.tolist()
([0, 0, 2], [2, 2, 1])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..index.families import MAX_LINKS, is_version
from ..index.match import MatchParams, Span

if TYPE_CHECKING:
    from ..fingerprints.batch import FingerprintBatch
    from ..fingerprints.keys import Key
    from ..index import Index

CORPUS = "corpus"  # the one bank of a corpus index; its items are named by document number
LINKS = ("partial", "near-duplicate")
EDGE_LIMIT = 64  # other documents reported per document (the best first): bounds the edges of a big family
UNWEIGHTED = MatchParams(common_df=1 << 40)  # every fingerprint weighs 1: the version pass
# The evidence pass: a bank's rules, and an edge's passages must be a tenth of one of its two documents, so
# that one stock sentence shared by two long speeches links nothing (partial links chain into families).
# A fingerprint held by more than 1,000 documents is not looked up there: it is boilerplate, or the text of
# a family that large, whose members the version links join already (the pass costs the square of the
# documents holding a fingerprint).  No quote pass: a quote is a run shorter than the chain rule's, which
# scores under ``min_score`` against any document of more than ten times its length, and verifying its
# candidates against their texts cost two thirds of the pass (``docs/cluster.md#speed``).
CLUSTER_MATCH_PARAMS = MatchParams(min_score=0.1, max_postings=1000, quotes=None)


@dataclass(frozen=True)
class Edge:
    """Two linked documents (``a`` before ``b`` in the corpus) and the evidence: ``a_containment`` is the
    share of ``a``'s fingerprints found in order in ``b``, ``b_containment`` the converse, ``score`` the
    larger; each span is a passage, ``query_*`` offsets in ``a`` and ``item_*`` offsets in ``b``."""

    a: int
    b: int
    score: float
    a_containment: float
    b_containment: float
    spans: tuple[Span, ...] = field(default_factory=tuple)

    @property
    def is_version(self) -> bool:
        return is_version(self.a_containment, self.b_containment)


def check_link(link: str) -> str:
    if link not in LINKS:
        raise InputError(f"--link {link!r}: choose partial or near-duplicate")
    return link


def version_links(index: Index, batch: FingerprintBatch, numbers: Sequence[int]) -> list[list[int]]:
    """The versions (document numbers) of each document of ``batch`` (numbered ``numbers``) in ``index``,
    an unweighted corpus index: at most ``MAX_LINKS``, the best first, itself left out."""
    out: list[list[int]] = []
    for i, number in enumerate(numbers):
        found = index.versions_of(batch[i], bank=CORPUS, limit=MAX_LINKS + 1)
        out.append([int(f) for f in found if int(f) != number][:MAX_LINKS])
    return out


def edges_of(
    index: Index, texts: Sequence[str], numbers: Sequence[int], *, html: bool | None = None
) -> tuple[list[Edge], list[bool]]:
    """The edges each of ``texts`` (documents ``numbers``) finds in ``index``, the corpus index whose families
    are the version links, and for each whether it was found from ``a``'s side (one found from ``b``'s side
    is turned round so that ``a < b``)."""
    answers = index.match_many(texts, html=html, limit=EDGE_LIMIT + 1, per_family=False)
    edges: list[Edge] = []
    from_a: list[bool] = []
    for number, matches in zip(numbers, answers, strict=True):
        for m in matches:
            other = int(m.item_id)
            if other == number:
                continue
            from_a.append(number < other)
            if number < other:
                edges.append(Edge(number, other, m.score, m.query_containment, m.item_containment, m.spans))
            else:
                flipped = tuple(Span(s.item_start, s.item_end, s.query_start, s.query_end) for s in m.spans)  # type: ignore[arg-type]
                edges.append(Edge(other, number, m.score, m.item_containment, m.query_containment, flipped))
    return edges, from_a


def pair_order(a: np.ndarray, b: np.ndarray, from_a: np.ndarray) -> np.ndarray:
    """Which rows to keep so that each pair ``(a, b)`` appears once: the one found from ``a``'s side where
    there is one (its spans were measured on ``a``'s text), else the first."""
    order = np.lexsort((~from_a, b, a))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (a[order][1:] != a[order][:-1]) | (b[order][1:] != b[order][:-1])
    return np.sort(order[first])


def kept(edges: Sequence[Edge], link: str) -> list[Edge]:
    """The edges ``link`` keeps."""
    return list(edges) if link == "partial" else [e for e in edges if e.is_version]


def _earliest(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.bincount(labels, minlength=len(labels))
    return labels, sizes[labels]


@dataclass(frozen=True)
class Clusters:
    """The copy families of a list of texts: ``labels[i]`` is the number of the earliest document of text
    ``i``'s family (``i`` itself when it has no copy), ``sizes[i]`` the family's size, ``edges`` the kept
    edges with their evidence, ``ids`` the documents' names."""

    ids: list[str]
    labels: np.ndarray
    sizes: np.ndarray
    edges: list[Edge]

    def families(self, min_size: int = 2) -> list[list[int]]:
        """Document numbers of each family of at least ``min_size``, largest first."""
        groups: dict[int, list[int]] = {}
        for i in np.flatnonzero(self.sizes >= min_size).tolist():
            groups.setdefault(int(self.labels[i]), []).append(i)
        return sorted(groups.values(), key=lambda g: (-len(g), g[0]))

    def rows(self) -> list[dict[str, Any]]:
        """One ``{"id", "cluster", "cluster_size"}`` per document, as ``clusters.jsonl`` holds them."""
        return [
            {"id": self.ids[i], "cluster": self.ids[int(lab)], "cluster_size": int(size)}
            for i, (lab, size) in enumerate(zip(self.labels.tolist(), self.sizes.tolist(), strict=True))
        ]


def corpus_index(
    batches: Sequence[tuple[Sequence[int], FingerprintBatch]],
    *,
    key: Key | str | bytes | None,
    match_params: MatchParams,
    links: dict[int, list[int]] | None = None,
    text_lookup: Callable[[str, str], str | None] | None = None,
) -> Index:
    """An in-memory corpus index of ``batches`` (document numbers and their fingerprints, in order), with
    ``links`` (number -> version numbers) as its families."""
    from ..index import Index

    params = batches[0][1].params if batches else None
    index = Index(
        key=key,
        k=params.k if params else 5,
        window=params.window if params else 4,
        match_params=match_params,
        keep_text=False,
        text_lookup=text_lookup,
    )
    for numbers, batch in batches:
        ids = [str(n) for n in numbers]
        linked = [[str(o) for o in (links or {}).get(n, ())] for n in numbers]
        index.add_batch(ids, batch, bank=CORPUS, links=linked)
    return index


def cluster(
    texts: Sequence[str],
    *,
    ids: Sequence[str] | None = None,
    link: str = "partial",
    key: Key | str | bytes | None = None,
    html: bool | None = None,
    match_params: MatchParams | None = None,
) -> Clusters:
    """The copy families of ``texts``, in this process: what ``copytrace cluster`` writes for a corpus of
    these documents (``ids`` name them; by default their positions).  ``link`` is ``"partial"`` (a document
    that quotes a passage of another joins its family) or ``"near-duplicate"`` (only versions link);
    ``match_params`` the evidence rule of the second pass (``CLUSTER_MATCH_PARAMS``)."""
    from ..fingerprints.batch import fingerprint_many
    from .components import union_find

    check_link(link)
    names = [str(i) for i in range(len(texts))] if ids is None else [str(i) for i in ids]
    if len(names) != len(texts):
        raise InputError(f"{len(texts)} texts but {len(names)} ids")
    n = len(texts)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Clusters([], empty, empty, [])
    batch, _ = fingerprint_many(texts, key=key, html=html)
    numbers = list(range(n))
    first = corpus_index([(numbers, batch)], key=key, match_params=UNWEIGHTED)
    versions = version_links(first, batch, numbers)
    del first
    links = {i: v for i, v in enumerate(versions) if v}
    index = corpus_index(
        [(numbers, batch)],
        key=key,
        match_params=match_params or CLUSTER_MATCH_PARAMS,
        links=links,
        text_lookup=lambda bank, item: texts[int(item)],
    )
    found, from_a = edges_of(index, texts, numbers, html=html)
    if found:
        a = np.array([e.a for e in found], dtype=np.int64)
        b = np.array([e.b for e in found], dtype=np.int64)
        found = [found[i] for i in pair_order(a, b, np.array(from_a)).tolist()]
    edges = kept(found, link)
    link_a = np.array([i for i, v in enumerate(versions) for _ in v], dtype=np.int64)
    link_b = np.array([o for v in versions for o in v], dtype=np.int64)
    labels = union_find(
        n, [(np.array([e.a for e in edges]), np.array([e.b for e in edges])), (link_a, link_b)]
    )
    labels, sizes = _earliest(labels)
    return Clusters(names, labels, sizes, edges)
