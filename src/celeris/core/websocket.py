"""``WebSocket``: one WebSocket connection over ASGI, with a checked state machine."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Literal

import msgspec

from celeris.core.datastructures import URL, Address, Headers, QueryParams, State
from celeris.core.requests import parse_cookies
from celeris.core.responses import Response, json_encode
from celeris.types import Message, Receive, Scope, Send

__all__ = ["WebSocket", "WebSocketDisconnect", "WebSocketState"]


class WebSocketState(enum.Enum):
    """Where one side of the connection stands."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


class WebSocketDisconnect(Exception):
    """The connection is closed (the peer closed it, or it was closed for bad data)."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(f"WebSocket closed with code {code}" + (f": {reason}" if reason else ""))


class WebSocket:
    """A WebSocket connection: ``accept``, then ``receive_*``/``send_*``, then ``close``."""

    __slots__ = (
        "_cookies",
        "_headers",
        "_query_params",
        "_receive",
        "_send",
        "_state",
        "app",
        "application_state",
        "client_state",
        "path_params",
        "scope",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        app: Any = None,
        path_params: dict[str, Any] | None = None,
    ) -> None:
        if scope.get("type") != "websocket":
            raise ValueError(f"WebSocket needs a 'websocket' scope, got {scope.get('type')!r}")
        self.scope = scope
        self._receive = receive
        self._send = send
        self.app = app if app is not None else scope.get("app")
        self.path_params: dict[str, Any] = (
            path_params if path_params is not None else scope.get("path_params", {})
        )
        self.client_state = WebSocketState.CONNECTING
        self.application_state = WebSocketState.CONNECTING
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._state: State | None = None

    # --- connection details -------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The decoded request path."""
        return str(self.scope["path"])

    @property
    def headers(self) -> Headers:
        """The handshake request headers."""
        h = self._headers
        if h is None:
            h = self._headers = Headers(list(self.scope.get("headers", ())))
        return h

    @property
    def query_params(self) -> QueryParams:
        """The query-string parameters."""
        q = self._query_params
        if q is None:
            q = self._query_params = QueryParams(self.scope.get("query_string", b""))
        return q

    @property
    def cookies(self) -> dict[str, str]:
        """The handshake cookies."""
        c = self._cookies
        if c is None:
            header = self.headers.get("cookie")
            c = self._cookies = parse_cookies(header) if header else {}
        return c

    @property
    def url(self) -> URL:
        """The connection URL (ws:// or wss://)."""
        raw = self.scope.get("raw_path")
        path = raw.decode("latin-1") if raw else self.path
        return URL.build(
            scheme=self.scope.get("scheme", "ws"),
            host=self.headers.get("host"),
            server=self.scope.get("server"),
            path=path,
            query_string=self.scope.get("query_string", b""),
        )

    @property
    def client(self) -> Address | None:
        """The peer's address, when known."""
        client = self.scope.get("client")
        return Address(client[0], client[1]) if client else None

    @property
    def state(self) -> State:
        """Per-connection state."""
        s = self._state
        if s is None:
            backing = self.scope.get("state")
            if backing is None:
                backing = self.scope["state"] = {}
            s = self._state = State(backing)
        return s

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered."""
        return list(self.scope.get("subprotocols", ()))

    # --- raw messages -------------------------------------------------------------------------

    async def receive(self) -> Message:
        """Return the next ASGI message from the client."""
        state = self.client_state
        if state is WebSocketState.DISCONNECTED:
            raise RuntimeError('Cannot call "receive" once the client has disconnected.')
        message = await self._receive()
        kind = message["type"]
        if state is WebSocketState.CONNECTING:
            if kind != "websocket.connect":
                raise RuntimeError(f"Expected a 'websocket.connect' message, got {kind!r}.")
            self.client_state = WebSocketState.CONNECTED
        elif kind == "websocket.disconnect":
            self.client_state = WebSocketState.DISCONNECTED
        elif kind != "websocket.receive":
            raise RuntimeError(f"Unexpected ASGI message {kind!r} on a WebSocket.")
        return message

    async def send(self, message: Message) -> None:
        """Send one ASGI message, checking it is legal in the current state."""
        state = self.application_state
        kind = message["type"]
        if state is WebSocketState.CONNECTING:
            if kind == "websocket.accept":
                self.application_state = WebSocketState.CONNECTED
            elif kind == "websocket.close":
                self.application_state = WebSocketState.DISCONNECTED
            elif kind == "websocket.http.response.start":
                self.application_state = WebSocketState.RESPONSE
            else:
                raise RuntimeError(
                    f'Cannot send {kind!r} before "accept" (call ws.accept() first).'
                )
        elif state is WebSocketState.CONNECTED:
            if kind == "websocket.close":
                self.application_state = WebSocketState.DISCONNECTED
            elif kind != "websocket.send":
                raise RuntimeError(f"Cannot send {kind!r} on an accepted WebSocket.")
        elif state is WebSocketState.RESPONSE:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"Cannot send {kind!r} while sending a denial response.")
            if not message.get("more_body", False):
                self.application_state = WebSocketState.DISCONNECTED
        else:
            raise RuntimeError(f"Cannot send {kind!r}: the WebSocket is closed.")
        try:
            await self._send(message)
        except OSError as exc:
            self.application_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(1006, "connection lost") from exc

    # --- the handshake ------------------------------------------------------------------------

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Headers | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Accept the connection, optionally choosing one of the offered subprotocols."""
        if self.application_state is not WebSocketState.CONNECTING:
            raise RuntimeError("The WebSocket is already accepted or closed.")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"Subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {self.subprotocols})."
            )
        if self.client_state is WebSocketState.CONNECTING:
            await self.receive()
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers is not None:
            message["headers"] = (
                headers.raw if isinstance(headers, Headers) else Headers(headers).raw
            )
        await self.send(message)

    async def deny(self, response: Response) -> None:
        """Refuse the handshake with an HTTP response (or close 1008 if the server cannot)."""
        if self.application_state is not WebSocketState.CONNECTING:
            raise RuntimeError("deny() must be called before accept().")
        extensions = self.scope.get("extensions") or {}
        if "websocket.http.response" in extensions:
            await self.send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status_code,
                    "headers": response.raw_headers,
                }
            )
            await self.send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await self.close(1008)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (a no-op if it is closed already)."""
        if self.application_state in (WebSocketState.DISCONNECTED, WebSocketState.RESPONSE):
            return
        await self.send({"type": "websocket.close", "code": code, "reason": reason or ""})

    # --- data ---------------------------------------------------------------------------------

    def _require_accepted(self) -> None:
        if self.application_state is not WebSocketState.CONNECTED:
            raise RuntimeError('The WebSocket is not connected: call "accept" first.')

    async def _receive_data(self) -> Message:
        self._require_accepted()
        message = await self.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        return message

    async def _refuse(self, code: int, reason: str) -> WebSocketDisconnect:
        await self.close(code, reason)
        return WebSocketDisconnect(code, reason)

    async def receive_text(self) -> str:
        """Return the next text message (a binary one closes the connection with 1003)."""
        message = await self._receive_data()
        text = message.get("text")
        if text is None:
            raise await self._refuse(1003, "expected a text message")
        return str(text)

    async def receive_bytes(self) -> bytes:
        """Return the next binary message (a text one closes the connection with 1003)."""
        message = await self._receive_data()
        data = message.get("bytes")
        if data is None:
            raise await self._refuse(1003, "expected a binary message")
        return bytes(data)

    async def receive_json(self, mode: Literal["text", "binary"] = "text") -> Any:
        """Return the next message decoded as JSON (malformed JSON closes with 1007)."""
        message = await self._receive_data()
        payload = message.get("text") if mode == "text" else message.get("bytes")
        if payload is None:
            payload = message.get("bytes") if mode == "text" else message.get("text")
        if payload is None:
            raise await self._refuse(1003, "expected a JSON message")
        try:
            return msgspec.json.decode(payload)
        except msgspec.DecodeError:
            raise await self._refuse(1007, "malformed JSON") from None

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self.send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self.send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send ``data`` encoded as JSON, as a text (default) or binary message."""
        encoded = json_encode(data)
        if mode == "text":
            await self.send({"type": "websocket.send", "text": encoded.decode("utf-8")})
        else:
            await self.send({"type": "websocket.send", "bytes": encoded})

    async def iter_text(self) -> AsyncIterator[str]:
        """Yield text messages until the peer closes."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Yield binary messages until the peer closes."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            return

    async def iter_json(self) -> AsyncIterator[Any]:
        """Yield JSON messages until the peer closes."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            return

    def __repr__(self) -> str:
        return f"WebSocket({self.path!r}, {self.application_state.name})"
