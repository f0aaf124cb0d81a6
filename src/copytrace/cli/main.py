"""Entry point of ``copytrace``: builds the parser from each command module and maps errors to exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..errors import CopytraceError
from . import bank, evaluate, fingerprint, key, keys, match, serve
from .common import Exit, close_stores, error

DESCRIPTION = """Find copies of known text - whole, reformatted, excerpted or obfuscated - with fingerprints.

example:
  copytrace bank add news ../shared/data/canonical/000_ea7438489bd31fbe.txt
  copytrace match ../shared/data/canonical/001_5e32e1b4a13a1b7e.txt
  copytrace serve          # the HTTP service and review page on http://127.0.0.1:8080/
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> NoReturn:
        error(f"{message} (see '{self.prog} --help')")
        sys.exit(Exit.ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="copytrace", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"copytrace {__version__}")
    sub = parser.add_subparsers(
        dest="command",
        metavar="{bank,match,fingerprint,serve,keys,key,eval}",
        required=True,
        parser_class=_Parser,
    )
    for module in (bank, match, fingerprint, serve, keys, key, evaluate):
        module.register(sub)
    for action in _subparsers(parser):
        action.add_argument("--version", action="version", version=f"copytrace {__version__}")
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sp in dict.fromkeys(action.choices.values()):
                out.append(sp)
                out.extend(_subparsers(sp))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse gives an optional-length positional nothing when an option comes between it and its values
    # ("bank add BANK --key-file K PATH"): such trailing values are paths.
    if extra and hasattr(args, "paths") and not any(e.startswith("-") and e != "-" for e in extra):
        args.paths = [*args.paths, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.run(args))
    except CopytraceError as exc:
        error(str(exc))
        return Exit.ERROR
    except KeyboardInterrupt:
        error("interrupted; nothing of the interrupted step was stored")
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return Exit.OK
    finally:
        close_stores()


if __name__ == "__main__":
    sys.exit(main())
