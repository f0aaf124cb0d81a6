"""Compile and cache copytrace's numba kernels once, before the tests run (``scripts/test.sh`` runs this
beside ruff and mypy, on the core they leave idle).

Numba compiles each kernel on first use and caches it beside the source.  Without this, the first test of
each pytest worker to reach a kernel compiles it, on a fresh clone every worker the same kernels at the same
time, and that test's duration is mostly the compiler's.  This runs every compiled path once through the
public API and the command line: fingerprints, banks with copy families, matching with quotes and phrases,
index snapshots written and mapped, the store's fingerprint parser, in-process clustering.

    python tests/warm_kernels.py      # prints the seconds it took; a second run takes a few
    .venv-hma/bin/python tests/warm_kernels.py --signals    # HMA's server's kernels, in HMA's environment
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(os.environ.get("COPYTRACE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def warm(tmp: Path) -> None:
    os.environ["COPYTRACE_DB"] = str(tmp / "warm.db")
    os.environ["COPYTRACE_CACHE"] = str(tmp / "cache")
    import copytrace
    from copytrace.cli.main import main

    original = (DATA / "canonical" / "000_ea7438489bd31fbe.txt").read_text(encoding="utf-8")
    copy = (DATA / "canonical" / "001_5e32e1b4a13a1b7e.txt").read_text(encoding="utf-8")
    (tmp / "000.txt").write_text(original, encoding="utf-8")
    (tmp / "001.txt").write_text(copy, encoding="utf-8")
    (tmp / "slogan.txt").write_text("Death to the occupiers, burn their homes\n", encoding="utf-8")
    paragraph = max(original.split("\n"), key=len)
    quote = " ".join(paragraph.split()[:12])
    (tmp / "post.txt").write_text(f"they wrote it: {quote} and then some unrelated words\n", encoding="utf-8")
    (tmp / "evasion.txt").write_text("so: D3ATH to the 0ccupiers, b u r n their h0mes!\n", encoding="utf-8")

    def run(*argv: str) -> None:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        if code not in (0, 1):  # 1: nothing matched
            raise SystemExit(f"copytrace {' '.join(argv)}: exit {code}\n{err.getvalue()}")

    run("bank", "add", "news", str(tmp / "000.txt"), str(tmp / "001.txt"))  # linked: copy families
    run("bank", "create", "calls", "--phrases")
    run("bank", "add", "calls", str(tmp / "slogan.txt"))
    for query in ("001.txt", "post.txt", "evasion.txt"):  # the index built from the store, then cached
        run("match", str(tmp / query))
    run("match", "--format", "text", str(tmp / "001.txt"))  # the snapshot mapped this time
    versions = _versions(original)
    (tmp / "versions.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in versions), encoding="utf-8"
    )
    run("bank", "add", "news", "--jsonl", str(tmp / "versions.jsonl"))  # linked to the mapped snapshot
    run("match", *(str(tmp / q) for q in ("001.txt", "post.txt", "evasion.txt")))  # snapshot and delta
    # a scan's workers match with the snapshot they map (on Ray as in these forked processes)
    rows = [{"id": f"d{n}", "text": t} for n, t in enumerate((copy, f"posted: {quote}", paragraph))]
    (tmp / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run(
        "scan",
        str(tmp / "corpus.jsonl"),
        "--out",
        str(tmp / "scan"),
        "--executor",
        "processes",
        "--workers",
        "1",
    )
    _cluster_from_snapshots(tmp, [original, copy, paragraph, *(t for _, t in versions)], run)
    run("bank", "export", "news", "--out", str(tmp / "news.jsonl"))
    run("bank", "import", "copies", str(tmp / "news.jsonl"))
    index = copytrace.Index()
    index.add("000", original)
    index.add("001", copytrace.fingerprint(copy))
    index.add("slogan", "Death to the occupiers, burn their homes")
    speeches = [
        p.read_text(encoding="utf-8") for p in sorted((DATA / "corpora" / "state_union").glob("*"))[:2]
    ]
    index.match_many([copy, quote, "D3ATH to the 0ccupiers", *speeches])
    for text in ("D3ATH", "D\u0415ATH", "D\U0001d404ATH"):  # phrase folding reads 1, 2 or 4 bytes a character
        index.match_many([text])
    index.remove("001")
    index.save(tmp / "warm.ctidx")
    loaded = copytrace.Index.load(tmp / "warm.ctidx")
    loaded.match(copy)
    # a mapped snapshot that grows: its postings mapped (read-only) beside pages held in memory
    loaded.add_many(versions[:40])
    loaded.match(copy)
    loaded.match_many([copy, quote, *speeches, *(t for _, t in versions[::3])])
    loaded.match_fingerprints([copytrace.fingerprint(t) for t in (copy, *speeches)])
    loaded.keep_postings_in_file(above=40)  # the mapped level merged into a file of its own
    loaded.add_many(versions[40:])
    loaded.flush()
    loaded.match_fingerprints([copytrace.fingerprint(t) for t in (copy, *speeches)])
    _in_a_file(versions)
    copytrace.cluster([original, copy, paragraph, "an unrelated text of a few words more than eight"])


def _versions(text: str) -> list[tuple[str, str]]:
    """Versions of ``text`` (a window of its words each): items that link to each other."""
    words = text.split()
    return [(f"v{n}", " ".join(words[n * 7 : n * 7 + 300])) for n in range(48)]


def _cluster_from_snapshots(tmp: Path, texts: list[str], run: Callable[..., None]) -> None:
    """A cluster job whose passes read their indexes from snapshot files, as its workers on Ray do (built
    block by block, then mapped), rather than from the indexes a small job in process builds in memory."""
    from copytrace.batch.cluster_job import ClusterJob

    folder = tmp / "posts"
    folder.mkdir()
    rows = [{"id": f"p{n}", "text": text} for n, text in enumerate(texts)]
    (folder / "posts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    in_memory = ClusterJob.batches
    ClusterJob.batches = lambda self, params: None  # type: ignore[assignment,method-assign,misc]
    try:
        run("cluster", str(folder), "--out", str(tmp / "families"), "--no-report")
    finally:
        ClusterJob.batches = in_memory  # type: ignore[method-assign]


def _in_a_file(items: list[tuple[str, str]]) -> None:
    """An index whose postings are kept in a file (a bulk add's linking index): the file's level mapped
    beside offsets in memory, rewritten block by block, and batches linked from what they read of it."""
    import copytrace
    from copytrace.fingerprints.batch import FingerprintBatch

    fps = [(item_id, copytrace.fingerprint(text)) for item_id, text in items]
    params = fps[0][1].params
    index = copytrace.Index.for_params(params)
    index.keep_postings_in_file(above=40, expected=20_000)
    for s in range(0, len(fps), 6):
        ids, chunk = [i for i, _ in fps[s : s + 6]], [f for _, f in fps[s : s + 6]]
        index.add_batch(ids, FingerprintBatch.from_fingerprints(chunk, params))
        index.flush()
    index.match_fingerprints([f for _, f in fps])
    index.match(items[0][1])
    for item_id, _ in fps[::4]:
        index.remove(item_id)
    index.add_many(fps[::4])
    index.match_fingerprints([f for _, f in fps])


def warm_signals() -> None:
    """What HMA's server runs of copytrace: its two signal types hash texts of one, two and four bytes a
    character (phrase folding compiles a version for each), build an index, serialise it, query it and
    compare.  Run in HMA's own environment (another Python, whose compiled kernels are cached apart), for
    ``tests/test_hma.py``: otherwise HMA's server compiles them while the test waits (about 60 CPU-s)."""
    import io

    from threatexchange.signal_type.index import SignalTypeIndex

    from copytrace.threatexchange import CopytracePhraseSignal, CopytraceSignal
    from copytrace.threatexchange.__main__ import warm as warm_signal_types
    from copytrace.threatexchange.signal import EXAMPLE_TEXTS

    warm_signal_types()
    texts = [
        *EXAMPLE_TEXTS,
        (DATA / "canonical" / "000_ea7438489bd31fbe.txt").read_text(encoding="utf-8"),
        (DATA / "canonical" / "001_5e32e1b4a13a1b7e.txt").read_text(encoding="utf-8"),
        "D3ATH t0 the 0ccupiers!! no justice, no peace",
        "D\u0415ATH to the occupiers, \u201cno justice\u201d",  # two bytes a character
        "so true!! \U0001f525 death to the occupiers",  # four
    ]
    for signal_type in (CopytraceSignal, CopytracePhraseSignal):
        signals = [signal_type.hash_from_str(text) for text in texts]
        index = signal_type.get_index_cls().build([(s, n) for n, s in enumerate(signals) if s])
        buf = io.BytesIO()
        index.serialize(buf)
        buf.seek(0)
        loaded: SignalTypeIndex[int] = SignalTypeIndex.deserialize(buf)
        for signal in signals:
            if signal:
                loaded.query(signal)
        signal_type.compare_hash(signals[3], signals[4])


def main() -> None:
    start = time.monotonic()
    if sys.argv[1:] == ["--signals"]:
        warm_signals()
        print(f"== numba kernels of HMA's environment compiled and cached ({time.monotonic() - start:.0f} s)")
        return
    with tempfile.TemporaryDirectory(prefix="copytrace-warm-") as tmp:
        warm(Path(tmp))
    print(f"== numba kernels compiled and cached ({time.monotonic() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
