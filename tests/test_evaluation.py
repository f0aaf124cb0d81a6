"""The evaluation: every perturbation is deterministic and does what it says; ground truth and scoring, on
the sparse bank and on the dense bank (many versions of a sample of the banked documents)."""

from __future__ import annotations

import difflib
import json
import random
import re
from pathlib import Path

import pytest

from copytrace import normalize
from copytrace.evaluation import perturb
from copytrace.evaluation.methods import MD5, Copytrace, CopytraceText, Method, RawText
from copytrace.evaluation.report import dense_gaps, losses, run, score, table
from copytrace.evaluation.suite import Bank, Query, Suite, build_suite, load_corpus
from copytrace.evaluation.versions import versions
from copytrace.text.html import strip_html

from .conftest import DATA

ZW = "\u200b\u200c\u200d\u00ad"


@pytest.fixture(scope="module")
def doc(state_union: dict[str, str]) -> str:
    return state_union["1961-Kennedy"]


@pytest.fixture(scope="module")
def ctx(inaugural: dict[str, str]) -> perturb.Context:
    texts = list(inaugural.values())[:20]
    passages = tuple(" ".join(t.split()[:150]) for t in texts)
    return perturb.Context(passages, tuple(sorted({w for t in texts for w in t.split() if w.isalpha()})))


@pytest.mark.parametrize("name", list(perturb.SUITE))
def test_every_perturbation_is_deterministic_for_a_seed(name: str, doc: str, ctx: perturb.Context) -> None:
    make = perturb.SUITE[name]
    a = make(random.Random(7), doc, ctx)
    assert a == make(random.Random(7), doc, ctx)
    if name != "exact":
        assert any(make(random.Random(s), doc, ctx) != a for s in range(8, 12))


def _words(text: str) -> list[str]:
    return text.split()


def test_exact_reflowed_boilerplate(doc: str, ctx: perturb.Context) -> None:
    rng = random.Random(1)
    assert perturb.exact(rng, doc, ctx) == doc
    flat = perturb.reflowed(rng, doc, ctx)
    assert "\n" not in flat and _words(flat) == _words(doc) and "  " in flat
    wrapped = perturb.boilerplate(rng, doc, ctx)
    assert doc in wrapped and wrapped.split("\n")[0] in perturb.HEADERS
    assert wrapped.split("\n")[-1] in perturb.FOOTERS


@pytest.mark.parametrize("n", [10, 12, 15, 20, 30, 50, 100])
def test_excerpt_places_n_consecutive_words_inside_unrelated_text(
    n: int, doc: str, ctx: perturb.Context
) -> None:
    query = perturb.SUITE[f"excerpt-{n}"](random.Random(n), doc, ctx)
    words, source = _words(query), _words(doc)
    runs = [i for i in range(len(words) - n + 1) if " ".join(words[i : i + n]) in " ".join(source)]
    assert runs, "the excerpt is in the query"
    assert len(words) - n in {len(p.split()) for p in ctx.passages}  # all of one host passage besides
    assert runs[0] > 0 and runs[0] + n < len(words)  # with host text either side


@pytest.mark.parametrize("rate", [2, 5, 10])
def test_word_edits_change_about_that_share_of_words(rate: int, doc: str, ctx: perturb.Context) -> None:
    query = perturb.SUITE[f"words-{rate}%"](random.Random(3), doc, ctx)
    matcher = difflib.SequenceMatcher(None, _words(doc), _words(query), autojunk=False)
    changed = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal")
    assert abs(changed / len(_words(doc)) - rate / 100) < 0.4 * rate / 100 + 0.004


@pytest.mark.parametrize("rate", [1, 3])
def test_typos_change_about_that_share_of_letters(rate: int, doc: str, ctx: perturb.Context) -> None:
    doc = doc[:3000]  # character-level diffing is quadratic
    query = perturb.SUITE[f"typos-{rate}%"](random.Random(3), doc, ctx)
    letters = sum(c.isalpha() for c in doc)
    matcher = difflib.SequenceMatcher(None, doc, query, autojunk=False)
    changed = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal")
    assert 0.5 * rate / 100 < changed / letters < 1.6 * rate / 100


def test_obfuscations_keep_the_text_and_hide_it(doc: str, ctx: perturb.Context) -> None:
    rng = random.Random(5)
    look = perturb.lookalikes(rng, doc, ctx)
    assert look != doc and re.search("[а-яΑ-ω]", look) and normalize(look) == normalize(doc)
    zero = perturb.zero_width(rng, doc, ctx)
    assert any(c in zero for c in ZW) and zero.translate({ord(c): None for c in ZW}) == doc
    page = perturb.html(rng, doc, ctx)
    assert page.startswith("<!DOCTYPE html>") and "<p>" in page
    assert normalize(strip_html(page)[0]) == "post " + normalize(doc)  # the <title> is text too
    cased = perturb.case_punct(rng, doc, ctx)
    assert cased != doc
    same = difflib.SequenceMatcher(None, normalize(cased).split(), normalize(doc).split(), autojunk=False)
    assert same.ratio() > 0.99  # only a dropped comma inside a number ("89,000") may join two tokens


def test_reordered_shuffles_whole_paragraphs(doc: str, ctx: perturb.Context) -> None:
    query = perturb.reordered(random.Random(2), doc, ctx)
    paragraphs = [p for p in doc.split("\n") if p.strip()]
    assert query.split("\n") != paragraphs and sorted(query.split("\n")) == sorted(paragraphs)


def _corpus() -> dict[str, str]:
    return load_corpus([DATA / "corpora" / "state_union", DATA / "corpora" / "inaugural"])


def test_suite_is_deterministic_and_sets_aside_truly_shared_negatives() -> None:
    docs = {k: v for k, v in sorted(_corpus().items())[:40]}
    docs["copier"] = "unrelated words " * 80 + " ".join(docs[sorted(docs)[0]].split()[200:215]) + " end" * 10
    a = build_suite(docs, seed=3, per_row=2, bank_size=20)
    b = build_suite(docs, seed=3, per_row=2, bank_size=20)
    assert [q.text for q in a.queries] == [q.text for q in b.queries] and a.items == b.items
    assert all(q.truth in a.items for q in a.queries if q.truth)
    assert sum(1 for q in a.queries if q.row == "exact") == 2
    assert any(text.endswith(perturb.FOOTERS) for text in a.items.values())
    if sorted(docs)[0] in a.items and "copier" not in a.items:
        assert any(neg.startswith("copier@") for neg, _ in a.set_aside)
    negatives = [q for q in a.queries if q.truth is None and q.row == "negative"]
    assert negatives and all(q.id.split("/", 1)[1] not in {n for n, _ in a.set_aside} for q in negatives)


def test_excerpts_quote_the_document_never_the_footer_banked_after_it() -> None:
    docs = {k: v for k, v in sorted(_corpus().items())[:40]}
    suite = build_suite(docs, seed=5, per_row=60, bank_size=20)
    footed = {name for name, text in suite.items.items() if text.endswith(perturb.FOOTERS)}
    excerpts = [q for q in suite.queries if q.row.startswith("excerpt-") and q.truth in footed]
    assert excerpts  # some excerpts are of documents banked with a footer
    footer_words = {w for f in perturb.FOOTERS for w in f.split()} - {
        w for d in docs.values() for w in d.split()
    }
    for q in excerpts:
        assert not footer_words & set(q.text.split()), q.id


def test_a_document_a_corpus_holds_twice_is_read_once(tmp_path: Path) -> None:
    docs = {k: v for k, v in sorted(_corpus().items())[:25]}
    first = sorted(docs)[0]
    lines = [json.dumps({"id": name, "text": text}) for name, text in docs.items()]
    lines.append(json.dumps({"id": "again", "text": "  " + docs[first].upper().replace(" ", "\n")}))
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_corpus([tmp_path / "c.jsonl"])
    assert sorted(loaded) == sorted(docs)  # the repeat (other case and spacing) is left out


class _Fixed(Method):
    name = "fixed"
    description = "answers from a table"

    def __init__(self, answers: dict[str, set[str]]) -> None:
        self.answers = answers

    def build(self, items: dict[str, str]) -> None:  # type: ignore[override]
        pass

    def query(self, text: str) -> set[str]:
        return self.answers.get(text, set())


def test_copytrace_with_texts_kept_finds_a_quote_the_fingerprints_alone_do_not(doc: str) -> None:
    words = doc.split()
    quote = " ".join(words[600:610])  # "This nation was born of revolution and raised in freedom."
    post = "A post said that " + quote + " and nothing more about it."
    for method, found in ((Copytrace(), set()), (CopytraceText(), {"speech"})):
        method.build({"speech": doc})
        assert method.query(post) == found, method.name
        assert method.query(doc) == {"speech"}


def test_copytrace_with_texts_kept_is_not_a_peer_of_copytrace() -> None:
    suite = Suite(items={"a": "A"}, queries=[Query("excerpt-10/0", "excerpt-10", "qa", "a")])
    ours, other = _Fixed({}), _Fixed({"qa": {"a"}})
    ours.name, other.name = "copytrace", "copytrace_text"
    scores = score(suite, run(suite, [ours, other]))
    assert scores["rows"]["excerpt-10"]["copytrace_text"]["rate"] == 1.0
    assert losses(scores) == []
    other.name = "peer"
    assert losses(score(suite, run(suite, [ours, other]))) != []


def test_scoring_recall_false_positives_and_losses() -> None:
    suite = Suite(
        items={"a": "A", "b": "B"},
        queries=[
            Query("exact/0", "exact", "qa", "a"),
            Query("exact/1", "exact", "qb", "b"),
            Query("negative/0", "negative", "n0", None),
            Query("negative/1", "negative", "n1", None),
        ],
    )
    ours = _Fixed({"qa": {"a"}, "qb": {"a"}, "n0": {"b"}})
    ours.name = "copytrace"
    peer = _Fixed({"qa": {"a"}, "qb": {"b", "a"}})
    scores = score(suite, run(suite, [ours, peer]))
    assert scores["rows"]["exact"]["copytrace"] == {"rate": 0.5, "n": 2, "of": 2}
    assert scores["rows"]["exact"]["fixed"]["rate"] == 1.0
    assert scores["methods"]["copytrace"]["false_positive_rate"] == 0.5
    assert scores["methods"]["fixed"]["false_positive_rate"] == 0.0
    lost = losses(scores)
    assert any(x.startswith("exact: fixed recall 1.000") for x in lost)
    assert any(x.startswith("negative: fixed") for x in lost)


def test_slow_methods_run_round_robin_on_a_budget() -> None:
    suite = Suite(
        items={"a": "A"}, queries=[Query(f"{r}/{i}", r, "x", "a") for r in ("r1", "r2") for i in range(3)]
    )
    slow = _Fixed({})
    slow.slow = True
    (res,) = run(suite, [slow], slow_budget_s=0.0)
    assert list(res.answered) == ["r1/0"]
    (res,) = run(suite, [slow], slow_budget_s=60.0)
    assert list(res.answered)[:2] == ["r1/0", "r2/0"] and len(res.answered) == 6


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = sorted(_corpus().items())[:30]
    corpus = tmp_path_factory.mktemp("eval") / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs))
    return corpus


def test_eval_command_writes_report_plots_and_results(tmp_path: Path, cli, small_corpus: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report"
    code, stdout, err = cli(
        "eval", small_corpus, "--out", out, "--per-row", "2", "--methods", "copytrace,md5"
    )
    assert code == 0, err
    assert stdout.startswith("| query | copytrace sparse | copytrace dense | md5 sparse | md5 dense |")
    assert "| exact | 1.000 |" in stdout
    assert "dense bank: 7 of them as 15 versions each, 113 items" in err
    report = (out / "report.md").read_text()
    assert "## Where copytrace loses" in report and "recall_by_excerpt_length.png" in report
    assert "## Dense bank against sparse bank" in report and "any version of its source" in report
    assert (out / "recall_by_excerpt_length.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "recall_by_edit_rate.png").stat().st_size > 1000
    results = json.loads((out / "results.json").read_text())
    assert results["rows"]["exact"]["copytrace"]["rate"] == 1.0
    assert set(results["dense"]["rows"]["exact"]) == {"copytrace", "md5"}
    assert results["dense"]["items"] == 113 and results["dense"]["versions"] == 15
    assert results["dense"]["methods"]["copytrace"]["false_positive_rate"] is not None
    assert isinstance(results["dense_gaps"], list)


@pytest.mark.parametrize(
    "flags", [["--dense-versions", "0"], ["--dense-sample", "0"]], ids=["no-versions", "no-sample"]
)
def test_eval_command_without_a_dense_bank(tmp_path: Path, cli, small_corpus: Path, flags: list[str]) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report"
    code, stdout, err = cli("eval", small_corpus, "--out", out, "--per-row", "1", "--methods", "md5", *flags)
    assert code == 0, err
    assert stdout.startswith("| query | md5 |\n") and "| exact | 1.000 |" in stdout
    assert "dense" not in json.loads((out / "results.json").read_text())
    assert "Dense bank" not in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--methods", "copytrace,nope"], "unknown method"),
        (["--per-row", "0"], "--per-row 0: must be 1 or more"),
        (["--dense-versions", "-1"], "--dense-versions -1: must be 0 or more"),
        (["--dense-sample", "-2"], "--dense-sample -2: must be 0 or more"),
        (["--dense-sample", "16"], "dense sample of 16: choose 1 to 15"),
        (["--slow-budget", "-1"], "--slow-budget -1: must be 0 or more"),
    ],
    ids=["unknown-method", "per-row", "versions", "sample", "sample-over-bank", "budget"],
)
def test_eval_command_refuses_bad_options(cli, small_corpus: Path, flags: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("eval", small_corpus, "--per-row", "1", "--methods", "md5", *flags)
    assert code == 2 and message in err and err.count("\n") == 1


def test_eval_command_shows_a_progress_bar_on_a_terminal(  # type: ignore[no-untyped-def]
    tmp_path: Path, cli, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich then treats stderr as a terminal
    args = (
        "eval",
        small_corpus,
        "--out",
        tmp_path,
        "--per-row",
        "1",
        "--methods",
        "md5",
        "--dense-sample",
        "2",
    )
    code, _, err = cli(*args)
    assert code == 0, err
    assert "md5 · sparse bank" in err and "md5 · dense bank" in err and "━" in err
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    code, _, err = cli(*args)
    assert code == 0 and "sparse bank" not in err and "━" not in err


def test_versions_have_their_own_lines_and_half_are_edited(doc: str, ctx: perturb.Context) -> None:
    doc = doc[: doc.index("\n", 4000)]  # some paragraphs; diffing is quadratic
    made = versions(random.Random(4), doc, 15, ctx.vocabulary)
    assert made == versions(random.Random(4), doc, 15, ctx.vocabulary)
    firsts = [v.split("\n")[0] for v in made]
    lasts = [v.split("\n")[-1] for v in made]
    assert all(f.startswith(f"Version {i} repost from channel @") for i, f in enumerate(firsts, start=1))
    assert len(set(firsts)) == 15 and len(set(lasts)) == 15
    bodies = ["\n".join(v.split("\n")[2:-2]) for v in made]
    assert sum(b == doc for b in bodies) == 8  # 7 of 15 edited
    for body in bodies:
        same = difflib.SequenceMatcher(None, _words(doc), _words(body), autojunk=False).ratio()
        assert same > 0.97
        assert body.count("\n") == doc.count("\n")  # edits keep the paragraphs


def test_dense_bank_holds_versions_of_a_sample_and_the_same_queries() -> None:
    docs = dict(sorted(_corpus().items())[:40])
    sparse = build_suite(docs, seed=3, per_row=2, bank_size=20)
    dense = build_suite(docs, seed=3, per_row=2, bank_size=20, dense_versions=4, dense_sample=5)
    assert dense.items == sparse.items and sparse.dense is None and dense.dense is not None
    bank = dense.dense
    assert len(bank.sampled) == 5 and set(bank.sampled) <= set(dense.items) and bank.versions == 4
    assert len(bank.items) == 20 - 5 + 5 * 4 and set(bank.items) == set(bank.source)
    for item_id, text in bank.items.items():
        source = bank.source[item_id]
        if source in bank.sampled:
            assert item_id.startswith(source + "#v") and text.startswith("Version ")
        else:
            assert item_id == source and text == dense.items[source]
    assert bank.truth({f"{bank.sampled[0]}#v3", "x"}) == {bank.sampled[0], "x"}
    extra = [q for q in dense.queries if q.id not in {p.id for p in sparse.queries}]
    assert [q.row for q in extra] == ["boilerplate-alone"] * 2  # a version's own lines, alone
    assert extra[0].text.startswith("Version 1 repost from channel @")
    assert [q.text for q in dense.queries if q not in extra] == [q.text for q in sparse.queries]
    assert build_suite(docs, seed=3, per_row=2, bank_size=20, dense_versions=4).dense.sampled.__len__() == 10  # type: ignore[union-attr]


def test_dense_scoring_counts_any_version_of_the_source() -> None:
    items = {"a": "A", "b": "B"}
    dense = Bank(
        "dense", {"a#v1": "A1", "a#v2": "A2", "b": "B"}, {"a#v1": "a", "a#v2": "a", "b": "b"}, 2, ("a",)
    )
    suite = Suite(
        items=items,
        queries=[
            Query("exact/0", "exact", "qa", "a"),
            Query("exact/1", "exact", "qb", "b"),
            Query("negative/0", "negative", "n0", None),
        ],
        dense=dense,
    )
    sparse_answers = _Fixed({"qa": {"a"}, "qb": {"b"}})
    sparse_answers.name = "copytrace"
    dense_answers = _Fixed({"qa": {"a#v2"}, "qb": {"a#v1"}, "n0": {"b"}})
    dense_answers.name = "copytrace"
    results = run(suite, [sparse_answers]) + run(suite, [dense_answers], bank=dense)
    assert [r.bank for r in results] == ["sparse", "dense"]
    scores = score(suite, results)
    assert scores["rows"]["exact"]["copytrace"]["rate"] == 1.0
    cell = scores["dense"]["rows"]["exact"]["copytrace"]
    assert cell["rate"] == 0.5 and cell["versioned"] == {"rate": 1.0, "n": 1}
    assert scores["methods"]["copytrace"]["false_positive_rate"] == 0.0
    assert scores["dense"]["methods"]["copytrace"]["false_positive_rate"] == 1.0
    assert table(scores, ["copytrace"]).splitlines()[2] == "| exact | 1.000 | 0.500 |"
    gaps = dense_gaps(scores)
    assert [g.split(":")[0] for g in gaps] == ["exact", "negative"]


def test_dense_bank_recall_is_within_002_of_sparse_bank() -> None:
    """Banking every version of a text does not blind the index (evidence counts copy families).

    This bank is tiny (15 documents), so a footer on four of them is not yet boilerplate on either bank;
    the false-positive rate must simply not grow with the versions (the full evaluation measures 0)."""
    docs = dict(sorted(_corpus().items())[:30])
    suite = build_suite(docs, seed=1, per_row=4, bank_size=15, dense_versions=15, dense_sample=15)
    results = []
    for bank in suite.banks:
        results += run(suite, [Copytrace()], bank=bank)
    scores = score(suite, results)
    dense_fp = scores["dense"]["methods"]["copytrace"]["false_positive_rate"]
    assert dense_fp <= scores["methods"]["copytrace"]["false_positive_rate"]
    assert dense_gaps(scores) == []


def test_methods_agree_on_exact_copies(state_union: dict[str, str]) -> None:
    items = dict(sorted(state_union.items())[:5])
    for method in (Copytrace(), MD5()):
        method.build(items)
        for name, text in items.items():
            assert name in method.query(text)


@pytest.mark.parametrize(
    ("make", "similar"),
    [(perturb.exact, True), (perturb.zero_width, True), (perturb.html, True), (perturb.excerpt(50), False)],
    ids=["exact", "zero-width", "html", "excerpt"],
)
def test_raw_text_cost_counts_the_lengths_it_compares(
    make: perturb.Generator, similar: bool, doc: str, ctx: perturb.Context
) -> None:
    """raw_text compares normalised lengths: a copy whose raw length grew (zero-width characters, markup)
    still costs a full Levenshtein distance, which must not be ranked as free (it fills a matrix of
    length-product cells, gigabytes for a whole address)."""
    method = RawText()
    method.build({"a": doc})
    cost = method.cost(make(random.Random(1), doc, ctx))
    assert (cost > 1e6) if similar else cost == 0
