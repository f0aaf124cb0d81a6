"""The perturbation suite: the changes people make to a text when they copy it, each a seeded function.

Every generator takes a ``random.Random``, the banked document and a ``Context`` (unrelated text and
vocabulary from documents that are not banked) and returns the query.  Same seed, same output.

| name | what it does |
|---|---|
| exact | the document as banked |
| reflowed | every line break and run of spaces becomes one space, with a double space after some sentences |
| boilerplate | a header line ("Republished from …") and a footer (licence, share links) around it |
| excerpt-N | N consecutive words of it, placed mid-sentence in a 150-word passage of an unrelated document |
| words-P% | each word deleted, replaced by an unrelated word, or followed by one, with P/3 chance each |
| typos-P% | each letter deleted, replaced, doubled or swapped with the next, with P chance |
| lookalikes | 40% of the letters that have one replaced by a Cyrillic or Greek look-alike |
| zero-width | a zero-width space, joiner, non-joiner or soft hyphen inside every word of 4+ letters |
| html | paragraphs in ``<p>``, some words in ``<b>``/``<i>``, quotes and ampersands as entities |
| case-punct | every sentence in one of upper, lower or title case; quotes curled, some punctuation dropped |
| reordered | the paragraphs (or, in a one-paragraph text, its sentences in 5 blocks) shuffled |
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

HEADERS = (
    "Republished from the original source. Share this article with your friends.",
    "BREAKING — full text below, circulate widely before it is taken down",
)
FOOTERS = (
    "All content on this site is licensed under a Creative Commons Attribution 4.0 International License.",
    "Follow us on all platforms for more updates. Like, share and subscribe to support independent media.",
)
_LOOKALIKES = {
    "a": "аα",
    "c": "с",
    "e": "еε",
    "i": "іι",
    "j": "ј",
    "o": "оο",
    "p": "р",
    "s": "ѕ",
    "x": "х",
    "y": "у",
    "A": "АΑ",
    "B": "ВΒ",
    "C": "С",
    "E": "ЕΕ",
    "H": "НΗ",
    "I": "ІΙ",
    "K": "КΚ",
    "M": "МΜ",
    "O": "ОΟ",
    "P": "РΡ",
    "T": "ТΤ",
    "X": "ХΧ",
}
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u00ad")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Context:
    """Material from documents that are not banked: passages to hide excerpts in, words to edit with."""

    passages: tuple[str, ...]
    vocabulary: tuple[str, ...]


Generator = Callable[[random.Random, str, Context], str]


def exact(rng: random.Random, doc: str, ctx: Context) -> str:
    return doc


def reflowed(rng: random.Random, doc: str, ctx: Context) -> str:
    flat = " ".join(doc.split())
    return re.sub(r"([.!?]) ", lambda m: m.group(1) + ("  " if rng.random() < 0.3 else " "), flat)


def boilerplate(rng: random.Random, doc: str, ctx: Context) -> str:
    return rng.choice(HEADERS) + "\n\n" + doc + "\n\n" + rng.choice(FOOTERS)


def excerpt(n_words: int) -> Generator:
    def make(rng: random.Random, doc: str, ctx: Context) -> str:
        words = doc.split()
        start = rng.randrange(0, max(1, len(words) - n_words + 1))
        piece = words[start : start + n_words]
        host = rng.choice(ctx.passages).split()
        cut = rng.randrange(len(host) // 4, 3 * len(host) // 4 + 1)
        return " ".join(host[:cut] + piece + host[cut:])

    make.__name__ = f"excerpt_{n_words}"
    return make


def word_edits(rate: float) -> Generator:
    def make(rng: random.Random, doc: str, ctx: Context) -> str:
        out = []
        for word in doc.split():
            r = rng.random()
            if r < rate / 3:
                continue
            if r < 2 * rate / 3:
                out.append(rng.choice(ctx.vocabulary))
            elif r < rate:
                out.extend([word, rng.choice(ctx.vocabulary)])
            else:
                out.append(word)
        return " ".join(out)

    make.__name__ = f"word_edits_{rate}"
    return make


def typos(rate: float) -> Generator:
    letters = "abcdefghijklmnopqrstuvwxyz"

    def make(rng: random.Random, doc: str, ctx: Context) -> str:
        chars = list(doc)
        out: list[str] = []
        i = 0
        while i < len(chars):
            ch = chars[i]
            if ch.isalpha() and rng.random() < rate:
                op = rng.randrange(4)
                if op == 1:
                    out.append(rng.choice(letters))
                elif op == 2:
                    out.append(ch + ch)
                elif op == 3 and i + 1 < len(chars):
                    out.append(chars[i + 1] + ch)
                    i += 1
                # op 0: deleted
            else:
                out.append(ch)
            i += 1
        return "".join(out)

    make.__name__ = f"typos_{rate}"
    return make


def lookalikes(rng: random.Random, doc: str, ctx: Context) -> str:
    return "".join(
        rng.choice(_LOOKALIKES[ch]) if ch in _LOOKALIKES and rng.random() < 0.4 else ch for ch in doc
    )


def zero_width(rng: random.Random, doc: str, ctx: Context) -> str:
    def hide(m: re.Match[str]) -> str:
        word = m.group(0)
        if sum(c.isalpha() for c in word) < 4:
            return word
        at = rng.randrange(1, len(word))
        return word[:at] + rng.choice(_ZERO_WIDTH) + word[at:]

    return _WORD.sub(hide, doc)


def html(rng: random.Random, doc: str, ctx: Context) -> str:
    def mark(m: re.Match[str]) -> str:
        word = m.group(0).replace("&", "&amp;").replace("'", "&#39;").replace("’", "&rsquo;")
        if rng.random() < 0.05:
            tag = rng.choice("bi")
            return f"<{tag}>{word}</{tag}>"
        return word

    paragraphs = [p for p in doc.split("\n") if p.strip()]
    body = "".join(f"<p>{_WORD.sub(mark, p)}</p>\n" for p in paragraphs)
    return f"<!DOCTYPE html><html><head><title>post</title></head><body>\n{body}</body></html>"


def case_punct(rng: random.Random, doc: str, ctx: Context) -> str:
    def sentence(m: re.Match[str]) -> str:
        s = m.group(0)
        style = rng.randrange(3)
        s = s.upper() if style == 0 else s.lower() if style == 1 else s.title()
        s = s.replace('"', "“").replace("'", "’")
        return re.sub(r"[,;:]", lambda _: "" if rng.random() < 0.5 else " -", s)

    return re.sub(r"[^.!?\n]+[.!?]?", sentence, doc)


def reordered(rng: random.Random, doc: str, ctx: Context) -> str:
    blocks = [p for p in doc.split("\n") if p.strip()]
    if len(blocks) < 3:
        sentences = re.split(r"(?<=[.!?])\s+", doc.strip())
        size = max(1, len(sentences) // 5)
        blocks = [" ".join(sentences[i : i + size]) for i in range(0, len(sentences), size)]
    original = list(blocks)
    for _ in range(10):
        rng.shuffle(blocks)
        if blocks != original or len(blocks) < 2:
            break
    return "\n".join(blocks)


SUITE: dict[str, Generator] = {
    "exact": exact,
    "reflowed": reflowed,
    "boilerplate": boilerplate,
    **{f"excerpt-{n}": excerpt(n) for n in (10, 12, 15, 20, 30, 50, 100)},
    **{f"words-{p}%": word_edits(p / 100) for p in (2, 5, 10)},
    **{f"typos-{p}%": typos(p / 100) for p in (1, 3)},
    "lookalikes": lookalikes,
    "zero-width": zero_width,
    "html": html,
    "case-punct": case_punct,
    "reordered": reordered,
}
"""Every perturbation, by the name the report uses, in report order."""
