"""``copytrace store``: look after the store itself; ``store vacuum`` gives deleted rows' disk space back,
``store upgrade`` brings a store made by an older copytrace to this version's schema."""

from __future__ import annotations

import argparse

from .common import Exit, HelpFormatter, add_common_options, note, open_store, to_json

EPILOG = """example:
  copytrace bank delete old-news --yes
  copytrace store vacuum
  copytrace store vacuum --db /srv/copytrace/copytrace.db
"""

VACUUM_EPILOG = """example:
  copytrace store vacuum
  copytrace store vacuum --db postgresql://copytrace@db/copytrace     # prints what to run instead

SQLite: prints {"store", "bytes_before", "bytes_after"}.  VACUUM rewrites the whole file: it needs as much
free disk again as the store takes, and other writers wait until it has finished (searches go on).
PostgreSQL reuses the space of deleted rows by itself (autovacuum); this prints how to give it back to the
operating system and changes nothing.  Both also delete the store's stale cached indexes.
"""

UPGRADE_EPILOG = """example:
  copytrace store upgrade --db /srv/copytrace/copytrace.db

Prints {"store", "schema"}.  Back the store up first: an upgrade cannot be undone by an older copytrace.
"""

POSTGRES_ADVICE = (
    "PostgreSQL reuses the space of deleted rows by itself (autovacuum): nothing to do for that.  To give "
    "the space back to the operating system, run 'VACUUM FULL items;' in psql at a quiet time: it rewrites "
    "the table and locks it while it runs"
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "store",
        help="look after the store: give disk space back (vacuum), upgrade its schema",
        description="Look after the store itself.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    ssub = p.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    v = ssub.add_parser(
        "vacuum",
        help="give the disk space of deleted banks and items back",
        description="Give the disk space of deleted banks and items back to the operating system (SQLite "
        "VACUUM) and delete the store's stale cached indexes.",
        epilog=VACUUM_EPILOG,
        formatter_class=HelpFormatter,
    )
    add_common_options(v, key=False, max_size=False)
    v.set_defaults(run=run_vacuum)
    u = ssub.add_parser(
        "upgrade",
        help="bring a store made by an older copytrace to this version's schema",
        description="Bring a store made by an older copytrace to the schema this version uses (commands "
        "that only read refuse an older store rather than change it).  Nothing is done to a store that "
        "is current.",
        epilog=UPGRADE_EPILOG,
        formatter_class=HelpFormatter,
    )
    add_common_options(u, key=False, max_size=False)
    u.set_defaults(run=run_upgrade)


def run_vacuum(args: argparse.Namespace) -> int:
    store = open_store(args)
    sizes = store.vacuum()
    if sizes is None:
        note(POSTGRES_ADVICE)
        return Exit.OK
    before, after = sizes
    print(to_json({"store": store.url, "bytes_before": before, "bytes_after": after}))
    note(f"the store takes {after:,} bytes, {before - after:,} fewer than before")
    return Exit.OK


def run_upgrade(args: argparse.Namespace) -> int:
    from ..store.schema import SCHEMA_HEAD

    store = open_store(args, migrate=True)
    print(to_json({"store": store.url, "schema": SCHEMA_HEAD}))
    return Exit.OK
