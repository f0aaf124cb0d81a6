"""The service's settings, read from the command line or from ``COPYTRACE_*`` environment variables (so
that every uvicorn worker process reads the same)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import CopytraceError
from ..store.store import default_url

DEFAULT_MAX_TEXT = 1_000_000


@dataclass(frozen=True)
class ServiceConfig:
    """``db``: store URL or SQLite path.  ``key_file``: the secret key of keyed fingerprints (None: public).
    ``max_text_bytes``: the largest text a request may carry (413 above).  ``max_batch``: queries per
    ``match:batch``.  ``poll_seconds``: how often the index reads the change feed.  ``snapshot_dir``: where
    the index is saved after it is built, so a restart loads it and replays only the newer changes.
    ``public_metrics``: serve ``/metrics`` without a key, with bank names left out (default: a reader key is
    needed, and matches are counted per bank)."""

    db: str = ""
    key_file: str | None = None
    max_text_bytes: int = DEFAULT_MAX_TEXT
    max_batch: int = 1000
    poll_seconds: float = 0.5
    snapshot_dir: str | None = None
    public_metrics: bool = False

    @classmethod
    def from_env(cls) -> ServiceConfig:
        env = os.environ
        try:
            return cls(
                db=env.get("COPYTRACE_DB") or default_url(),
                key_file=env.get("COPYTRACE_KEY_FILE") or None,
                max_text_bytes=int(env.get("COPYTRACE_MAX_TEXT_BYTES") or DEFAULT_MAX_TEXT),
                max_batch=int(env.get("COPYTRACE_MAX_BATCH") or 1000),
                poll_seconds=float(env.get("COPYTRACE_POLL_SECONDS") or 0.5),
                snapshot_dir=env.get("COPYTRACE_SNAPSHOT_DIR") or default_snapshot_dir(),
                public_metrics=env_flag(env.get("COPYTRACE_PUBLIC_METRICS")),
            )
        except ValueError as exc:
            raise CopytraceError(f"bad service setting in the environment: {exc}") from exc

    def to_env(self) -> dict[str, str]:
        """The environment variables that make ``from_env`` give this configuration."""
        names = {
            "db": "COPYTRACE_DB",
            "key_file": "COPYTRACE_KEY_FILE",
            "max_text_bytes": "COPYTRACE_MAX_TEXT_BYTES",
            "max_batch": "COPYTRACE_MAX_BATCH",
            "poll_seconds": "COPYTRACE_POLL_SECONDS",
            "snapshot_dir": "COPYTRACE_SNAPSHOT_DIR",
            "public_metrics": "COPYTRACE_PUBLIC_METRICS",
        }
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {
            names[name]: ("1" if value else "0") if isinstance(value, bool) else str(value)
            for name, value in values.items()
            if value not in (None, "")
        }


def env_flag(value: str | None) -> bool:
    """An on/off environment setting: unset, ``0``, ``false``, ``no`` is off; ``1``, ``true``, ``yes`` on."""
    word = (value or "0").strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a yes/no value (use 1 or 0)")


def default_snapshot_dir() -> str:
    base = os.environ.get("COPYTRACE_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "copytrace"
    )
    return str(Path(base) / "service")
