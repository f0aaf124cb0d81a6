"""The phrase search's batched, compiled parts agree with the plain ways of computing the same thing: many
posts searched together find what each post searched alone finds, the folding of a batch is the folding of
each text, the runs of digits and the glued numbers' breaks read from the folding's code points are the
plain ways', and the columns of a batch's finds (``PhraseTable.hits``)
group every occurrence as a plain loop does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace.phrases import PhraseTable, phrase_fingerprint
from copytrace.phrases._numbers import _is_letter, _ordinal, break_windows, breaks_many, number_breaks
from copytrace.phrases._repeats import Window
from copytrace.phrases.hits import MAX_SPANS
from copytrace.phrases.table import _SLICE
from copytrace.text.normalize import code_points
from copytrace.text.phrase_fold import phrase_tokens, phrase_tokens_many

PHRASES = ["death to the occupiers", "burn their homes", "money for college. In 1992", "the 21st century"]
EVASIONS = [
    "death to the occupiers",
    "D3@TH t0 th3 0ccup13rs",
    "d e a t h to the occupiers",
    "deathto the the occupiers",
    "dеаth tо thе оccupiers",  # look-alikes
    "burn their their homes",
    "moneyforcollegeIn1992",
    "the 21stcentury",
]
ASCII_WORDS = ["the", "the", "to", "a", "1992", "21st", "homes", "burn", "x", "d3ath", "of", "that", "that"]
MIXED_WORDS = [*ASCII_WORDS, "год", "2022год", "café", "ｆｕｌｌ", "a\u200bb", "—", "dеаth"]


def _post(pieces: list[str], seps: list[str]) -> str:
    return "".join(p + s for p, s in zip(pieces, seps, strict=False))


posts = st.lists(
    st.builds(
        _post,
        st.lists(st.sampled_from(MIXED_WORDS + EVASIONS), min_size=0, max_size=30),
        st.lists(st.sampled_from([" ", " ", ", ", ".\n", "-", "  "]), min_size=30, max_size=30),
    ),
    min_size=1,
    max_size=8,
)
ascii_posts = st.lists(
    st.builds(
        _post,
        st.lists(st.sampled_from(ASCII_WORDS + EVASIONS[:4]), min_size=0, max_size=30),
        st.lists(st.sampled_from([" ", ". ", "-"]), min_size=30, max_size=30),
    ),
    min_size=1,
    max_size=8,
)


def _table() -> PhraseTable:
    table = PhraseTable()
    for i, p in enumerate(PHRASES):
        table.add(i, phrase_fingerprint(p))
    return table


TABLE = _table()


def _answers(table: PhraseTable, texts: list[str]) -> list[list[tuple[int, tuple[tuple[int, int], ...]]]]:
    return [[(m.item, m.spans) for m in found] for found in table.match_many(texts, html=False)]


@settings(max_examples=60, deadline=None)
@given(texts=st.one_of(posts, ascii_posts))
def test_a_batch_finds_what_each_post_alone_finds(texts: list[str]) -> None:
    together = _answers(TABLE, texts)
    alone = [_answers(TABLE, [t])[0] for t in texts]
    assert together == alone


@settings(max_examples=60, deadline=None)
@given(texts=st.one_of(posts, ascii_posts))
def test_the_folding_of_a_batch_is_the_folding_of_each_text(texts: list[str]) -> None:
    batch = phrase_tokens_many(texts, html=False)
    strings = batch.strings()
    for t, text in enumerate(texts):
        one = phrase_tokens(text, html=False)
        mine = batch.text == t
        assert [s for s, m in zip(strings, mine.tolist(), strict=True) if m] == one.strings()
        assert batch.starts[mine].tolist() == one.starts.tolist()
        assert batch.ends[mine].tolist() == one.ends.tolist()
        assert batch.skeleton(t) == one.skeleton(0)


def _digit_runs_numpy(cps: np.ndarray) -> np.ndarray:
    digit = ((cps >= 48) & (cps <= 57)).view(np.int8)
    return np.flatnonzero(np.diff(digit, prepend=np.int8(0), append=np.int8(0))).reshape(-1, 2)


def _breaks_reference(cps: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The breaks of ``cps`` (texts joined by line breaks) rule by rule, run of digits by run."""
    out = []
    for i, j in _digit_runs_numpy(cps).tolist():
        if j - i >= 4:  # a year or an amount, broken off the letters on either side ($ kept with it)
            s = i - 1 if i > 0 and cps[i - 1] == 36 else i
            if s > 0 and _is_letter(np.int64(cps[s - 1]), classes):
                out.append(s)
            if j < len(cps) and _is_letter(np.int64(cps[j]), classes):
                out.append(j)
        elif (
            j + 2 < len(cps)
            and cps[j] < 128
            and cps[j + 1] < 128
            and _ordinal(int(cps[j]), int(cps[j + 1]))
            and _is_letter(np.int64(cps[j + 2]), classes)
        ):
            out.append(j + 2)
    return np.array(out, dtype=np.int64)


@settings(max_examples=100, deadline=None)
@given(
    texts=st.lists(
        st.text(alphabet=st.sampled_from("0123456789aZst $\né\u0663\U0001d41a\ud800"), max_size=30),
        max_size=6,
    )
)
def test_the_breaks_read_from_the_foldings_code_points_are_those_of_the_texts(texts: list[str]) -> None:
    toks = phrase_tokens_many(texts, html=False)
    assert toks.source is not None and toks.source_bounds is not None
    with_source = breaks_many(texts, cps=toks.source, bounds=toks.source_bounds)
    alone = breaks_many(texts)
    assert [a.tolist() for a in with_source] == [a.tolist() for a in alone]
    reach = 3
    assert break_windows(
        texts, toks.text, toks.starts, toks.ends, reach, cps=toks.source, bounds=toks.source_bounds
    ) == break_windows(texts, toks.text, toks.starts, toks.ends, reach)


def test_the_folding_keeps_its_code_points_only_when_no_markup_was_stripped() -> None:
    plain = phrase_tokens_many(["born in1992 ok", "<p>x</p>"], html=False)
    assert plain.source is not None and plain.source_bounds is not None
    assert plain.source_bounds.tolist() == [0, 14, 22]
    assert bytes(plain.source).decode("ascii") == "born in1992 ok<p>x</p>"
    stripped = phrase_tokens_many(["born in1992 ok", "<p>in1992 x</p>"], html=None)
    assert stripped.source is None and stripped.source_bounds is None
    # the glued numbers' windows are then read from the texts as given: the same finds either way
    table = PhraseTable()
    table.add(0, phrase_fingerprint("born in 1992"))
    assert [[(m.item, m.spans) for m in f] for f in table.match_many(["x born in1992 ok"], html=None)] == [
        [(0, ((2, 13),))]
    ]


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(alphabet=st.sampled_from("0123456789aZst $\nд"), max_size=30), max_size=6))
def test_the_breaks_of_a_batch_are_the_breaks_of_each_text(texts: list[str]) -> None:
    text, at = breaks_many(texts)
    assert [at[text == i].tolist() for i in range(len(texts))] == [number_breaks(t) for t in texts]


def test_a_window_maps_its_offsets_back_around_its_cuts() -> None:
    query = "x death to the the occupiers"  # the second 'the' cut: 'x death to the occupiers'
    win = Window(0, query[:14] + query[18:], (0, 14), (0, 18), ((14, 18),))
    assert win.string == "x death to the occupiers"
    start, end = win.to_query(2), win.to_query(len(win.string), end=True)
    assert query[start:end] == "death to the the occupiers"
    assert win.spans_a_cut(start, end) and not win.spans_a_cut(0, 14)


def _grouped(table: PhraseTable, texts: list[str]) -> list[list[tuple[int, list[tuple[int, int]], float]]]:
    """The reference grouping of ``PhraseTable.find``'s occurrences: per text, each item once in order of
    first occurrence, its first ``MAX_SPANS`` occurrences, and the share of the text's tokens they cover."""
    finds = table.find(texts, html=False)
    toks = phrase_tokens_many(texts, html=False)
    token_of = {(int(q), int(a)): i for i, (q, a) in enumerate(zip(toks.text, toks.starts, strict=True))}
    end_of = {(int(q), int(b)): i for i, (q, b) in enumerate(zip(toks.text, toks.ends, strict=True))}
    out: list[list[tuple[int, list[tuple[int, int]], float]]] = []
    for q in range(len(texts)):
        spans: dict[int, list[tuple[int, int]]] = {}
        for t, item, a, b in finds:
            if t == q:
                spans.setdefault(item, []).append((a, b))
        n_tokens = max(1, int(np.count_nonzero(toks.text == q)))
        row = []
        for item, found in spans.items():
            kept = found[:MAX_SPANS]
            covered = sum(end_of[q, b] - token_of[q, a] + 1 for a, b in kept)
            row.append((item, kept, min(1.0, covered / n_tokens)))
        out.append(row)
    return out


@settings(max_examples=60, deadline=None)
@given(texts=st.one_of(posts, ascii_posts))
def test_the_hits_columns_group_every_occurrence_by_text_and_item(texts: list[str]) -> None:
    hits = TABLE.hits(texts, html=False)
    first, spans = hits.text_first.tolist(), hits.span_first.tolist()
    got = [
        [
            (
                int(hits.item[m]),
                list(
                    zip(
                        hits.starts[spans[m] : spans[m + 1]].tolist(),
                        hits.ends[spans[m] : spans[m + 1]].tolist(),
                        strict=True,
                    )
                ),
                float(hits.coverage[m]),
            )
            for m in range(first[q], first[q + 1])
        ]
        for q in range(len(texts))
    ]
    assert hits.query.tolist() == [q for q in range(len(texts)) for _ in range(first[q], first[q + 1])]
    want = _grouped(TABLE, texts)
    assert [[(i, s) for i, s, _ in row] for row in got] == [[(i, s) for i, s, _ in row] for row in want]
    assert [c for row in got for _, _, c in row] == pytest.approx([c for row in want for _, _, c in row])
    assert _answers(TABLE, texts) == [[(i, tuple(s)) for i, s, _ in row] for row in got]


def test_the_hits_of_batches_cut_into_slices_are_those_of_each_text() -> None:
    texts = [f"post {i}: " + "the state of the union " * 40 + EVASIONS[i % len(EVASIONS)] for i in range(150)]
    assert sum(map(len, texts)) > 2 * _SLICE  # searched in three slices, put together
    hits = TABLE.hits(texts, html=False)
    alone = [TABLE.hits([t], html=False) for t in texts]
    assert hits.n_texts == len(texts) and len(hits) == sum(map(len, alone))
    for q, one in enumerate(alone):
        a, b = int(hits.text_first[q]), int(hits.text_first[q + 1])
        assert hits.item[a:b].tolist() == one.item.tolist()
        assert hits.coverage[a:b].tolist() == one.coverage.tolist()
        s0, s1 = int(hits.span_first[a]), int(hits.span_first[b])
        assert hits.starts[s0:s1].tolist() == one.starts.tolist()
        assert hits.ends[s0:s1].tolist() == one.ends.tolist()
    assert TABLE.hits([], html=False).n_texts == 0 and len(PhraseTable().hits(["no more war"])) == 0


def test_every_phrase_is_reached_in_the_lookup_tables_from_its_prefix_hash() -> None:
    from copytrace.fingerprints._phrase_hashing import PREFIX
    from copytrace.phrases._search import build

    rng = np.random.default_rng(5)
    n = 3000
    length = rng.integers(1, 40, n).astype(np.uint64)
    plen = np.minimum(length, np.uint64(PREFIX))
    # few prefixes (groups of many lengths), most of them with the same top bits (slots taken, the last ones
    # wrapping around the end of the table)
    top = rng.choice(np.array([0, 2**64 - 2**58, 2**63], dtype=np.uint64), n)
    prefix = top | rng.integers(0, 300, n).astype(np.uint64)
    full = rng.integers(0, 2**62, n).astype(np.uint64)
    data = np.stack(
        (rng.integers(1, 9, n).astype(np.uint64), length, plen, prefix, full, full + np.uint64(1)), 1
    )
    lk = build(data, np.arange(n))
    mask = len(lk.groups) - 1
    for row in range(n):
        i = int(prefix[row] >> np.uint64(lk.shift))
        while int(lk.groups[i, 1]) and not (
            lk.groups[i, 0] == prefix[row] and int(lk.groups[i, 1]) & 255 == int(plen[row])
        ):
            i = (i + 1) & mask
        packed = int(lk.groups[i, 1])
        assert packed, row
        runs = [r for r in range(packed >> 8 & (2**28 - 1), packed >> 36) if lk.runs[r, 0] == length[row]]
        assert len(runs) == 1
        shapes = range(int(lk.runs[runs[0], 1]), int(lk.runs[runs[0] + 1, 1]))
        found = [s for s in shapes if lk.s_hash[s, 0] == full[row] and lk.s_hash[s, 1] == full[row] + 1]
        assert any(row in lk.s_items[lk.s_item[s] : lk.s_item[s + 1]] for s in found)


def test_every_group_passes_the_filter_from_its_hash_before_the_last_mixing() -> None:
    """The search tests the filter with a probe's hash before ``fmix`` (``y``) and mixes only the probes
    that pass: every group of the table must pass from its own ``y``, whatever its prefix length."""
    from copytrace.fingerprints._phrase_hashing import PREFIX, SEED, fmix
    from copytrace.phrases._search import _unmix, build

    rng = np.random.default_rng(8)
    n = 2000
    length = rng.integers(1, 40, n).astype(np.uint64)
    plen = np.minimum(length, np.uint64(PREFIX))
    y = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
    prefix = np.array([int(fmix(v)) if p > SEED else int(v) for v, p in zip(y, plen, strict=True)], np.uint64)
    assert np.array_equal(_unmix(prefix[plen > SEED]), y[plen > SEED])
    full = rng.integers(0, 2**62, n).astype(np.uint64)
    data = np.stack((np.full(n, 3, np.uint64), length, plen, prefix, full, full), 1)
    lk = build(data, np.arange(n))
    x = y & np.uint64(len(lk.filt) * 64 - 1)
    assert ((lk.filt[(x >> np.uint64(6)).astype(np.int64)] >> (x & np.uint64(63))) & np.uint64(1)).all()


def _repeated_reference(strings: list[str], text: list[int]) -> list[int]:
    return [
        t
        for t in range(1, len(strings))
        if text[t] == text[t - 1]
        and (
            strings[t] == strings[t - 1]
            or (t >= 2 and text[t - 2] == text[t] and strings[t] == strings[t - 2] + strings[t - 1])
        )
    ]


@settings(max_examples=100, deadline=None)
@given(texts=st.one_of(posts, ascii_posts))
def test_the_compiled_repeated_words_are_the_plain_loops(texts: list[str]) -> None:
    from copytrace.phrases._repeats import repeated_tokens

    toks = phrase_tokens_many([t + " " + t.split(" ")[-1] for t in texts], html=False)
    found = repeated_tokens(toks.chars, toks.vis_starts, toks.vis_ends, toks.text).tolist()
    assert found == _repeated_reference(toks.strings(), toks.text.tolist())


@settings(max_examples=100, deadline=None)
@given(
    texts=st.lists(
        st.text(alphabet=st.sampled_from("0123456789aZst $\né\u0663\U0001d41a\ud800"), max_size=30),
        max_size=6,
    )
)
def test_the_breaks_read_from_narrow_code_points_are_those_of_wide_ones(texts: list[str]) -> None:
    from copytrace.text.normalize import _table as fold_table

    cps = code_points("\n".join(texts))
    wide = _breaks_reference(cps, fold_table().classes)
    bounds = np.cumsum([0] + [len(t) + 1 for t in texts])
    text, at = breaks_many(texts)
    assert (bounds[text] + at).tolist() == wide.tolist()


@settings(max_examples=60, deadline=None)
@given(texts=st.one_of(posts, ascii_posts))
def test_the_windows_searched_together_find_what_each_second_search_finds(texts: list[str]) -> None:
    from copytrace.phrases._search import GUARD_WORDS

    toks = phrase_tokens_many(texts, html=False)
    repeats = TABLE._repeat_windows(texts, toks)
    numbers = TABLE._number_windows(texts, toks)
    least = np.array([GUARD_WORDS] * len(repeats) + [2] * len(numbers), dtype=np.int64)
    together = TABLE._search_windows(toks, repeats + numbers, False, MAX_SPANS, least)
    apart = np.concatenate(
        (
            TABLE._search_repeats(texts, toks, False, MAX_SPANS),
            TABLE._search_numbers(texts, toks, False, MAX_SPANS),
        )
    )
    assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, apart.tolist()))


def test_the_finds_counted_in_a_call_do_not_count_in_the_next() -> None:
    """The search counts the finds of each phrase per text in a scratch kept between calls, not zeroed:
    a phrase found ``MAX_SPANS`` times in the first text of one call is still found in the first text of
    the next call, and in a table searched after a bigger one."""
    table = _table()
    many = "death to the occupiers. " * (MAX_SPANS + 2)
    first = table.hits([many, "burn their homes"], html=False)
    assert len(first) == 2 and int(first.span_first[1]) == MAX_SPANS
    again = table.hits(["so: death to the occupiers", many], html=False)
    assert again.query.tolist() == [0, 1] and again.item.tolist() == [0, 0]
    assert np.diff(again.span_first).tolist() == [1, MAX_SPANS]
    big = PhraseTable()
    for i in range(3000):
        big.add(i, phrase_fingerprint(f"phrase number {i} of many"))
    assert big.hits(["phrase number 2999 of many"], html=False).item.tolist() == [2999]
    assert table.hits([many], html=False).item.tolist() == [0]
