"""``copytrace keys``: API keys of the service (create, list, revoke)."""

from __future__ import annotations

import argparse
import sys

from .common import Exit, HelpFormatter, add_common_options, open_store, shown, to_json

EPILOG = """example:
  copytrace keys create moderation-queue --role reader
  copytrace keys list
  copytrace keys revoke moderation-queue
"""

ROLES = ("reader", "writer", "admin")
"""The roles of ``copytrace.store.api_keys`` (a test checks they agree), named here so that building the
parser does not import the store."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "keys",
        help="API keys of the service",
        epilog=EPILOG,
        description="Create, list and revoke the keys that callers of 'copytrace serve' present. A key is "
        "printed once, when it is created; the store keeps only a salted hash of it.",
        formatter_class=HelpFormatter,
    )
    ksub = p.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    c = ksub.add_parser(
        "create",
        help="create a key and print it (once)",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
        description="Roles: reader (match, fingerprint, review), writer (+ banks and items), admin "
        "(+ keys and the audit log).",
    )
    c.add_argument("name", help="who or what will use the key (unique)")
    c.add_argument("--role", required=True, choices=ROLES)
    c.set_defaults(run=run_create)
    ls = ksub.add_parser(
        "list",
        help="list keys (never their secrets)",
        description="List the service's API keys: name, role, id, state and who created them when.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    ls.add_argument("--json", action="store_true", help="one JSON object per key")
    ls.set_defaults(run=run_list)
    r = ksub.add_parser(
        "revoke",
        help="revoke a key by name",
        description="Revoke a key: it stops working within 2 seconds; it stays listed, and in the audit log.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    r.add_argument("name", help="the key's name")
    r.set_defaults(run=run_revoke)
    for sp in (c, ls, r):
        add_common_options(sp, key=False, max_size=False)


def run_create(args: argparse.Namespace) -> int:
    from ..store.api_keys import create_key

    info, secret = create_key(open_store(args, create=True), args.name, args.role)
    print(secret)
    print(
        shown(f"created {info.role} key {info.name!r} (id {info.key_id}); it is not shown again"),
        file=sys.stderr,
    )
    return Exit.OK


def run_list(args: argparse.Namespace) -> int:
    from ..store.api_keys import list_keys

    keys = list_keys(open_store(args))
    for k in keys:
        if args.json:
            print(to_json(k.to_dict()))
        else:
            state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
            created = f"created {k.created_at:%Y-%m-%d %H:%M} by {k.created_by}"
            print(f"{shown(k.name)}\t{k.role}\t{k.key_id}\t{state}\t{shown(created)}")
    return Exit.OK


def run_revoke(args: argparse.Namespace) -> int:
    from ..store.api_keys import revoke_key

    info = revoke_key(open_store(args), args.name)
    print(shown(f"revoked key {info.name!r} (id {info.key_id})"), file=sys.stderr)
    return Exit.OK
