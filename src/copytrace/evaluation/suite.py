"""The evaluation set: a seeded bank sampled from a corpus, positive queries made by the perturbation
suite, and negatives, with ground truth that does not depend on any method.

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
from ..textio import read_text_file
from .perturb import FOOTERS, HEADERS, SUITE, Context

SHARED_WORDS = 10
NEGATIVE_WORDS = 300
_WORDS = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Query:
    id: str
    row: str
    text: str
    truth: str | None  # the banked item it was made from; None for a negative


@dataclass
class Suite:
    items: dict[str, str]
    queries: list[Query]
    set_aside: list[tuple[str, str]] = field(default_factory=list)  # (negative document, banked item)
    seed: int = 0


def load_corpus(paths: Iterable[str | Path]) -> dict[str, str]:
    """Documents from folders of ``.txt`` files (read as ``textio`` reads files) and JSONL files."""
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
    if len(docs) < 20:
        raise InputError(f"need at least 20 documents of 150 words or more, found {len(docs)}")
    return docs


def _windows(text: str, n: int = SHARED_WORDS) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORDS.findall(text)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def build_suite(
    docs: dict[str, str], *, seed: int = 1, per_row: int = 40, bank_size: int | None = None
) -> Suite:
    """Bank a sample of ``docs`` and make ``per_row`` queries for each perturbation, plus negatives."""
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
            queries.append(Query(f"{row}/{n}", row, make(qrng, items[source], ctx), source))
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
    for n, text in enumerate(HEADERS + FOOTERS):
        queries.append(Query(f"boilerplate-alone/{n}", "boilerplate-alone", text, None))
    return Suite(items, queries, set_aside, seed)
