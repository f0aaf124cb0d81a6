"""The news corpus builder (``copytrace.evaluation.news``): the Lee corpus's articles read from a gensim
wheel, a gensim package folder or a folder of the two files, written as the JSON Lines the evaluation
reads."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from copytrace.errors import InputError
from copytrace.evaluation import news
from copytrace.evaluation.suite import load_corpus

# Two files as gensim ships them: one article a line, the second Latin-1 in places.
BACKGROUND = "".join(f"Article {n} of the background: " + "word " * (100 + 40 * n) + "\n" for n in range(25))
LEE = "Caf\xe9 owners in Sydney said on Tuesday that trade had fallen.\n\nA second article.\n"


def _files() -> dict[str, bytes]:
    return {"lee_background.cor": BACKGROUND.encode("ascii"), "lee.cor": LEE.encode("latin-1")}


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    path = tmp_path / "gensim-4.4.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("gensim/__init__.py", "")
        for name, raw in _files().items():
            z.writestr(f"gensim/test/test_data/{name}", raw)
    return path


def test_articles_are_read_from_a_wheel_one_a_line_latin1_where_not_utf8(wheel: Path) -> None:
    docs = news.articles(news.read_files(wheel))
    assert len(docs) == 27 and list(docs)[:2] == ["lee_background/000", "lee_background/001"]
    assert docs["lee_background/003"].startswith("Article 3 of the background: word")
    assert docs["lee/000"] == "Café owners in Sydney said on Tuesday that trade had fallen."
    assert docs["lee/001"] == "A second article."  # empty lines are no article


@pytest.mark.parametrize("layout", ["package", "files"])
def test_articles_are_read_from_a_folder(tmp_path: Path, wheel: Path, layout: str) -> None:
    folder = tmp_path / "gensim" / "test" / "test_data" if layout == "package" else tmp_path / "lee"
    folder.mkdir(parents=True)
    for name, raw in _files().items():
        (folder / name).write_bytes(raw)
    source = tmp_path / "gensim" if layout == "package" else folder
    assert news.articles(news.read_files(source)) == news.articles(news.read_files(wheel))


def test_a_source_without_the_corpus_is_refused_naming_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "lee.cor").write_bytes(LEE.encode("latin-1"))
    with pytest.raises(InputError, match=r"holds no lee_background\.cor: give a gensim wheel"):
        news.read_files(tmp_path)
    not_zip = tmp_path / "x.whl"
    not_zip.write_text("text", encoding="utf-8")
    with pytest.raises(InputError, match="not a wheel"):
        news.read_files(not_zip)
    with pytest.raises(InputError, match="no such file"):
        news.read_files(tmp_path / "absent")


def test_the_command_writes_json_lines_the_evaluation_reads(
    wheel: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "news.jsonl"
    assert news.main([str(out), str(wheel), "--min-words", "150"]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(len(r["text"].split()) >= 150 for r in records) and len(records) == 23
    assert capsys.readouterr().out.startswith(f"{out}: 23 of 27 articles, ")
    assert set(load_corpus([out])) == {r["id"] for r in records}
    short = tmp_path / "short.jsonl"
    assert news.main([str(short), str(wheel), "--max-words", "149"]) == 0
    assert len(short.read_text(encoding="utf-8").splitlines()) == 27 - 23


def test_the_command_reports_a_bad_source_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert news.main([str(tmp_path / "out.jsonl"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and not (tmp_path / "out.jsonl").exists()
