"""What every command shares: exit codes, messages on stderr, the store, the key, inputs and progress."""

from __future__ import annotations

import argparse
import enum
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import InputError
from ..keys import Key
from ..store import Store
from ..textio import DEFAULT_MAX_BYTES, DecodedText, read_stdin, read_text_file

T = TypeVar("T")


class Exit(enum.IntEnum):
    """Exit status, as grep's: 0 found (or success), 1 nothing found, 2 error."""

    OK = 0
    NOT_FOUND = 1
    ERROR = 2


def note(message: str) -> None:
    """One line on stderr for something the user should know that is not an error."""
    print(f"copytrace: note: {message}", file=sys.stderr)


def error(message: str) -> None:
    """One line on stderr for an error."""
    print(f"copytrace: error: {message}", file=sys.stderr)


def add_common_options(parser: argparse.ArgumentParser, *, store: bool = True, key: bool = True) -> None:
    if store:
        parser.add_argument(
            "--db",
            metavar="URL",
            help="store: SQLAlchemy URL or SQLite path (default: $COPYTRACE_DB, "
            "else ~/.local/share/copytrace/copytrace.db)",
        )
    if key:
        parser.add_argument(
            "--key-file",
            metavar="PATH",
            help="secret key for keyed fingerprints (default: $COPYTRACE_KEY_FILE)",
        )
    parser.add_argument(
        "--max-size",
        metavar="BYTES",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help=f"refuse inputs larger than this (default: {DEFAULT_MAX_BYTES})",
    )


_OPEN_STORES: list[Store] = []


def open_store(args: argparse.Namespace) -> Store:
    """The store named by ``--db`` (or the default); closed by ``close_stores`` when the command ends."""
    store = Store(args.db)
    _OPEN_STORES.append(store)
    return store


def close_stores() -> None:
    while _OPEN_STORES:
        _OPEN_STORES.pop().close()


def load_key(args: argparse.Namespace) -> Key | None:
    path = getattr(args, "key_file", None) or os.environ.get("COPYTRACE_KEY_FILE")
    return Key.from_file(path) if path else None


def read_input(path: str, max_bytes: int) -> DecodedText:
    """Read a path, or standard input for ``-``; print a note when the input was not UTF-8."""
    decoded = read_stdin(max_bytes=max_bytes) if path == "-" else read_text_file(path, max_bytes=max_bytes)
    if decoded.note:
        note(decoded.note)
    if not decoded.text.strip():
        raise InputError(f"{'<stdin>' if path == '-' else path}: empty text")
    return decoded


def progress(items: Iterable[T], total: int | None, description: str) -> Iterator[T]:
    """Iterate with a progress bar on stderr when it is a terminal and the work is long enough."""
    console = Console(stderr=True)
    show = console.is_terminal and (total is None or total > 20)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not show,
    ) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
