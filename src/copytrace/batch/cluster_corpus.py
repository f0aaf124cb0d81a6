"""A labelled corpus of copy families, made from real text: what the cluster tests and benchmark measure.

A family is a passage of a real speech (``state_union/``, ``inaugural/`` in the shared data) and the copies
people make of it: reflowed, HTML, look-alike letters, edited words, sentences dropped, a header and footer
added, case and punctuation changed, copies of copies, and excerpts quoted inside unrelated text.
Singletons are other passages (or, past the real text there is, word salad drawn from its vocabulary,
which shares no passage with anything).  A *site footer* is appended to a share of all documents: text that
many unrelated documents share and that must make no family.

``labels[i]`` is document ``i``'s true family (a singleton has a label of its own); ``kinds[i]`` says what
it is.  An excerpt belongs to its family under ``--link partial`` only; ``labels_near`` gives the truth for
``--link near-duplicate``, where an excerpt is a singleton.  Same seed, same corpus.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..evaluation.perturb import SUITE, Context, boilerplate, case_punct, html, lookalikes, reflowed

SITE_FOOTER = (
    "You are reading the Daily Ledger. Subscribe to our newsletter for the top stories every morning, "
    "follow us on social media, and share this article with your friends and family. Copyright The Daily "
    "Ledger, all rights reserved; use of this site means you accept our terms of service and privacy policy."
)
SHARED_WORDS = 8
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class LabelledCorpus:
    """Documents and their true families (``labels``: under ``--link partial``; ``labels_near``: under
    ``--link near-duplicate``), with what each document is (``kinds``)."""

    ids: list[str]
    texts: list[str]
    labels: list[int]
    labels_near: list[int]
    kinds: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def passages(data: Path, *, words: tuple[int, int] = (180, 320), seed: int = 0) -> list[str]:
    """The speeches of ``data/corpora/{state_union,inaugural}`` cut into passages of whole sentences, less
    the passages that share a run of ``SHARED_WORDS`` words with another (a president quoting another, or
    himself): the truth says passages are unrelated, so real copies among them are left out."""
    from ..text.textio import read_text_file

    rng = random.Random(seed)
    out: list[str] = []
    for folder in ("state_union", "inaugural"):
        for path in sorted((data / "corpora" / folder).glob("*.txt")):
            sentences = _SENTENCE.split(" ".join(read_text_file(path).text.split()))
            piece: list[str] = []
            n = 0
            goal = rng.randint(*words)
            for s in sentences:
                piece.append(s)
                n += len(s.split())
                if n >= goal:
                    out.append(" ".join(piece))
                    piece, n, goal = [], 0, rng.randint(*words)
    return _unshared(out)


def _unshared(texts: list[str]) -> list[str]:
    """The texts that share no run of ``SHARED_WORDS`` words (lower-cased, letters and digits only) with
    another: a plain exact check, independent of how copytrace matches."""
    holders: dict[tuple[str, ...], set[int]] = {}
    for i, text in enumerate(texts):
        words = re.findall(r"[a-z0-9]+", text.lower())
        for j in range(len(words) - SHARED_WORDS + 1):
            holders.setdefault(tuple(words[j : j + SHARED_WORDS]), set()).add(i)
    shared = set().union(*(h for h in holders.values() if len(h) > 1))
    return [t for i, t in enumerate(texts) if i not in shared]


def _dropped(rng: random.Random, doc: str) -> str:
    sentences = _SENTENCE.split(doc)
    kept = [s for s in sentences if rng.random() >= 0.2]
    return " ".join(kept or sentences[:1])


def _salad(rng: random.Random, vocabulary: list[str], weights: list[int], n: int) -> str:
    words = rng.choices(vocabulary, weights=weights, k=n)
    return " ".join(words) + "."


def labelled_corpus(
    data: Path,
    *,
    families: int,
    singletons: int,
    seed: int = 0,
    footer_share: float = 0.25,
    sizes: tuple[int, int] = (2, 8),
) -> LabelledCorpus:
    """``families`` copy families of ``sizes`` members each and ``singletons`` unrelated documents, in a
    random order, with ``SITE_FOOTER`` appended to ``footer_share`` of all of them."""
    rng = random.Random(seed)
    pool = passages(data, seed=seed)
    rng.shuffle(pool)
    counts = Counter(w.lower() for p in pool for w in p.split())
    vocabulary, weights = list(counts), list(counts.values())
    ctx = Context(tuple(pool[:200]), tuple(vocabulary[:5000]))
    edits = SUITE["words-5%"]
    take = iter(pool[200:])

    def fresh(n_words: int = 250) -> str:
        got = next(take, None)
        return got if got is not None else _salad(rng, vocabulary, weights, n_words)

    docs: list[tuple[str, int, int, str]] = []  # text, label, label near, kind
    label = 0
    for _ in range(families):
        base = fresh()
        fam = label
        label += 1
        made = [base]
        docs.append((base, fam, fam, "original"))
        for _ in range(rng.randint(*sizes) - 1):
            kind = rng.choice(
                [
                    "reflowed",
                    "html",
                    "lookalikes",
                    "edited",
                    "sentence-dropped",
                    "boilerplate",
                    "case-punct",
                    "copy-of-copy",
                    "excerpt",
                ]
            )
            if kind == "excerpt":
                words = base.split()
                n = rng.randint(60, 100)
                start = rng.randrange(0, max(1, len(words) - n))
                host = fresh().split()
                cut = rng.randrange(len(host) // 4, 3 * len(host) // 4 + 1)
                text = " ".join(host[:cut] + words[start : start + n] + host[cut:])
                docs.append((text, fam, label, kind))
                label += 1
                continue
            if kind == "copy-of-copy":
                source = rng.choice(made)
                text = rng.choice([reflowed, case_punct, html])(rng, _dropped(rng, source), ctx)
            elif kind == "edited":
                text = edits(rng, base, ctx)
            elif kind == "sentence-dropped":
                text = _dropped(rng, base)
            else:
                gen = {
                    "reflowed": reflowed,
                    "html": html,
                    "lookalikes": lookalikes,
                    "boilerplate": boilerplate,
                    "case-punct": case_punct,
                }[kind]
                text = gen(rng, base, ctx)
            made.append(text)
            docs.append((text, fam, fam, kind))
    for _ in range(singletons):
        docs.append((fresh(), label, label, "singleton"))
        label += 1
    rng.shuffle(docs)
    texts = []
    for text, *_ in docs:
        if rng.random() < footer_share:
            text = text + "\n\n" + SITE_FOOTER
        texts.append(text)
    return LabelledCorpus(
        ids=[f"doc-{i:07d}" for i in range(len(docs))],
        texts=texts,
        labels=[d[1] for d in docs],
        labels_near=[d[2] for d in docs],
        kinds=[d[3] for d in docs],
    )


def pair_scores(truth: list[int], found: list[int]) -> dict[str, float]:
    """Adjusted Rand index, pair precision and pair recall of the clustering ``found`` against ``truth``
    (labels per document), counted over pairs of documents with contingency tables: no pair is listed."""
    import numpy as np

    t = np.unique(np.asarray(truth), return_inverse=True)[1]
    f = np.unique(np.asarray(found), return_inverse=True)[1]
    n = len(t)

    def pairs(counts: np.ndarray) -> float:
        c = counts.astype(np.float64)
        return float((c * (c - 1) / 2).sum())

    joint = np.unique(t * (int(f.max()) + 1 if n else 1) + f, return_counts=True)[1]
    both = pairs(joint)
    in_truth = pairs(np.bincount(t))
    in_found = pairs(np.bincount(f))
    total = n * (n - 1) / 2
    expected = in_truth * in_found / total if total else 0.0
    top = (in_truth + in_found) / 2
    ari = (both - expected) / (top - expected) if top != expected else 1.0
    return {
        "ari": ari,
        "precision": both / in_found if in_found else 1.0,
        "recall": both / in_truth if in_truth else 1.0,
    }
