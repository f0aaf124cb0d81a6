"""Request size limits: a body over its route's limit is refused with 413 before it is read whole."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large(what: str, size: int, limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"{what}: {size:,} bytes, over the limit of {limit:,} bytes"
    )


def check_text(field: str, text: str, limit: int) -> None:
    """413 when ``text`` is longer than ``limit`` bytes in UTF-8."""
    if len(text) * 4 > limit:  # cheap test first: only long texts are encoded
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise too_large(field, size, limit)


class BodyLimit:
    """ASGI middleware: ``limit_for(path)`` gives a route's body limit in bytes (None: unlimited)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int | None]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        if limit is None:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _refuse(send, f"request body: {int(value):,} bytes, over the limit of {limit:,} bytes")
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large("request body", received, limit)
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Send, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
