"""Prometheus metrics: requests by route and status, latency, queries and matches, and the index's size and
lag.  With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set) each scrape sums all workers.

Bank names are private to the key holders: ``/metrics`` counts matches per bank only when it needs a key;
served without one (``public=True``), it counts all matches together."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from ..banks.live import LiveIndex

_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    def __init__(self, *, public: bool = False) -> None:
        self.public = public
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "copytrace_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "copytrace_request_seconds", "HTTP request latency", ["route"], buckets=_BUCKETS, registry=r
        )
        self.queries = Counter("copytrace_queries", "Texts matched against the index", registry=r)
        self.matches = Counter(
            "copytrace_matches", "Matches returned", [] if public else ["bank"], registry=r
        )
        self.items = Gauge(
            "copytrace_index_items", "Items in the index", registry=r, multiprocess_mode="livemax"
        )
        self.fingerprints = Gauge(
            "copytrace_index_fingerprints",
            "Fingerprints in the index",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.lag = Gauge(
            "copytrace_index_lag_generations",
            "Store generations not yet applied to the index",
            registry=r,
            multiprocess_mode="livemax",
        )

    def matched(self, bank: str, n: int = 1) -> None:
        """Count ``n`` matches returned from ``bank``."""
        (self.matches if self.public else self.matches.labels(bank)).inc(n)

    def render(self, live: LiveIndex) -> bytes:
        state = live.state()
        self.items.set(state.items)
        self.fingerprints.set(state.fingerprints)
        if state.store_generation is not None:
            self.lag.set(max(0, state.store_generation - state.generation))
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
