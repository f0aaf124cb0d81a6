"""The ``/v1`` routes: banks and items, matching, fingerprints, reviews, API keys and the audit log."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ..errors import CopytraceError, RecordError, UnknownBankError
from ..fingerprint import Fingerprint, fingerprint
from ..records import iter_records
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

_BULK_BATCH = 1000


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
            }
            for b in ctx.store.banks()
        ]
    }


@router.post("/banks", tags=["banks"], status_code=status.HTTP_201_CREATED)
def create_bank(body: BankIn, request: Request, ctx: Ctx, _: Writer) -> dict[str, Any]:
    if not ctx.store.create_bank(body.name, ctx.live.params, actor=actor(request)):
        return JSONResponse(  # type: ignore[return-value]
            {"error": f"bank {body.name!r} exists"}, status_code=status.HTTP_409_CONFLICT
        )
    ctx.live.catch_up()
    return {"name": body.name, "params": str(ctx.live.params)}


@router.delete("/banks/{bank}", tags=["banks"])
def delete_bank(bank: str, request: Request, ctx: Ctx, _: Writer) -> dict[str, Any]:
    n = ctx.store.delete_bank(bank, actor=actor(request))
    ctx.live.catch_up()
    return {"deleted": bank, "items": n}


# --------------------------------------------------------------------------------------------------- items
def _item_record(ctx: ServiceContext, bank: str, body: ItemIn) -> ItemRecord:
    if body.text is not None:
        check_text("text", body.text, ctx.config.max_text_bytes)
        fp = fingerprint(body.text, key=ctx.key, k=ctx.live.params.k, window=ctx.live.params.window)
    else:
        assert body.fingerprint is not None
        check_text("fingerprint", body.fingerprint, ctx.config.max_text_bytes)
        fp = Fingerprint.parse(body.fingerprint)
    item_id = (
        body.id or "sha256:" + hashlib.sha256((body.text or body.fingerprint or "").encode()).hexdigest()[:24]
    )
    return ItemRecord(item_id, fp, body.text, list(body.labels), dict(body.metadata))


@router.post("/banks/{bank}/items", tags=["items"], status_code=status.HTTP_201_CREATED)
def add_item(
    bank: str, body: ItemIn, request: Request, ctx: Ctx, _: Writer, replace: bool = False
) -> dict[str, Any]:
    if bank not in ctx.store.bank_params():
        raise UnknownBankError(bank)
    record = _item_record(ctx, bank, body)
    ctx.store.add_items(bank, [record], replace=replace, actor=actor(request))
    ctx.live.catch_up()
    return {"id": record.item_id}


@router.post("/banks/{bank}/items:bulk", tags=["items"])
async def add_items_bulk(
    bank: str, request: Request, ctx: Ctx, _: Writer, replace: bool = False
) -> dict[str, Any]:
    """JSON Lines, one item per line (as ``POST /items``), streamed: every ``_BULK_BATCH`` lines are stored
    in one transaction.  A bad line is reported with its number and the rest go on; ``added`` counts what
    is stored."""
    who = actor(request)
    if bank not in await run_in_threadpool(ctx.store.bank_params):
        raise UnknownBankError(bank)
    added = 0
    errors: list[dict[str, Any]] = []
    batch: list[bytes] = []
    first = 1
    line_no = 0
    line_limit = 2 * ctx.config.max_text_bytes + 65536  # a line carries one text, JSON-escaped
    async for line in _lines(request, line_limit):
        line_no += 1
        if line is None:
            errors.append({"line": line_no, "error": f"line longer than {line_limit:,} bytes: not stored"})
            line = b""  # keeps the numbering of the lines after it
        batch.append(line)
        if len(batch) >= _BULK_BATCH:
            added += await _store_batch(ctx, bank, batch, first, replace, who, errors)
            first, batch = line_no + 1, []
    if batch:
        added += await _store_batch(ctx, bank, batch, first, replace, who, errors)
    await run_in_threadpool(ctx.live.catch_up)
    errors.sort(key=lambda e: int(e["line"]))
    return {"added": added, "lines": line_no, "errors": errors}


async def _store_batch(
    ctx: ServiceContext,
    bank: str,
    lines: list[bytes],
    first: int,
    replace: bool,
    who: str,
    errors: list[dict[str, Any]],
) -> int:
    """Store one batch off the event loop; refused lines go to ``errors``; returns how many were stored."""
    added, refused = await run_in_threadpool(_store_lines, ctx, bank, lines, first, replace, who)
    errors.extend(refused)
    return added


async def _lines(request: Request, limit: int) -> AsyncIterator[bytes | None]:
    """The body's lines as they arrive; None for a line over ``limit`` bytes (never held whole)."""
    pending = b""
    skipping = False
    async for chunk in request.stream():
        pending += chunk
        while (nl := pending.find(b"\n")) >= 0:
            line, pending = pending[:nl], pending[nl + 1 :]
            yield None if skipping else line
            skipping = False
        if skipping or len(pending) > limit:
            skipping, pending = True, b""
    if skipping:
        yield None
    elif pending.strip():
        yield pending


def _store_lines(
    ctx: ServiceContext, bank: str, lines: list[bytes], first: int, replace: bool, who: str
) -> tuple[int, list[dict[str, Any]]]:
    """Parse and store one batch of lines; each bad line becomes an error, the good ones are stored."""
    errors: list[dict[str, Any]] = []
    good: list[tuple[int, ItemRecord]] = []
    for parsed in iter_records(lines, source="body"):
        if isinstance(parsed, RecordError):
            errors.append({"line": first + parsed.line - 1, "error": parsed.reason})
            continue
        try:
            body = ItemIn(
                id=parsed.id,
                text=parsed.text,
                fingerprint=parsed.fingerprint if parsed.text is None else None,
                labels=parsed.labels,
                metadata=parsed.metadata,
            )
            good.append((first + parsed.line - 1, _item_record(ctx, bank, body)))
        except (ValidationError, CopytraceError, HTTPException) as exc:  # each reported for its line
            errors.append({"line": first + parsed.line - 1, "error": _reason(exc)})
    if not good:
        return 0, errors
    try:
        return ctx.store.add_items(bank, [r for _, r in good], replace=replace, actor=who), errors
    except CopytraceError:
        pass  # one of them is refused (a duplicate id, say): store them one by one to name it
    added = 0
    for line, record in good:
        try:
            added += ctx.store.add_items(bank, [record], replace=replace, actor=who)
        except CopytraceError as exc:
            errors.append({"line": line, "error": str(exc)})
    errors.sort(key=lambda e: int(e["line"]))
    return added, errors


def _reason(exc: Exception) -> str:
    detail = getattr(exc, "detail", None)
    if isinstance(detail, str):
        return detail
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in errors())
    return str(exc)


@router.get("/banks/{bank}/items/{item_id:path}", tags=["items"])
def get_item(bank: str, item_id: str, ctx: Ctx, _: Reader) -> dict[str, Any]:
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


def _match(
    ctx: ServiceContext, text: str, banks: list[str] | None, limit: int | None, query: str | None
) -> list[dict[str, Any]]:
    matches = ctx.live.match(text, banks=banks, query=query)[:limit]
    ctx.metrics.queries.inc()
    for m in matches:
        ctx.metrics.matches.labels(m.bank).inc()
    return [m.to_dict() for m in matches]


# The two matching routes answer with a ready JSONResponse: FastAPI's generic encoding of a returned dict
# walks every value of every match again, which cost more than the matching for a batch.
@router.post("/match", tags=["matching"], response_model=None)
def match(body: MatchIn, ctx: Ctx, _: Reader) -> JSONResponse:
    check_text("text", body.text, ctx.config.max_text_bytes)
    _check_banks(ctx, body.banks)
    return JSONResponse({"matches": _match(ctx, body.text, body.banks, body.limit, None)})


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
    results = [
        {"id": q.id, "matches": _match(ctx, q.text, body.banks, body.limit, q.id)} for q in body.queries
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
    return revoke_key(ctx.store, name, actor=actor(request)).to_dict()


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
