"""The FastAPI application: wiring, error responses, ``/health``, ``/metrics`` and the review page.

Every error is JSON ``{"error": message}``: 401/403 for keys, 404 for an unknown bank or item, 409 for a
duplicate, 413 for a text over the limit, 422 for a malformed body (the message names the field), 503
while the store is unreachable or the index is still loading.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..banks import IndexNotReadyError, LiveIndex, Store
from ..errors import (
    BankExistsError,
    CopytraceError,
    DuplicateItemError,
    FingerprintFormatError,
    InputError,
    KeyFormatError,
    ParameterMismatchError,
    StoreError,
    UnknownBankError,
    UnknownItemError,
)
from ..fingerprints.keys import PUBLIC_KEY, Key
from ..store.api_keys import ApiKey, UnknownKeyError
from . import api, auth
from .auth import KeyCache
from .config import ServiceConfig
from .context import ServiceContext
from .limits import BodyLimit
from .metrics import Metrics
from .security import SecurityHeaders, add_local_docs, html_page

log = logging.getLogger("copytrace.service")

_STATUS: list[tuple[type[Exception], int]] = [
    (UnknownBankError, 404),
    (UnknownItemError, 404),
    (UnknownKeyError, 404),
    (DuplicateItemError, 409),
    (BankExistsError, 409),
    (ParameterMismatchError, 409),
    (IndexNotReadyError, 503),
    (InputError, 422),
    (FingerprintFormatError, 422),
    (KeyFormatError, 422),
    (StoreError, 422),
    (CopytraceError, 400),
]


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CopytraceError)
    async def copytrace_error(_: Request, exc: CopytraceError) -> JSONResponse:
        status = next(code for cls, code in _STATUS if isinstance(exc, cls))
        return _error(status, exc.message("http"))

    @app.exception_handler(SQLAlchemyError)
    async def store_down(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        log.warning("store error: %s", first)
        return _error(503, f"store unavailable: {first}")

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                at = e.get("loc", ("body", "?"))[-1]
                reason = (e.get("ctx") or {}).get("error", "")
                details.append({"field": "body", "message": f"malformed JSON at character {at}: {reason}"})
            else:
                msg = str(e.get("msg", "")).removeprefix("Value error, ")
                details.append({"field": _field(e.get("loc", ())), "message": msg})
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return _error(422, message, detail=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # FastAPI's word for bad bytes
            return _error(422, _unparsable(exc.__cause__))
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(UnicodeError)
    async def not_unicode(_: Request, exc: UnicodeError) -> JSONResponse:
        return _error(
            422, f"not valid Unicode text ({exc.__class__.__name__}): send UTF-8 without lone surrogates"
        )

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:  # a bug: still one line of JSON
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error ({exc.__class__.__name__}); the service log has the details")


def _unparsable(cause: BaseException | None) -> str:
    """The 422 message for a body FastAPI could not decode as JSON."""
    if isinstance(cause, RecursionError):
        return "body: malformed JSON (nested too deeply)"
    if isinstance(cause, UnicodeError):
        return "body: malformed JSON (not UTF-8 text)"
    return f"body: malformed JSON ({cause.__class__.__name__ if cause else 'unreadable'})"


class _RequestMetrics:
    """ASGI middleware counting requests by route template and status, and timing them."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], name, str(status)).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - started)


class _JsonBodies:
    """ASGI middleware: every ``/v1`` body is JSON, whatever Content-Type the client sent (``curl -d``
    sends a form type), so a body is never silently read as something else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = [(n, v) for n, v in scope["headers"] if n != b"content-type"]
            scope["headers"] = [*headers, (b"content-type", b"application/json")]  # in place: outer
            # middleware reads the route the router records in this same scope
        await self.app(scope, receive, send)


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    """The service for ``config`` (default: from the environment, as each uvicorn worker reads it)."""
    cfg = config or ServiceConfig.from_env()
    key = Key.from_file(cfg.key_file) if cfg.key_file else PUBLIC_KEY
    metrics = Metrics(public=cfg.public_metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(cfg.db)
        live = LiveIndex(store, key, poll_seconds=cfg.poll_seconds, snapshot_dir=cfg.snapshot_dir)
        app.state.ctx = ServiceContext(cfg, store, key, live, metrics)
        app.state.keys = KeyCache(store)
        live.start()
        # beside the index's load, not before serving: a store slow to answer must not hold the start
        app.state.keys_warm_up = threading.Thread(
            target=app.state.keys.warm_up, name="copytrace-keys-warm-up", daemon=True
        )
        app.state.keys_warm_up.start()
        try:
            yield
        finally:
            live.stop()
            store.close()

    app = FastAPI(
        title="copytrace",
        version=__version__,
        summary="Find copies of known text: banks, matching with evidence spans, reviews and audit.",
        lifespan=lifespan,
        docs_url=None,  # served from local files by add_local_docs, not from a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    _install_error_handlers(app)
    add_local_docs(app)
    app.include_router(api.router)

    @app.get("/health", tags=["service"])
    def health(request: Request) -> JSONResponse:
        """Liveness, readiness and freshness, without a key.

        ``"ok"`` (200): the store answers and the index holds every stored item.  ``"degraded"`` with 200:
        it serves, but some stored items are quarantined (they cannot be indexed; ``quarantine`` names
        them).  ``"degraded"`` with 503: the index lags the store for longer than the bound, or its
        follower failed and is starting again.  ``"starting"`` (503): still loading, or catching up with
        what the store held at start.  ``"store unavailable"`` (503).  ``problems`` says why in words.
        """
        ctx: ServiceContext = request.app.state.ctx
        state = ctx.live.state()
        now = time.time()
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "index": {"ready": state.ready, "items": state.items, "fingerprints": state.fingerprints},
            "generation": {"index": state.generation, "store": None},
            "lag": {
                "generations": None,
                "seconds_since_sync": None if state.last_sync is None else round(now - state.last_sync, 3),
                "bound_seconds": state.max_lag_seconds,
            },
            "follower": {"restarts": state.restarts, "failure": state.failure},
            "quarantine": {
                "items": state.quarantined,
                "listed": [{"bank": q.bank, "id": q.item_id, "reason": q.reason} for q in state.quarantine],
            },
        }
        unavailable = {"Retry-After": "1"}
        try:
            current = ctx.store.generation()
        except SQLAlchemyError as exc:
            body["status"] = "store unavailable"
            body["error"] = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            return JSONResponse(body, status_code=503, headers=unavailable)
        body["generation"]["store"] = current
        body["lag"]["generations"] = max(0, current - state.generation)
        if not state.ready:
            body["status"] = "starting"
            if state.error:
                body["error"] = state.error
            return JSONResponse(body, status_code=503, headers=unavailable)
        problems: list[str] = []
        code = 200
        if state.failure:
            problems.append(f"index follower failed ({state.failure}); it is starting again")
            code = 503
        if state.lagging(current, now):
            problems.append(
                f"index is {current - state.generation} generation(s) behind the store for over "
                f"{state.max_lag_seconds:g} s"
            )
            code = 503
        if state.quarantined:
            problems.append(f"{state.quarantined} stored item(s) quarantined: they cannot be indexed")
        if problems:
            body["status"] = "degraded"
            body["problems"] = problems
        return JSONResponse(body, status_code=code, headers=unavailable if code == 503 else None)

    def scrape(request: Request) -> Response:
        ctx: ServiceContext = request.app.state.ctx
        return Response(ctx.metrics.render(ctx.live), media_type="text/plain; version=0.0.4; charset=utf-8")

    if cfg.public_metrics:

        @app.get("/metrics", tags=["service"], response_class=Response)
        def public_metrics(request: Request) -> Response:
            """Prometheus text format, without a key: requests, latency, queries, matches (not by bank),
            index size and lag."""
            return scrape(request)

    else:

        @app.get("/metrics", tags=["service"], response_class=Response)
        def prometheus(request: Request, _: Annotated[ApiKey, Depends(auth.reader)]) -> Response:
            """Prometheus text format, with any key: requests, latency, queries, matches by bank, index
            size and lag."""
            return scrape(request)

    page = resources.files("copytrace.service").joinpath("static/review.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def review_page() -> HTMLResponse:
        return html_page(page)

    icon = resources.files("copytrace.service").joinpath("static/favicon.svg").read_bytes()

    @app.get("/favicon.svg", include_in_schema=False)
    @app.get("/favicon.ico", include_in_schema=False)  # where browsers look when a page names no icon
    def favicon() -> Response:
        return Response(icon, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    single = 8 * cfg.max_text_bytes + 65536  # JSON may escape each character as \\uXXXX

    def limit_for(path: str) -> int | None:
        if path.endswith(":bulk"):
            return None  # streamed: each line is limited instead
        if path.endswith(":batch"):
            return max(single, 64 << 20)
        return single

    app.add_middleware(_JsonBodies)
    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(_RequestMetrics, metrics=metrics)
    app.add_middleware(SecurityHeaders)
    return app
