"""Write the golden test vectors of the current fingerprint version (run once per released version).

The vectors pin normalisation and fingerprint output forever: ``tests/test_golden.py`` fails if any output
changes.  Never regenerate a released version's file; a change of output is a new version with a new file.

Usage: python tools/make_golden_vectors.py OUT.json  (refuses to overwrite)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from copytrace import fingerprint, normalize


def cases(data: Path) -> list[tuple[str, str, str | None]]:
    canon = (data / "canonical/000_ea7438489bd31fbe.txt").read_text(encoding="utf-8")
    udhr = data / "corpora/udhr"
    return [
        ("english", canon[:600], None),
        ("reflowed", " ".join(canon[:600].split()), None),
        ("keyed", canon[:600], "golden-vector-secret-0123456789"),
        (
            "html",
            "<html><body><p>We don&#39;t sleep for one <b>ni</b>ght unless we think</p>"
            "<p>of eliminating our enemies &amp; more.</p></body></html>",
            None,
        ),
        (
            "homoglyphs",
            "We d\u043en't sl\u0435\u0435p f\u043er \u043en\u0435 night unl\u0435ss w\u0435 "
            "th\u200bink \u043ef \u0435liminating",
            None,
        ),
        ("persian", (udhr / "pes_1.txt").read_text(encoding="utf-8")[:400], None),
        ("arabic", (udhr / "arb.txt").read_text(encoding="utf-8")[:400], None),
        ("chinese", (udhr / "cmn_hans.txt").read_text(encoding="utf-8")[:200], None),
        ("japanese", (udhr / "jpn.txt").read_text(encoding="utf-8")[:200], None),
        ("thai", (udhr / "tha.txt").read_text(encoding="utf-8")[:300], None),
        ("russian", (udhr / "rus.txt").read_text(encoding="utf-8")[:400], None),
        ("hindi", (udhr / "hin.txt").read_text(encoding="utf-8")[:400], None),
        ("short", "one two three four five", None),
    ]


def main() -> None:
    out = Path(sys.argv[1])
    if out.exists():
        sys.exit(f"{out} exists: golden vectors of a released version are never rewritten")
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    vectors = [
        {
            "name": n,
            "text": t,
            "key": k,
            "normalized": normalize(t),
            "fingerprint": str(fingerprint(t, key=k)),
        }
        for n, t, k in cases(data)
    ]
    out.write_text(json.dumps(vectors, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
