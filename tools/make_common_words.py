"""Write ``src/copytrace/data/common_words_en.npz``: the common English words the phrase matcher will not
take as a glued or doubled-letter evasion (``copytrace.phrases._search``, ``docs/phrases.md``).

The words are those of wordfreq (https://github.com/rspeer/wordfreq, data CC BY-SA 4.0, by Robyn Speer and
contributors) with a Zipf frequency of 3.0 or more (once in a million words), letters a-z only, folded as
phrase normalisation folds them.  Run with wordfreq installed (``pip install wordfreq==3.1.1``):

    python tools/make_common_words.py
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from wordfreq import top_n_list, zipf_frequency

from copytrace.text.phrase_fold import phrase_tokens_many

MIN_ZIPF = 3.0
OUT = Path(__file__).resolve().parent.parent / "src" / "copytrace" / "data" / "common_words_en.npz"


def main() -> None:
    words = [
        w
        for w in top_n_list("en", 100_000)
        if re.fullmatch("[a-z]+", w) and zipf_frequency(w, "en") >= MIN_ZIPF
    ]
    folded = sorted(set(phrase_tokens_many(words).strings()))  # a word of a-z is one token
    chars = np.array([ord(c) for w in folded for c in w], dtype=np.uint32)
    offsets = np.zeros(len(folded) + 1, dtype=np.int64)
    np.cumsum([len(w) for w in folded], out=offsets[1:])
    np.savez_compressed(OUT, chars=chars, offsets=offsets, min_zipf=np.array([MIN_ZIPF]))
    print(f"{len(folded)} words -> {OUT}")


if __name__ == "__main__":
    main()
