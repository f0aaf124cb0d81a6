"""Adding many items to a bank: the records of ``bank add --jsonl`` and the fingerprint lists of ``bank
import`` (and ``bank export``), and what every way of adding items shares: the checks of a bank's parameters,
``--skip-existing`` and ``--replace``, and the closing reports of a call.

The fingerprinting library and the store are imported by the commands that use them, not to build the parser.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import pickle
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from ..errors import (
    CopytraceError,
    DuplicateItemError,
    InputError,
    ParameterMismatchError,
    RecordError,
    UnknownBankError,
)
from ..fingerprints.keys import PUBLIC_KEY, Key
from ..fingerprints.records import iter_records
from ..names import check_bank_name, item_id_problem
from .common import (
    Exit,
    HelpFormatter,
    add_common_options,
    error,
    load_key,
    note,
    open_store,
    progress,
    progress_bytes,
    to_json,
)

if TYPE_CHECKING:
    from ..banks import Store
    from ..fingerprints.fingerprint import Fingerprint, FingerprintParams
    from ..fingerprints.records import Record
    from ..store import ItemRecord

T = TypeVar("T")

MAX_CHANGED_NOTES = 10
"""Changed items named one note each; the rest are counted in one more note."""


def _add_existing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip items the bank holds unchanged (same id, fingerprint and text); report changed ones",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="replace items whose id is already in the bank (with --skip-existing: only changed ones)",
    )


def _check_bank_params(store: Store, bank: str, params: FingerprintParams) -> None:
    """Refuse, before any fingerprinting, to add to a bank made with other parameters."""
    made_with = store.banks_for(params).left_out.get(bank)
    if made_with is not None:
        raise ParameterMismatchError(
            made_with,
            params,
            message=f"bank {bank!r} was made with {made_with}, these items would be fingerprinted with "
            f"{params}: use the key (--key-file) the bank was made with, or another bank",
        )


def _report_skipped(skipped: list[str], stored: int, bank: str) -> None:
    """The closing line of a call that skipped bad inputs (--skip-bad), as ``scan`` and ``cluster`` end
    after bad records: the exit status is 2, for the input was not used whole, and this line says why."""
    if skipped:
        error(
            f"{len(skipped):,} bad input(s) were skipped, each named above (the rest were stored: {stored:,} "
            f"item(s) in {bank!r})"
        )


def _is_phrase_bank(store: Store, bank: str) -> bool:
    """True when ``bank`` exists and is a phrase bank (one small query: no bank's items are counted)."""
    return bank in store.phrase_banks()


CHUNK_ITEMS = 5_000
"""Items linked and committed together by a call that adds many: memory holds the texts and fingerprints of
two chunks (one linked while the one before it is written) and the index of the bank, not the call's."""


class Spill:
    """The checked records of one call, written to a temporary file a chunk at a time as they are read and
    fingerprinted, then read back one chunk at a time to be stored: a bad input found anywhere stops the
    call before anything is stored, and memory holds one chunk, not the input.

    A chunk is written as columns (the ids, texts, labels ... as lists; the fingerprints' hashes and
    positions as two arrays), which reads back many times faster than one object per record; the tokens of
    a text, which storing and linking never read, are not kept."""

    def __init__(self, chunk: int | None = None) -> None:
        import tempfile

        self.chunk = chunk or CHUNK_ITEMS
        self.n = 0
        self.n_chunks = 0
        self.n_fingerprints = 0  # of the records kept: what their linking index will hold, at most
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)
        self._pending: list[ItemRecord] = []

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def add(self, rec: ItemRecord) -> None:
        """Keep ``rec``."""
        self._pending.append(rec)
        self.n += 1
        self.n_fingerprints += len(rec.fingerprint)
        if len(self._pending) >= self.chunk:
            self._write()

    def _write(self) -> None:
        import numpy as np

        recs, self._pending = self._pending, []
        if not recs:
            return
        fps = [r.fingerprint for r in recs]
        columns = (
            [(r.item_id, r.text, r.labels, r.metadata, r.added_at, r.links, r.phrase) for r in recs],
            [fp.params for fp in fps],
            [fp.n_tokens for fp in fps],
            [len(fp) for fp in fps],
            np.concatenate([fp.hashes for fp in fps]),
            np.concatenate([fp.positions for fp in fps]),
        )
        pickle.dump(columns, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.n_chunks += 1

    def chunks(self) -> Iterator[list[ItemRecord]]:
        """The records kept, in input order, one chunk at a time (one empty chunk when none was kept: the
        call still creates its bank)."""
        from ..fingerprints.fingerprint import Fingerprint
        from ..store import ItemRecord

        self._write()
        self._file.seek(0)
        if not self.n_chunks:
            yield []
        for _ in range(self.n_chunks):
            rows, params, n_tokens, lengths, hashes, positions = pickle.load(self._file)
            out = []
            end = 0
            for row, p, n, length in zip(rows, params, n_tokens, lengths, strict=True):
                start, end = end, end + length
                fp = Fingerprint(p, hashes[start:end], positions[start:end], n)
                out.append(ItemRecord(row[0], fp, *row[1:]))
            yield out


def held_fingerprints(store: Store, bank: str, ids: set[str]) -> dict[str, bytes]:
    """A digest of the fingerprint ``bank`` holds for each of ``ids`` it holds, read once for every chunk
    of a call (empty for a new bank).  Only those ids are looked up: adding one item to a bank of 100,000
    reads one row, not the bank's 100,000 fingerprints."""
    try:
        return {item_id: _digest(fp) for item_id, fp in store.fingerprints_of(bank, ids).items()}
    except UnknownBankError:  # a new bank holds nothing
        return {}


def _digest(fingerprint: str) -> bytes:
    return hashlib.blake2b(fingerprint.encode(), digest_size=16).digest()


def _sort_existing(
    store: Store, args: argparse.Namespace, items: list[ItemRecord], held: dict[str, bytes]
) -> tuple[list[ItemRecord], int, list[str]]:
    """With --skip-existing or --replace (``held``: ``held_fingerprints``): the items to store, how many the
    bank holds unchanged, and the ids it holds with other content (in input order).

    Unchanged (same fingerprint and text; labels and metadata are not compared) are left out with
    --skip-existing; changed are left out unless --replace.  Runs before ``Store.add_items``, so a skipped
    item costs no version linking and no write.  Without either option an id the bank holds is an error.
    """
    if not (args.skip_existing or args.replace) or not held:
        return items, 0, []
    unchanged: set[str] = set()
    changed: list[str] = []
    for rec in items:
        if rec.item_id not in held:
            continue
        same = held[rec.item_id] == _digest(str(rec.fingerprint))
        if same and store.text(args.bank, rec.item_id) == rec.text:
            unchanged.add(rec.item_id)
        else:
            changed.append(rec.item_id)
    drop = set(unchanged) if args.skip_existing else set()
    if not args.replace:
        drop.update(changed)
    return [r for r in items if r.item_id not in drop], len(unchanged), changed


@dataclasses.dataclass
class Stored:
    """What storing the chunks of one call did: items stored (and how many as phrases), items the bank
    held unchanged, ids it held with other content."""

    n: int = 0
    phrases: int = 0
    unchanged: int = 0
    changed: list[str] = dataclasses.field(default_factory=list)


def _store_items(
    store: Store, args: argparse.Namespace, spill: Spill, ids: set[str], params: FingerprintParams
) -> Stored:
    """Store the records of ``spill`` chunk by chunk (``Store.add_item_chunks``: each chunk committed in a
    transaction of its own, linked as one call would link them), after leaving out what --skip-existing
    and --replace leave out.  On an error after some chunks were committed, says on stderr how many items
    are stored and how to add the rest."""
    held = held_fingerprints(store, args.bank, ids)
    if held and not (args.skip_existing or args.replace):  # refused before any chunk is stored
        first = next(r.item_id for chunk in spill.chunks() for r in chunk if r.item_id in held)
        raise _already_held(DuplicateItemError(args.bank, first))
    out = Stored()

    def chunks() -> Iterator[list[ItemRecord]]:
        for chunk in progress(spill.chunks(), spill.n_chunks, "storing"):
            to_store, unchanged, changed = _sort_existing(store, args, chunk, held)
            out.unchanged += unchanged
            out.changed += changed
            yield to_store
            out.phrases += sum(1 for r in to_store if r.phrase is not None)

    # the linking index of a large call keeps its postings in a file (``banks.linking``)
    store.linker.bulk_postings = spill.n_fingerprints
    try:
        for n in store.add_item_chunks(args.bank, chunks(), replace=args.replace, create=params):
            out.n += n
    except CopytraceError as exc:
        if out.n:
            error(
                f"{out.n:,} item(s) of this call were stored in {args.bank!r} before this error, in "
                f"transactions of {spill.chunk:,} items: give the same input again with --skip-existing "
                "to store the rest"
            )
        if isinstance(exc, DuplicateItemError):
            raise _already_held(exc) from exc
        raise
    finally:
        store.linker.bulk_postings = 0
    if not out.n:
        out.phrases = 0
    return out


def _already_held(exc: DuplicateItemError) -> InputError:
    return InputError(
        f"item {exc.item_id!r} is already in bank {exc.bank!r}: add --skip-existing to skip the items "
        "the bank holds unchanged, --replace to replace them, or remove it first"
    )


def _summary(
    args: argparse.Namespace, out: dict[str, object], unchanged: int, changed: list[str]
) -> dict[str, object]:
    """The output object; with --skip-existing or --replace, with the "unchanged" and "changed" counts."""
    if args.skip_existing or args.replace:
        out.update(unchanged=unchanged, changed=len(changed))
    return out


def _report_existing(args: argparse.Namespace, n: int, unchanged: int, changed: list[str]) -> bool:
    """Say on stderr what happened to the items the bank held; True if changed ones were left out."""
    left_out = bool(changed) and not args.replace
    if left_out:
        for item_id in changed[:MAX_CHANGED_NOTES]:
            error(
                f"item {item_id!r} is in bank {args.bank!r} with another fingerprint or text: not stored "
                "(add --replace to replace it)"
            )
        if len(changed) > MAX_CHANGED_NOTES:
            error(f"and {len(changed) - MAX_CHANGED_NOTES} more changed item(s): not stored")
    if args.skip_existing and (unchanged or changed):
        fate = "not stored" if left_out else "replaced"
        what = f"{unchanged} unchanged, skipped" + (f"; {len(changed)} changed, {fate}" if changed else "")
        note(f"stored {n} item(s) in {args.bank!r}; {what}")
    return left_out


FINGERPRINT_BLOCK = 512
"""Records of a JSON Lines file whose texts are fingerprinted together (``fingerprint_many``)."""


def _jsonl_records(
    args: argparse.Namespace,
    key: Key | None,
    labels: list[str],
    seen: set[str],
    bad: Callable[[str, CopytraceError], None],
    phrase_bank: bool,
) -> Iterator[ItemRecord]:
    """The records of ``args.jsonl``, checked and fingerprinted, in order; each bad one given to ``bad``
    (which raises, unless --skip-bad).  The texts of ``FINGERPRINT_BLOCK`` records are fingerprinted in one
    call: the same fingerprints as one by one, in a fraction of the time."""
    source = args.jsonl
    fh = sys.stdin.buffer if source == "-" else _open_list(source)
    with fh:
        blocks = progress_bytes(_line_blocks(fh), _size(fh), "fingerprinting")  # advances once a block
        block: list[Record | RecordError] = []
        for rec in iter_records(_block_lines(blocks), source=source):
            block.append(rec)
            if len(block) >= FINGERPRINT_BLOCK:
                yield from _block_records(args, key, labels, seen, bad, phrase_bank, block)
                block = []
        yield from _block_records(args, key, labels, seen, bad, phrase_bank, block)


def _line_blocks(fh: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """The bytes of ``fh`` in blocks of whole lines, about ``size`` bytes each (a longer line is a block of
    its own; the last line may lack its newline), as soon as they can be read from a pipe."""
    read = getattr(fh, "read1", fh.read)
    held: list[bytes] = []
    while data := read(size):
        cut = data.rfind(b"\n") + 1
        if not cut:
            held.append(data)
            continue
        held.append(data[:cut])
        yield b"".join(held)
        held = [data[cut:]] if cut < len(data) else []
    tail = b"".join(held)
    if tail:
        yield tail


def _block_lines(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of blocks of ``_line_blocks``, without their newlines."""
    for data in blocks:
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        yield from lines


def _block_fingerprints(texts: list[str], key: Key | None) -> list[Fingerprint] | None:
    """``fingerprint(text, key=key, allow_short=True)`` of each of ``texts``, made together; None when one
    of them is refused (each is then fingerprinted alone, to say which)."""
    from ..fingerprints.batch import fingerprint_many

    if not texts:
        return []
    try:
        batch, _ = fingerprint_many(texts, key=key, allow_short=True)
    except CopytraceError:
        return None
    return list(batch)


def _block_records(
    args: argparse.Namespace,
    key: Key | None,
    labels: list[str],
    seen: set[str],
    bad: Callable[[str, CopytraceError], None],
    phrase_bank: bool,
    block: list[Record | RecordError],
) -> Iterator[ItemRecord]:
    from ..fingerprints.fingerprint import Fingerprint, FingerprintParams, fingerprint
    from ..index.phrase_rules import item_phrase
    from ..phrases import PhraseFingerprint, looks_like_phrase_fingerprint
    from ..store import ItemRecord

    source = args.jsonl
    texts = [
        r.text for r in block if not isinstance(r, RecordError) and r.text is not None and r.text.strip()
    ]
    made = _block_fingerprints(texts, key)
    made_fps = iter(made or ())
    for rec in block:
        if isinstance(rec, RecordError):
            bad(str(rec), rec)
            continue
        phrase: PhraseFingerprint | None = None
        try:
            if rec.text is not None:
                if not rec.text.strip():
                    raise InputError("empty text")
                fp = next(made_fps) if made is not None else fingerprint(rec.text, key=key, allow_short=True)
                phrase = item_phrase(rec.text, fp, key=key, phrase_bank=phrase_bank)
            elif looks_like_phrase_fingerprint(rec.fingerprint or ""):
                phrase = PhraseFingerprint.parse(rec.fingerprint or "")
                fp = Fingerprint.parse(f"{FingerprintParams(key_id=phrase.params.key_id)}:AAA")
            else:
                fp = Fingerprint.parse(rec.fingerprint or "")
        except CopytraceError as exc:
            bad(f"{source}:{rec.line}: {exc}", RecordError(source, rec.line, str(exc)))
            continue
        if rec.id in seen:
            bad(
                f"{source}:{rec.line}: item id {rec.id!r} given twice in this call",
                RecordError(source, rec.line, f"item id {rec.id!r} given twice in this call"),
            )
            continue
        problem = item_id_problem(rec.id)
        if problem is not None:
            reason = f"bad item id {rec.id!r}: {problem}"
            bad(f"{source}:{rec.line}: {reason}", RecordError(source, rec.line, reason))
            continue
        seen.add(rec.id)
        text = None if args.fingerprint_only else rec.text
        yield ItemRecord(rec.id, fp, text, labels + rec.labels, rec.metadata, phrase=phrase)


def _size(fh: BinaryIO) -> int | None:
    """The size of a regular file, for a progress bar's total; None for a pipe or a terminal."""
    try:
        info = os.fstat(fh.fileno())
    except (OSError, ValueError):  # no file descriptor (io.UnsupportedOperation is both)
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


EXPORT_EPILOG = """example:
  copytrace bank export news > news.ctl.jsonl
  copytrace bank export shared --source acme-trust-safety --out shared.jsonl

The list holds fingerprints, labels and times — never the texts.  Format: docs/formats.md.
"""

IMPORT_EPILOG = """example:
  copytrace bank import partner-list partner.ctl.jsonl
  copytrace bank import consortium shared.jsonl --key-file consortium.key
  copytrace bank import partner-list partner-2.ctl.jsonl --skip-existing --replace   # an updated list

A list made with another algorithm version or another key is refused.  Every record is read and checked
before anything is stored; a bad line stops the import and stores nothing, unless --skip-bad (as for 'bank
add': the rest is stored and the status is 2).  The records are then stored in chunks of 5,000, each in a
transaction of its own, as 'bank add' stores them.  --skip-existing and --replace work as for 'bank add' (a
record has no text: it is unchanged when the bank holds the same fingerprint and no text).
"""


def register_exchange(bsub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ex = bsub.add_parser(
        "export",
        help="write a bank as a fingerprint list (no text)",
        epilog=EXPORT_EPILOG,
        description="Write BANK as a fingerprint list: JSON Lines, a header then one record per item. The "
        "fingerprints are written as stored, so no key is needed: a keyed bank gives a keyed list.",
        formatter_class=HelpFormatter,
    )
    ex.add_argument("bank", metavar="BANK")
    ex.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    ex.add_argument("--source", metavar="NAME", help="who the list comes from (default: the bank name)")
    add_common_options(ex, key=False, max_size=False)
    ex.set_defaults(run=run_export)

    im = bsub.add_parser(
        "import",
        help="add the items of a fingerprint list to a bank",
        epilog=IMPORT_EPILOG,
        description="Add every record of a fingerprint list to BANK (created with the list's parameters).",
        formatter_class=HelpFormatter,
    )
    im.add_argument("bank", metavar="BANK")
    im.add_argument("file", metavar="FILE|-", help="the list, or - for standard input")
    _add_existing_options(im)
    im.add_argument("--skip-bad", action="store_true", help="report bad records and store the rest")
    add_common_options(im, max_size=False)
    im.set_defaults(run=run_import)


def run_export(args: argparse.Namespace) -> int:
    from ..fingerprints.exchange import ListRecord, write_list

    store = open_store(args)
    info = store.bank(args.bank)
    source = args.source or args.bank
    records = (
        ListRecord(r.item_id, r.fingerprint, r.labels, source, r.added_at, phrase=r.phrase)
        for r in store.iter_items(args.bank)
    )
    if args.out:
        tmp = Path(args.out + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            n = write_list(fh, info.params, records, count=info.n_items, source=source)
        tmp.replace(args.out)
    else:
        n = write_list(sys.stdout, info.params, records, count=info.n_items, source=source)
    note(f"exported {n} item(s) of {args.bank!r} ({info.params})")
    return Exit.OK


def run_import(args: argparse.Namespace) -> int:
    from ..fingerprints.exchange import read_list
    from ..store import ItemRecord

    key = load_key(args)
    key_id = (key or PUBLIC_KEY).key_id
    fh = sys.stdin.buffer if args.file == "-" else _open_list(args.file)
    skipped: list[str] = []
    check_bank_name(args.bank)
    with fh:
        header, records = read_list(fh, source=args.file, key_id=key_id)
        store = open_store(args, create=True)
        _check_bank_params(store, args.bank, header.params)

        with Spill() as spill:
            ids: set[str] = set()
            for rec in _each(progress(_groups(records), _n_groups(header.count), "importing")):
                problem = None if isinstance(rec, RecordError) else item_id_problem(rec.id)
                if problem is not None and not isinstance(rec, RecordError):
                    rec = RecordError(args.file, rec.line, f"bad item id {rec.id!r}: {problem}")
                if isinstance(rec, RecordError):
                    if not args.skip_bad:
                        raise rec
                    error(str(rec))
                    skipped.append(str(rec))
                    continue
                if rec.id in ids:  # refused before any chunk is stored, as the store refuses it
                    raise _already_held(DuplicateItemError(args.bank, rec.id))
                ids.add(rec.id)
                meta = {"source": rec.source} if rec.source else {}
                spill.add(ItemRecord(rec.id, rec.fingerprint, None, rec.labels, meta, phrase=rec.phrase))
            stored = _store_items(store, args, spill, ids, header.params)
    out: dict[str, object] = {"bank": args.bank, "imported": stored.n, "skipped": len(skipped)}
    if stored.phrases:
        out["phrases"] = stored.phrases
    print(to_json(_summary(args, out, stored.unchanged, stored.changed)))
    left_out = _report_existing(args, stored.n, stored.unchanged, stored.changed)
    _report_skipped(skipped, stored.n, args.bank)
    return Exit.ERROR if skipped or left_out else Exit.OK


PROGRESS_GROUP = 512
"""Records of a list that advance the progress bar of ``bank import`` by one."""


def _groups(items: Iterable[T]) -> Iterator[list[T]]:
    """``items`` in lists of ``PROGRESS_GROUP``: a progress bar advanced once a group costs nothing per
    record (rich's ``advance`` costs about 30 us, even with the bar hidden)."""
    group: list[T] = []
    for item in items:
        group.append(item)
        if len(group) >= PROGRESS_GROUP:
            yield group
            group = []
    if group:
        yield group


def _n_groups(count: int | None) -> int | None:
    return None if count is None else -(-count // PROGRESS_GROUP)


def _each(groups: Iterable[list[T]]) -> Iterator[T]:
    for group in groups:
        yield from group


def _open_list(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
