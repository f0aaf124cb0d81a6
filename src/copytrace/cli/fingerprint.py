"""``copytrace fingerprint``: print the fingerprint string of each input."""

from __future__ import annotations

import argparse

from ..errors import CopytraceError
from .common import Exit, HelpFormatter, add_common_options, error, load_key, read_input

EPILOG = """example:
  copytrace fingerprint article.txt
  echo "some text long enough to fingerprint here" | copytrace fingerprint -
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "fingerprint",
        help="print the fingerprint of a text",
        epilog=EPILOG,
        description="Print the fingerprint string of each input, one per line.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH|-", help="text file, or - for standard input")
    add_common_options(p, store=False)
    p.set_defaults(run=run, kernels=True)


def run(args: argparse.Namespace) -> int:
    from ..fingerprints.fingerprint import fingerprint

    key = load_key(args)
    status = Exit.OK
    for path in args.paths:
        try:
            print(fingerprint(read_input(path, args.max_size).text, key=key))
        except CopytraceError as exc:
            error(str(exc) if path in str(exc) else f"{path}: {exc}")
            status = Exit.ERROR
    return status
