"""Compile and cache copytrace's numba kernels once, before the tests run (``scripts/test.sh`` runs this
beside ruff and mypy, on the core they leave idle).

Numba compiles each kernel on first use and caches it beside the source.  Without this, the first test of
each pytest worker to reach a kernel compiles it, on a fresh clone every worker the same kernels at the same
time, and that test's duration is mostly the compiler's.  This runs every compiled path once through the
public API and the command line: fingerprints, banks with copy families, matching with quotes and phrases,
index snapshots written and mapped, the store's fingerprint parser, in-process clustering.

    python tests/warm_kernels.py      # prints the seconds it took; a second run takes a few
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
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
    run("bank", "export", "news", "--out", str(tmp / "news.jsonl"))
    run("bank", "import", "copies", str(tmp / "news.jsonl"))
    index = copytrace.Index()
    index.add("000", original)
    index.add("001", copytrace.fingerprint(copy))
    index.add("slogan", "Death to the occupiers, burn their homes")
    index.match_many([copy, quote, "D3ATH to the 0ccupiers"])
    for text in ("D3ATH", "D\u0415ATH", "D\U0001d404ATH"):  # phrase folding reads 1, 2 or 4 bytes a character
        index.match_many([text])
    index.remove("001")
    index.save(tmp / "warm.ctidx")
    copytrace.Index.load(tmp / "warm.ctidx").match(copy)
    copytrace.cluster([original, copy, paragraph, "an unrelated text of a few words more than eight"])


def main() -> None:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="copytrace-warm-") as tmp:
        warm(Path(tmp))
    print(f"== numba kernels compiled and cached ({time.monotonic() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
