"""A news corpus for the evaluation, assembled offline: ``python -m copytrace.evaluation.news``.

The shared corpora are speeches; quotes travel in news.  The Lee corpus is 350 short news articles of the
Australian Broadcasting Corporation's news mail service (Lee, Pincombe and Welsh, "An empirical evaluation
of models of text document similarity", CogSci 2005): 300 background articles (``lee_background.cor``)
and 50 more (``lee.cor``), one article a line, bushfires, the war in Afghanistan, the Middle East, cricket
scores, courts and markets of late 2001.  gensim ships both files for its tests inside its wheel, so they
come from the package index with its ordinary client, without running gensim or reaching any other site::

    pip download gensim==4.4.0 --no-deps -d wheels/
    python -m copytrace.evaluation.news news.jsonl wheels/gensim-4.4.0-*.whl
    copytrace eval news.jsonl --methods copytrace --per-row 200

The source may also be an installed gensim package's folder or a folder holding the two files.  The
output is JSON Lines of ``{"id", "text"}`` (``lee_background/000``, ``lee/000``), the form ``copytrace
eval``, ``copytrace bank add --jsonl`` and ``copytrace match --jsonl`` read; ``--min-words`` and
``--max-words`` keep the articles of that length (the evaluation banks articles of 150 words or more; the
shorter ones, never banked, are clean queries that share the banked ones' topics, places and dates).
The articles are not copied into copytrace: each user assembles them from the package.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError

COMMAND = "python -m copytrace.evaluation.news"
FILES = ("lee_background.cor", "lee.cor")
"""The Lee corpus's files, in the order their articles are written."""
_IN_WHEEL = "gensim/test/test_data/"


def _decode(raw: bytes) -> str:
    """``lee_background.cor`` is ASCII, ``lee.cor`` Latin-1 in places: UTF-8 where it decodes, else Latin-1
    (each file as a whole)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_files(source: str | Path) -> dict[str, bytes]:
    """The bytes of each of ``FILES`` from a gensim wheel, an installed gensim package's folder, or a folder
    holding them; ``InputError`` naming what is missing."""
    path = Path(source)
    out: dict[str, bytes] = {}
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as wheel:
                names = set(wheel.namelist())
                for name in FILES:
                    if _IN_WHEEL + name in names:
                        out[name] = wheel.read(_IN_WHEEL + name)
        except zipfile.BadZipFile as exc:
            raise InputError(f"{path}: not a wheel (zip) file: {exc}") from exc
    elif path.is_dir():
        for folder in (path, path / "test" / "test_data", path / _IN_WHEEL):
            for name in FILES:
                if name not in out and (folder / name).is_file():
                    out[name] = (folder / name).read_bytes()
    else:
        raise InputError(f"{path}: no such file or directory")
    missing = [name for name in FILES if name not in out]
    if missing:
        raise InputError(
            f"{path}: holds no {', '.join(missing)}: give a gensim wheel (pip download gensim==4.4.0 "
            "--no-deps -d DIR), an installed gensim package's folder, or a folder holding the files"
        )
    return out


def articles(files: dict[str, bytes]) -> dict[str, str]:
    """Each article of the Lee corpus by id (``lee_background/000``): one article a non-empty line."""
    out: dict[str, str] = {}
    for name in FILES:
        stem = name.removesuffix(".cor")
        lines = [line.strip() for line in _decode(files[name]).splitlines()]
        for n, text in enumerate(line for line in lines if line):
            out[f"{stem}/{n:03d}"] = text
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m copytrace.evaluation.news OUT.jsonl SOURCE``: write the Lee news corpus as JSON Lines."""
    p = argparse.ArgumentParser(
        prog=COMMAND,
        description="Write the Lee corpus of news articles (shipped in gensim's wheel) as JSON Lines of "
        f"{{id, text}}. Example: {COMMAND} news.jsonl wheels/gensim-4.4.0-*.whl",
    )
    p.add_argument("out", metavar="OUT.jsonl")
    p.add_argument("source", metavar="SOURCE", help="gensim wheel, gensim package folder, or folder of .cor")
    p.add_argument("--min-words", type=int, default=0, help="keep articles of at least this many words")
    p.add_argument("--max-words", type=int, help="keep articles of at most this many words")
    args = p.parse_args(argv)
    try:
        docs = articles(read_files(args.source))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kept = {
        i: t
        for i, t in docs.items()
        if len(t.split()) >= args.min_words and (args.max_words is None or len(t.split()) <= args.max_words)
    }
    with open(args.out, "w", encoding="utf-8") as f:
        for item_id, text in kept.items():
            f.write(json.dumps({"id": item_id, "text": text}, ensure_ascii=False) + "\n")
    words = sum(len(t.split()) for t in kept.values())
    print(f"{args.out}: {len(kept)} of {len(docs)} articles, {words} words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
