"""``copytrace scan``: a whole corpus matched against banks on Ray (``copytrace.batch.scan``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CopytraceError, UnknownBankError
from .common import Exit, add_common_options, error, load_key, note, open_store
from .match import _limit, _score
from .progress import JobProgress, add_progress_options

EXECUTORS = ("auto", "processes", "ray")  # batch.scan.EXECUTORS (not imported: the CLI starts without it)

if TYPE_CHECKING:
    from ..banks import Store
    from ..fingerprints.keys import Key

EPILOG = """examples:
  copytrace scan posts/ --out scan-1                      # every .jsonl, .parquet and .txt below posts/
  copytrace scan --bank manifestos 'crawl/*.jsonl.zst' --out scan-2 --format jsonl
  copytrace scan s3://archive/2026/ --text-column body --out scan-3      # Parquet on S3
  RAY_ADDRESS=ray://head:10001 copytrace scan s3://archive/ --out scan-4  # the same on a Ray cluster
  copytrace scan posts/ --out scan-1 --resume             # after a crash or kill: finish the rest

Inputs: JSON Lines of {"id", "text"} (.jsonl, .jsonl.gz, .jsonl.zst), Parquet (.parquet: --id-column,
--text-column), folders of .txt files (id = path relative to the folder, without .txt); local paths, globs
or any URL fsspec opens (s3://..., with the usual AWS_* settings).
Output in DIR: matches.parquet (or .jsonl), one row per match, the shape of 'copytrace match --jsonl' with
"query" the document id and "source": {"file", "row"} (line of a JSON Lines file, row of a Parquet file);
summary.json (documents, bytes, matched documents, bad records with file and line, time, documents/s).
Runs on the Ray cluster at --ray-address or $RAY_ADDRESS, else on a private Ray it starts on this machine
for the scan alone (never one it finds running) and stops when the scan ends, however it ends.
Progress: a bar on a terminal, else a line every 10 s (--progress-interval) with documents, bytes,
documents/s and time left; --progress json for JSON lines.  Ctrl-C stops the scan within seconds (exit
status 130); finish it with --resume.
Exit status: 0 if any document matched, 1 if none did, 2 on an error or when records were bad (they are
reported with file and line and skipped; the other documents are scanned).
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "scan",
        help="match a whole corpus against banks, on Ray",
        epilog=EPILOG,
        description="Match every document of a corpus against banks, on this machine or a Ray cluster.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder, glob or URL of documents")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the results (new, or --resume)")
    p.add_argument("--bank", action="append", metavar="BANK", help="search this bank (repeatable)")
    p.add_argument(
        "--format", choices=["parquet", "jsonl"], default="parquet", help="of DIR/matches (default: parquet)"
    )
    p.add_argument("--resume", action="store_true", help="finish the scan in DIR, skipping finished blocks")
    p.add_argument(
        "--id-column", default="id", metavar="NAME", help="Parquet column of the ids (default: id)"
    )
    p.add_argument(
        "--text-column", default="text", metavar="NAME", help="Parquet column of the texts (default: text)"
    )
    p.add_argument("--limit", type=_limit, metavar="N", help="at most N matches per document (N >= 1)")
    p.add_argument(
        "--min-score", type=_score, default=0.0, metavar="X", help="drop matches scoring below X (0 to 1)"
    )
    p.add_argument(
        "--all-versions",
        dest="per_family",
        action="store_false",
        help="report every banked version that matches, not one per copy family",
    )
    p.add_argument(
        "--ray-address", metavar="ADDRESS", help="the Ray cluster to run on (default: $RAY_ADDRESS)"
    )
    p.add_argument(
        "--workers",
        type=_limit,
        metavar="N",
        help="worker processes or Ray actors (default: one per CPU of this machine or of the cluster)",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="auto",
        help="processes: worker processes on this machine; ray: the Ray cluster named, else a Ray of the "
        "scan's own; auto (the default): ray when a cluster is named, else processes",
    )
    add_progress_options(p)
    add_common_options(p)
    p.set_defaults(run=run, kernels=True)


INTERRUPTED = "stopped; the blocks finished so far are kept: run the same command with --resume to finish"


def searchable_banks(store: Store, key: Key | None, named: list[str] | None) -> list[str]:
    """The banks to search: those named, else every bank made with this key and the default parameters
    (with a note naming those left out); an error when none can be searched."""
    from ..fingerprints.fingerprint import FingerprintParams
    from ..fingerprints.keys import PUBLIC_KEY

    if named:
        known = store.bank_param_strings(named)  # a small query: no bank's items are counted
        for bank in named:
            if bank not in known:
                raise UnknownBankError(bank)
        return list(dict.fromkeys(named))
    selection = store.banks_for(FingerprintParams(key_id=(key or PUBLIC_KEY).key_id))
    if not selection.searched and selection.left_out:
        raise selection.nothing_searchable()
    if selection.left_out:
        note(f"not searched (made with other parameters than {selection.wanted}): {selection.why_left_out()}")
    if not selection.searched:
        raise CopytraceError(
            f"no banks in the store at {store.url}: add one with 'copytrace bank add BANK PATH'"
        )
    return list(selection.searched)


def run(args: argparse.Namespace) -> int:
    from ..batch import interrupts

    with interrupts.exit_on_signal(INTERRUPTED):  # Ctrl-C: one line, any Ray stopped, exit 130 within seconds
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..batch import engine
    from ..batch.inputs import TableColumns
    from ..batch.scan import ScanSettings, run_scan, use_ray

    engine.require_extra()

    store = open_store(args)
    key = load_key(args)
    banks = searchable_banks(store, key, args.bank)
    settings = ScanSettings(
        banks=tuple(banks),
        limit=args.limit,
        min_score=args.min_score,
        per_family=args.per_family,
        columns=TableColumns(args.id_column, args.text_column),
        max_bytes=args.max_size,
    )
    on_ray = use_ray(args.executor, args.ray_address)
    progress = JobProgress.from_args(args, "scan", engine="Ray" if on_ray else "workers")

    def started(blocks: int, nbytes: int, done: int) -> None:
        if done:
            note(f"resuming: {done} block(s) were finished by an earlier run; {blocks} left")
        progress.stage("scan", blocks, nbytes)

    out = Path(os.path.abspath(args.out))
    with engine.when_ready(progress.ray_ready):
        try:
            result = run_scan(
                args.inputs,
                out,
                store=store,
                settings=settings,
                key=key,
                output_format=args.format,
                resume=args.resume,
                ray_address=args.ray_address,
                workers=args.workers,
                on_start=started,
                on_block=progress.block,
                executor="ray" if on_ray else "processes",
            )
        finally:
            progress.stop()
    s = result.summary
    for rec in result.bad[:20]:
        where = f"{rec['file']}:{rec['row']}" if rec["row"] is not None else rec["file"]
        error(f"{where}: {rec['reason']}")
    if len(result.bad) > 20:
        error(f"... and {len(result.bad) - 20} more bad records: see {Path(args.out) / 'summary.json'}")
    rate = f", {s['documents_per_second']:,.0f} documents/s" if s["documents_per_second"] else ""
    note(
        f"scanned {s['documents']:,} documents ({s['bytes']:,} bytes) in {s['wall_seconds']:.1f} s{rate}: "
        f"{s['matched_documents']:,} matched ({s['matches']:,} matches) -> {s['output']}"
    )
    slow_start = _start_up_note(s)
    if slow_start:
        note(slow_start)
    if "item_offsets" in s:
        note(f"item offsets are {s['item_offsets']}")
    if s["bank_items"] == 0:
        note("the banks searched hold no items")
    if s["documents"] == 0 and not s["bad_records"]:
        raise CopytraceError("the inputs hold no document: nothing was scanned")
    if s["bad_records"]:
        error(f"{s['bad_records']:,} bad record(s) were skipped (the rest were scanned)")
        return Exit.ERROR
    return Exit.OK if s["matched_documents"] else Exit.NOT_FOUND


def _start_up_note(s: dict[str, object]) -> str | None:
    """A note when starting the engine took as long as the scanning itself: a small job's time is then
    mostly start-up, which more workers do not shorten."""
    start = float(s.get("start_seconds") or 0.0)  # type: ignore[arg-type]
    scanning = float(s.get("scan_seconds") or 0.0)  # type: ignore[arg-type]
    if start < 0.5 or start < scanning:
        return None
    what = "Ray" if s.get("executor") == "ray" else "the workers"
    advice = (
        "; on one machine the default executor (--executor processes) starts in a fraction of that"
        if s.get("executor") == "ray"
        else ""
    )
    return (
        f"start-up took most of this scan: starting {what} {start:.1f} s, scanning {scanning:.1f} s "
        f"(the documents/s count the scanning only){advice}"
    )
