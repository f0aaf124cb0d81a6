"""``copytrace bank``: add items to banks, list banks, remove items, delete banks, export and import lists.

Short items (too short for the long-text evidence rule) are banked as phrases, and every item of a phrase
bank (``bank create BANK --phrases``) is: ``copytrace.phrases``, ``docs/phrases.md``.

Adding to a bank people keep adding to: ``--skip-existing`` leaves out the items whose id the bank holds with
the same fingerprint and text (before any version linking or write), and reports those it holds with other
content, which ``--replace`` replaces.

The fingerprinting library and the store are imported by the commands that use them, not to build the parser.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CopytraceError, InputError
from ..fingerprints.keys import PUBLIC_KEY
from ..names import check_bank_name, item_id_problem
from .bank_bulk import (
    Spill,
    _add_existing_options,
    _check_bank_params,
    _is_phrase_bank,
    _jsonl_records,
    _report_existing,
    _report_skipped,
    _store_items,
    _summary,
    register_exchange,
)
from .common import (
    Exit,
    HelpFormatter,
    add_common_options,
    error,
    load_key,
    note,
    open_store,
    progress,
    read_input,
    resume_collector,
    shown,
    to_json,
)

if TYPE_CHECKING:
    from ..store import ItemRecord

ADD_EPILOG = """examples:
  copytrace bank add manifestos ./texts/           # every .txt below ./texts, id = relative path
  copytrace bank add news 000.txt 001.txt          # id = file name without extension
  copytrace bank add news --jsonl items.jsonl      # {"id", "text", "labels"?, "metadata"?} per line
  copytrace bank add shared --fingerprint-only --key-file consortium.key ./texts/
  copytrace bank add manifestos ./texts/ --skip-existing    # again, after new files came in
  copytrace bank add slogans --jsonl slogans.jsonl   # short items are matched as phrases

An item too short for the long-text evidence rule (a slogan, a call to violence of a few words), and every
item of a phrase bank ('copytrace bank create BANK --phrases'), is banked as a phrase: found with its evasive
spellings (leet, split or glued letters, look-alikes); the output's "phrases" counts them.  An item with no
letter or digit at all is refused.

Every input is read, checked and fingerprinted before anything is stored: a bad input stops the call and
stores nothing, unless --skip-bad, which reports each bad input (JSON Lines: with its line number), stores
the rest and exits 2 with a closing line that counts them, as scan and cluster do after bad records: status
2 says that some input was not used.  The items are then linked and stored in chunks of 5,000, each in a
transaction of its own (memory holds one chunk, not the input; links and families are those of one call):
a call that dies midway keeps the chunks it committed, and the same input given again is refused (an id
the bank holds) or, with --skip-existing, stores the rest.
An id the bank holds already is an error, unless --skip-existing: an item whose fingerprint and text are
unchanged is skipped ("unchanged" in the output); one with other content is reported, not stored, and the
call exits 2 ("changed"), unless --replace too, which replaces it.  --replace alone replaces every item
whose id the bank holds (labels and metadata too).
Bank names: 1-64 ASCII letters, digits, '_', '.', '-'; item ids: up to 512 printable characters (see
'copytrace.names').
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bank = sub.add_parser(
        "bank",
        help="manage banks of known text",
        description="Manage banks of known text.",
        epilog="example:\n  copytrace bank add news article.txt\n  copytrace bank list",
        formatter_class=HelpFormatter,
    )
    bsub = bank.add_subparsers(dest="bank_command", metavar="COMMAND", required=True)

    add = bsub.add_parser(
        "add",
        help="add files or JSON Lines records as items",
        usage="%(prog)s [options] BANK (PATH [PATH ...] | --jsonl FILE)",
        epilog=ADD_EPILOG,
        description="Add each file (or each record of --jsonl FILE) as an item of BANK (created if needed). "
        "Give PATHs, --jsonl FILE, or both.",
        formatter_class=HelpFormatter,
    )
    add.add_argument("bank", metavar="BANK")
    add.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="text file or directory (every .txt in it); optional with --jsonl",
    )
    add.add_argument("--jsonl", metavar="FILE", help="JSON Lines records to add ('-' for standard input)")
    add.add_argument("--fingerprint-only", action="store_true", help="store fingerprints, not texts")
    _add_existing_options(add)
    add.add_argument("--skip-bad", action="store_true", help="report bad inputs and store the rest")
    add.add_argument("--labels", metavar="L1,L2", default="", help="labels for every item added")
    add_common_options(add)
    add.set_defaults(run=run_add, kernels=True, pause_gc=True)

    create = bsub.add_parser(
        "create",
        help="create an empty bank (--phrases: a phrase bank)",
        description="Create BANK, empty. With --phrases, every item added to it is matched as a phrase: "
        "found wherever its words occur, however they are spelled (docs/phrases.md).",
        epilog="example:\n  copytrace bank create slogans --phrases\n"
        "  copytrace bank add slogans slogans.txt",
        formatter_class=HelpFormatter,
    )
    create.add_argument("bank", metavar="BANK")
    create.add_argument(
        "--phrases", action="store_true", help="a phrase bank: match every item as a phrase, not as text"
    )
    add_common_options(create, max_size=False)
    create.set_defaults(run=run_create)

    ls = bsub.add_parser(
        "list",
        help="list banks",
        description="List banks with their item counts and parameters.",
        epilog="example:\n  copytrace bank list\n  copytrace bank list --json",
        formatter_class=HelpFormatter,
    )
    ls.add_argument("--json", action="store_true", help="one JSON object per bank")
    add_common_options(ls, key=False, max_size=False)
    ls.set_defaults(run=run_list)

    rm = bsub.add_parser(
        "remove",
        help="remove an item from a bank",
        description="Remove one item from a bank (and the store's cached indexes it makes stale).",
        epilog="example:\n  copytrace bank remove news 000_ea7438489bd31fbe",
        formatter_class=HelpFormatter,
    )
    rm.add_argument("bank", metavar="BANK")
    rm.add_argument("item_id", metavar="ITEM_ID")
    add_common_options(rm, key=False, max_size=False)
    rm.set_defaults(run=run_remove)

    dl = bsub.add_parser(
        "delete",
        help="delete a bank and all its items",
        description="Delete a bank, all its items and the store's cached indexes. An SQLite store's file "
        "keeps its size until 'copytrace store vacuum'.",
        epilog="example:\n  copytrace bank delete news --yes\n  copytrace store vacuum",
        formatter_class=HelpFormatter,
    )
    dl.add_argument("bank", metavar="BANK")
    dl.add_argument("--yes", action="store_true", help="required: confirms the deletion")
    add_common_options(dl, key=False, max_size=False)
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


def run_add(args: argparse.Namespace) -> int:
    from ..fingerprints.fingerprint import DEFAULT_K, DEFAULT_WINDOW, FingerprintParams, fingerprint
    from ..index.phrase_rules import item_phrase
    from ..store import ItemRecord

    if not args.paths and not args.jsonl:
        raise InputError("nothing to add: give files, directories or --jsonl FILE")
    check_bank_name(args.bank)
    key = load_key(args)
    params = FingerprintParams(k=DEFAULT_K, window=DEFAULT_WINDOW, key_id=(key or PUBLIC_KEY).key_id)
    files = _file_inputs(args.paths)
    store = open_store(args, create=True)
    _check_bank_params(store, args.bank, params)
    phrase_bank = _is_phrase_bank(store, args.bank)
    labels = [x for x in args.labels.split(",") if x]
    skipped: list[str] = []

    def bad(message: str, exc: CopytraceError) -> None:
        if not args.skip_bad:
            raise exc
        error(message)
        skipped.append(message)

    seen: set[str] = set()

    def records() -> Iterator[ItemRecord]:
        for n, (item_id, path) in enumerate(progress(files, len(files), "fingerprinting")):
            if n:  # more than one file: past start-up (``pause_collector``)
                resume_collector()
            try:
                text = read_input(str(path), args.max_size).text
                fp = fingerprint(text, key=key, allow_short=True)
                try:
                    phrase = item_phrase(text, fp, key=key, phrase_bank=phrase_bank)
                except InputError as exc:
                    raise InputError(f"{path}: {exc}") from exc
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
            yield ItemRecord(item_id, fp, None if args.fingerprint_only else text, labels, phrase=phrase)
        if args.jsonl:
            resume_collector()
            yield from _jsonl_records(args, key, labels, seen, bad, phrase_bank)

    with Spill() as spill:  # fingerprint everything before the store's first write transaction starts
        for rec in records():
            spill.add(rec)
        stored = _store_items(store, args, spill, seen, params)
    n, n_phrases = stored.n, stored.phrases
    out: dict[str, object] = {"bank": args.bank, "added": n, "skipped": len(skipped)}
    if n_phrases or phrase_bank:
        out["phrases"] = n_phrases
        if not phrase_bank:
            note(
                f"{n_phrases} item(s) too short for the long-text evidence rule were banked as phrases: "
                "they are found wherever their words occur, however spelled (docs/phrases.md)"
            )
    print(to_json(_summary(args, out, stored.unchanged, stored.changed)))
    left_out = _report_existing(args, n, stored.unchanged, stored.changed)
    _report_skipped(skipped, n, args.bank)
    return Exit.ERROR if skipped or left_out else Exit.OK


def run_create(args: argparse.Namespace) -> int:
    from ..fingerprints.fingerprint import FingerprintParams

    check_bank_name(args.bank)
    key = load_key(args)
    params = FingerprintParams(key_id=(key or PUBLIC_KEY).key_id)
    store = open_store(args, create=True)
    created = store.create_bank(args.bank, params, phrases=args.phrases)
    print(to_json({"bank": args.bank, "created": created, "phrases": args.phrases, "params": str(params)}))
    if not created:
        note(f"bank {args.bank!r} exists already, with these parameters")
    return Exit.OK


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
                        "phrases": b.phrases,
                    }
                )
            )
        else:
            n_families = families.get(b.name, 0)
            kind = "family" if n_families == 1 else "families"
            phrases = "\tphrase bank" if b.phrases else ""
            print(f"{shown(b.name)}\t{b.n_items} item(s)\t{n_families} {kind}\t{b.params}{phrases}")
    if not banks and not args.json:
        note("no banks yet: add one with 'copytrace bank add BANK PATH'")
    return Exit.OK


def run_remove(args: argparse.Namespace) -> int:
    store = open_store(args)
    store.remove_item(args.bank, args.item_id)
    store.prune_cache()
    print(to_json({"bank": args.bank, "removed": args.item_id}))
    return Exit.OK


def run_delete(args: argparse.Namespace) -> int:
    if not args.yes:
        raise InputError(f"deleting bank {args.bank!r} removes all its items: add --yes to confirm")
    n = open_store(args).delete_bank(args.bank)
    print(to_json({"bank": args.bank, "deleted_items": n}))
    note(
        f"deleted bank {args.bank!r} and the store's cached indexes; the store keeps the freed space for "
        "new items: give it back to the disk with 'copytrace store vacuum'"
    )
    return Exit.OK
