"""``copytrace store``: look after the store itself; ``store vacuum`` gives deleted rows' disk space back,
``store upgrade`` brings a store made by an older copytrace to this version's schema, ``store compact``
writes the cached index of the current generation (``copytrace.banks.cache``)."""

from __future__ import annotations

import argparse

from ..errors import CopytraceError
from .common import Exit, HelpFormatter, add_common_options, load_key, note, open_store, to_json

EPILOG = """example:
  copytrace bank delete old-news --yes
  copytrace store vacuum
  copytrace store vacuum --db /srv/copytrace/copytrace.db
  copytrace store compact
"""

COMPACT_EPILOG = """example:
  copytrace store compact
  copytrace store compact --bank news --bank archive --key-file team.key

Prints one {"banks", "generation", "snapshot"} per snapshot written (or already current).  A command maps
the newest cached index of its banks and replays the changes made since; when those outgrow a share of the
index it starts this in the background itself.  Run it after a large change (a bulk add, many removals) so
the next command starts from a snapshot of the store as it is.
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
        help="look after the store: vacuum, upgrade its schema, compact its cached index",
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
    c = ssub.add_parser(
        "compact",
        help="write the cached index of the store as it is now",
        description="Write the cached index snapshot of the banks 'copytrace match' searches (and of each "
        "of them that has one of its own, as 'bank add' links against) at the store's current generation, "
        "and delete the snapshots it supersedes: the next command maps it instead of replaying the "
        "changes made since the last one.",
        epilog=COMPACT_EPILOG,
        formatter_class=HelpFormatter,
    )
    c.add_argument(
        "--bank", action="append", metavar="BANK", help="compact the index of this bank (repeatable)"
    )
    add_common_options(c, max_size=False)
    c.set_defaults(run=run_compact, kernels=True)


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


def run_compact(args: argparse.Namespace) -> int:
    from ..banks.selection import search_params
    from ..fingerprints.fingerprint import FingerprintParams
    from ..fingerprints.keys import PUBLIC_KEY

    store = open_store(args)
    key = load_key(args) or PUBLIC_KEY
    names = args.bank
    if names is None:
        selection = store.banks_for(FingerprintParams(key_id=key.key_id))
        if not selection.searched and selection.left_out:
            raise selection.nothing_searchable()
        names = selection.searched
    names = list(dict.fromkeys(names))
    params = search_params(store, names, key)
    if params is None:
        note("no banks to compact")
        return Exit.OK
    store_id, generation = store.identity()
    sets = [names] + [
        [n] for n in names if [n] != names and store.snapshots.newest([n], params, store_id, generation)
    ]
    for banks in sets:
        path = store.snapshots.compact(banks, params)
        if path is None:
            raise CopytraceError(
                f"cannot write the cached index in {store.snapshots.folder()}: set COPYTRACE_CACHE to a "
                "private folder of your own"
            )
        generation = int(path.name.rsplit("-g", 1)[1].removesuffix(".ctidx"))
        print(to_json({"banks": sorted(banks), "generation": generation, "snapshot": str(path)}))
    return Exit.OK
