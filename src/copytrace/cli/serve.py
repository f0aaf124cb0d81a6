"""``copytrace serve``: run the matching service (FastAPI on uvicorn)."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
from typing import TYPE_CHECKING

from ..errors import CopytraceError
from .common import Exit

if TYPE_CHECKING:
    from ..service.workers import Preparation

DEFAULT_MAX_TEXT = 1_000_000
"""``copytrace.service.config.DEFAULT_MAX_TEXT`` (a test checks they agree), named here so that building the
parser does not import the service (FastAPI) or the store."""

EPILOG = """example:
  copytrace keys create me --role admin          # prints the key, once
  copytrace serve --port 8080 &
  curl -s -H "Authorization: Bearer $KEY" localhost:8080/v1/match -d '{"text": "..."}'
  curl -s -H "Authorization: Bearer $KEY" localhost:8080/metrics   # any key; --public-metrics: none
  open http://127.0.0.1:8080/ for the review page, http://127.0.0.1:8080/docs for the API

Memory and start-up: the workers map one shared snapshot of the index; on 1,000,000 items two workers took
1.19× the memory of one, a start that builds the snapshot from the store 16.0-16.9 s and one that maps it
2.5-2.7 s on a quiet machine (from 25.5 s to 58.0 s and from 3.9 s to 5.6 s in the newest runs, on a
machine busy with other work; docs/benchmarks.md, service; docs/service.md).
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve",
        help="run the HTTP matching service",
        epilog=EPILOG,
        description="Serve the store's banks over HTTP: banks and items, matching, fingerprints, reviews, "
        "API keys and the audit log (OpenAPI at /openapi.json), Prometheus metrics at /metrics and the "
        "review page at /.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    p.add_argument(
        "--db",
        metavar="URL",
        help="store: SQLAlchemy URL or SQLite path (default: $COPYTRACE_DB or local file)",
    )
    p.add_argument(
        "--key-file", metavar="PATH", help="secret key for keyed fingerprints ($COPYTRACE_KEY_FILE)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes; they map one shared snapshot of the index, so a worker adds its own Python, "
        "not another index (default: 1)",
    )
    p.add_argument(
        "--max-text-bytes",
        type=int,
        default=int(os.environ.get("COPYTRACE_MAX_TEXT_BYTES") or DEFAULT_MAX_TEXT),
        help=f"largest text a request may carry; larger gets 413 (default: {DEFAULT_MAX_TEXT})",
    )
    p.add_argument(
        "--poll-seconds",
        type=float,
        default=float(os.environ.get("COPYTRACE_POLL_SECONDS", "0.5")),
        help="how often each worker reads the store's change feed (default: 0.5)",
    )
    p.add_argument(
        "--public-metrics",
        action="store_true",
        help="serve /metrics without a key, leaving bank names out (default: a reader key is needed; "
        "$COPYTRACE_PUBLIC_METRICS=1)",
    )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    preparing = None
    if args.workers > 1:
        from ..service.workers import can_fork, start_preparing

        if can_fork():  # the workers' kernels load in a thread while the service is imported below
            preparing = start_preparing()
    try:
        return _serve(args, preparing)
    finally:
        if preparing is not None:
            preparing.wait()  # (at once: the workers were forked after it finished)


def _serve(args: argparse.Namespace, preparing: Preparation | None) -> int:
    import uvicorn

    from ..service.config import ServiceConfig, default_snapshot_dir
    from ..service.protocols import server_protocols
    from ..store import Store, default_url

    config = ServiceConfig(
        db=args.db or default_url(),
        key_file=args.key_file or os.environ.get("COPYTRACE_KEY_FILE") or None,
        max_text_bytes=args.max_text_bytes,
        poll_seconds=args.poll_seconds,
        snapshot_dir=os.environ.get("COPYTRACE_SNAPSHOT_DIR") or default_snapshot_dir(),
        public_metrics=args.public_metrics or _public_metrics_from_env(),
    )
    Store(config.db).close()  # migrate once here, not in each worker, and fail early on a bad URL
    os.environ.update(config.to_env())
    metrics_dir = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="copytrace-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    http, loop = server_protocols()
    print(
        f"copytrace: serving {config.db} on http://{args.host}:{args.port}/ with {args.workers} worker(s) "
        f"({http} on {loop})",
        file=sys.stderr,
    )
    uv_config = uvicorn.Config(
        "copytrace.service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        http=http,
        loop=loop,
    )
    try:
        if args.workers == 1:
            uvicorn.Server(uv_config).run()
        else:
            from ..service.workers import run_workers

            run_workers(uv_config, [_tcp_socket(args.host, args.port)], preparing)
    except KeyboardInterrupt:
        pass
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return Exit.OK


def _public_metrics_from_env() -> bool:
    from ..service.config import env_flag

    try:
        return env_flag(os.environ.get("COPYTRACE_PUBLIC_METRICS"))
    except ValueError as exc:
        raise CopytraceError(f"COPYTRACE_PUBLIC_METRICS: {exc}") from exc


def _tcp_socket(host: str, port: int) -> socket.socket:
    """The listening socket the workers share, made with protocol TCP.

    asyncio turns Nagle's algorithm off (TCP_NODELAY) only on connections accepted from a socket whose
    protocol is TCP; uvicorn's own shared socket leaves it unset, which delays every response by the
    peer's delayed ACK (about 40 ms).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
