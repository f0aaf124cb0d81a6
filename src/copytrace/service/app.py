"""The FastAPI application: wiring, error responses, ``/health``, ``/metrics`` and the review page.

Every error is JSON ``{"error": message}``: 401/403 for keys, 404 for an unknown bank or item, 409 for a
duplicate, 413 for a text over the limit, 422 for a malformed body (the message names the field), 503
while the store is unreachable or the index is still loading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import (
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
from ..keys import PUBLIC_KEY, Key
from ..store import Store
from ..store.api_keys import UnknownKeyError
from . import api
from .auth import KeyCache
from .config import ServiceConfig
from .context import ServiceContext
from .limits import BodyLimit
from .live_index import IndexNotReadyError, LiveIndex
from .metrics import Metrics

log = logging.getLogger("copytrace.service")

_STATUS: list[tuple[type[Exception], int]] = [
    (UnknownBankError, 404),
    (UnknownItemError, 404),
    (UnknownKeyError, 404),
    (DuplicateItemError, 409),
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
        return _error(status, str(exc))

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
                details.append({"field": _field(e.get("loc", ())), "message": e.get("msg", "")})
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return _error(422, message, detail=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # FastAPI's word for bad bytes
            return _error(422, "body: malformed JSON (not UTF-8 text)")
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


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
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(cfg.db)
        live = LiveIndex(store, key, poll_seconds=cfg.poll_seconds, snapshot_dir=cfg.snapshot_dir)
        app.state.ctx = ServiceContext(cfg, store, key, live, metrics)
        app.state.keys = KeyCache(store)
        live.start()
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
    )
    _install_error_handlers(app)
    app.include_router(api.router)

    @app.get("/health", tags=["service"])
    def health(request: Request) -> JSONResponse:
        """Liveness and freshness, without a key: 200 when the store answers and the index is loaded."""
        ctx: ServiceContext = request.app.state.ctx
        state = ctx.live.state()
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "index": {"ready": state.ready, "items": state.items, "fingerprints": state.fingerprints},
            "generation": {"index": state.generation, "store": None},
            "lag": {
                "generations": None,
                "seconds_since_sync": None
                if state.last_sync is None
                else round(time.time() - state.last_sync, 3),
            },
        }
        try:
            current = ctx.store.generation()
        except SQLAlchemyError as exc:
            body["status"] = "store unavailable"
            body["error"] = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        body["generation"]["store"] = current
        body["lag"]["generations"] = max(0, current - state.generation)
        if not state.ready:
            body["status"] = "starting"
            if state.error:
                body["error"] = state.error
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        return JSONResponse(body)

    @app.get("/metrics", tags=["service"], response_class=Response)
    def prometheus(request: Request) -> Response:
        """Prometheus text format: requests, latency, queries, matches, index size and lag."""
        ctx: ServiceContext = request.app.state.ctx
        return Response(ctx.metrics.render(ctx.live), media_type="text/plain; version=0.0.4; charset=utf-8")

    page = resources.files("copytrace.service").joinpath("static/review.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def review_page() -> HTMLResponse:
        return HTMLResponse(page)

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
    return app
