"""What every request handler shares: settings, store, key, live index and metrics."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from ..banks import LiveIndex, Store
from ..fingerprints.keys import Key
from .config import ServiceConfig
from .metrics import Metrics


@dataclass
class ServiceContext:
    config: ServiceConfig
    store: Store
    key: Key
    live: LiveIndex
    metrics: Metrics


async def context(request: Request) -> ServiceContext:
    """The request's app's context (async: a sync dependency is called in the thread pool, a hand-off to a
    thread and back on every request)."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def actor(request: Request) -> str:
    """The audit log's name for the caller (set by the auth dependency)."""
    return str(getattr(request.state, "actor", "unknown"))
