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
    for parser in _subparsers(build_parser()):
        if parser._subparsers is None:  # a leaf command
            assert f"`{parser.prog}" in readme, parser.prog


def test_readme_documents_the_python_api() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("fingerprint", "Index", "Match", "Span", "Fingerprint", "Key", "MatchParams"):
        assert re.search(rf"\b{name}\b", readme), name
    for method in ("add", "remove", "match", "save", "load"):
        assert f".{method}(" in readme, method
