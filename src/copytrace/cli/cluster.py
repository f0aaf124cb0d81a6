"""``copytrace cluster``: the copy families of a whole corpus, on Ray (``copytrace.batch.cluster``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import CopytraceError
from .common import Exit, add_common_options, error, load_key, note
from .match import _limit, _score
from .progress import JobProgress, add_progress_options

STARTUP_SHARE = 0.3  # Ray's start taking this share of a job is said at the end
INTERRUPTED = "stopped; the blocks finished so far are kept: run the same command with --resume to finish"

EPILOG = """examples:
  copytrace cluster posts/ --out families-1                   # every .jsonl, .parquet and .txt below posts/
  copytrace cluster 'crawl/*.jsonl.zst' --out families-2 --link near-duplicate --format jsonl
  RAY_ADDRESS=ray://head:10001 copytrace cluster s3://archive/ --text-column body --out families-3
  copytrace cluster posts/ --out families-1 --resume          # after a crash or kill: finish the rest

Inputs: as 'copytrace scan' (JSON Lines, Parquet, folders of .txt files; local paths, globs, any fsspec URL).
Links: --link partial (default) links a document to every document it shares passages with (a quote joins
the family of what it quotes); --link near-duplicate only documents that are mostly each other (each holds
at least half of the other).  Text shared by many unrelated documents (a site footer, a template) links
nothing.
Output in DIR: clusters.parquet (or .jsonl), one row per input document {"id", "cluster", "cluster_size"}
("cluster" is the id of the family's first document; a document with no copy is its own cluster of 1);
edges.parquet: {"a", "b", "score", "a_containment", "b_containment", "spans"} with the shared passages'
offsets in both texts; summary.json; report.html (the largest families, passages highlighted).
Runs on the Ray cluster at --ray-address or $RAY_ADDRESS, else on a private Ray it starts on this machine
for the job alone and stops when the job ends, however it ends.  A job of at most 32 MB of input that
names no Ray and no --workers runs on this machine without Ray instead (in this process, or in
processes it forks): Ray's start and its workers' would take longer than the work (the outputs,
--resume and the exit status are the same).
Progress: a bar on a terminal, else a line every 10 s (--progress-interval); --progress json for JSON
lines.  Ctrl-C stops the job within seconds (exit status 130); finish it with --resume.
Exit status: 0 if any family of two or more was found, 1 if none, 2 on an error or when records were bad.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "cluster",
        help="find the copy families of a whole corpus, on Ray",
        epilog=EPILOG,
        description="Group the documents of a corpus into families of copies, with the evidence of links.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder, glob or URL of documents")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the results (new, or --resume)")
    p.add_argument(
        "--link",
        choices=["partial", "near-duplicate"],
        default="partial",
        help="what links two documents (default: partial)",
    )
    p.add_argument(
        "--format", choices=["parquet", "jsonl"], default="parquet", help="of DIR/clusters and DIR/edges"
    )
    p.add_argument("--resume", action="store_true", help="finish the job in DIR, skipping finished blocks")
    p.add_argument(
        "--components",
        choices=["auto", "memory", "distributed"],
        default="auto",
        help="connected components in the driver's memory or on Ray (default: auto, by the number of edges)",
    )
    p.add_argument(
        "--min-score",
        type=_score,
        default=0.1,
        metavar="X",
        help="an edge's shared passages are at least this share of one of its documents (default: 0.1)",
    )
    p.add_argument(
        "--id-column", default="id", metavar="NAME", help="Parquet column of the ids (default: id)"
    )
    p.add_argument(
        "--text-column", default="text", metavar="NAME", help="Parquet column of the texts (default: text)"
    )
    p.add_argument("--no-report", dest="report", action="store_false", help="do not write DIR/report.html")
    p.add_argument(
        "--ray-address", metavar="ADDRESS", help="the Ray cluster to run on (default: $RAY_ADDRESS)"
    )
    p.add_argument(
        "--workers",
        type=_limit,
        metavar="N",
        help="Ray actors (default: one per CPU of the cluster); given, even a small job runs on Ray",
    )
    add_progress_options(p)
    add_common_options(p, store=False)
    p.set_defaults(run=run, kernels=True)


def run(args: argparse.Namespace) -> int:
    from ..batch import interrupts

    with interrupts.exit_on_signal(INTERRUPTED):  # Ctrl-C: one line, any Ray stopped, exit 130
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..batch import engine
    from ..batch.cluster import ClusterSettings, run_cluster
    from ..batch.inputs import TableColumns

    engine.require_extra()

    settings = ClusterSettings(
        link=args.link,
        min_score=args.min_score,
        columns=TableColumns(args.id_column, args.text_column),
        max_bytes=args.max_size,
    )
    progress = JobProgress.from_args(args, "cluster")

    def started(stage: str, blocks: int, nbytes: int, done: int) -> None:
        if done and (blocks or stage == "fingerprint"):  # a resumed job has done blocks of the first pass
            note(f"resuming {stage}: {done} block(s) were finished by an earlier run; {blocks} left")
        progress.stage(stage, blocks, nbytes)

    quiet = args.progress == "none"

    def executor(chosen: str, nbytes: int) -> None:
        if chosen == "process" and not quiet:
            note(
                f"{nbytes / 1e6:,.1f} MB of input: clustered on this machine, without Ray (starting Ray and "
                "a worker per CPU takes seconds, longer than a job this small); --workers N runs it on Ray"
            )
        if chosen == "process":
            progress.ray_up = True  # nothing to wait for: the rate counts from each pass's start

    out = Path(os.path.abspath(args.out))
    with engine.when_ready(progress.ray_ready):
        try:
            result = run_cluster(
                args.inputs,
                out,
                settings=settings,
                key=load_key(args),
                output_format=args.format,
                components=args.components,
                resume=args.resume,
                ray_address=args.ray_address,
                workers=args.workers,
                report=args.report,
                on_start=started,
                on_block=lambda stage, stats: progress.block(stats),
                on_executor=executor,
            )
        finally:
            progress.stop()
    s = result.summary
    for rec in result.bad[:20]:
        where = f"{rec['file']}:{rec['row']}" if rec["row"] is not None else rec["file"]
        error(f"{where}: {rec['reason']}")
    if len(result.bad) > 20:
        error(f"... and {len(result.bad) - 20} more bad records: see {Path(args.out) / 'summary.json'}")
    note(
        f"clustered {s['documents']:,} documents in {s['wall_seconds']:.1f} s: {s['families']:,} families of "
        f"2 or more ({s['documents_in_families']:,} documents, the largest {s['largest_family']:,}), "
        f"{s['edges']:,} edges -> {s['output']['clusters']}"
    )
    ray = s.get("ray") or {}
    start = float(ray.get("start_seconds") or 0.0)
    if not quiet and start >= STARTUP_SHARE * s["wall_seconds"]:
        note(
            f"Ray's start took {start:.1f} s of the job's {s['wall_seconds']:.1f} s (the rates above count "
            "from when it was up): for a job this small, leave out --workers to run it without Ray"
            if ray.get("private")
            else f"joining Ray took {start:.1f} s of the job's {s['wall_seconds']:.1f} s"
        )
    if s["documents"] == 0 and not s["bad_records"]:
        raise CopytraceError("the inputs hold no document: nothing was clustered")
    if s["bad_records"]:
        error(f"{s['bad_records']:,} bad record(s) were skipped (the rest were clustered)")
        return Exit.ERROR
    return Exit.OK if s["families"] else Exit.NOT_FOUND
