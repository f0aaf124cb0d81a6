"""The HTTP parser and event loop ``copytrace serve`` runs: httptools and uvloop (dependencies), and the
pure-Python fallbacks where they cannot be imported."""

from __future__ import annotations

import sys

import pytest

from copytrace.service.protocols import server_protocols


def test_the_server_runs_the_compiled_parser_and_loop() -> None:
    # both are dependencies; uvloop where it is built (not Windows)
    assert server_protocols() == ("httptools", "asyncio" if sys.platform == "win32" else "uvloop")


@pytest.mark.parametrize(
    ("hidden", "expected"),
    [("httptools", ("h11", "uvloop")), ("uvloop", ("httptools", "asyncio"))],
)
def test_without_one_the_server_runs_its_fallback(
    monkeypatch: pytest.MonkeyPatch, hidden: str, expected: tuple[str, str]
) -> None:
    monkeypatch.setitem(sys.modules, hidden, None)  # import raises ImportError, as where it is not installed
    assert server_protocols() == expected
