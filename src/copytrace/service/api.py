"""The ``/v1`` routes: banks and items, matching, fingerprints, reviews, API keys and the audit log."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..errors import BankExistsError, CopytraceError, FingerprintFormatError, RecordError, UnknownBankError
from ..fingerprints.fingerprint import Fingerprint, FingerprintParams, fingerprint
from ..fingerprints.records import iter_records
from ..index.match import Match
from ..index.phrase_rules import item_phrase
from ..phrases import PhraseFingerprint, looks_like_phrase_fingerprint
from ..store import ItemRecord
from ..store.api_keys import ApiKey, create_key, list_keys, revoke_key
from ..store.audit_log import audit_entries
from ..store.reviews import record_review, reviews_of
from . import auth
from .context import ServiceContext, actor, context
from .limits import check_text
from .schemas import BankIn, BatchIn, FingerprintIn, ItemIn, KeyIn, MatchIn, ReviewIn

router = APIRouter(prefix="/v1")

Ctx = Annotated[ServiceContext, Depends(context)]
Reader = Annotated[ApiKey, Depends(auth.reader)]
Writer = Annotated[ApiKey, Depends(auth.writer)]
Admin = Annotated[ApiKey, Depends(auth.admin)]

log = logging.getLogger("copytrace.service")

_BULK_BATCH = 1000  # lines stored in one transaction
_BULK_BATCH_BYTES = 16 << 20  # and at most this much of them held at once


# --------------------------------------------------------------------------------------------------- banks
@router.get("/banks", tags=["banks"])
def list_banks(ctx: Ctx, _: Reader) -> dict[str, Any]:
    return {
        "banks": [
            {
                "name": b.name,
                "params": str(b.params),
                "items": b.n_items,
                "created_at": b.created_at.isoformat(),
                "phrases": b.phrases,
            }
            for b in ctx.store.banks()
        ]
    }


@router.post("/banks", tags=["banks"], status_code=status.HTTP_201_CREATED)
def create_bank(body: BankIn, request: Request, ctx: Ctx, _: Writer) -> dict[str, Any]:
    if not ctx.store.create_bank(body.name, ctx.live.params, phrases=body.phrases, actor=actor(request)):
        raise BankExistsError(body.name)
    ctx.live.catch_up()
    return {"name": body.name, "params": str(ctx.live.params), "phrases": body.phrases}


@router.delete("/banks/{bank}", tags=["banks"])
def delete_bank(bank: str, request: Request, ctx: Ctx, _: Writer) -> dict[str, Any]:
    n = ctx.store.delete_bank(bank, actor=actor(request))
    ctx.live.catch_up()
    return {"deleted": bank, "items": n}


# --------------------------------------------------------------------------------------------------- items
def _item_record(ctx: ServiceContext, bank: str, body: ItemIn, phrase_bank: bool | None = None) -> ItemRecord:
    """The item to store: fingerprinted, and kept as a phrase when it is one (``copytrace.phrases``).
    ``phrase_bank`` says whether ``bank`` is a phrase bank (asked of the store when None)."""
    phrase: PhraseFingerprint | None = None
    if phrase_bank is None:
        phrase_bank = bank in ctx.store.phrase_banks()
    if body.text is not None:
        check_text("text", body.text, ctx.config.max_text_bytes)
        params = ctx.live.params
        fp = fingerprint(body.text, key=ctx.key, k=params.k, window=params.window, allow_short=True)
        phrase = item_phrase(body.text, fp, key=ctx.key, phrase_bank=phrase_bank)
    else:
        assert body.fingerprint is not None
        check_text("fingerprint", body.fingerprint, ctx.config.max_text_bytes)
        try:
            if looks_like_phrase_fingerprint(body.fingerprint):
                phrase = PhraseFingerprint.parse(body.fingerprint)
                fp = Fingerprint.parse(f"{FingerprintParams(key_id=phrase.params.key_id)}:AAA")
            else:
                fp = Fingerprint.parse(body.fingerprint)
        except (ValueError, OverflowError) as exc:  # FingerprintFormatError is the contract; be sure of it
            raise FingerprintFormatError(f"fingerprint: cannot be read ({exc})") from exc
    item_id = (
        body.id or "sha256:" + hashlib.sha256((body.text or body.fingerprint or "").encode()).hexdigest()[:24]
    )
    return ItemRecord(item_id, fp, body.text, list(body.labels), dict(body.metadata), phrase=phrase)


@router.post("/banks/{bank}/items", tags=["items"], status_code=status.HTTP_201_CREATED)
def add_item(
    bank: str, body: ItemIn, request: Request, ctx: Ctx, _: Writer, replace: bool = False
) -> dict[str, Any]:
    # an unknown bank is refused by ``add_items`` (404), which reads the bank's parameters to link the item:
    # not asked here first, in a statement of its own that read and parsed every bank's parameters
    record = _item_record(ctx, bank, body)
    ctx.store.add_items(bank, [record], replace=replace, actor=actor(request))
    ctx.live.catch_up()
    return {"id": record.item_id}


@router.post("/banks/{bank}/items:bulk", tags=["items"])
async def add_items_bulk(
    bank: str, request: Request, ctx: Ctx, _: Writer, replace: bool = False
) -> JSONResponse:
    """JSON Lines, one item per line (as ``POST /items``), streamed: every ``_BULK_BATCH`` lines are stored
    in one transaction.  A bad line is refused with its number and the rest go on; the answer says exactly
    which lines were stored (see ``BulkReport``).  A request that is mostly garbage is stopped (422), and so
    is one that meets a store gone down (503), both with the report of what was stored before."""
    who = actor(request)
    if bank not in await run_in_threadpool(ctx.store.bank_params):
        raise UnknownBankError(bank)
    report = BulkReport()
    batch: list[bytes | None] = []
    held = 0
    line_limit = 2 * ctx.config.max_text_bytes + 65536  # a line carries one text, JSON-escaped
    stop: tuple[int, str] | None = None
    async with aclosing(_lines(request, line_limit)) as lines:
        async for line in lines:
            batch.append(line)
            held += len(line or b"")
            if len(batch) >= _BULK_BATCH or held >= _BULK_BATCH_BYTES:
                stop = await run_in_threadpool(_store_lines, ctx, bank, batch, replace, who, report)
                batch, held = [], 0
                if stop is not None:
                    break  # the rest of the body is not read
        else:
            if batch:
                stop = await run_in_threadpool(_store_lines, ctx, bank, batch, replace, who, report)
    if report.added:
        await run_in_threadpool(ctx.live.catch_up)
    if stop is not None:
        code, message = stop
        return JSONResponse({"error": message, **report.to_dict()}, status_code=code)
    return JSONResponse(report.to_dict())


class BulkReport:
    """What happened to each line of an ``items:bulk`` body, in bounded memory.

    Every line read is stored, refused, or blank (skipped).  ``errors`` lists the first ``LISTED`` refusals
    with their reasons, ``errors_total`` counts all, and ``error_lines`` gives every refused line as
    inclusive ``[first, last]`` ranges (the first ``RANGES`` runs; ``error_lines_complete`` says whether that
    is all), so a client knows exactly which lines to send again.  A request is garbage, and stopped, when
    more than ``GARBAGE_MIN`` of its lines and over ``GARBAGE_RATE`` of them are malformed (refusals by the
    store, such as duplicates, do not count towards that)."""

    LISTED = 100
    RANGES = 10_000
    GARBAGE_MIN = 1000
    GARBAGE_RATE = 0.5

    def __init__(self) -> None:
        self.lines = 0
        self.added = 0
        self.errors: list[dict[str, Any]] = []
        self.errors_total = 0
        self.malformed = 0
        self.ranges: list[list[int]] = []
        self.ranges_complete = True

    def refuse(self, line: int, reason: str, *, malformed: bool) -> None:
        """Record a refused line; lines must come in ascending order."""
        self.errors_total += 1
        self.malformed += malformed
        if len(self.errors) < self.LISTED:
            self.errors.append({"line": line, "error": reason})
        if self.ranges and self.ranges[-1][1] == line - 1:
            self.ranges[-1][1] = line
        elif len(self.ranges) < self.RANGES:
            self.ranges.append([line, line])
        else:
            self.ranges_complete = False

    def garbage(self) -> bool:
        return self.malformed > self.GARBAGE_MIN and self.malformed > self.GARBAGE_RATE * self.lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "lines": self.lines,
            "errors": self.errors,
            "errors_total": self.errors_total,
            "error_lines": self.ranges,
            "error_lines_complete": self.ranges_complete,
        }


async def _lines(request: Request, limit: int) -> AsyncGenerator[bytes | None, None]:
    """The body's lines as they arrive; None for a line over ``limit`` bytes (never held whole).

    Each chunk is split once, so many short lines cost linear time."""
    pending: list[bytes] = []
    held = 0
    skipping = False
    async for chunk in request.stream():
        *complete, rest = chunk.split(b"\n")
        for part in complete:
            if skipping or held + len(part) > limit:
                yield None
            else:
                yield b"".join((*pending, part))
            pending, held, skipping = [], 0, False
        if skipping or held + len(rest) > limit:
            pending, held, skipping = [], 0, True
        elif rest:
            pending.append(rest)
            held += len(rest)
    if skipping:
        yield None
    elif held:
        last = b"".join(pending)
        if last.strip():
            yield last


def _parse_line(
    ctx: ServiceContext, bank: str, line: bytes | None, limit: int, phrase_bank: bool = False
) -> ItemRecord | str | None:
    """One line's item, or the reason it is refused (None: a blank line)."""
    if line is None:
        return f"line longer than {limit:,} bytes: not stored"
    try:
        parsed = next(iter_records([line], source="body"), None)
    except RecursionError:
        return "malformed JSON: nested too deeply"
    if parsed is None:  # a blank line
        return None
    if isinstance(parsed, RecordError):
        return parsed.reason
    try:
        body = ItemIn(
            id=parsed.id,
            text=parsed.text,
            fingerprint=parsed.fingerprint if parsed.text is None else None,
            labels=parsed.labels,
            metadata=parsed.metadata,
        )
        return _item_record(ctx, bank, body, phrase_bank)
    except (ValidationError, CopytraceError, HTTPException) as exc:  # each reported for its line
        return _reason(exc)


def _store_lines(
    ctx: ServiceContext,
    bank: str,
    lines: list[bytes | None],
    replace: bool,
    who: str,
    report: BulkReport,
) -> tuple[int, str] | None:
    """Parse and store one batch of lines into ``report``; returns ``(status, message)`` to stop the
    request (garbage, or the store gone), else None."""
    first = report.lines + 1
    limit = 2 * ctx.config.max_text_bytes + 65536
    try:
        phrase_bank = bank in ctx.store.phrase_banks()
    except SQLAlchemyError as exc:
        return status.HTTP_503_SERVICE_UNAVAILABLE, _store_down(exc, first)
    refused: list[tuple[int, str, bool]] = []
    good: list[tuple[int, ItemRecord]] = []
    for n, line in enumerate(lines, start=first):
        got = _parse_line(ctx, bank, line, limit, phrase_bank)
        if isinstance(got, str):
            refused.append((n, got, True))
        elif got is not None:
            good.append((n, got))
    stop: tuple[int, str] | None = None
    try:
        if good:
            report.added += ctx.store.add_items(bank, [r for _, r in good], replace=replace, actor=who)
    except (CopytraceError, IntegrityError, ValueError, OverflowError):
        # one of them is refused (a duplicate id, say): store them one by one to name it
        for at, (n, record) in enumerate(good):
            try:
                report.added += ctx.store.add_items(bank, [record], replace=replace, actor=who)
            except (CopytraceError, IntegrityError, ValueError, OverflowError) as exc:
                refused.append((n, _reason(exc), False))
            except SQLAlchemyError as exc:
                stop = (503, _store_down(exc, n))
                refused.extend((m, "not stored: the store is unavailable", False) for m, _ in good[at:])
                break
    except SQLAlchemyError as exc:
        stop = (503, _store_down(exc, first))
        refused.extend((n, "not stored: the store is unavailable", False) for n, _ in good)
    for n, reason, malformed in sorted(refused):
        report.refuse(n, reason, malformed=malformed)
    report.lines += len(lines)
    if stop is None and report.garbage():
        stop = (
            422,
            f"stopped after line {report.lines:,}: {report.malformed:,} of the lines so far are malformed; "
            "the lines after it were not read",
        )
    return stop


def _store_down(exc: SQLAlchemyError, line: int) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    log.warning("store error during items:bulk: %s", first)
    return f"store unavailable at line {line:,}: {first}; the lines from there on were not stored"


def _reason(exc: Exception) -> str:
    if isinstance(exc, CopytraceError):
        return exc.message("http")
    detail = getattr(exc, "detail", None)
    if isinstance(detail, str):
        return detail
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg'].removeprefix('Value error, ')}"
            for e in errors()
        )
    return str(exc)


@router.get("/banks/{bank}/items/{item_id:path}", tags=["items"])
def get_item(bank: str, item_id: str, ctx: Ctx, _: Reader) -> dict[str, Any]:
    return _item_out(ctx, bank, item_id)


@router.get("/item", tags=["items"])
def get_item_by_query(
    ctx: Ctx,
    _: Reader,
    bank: Annotated[str, Query(description="Bank name")],
    item_id: Annotated[str, Query(description="Item id")],
) -> dict[str, Any]:
    """As ``GET /banks/{bank}/items/{item_id}``, for names a URL path cannot carry: browsers and HTTP
    clients resolve a path segment ``.`` or ``..`` (even written ``%2e``) before sending it."""
    return _item_out(ctx, bank, item_id)


def _item_out(ctx: ServiceContext, bank: str, item_id: str) -> dict[str, Any]:
    item = ctx.store.get_item(bank, item_id)
    return {
        "bank": bank,
        "id": item.item_id,
        "text": item.text,
        "fingerprint": str(item.fingerprint),
        "labels": item.labels,
        "metadata": item.metadata,
        "added_at": item.added_at.isoformat() if item.added_at else None,
    }


@router.delete("/banks/{bank}/items/{item_id:path}", tags=["items"])
def delete_item(bank: str, item_id: str, request: Request, ctx: Ctx, _: Writer) -> dict[str, Any]:
    ctx.store.remove_item(bank, item_id, actor=actor(request))
    ctx.live.catch_up()
    return {"removed": item_id, "bank": bank}


# ------------------------------------------------------------------------------------------------ matching
def _check_banks(ctx: ServiceContext, banks: list[str] | None) -> None:
    if banks:
        known = ctx.store.bank_params()
        for b in banks:
            if b not in known:
                raise UnknownBankError(b)


def _reported(
    ctx: ServiceContext, found: list[Match], limit: int | None, min_score: float
) -> list[dict[str, Any]]:
    """The matches of one query as the API reports them (score floor, limit), counted in the metrics."""
    matches = [m for m in found if m.score >= min_score][:limit]
    ctx.metrics.queries.inc()
    for bank, n in Counter(m.bank for m in matches).items():
        ctx.metrics.matched(bank, n)
    return [m.to_dict() for m in matches]


# The two matching routes answer with a ready JSONResponse: FastAPI's generic encoding of a returned dict
# walks every value of every match again, which cost more than the matching for a batch.
@router.post("/match", tags=["matching"], response_model=None)
def match(body: MatchIn, ctx: Ctx, _: Reader) -> JSONResponse:
    check_text("text", body.text, ctx.config.max_text_bytes)
    _check_banks(ctx, body.banks)
    found = ctx.live.match(body.text, banks=body.banks, per_family=not body.all_versions)
    return JSONResponse({"matches": _reported(ctx, found, body.limit, body.min_score)})


@router.post("/match:batch", tags=["matching"], response_model=None)
def match_batch(body: BatchIn, ctx: Ctx, _: Reader) -> JSONResponse:
    if len(body.queries) > ctx.config.max_batch:
        return JSONResponse(
            {"error": f"queries: {len(body.queries)} queries, over the limit of {ctx.config.max_batch}"},
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        )
    for n, q in enumerate(body.queries):
        check_text(f"queries.{n}.text", q.text, ctx.config.max_text_bytes)
    _check_banks(ctx, body.banks)
    found = ctx.live.match_many(
        [q.text for q in body.queries],
        banks=body.banks,
        queries=[q.id for q in body.queries],
        per_family=not body.all_versions,
    )
    results = [
        {"id": q.id, "matches": _reported(ctx, matches, body.limit, body.min_score)}
        for q, matches in zip(body.queries, found, strict=True)
    ]
    return JSONResponse({"results": results})


@router.post("/fingerprint", tags=["matching"])
def make_fingerprint(body: FingerprintIn, ctx: Ctx, _: Reader) -> dict[str, Any]:
    check_text("text", body.text, ctx.config.max_text_bytes)
    fp = fingerprint(body.text, key=ctx.key, k=ctx.live.params.k, window=ctx.live.params.window)
    return {"fingerprint": str(fp), "fingerprints": len(fp), "tokens": fp.n_tokens}


# ------------------------------------------------------------------------------------------------- reviews
@router.post("/reviews", tags=["reviews"], status_code=status.HTTP_201_CREATED)
def add_review(body: ReviewIn, request: Request, ctx: Ctx, _: Reader) -> dict[str, Any]:
    if body.query is not None:
        check_text("query", body.query, ctx.config.max_text_bytes)
    ctx.store.get_item(body.bank, body.item_id)  # 404 for a bank or item that does not exist
    digest = (
        body.query_sha256 or hashlib.sha256((body.query or "").encode("utf-8", "surrogatepass")).hexdigest()
    )
    review = record_review(
        ctx.store,
        bank=body.bank,
        item_id=body.item_id,
        query_sha256=digest,
        decision=body.decision,
        note=body.note,
        score=body.score,
        actor=actor(request),
    )
    return review.to_dict()


@router.get("/reviews", tags=["reviews"])
def get_reviews(bank: str, item_id: str, ctx: Ctx, _: Reader) -> dict[str, Any]:
    return {"reviews": [r.to_dict() for r in reviews_of(ctx.store, bank, item_id)]}


# ---------------------------------------------------------------------------------------------- admin
@router.get("/keys", tags=["admin"])
def get_keys(ctx: Ctx, _: Admin) -> dict[str, Any]:
    return {"keys": [k.to_dict() for k in list_keys(ctx.store)]}


@router.post("/keys", tags=["admin"], status_code=status.HTTP_201_CREATED)
def post_key(body: KeyIn, request: Request, ctx: Ctx, _: Admin) -> dict[str, Any]:
    info, secret = create_key(ctx.store, body.name, body.role, actor=actor(request))
    return {**info.to_dict(), "key": secret}


@router.delete("/keys/{name}", tags=["admin"])
def delete_key(name: str, request: Request, ctx: Ctx, _: Admin) -> dict[str, Any]:
    revoked = revoke_key(ctx.store, name, actor=actor(request))
    keys: auth.KeyCache = request.app.state.keys
    keys.forget(name)  # at once here; other workers within their cache's ttl (docs/service.md)
    return revoked.to_dict()


@router.get("/audit", tags=["admin"])
def get_audit(
    ctx: Ctx,
    _: Admin,
    before: Annotated[int | None, Query(description="Entries older than this id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    entries = audit_entries(ctx.store, before=before, limit=limit)
    return {
        "entries": [e.to_dict() for e in entries],
        "next_before": entries[-1].id if len(entries) == limit else None,
    }
