"""Phrase banks: recall on evasive spellings, false positives and throughput, copytrace beside the tools teams
use for keyword lists, in one run.  Prints Markdown tables.

Test set, from the shared corpora (state-of-the-union and inaugural addresses), seeded:

* a phrase bank of ``--phrases`` phrases of 3-12 words taken at random places of half of the texts;
* posts of 150-400 words from the other half, each with one banked phrase planted at a word boundary and
  spelled with one evasion (``EVASIONS``), or with two or three of them combined, and clean posts;
* a phrase found where it was not planted counts as false only if its words are not really there (the
  span's version-1 normalisation differs from the phrase's); a post with any false find is a false positive.

Peers, as teams use them: pyahocorasick and Hyperscan over the posts (Aho-Corasick on lower-cased text,
Hyperscan's literal compiler case-insensitive), flashtext's KeywordProcessor (case-insensitive, whole
words), better-profanity with the phrases as its word list (its leet variants; it is slow, so it runs on
the first ``--profanity-posts`` posts of each group).  Throughput is UTF-8 MB/s of the posts on one core,
banks built beforehand, by the wall clock and by the process's CPU time (steadier on a shared machine);
memory is the growth of the process's resident set while the bank was built.  The last table repeats
them with ``--big`` phrases.

    python benchmarks/bench_phrases.py [--data ../shared/data] [--phrases 2000] [--posts 300] [--big 100000]
                                       [--only copytrace,Hyperscan] [--stages]

copytrace is measured through ``Index.match_phrases`` (its finds as columns, a ``Match`` only for the posts
asked for); ``--stages`` adds, after each copytrace run, where its time goes (CPU ns per byte of the folding,
the compiled search, the second searches around repeated words and glued numbers, the table's ``match_many``
and ``hits``, and the index's ``match_phrases`` and ``match_many``, which makes a ``Match`` per find).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from copytrace import Index, normalize
from copytrace.text.textio import read_text_file

LOOKALIKE = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "y": "у", "x": "х", "i": "і"}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
SYMBOL = {"a": "@", "s": "$", "i": "!"}


def _letters(word: str) -> list[int]:
    return [i for i, c in enumerate(word) if c.isalpha()]


def _per_letter(words: list[str], rng: random.Random, table: dict[str, str], p: float) -> list[str]:
    """Replace letters found in ``table`` with probability ``p`` (at least one in the phrase)."""
    out = [
        "".join(table[c.lower()] if c.lower() in table and rng.random() < p else c for c in w) for w in words
    ]
    if out == words:
        spots = [(i, j) for i, w in enumerate(words) for j, c in enumerate(w) if c.lower() in table]
        if spots:
            i, j = rng.choice(spots)
            out[i] = out[i][:j] + table[out[i][j].lower()] + out[i][j + 1 :]
    return out


def _inside(words: list[str], rng: random.Random, table: dict[str, str]) -> list[str]:
    """A symbol for a letter inside one word (not its first or last letter)."""
    spots = [(i, j) for i, w in enumerate(words) for j in range(1, len(w) - 1) if w[j].lower() in table]
    if not spots:
        return _per_letter(words, rng, LEET, 0.5)
    i, j = rng.choice(spots)
    out = list(words)
    out[i] = out[i][:j] + table[out[i][j].lower()] + out[i][j + 1 :]
    return out


def _one_word(words: list[str], rng: random.Random, how: Callable[[str], str]) -> list[str]:
    """``how`` applied to one word of three letters or more (a word of letters only, when there is one)."""
    long = (
        [i for i, w in enumerate(words) if len(w) >= 3 and w.isalpha()]
        or [i for i, w in enumerate(words) if len(_letters(w)) >= 3]
        or list(range(len(words)))
    )
    i = rng.choice(long)
    return [how(w) if k == i else w for k, w in enumerate(words)]


def _repeat(word: str, rng: random.Random) -> str:
    spots = _letters(word) or [0]
    j = rng.choice(spots)
    return word[:j] + word[j] * rng.randint(3, 5) + word[j + 1 :]


def _split(word: str, rng: random.Random) -> str:
    j = rng.randint(2, max(2, len(word) - 2))
    return word[:j] + rng.choice(["-\n", "\n"]) + word[j:]


def _parts(word: str) -> list[str]:
    """The word's runs of letters, digits and leet symbols (its punctuation left out)."""
    return re.findall(r"[\w@$!|\u200b]+", word)


def _bare(word: str) -> str:
    """The word without its punctuation (leet symbols and invisible characters are kept)."""
    return re.sub(r"[^\w@$!|\u200b]", "", word)


# each takes the phrase's words and gives the words of the post
CHAR_EVASIONS: dict[str, Callable[[list[str], random.Random], list[str]]] = {
    "mixed case": lambda w, r: ["".join(c.upper() if r.random() < 0.5 else c.lower() for c in x) for x in w],
    "leet digits": lambda w, r: _per_letter(w, r, LEET, 0.5),
    "symbols": lambda w, r: _inside(w, r, SYMBOL),
    "look-alikes": lambda w, r: _per_letter(w, r, LOOKALIKE, 0.5),
    "zero-width": lambda w, r: _one_word(w, r, lambda x: x[: len(x) // 2] + "\u200b" + x[len(x) // 2 :]),
    "repeated letters": lambda w, r: _one_word(w, r, lambda x: _repeat(x, r)),
}
SHAPE_EVASIONS: dict[str, Callable[[list[str], random.Random], str]] = {
    "spaced letters": lambda w, r: "   ".join(" ".join(part) for x in w for part in _parts(x)),
    "dotted letters": lambda w, r: " ".join(_one_word(w, r, ".".join)),
    "glued words": lambda w, r: "".join(_bare(x) for x in w),
    "line-break split": lambda w, r: " ".join(_one_word(w, r, lambda x: _split(x, r))),
}


def _glue_two(words: list[str], rng: random.Random) -> list[str]:
    """Two neighbouring words glued, by hand or by mistake: ``saidthey``, ``governmentsaid``."""
    if len(words) < 2:
        return words
    i = rng.randrange(len(words) - 1)
    return [*words[:i], _bare(words[i]) + _bare(words[i + 1]), *words[i + 2 :]]


def _repeat_word(words: list[str], rng: random.Random) -> list[str]:
    """One word typed twice: ``death to the the occupiers``."""
    i = rng.randrange(len(words))
    return [*words[: i + 1], _bare(words[i]) or words[i], *words[i + 1 :]]


# each takes the phrase's words and gives words, after the character evasions and before the shape ones
WORD_EVASIONS: dict[str, Callable[[list[str], random.Random], list[str]]] = {
    "two words glued": _glue_two,
    "repeated word": _repeat_word,
}
EVASIONS = [*CHAR_EVASIONS, *SHAPE_EVASIONS, *WORD_EVASIONS]
NAMED_COMBINATIONS = {  # the same words spelled with several evasions at once
    "look-alikes + spaced + leet": ["look-alikes", "leet digits", "spaced letters"],
    "leet + glued two + repeated": ["leet digits", "two words glued", "repeated word"],
}


def evade(phrase: str, kinds: Sequence[str], rng: random.Random) -> str:
    words = phrase.split()
    for kind in kinds:
        if kind in CHAR_EVASIONS:
            words = CHAR_EVASIONS[kind](words, rng)
    for kind in kinds:
        if kind in WORD_EVASIONS:
            words = WORD_EVASIONS[kind](words, rng)
    shapes = [k for k in kinds if k in SHAPE_EVASIONS]
    return SHAPE_EVASIONS[shapes[0]](words, rng) if shapes else " ".join(words)


def _corpus_files(data: Path) -> list[Path]:
    return sorted(
        [*(data / "corpora" / "state_union").glob("*.txt"), *(data / "corpora" / "inaugural").glob("*.txt")]
    )


@dataclass
class Post:
    group: str  # an evasion, "combined" or "clean"
    text: str
    planted: int | None  # phrase number
    where: tuple[int, int] = (0, 0)  # the planted text's span


def build(
    data: Path, n_phrases: int, n_posts: int, seed: int
) -> tuple[list[str], list[Post], list[list[str]]]:
    """The phrase bank, the posts (see the module's docstring) and the words of the bank's texts."""
    texts = [read_text_file(p).text for p in _corpus_files(data)]
    rng = random.Random(seed)
    rng.shuffle(texts)
    bank_texts, post_texts = texts[: len(texts) // 2], texts[len(texts) // 2 :]
    bank_words = [t.split() for t in bank_texts]

    def phrases(n: int) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        while len(out) < n:
            words = rng.choice(bank_words)
            k = rng.randint(3, 12)
            i = rng.randrange(0, len(words) - k)
            phrase = " ".join(words[i : i + k]).strip(",;:")
            if normalize(phrase) and normalize(phrase) not in seen:
                seen.add(normalize(phrase))
                out.append(phrase)
        return out

    bank = phrases(n_phrases)
    post_words = [t.split() for t in post_texts]
    posts: list[Post] = []
    groups = [*EVASIONS, *NAMED_COMBINATIONS, "combined", "clean"]
    for group in groups:
        for _ in range(n_posts if group != "clean" else 3 * n_posts):
            words = rng.choice(post_words)
            n = rng.randint(150, 400)
            i = rng.randrange(0, max(1, len(words) - n))
            body = words[i : i + n]
            if group == "clean":
                posts.append(Post(group, " ".join(body), None))
                continue
            p = rng.randrange(len(bank))
            if group == "combined":
                kinds = [
                    *rng.sample(list(CHAR_EVASIONS), rng.randint(1, 2)),
                    rng.choice(list(SHAPE_EVASIONS)),
                ]
                kinds = rng.sample(kinds, len(kinds)) if rng.random() < 0.3 else kinds
                if rng.random() < 0.3:  # sometimes character evasions only
                    kinds = rng.sample(list(CHAR_EVASIONS), 3)
            else:
                kinds = NAMED_COMBINATIONS.get(group, [group])
            at = rng.randint(0, len(body))
            before = " ".join(body[:at]) + (" " if at else "")
            evaded = evade(bank[p], kinds, rng)
            text = before + " ".join([evaded, *body[at:]])
            posts.append(Post(group, text, p, (len(before), len(before) + len(evaded))))
    return bank, posts, bank_words


# ------------------------------------------------------------------------------------------ matchers
Found = list[list[tuple[int, int, int]]]  # per post: (phrase, start, end); start -1 when unknown


class Copytrace:
    name = "copytrace"

    def __init__(self, phrases: list[str]) -> None:
        self.index = Index()
        self.index.add_many([(str(i), p) for i, p in enumerate(phrases)], phrase=True)
        self.index.flush()

    def run(self, texts: list[str]) -> Found:
        """The finds of ``Index.match_phrases`` (columns; no ``Match`` objects): the phrase of each span
        from its item id, numbered once per batch.  A revision without it (measured beside this one with
        ``PYTHONPATH``) runs ``match_many``."""
        if not hasattr(self.index, "match_phrases"):
            return self.run_matches(texts)
        out: Found = []
        for a in range(0, len(texts), 512):
            found = self.index.match_phrases(texts[a : a + 512], html=False)
            hits = found.hits
            phrase = [int(i) for i in found.item_ids]
            per_span = np.repeat(hits.item, np.diff(hits.span_first))
            rows = list(
                zip(
                    [phrase[i] for i in per_span.tolist()],
                    hits.starts.tolist(),
                    hits.ends.tolist(),
                    strict=True,
                )
            )
            first = hits.span_first[hits.text_first].tolist()
            out.extend(rows[first[q] : first[q + 1]] for q in range(hits.n_texts))
        return out

    def run_matches(self, texts: list[str]) -> Found:
        """The same finds through ``Index.match_many`` (a ``Match`` and its ``Span``s each)."""
        out: Found = []
        for a in range(0, len(texts), 512):
            for matches in self.index.match_many(texts[a : a + 512], html=False):
                out.append([(int(m.item_id), s.query_start, s.query_end) for m in matches for s in m.spans])
        return out


class AhoCorasick:
    name = "pyahocorasick (lower-cased)"

    def __init__(self, phrases: list[str]) -> None:
        import ahocorasick

        self.a = ahocorasick.Automaton()
        for i, p in enumerate(phrases):
            self.a.add_word(p.lower(), (i, len(p)))
        self.a.make_automaton()

    def run(self, texts: list[str]) -> Found:
        return [[(i, end + 1 - n, end + 1) for end, (i, n) in self.a.iter(t.lower())] for t in texts]


class Hyperscan:
    name = "Hyperscan (caseless literals)"

    def __init__(self, phrases: list[str]) -> None:
        import hyperscan

        self.hs = hyperscan
        self.db = hyperscan.Database()
        self.lens = [len(p.encode("utf-8")) for p in phrases]
        self.db.compile(
            expressions=[p.encode("utf-8") for p in phrases],
            ids=list(range(len(phrases))),
            elements=len(phrases),
            flags=hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH,
            literal=True,
        )
        self.scratch = hyperscan.Scratch(self.db)

    def run(self, texts: list[str]) -> Found:
        out: Found = []
        for t in texts:
            raw = t.encode("utf-8")
            hits: list[tuple[int, int, int]] = []

            def on(
                i: int,
                _from: int,
                to: int,
                _flags: int,
                _ctx: object,
                hits: list = hits,
                raw: bytes = raw,  # type: ignore[type-arg]
            ) -> None:
                start = len(raw[: to - self.lens[i]].decode("utf-8", "ignore"))
                hits.append((i, start, start + len(raw[to - self.lens[i] : to].decode("utf-8", "ignore"))))

            self.db.scan(raw, match_event_handler=on, scratch=self.scratch)
            out.append(hits)
        return out


class FlashText:
    name = "flashtext (whole words)"

    def __init__(self, phrases: list[str]) -> None:
        from flashtext import KeywordProcessor

        self.kp = KeywordProcessor(case_sensitive=False)
        for i, p in enumerate(phrases):
            self.kp.add_keyword(p, str(i))

    def run(self, texts: list[str]) -> Found:
        return [[(int(i), a, b) for i, a, b in self.kp.extract_keywords(t, span_info=True)] for t in texts]


class BetterProfanity:
    name = "better-profanity (leet variants)"

    def __init__(self, phrases: list[str]) -> None:
        from better_profanity import Profanity

        self.p = Profanity()
        self.p.load_censor_words(phrases)

    def run(self, texts: list[str]) -> Found:
        return [[(-1, -1, -1)] if self.p.contains_profanity(t) else [] for t in texts]


# ---------------------------------------------------------------------------------------------- scoring
def really_there(text: str, start: int, end: int, phrase: str) -> bool:
    return normalize(text[start:end]) == normalize(phrase)


def score(posts: list[Post], found: Found, bank: list[str]) -> tuple[dict[str, float], float]:
    """Recall per group and the false-positive rate over all posts."""
    norm_bank: list[str] | None = None
    hit: dict[str, list[bool]] = {}
    false = 0
    for post, got in zip(posts, found, strict=True):
        if post.planted is not None:
            ok = any(i in (post.planted, -1) for i, _, _ in got)
            hit.setdefault(post.group, []).append(ok)
        bad = False
        for i, a, b in got:
            if i == -1:  # a tool that says only "something is there"
                if post.planted is None:
                    if norm_bank is None:
                        norm_bank = [f" {normalize(p)} " for p in bank]
                    text = f" {normalize(post.text)} "
                    bad = not any(p in text for p in norm_bank)
            elif i != post.planted and not really_there(post.text, a, b, bank[i]):
                # a banked phrase that shares words with the planted one is there, spelled as it is
                overlaps = post.planted is not None and a < post.where[1] and post.where[0] < b
                bad = bad or not overlaps
        false += bad
    recall = {g: sum(v) / len(v) for g, v in hit.items()}
    single = [ok for g, v in hit.items() if g in EVASIONS for ok in v]
    recall["all single"] = sum(single) / max(1, len(single))
    return recall, false / max(1, len(posts))


def timed(fn: Callable[[], Found]) -> tuple[Found, float, float]:
    """``fn()``, its wall-clock seconds and its CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def resident_mb() -> float:
    """The process's resident set now, in MB (Linux; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def stages(matcher: Copytrace, texts: list[str], label: str) -> str:
    """Where copytrace's time goes on ``texts``: CPU ns per UTF-8 byte of each stage, best of 3 (private
    parts of the phrase table, timed one after another over the slices ``PhraseTable.match_many`` cuts)."""
    from copytrace.phrases.table import _SLICE
    from copytrace.text.phrase_fold import phrase_tokens_many

    table = matcher.index._contents.phrases  # a benchmark of the private stages
    size = sum(len(t.encode("utf-8")) for t in texts)
    slices: list[list[str]] = []
    first = 0
    while first < len(texts):
        end, chars = first, 0
        while end < len(texts) and (end == first or chars + len(texts[end]) <= _SLICE):
            chars += len(texts[end])
            end += 1
        slices.append(texts[first:end])
        first = end
    toks = [phrase_tokens_many(s, html=False) for s in slices]

    def best(fn: Callable[[], object]) -> float:
        out = float("inf")
        for _ in range(3):
            c0 = time.process_time()
            fn()
            out = min(out, time.process_time() - c0)
        return out * 1e9 / size

    rows = {
        "phrase folding": best(lambda: [phrase_tokens_many(s, html=False) for s in slices]),
        "compiled search": best(lambda: [table._search(t, 16) for t in toks]),
        "repeated words": best(
            lambda: [table._search_repeats(s, t, False, 16) for s, t in zip(slices, toks, strict=True)]
        ),
        "glued numbers": best(
            lambda: [table._search_numbers(s, t, False, 16) for s, t in zip(slices, toks, strict=True)]
        ),
        "PhraseTable.match_many": best(lambda: table.match_many(texts, html=False)),
        "PhraseTable.hits (columns)": best(
            lambda: (
                table.hits(texts, html=False)
                if hasattr(table, "hits")
                else table.match_many(texts, html=False)
            )
        ),
        "Index.match_phrases (columns)": best(lambda: matcher.run(texts)),
        "Index.match_many (Match objects)": best(lambda: matcher.run_matches(texts)),
    }
    lines = [
        f"\ncopytrace's stages, {label} (CPU ns per byte, best of 3):\n",
        "| stage | ns/byte |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {ns:.1f} |" for name, ns in rows.items()]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--phrases", type=int, default=2000)
    ap.add_argument("--posts", type=int, default=300, help="posts per evasion (clean: three times as many)")
    ap.add_argument("--big", type=int, default=100_000, help="phrases of the throughput-only bank")
    ap.add_argument("--profanity-posts", type=int, default=4)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--only", default="", help="tools to run, e.g. 'copytrace,Hyperscan' (default: all)")
    ap.add_argument("--stages", action="store_true", help="also time copytrace's stages (CPU ns per byte)")
    args = ap.parse_args()

    bank, posts, words = build(args.data, args.phrases, args.posts, args.seed)
    texts = [p.text for p in posts]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"{len(bank)} phrases; {len(posts)} posts ({mb:.1f} MB)\n")
    tools = [Copytrace, Hyperscan, AhoCorasick, FlashText, BetterProfanity]
    if args.only:
        tools = [t for t in tools if t.name.split()[0] in args.only.split(",")]
    columns: list[tuple[str, dict[str, float], float, float, float, float, float]] = []
    notes: list[str] = []  # copytrace's stages (--stages), printed last
    for tool in tools:
        t0, m0 = time.perf_counter(), resident_mb()
        matcher = tool(bank)
        build_s, memory = time.perf_counter() - t0, resident_mb() - m0
        sample = posts
        if tool is BetterProfanity:
            by_group: dict[str, int] = {}
            sample = []
            for p in posts:
                if by_group.get(p.group, 0) < args.profanity_posts:
                    by_group[p.group] = by_group.get(p.group, 0) + 1
                    sample.append(p)
        sample_texts = [p.text for p in sample]
        matcher.run(sample_texts[:50])  # warm up (compiled code, caches)
        found, seconds, cpu = timed(lambda m=matcher, s=sample_texts: m.run(s))  # type: ignore[misc]
        recall, fp = score(sample, found, bank)
        if args.stages and isinstance(matcher, Copytrace):
            notes.append(stages(matcher, sample_texts, f"{len(bank):,} phrases, {len(sample)} posts"))
        size = sum(len(t.encode("utf-8")) for t in sample_texts) / 1e6
        columns.append((tool.name, recall, fp, size / seconds, size / cpu, build_s, memory))
        print(f"{tool.name}: {len(sample)} posts in {seconds:.1f} s", file=sys.stderr)
    groups = [*EVASIONS, "all single", *NAMED_COMBINATIONS, "combined"]
    print("| recall | " + " | ".join(c[0] for c in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for g in groups:
        print(f"| {g} | " + " | ".join(f"{c[1].get(g, float('nan')):.3f}" for c in columns) + " |")
    print("| **false-positive posts** | " + " | ".join(f"{100 * c[2]:.2f}%" for c in columns) + " |")
    print("| MB/s (one core) | " + " | ".join(f"{c[3]:.3g}" for c in columns) + " |")
    print("| MB/s of CPU time | " + " | ".join(f"{c[4]:.3g}" for c in columns) + " |")
    print("| bank built in (s) | " + " | ".join(f"{c[5]:.2f}" for c in columns) + " |")
    print("| bank's memory (MB) | " + " | ".join(f"{c[6]:.0f}" for c in columns) + " |")

    # throughput with a large bank
    rng = random.Random(args.seed + 1)
    big: list[str] = []
    seen: set[str] = set()
    while len(big) < args.big:
        w = rng.choice(words)
        k = rng.randint(3, 12)
        i = rng.randrange(0, len(w) - k)
        phrase = " ".join(w[i : i + k])
        if phrase.lower() not in seen:
            seen.add(phrase.lower())
            big.append(phrase)
    clean = [p.text for p in posts if p.group == "clean"]
    print(
        f"\nThroughput with {len(big):,} phrases (from the bank's texts), on the {len(clean)} clean posts:\n"
    )
    print("| tool | MB/s (one core) | MB/s of CPU time | bank built in (s) | bank's memory (MB) |")
    print("|---|---:|---:|---:|---:|")
    for tool in (Copytrace, Hyperscan, AhoCorasick, FlashText):
        if args.only and tool.name.split()[0] not in args.only.split(","):
            continue
        t0, m0 = time.perf_counter(), resident_mb()
        matcher = tool(big)
        build_s, memory = time.perf_counter() - t0, resident_mb() - m0
        matcher.run(clean[:50])
        _, seconds, cpu = timed(lambda m=matcher: m.run(clean))  # type: ignore[misc]
        if args.stages and isinstance(matcher, Copytrace):
            notes.append(stages(matcher, clean, f"{len(big):,} phrases, the {len(clean)} clean posts"))
        size = sum(len(t.encode("utf-8")) for t in clean) / 1e6
        print(f"| {tool.name} | {size / seconds:.1f} | {size / cpu:.1f} | {build_s:.1f} | {memory:.0f} |")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
