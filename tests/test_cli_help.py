"""Every command documents itself, as sqlite-utils' do: a description, examples of its own that parse with the
options it really has, only the options it uses, and ``copytrace --help`` lists every command on one line."""

from __future__ import annotations

import argparse
import shlex

import pytest

from copytrace.cli.main import _subparsers, build_parser, parse_args

PARSERS = [build_parser(), *_subparsers(build_parser())]
PIPES = {">", ">>", "<", "|", "&&", "&"}


def _examples(text: str) -> list[list[str]]:
    """The ``copytrace ...`` command lines of a help text, as arguments: shell comments, redirections and
    what a pipe leads to left out; a command that a pipe feeds is kept."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if "| copytrace " in line:
            line = line.split("| ", 1)[1]
        if not line.startswith("copytrace "):
            continue
        words = shlex.split(line, comments=True)
        cut = next((i for i, w in enumerate(words) if w in PIPES), len(words))
        out.append(words[1:cut])
    return out


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.prog)
def test_every_command_has_a_description_examples_and_a_version(parser: argparse.ArgumentParser) -> None:
    assert parser.description and parser.description.strip()
    text = parser.format_help()
    assert "example" in text
    assert any("--version" in a.option_strings for a in parser._actions)
    own = [e for e in _examples(text) if " ".join(["copytrace", *e]).startswith(parser.prog)]
    assert own, f"{parser.prog} --help has no example of {parser.prog}"


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.prog)
def test_every_example_parses(parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]) -> None:
    for example in _examples(parser.format_help()):
        try:
            args = parse_args(build_parser(), example)
        except SystemExit:
            pytest.fail(f"{parser.prog} --help: 'copytrace {shlex.join(example)}': {capsys.readouterr().err}")
        assert callable(args.run)


def _commands(parser: argparse.ArgumentParser) -> dict[str, str]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {a.dest: str(a.help) for a in action._get_subactions()}


@pytest.mark.parametrize("columns", ["60", "80", "200"], ids=["narrow", "classic", "wide"])
@pytest.mark.parametrize(
    "parser", [p for p in PARSERS if p.prog.count(" ") < 2 and p._subparsers], ids=lambda p: p.prog
)
def test_help_lists_every_command_on_one_line(
    parser: argparse.ArgumentParser, columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    lines = parser.format_help().splitlines()
    commands = _commands(parser)
    assert commands and all(commands.values())
    for name, summary in commands.items():
        (line,) = [x for x in lines if x.startswith(f"    {name} ")]
        assert line.split(None, 1) == [name, summary]


def test_the_top_level_help_names_every_command() -> None:
    assert set(_commands(build_parser())) == {
        "bank",
        "match",
        "scan",
        "cluster",
        "fingerprint",
        "serve",
        "keys",
        "key",
        "store",
        "eval",
    }


@pytest.mark.parametrize(
    "prog",
    [
        "copytrace bank list",
        "copytrace bank remove",
        "copytrace bank delete",
        "copytrace bank export",
        "copytrace bank import",
        "copytrace keys list",
        "copytrace store vacuum",
    ],
)
def test_only_commands_that_read_text_offer_max_size(prog: str) -> None:
    (parser,) = [p for p in PARSERS if p.prog == prog]
    assert "--max-size" not in parser.format_help()


def test_export_needs_no_key_and_add_says_jsonl_replaces_paths() -> None:
    (export,) = [p for p in PARSERS if p.prog == "copytrace bank export"]
    assert "--key-file" not in export.format_help()
    (add,) = [p for p in PARSERS if p.prog == "copytrace bank add"]
    assert "BANK (PATH [PATH ...] | --jsonl FILE)" in add.format_usage()
