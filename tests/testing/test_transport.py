"""testing.transport: scopes, one HTTP exchange, the lifespan driver, WebSocket sessions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from celeris import WebSocketDisconnect
from celeris.testing.transport import Lifespan, WebSocketSession, build_scope, run_http
from celeris.types import Receive, Scope, Send


def test_build_scope_http_and_websocket() -> None:
    url = httpx.URL("https://example.org:8443/a%20b/c?x=1&y=2")
    scope = build_scope("http", url, [(b"X-Key", b"v")], method="POST", root_path="/root")
    assert scope["type"] == "http"
    assert scope["method"] == "POST"
    assert scope["scheme"] == "https"
    assert scope["path"] == "/root/a b/c"
    assert scope["raw_path"] == b"/root/a%20b/c"  # as uvicorn: both hold the root path
    assert scope["query_string"] == b"x=1&y=2"
    assert scope["headers"] == [(b"x-key", b"v")]
    assert scope["server"] == ("example.org", 8443)
    ws = build_scope("websocket", httpx.URL("http://testserver/ws"), [], subprotocols=["a"])
    assert ws["scheme"] == "ws"
    assert ws["subprotocols"] == ["a"]
    assert ws["server"] == ("testserver", 80)
    assert "method" not in ws


async def test_run_http_collects_streamed_body_and_drops_head_body() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x", b"1")]})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
        assert (await receive())["type"] == "http.disconnect"

    request = httpx.Request("POST", "http://testserver/p", content=b"data")
    r = await run_http(app, request, b"data", root_path="", state={}, raise_server_exceptions=True)
    assert r.status_code == 201
    assert r.content == b"ab"
    assert r.headers["x"] == "1"
    assert seen == [{"type": "http.request", "body": b"data", "more_body": False}]
    head = httpx.Request("HEAD", "http://testserver/p")
    r = await run_http(app, head, b"", root_path="", state={}, raise_server_exceptions=True)
    assert r.content == b""


async def test_run_http_app_that_never_responds_is_an_error() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    request = httpx.Request("GET", "http://testserver/")
    with pytest.raises(RuntimeError, match="without sending"):
        await run_http(silent, request, b"", root_path="", state={}, raise_server_exceptions=True)


async def test_lifespan_driver_reports_failure() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no db"})

    with pytest.raises(RuntimeError, match="no db"):
        await Lifespan(app, {}).startup()


async def test_lifespan_driver_shares_state() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        scope["state"]["x"] = 1
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    state: dict[str, Any] = {}
    driver = Lifespan(app, state)
    await driver.startup()
    assert state == {"x": 1}
    await driver.shutdown()


async def test_websocket_session_app_returning_without_close() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "bye"})

    session = WebSocketSession(app, build_scope("websocket", httpx.URL("http://t/ws"), []))
    await session.connect()
    assert await session.receive_text() == "bye"
    with pytest.raises(WebSocketDisconnect) as info:
        await session.receive_text()
    assert info.value.code == 1006
    await session.close()
