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


def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def actor(request: Request) -> str:
    """The audit log's name for the caller (set by the auth dependency)."""
    return str(getattr(request.state, "actor", "unknown"))
