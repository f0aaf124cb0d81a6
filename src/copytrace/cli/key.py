"""``copytrace key``: make secret keys for keyed fingerprints."""

from __future__ import annotations

import argparse

from ..keys import Key
from .common import Exit

EPILOG = """example:
  copytrace key generate > consortium.key
  copytrace bank add shared --key-file consortium.key --fingerprint-only ./texts/
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "key",
        help="make a secret key for keyed fingerprints",
        epilog=EPILOG,
        description="Print a new random secret key (64 hex digits) and, on stderr, its public key id.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ksub = p.add_subparsers(dest="key_command", metavar="{generate}", required=True)
    g = ksub.add_parser(
        "generate",
        help="print a new secret key",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    import sys

    secret = Key.generate()
    print(secret)
    print(f"key id: {Key.from_secret(secret).key_id}", file=sys.stderr)
    return Exit.OK
