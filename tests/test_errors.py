"""The error tree's one table of remedies, said for the command line (commands, options) and for the HTTP API
(routes, fields, query parameters), never the one in the other's terms."""

from __future__ import annotations

import re

import pytest

import copytrace
from copytrace.errors import ADVICE, BankExistsError, CopytraceError, DuplicateItemError, UnknownBankError

CLI_TERMS = re.compile(r"(?<![\w-])--[a-z]|\bcopytrace [a-z]|\$COPYTRACE_")
HTTP_TERMS = re.compile(r"\b(GET|POST|PUT|DELETE) /|/v1/|\?[a-z_]+=")


@pytest.mark.parametrize("key", sorted(ADVICE), ids=str)
def test_each_remedy_is_said_in_the_terms_of_each_surface(key: str) -> None:
    cli, http = ADVICE[key]["cli"], ADVICE[key]["http"]
    assert CLI_TERMS.search(cli) and not HTTP_TERMS.search(cli), cli
    assert HTTP_TERMS.search(http) and not CLI_TERMS.search(http), http


@pytest.mark.parametrize(
    ("error", "cli", "http"),
    [
        (UnknownBankError("news"), "'copytrace bank list'", "GET /v1/banks"),
        (DuplicateItemError("news", "000"), "--replace", "?replace=true"),
        (BankExistsError("news"), "'copytrace bank add'", "POST /v1/banks/{bank}/items"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, CopytraceError) else "",
)
def test_an_error_renders_its_remedy_for_each_surface(error: CopytraceError, cli: str, http: str) -> None:
    assert error.advice in ADVICE
    assert str(error) == error.message("cli") and cli in str(error) and http not in str(error)
    assert http in error.message("http") and cli not in error.message("http")
    what = str(error).split(": ")[0]
    assert error.message("http").startswith(f"{what}: ")  # the same fault, only the remedy differs
    assert "news" in what


def test_an_error_without_advice_reads_the_same_everywhere() -> None:
    error = copytrace.UnknownItemError("news", "000")
    assert error.advice is None and str(error) == error.message("http") == "no item '000' in bank 'news'"


def test_the_advice_of_every_error_class_is_in_the_table() -> None:
    def tree(cls: type[CopytraceError]) -> list[type[CopytraceError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in tree(sub))]

    assert {c.advice for c in tree(CopytraceError)} - {None} == set(ADVICE)
