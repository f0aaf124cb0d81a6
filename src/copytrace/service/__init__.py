"""The matching service: an HTTP API (FastAPI) over the store, with API keys, an audit log, a live index
that follows the store's change feed, Prometheus metrics and a review page for moderators.

``create_app`` and ``ServiceConfig`` are imported when first asked for, so that importing a module of the
package (``copytrace.service.workers``) does not import FastAPI first: ``copytrace serve`` starts loading
its compiled kernels before it imports FastAPI, and imports FastAPI while they load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ServiceConfig":
        from .config import ServiceConfig

        return ServiceConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
