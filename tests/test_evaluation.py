"""The evaluation: every perturbation is deterministic and does what it says; ground truth and scoring."""

from __future__ import annotations

import difflib
import json
import random
import re
from pathlib import Path

import pytest

from copytrace import normalize
from copytrace.evaluation import perturb
from copytrace.evaluation.methods import MD5, Copytrace, Method
from copytrace.evaluation.report import losses, run, score
from copytrace.evaluation.suite import Query, Suite, build_suite, load_corpus
from copytrace.html import strip_html

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


@pytest.mark.parametrize("n", [10, 15, 20, 30, 50, 100])
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


class _Fixed(Method):
    name = "fixed"
    description = "answers from a table"

    def __init__(self, answers: dict[str, set[str]]) -> None:
        self.answers = answers

    def build(self, items: dict[str, str]) -> None:  # type: ignore[override]
        pass

    def query(self, text: str) -> set[str]:
        return self.answers.get(text, set())


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


def test_eval_command_writes_report_plots_and_results(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    docs = sorted(_corpus().items())[:30]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs))
    out = tmp_path / "report"
    code, stdout, err = cli("eval", corpus, "--out", out, "--per-row", "2", "--methods", "copytrace,md5")
    assert code == 0, err
    assert stdout.startswith("| query | copytrace | md5 |") and "| exact | 1.000 | 1.000 |" in stdout
    report = (out / "report.md").read_text()
    assert "## Where copytrace loses" in report and "recall_by_excerpt_length.png" in report
    assert (out / "recall_by_excerpt_length.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "recall_by_edit_rate.png").stat().st_size > 1000
    assert json.loads((out / "results.json").read_text())["rows"]["exact"]["copytrace"]["rate"] == 1.0
    code, _, err = cli("eval", corpus, "--methods", "copytrace,nope")
    assert code == 2 and "unknown method" in err


def test_methods_agree_on_exact_copies(state_union: dict[str, str]) -> None:
    items = dict(sorted(state_union.items())[:5])
    for method in (Copytrace(), MD5()):
        method.build(items)
        for name, text in items.items():
            assert name in method.query(text)
