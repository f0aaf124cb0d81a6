"""Build a reference of stock phrases from a clean corpus: ``python -m copytrace.evaluation.reference``.

A ``Reference`` (``copytrace.text.background``) holds the word trigrams that occur in several documents of
the user's own clean text; a quote made only of them carries nothing.  This command reads the corpus the way
the evaluation suite does (folders of ``.txt`` files or JSON Lines of ``{"id", "text"}``: ``suite``), builds
the reference and saves it, to be named in ``QuoteParams.reference``::

    python -m copytrace.evaluation.reference ref.npz clean/
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import InputError
from ..text.background import Reference
from .suite import load_corpus

COMMAND = "python -m copytrace.evaluation.reference"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m copytrace.evaluation.reference OUT.npz CORPUS...``: build a reference of stock phrases."""
    p = argparse.ArgumentParser(
        prog=COMMAND,
        description="Build a reference of stock phrases (word trigrams in several documents) from clean "
        f"text, for QuoteParams(reference=OUT). Example: {COMMAND} ref.npz clean/",
    )
    p.add_argument("out", metavar="OUT.npz")
    p.add_argument("corpus", nargs="+", metavar="CORPUS", help="folder of .txt files, or JSONL of {id, text}")
    p.add_argument("--min-docs", type=int, default=3, help="documents a phrase must occur in (3)")
    args = p.parse_args(argv)
    try:
        docs = load_corpus(args.corpus)
        ref = Reference.build(docs.values(), min_docs=args.min_docs)
        ref.save(args.out)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    share = f"{len(ref)} phrases from {ref.n_docs} documents"
    print(f"{args.out}: {share} (in at least {ref.min_docs} documents each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
