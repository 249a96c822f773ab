"""Server options: the one typed place they are declared.

The CLI builds its flags from these fields (``metadata["help"]``), ``App.run`` and
``celeris.server.run`` take them as keyword arguments, and the server reads them here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(slots=True)
class Config:
    """Every option of ``celeris serve`` with its default."""

    host: str = _opt("127.0.0.1", "Bind to this address.")
    port: int = _opt(8000, "Bind to this port (0 picks a free one).")
    uds: str | None = _opt(None, "Bind to this Unix domain socket instead of host/port.")
    workers: int = _opt(1, "Number of worker processes (pre-forked, sharing the port).")
    reload: bool = _opt(False, "Restart when source files change (development).")
    factory: bool = _opt(False, "Treat MODULE:ATTR as a factory that returns the app.")
    interface: str = _opt(
        "auto",
        "Application interface: auto (a WSGI app is detected), asgi3 or wsgi.",
        choices=("auto", "asgi3", "wsgi"),
    )
    wsgi_threads: int = _opt(10, "Threads per worker that run a WSGI app's requests.")
    debug: bool = _opt(
        False, "Show tracebacks in 500 responses of a celeris app (development only)."
    )
    ssl_certfile: str | None = _opt(None, "TLS certificate file (PEM).")
    ssl_keyfile: str | None = _opt(None, "TLS private key file (PEM).")
    access_log: bool = _opt(True, "Write one access-log line per request.", flag="access-log")
    access_log_format: str = _opt(
        "common", "Access-log format: common or json.", choices=("common", "json")
    )
    log_level: str = _opt(
        "info", "Log level.", choices=("critical", "error", "warning", "info", "debug")
    )
    limit_request_line: int = _opt(8192, "Longest request line in bytes (414 above).", unit="bytes")
    limit_request_headers: int = _opt(
        65536, "Largest header block in bytes (431 above).", unit="bytes"
    )
    limit_request_fields: int = _opt(100, "Most header fields (431 above).")
    limit_request_body: int = _opt(
        100 * 1024 * 1024, "Largest request body in bytes (413 above; 0 = none).", unit="bytes"
    )
    limit_concurrency: int | None = _opt(None, "Most requests in flight per worker (503 above).")
    limit_websocket_message: int = _opt(
        16 * 1024 * 1024, "Largest WebSocket message in bytes (close 1009 above).", unit="bytes"
    )
    timeout_keep_alive: float = _opt(
        5.0, "Close an idle keep-alive connection after this many seconds."
    )
    timeout_request_header: float = _opt(
        10.0, "Drop a client that has not sent a whole header block by then."
    )
    timeout_linger: float = _opt(
        5.0,
        "After answering an error while the client is still sending, read and drop its data for"
        " up to this many seconds before closing (so it reads the answer, not a reset).",
    )
    graceful_timeout: float = _opt(30.0, "Seconds in-flight requests get to finish on shutdown.")
    max_requests: int | None = _opt(None, "Recycle a worker after this many requests.")
    backlog: int = _opt(2048, "Listen backlog.")
    forwarded_allow_ips: str | None = _opt(
        None, "Comma-separated proxy IPs trusted for X-Forwarded-*/Forwarded ('*' = all)."
    )
    root_path: str = _opt("", "ASGI root_path for apps mounted under a URL prefix.")
    server_header: bool = _opt(True, "Send a Server header.", flag="server-header")
    date_header: bool = _opt(True, "Send a Date header.", flag="date-header")
    websocket_ping_interval: float | None = _opt(
        20.0, "Seconds between WebSocket pings (keep-alive)."
    )
    websocket_ping_timeout: float | None = _opt(20.0, "Close a WebSocket whose pong is this late.")
    websocket_per_message_deflate: bool = _opt(
        True, "Offer permessage-deflate compression.", flag="ws-per-message-deflate"
    )
    loop: str = _opt(
        "auto", "Event loop: auto, uvloop or asyncio.", choices=("auto", "uvloop", "asyncio")
    )
    fast_lane: bool = _opt(
        True, "Use the celeris fast lane for celeris apps (ASGI otherwise).", flag="fast-lane"
    )

    @classmethod
    def option_names(cls) -> list[str]:
        """Return the field names, in declaration order."""
        return [f.name for f in fields(cls)]
