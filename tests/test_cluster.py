"""``copytrace.cluster`` in one process: the labelled corpus reaches the issue's goals, boilerplate makes no
family, every document is in exactly one cluster, edges carry spans, and union-find agrees with a
reference."""

from __future__ import annotations

import random
from collections import deque

import numpy as np
import pytest

import copytrace
from copytrace.batch.cluster_corpus import SITE_FOOTER, LabelledCorpus, labelled_corpus, pair_scores
from copytrace.batch.clustering import cluster
from copytrace.batch.components import union_find
from copytrace.errors import InputError
from copytrace.text.normalize import normalize

from .conftest import DATA


@pytest.fixture(scope="module")
def corpus() -> LabelledCorpus:
    return labelled_corpus(DATA, families=150, singletons=1000, seed=2)


@pytest.mark.parametrize("link", ["partial", "near-duplicate"], ids=str)
def test_the_labelled_corpus_reaches_the_goals(corpus: LabelledCorpus, link: str) -> None:
    found = cluster(corpus.texts, ids=corpus.ids, link=link)
    truth = corpus.labels if link == "partial" else corpus.labels_near
    scores = pair_scores(truth, found.labels.tolist())
    assert scores["ari"] >= 0.95, scores
    assert scores["precision"] >= 0.99, scores
    # the site footer (on a quarter of the documents) made no family of its own: no family is mostly
    # made of documents from different true families
    for members in found.families():
        labels = [truth[i] for i in members]
        assert max(labels.count(x) for x in set(labels)) / len(labels) >= 0.9


def test_the_public_name_is_the_library_function(corpus: LabelledCorpus) -> None:
    assert copytrace.cluster is cluster
    assert "cluster" in copytrace.__all__


def test_a_template_shared_by_thousands_of_unrelated_documents_makes_no_family() -> None:
    rng = random.Random(7)
    words = [
        w.strip(".,;").lower()
        for w in (DATA / "corpora" / "inaugural" / "1861-Lincoln.txt").read_text(encoding="utf-8").split()
    ]
    template = (
        "This message and any attachment are confidential and intended solely for the addressee. If you "
        "received it in error, delete it and tell the sender at once; any use, copying or disclosure of it "
        "by others is forbidden. We accept no liability for viruses or for changes made after it was sent."
    )
    texts = [" ".join(rng.choices(words, k=rng.randint(150, 250))) + ".\n\n" + template for _ in range(3000)]
    texts += [texts[5].replace("\n\n", " "), SITE_FOOTER]  # one real copy; the footer alone
    found = cluster(texts)
    assert found.families() == [[5, 3000]]
    assert all({e.a, e.b} == {5, 3000} for e in found.edges), "an edge through the template or the footer"


def test_every_document_is_in_exactly_one_cluster_named_by_its_earliest_member() -> None:
    base = (DATA / "corpora" / "state_union" / "1962-Kennedy.txt").read_text(encoding="utf-8")[:3000]
    texts = ["", "too short", base, base.upper(), "<p>" + base + "</p>", "unrelated " * 3, base[:1500]]
    found = cluster(texts, ids=["e", "s", "a", "b", "c", "u", "a"])  # ids need not be unique
    rows = found.rows()
    assert [r["id"] for r in rows] == ["e", "s", "a", "b", "c", "u", "a"]
    assert [r["cluster_size"] for r in rows] == [1, 1, 4, 4, 4, 1, 4]
    assert {r["cluster"] for r in rows if r["cluster_size"] == 4} == {"a"}
    assert found.labels.tolist() == [0, 1, 2, 2, 2, 5, 2]


def test_edges_carry_both_containments_and_spans_in_both_texts(corpus: LabelledCorpus) -> None:
    found = cluster(corpus.texts[:400], link="partial")
    assert found.edges
    for e in found.edges:
        assert e.a < e.b
        assert e.score == pytest.approx(max(e.a_containment, e.b_containment))
        assert e.spans
        for s in e.spans:
            assert s.item_start is not None and s.item_end is not None
            a_text = corpus.texts[e.a][s.query_start : s.query_end]
            b_text = corpus.texts[e.b][s.item_start : s.item_end]
            assert a_text and b_text
    exact = [e for e in found.edges if normalize(corpus.texts[e.a]) == normalize(corpus.texts[e.b])]
    for e in exact:
        assert e.a_containment == e.b_containment == 1.0


def test_a_short_shared_run_costs_the_evidence_pass_no_text_read() -> None:
    """The evidence pass runs no quote pass: a run of a few words that two documents share is a quote
    candidate, whose verification would read the other document's text; the chain rule alone decides."""
    from copytrace.batch.cluster_corpus import passages
    from copytrace.batch.clustering import CLUSTER_MATCH_PARAMS, corpus_index, edges_of
    from copytrace.fingerprints.batch import fingerprint_many

    first, other = passages(DATA)[:2]
    words = other.split()
    texts = [first, " ".join(words[:100] + first.split()[40:48] + words[100:])]
    batch, _ = fingerprint_many(texts)
    reads: list[str] = []

    def lookup(bank: str, item: str) -> str:
        reads.append(item)
        return texts[int(item)]

    index = corpus_index([([0, 1], batch)], key=None, match_params=CLUSTER_MATCH_PARAMS, text_lookup=lookup)
    found, _ = edges_of(index, texts[:1], [0])
    assert found == [] and "1" not in reads, reads


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(InputError, match="--link 'fuzzy'"):
        cluster(["a"], link="fuzzy")
    with pytest.raises(InputError, match="2 texts but 1 ids"):
        cluster(["a", "b"], ids=["x"])
    assert cluster([]).rows() == []


def _reference_components(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Breadth-first search: each node's smallest reachable node."""
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    label = [-1] * n
    for start in range(n):
        if label[start] >= 0:
            continue
        label[start] = start
        todo = deque([start])
        while todo:
            x = todo.popleft()
            for y in adj[x]:
                if label[y] < 0:
                    label[y] = start
                    todo.append(y)
    return label


def random_graph(seed: int, n: int, m: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randrange(n), rng.randrange(n)) for _ in range(m)]


GRAPHS = {
    "empty": (5, []),
    "self-loops": (4, [(1, 1), (2, 2)]),
    "chain": (50, [(i, i + 1) for i in range(49)]),
    "reversed-chain": (50, [(i + 1, i) for i in range(49)]),
    "star": (30, [(29, i) for i in range(29)]),
    "sparse": (300, random_graph(1, 300, 200)),
    "dense": (100, random_graph(2, 100, 600)),
}


@pytest.mark.parametrize("name", list(GRAPHS), ids=str)
def test_union_find_agrees_with_breadth_first_search(name: str) -> None:
    n, edges = GRAPHS[name]
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    halves = [(a[: len(a) // 2], b[: len(b) // 2]), (a[len(a) // 2 :], b[len(b) // 2 :])]
    assert union_find(n, halves).tolist() == _reference_components(n, edges)
