"""The matching service: an HTTP API (FastAPI) over the store, with API keys, an audit log, a live index
that follows the store's change feed, Prometheus metrics and a review page for moderators."""

from .app import create_app
from .config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]
