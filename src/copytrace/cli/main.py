"""Entry point of ``copytrace``: builds the parser from each command module and maps errors to exit codes.

Every failure is one line on stderr and exit status 2: a ``CopytraceError`` as its message, a busy or failing
store and an operating-system error as what happened, and anything unexpected as ``copytrace: internal
error: ...`` with a hint to re-run with ``--debug`` (which prints the traceback) - never exit 1, which means
"nothing matched".

Exit: ``run`` (the ``copytrace`` program) ends the process at once once the command has returned, its
output flushed and the ``atexit`` handlers run (the store is closed, Ray and logging shut down): tearing the
interpreter down object by object after NumPy, Numba (and LLVM), SciPy and SQLAlchemy were loaded costs about
0.3-0.4 s of CPU a command, as much as a small command itself (``bank add`` of one file); nothing of it is
needed.  With another thread still running it exits as Python does, waiting for it.  ``main`` returns its
status and ends nothing: it is what tests and embedding code call.

Start-up: building the parser imports only argparse-level code (each command module's ``register``), so
``copytrace --version``, ``--help`` and ``COMMAND --help`` import neither NumPy, Numba, SQLAlchemy, Alembic
nor FastAPI; a command imports those when it runs, and SQLAlchemy's errors are looked at only once one
was raised (tests/test_cli_startup.py checks both).
"""

# ruff: noqa: E402  (Ctrl-C is taken over before the command line's modules load)
from __future__ import annotations

import os
import signal
import sys
import threading


def _interrupted_early(signum: int, frame: object) -> None:
    """Ctrl-C before a command runs (while the command line's modules load or its arguments are read):
    nothing was done, so one line and exit 130 at once, never a traceback."""
    sys.stderr.write("copytrace: interrupted; nothing was done\n")
    sys.stderr.flush()
    os._exit(130)


if threading.current_thread() is threading.main_thread():  # the first thing a started command does
    signal.signal(signal.SIGINT, _interrupted_early)

import argparse
import atexit
import contextlib
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import CopytraceError
from ..numba_start import load_kernel_support
from . import bank, cluster, evaluate, fingerprint, key, keys, match, scan, serve, store_cmd
from .common import (
    Exit,
    HelpFormatter,
    close_stores,
    error,
    open_store_urls,
    pause_collector,
    show_library_warnings,
    shown,
)

if TYPE_CHECKING:
    from sqlalchemy.exc import OperationalError

DESCRIPTION = """Find copies of known text - whole, reformatted, excerpted or obfuscated - with fingerprints.

example:
  copytrace bank add news ../shared/data/canonical/000_ea7438489bd31fbe.txt
  copytrace match ../shared/data/canonical/001_5e32e1b4a13a1b7e.txt
  copytrace serve          # the HTTP service and review page on http://127.0.0.1:8080/

'copytrace COMMAND --help' shows a command's options and examples.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> NoReturn:
        error(f"{message} (see '{self.prog} --help')")
        sys.exit(Exit.ERROR)


class _Version(argparse.Action):
    """``--version``: prints ``copytrace VERSION`` and exits; the version is looked up only then (reading
    the package's metadata takes longer than building the whole parser)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        from .. import __version__

        parser._print_message(f"copytrace {__version__}\n", sys.stdout)
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="copytrace", description=DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--version", action=_Version)
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an internal error (for a bug report)"
    )
    sub = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        required=True,
        parser_class=_Parser,
    )
    for module in (bank, match, scan, cluster, fingerprint, serve, keys, key, store_cmd, evaluate):
        module.register(sub)
    for action in _subparsers(parser):
        action.add_argument("--version", action=_Version)
        action.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sp in dict.fromkeys(action.choices.values()):
                out.append(sp)
                out.extend(_subparsers(sp))
    return out


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line's arguments; a usage error is one line and exit status 2."""
    args, extra = parser.parse_known_args(argv)
    # argparse gives an optional-length positional nothing when an option comes between it and its values
    # ("bank add BANK --key-file K PATH"): such trailing values are paths.
    if extra and hasattr(args, "paths") and not any(e.startswith("-") and e != "-" for e in extra):
        args.paths = [*args.paths, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None, *, program: bool = False) -> int:
    """Run the command ``argv`` (default: ``sys.argv[1:]``); its exit status.  ``program`` (``run``):
    the process is the command's own, so a short command's start-up may pause the garbage collector
    (``pause_collector``)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupted_early)
    args = parse_args(build_parser(), argv)
    if program and getattr(args, "pause_gc", False):
        pause_collector()
    show_library_warnings()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from here: KeyboardInterrupt, below
    try:
        if getattr(args, "kernels", False):
            load_kernel_support()
        return int(args.run(args))
    except CopytraceError as exc:
        error(str(exc))
        return Exit.ERROR
    except KeyboardInterrupt:
        print("copytrace: interrupted; nothing of the interrupted step was stored", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return Exit.OK
    except OSError as exc:
        error(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else _first_line(exc))
        return _debug(args, exc)
    except Exception as exc:
        store_failure = _store_error(exc)
        if store_failure is not None:
            error(store_failure)
            return _debug(args, exc)
        print(
            f"copytrace: internal error: {shown(_first_line(exc))} (a bug: re-run with --debug for the "
            "traceback and report it)",
            file=sys.stderr,
        )
        return _debug(args, exc)
    finally:
        close_stores()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {lines[0]}" if lines else exc.__class__.__name__


def _store_error(exc: Exception) -> str | None:
    """The one-line message for an error of the store (SQLAlchemy), None for any other exception.

    SQLAlchemy is imported here, not at start-up: an error raised by it means it was imported already.
    """
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    if isinstance(exc, OperationalError):
        return _store_failure(exc)
    if isinstance(exc, SQLAlchemyError):
        return f"the store failed: {_first_line(exc)}"
    return None


def _store_failure(exc: OperationalError) -> str:
    where = ", ".join(open_store_urls()) or "the store"
    if "locked" in str(exc.orig) or "busy" in str(exc.orig):
        return (
            f"{where} is busy: another process is writing to it and held its lock too long; try again "
            "when it has finished (or wait longer: $COPYTRACE_BUSY_TIMEOUT, seconds)"
        )
    return f"{where} failed: {_first_line(exc.orig or exc)}"


def _debug(args: argparse.Namespace, exc: BaseException) -> int:
    """With ``--debug``, the traceback of ``exc`` on stderr; the exit status of any failure, 2."""
    if getattr(args, "debug", False):
        traceback.print_exception(exc, file=sys.stderr)
    return Exit.ERROR


def run(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``copytrace`` program: ``main``, then the process ends at once with its status (``exit_now``)."""
    exit_now(main(argv, program=True))


def exit_now(code: int) -> NoReturn:
    """End the process with status ``code`` without tearing the interpreter down: standard output and error
    are flushed and the ``atexit`` handlers run first, as at a normal exit.  While any other thread runs,
    this is ``sys.exit`` (the interpreter waits for the thread, as it would)."""
    if threading.active_count() > 1:
        sys.exit(code)
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # the reader went away (``| head``), as main takes it
        pass
    except OSError as exc:  # a full disk: the output is not all there
        error(f"cannot write the output: {exc.strerror or exc}")
        code = code or Exit.ERROR
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):  # what the handlers wrote (logging); closed after a broken pipe
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(int(code))


if __name__ == "__main__":
    run()
