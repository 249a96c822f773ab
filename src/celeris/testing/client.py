"""``TestClient`` (sync, httpx.Client) and ``AsyncTestClient`` (httpx.AsyncClient).

Both run the app in process. The sync client owns a private event loop in a background
thread (a "portal"), so the app sees one loop for the client's whole life, like a server.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import httpx

from celeris.testing.transport import Lifespan, WebSocketSession, build_scope, run_http
from celeris.types import ASGIApp, Message

T = TypeVar("T")


class _Portal:
    """An event loop running in a daemon thread; ``call`` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="celeris-testclient", daemon=True
        )
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.loop.shutdown_asyncgens(), self.loop).result()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
        self.loop.close()


def _websocket_scope(
    client: TestClient | AsyncTestClient,
    path: str,
    subprotocols: list[str] | None,
    headers: Mapping[str, str] | None,
) -> dict[str, Any]:
    """Build the handshake scope of a test WebSocket opened by ``client``."""
    return build_scope(
        "websocket",
        client.base_url.join(path),
        _headers(headers, subprotocols),
        root_path=client.root_path,
        state=client._app_state,
        subprotocols=subprotocols,
    )


def _headers(
    headers: Mapping[str, str] | None, subprotocols: list[str] | None
) -> list[tuple[bytes, bytes]]:
    raw = [(b"host", b"testserver"), (b"connection", b"upgrade"), (b"upgrade", b"websocket")]
    raw.append((b"sec-websocket-version", b"13"))
    raw.append((b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="))
    if subprotocols:
        raw.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
    raw.extend(
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
    )
    return raw


class _SyncTransport(httpx.BaseTransport):
    def __init__(self, client: TestClient) -> None:
        # NOTE: a weak reference, so a client dropped without close() is freed at once and
        # its finalizer stops the portal thread.
        self.client = cast("TestClient", weakref.proxy(client))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        c = self.client
        return c._portal.call(
            run_http(
                c.app,
                request,
                body,
                root_path=c.root_path,
                state=c._app_state,
                raise_server_exceptions=c.raise_server_exceptions,
            )
        )


class WebSocketTestSession:
    """A sync WebSocket connection; use it as a context manager."""

    def __init__(self, portal: _Portal, session: WebSocketSession) -> None:
        self._portal = portal
        self._session = session

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the app accepted."""
        return self._session.subprotocol

    def send(self, message: Message) -> None:
        """Send a raw ASGI message."""
        self._portal.call(self._session.send(message))

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self._portal.call(self._session.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self._portal.call(self._session.send_bytes(data))

    def send_json(self, data: Any) -> None:
        """Send a JSON text message."""
        self._portal.call(self._session.send_json(data))

    def receive(self) -> Message:
        """Return the next raw ``websocket.send`` message."""
        return self._portal.call(self._session.receive())

    def receive_text(self) -> str:
        """Return the next text message."""
        return self._portal.call(self._session.receive_text())

    def receive_bytes(self) -> bytes:
        """Return the next binary message."""
        return self._portal.call(self._session.receive_bytes())

    def receive_json(self) -> Any:
        """Return the next message decoded as JSON."""
        return self._portal.call(self._session.receive_json())

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and wait for the app's handler to finish."""
        self._portal.call(self._session.close(code, reason))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TestClient(httpx.Client):
    """A sync httpx client calling the app in process; ``with`` runs startup/shutdown."""

    __test__ = False  # NOTE: not a pytest test class despite the name

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self._app_state: dict[str, Any] = {}
        self._portal = _Portal()
        self._lifespan: Lifespan | None = None
        self._finalizer = weakref.finalize(self, self._portal.close)
        kwargs.setdefault("follow_redirects", True)
        super().__init__(base_url=base_url, transport=_SyncTransport(self), **kwargs)

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WebSocketTestSession:
        """Open a WebSocket to ``path``; raises WebSocketDisconnect if the app refuses."""
        scope = _websocket_scope(self, path, subprotocols, headers)
        session = WebSocketSession(self.app, scope)
        self._portal.call(session.connect())
        return WebSocketTestSession(self._portal, session)

    def __enter__(self) -> Self:
        super().__enter__()
        lifespan = Lifespan(self.app, self._app_state)
        self._portal.call(lifespan.startup())
        self._lifespan = lifespan
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            if self._lifespan is not None:
                lifespan, self._lifespan = self._lifespan, None
                self._portal.call(lifespan.shutdown())
        finally:
            super().__exit__(exc_type, exc_value, traceback)
            self._finalizer()


class _AsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, client: AsyncTestClient) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        c = self.client
        return await run_http(
            c.app,
            request,
            body,
            root_path=c.root_path,
            state=c._app_state,
            raise_server_exceptions=c.raise_server_exceptions,
        )


class _AsyncWebSocketContext:
    """``async with client.websocket_connect(path) as ws`` (or ``ws = await ...``)."""

    def __init__(self, session: WebSocketSession) -> None:
        self.session = session

    def __await__(self) -> Any:
        return self._open().__await__()

    async def _open(self) -> WebSocketSession:
        await self.session.connect()
        return self.session

    async def __aenter__(self) -> WebSocketSession:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()


class AsyncTestClient(httpx.AsyncClient):
    """An async httpx client calling the app in process; ``async with`` runs startup/shutdown."""

    __test__ = False

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self._app_state: dict[str, Any] = {}
        self._lifespan: Lifespan | None = None
        kwargs.setdefault("follow_redirects", True)
        super().__init__(base_url=base_url, transport=_AsyncTransport(self), **kwargs)

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _AsyncWebSocketContext:
        """Open a WebSocket to ``path`` (``async with`` or ``await``)."""
        scope = _websocket_scope(self, path, subprotocols, headers)
        return _AsyncWebSocketContext(WebSocketSession(self.app, scope))

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        lifespan = Lifespan(self.app, self._app_state)
        await lifespan.startup()
        self._lifespan = lifespan
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            if self._lifespan is not None:
                lifespan, self._lifespan = self._lifespan, None
                await lifespan.shutdown()
        finally:
            await super().__aexit__(exc_type, exc_value, traceback)
