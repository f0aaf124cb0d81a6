"""Bearer API keys: who is calling and whether their role allows the call (401 / 403 otherwise).

Verified keys are remembered for ``ttl`` seconds, so a busy client costs one database read per key per
``ttl``; a revoked key stops working within that time on other processes, and at once on the process that
revoked it (``KeyCache.forget``).  Refused keys are not remembered.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from ..store import Store
from ..store.api_keys import ROLES, ApiKey, authenticate

log = logging.getLogger("copytrace.service")

_ABSENT_KEY = "ctk_000000000000_" + "0" * 43  # a key of the form of ``create_key``'s that no one was given


class KeyCache:
    def __init__(self, store: Store, ttl: float = 2.0) -> None:
        self.store = store
        self.ttl = ttl
        self._seen: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def remembered(self, presented: str) -> ApiKey | None:
        """The key ``presented``, if it was verified less than ``ttl`` seconds ago (no database read)."""
        with self._lock:
            held = self._seen.get(presented)
        if held is not None and time.monotonic() - held[0] < self.ttl:
            return held[1]
        return None

    def lookup(self, presented: str) -> ApiKey | None:
        now = time.monotonic()
        with self._lock:
            held = self._seen.get(presented)
        if held is not None and now - held[0] < self.ttl:
            return held[1]
        found = authenticate(self.store, presented)
        if found is not None:  # only good keys are remembered: a key created a moment ago works at once
            with self._lock:
                if len(self._seen) > 10_000:
                    self._seen.clear()
                self._seen[presented] = (now, found)
        return found

    def warm_up(self) -> None:
        """Look up a key that no store holds, so that the first request with a key does not pay what the
        first lookup through a process does (the key's statement compiled, the store's mapped classes
        configured: 21 ms of CPU in a fresh worker, against 0.5 ms after).  Best effort: a store that cannot
        answer now leaves it to the first request."""
        try:
            authenticate(self.store, _ABSENT_KEY)
        except (SQLAlchemyError, StoreError) as exc:
            log.info("cannot look up API keys before serving (%s)", exc.__class__.__name__)

    def forget(self, name: str) -> None:
        """Drop the remembered keys named ``name`` (just revoked here)."""
        with self._lock:
            for presented in [
                p for p, (_, key) in self._seen.items() if key is not None and key.name == name
            ]:
                del self._seen[presented]


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="APIKey",
    description="An API key from 'copytrace keys create NAME --role reader|writer|admin'.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def caller(request: Request, credentials: HTTPAuthorizationCredentials | None, role: str) -> ApiKey:
    """The key presented with the request, if its role includes ``role``.

    A key verified within the cache's ``ttl`` is taken on the event loop; only a key to read from the
    store goes to the thread pool (a read that may wait on the store must not hold the loop): a sync
    dependency went there on every request, a hand-off to a thread and back."""
    assert role in ROLES
    if credentials is None or not credentials.credentials.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>' (an admin creates keys with POST /v1/keys)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    cache: KeyCache = request.app.state.keys
    presented = credentials.credentials.strip()
    key = cache.remembered(presented) or await run_in_threadpool(cache.lookup, presented)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    if not key.allows(role):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"API key {key.name!r} has role {key.role!r}; this needs {role!r}"
        )
    request.state.actor = f"key:{key.name}"
    return key


async def reader(request: Request, credentials: Credentials) -> ApiKey:
    return await caller(request, credentials, "reader")


async def writer(request: Request, credentials: Credentials) -> ApiKey:
    return await caller(request, credentials, "writer")


async def admin(request: Request, credentials: Credentials) -> ApiKey:
    return await caller(request, credentials, "admin")
