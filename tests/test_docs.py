"""The README and docs/ say what the code does: every command in the README's table and with an example,
every link and anchor resolving, every package of the tree named in the Concepts, every benchmark script
with its page, and the service's measured memory and start-up told alike everywhere."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from copytrace.cli.main import _subparsers, build_parser

from .conftest import ROOT

README = ROOT / "README.md"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
# pages whose links are checked: the README, the benchmarks page and the pages the README's depth moved to
LINKED_PAGES = [README, BENCHMARKS, ROOT / "docs" / "cli.md", ROOT / "docs" / "python.md"]


def _leaf_commands() -> set[str]:
    return {parser.prog for parser in _subparsers(build_parser()) if parser._subparsers is None}


def _without_code(markdown: str) -> str:
    """The text outside fenced code blocks (a link in an example is no link)."""
    return re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)


def _section(markdown: str, heading: str) -> str:
    start = markdown.index(f"\n## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end >= 0 else len(markdown)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.

    >>> slug("Phrase normalisation, version 1 (`PHRASE_NORMALISATION_VERSION = 1`)")
    'phrase-normalisation-version-1-phrase_normalisation_version--1'
    >>> slug("Growing, shrinking")
    'growing-shrinking'
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _without_code(page.read_text(encoding="utf-8")), flags=re.M):
        base = slug(heading)
        name, n = base, 0
        while name in found:  # a repeated heading gets -1, -2 ...
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def links(page: Path) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", _without_code(page.read_text(encoding="utf-8")))  # nor one in `code`
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text)


def test_the_command_table_lists_every_command_of_help() -> None:
    readme = README.read_text(encoding="utf-8")
    leaves = _leaf_commands()
    rows = readme.split("\n| command | what it does |\n", 1)[1].split("\n\n", 1)[0]
    table = re.findall(r"^\| `(copytrace(?: [a-z][a-z-]*)+)", rows, flags=re.M)
    assert sorted(table) == sorted(set(table)), "a command has two rows"
    assert set(table) == leaves, {"missing": leaves - set(table), "unknown": set(table) - leaves}


def test_the_readme_has_an_example_of_every_command() -> None:
    readme = README.read_text(encoding="utf-8")
    shell = "\n".join(re.findall(r"^```bash\n(.*?)^```", readme, flags=re.M | re.S))
    run = {line.strip().removeprefix("$ ") for line in shell.splitlines()}
    missing = {prog for prog in _leaf_commands() if not any(f"{ln} ".startswith(f"{prog} ") for ln in run)}
    assert not missing, f"no example in a bash block of the README: {sorted(missing)}"
    for line in sorted(ln for ln in run if ln.startswith("copytrace ")):  # each one as the parser reads it
        words = shlex.split(line, comments=True)
        words = words[: words.index(">")] if ">" in words else words
        try:
            build_parser().parse_args(words[1:])
        except SystemExit:
            pytest.fail(f"the README's example does not parse: {line}")


@pytest.mark.parametrize("page", LINKED_PAGES, ids=[p.name for p in LINKED_PAGES])
def test_every_link_and_anchor_resolves(page: Path) -> None:
    targets = links(page)
    assert targets, page
    broken = []
    for target in targets:
        if re.match(r"[a-z]+:", target):  # https:, mailto: ...: not checked (no network in the tests)
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no heading with anchor #{anchor} in {file.name}")
    assert not broken, broken


def test_the_link_checker_sees_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# Two words\n")
    page = tmp_path / "a.md"
    page.write_text("[ok](b.md#two-words) [bad](b.md#two) `[code](x.md)`\n```\n[in code](nope.md)\n```\n")
    assert links(page) == ["b.md#two-words", "b.md#two"]
    assert anchors(tmp_path / "b.md") == {"two-words"}


def test_the_concepts_name_every_package_of_the_tree() -> None:
    """Read from the tree at test time, so a package added or moved shows up here until the README has it."""
    package = ROOT / "src" / "copytrace"
    packages = {
        d.name
        for d in package.iterdir()
        if d.is_dir() and not d.name.startswith(("_", ".")) and d.name != "data" and any(d.glob("*.py"))
    }
    assert {"cli", "service", "store"} <= packages
    concepts = _section(README.read_text(encoding="utf-8"), "Concepts")
    missing = {name for name in packages if f"{name}/" not in concepts}
    assert not missing, f"the README's Concepts name no {sorted(missing)} (packages of src/copytrace)"


def test_every_benchmark_script_is_on_the_benchmarks_page() -> None:
    page = BENCHMARKS.read_text(encoding="utf-8")
    for section in ("scan", "cluster", "service", "index", "phrases"):
        assert f"\n## {section}\n" in page, section
    scripts = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if "__main__" in p.read_text())
    assert scripts
    missing = [name for name in scripts if f"benchmarks/{name}" not in page]
    assert not missing, f"docs/benchmarks.md names no command for {missing}"
    assert "benchmarks/bench_" not in README.read_text(encoding="utf-8"), "a measurement left in the README"


def _newest_measured(page: str, name: str) -> list[str]:
    """The values of row ``name`` in the first table that has it, from the columns not headed "before"."""
    tables = re.findall(r"((?:^\|.*\|\n)+)", page, flags=re.M)
    for table in tables:
        lines = table.splitlines()
        found = [line for line in lines if line.startswith(f"| {name} ")]
        if not found:
            continue
        header = [cell.strip() for cell in lines[0].strip("|").split("|")]
        cells = [cell.strip() for cell in found[0].strip("|").split("|")]
        return [
            cell.strip("*")
            for head, cell in zip(header[1:], cells[1:], strict=False)
            if "before" not in head and head != "goal" and cell.strip("*").endswith(" s")
        ]
    return []


def test_serve_help_and_the_service_docs_say_what_the_benchmark_measured() -> None:
    """Memory and start-up of a multi-worker service, from the one measurement in docs/benchmarks.md."""
    page = BENCHMARKS.read_text(encoding="utf-8")
    row = re.search(r"^\| memory of both workers after start .*\| ([\d.]+×) \|$", page, flags=re.M)
    assert row
    assert f"the two workers map one snapshot: {row.group(1)} one worker" in page
    # The help quotes the newest start-up measurement: a value from the first table (newest first) that
    # has the row, in a column that measured the code as it is ("after", or the only one).
    newest = {
        name: _newest_measured(page, name)
        for name in ("start-up, index built from the store", "start-up, index mapped from its snapshot")
    }
    assert all(newest.values()), newest
    (serve,) = [p for p in _subparsers(build_parser()) if p.prog == "copytrace serve"]
    docs = {"serve --help": serve.format_help(), "docs/service.md": (ROOT / "docs/service.md").read_text()}
    for where, text in docs.items():
        flat = " ".join(text.split())
        assert row.group(1) in flat, (where, row.group(1))
        for name, values in newest.items():
            assert any(value in flat for value in values), (where, name, values)
        assert "one shared snapshot" in flat, where
        assert "own index" not in flat and "memory × N" not in flat, where
        assert "benchmarks.md" in flat, f"{where} does not say where the measurement is"


def test_the_readme_shows_the_python_api() -> None:
    readme = README.read_text(encoding="utf-8")
    for name in ("fingerprint", "Index", "Match", "Span", "Fingerprint", "Key", "MatchParams"):
        assert re.search(rf"\b{name}\b", readme), name
    for method in ("add", "remove", "match", "save", "load"):
        assert f".{method}(" in readme, method
