"""``copytrace key``: make secret keys for keyed fingerprints."""

from __future__ import annotations

import argparse

from ..fingerprints.keys import Key
from .common import Exit, HelpFormatter

EPILOG = """example:
  copytrace key generate > consortium.key
  copytrace bank add shared --key-file consortium.key --fingerprint-only ./texts/
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "key",
        help="make a secret key for keyed fingerprints",
        epilog=EPILOG,
        description="Make secret keys for keyed fingerprints: only holders of the key can fingerprint text "
        "that matches a keyed bank.",
        formatter_class=HelpFormatter,
    )
    ksub = p.add_subparsers(dest="key_command", metavar="COMMAND", required=True)
    g = ksub.add_parser(
        "generate",
        help="print a new secret key",
        epilog=EPILOG,
        description="Print a new random secret key (64 hex digits) and, on stderr, its public key id. Keep "
        "the key secret; share it only with those who may match against banks made with it.",
        formatter_class=HelpFormatter,
    )
    g.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    import sys

    secret = Key.generate()
    print(secret)
    print(f"key id: {Key.from_secret(secret).key_id}", file=sys.stderr)
    return Exit.OK
