"""What every command shares: exit codes, messages on stderr, the store, the key, inputs and progress.

Everything a command prints to a terminal goes through ``shown`` (plain text) or ``to_json`` (JSON): a bank
name, item id, path or text from an old store or a hostile file cannot put terminal escapes on the screen.

Building the parser imports this module, so it imports only what argparse needs: the store (SQLAlchemy,
Alembic) and rich are imported by the functions that use them, when a command runs.
"""

from __future__ import annotations

import argparse
import enum
import gc
import json
import logging
import os
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import InputError
from ..fingerprints.keys import Key
from ..text.textio import DEFAULT_MAX_BYTES, DecodedText, read_stdin, read_text_file

if TYPE_CHECKING:
    from rich.progress import ProgressColumn

    from ..banks import Store

T = TypeVar("T")


class Exit(enum.IntEnum):
    """Exit status, as grep's: 0 found (or success), 1 nothing found, 2 error."""

    OK = 0
    NOT_FOUND = 1
    ERROR = 2


_PAUSED: set[str] = set()  # "collector" while ``pause_collector`` holds the collector paused


def pause_collector() -> None:
    """Pause Python's cyclic garbage collector for the start-up of a short command (``run`` does, for a
    command whose parser sets ``pause_gc``): importing SQLAlchemy, NumPy and Numba and loading the cached
    kernels makes millions of objects, and the young generation's collections traversing each of them
    cost about a tenth of a ``bank add`` of one file.  Objects are still freed as their last reference
    goes; only garbage held in reference cycles waits, until ``resume_collector``."""
    if gc.isenabled():
        gc.disable()
        _PAUSED.add("collector")


def resume_collector() -> None:
    """Start the collector paused by ``pause_collector`` again (nothing otherwise), once a command goes on
    to more than its start-up: what start-up made is moved to the permanent generation first
    (``gc.freeze``), so later collections do not traverse it again."""
    if "collector" in _PAUSED:
        _PAUSED.discard("collector")
        gc.freeze()
        gc.enable()


def _unsafe(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] == "C" or category in ("Zl", "Zp")


def _escape(ch: str) -> str:
    c = ord(ch)
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"


_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def shown(text: str) -> str:
    r"""``text`` safe for a terminal: control, format and other invisible characters escaped as Python does.

    >>> shown("news\x1b]0;pwned\x07\tx")
    'news\\x1b]0;pwned\\x07\\tx'
    """
    if text.isprintable():  # the usual case, at C speed: no category C or Z character but the space
        return text
    return "".join((_NAMED.get(ch) or _escape(ch)) if _unsafe(ch) else ch for ch in text)


def _json_escape(ch: str) -> str:
    c = ord(ch)
    if c < 0x10000:
        return f"\\u{c:04x}"
    c -= 0x10000
    return f"\\u{0xD800 + (c >> 10):04x}\\u{0xDC00 + (c & 0x3FF):04x}"


def to_json(obj: Any) -> str:
    r"""One line of JSON in UTF-8 (as jq prints it), with every invisible or control character escaped.

    >>> to_json({"id": "ñews\u202e", "n": 1})
    '{"id": "ñews\\u202e", "n": 1}'
    """
    text = json.dumps(obj, ensure_ascii=False)
    if text.isprintable():
        return text
    return "".join(_json_escape(ch) if _unsafe(ch) else ch for ch in text)


def note(message: str) -> None:
    """One line on stderr for something the user should know that is not an error."""
    print(f"copytrace: note: {shown(message)}", file=sys.stderr)


def error(message: str) -> None:
    """One line on stderr for an error."""
    print(f"copytrace: error: {shown(message)}", file=sys.stderr)


class _WarningLine(logging.Handler):
    """The library's warnings (``copytrace.*`` loggers) as one ``copytrace: warning:`` line each."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"copytrace: warning: {shown(record.getMessage())}", file=sys.stderr)


_WARNINGS = _WarningLine(logging.WARNING)


def show_library_warnings() -> None:
    """Print the library's warnings on stderr while a command runs (once; idempotent)."""
    logger = logging.getLogger("copytrace")
    if _WARNINGS not in logger.handlers:
        logger.addHandler(_WARNINGS)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written where it has lines of its own (examples), one-paragraph descriptions filled to
    the terminal, and each command of a command list on one line however narrow the terminal:
    ``copytrace --help`` reads as a table of commands."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text.strip("\n"):
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction) and action.help is not argparse.SUPPRESS:
            # argparse measures the command names without their indent: a long one would wrap its line
            names = [len(self._format_action_invocation(a)) for a in action._get_subactions()]
            longest = max(names, default=0) + self._current_indent + self._indent_increment
            self._action_max_length = max(self._action_max_length, longest)

    def _format_action(self, action: argparse.Action) -> str:
        if isinstance(action, argparse._SubParsersAction._ChoicesPseudoAction):
            width, self._width = self._width, 10_000
            try:
                return super()._format_action(action)
            finally:
                self._width = width
        return super()._format_action(action)


def add_common_options(
    parser: argparse.ArgumentParser, *, store: bool = True, key: bool = True, max_size: bool = True
) -> None:
    """``--db`` (with ``store``), ``--key-file`` (with ``key``) and ``--max-size`` (with ``max_size``, for
    commands that read text files): a command offers only the options it uses."""
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
    if max_size:
        parser.add_argument(
            "--max-size",
            metavar="BYTES",
            type=int,
            default=DEFAULT_MAX_BYTES,
            help=f"refuse text inputs larger than this (default: {DEFAULT_MAX_BYTES})",
        )


_OPEN_STORES: list[Store] = []


def busy_timeout() -> float:
    """Seconds to wait for another writer's SQLite lock: ``$COPYTRACE_BUSY_TIMEOUT``, else 10."""
    value = os.environ.get("COPYTRACE_BUSY_TIMEOUT")
    if not value:
        from ..store.store import DEFAULT_BUSY_TIMEOUT

        return DEFAULT_BUSY_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise InputError(f"COPYTRACE_BUSY_TIMEOUT={value!r}: expected seconds, from 0 to 86400")
    return seconds


def open_store(args: argparse.Namespace, *, create: bool = False, migrate: bool | None = None) -> Store:
    """The store named by ``--db`` (or the default); closed by ``close_stores`` when the command ends.

    Only commands that add to a store pass ``create``: for the others a missing SQLite file or an empty
    database is an error naming it.  ``migrate`` (default: ``create``) upgrades a store of an older schema;
    without it such a store is an error that says how to upgrade it, so commands that read never change a
    store.  A database that is not a copytrace store is always refused and left as it is.
    """
    from ..banks import Store

    store = Store(
        getattr(args, "db", None),
        create=create,
        migrate=create if migrate is None else migrate,
        busy_timeout=busy_timeout(),
    )
    _OPEN_STORES.append(store)
    return store


def open_store_urls() -> list[str]:
    """The URLs of the stores the running command opened (for error messages)."""
    return [s.url for s in _OPEN_STORES]


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
    """Iterate with a progress bar on stderr when it is a terminal and the work is long enough (rich is
    not even imported for 20 items or fewer: a one-file ``bank add`` starts without it)."""
    if total is not None and total <= 20:
        yield from items
        return
    from rich.progress import MofNCompleteColumn

    yield from _progress(items, total, description, MofNCompleteColumn(), lambda _: 1, True)


def progress_bytes(lines: Iterable[bytes], total: int | None, description: str) -> Iterator[bytes]:
    """Iterate over the lines of a file with a progress bar of the bytes read out of ``total`` (its size;
    None for a pipe), on stderr when it is a terminal: '3.1/12.0 MB', never '20000/?' for a known file."""
    from rich.progress import DownloadColumn

    yield from _progress(lines, total, description, DownloadColumn(), len, True)


def _progress(
    items: Iterable[T],
    total: int | None,
    description: str,
    done: ProgressColumn,
    weight: Callable[[T], int],
    long_enough: bool,
) -> Iterator[T]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        done,
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (console.is_terminal and long_enough),
    ) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task, weight(item))
