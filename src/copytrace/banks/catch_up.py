"""Bringing an index of banks up to a later generation of the store by replaying its change feed.

An index derived from the store at generation g (a snapshot, or an index held in memory) plus the changes
after g (``copytrace.store.feed``) is the index of the store now, without reading every fingerprint again:
an ``add`` replaces the item with the fingerprint, links and phrase stored now (none when it was removed
since), a ``remove`` takes it out, a ``drop_bank`` takes out every item of the bank.  Replaying a change
twice does no harm, so a snapshot at least as new as its generation may be caught up from it.  The service's
live index (``live``) and the command line's cache (``cache``) both follow the feed with ``apply_changes``.

The feed reaches back to g only when every generation after g left its rows: each write transaction raises
the generation and records at least one change (``copytrace.store.store``), so ``feed_reaches`` counts the
distinct generations kept.  A feed pruned past g, or a store rewritten under the same id, means a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, MutableMapping

from sqlalchemy import distinct, func, select

from ..fingerprints.fingerprint import Fingerprint, FingerprintParams
from ..index import Index
from ..phrases import PhraseFingerprint
from ..store.feed import Change
from ..store.sessions import Sessions
from ..store.tables import changes

MAX_TOKENS = 2**31 - 1  # the index keeps token counts as int32 and positions as uint32

OnUnindexable = Callable[[str, str, str], None]
"""``(bank, item id, reason)``: a stored item the index cannot hold, left out of it."""


def unindexable(fp: Fingerprint, params: FingerprintParams) -> str | None:
    """Why the index cannot hold ``fp`` (checked before ``Index.add``, which would fail part-way), or None."""
    if fp.params != params:
        return f"made with parameters {fp.params}, not the bank's {params}"
    if not 0 <= fp.n_tokens <= MAX_TOKENS:
        return f"token count {fp.n_tokens} out of range (at most {MAX_TOKENS})"
    if len(fp) > fp.n_tokens:
        return f"{len(fp)} hashes for {fp.n_tokens} tokens"
    if len(fp) and (int(fp.positions[0]) < 0 or int(fp.positions[-1]) > fp.n_tokens - params.k):
        return "positions out of range"
    return None


def reason(exc: BaseException) -> str:
    """One line naming ``exc`` and its first line of text, for logs and quarantine lists."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {text}"[:300]


def feed_reaches(store: Sessions, after: int, upto: int) -> bool:
    """Whether the change feed still holds every generation in ``(after, upto]``."""
    return pending_changes(store, after, upto) is not None


def pending_changes(store: Sessions, after: int, upto: int) -> int | None:
    """How many changes the feed holds with ``after < generation <= upto``; None when it no longer holds
    every generation of them (pruned), so that replaying it would miss some."""
    if upto <= after:
        return 0
    with store.engine.connect() as conn:
        generations, rows = conn.execute(
            select(func.count(distinct(changes.c.generation)), func.count()).where(
                changes.c.generation > after, changes.c.generation <= upto
            )
        ).one()
    return int(rows) if int(generations or 0) == upto - after else None


def add_stored(
    index: Index,
    change: Change,
    *,
    params: FingerprintParams,
    phrase_only: bool,
    on_unindexable: OnUnindexable,
) -> None:
    """Add the item of an ``add`` change as stored, or hand it to ``on_unindexable``: nothing stored may
    stop a build or a follower."""
    bank, item_id, stored = change.bank, change.item_id or "", change.fingerprint
    assert stored is not None
    try:
        fp = Fingerprint.parse(stored)
        why = unindexable(fp, params)
        if why is None:
            pfp = None if change.phrase is None else PhraseFingerprint.parse(change.phrase)
            index.add(item_id, fp, bank=bank, links=change.links, phrase=pfp, phrase_only=phrase_only)
            return
    except Exception as exc:  # any fault of one item leaves that item out, never the index
        why = reason(exc)
        if (bank, item_id) in index:  # ``Index.add`` failed part-way
            index.remove(item_id, bank=bank)
    on_unindexable(bank, item_id, why)


def apply_changes(
    index: Index,
    changes: Iterable[Change],
    *,
    params: FingerprintParams,
    banks: Collection[str],
    phrase_banks: Collection[str],
    quarantined: MutableMapping[tuple[str, str], str],
    on_unindexable: OnUnindexable,
) -> int:
    """Apply ``changes`` in order to ``index``, an index of ``banks`` made with ``params`` (changes of other
    banks are skipped); returns how many were applied.  ``quarantined`` (bank, item id -> reason) forgets an
    item that changes; an item that cannot be indexed goes to ``on_unindexable``."""
    n = 0
    for c in changes:
        op, bank, item_id = c.op, c.bank, c.item_id or ""
        if op == "add":
            if (bank, item_id) in index:
                index.remove(item_id, bank=bank)
            quarantined.pop((bank, item_id), None)
            if c.fingerprint is not None and bank in banks:
                add_stored(
                    index, c, params=params, phrase_only=bank in phrase_banks, on_unindexable=on_unindexable
                )
        elif op == "remove":
            quarantined.pop((bank, item_id), None)
            if (bank, item_id) in index:
                index.remove(item_id, bank=bank)
        elif op == "drop_bank":
            for b, i in [pair for pair in index.items() if pair[0] == bank]:
                index.remove(i, bank=b)
            for pair in [pair for pair in quarantined if pair[0] == bank]:
                del quarantined[pair]
        n += 1
    return n
