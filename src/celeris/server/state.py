"""What every connection of one server shares: the app, options, counters and live connections."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, Protocol

from celeris.server.accesslog import AccessLog
from celeris.server.config import Config
from celeris.server.driver import Drivers
from celeris.server.head import DefaultHeaders
from celeris.server.proxy import ProxyTrust
from celeris.types import ASGIApp, FastHandler


class Connection(Protocol):
    """A live connection the server can ask to shut down."""

    def shutdown(self, force: bool = False) -> None:
        """Finish the request in flight (if any), then close (``force``: fresh ones too)."""

    def is_idle(self) -> bool:
        """Tell whether no request is in flight."""

    def check_timeouts(self, now: float) -> None:
        """Close the connection if one of its timers has run out."""


class ServerState:
    """Per-worker state shared by all protocol instances."""

    __slots__ = (
        "access_log",
        "app",
        "base_context",
        "config",
        "connections",
        "drivers",
        "fast",
        "headers",
        "inflight",
        "lifespan_state",
        "limit_concurrency",
        "limit_request_body",
        "limit_request_fields",
        "limit_request_headers",
        "limit_request_line",
        "max_requests",
        "on_max_requests",
        "proxy",
        "root_path",
        "server_names",
        "shutting_down",
        "total_requests",
    )

    def __init__(self, config: Config, app: ASGIApp, fast: FastHandler | None = None) -> None:
        self.config = config
        self.app = app
        self.fast = fast
        self.headers = DefaultHeaders(
            server_header=config.server_header, date_header=config.date_header
        )
        self.access_log: AccessLog | None = (
            AccessLog(config.access_log_format) if config.access_log else None
        )
        proxy = ProxyTrust(config.forwarded_allow_ips)
        self.proxy: ProxyTrust | None = proxy if proxy else None
        self.connections: set[Connection] = set()
        self.drivers: Drivers | None = None  # made on the first request, in the loop
        self.server_names: dict[tuple[str, int], tuple[str, int | None]] = {}
        self.inflight = 0
        self.total_requests = 0
        self.shutting_down = False
        self.lifespan_state: dict[str, Any] = {}
        self.on_max_requests: asyncio.Event | None = None
        self.limit_concurrency = config.limit_concurrency
        self.max_requests = config.max_requests
        # PERF: what the protocol reads per request or per header, copied out of the Config
        # (a plain dataclass; in the compiled build these are typed native fields).
        self.limit_request_line: int = config.limit_request_line
        self.limit_request_headers: int = config.limit_request_headers
        self.limit_request_fields: int = config.limit_request_fields
        self.limit_request_body: int = config.limit_request_body
        self.root_path: str = config.root_path
        # NOTE: each request runs in a fresh copy of this context, never in another request's.
        self.base_context = contextvars.copy_context()

    def count_request(self) -> None:
        """Ask the worker to recycle itself once past ``max_requests`` (already counted)."""
        limit = self.config.max_requests
        if limit is not None and self.total_requests >= limit and self.on_max_requests is not None:
            self.on_max_requests.set()
