"""Measure recall and false positives for candidate (k, window) settings on the shared corpora.

Banks half of the state-union and inaugural addresses; queries are excerpts of 10-30 words placed inside an
unrelated passage, 300-word passages with 5% of words edited or 1% of characters mistyped, and negatives
(passages of the unbanked half).  Prints one row per setting.  This is how the defaults were chosen.

    python benchmarks/parameter_sweep.py [--data ../shared/data] [--queries 300]
"""

from __future__ import annotations

import argparse
import random
import string
import time
from pathlib import Path

from copytrace import Index, MatchParams
from copytrace.text.textio import read_text_file


def load_corpus(data: Path) -> dict[str, str]:
    docs = {}
    for folder in ("state_union", "inaugural"):
        for path in sorted((data / "corpora" / folder).glob("*.txt")):
            docs[f"{folder}/{path.stem}"] = read_text_file(path).text
    return docs


def passage(rng: random.Random, words: list[str], n: int) -> list[str]:
    start = rng.randrange(0, max(1, len(words) - n))
    return words[start : start + n]


def word_edits(rng: random.Random, words: list[str], rate: float, vocab: list[str]) -> list[str]:
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            out.append(rng.choice(vocab))
        elif r < rate:
            out.extend([w, rng.choice(vocab)])
        else:
            out.append(w)
    return out


def char_typos(rng: random.Random, text: str, rate: float) -> str:
    out = []
    for ch in text:
        if ch.isalpha() and rng.random() < rate:
            op = rng.randrange(3)
            if op == 0:
                continue
            if op == 1:
                out.append(rng.choice(string.ascii_lowercase))
                continue
            out.append(ch + rng.choice(string.ascii_lowercase))
            continue
        out.append(ch)
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    docs = load_corpus(args.data)
    names = sorted(docs)
    rng = random.Random(7)
    rng.shuffle(names)
    banked, unbanked = names[: len(names) // 2], names[len(names) // 2 :]
    split = {n: docs[n].split() for n in names}
    vocab = [w for n in unbanked for w in split[n]]

    suites: dict[str, list[tuple[str, str | None]]] = {}
    for length in (10, 15, 20, 30):
        qs = []
        for _ in range(args.queries):
            src = rng.choice(banked)
            host = passage(rng, split[rng.choice(unbanked)], 120)
            cut = rng.randrange(10, 110)
            q = host[:cut] + passage(rng, split[src], length) + host[cut:]
            qs.append((" ".join(q), src))
        suites[f"excerpt{length}"] = qs
    qs = []
    for _ in range(args.queries):
        src = rng.choice(banked)
        qs.append((" ".join(word_edits(rng, passage(rng, split[src], 300), 0.05, vocab)), src))
    suites["words5%"] = qs
    qs = []
    for _ in range(args.queries):
        src = rng.choice(banked)
        qs.append((char_typos(rng, " ".join(passage(rng, split[src], 300)), 0.01), src))
    suites["typos1%"] = qs
    suites["negative"] = [
        (" ".join(passage(rng, split[rng.choice(unbanked)], 300)), None) for _ in range(args.queries * 3)
    ]

    print("| k | w | min tokens | density | " + " | ".join(suites) + " | q/s |")
    print("|---|---|---|---|" + "---|" * len(suites) + "---|")
    for k, w in [(4, 5), (4, 6), (5, 4), (5, 5), (5, 6), (6, 4), (6, 5)]:
        for min_tokens in (k + w - 1, k + w + 1):
            index = Index(k=k, window=w, match_params=MatchParams(min_tokens=min_tokens))
            for n in banked:
                index.add(n, docs[n])
            density = index.n_fingerprints / sum(len(split[n]) for n in banked)
            cells = []
            t0 = time.perf_counter()
            nq = 0
            for qs in suites.values():
                hits = 0
                for text, src in qs:
                    found = {m.item_id for m in index.match(text)}
                    nq += 1
                    hits += (src in found) if src is not None else bool(found)
                cells.append(f"{hits / len(qs):.3f}")
            qps = nq / (time.perf_counter() - t0)
            print(f"| {k} | {w} | {min_tokens} | {density:.3f} | " + " | ".join(cells) + f" | {qps:.0f} |")


if __name__ == "__main__":
    main()
