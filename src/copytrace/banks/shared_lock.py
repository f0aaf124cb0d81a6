"""A readers-writer lock for a live index: queries share the index, applying changes takes it alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SharedLock:
    """A readers-writer lock: queries share the index, applying changes takes it alone.

    A writer waits for the queries in progress and holds new ones back while it waits, so a steady stream
    of queries cannot starve the follower; but only for ``patience`` seconds at a time.  Behind a query that
    runs long it lets new queries in again for ``patience`` and then retries, so no query is held up for
    the whole duration of another.
    """

    def __init__(self, patience: float = 0.05) -> None:
        self.patience = patience
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        def free() -> bool:
            return not self._writing and self._readers == 0

        with self._cond:
            while True:
                self._writers_waiting += 1
                got = self._cond.wait_for(free, timeout=self.patience)
                self._writers_waiting -= 1
                if got:
                    break
                self._cond.notify_all()  # a query runs long: let the queries held back in meanwhile
                if self._cond.wait_for(free, timeout=self.patience):
                    break
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
