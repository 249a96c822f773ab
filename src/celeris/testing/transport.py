"""In-process ASGI transports for httpx, the lifespan driver and WebSocket sessions.

Everything here is async and runs on one event loop; ``client.py`` offers it to sync
tests through a private loop in a background thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote, unquote

import httpx
import msgspec

from celeris.core.websocket import WebSocketDisconnect
from celeris.types import ASGIApp, Message

logger = logging.getLogger("celeris.error")

TIMEOUT = 30.0  # NOTE: a test waiting longer than this on the app is stuck: fail, do not hang.


def build_scope(
    kind: str,
    url: httpx.URL,
    headers: list[tuple[bytes, bytes]],
    *,
    method: str = "GET",
    root_path: str = "",
    state: dict[str, Any] | None = None,
    subprotocols: list[str] | None = None,
) -> dict[str, Any]:
    """Return an ASGI ``http`` or ``websocket`` scope for ``url``."""
    scheme = url.scheme
    if kind == "websocket":
        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme, 80)
    raw_path = url.raw_path.split(b"?", 1)[0]
    path = unquote(raw_path.decode("ascii"))
    if root_path and not path.startswith(root_path):
        # NOTE: as a server behind a prefix-stripping proxy: path and raw_path hold the prefix.
        path = root_path + path
        raw_path = quote(root_path).encode("ascii") + raw_path
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path,
        "query_string": url.query,
        "root_path": root_path,
        "headers": [(k.lower(), v) for k, v in headers],
        "client": ("testclient", 50000),
        "server": (url.host, url.port or default_port),
        "state": dict(state or {}),
        "extensions": {},
    }
    if kind == "http":
        scope["method"] = method
    else:
        scope["subprotocols"] = list(subprotocols or ())
    return scope


async def run_http(
    app: ASGIApp,
    request: httpx.Request,
    body: bytes,
    *,
    root_path: str,
    state: dict[str, Any],
    raise_server_exceptions: bool,
) -> httpx.Response:
    """Run one HTTP request through ``app`` and return the whole response."""
    scope = build_scope(
        "http",
        request.url,
        list(request.headers.raw),
        method=request.method,
        root_path=root_path,
        state=state,
    )
    sent_request = False
    done = asyncio.Event()
    status: int | None = None
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            if status is not None:
                raise RuntimeError("http.response.start sent twice")
            status = message["status"]
            response_headers.extend(message.get("headers", ()))
        elif message["type"] == "http.response.body":
            if status is None:
                raise RuntimeError("http.response.body sent before http.response.start")
            if done.is_set():
                return
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                done.set()

    try:
        await asyncio.wait_for(app(scope, receive, send), TIMEOUT)
    except Exception as exc:
        if raise_server_exceptions:
            raise
        # NOTE: as the celeris server logs it (same logger and message): not swallowed.
        logger.error(
            "Exception in application (%s %s)", request.method, scope["path"], exc_info=exc
        )
        if status is None:
            status, response_headers, chunks = 500, [], []
    finally:
        done.set()
    if status is None:
        raise RuntimeError("the application returned without sending a response")
    content = b"" if request.method == "HEAD" else b"".join(chunks)
    return httpx.Response(status, headers=response_headers, content=content, request=request)


class Lifespan:
    """Drive an app's ASGI lifespan: ``await startup()`` ... ``await shutdown()``."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._to_app.get, self._from_app.put)
        except Exception as exc:
            await self._from_app.put({"type": "celeris.testing.error", "error": exc})

    async def _exchange(self, kind: str) -> None:
        await self._to_app.put({"type": f"lifespan.{kind}"})
        message = await asyncio.wait_for(self._from_app.get(), TIMEOUT)
        if message["type"] == "celeris.testing.error":
            raise message["error"]
        if message["type"] == f"lifespan.{kind}.failed":
            raise RuntimeError(f"lifespan {kind} failed: {message.get('message', '')}")

    async def startup(self) -> None:
        """Send ``lifespan.startup`` and wait for completion; raises on failure."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._exchange("startup")

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the app to finish."""
        if self._task is None:
            return
        try:
            if not self._task.done():
                await self._exchange("shutdown")
        finally:
            task, self._task = self._task, None
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class WebSocketSession:
    """An async WebSocket connection to the app (``AsyncTestClient.websocket_connect``)."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        self.app = app
        self.scope = scope
        self.subprotocol: str | None = None
        self.accept_headers: list[tuple[bytes, bytes]] = []
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self._to_app.get, self._from_app.put)
        except Exception as exc:
            # NOTE: handed to the test through the queue; re-raising would only log it twice.
            await self._from_app.put({"type": "celeris.testing.error", "error": exc})
            return
        await self._from_app.put({"type": "celeris.testing.done"})

    async def connect(self) -> None:
        """Open the connection; raises WebSocketDisconnect if the app refuses it."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._to_app.put({"type": "websocket.connect"})
        message = await self._next()
        if message["type"] != "websocket.accept":
            raise RuntimeError(f"expected websocket.accept, got {message['type']}")
        self.subprotocol = message.get("subprotocol")
        self.accept_headers = list(message.get("headers", ()))

    async def _next(self) -> Message:
        message = await asyncio.wait_for(self._from_app.get(), TIMEOUT)
        kind = message["type"]
        if kind == "celeris.testing.error":
            self._closed = True
            raise message["error"]
        if kind == "celeris.testing.done":
            self._closed = True
            raise WebSocketDisconnect(1006, "the application returned without closing")
        if kind == "websocket.close":
            self._closed = True
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
        return message

    async def send(self, message: Message) -> None:
        """Send a raw ASGI message to the app."""
        await self._to_app.put(message)

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self.send({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self.send({"type": "websocket.receive", "bytes": data})

    async def send_json(self, data: Any) -> None:
        """Send a JSON text message."""
        await self.send_text(json_dumps(data))

    async def receive(self) -> Message:
        """Return the next ``websocket.send`` message; raises WebSocketDisconnect on close."""
        return await self._next()

    async def receive_text(self) -> str:
        """Return the next text message."""
        message = await self._next()
        text = message.get("text")
        if text is None:
            raise TypeError("expected a text message, got bytes")
        return str(text)

    async def receive_bytes(self) -> bytes:
        """Return the next binary message."""
        message = await self._next()
        data = message.get("bytes")
        if data is None:
            raise TypeError("expected a binary message, got text")
        return bytes(data)

    async def receive_json(self) -> Any:
        """Return the next message decoded as JSON."""
        message = await self._next()
        raw = message.get("text")
        return json_loads(raw if raw is not None else message.get("bytes") or b"")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client side and wait for the app to finish."""
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done():
            await self._to_app.put({"type": "websocket.disconnect", "code": code, "reason": reason})
            try:
                await asyncio.wait_for(asyncio.shield(task), TIMEOUT)
            except Exception:
                task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def json_dumps(data: Any) -> str:
    """Encode ``data`` as compact JSON text."""
    return msgspec.json.encode(data).decode("utf-8")


def json_loads(data: str | bytes) -> Any:
    """Decode JSON text or bytes."""
    return msgspec.json.decode(data)
