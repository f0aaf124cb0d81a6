"""``copytrace bank``: add items to banks, list banks, remove items, delete banks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import CopytraceError, InputError, ParameterMismatchError, RecordError
from ..exchange import ListRecord, read_list, write_list
from ..fingerprint import DEFAULT_K, DEFAULT_WINDOW, Fingerprint, FingerprintParams, fingerprint
from ..keys import PUBLIC_KEY, Key
from ..names import check_bank_name, item_id_problem
from ..records import iter_records
from ..store import ItemRecord, Store
from .common import (
    Exit,
    add_common_options,
    error,
    load_key,
    note,
    open_store,
    progress,
    read_input,
    shown,
    to_json,
)

ADD_EPILOG = """examples:
  copytrace bank add manifestos ./texts/           # every .txt below ./texts, id = relative path
  copytrace bank add news 000.txt 001.txt          # id = file name without extension
  copytrace bank add news --jsonl items.jsonl      # {"id", "text", "labels"?, "metadata"?} per line
  copytrace bank add shared --fingerprint-only --key-file consortium.key ./texts/

All items of one call are stored in one transaction: a bad input stops the call and stores nothing, unless
--skip-bad, which reports each bad input (JSON Lines: with its line number), stores the rest and exits 2.
Every input is fingerprinted before that transaction starts, so other writers wait only for the insert.
Bank names: 1-64 ASCII letters, digits, '_', '.', '-'; item ids: up to 512 printable characters (see
'copytrace.names').
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bank = sub.add_parser(
        "bank",
        help="manage banks of known text",
        description="Manage banks of known text.",
        epilog="example:\n  copytrace bank add news article.txt\n  copytrace bank list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bsub = bank.add_subparsers(
        dest="bank_command", metavar="{add,list,remove,delete,export,import}", required=True
    )

    add = bsub.add_parser(
        "add",
        help="add files or JSON Lines records as items",
        epilog=ADD_EPILOG,
        description="Add each file as an item of BANK (created if needed).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("bank", metavar="BANK")
    add.add_argument("paths", nargs="*", metavar="PATH", help="text file or directory (every .txt in it)")
    add.add_argument("--jsonl", metavar="FILE", help="JSON Lines records to add ('-' for standard input)")
    add.add_argument("--fingerprint-only", action="store_true", help="store fingerprints, not texts")
    add.add_argument("--replace", action="store_true", help="replace items whose id is already in the bank")
    add.add_argument("--skip-bad", action="store_true", help="report bad inputs and store the rest")
    add.add_argument("--labels", metavar="L1,L2", default="", help="labels for every item added")
    add_common_options(add)
    add.set_defaults(run=run_add)

    ls = bsub.add_parser(
        "list",
        help="list banks",
        description="List banks with their item counts and parameters.",
        epilog="example:\n  copytrace bank list\n  copytrace bank list --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ls.add_argument("--json", action="store_true", help="one JSON object per bank")
    add_common_options(ls, key=False)
    ls.set_defaults(run=run_list)

    rm = bsub.add_parser(
        "remove",
        help="remove an item from a bank",
        description="Remove one item from a bank.",
        epilog="example:\n  copytrace bank remove news 000_ea7438489bd31fbe",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rm.add_argument("bank", metavar="BANK")
    rm.add_argument("item_id", metavar="ITEM_ID")
    add_common_options(rm, key=False)
    rm.set_defaults(run=run_remove)

    dl = bsub.add_parser(
        "delete",
        help="delete a bank and all its items",
        description="Delete a bank and all its items.",
        epilog="example:\n  copytrace bank delete news --yes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dl.add_argument("bank", metavar="BANK")
    dl.add_argument("--yes", action="store_true", help="required: confirms the deletion")
    add_common_options(dl, key=False)
    dl.set_defaults(run=run_delete)
    register_exchange(bsub)


def _file_inputs(paths: list[str]) -> list[tuple[str, Path]]:
    """(item id, file) for each path; a directory contributes every .txt below it."""
    out: list[tuple[str, Path]] = []
    for arg in paths:
        p = Path(arg)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*.txt") if f.is_file())
            if not files:
                raise InputError(f"{arg}: directory has no .txt files")
            out.extend((f.relative_to(p).with_suffix("").as_posix(), f) for f in files)
        elif p.exists():
            out.append((p.with_suffix("").name, p))
        else:
            raise InputError(f"{arg}: no such file or directory")
    return out


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


def run_add(args: argparse.Namespace) -> int:
    if not args.paths and not args.jsonl:
        raise InputError("nothing to add: give files, directories or --jsonl FILE")
    check_bank_name(args.bank)
    key = load_key(args)
    params = FingerprintParams(k=DEFAULT_K, window=DEFAULT_WINDOW, key_id=(key or PUBLIC_KEY).key_id)
    files = _file_inputs(args.paths)
    store = open_store(args, create=True)
    _check_bank_params(store, args.bank, params)
    labels = [x for x in args.labels.split(",") if x]
    skipped: list[str] = []

    def bad(message: str, exc: CopytraceError) -> None:
        if not args.skip_bad:
            raise exc
        error(message)
        skipped.append(message)

    def records() -> Iterator[ItemRecord]:
        seen: set[str] = set()
        for item_id, path in progress(files, len(files), "fingerprinting"):
            try:
                text = read_input(str(path), args.max_size).text
                fp = fingerprint(text, key=key)
            except CopytraceError as exc:
                bad(str(exc) if str(path) in str(exc) else f"{path}: {exc}", exc)
                continue
            if item_id in seen:
                raise InputError(f"{path}: item id {item_id!r} given twice in this call")
            problem = item_id_problem(item_id)
            if problem is not None:
                message = f"{path}: bad item id {item_id!r}: {problem}"
                bad(message, InputError(message))
                continue
            seen.add(item_id)
            yield ItemRecord(item_id, fp, None if args.fingerprint_only else text, labels)
        if args.jsonl:
            yield from _jsonl_records(args, key, labels, seen, bad)

    items = list(records())  # fingerprint everything before the store's write transaction starts
    n = store.add_items(args.bank, items, replace=args.replace, create=params)
    print(to_json({"bank": args.bank, "added": n, "skipped": len(skipped)}))
    if skipped:
        note(f"stored {n} item(s) in {args.bank!r}; skipped {len(skipped)} bad input(s)")
        return Exit.ERROR
    return Exit.OK


def _jsonl_records(
    args: argparse.Namespace,
    key: Key | None,
    labels: list[str],
    seen: set[str],
    bad: Callable[[str, CopytraceError], None],
) -> Iterator[ItemRecord]:
    source = args.jsonl
    fh = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    with fh:
        for rec in progress(iter_records(fh, source=source), None, "fingerprinting"):
            if isinstance(rec, RecordError):
                bad(str(rec), rec)
                continue
            try:
                if rec.text is not None:
                    if not rec.text.strip():
                        raise InputError("empty text")
                    fp = fingerprint(rec.text, key=key)
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
            yield ItemRecord(rec.id, fp, text, labels + rec.labels, rec.metadata)


def run_list(args: argparse.Namespace) -> int:
    store = open_store(args)
    banks = store.banks()
    families = store.family_counts() if banks else {}
    for b in banks:
        if args.json:
            print(
                to_json(
                    {
                        "bank": b.name,
                        "items": b.n_items,
                        "families": families.get(b.name, 0),
                        "params": str(b.params),
                        "created_at": b.created_at.isoformat(),
                    }
                )
            )
        else:
            n_families = families.get(b.name, 0)
            kind = "family" if n_families == 1 else "families"
            print(f"{shown(b.name)}\t{b.n_items} item(s)\t{n_families} {kind}\t{b.params}")
    if not banks and not args.json:
        note("no banks yet: add one with 'copytrace bank add BANK PATH'")
    return Exit.OK


def run_remove(args: argparse.Namespace) -> int:
    open_store(args).remove_item(args.bank, args.item_id)
    print(to_json({"bank": args.bank, "removed": args.item_id}))
    return Exit.OK


def run_delete(args: argparse.Namespace) -> int:
    if not args.yes:
        raise InputError(f"deleting bank {args.bank!r} removes all its items: add --yes to confirm")
    n = open_store(args).delete_bank(args.bank)
    print(to_json({"bank": args.bank, "deleted_items": n}))
    return Exit.OK


EXPORT_EPILOG = """example:
  copytrace bank export news > news.ctl.jsonl
  copytrace bank export shared --key-file consortium.key --source acme-trust-safety --out shared.jsonl

The list holds fingerprints, labels and times — never the texts.  Format: docs/formats.md.
"""

IMPORT_EPILOG = """example:
  copytrace bank import partner-list partner.ctl.jsonl
  copytrace bank import consortium shared.jsonl --key-file consortium.key

A list made with another algorithm version or another key is refused.  All records of one call are stored
in one transaction; a bad line stops the import and stores nothing, unless --skip-bad.
"""


def register_exchange(bsub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ex = bsub.add_parser(
        "export",
        help="write a bank as a fingerprint list (no text)",
        epilog=EXPORT_EPILOG,
        description="Write BANK as a fingerprint list: JSON Lines, a header then one record per item.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("bank", metavar="BANK")
    ex.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    ex.add_argument("--source", metavar="NAME", help="who the list comes from (default: the bank name)")
    add_common_options(ex, key=False)
    ex.set_defaults(run=run_export)

    im = bsub.add_parser(
        "import",
        help="add the items of a fingerprint list to a bank",
        epilog=IMPORT_EPILOG,
        description="Add every record of a fingerprint list to BANK (created with the list's parameters).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    im.add_argument("bank", metavar="BANK")
    im.add_argument("file", metavar="FILE|-")
    im.add_argument("--replace", action="store_true", help="replace items whose id is already in the bank")
    im.add_argument("--skip-bad", action="store_true", help="report bad records and store the rest")
    add_common_options(im)
    im.set_defaults(run=run_import)


def run_export(args: argparse.Namespace) -> int:
    store = open_store(args)
    info = store.bank(args.bank)
    source = args.source or args.bank
    records = (
        ListRecord(r.item_id, r.fingerprint, r.labels, source, r.added_at)
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
    key = load_key(args)
    key_id = (key or PUBLIC_KEY).key_id
    fh = sys.stdin.buffer if args.file == "-" else _open_list(args.file)
    skipped: list[str] = []
    check_bank_name(args.bank)
    with fh:
        header, records = read_list(fh, source=args.file, key_id=key_id)
        store = open_store(args, create=True)
        _check_bank_params(store, args.bank, header.params)

        def items() -> Iterator[ItemRecord]:
            for rec in progress(records, header.count, "importing"):
                problem = None if isinstance(rec, RecordError) else item_id_problem(rec.id)
                if problem is not None and not isinstance(rec, RecordError):
                    rec = RecordError(args.file, rec.line, f"bad item id {rec.id!r}: {problem}")
                if isinstance(rec, RecordError):
                    if not args.skip_bad:
                        raise rec
                    error(str(rec))
                    skipped.append(str(rec))
                    continue
                meta = {"source": rec.source} if rec.source else {}
                yield ItemRecord(rec.id, rec.fingerprint, None, rec.labels, meta)

        n = store.add_items(args.bank, list(items()), replace=args.replace, create=header.params)
    print(to_json({"bank": args.bank, "imported": n, "skipped": len(skipped)}))
    return Exit.ERROR if skipped else Exit.OK


def _open_list(path: str):  # type: ignore[no-untyped-def]
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
