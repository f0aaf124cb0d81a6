"""Versions of one text, as a dense bank holds them: every repost banked with its own lines and small edits.

Teams bank each repost of a manifesto or a propaganda article they remove, so a real bank holds many
versions of one text.  ``versions`` makes them, seeded: version *i* starts with its own line ("Version i
repost from channel @…"), ends with its own footer line (views and a join link), and half of the versions
(chosen by the seed) have ``edit_rate`` of their words deleted, replaced or inserted (as ``words-P%`` of
``perturb`` does, line by line, so paragraphs stay).  The body is otherwise the text as banked.

>>> import random
>>> vs = versions(random.Random(1), "one two three four five six\\nseven eight", 4, ("alpha", "beta"))
>>> len(vs), all(v.splitlines()[0].startswith("Version ") for v in vs), len(set(vs))
(4, True, 4)
>>> versions(random.Random(1), "one two", 4, ("x",)) == versions(random.Random(1), "one two", 4, ("x",))
True
"""

from __future__ import annotations

import random

from .perturb import Context, word_edits

CHANNELS = (
    "truthdaily",
    "realnews24",
    "uncensored_voice",
    "the_awakened",
    "freedom_wire",
    "redpill_digest",
    "frontline_reports",
    "open_eyes_media",
    "people_first",
    "silent_majority",
)
"""Channel names the version lines draw from, each with a number after it."""


def header(rng: random.Random, i: int) -> str:
    """The first line of version ``i``: a repost line naming its channel."""
    return f"Version {i} repost from channel @{rng.choice(CHANNELS)}{rng.randrange(10, 1000)}"


def footer(rng: random.Random) -> str:
    """The last line of a version: views and a join link."""
    channel = f"{rng.choice(CHANNELS)}{rng.randrange(10, 1000)}"
    return f"{rng.randrange(2, 990)}k views · forwarded {rng.randrange(2, 99)} times · join t.me/{channel}"


def versions(
    rng: random.Random,
    text: str,
    n: int,
    vocabulary: tuple[str, ...],
    *,
    edit_rate: float = 0.02,
) -> list[str]:
    """``n`` versions of ``text``: each with its own first and last line, half with word edits."""
    edit = word_edits(edit_rate)
    ctx = Context((), vocabulary)
    edited = set(rng.sample(range(n), n // 2))
    out = []
    for i in range(n):
        body = text
        if i in edited:
            body = "\n".join(edit(rng, line, ctx) for line in text.split("\n"))
        out.append(f"{header(rng, i + 1)}\n\n{body}\n\n{footer(rng)}")
    return out
