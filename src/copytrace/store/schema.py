"""Whether a database is a copytrace store this version can open, before anything is written to it.

A copytrace store holds the ``banks`` table and Alembic's ``alembic_version`` at a four-digit revision of
``migrations/versions``.  Opening a database, ``check`` sorts it into one of:

- **empty** (no table): a new store is made in it, when the caller may create one;
- **current** (at ``SCHEMA_HEAD``): opened as it is, without importing Alembic;
- **older**: brought to ``SCHEMA_HEAD`` by the migrations, when the caller may migrate; otherwise refused,
  naming both revisions and the command that upgrades it;
- **newer** (made by a newer copytrace): refused, naming both revisions;
- **foreign** (tables, but not a copytrace store's): refused, and left exactly as it was.

An SQLite file is looked at through a read-only connection (``sqlite_state``) before the store's own
connections set their pragmas: ``journal_mode=WAL`` is written into the file, which another application's
database must not get.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import inspect
from sqlalchemy import text as sql
from sqlalchemy.engine import Connection

from ..errors import StoreError

# The newest migration (``migrations/versions``; a test checks they agree): a store already there is opened
# without importing Alembic, which costs a command a tenth of a second.
SCHEMA_HEAD = "0006"

UPGRADE_HINT = "upgrade it with 'copytrace store upgrade'"


@dataclass(frozen=True)
class SchemaState:
    """The tables a database holds and its Alembic revision (None without ``alembic_version``)."""

    tables: frozenset[str]
    revisions: tuple[str, ...]


def sqlite_state(path: Path) -> SchemaState:
    """What the SQLite file at ``path`` holds, read without writing anything to it."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store at {path}: {exc}") from exc
    try:
        tables = {
            str(name)
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not str(name).startswith("sqlite_")
        }
        revisions: tuple[str, ...] = ()
        if "alembic_version" in tables:
            revisions = tuple(str(v) for (v,) in conn.execute("SELECT version_num FROM alembic_version"))
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a copytrace store ({exc}): check --db or $COPYTRACE_DB") from exc
    finally:
        conn.close()
    return SchemaState(frozenset(tables), revisions)


def engine_state(conn: Connection) -> SchemaState:
    """What the database behind ``conn`` holds (reads only)."""
    tables = frozenset(inspect(conn).get_table_names())
    revisions: tuple[str, ...] = ()
    if "alembic_version" in tables:
        found = conn.execute(sql("SELECT version_num FROM alembic_version")).scalars()
        revisions = tuple(str(v) for v in found)
    return SchemaState(tables, revisions)


def _revision(state: SchemaState) -> str | None:
    """The store's revision, or None when the database is not a copytrace store."""
    if "banks" not in state.tables or len(state.revisions) != 1:
        return None
    (revision,) = state.revisions
    return revision if len(revision) == 4 and revision.isdigit() else None


def check(where: str, state: SchemaState, *, create: bool, migrate: bool) -> bool:
    """Whether the migrations must run on the database ``where`` (described by ``state``) to open it; a
    ``StoreError`` saying what to do when it cannot be opened as asked."""
    if not state.tables:
        if not create:
            raise StoreError(
                f"no store at {where}: the database is empty; check --db or $COPYTRACE_DB (a store is "
                "created by the first 'copytrace bank add' or 'bank import')"
            )
        return True
    revision = _revision(state)
    if revision is None:
        listed = ", ".join(sorted(state.tables)[:5]) + (", ..." if len(state.tables) > 5 else "")
        raise StoreError(
            f"{where} is not a copytrace store: it holds other tables ({listed}); it was left as it is: "
            "name a copytrace store or a new file with --db"
        )
    if revision == SCHEMA_HEAD:
        return False
    if revision > SCHEMA_HEAD:
        raise StoreError(
            f"the store at {where} was made by a newer copytrace: its schema is {revision}, this copytrace "
            f"knows schemas up to {SCHEMA_HEAD}; upgrade copytrace to open it"
        )
    if not migrate:
        raise StoreError(
            f"the store at {where} has schema {revision}, made by an older copytrace; this copytrace uses "
            f"schema {SCHEMA_HEAD}: {UPGRADE_HINT} (commands that only read never change a store)"
        )
    return True
