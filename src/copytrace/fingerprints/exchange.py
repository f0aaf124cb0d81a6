"""Fingerprint lists for exchange between organisations: JSON Lines with a header, no text.

The first line is a header naming the format and the fingerprint parameters (algorithm, normalisation, k,
window, key id); each further line is one item::

    {"format": "copytrace-fingerprint-list", "version": 1, "params": "ctw1:n1:k5:w4:public",
     "algorithm": 1, "normalisation": 1, "k": 5, "window": 4, "key_id": "public", "count": 2,
     "source": "news", "created_at": "2026-11-21T12:00:00+00:00"}
    {"id": "000", "fingerprint": "ctw1:n1:k5:w4:public:KmbP…", "labels": ["glorification"],
     "source": "news", "added_at": "2026-11-20T09:30:00+00:00"}

An item banked as a phrase (``copytrace.phrases``) carries its phrase fingerprint too, as ``"phrase":
"ctp1:p1:public:…"`` (made with the same key as the list's fingerprints); a reader of version 1 that does not
know phrases ignores the field.

``read_list`` refuses a list of another format version, algorithm or normalisation version, and one made
with a key other than the reader's, with a message naming both.  A header whose parameters do not parse
(``k0``, a window over 1024) or disagree with its own ``k``/``window``/... fields is a ``RecordError`` of line
1.  Records whose fingerprint does not parse (see ``Fingerprint.parse``) or whose parameters differ from the
header's are errors of their line: ``read_list`` never lets a malformed line escape as another exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from ..errors import CopytraceError, FingerprintFormatError, ParameterMismatchError, RecordError
from .fingerprint import Fingerprint, FingerprintParams
from .phrase import PhraseFingerprint
from .records import json_line

FORMAT = "copytrace-fingerprint-list"
VERSION = 1


@dataclass(frozen=True)
class ListRecord:
    id: str
    fingerprint: Fingerprint
    labels: list[str]
    source: str | None = None
    added_at: datetime | None = None
    line: int = 0
    phrase: PhraseFingerprint | None = None


@dataclass(frozen=True)
class ListHeader:
    params: FingerprintParams
    count: int | None
    source: str | None
    created_at: str | None


def write_list(
    out: IO[str],
    params: FingerprintParams,
    records: Iterable[ListRecord],
    *,
    count: int | None = None,
    source: str | None = None,
) -> int:
    """Write a header and one line per record; returns the number of records written."""
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "params": str(params),
        "algorithm": params.algorithm,
        "normalisation": params.normalisation,
        "k": params.k,
        "window": params.window,
        "key_id": params.key_id,
        "count": count,
        "source": source,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out.write(json.dumps(header) + "\n")
    n = 0
    for rec in records:
        row: dict[str, Any] = {"id": rec.id, "fingerprint": str(rec.fingerprint), "labels": rec.labels}
        if rec.source is not None:
            row["source"] = rec.source
        if rec.added_at is not None:
            row["added_at"] = rec.added_at.isoformat(timespec="seconds")
        if rec.phrase is not None:
            row["phrase"] = str(rec.phrase)
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def read_header(line: str, *, source: str, key_id: str) -> ListHeader:
    """Parse and check the header line against the reader's key id."""
    try:
        head = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordError(source, 1, f"malformed JSON in the header: {exc.msg}") from exc
    except (ValueError, RecursionError) as exc:  # a number too long, or arrays nested too deep
        raise RecordError(source, 1, f"unreadable JSON in the header: {exc}") from exc
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise CopytraceError(f"{source}: not a {FORMAT} (its first line must be the list header)")
    if head.get("version") != VERSION:
        raise CopytraceError(
            f"{source}: list format version {head.get('version')!r} is not supported (this copytrace reads "
            f"version {VERSION}): upgrade copytrace"
        )
    try:
        params = FingerprintParams.parse(str(head.get("params")))
    except FingerprintFormatError as exc:
        raise RecordError(source, 1, f"list header: {exc}") from exc
    for field in ("algorithm", "normalisation", "k", "window", "key_id"):
        if field in head and head[field] != getattr(params, field):
            raise RecordError(
                source,
                1,
                f"list header: {field} is {head[field]!r} but its params say {params} "
                f"({field} {getattr(params, field)!r})",
            )
    if params.key_id != key_id:
        hint = (
            "import it without a key"
            if params.key_id == "public"
            else "pass --key-file with the list's key: a keyed list is useless without it"
        )
        raise ParameterMismatchError(
            key_id,
            params.key_id,
            message=f"{source}: the list was made with key {params.key_id!r} and this import uses key "
            f"{key_id!r}: {hint}",
        )
    count, src, created = head.get("count"), head.get("source"), head.get("created_at")
    return ListHeader(
        params,
        count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None,
        src if isinstance(src, str) else None,
        created if isinstance(created, str) else None,
    )


def read_list(
    lines: Iterable[str | bytes], *, source: str, key_id: str
) -> tuple[ListHeader, Iterator[ListRecord | RecordError]]:
    """Read a list: its checked header, then each record or the ``RecordError`` of its line."""
    it = iter(lines)
    first = next(it, None)
    if first is None:
        raise CopytraceError(f"{source}: empty file, expected a {FORMAT}")
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    header = read_header(first, source=source, key_id=key_id)

    def records() -> Iterator[ListRecord | RecordError]:
        for number, raw in enumerate(it, start=2):
            line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            if not line.strip():
                continue
            try:
                obj = json_line(line, source, number)
            except RecordError as exc:
                yield exc
                continue
            try:
                yield _record(obj, header.params, number)
            except (ValueError, CopytraceError) as exc:
                yield RecordError(source, number, str(exc))

    return header, records()


def _record(obj: object, params: FingerprintParams, line: int) -> ListRecord:
    if not isinstance(obj, dict):
        raise ValueError("a record must be a JSON object")
    rid, fp, labels = obj.get("id"), obj.get("fingerprint"), obj.get("labels", [])
    if not isinstance(rid, str) or not rid:
        raise ValueError('"id" must be a non-empty string')
    if not isinstance(fp, str):
        raise ValueError('"fingerprint" must be a fingerprint string')
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError('"labels" must be a list of strings')
    fingerprint = Fingerprint.parse(fp)
    if fingerprint.params != params:
        raise ValueError(f"fingerprint made with {fingerprint.params}, the header says {params}")
    added = obj.get("added_at")
    source = obj.get("source")
    phrase = obj.get("phrase")
    if phrase is not None and not isinstance(phrase, str):
        raise ValueError('"phrase" must be a phrase fingerprint string')
    parsed = None if phrase is None else PhraseFingerprint.parse(phrase)
    if parsed is not None and parsed.params.key_id != params.key_id:
        raise ValueError(f"phrase made with key {parsed.params.key_id}, the header says {params.key_id}")
    return ListRecord(
        rid,
        fingerprint,
        labels,
        source if isinstance(source, str) else None,
        datetime.fromisoformat(added) if isinstance(added, str) else None,
        line,
        parsed,
    )
