"""The evaluation set: a seeded bank sampled from a corpus, positive queries made by the perturbation
suite, and negatives, with ground truth that does not depend on any method.

Two banks hold the same documents.  The *sparse* bank holds each once.  The *dense* bank holds a sample of
them as many versions each (``versions``: own first and last line, half with 2% word edits), as teams bank
every repost they remove, and the rest once.  The same queries run against both; on the dense bank a query
is found when any version of its source document is reported (``Bank.source``).

Half the banked items carry a publisher's footer, as articles from one site do, so that a negative carrying
the same footer tests that boilerplate alone does not match.  Negatives are 300-word passages of the
unbanked documents, as they are and with a header and footer added; a passage that truly shares 10 or more
consecutive words with a banked document (checked on lower-cased words, before any method runs) is set
aside and counted, because a match on it is a real copy, not a false positive.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..text.textio import read_text_file
from .perturb import FOOTERS, HEADERS, SUITE, Context
from .versions import footer, header, versions

SHARED_WORDS = 10
NEGATIVE_WORDS = 300
_WORDS = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Query:
    id: str
    row: str
    text: str
    truth: str | None  # the banked item it was made from; None for a negative


@dataclass(frozen=True)
class Bank:
    """Items the methods are built on, and the banked document each item is a version of."""

    name: str
    items: dict[str, str]
    source: dict[str, str]  # item id -> the document (a sparse bank's item id) it is a version of
    versions: int = 1  # versions of each sampled document
    sampled: tuple[str, ...] = ()  # documents banked as ``versions`` versions

    def truth(self, answered: set[str]) -> set[str]:
        """The documents whose versions are among ``answered``."""
        return {self.source.get(item, item) for item in answered}


@dataclass
class Suite:
    items: dict[str, str]
    queries: list[Query]
    set_aside: list[tuple[str, str]] = field(default_factory=list)  # (negative document, banked item)
    seed: int = 0
    dense: Bank | None = None

    @property
    def sparse(self) -> Bank:
        return Bank("sparse", self.items, {i: i for i in self.items})

    @property
    def banks(self) -> list[Bank]:
        """The sparse bank, then the dense bank where there is one."""
        return [self.sparse] + ([self.dense] if self.dense else [])


def load_corpus(paths: Iterable[str | Path]) -> dict[str, str]:
    """Documents from folders of ``.txt`` files (read as ``textio`` reads files) and JSONL files, of 150
    words or more; a document that repeats an earlier one word for word is left out."""
    docs: dict[str, str] = {}
    folders = [Path(p) for p in paths]
    for path in folders:
        prefix = f"{path.stem}/" if len(folders) > 1 else ""
        if path.is_dir():
            files = sorted(path.rglob("*.txt"))
            if not files:
                raise InputError(f"{path}: no .txt files in it")
            for f in files:
                docs[prefix + f.relative_to(path).with_suffix("").as_posix()] = read_text_file(f).text
        elif path.is_file():
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    docs[prefix + str(rec["id"])] = str(rec["text"])
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise InputError(f'{path}:{n}: expected {{"id", "text"}}: {exc}') from exc
        else:
            raise InputError(f"{path}: no such file or directory")
    docs = {k: v for k, v in docs.items() if len(v.split()) >= 150}
    seen: set[str] = set()
    for name in list(docs):  # a story a corpus holds twice would be two sources of one excerpt: keep one
        words = " ".join(docs[name].lower().split())
        if words in seen:
            del docs[name]
        seen.add(words)
    if len(docs) < 20:
        raise InputError(f"need at least 20 documents of 150 words or more, found {len(docs)}")
    return docs


def _windows(text: str, n: int = SHARED_WORDS) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORDS.findall(text)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def build_suite(
    docs: dict[str, str],
    *,
    seed: int = 1,
    per_row: int = 40,
    bank_size: int | None = None,
    dense_versions: int = 0,
    dense_sample: int | None = None,
) -> Suite:
    """Bank a sample of ``docs`` and make ``per_row`` queries for each perturbation, plus negatives.

    With ``dense_versions`` > 1 and ``dense_sample`` not 0, also a dense bank: ``dense_sample`` banked
    documents (default: half of them, seeded) as ``dense_versions`` versions each, the others once.
    """
    rng = random.Random(seed)
    names = sorted(docs)
    rng.shuffle(names)
    n_bank = bank_size or len(names) // 2
    banked, others = sorted(names[:n_bank]), sorted(names[n_bank:])
    items = {}
    for name in banked:
        items[name] = docs[name] + ("\n" + rng.choice(FOOTERS) if rng.random() < 0.5 else "")
    passages = []
    for name in others:
        words = docs[name].split()
        for start in range(0, max(1, len(words) - 150), 600):
            passages.append(" ".join(words[start : start + 150]))
    vocabulary = tuple(sorted({w for name in others for w in docs[name].split() if w.isalpha()}))
    ctx = Context(tuple(passages), vocabulary)
    queries = []
    for row, make in SUITE.items():
        for n in range(per_row):
            qrng = random.Random(f"{seed}/{row}/{n}")
            source = qrng.choice(banked)
            # an excerpt quotes the document, never the publisher's footer banked after it
            text = docs[source] if row.startswith("excerpt-") else items[source]
            queries.append(Query(f"{row}/{n}", row, make(qrng, text, ctx), source))
    owner: dict[tuple[str, ...], str] = {}
    for name in banked:
        for window in _windows(docs[name]):
            owner.setdefault(window, name)
    set_aside: list[tuple[str, str]] = []
    for name in others:
        words = docs[name].split()
        for start in range(0, len(words), NEGATIVE_WORDS):
            passage = " ".join(words[start : start + NEGATIVE_WORDS])
            if len(passage.split()) < NEGATIVE_WORDS // 2:
                continue
            qid = f"{name}@{start}"
            shared = sorted({owner[w] for w in _windows(passage) if w in owner})
            if shared:
                set_aside.extend((qid, b) for b in shared)
                continue
            nrng = random.Random(f"{seed}/negative/{qid}")
            queries.append(Query(f"negative/{qid}", "negative", passage, None))
            wrapped = nrng.choice(HEADERS) + "\n\n" + passage + "\n\n" + nrng.choice(FOOTERS)
            queries.append(Query(f"negative+boilerplate/{qid}", "negative+boilerplate", wrapped, None))
    lines: tuple[str, ...] = HEADERS + FOOTERS
    dense = None
    if dense_versions > 1 and dense_sample != 0:
        dense = _dense_bank(items, ctx, seed, dense_versions, dense_sample)
        vrng = random.Random(f"{seed}/version-lines")  # the lines of versions, alone, match nothing
        lines += (header(vrng, 1), footer(vrng))
    for n, text in enumerate(lines):
        queries.append(Query(f"boilerplate-alone/{n}", "boilerplate-alone", text, None))
    return Suite(items, queries, set_aside, seed, dense)


def _dense_bank(items: dict[str, str], ctx: Context, seed: int, n_versions: int, sample: int | None) -> Bank:
    names = sorted(items)
    k = len(names) // 2 if sample is None else sample
    if not 0 < k <= len(names):
        raise InputError(
            f"dense sample of {k}: choose 1 to {len(names)} (the documents banked), or 0 for none"
        )
    sampled = sorted(random.Random(f"{seed}/dense").sample(names, k))
    dense: dict[str, str] = {}
    source: dict[str, str] = {}
    chosen = set(sampled)
    for name in names:
        if name not in chosen:
            dense[name], source[name] = items[name], name
            continue
        made = versions(random.Random(f"{seed}/versions/{name}"), items[name], n_versions, ctx.vocabulary)
        for i, text in enumerate(made, start=1):
            dense[f"{name}#v{i}"], source[f"{name}#v{i}"] = text, name
    return Bank("dense", dense, source, n_versions, tuple(sampled))
