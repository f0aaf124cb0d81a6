"""Short quotes: recall of 10-, 12- and 15-word excerpts of banked texts planted in unrelated text, and
false matches on the evaluation's negatives, with quotes off (the long-text rule alone) and on.  Prints a
Markdown table.

The set is the evaluation's (``copytrace.evaluation.suite.build_suite``, seeded): half of the corpora's
documents banked (half of them with a publisher's footer), and, on the dense bank, 30 of them as 15
versions each.  Positives: ``--per-row`` excerpts of N consecutive words of a banked document, placed
mid-sentence in a 150-word passage of an unbanked one (``perturb.excerpt``); a query is found when its
source (any version of it, on the dense bank) is reported.  Negatives: the evaluation's own, 300-word
passages of unbanked documents that share no 10 consecutive words with a banked one, as they are
(``negative``) and with a header and a footer (``negative+boilerplate``), and the boilerplate lines alone;
a negative with any match is a false positive.

Configurations: ``text`` (``Index()``, texts kept: quotes verified on them) and ``fingerprints``
(``Index(keep_text=False)``: fingerprint-only items, quotes proven by the fingerprints alone).

    python benchmarks/bench_quotes.py [--data ../shared/data] [--per-row 200] [--seed 1] [--no-dense]
        [--min-tokens 10] [--min-bits 20] [--text-only]

``--min-tokens`` / ``--min-bits`` set ``QuoteParams`` (how they were chosen: ``docs/matching.md``);
``--text-only`` skips the fingerprint-only configuration.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from pathlib import Path

from copytrace import Index, MatchParams, QuoteParams
from copytrace.evaluation import perturb
from copytrace.evaluation.suite import Bank, Query, build_suite, load_corpus
from copytrace.index.quotes import model

LENGTHS = (10, 12, 15)
NEGATIVE_ROWS = ("negative", "negative+boilerplate", "boilerplate-alone")


def planted(suite_items: dict[str, str], ctx: perturb.Context, per_row: int, seed: int) -> list[Query]:
    """``per_row`` excerpts of each length in ``LENGTHS``, seeded as the evaluation seeds its rows."""
    banked = sorted(suite_items)
    out = []
    for n in LENGTHS:
        make = perturb.excerpt(n)
        for i in range(per_row):
            rng = random.Random(f"{seed}/quote-{n}/{i}")
            source = rng.choice(banked)
            out.append(Query(f"quote-{n}/{i}", f"excerpt-{n}", make(rng, suite_items[source], ctx), source))
    return out


def run(
    bank: Bank, queries: Sequence[Query], *, keep_text: bool, quotes: QuoteParams | None
) -> dict[str, object]:
    params = MatchParams(quotes=quotes)
    index = Index(keep_text=keep_text, match_params=params)
    index.add_many(bank.items.items())
    index.match("warm up the compiled code")
    if quotes is not None:
        model(quotes)  # the background model is built on the first quote check: not part of the rate
    found: dict[str, list[int]] = {}
    kinds: dict[str, int] = {}
    t0 = time.perf_counter()
    answers = [index.match(q.text) for q in queries]
    elapsed = time.perf_counter() - t0
    false_examples = []
    for q, matches in zip(queries, answers, strict=True):
        got = bank.truth({m.item_id for m in matches})
        ok = q.truth in got if q.truth is not None else not matches
        found.setdefault(q.row, []).append(int(ok))
        for m in matches:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        if q.truth is None and matches and len(false_examples) < 5:
            m = matches[0]
            s = m.spans[0] if m.spans else None
            false_examples.append(f"{q.id}: {m.kind} {q.text[s.query_start : s.query_end] if s else ''!r}")
    return {
        "rows": {row: sum(v) / len(v) for row, v in found.items()},
        "counts": {row: len(v) for row, v in found.items()},
        "qps": len(queries) / elapsed,
        "kinds": kinds,
        "false": false_examples,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--per-row", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-dense", action="store_true", help="the sparse bank only")
    p.add_argument("--min-tokens", type=int, default=QuoteParams.min_tokens)
    p.add_argument("--min-bits", type=float, default=QuoteParams.min_bits)
    p.add_argument("--text-only", action="store_true", help="skip the fingerprint-only configuration")
    args = p.parse_args()
    quote_params = QuoteParams(min_tokens=args.min_tokens, min_bits=args.min_bits)
    corpora = Path(args.data) / "corpora"
    docs = load_corpus([corpora / "state_union", corpora / "inaugural"])
    dense = 0 if args.no_dense else 15
    suite = build_suite(docs, seed=args.seed, per_row=1, dense_versions=dense)
    names = sorted(docs)
    banked = set(suite.items)
    others = [n for n in names if n not in banked]
    passages = []
    for name in others:
        words = docs[name].split()
        for start in range(0, max(1, len(words) - 150), 600):
            passages.append(" ".join(words[start : start + 150]))
    ctx = perturb.Context(tuple(passages), ())
    queries = planted(suite.items, ctx, args.per_row, args.seed)
    queries += [q for q in suite.queries if q.row in NEGATIVE_ROWS]
    rows = [f"excerpt-{n}" for n in LENGTHS] + list(NEGATIVE_ROWS)
    print(f"{len(suite.items)} banked documents; {len(queries)} queries (seed {args.seed}); {quote_params}\n")
    print("| bank | items | config | quotes | " + " | ".join(rows) + " | q/s | kinds |")
    print("|---|---|---|---|" + "---|" * len(rows) + "---|---|")
    examples = []
    for bank in suite.banks:
        for keep_text in (True,) if args.text_only else (True, False):
            for quotes in (None, quote_params):
                r = run(bank, queries, keep_text=keep_text, quotes=quotes)
                rates = r["rows"]
                counts = r["counts"]
                assert isinstance(rates, dict) and isinstance(counts, dict)
                cells = []
                for row in rows:
                    value = rates[row] if row.startswith("excerpt") else 1 - rates[row]
                    cells.append(
                        f"{value:.3f}" if row.startswith("excerpt") else f"{value:.4f} of {counts[row]}"
                    )
                config = "text" if keep_text else "fingerprints"
                print(
                    f"| {bank.name} | {len(bank.items)} | {config} | {'on' if quotes else 'off'} | "
                    + " | ".join(cells)
                    + f" | {r['qps']:.0f} | {r['kinds']} |"
                )
                false = r["false"]
                assert isinstance(false, list)
                examples += [f"{bank.name}/{config}/quotes {'on' if quotes else 'off'}: {e}" for e in false]
    print("\nExcerpt columns: recall. Negative columns: share of queries with a match (false positives).")
    for e in examples:
        print("false:", e)


if __name__ == "__main__":
    main()
