"""Response headers that keep a browser from misusing the service's answers, and the API docs served locally.

Every response carries ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy:
no-referrer`` and a Content-Security-Policy.  JSON and text answers get ``default-src 'none'`` (nothing in
them may load or run).  An HTML page gets a policy that allows exactly its own inline ``<script>`` and
``<style>`` blocks by their SHA-256 (``page_csp``), scripts and styles from this origin, and requests to this
origin only: an item's text shown on the review page can never run as script, even if a bug put it into
markup.

``/docs`` is Swagger UI from the files the ``fastapi-offline`` package ships, served from here, so the docs
page loads nothing from a CDN.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import FastAPI, HTTPException, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

HEADERS: dict[str, str] = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}

_INLINE = re.compile(r"<(script|style)(\s[^>]*)?>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def page_csp(html: str) -> str:
    """The Content-Security-Policy for ``html``: its inline scripts and styles by hash, files from 'self'.

    >>> policy = page_csp("<style>p{}</style><script>go()</script>")
    >>> "script-src 'self' 'sha256-" in policy and "default-src 'none'" in policy
    True
    """
    scripts: list[str] = []
    styles: list[str] = []
    for kind, attributes, body in _INLINE.findall(html):
        if kind.lower() == "script" and "src=" not in (attributes or ""):
            scripts.append(_sha256(body))
        elif kind.lower() == "style":
            styles.append(_sha256(body))
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src 'self'", *scripts]),
            " ".join(["style-src 'self'", *styles]),
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response; a route's own CSP is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = {**HEADERS, "content-security-policy": API_CSP}
                headers += [(n.encode(), v.encode()) for n, v in extra.items() if n.encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def html_page(html: str) -> HTMLResponse:
    """An HTML response with the policy that lets exactly this page run."""
    return HTMLResponse(html, headers={"Content-Security-Policy": page_csp(html)})


_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


def add_local_docs(app: FastAPI, *, path: str = "/docs") -> None:
    """Serve Swagger UI at ``path`` with its script, style and icon from ``path/assets/`` (not a CDN)."""
    assert app.openapi_url is not None
    body = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - API",
        swagger_js_url=f"{path}/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{path}/assets/swagger-ui.css",
        swagger_favicon_url=f"{path}/assets/favicon.png",
        oauth2_redirect_url=None,
    ).body
    page = bytes(body).decode("utf-8")
    static = resources.files("fastapi_offline").joinpath("static")

    @app.get(path, include_in_schema=False)
    def docs() -> HTMLResponse:
        return html_page(page)

    @app.get(path + "/assets/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        if name not in _ASSETS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {name!r}")
        with resources.as_file(static.joinpath(name)) as file:
            return FileResponse(file, media_type=_ASSETS[name], headers={"Cache-Control": "max-age=86400"})
