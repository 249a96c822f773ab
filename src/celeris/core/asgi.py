"""ASGI adapter: ``ASGIConnection`` implements the fast-lane ``FastRequest`` over ASGI."""

from __future__ import annotations

from typing import Any

from celeris.types import FastRequest, Message, RawHeaders, Receive, Scope, Send

__all__ = ["ASGIConnection", "scope_of"]

_ASGI_VERSIONS = {"version": "3.0", "spec_version": "2.3"}


class ASGIConnection:
    """One ASGI HTTP request seen through the ``FastRequest`` protocol."""

    __slots__ = (
        "_disconnected",
        "_receive",
        "_send",
        "client",
        "headers",
        "http_version",
        "method",
        "path",
        "query_string",
        "raw_path",
        "root_path",
        "scheme",
        "scope",
        "server",
        "state",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self._disconnected = False
        self.scheme: str = scope.get("scheme", "http")
        self.method: str = scope.get("method", "GET")
        self.http_version: str = scope.get("http_version", "1.1")
        self.path: str = scope["path"]
        raw_path = scope.get("raw_path")
        self.raw_path: bytes = raw_path if raw_path is not None else self.path.encode("utf-8")
        self.root_path: str = scope.get("root_path", "")
        self.query_string: bytes = scope.get("query_string", b"")
        headers = scope.get("headers", ())
        self.headers: RawHeaders = headers if isinstance(headers, list) else list(headers)
        self.client: tuple[str, int] | None = _pair(scope.get("client"))
        self.server: tuple[str, int | None] | None = _pair(scope.get("server"))
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        self.state: dict[str, Any] = state

    async def receive(self) -> Message:
        """Return the next ``http.request`` / ``http.disconnect`` message."""
        if self._disconnected:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._disconnected = True
        return message

    async def send(self, message: Message) -> None:
        """Send one ASGI response message."""
        await self._send(message)

    async def respond(self, status: int, headers: RawHeaders, body: bytes) -> None:
        """Send a whole response: start, then one final body message."""
        # NOTE: as the celeris server does, add Content-Length when the app gave none (else
        # an ASGI server would stream the one body chunked).
        if not any(name.lower() == b"content-length" for name, _ in headers):
            headers = [*headers, (b"content-length", b"%d" % len(body))]
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        # NOTE: the body of a HEAD response is dropped here, as the fast-lane server does.
        await self._send(
            {"type": "http.response.body", "body": b"" if self.method == "HEAD" else body}
        )

    def is_disconnected(self) -> bool:
        """Tell whether an ``http.disconnect`` has been received."""
        return self._disconnected


def _pair(value: Any) -> Any:
    # ASGI servers may give lists instead of tuples.
    if value is None or isinstance(value, tuple):
        return value
    return tuple(value)


def scope_of(conn: FastRequest) -> Scope:
    """Return the ASGI scope of ``conn``: the original one, or a fresh one built from it."""
    if isinstance(conn, ASGIConnection):
        return conn.scope
    return {
        "type": "http",
        "asgi": dict(_ASGI_VERSIONS),
        "http_version": conn.http_version,
        "method": conn.method,
        "scheme": conn.scheme,
        "path": conn.path,
        "raw_path": conn.raw_path,
        "query_string": conn.query_string,
        "root_path": conn.root_path,
        "headers": conn.headers,
        "client": conn.client,
        "server": conn.server,
        "state": conn.state,
        "extensions": {},
    }
