"""The public surface: ``__all__`` is complete, and the README documents every command and public name."""

from __future__ import annotations

import inspect
import re

import copytrace
from copytrace.cli.main import _subparsers, build_parser

from .conftest import ROOT


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name in dir(copytrace)
        if not name.startswith("_")
        and not inspect.ismodule(getattr(copytrace, name))
        and name != "annotations"
    }
    assert public | {"__version__"} == set(copytrace.__all__)


def test_readme_documents_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    leaves = {parser.prog for parser in _subparsers(build_parser()) if parser._subparsers is None}
    for prog in leaves:
        assert f"`{prog}" in readme, prog
    # the command table has one row per command of 'copytrace --help' (and its groups), and no other
    rows = readme.split("\n| command | what it does |\n", 1)[1].split("\n\n", 1)[0]
    table = re.findall(r"^\| `(copytrace(?: [a-z][a-z-]*)+)", rows, flags=re.M)
    assert sorted(table) == sorted(set(table)), "a command has two rows"
    assert set(table) == leaves, {
        "missing from the table": leaves - set(table),
        "unknown": set(table) - leaves,
    }


def test_serve_help_and_the_service_docs_say_what_the_readme_measured() -> None:
    """Memory and start-up of a multi-worker service, from the one measurement in the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = re.search(r"^\| memory of both workers after start .*\| ([\d.]+×) \|$", readme, flags=re.M)
    built = re.search(r"^\| start-up, index built from the store .*?\| ([\d.]+ s) \|", readme, flags=re.M)
    mapped = re.search(r"^\| start-up, index mapped from its snapshot \| ([\d.]+ s) \|", readme, flags=re.M)
    assert row and built and mapped
    assert f"the two workers map one snapshot: {row.group(1)} one worker" in readme
    (serve,) = [p for p in _subparsers(build_parser()) if p.prog == "copytrace serve"]
    docs = {"serve --help": serve.format_help(), "docs/service.md": (ROOT / "docs/service.md").read_text()}
    for where, text in docs.items():
        flat = " ".join(text.split())
        for number in (row.group(1), built.group(1), mapped.group(1)):
            assert number in flat, (where, number)
        assert "one shared snapshot" in flat, where
        assert "own index" not in flat and "memory × N" not in flat, where


def test_readme_documents_the_python_api() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("fingerprint", "Index", "Match", "Span", "Fingerprint", "Key", "MatchParams"):
        assert re.search(rf"\b{name}\b", readme), name
    for method in ("add", "remove", "match", "save", "load"):
        assert f".{method}(" in readme, method
