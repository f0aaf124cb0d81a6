"""``copytrace match``: find banked items in texts; one JSON object per match on stdout."""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import CopytraceError, RecordError
from ..fingerprints.keys import PUBLIC_KEY
from ..fingerprints.records import iter_records
from .common import (
    Exit,
    add_common_options,
    error,
    load_key,
    note,
    open_store,
    progress,
    read_input,
    shown,
    to_json,
)

if TYPE_CHECKING:
    from ..index import Index
    from ..index.match import Match

EPILOG = """examples:
  copytrace match post.txt                          # every bank made with the same key
  copytrace match --bank news --bank manifestos -   # text on standard input
  copytrace match --jsonl posts.jsonl               # {"id", "text"} per line; "query" is the id
  copytrace match --format text post.txt            # show the matched passages side by side
  copytrace match --all-versions post.txt           # every banked version, not one per copy family

Output, one line per match:
  {"query", "bank", "item_id", "score", "query_containment", "item_containment",
   "spans": [{"query_start", "query_end", "item_start", "item_end"}], "family", "family_size", "kind"}
"kind" is "text" (shared fingerprints) or "phrase" (a short item, or an item of a phrase bank, found by its
folded letters however it was spelled: docs/phrases.md).
Versions of one text in a bank form a copy family, named by its earliest-added version ("family") with
"family_size" versions; by default each family gives one line, its best-matching version.
Spans are half-open character offsets into the decoded query and the stored item text (null without text).
Without --bank, every bank made with this key and the default k and window is searched; banks made with
other parameters are left out, with one note naming them (and when no bank can be searched, that is an error).
Exit status: 0 if anything matched, 1 if nothing did, 2 on an error (a malformed JSON line is reported with
its line number and skipped; the other queries still run).
"""


def _limit(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--limit must be a whole number of at least 1, not {value!r}")
    return n


def _score(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = -1.0
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"--min-score must be a number from 0 to 1, not {value!r}")
    return x


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "match",
        help="find banked items in texts",
        epilog=EPILOG,
        description="Find copies of banked items in each input.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH|-", help="text file, or - for standard input")
    p.add_argument("--bank", action="append", metavar="BANK", help="search this bank (repeatable)")
    p.add_argument("--jsonl", action="store_true", help='inputs are JSON Lines of {"id", "text"}')
    p.add_argument("--limit", type=_limit, metavar="N", help="at most N matches per query (N >= 1)")
    p.add_argument(
        "--min-score", type=_score, default=0.0, metavar="X", help="drop matches scoring below X (0 to 1)"
    )
    versions = p.add_mutually_exclusive_group()
    versions.add_argument(
        "--per-family",
        dest="per_family",
        action="store_true",
        default=True,
        help="report the best-matching version of each copy family only (the default)",
    )
    versions.add_argument(
        "--all-versions",
        dest="per_family",
        action="store_false",
        help="report every banked version that matches, each naming its family",
    )
    p.add_argument(
        "--format",
        choices=["jsonl", "text"],
        default="jsonl",
        help="jsonl (default): one JSON object per match; text: the matched passages, for reading",
    )
    add_common_options(p)
    p.set_defaults(run=run, kernels=True)


_CHUNK = 256  # queries matched in one call of ``Index.match_many``


def _queries(args: argparse.Namespace, failures: list[str]) -> Iterator[tuple[str, str]]:
    for path in args.paths:
        if not args.jsonl:
            try:
                yield path, read_input(path, args.max_size).text
            except CopytraceError as exc:
                error(str(exc) if path in str(exc) else f"{path}: {exc}")
                failures.append(path)
            continue
        fh = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
        with fh:
            for rec in progress(iter_records(fh, source=path, need_text=True), None, "matching"):
                if isinstance(rec, RecordError):
                    error(str(rec))
                    failures.append(str(rec))
                    continue
                yield rec.id, rec.text or ""


def run(args: argparse.Namespace) -> int:
    from ..fingerprints.fingerprint import FingerprintParams
    from ..index.match import MatchParams

    if not args.paths:
        args.paths = ["-"]
    store = open_store(args)
    key = load_key(args)
    banks = args.bank
    if banks is None:
        selection = store.banks_for(FingerprintParams(key_id=(key or PUBLIC_KEY).key_id))
        if not selection.searched and selection.left_out:
            raise selection.nothing_searchable()
        if selection.left_out:
            wanted, why = selection.wanted, selection.why_left_out()
            note(f"not searched (made with other parameters than {wanted}): {why}")
        if not selection.searched:
            raise CopytraceError(
                f"no banks in the store at {store.url}: add one with 'copytrace bank add BANK PATH'"
            )
        banks = selection.searched
    index: Index = store.build_index(banks, key=key, match_params=MatchParams(min_score=args.min_score))
    if len(index) == 0:
        note("the banks searched hold no items")
    failures: list[str] = []
    found = False
    out = sys.stdout
    has_phrases = index.n_phrases > 0
    queries = _queries(args, failures)
    while chunk := list(itertools.islice(queries, _CHUNK)):  # matched together: one compiled call
        names, texts = [n for n, _ in chunk], [t for _, t in chunk]
        answers = index.match_many(texts, limit=args.limit, queries=names, per_family=args.per_family)
        for name, text, matches in zip(names, texts, answers, strict=True):
            if not matches and not has_phrases and len(text.split()) < index.params.k:
                note(f"{name}: too short to match anything (fewer than {index.params.k} words)")
            for m in matches:
                found = True
                if args.format == "text":
                    out.write(render_text(m, text, store.text(m.bank, m.item_id)))
                else:
                    out.write(to_json(m.to_dict()) + "\n")
        out.flush()
    if failures:
        return Exit.ERROR
    return Exit.OK if found else Exit.NOT_FOUND


def _excerpt(text: str, start: int, end: int, width: int = 70) -> str:
    piece = " ".join(text[start:end].split())
    if len(piece) > 2 * width:
        piece = piece[:width] + " … " + piece[-width:]
    return f"“{piece}”"


def render_text(m: Match, query_text: str, item_text: str | None) -> str:
    """A match for reading: the score, then each matched passage in the query and in the item."""
    lines = [
        f"{m.query}  ⇄  {m.bank}/{m.item_id}   score {m.score:.3f}   "
        f"query containment {m.query_containment:.3f}   item containment {m.item_containment:.3f}"
    ]
    for n, s in enumerate(m.spans, start=1):
        quoted = _excerpt(query_text, s.query_start, s.query_end)
        lines.append(f"  passage {n}: query [{s.query_start}:{s.query_end}]  {quoted}")
        if item_text is not None and s.item_start is not None and s.item_end is not None:
            lines.append(
                f"  {'':>{len(str(n)) + 9}} item  [{s.item_start}:{s.item_end}]  "
                f"{_excerpt(item_text, s.item_start, s.item_end)}"
            )
        else:
            lines.append(f"  {'':>{len(str(n)) + 9}} item  (stored as a fingerprint only: no text)")
    return "\n".join(shown(line) for line in lines) + "\n\n"
