"""TestClient and AsyncTestClient: HTTP, lifespan, WebSockets, any ASGI app."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from celeris import App, RedirectResponse, Request, WebSocket, WebSocketDisconnect
from celeris.testing import AsyncTestClient, TestClient
from celeris.types import Receive, Scope, Send


def make_app() -> App:
    app = App()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        return {
            "body": (await request.body()).decode(),
            "query": dict(request.query_params.items()),
            "host": request.headers.get("host"),
            "client": request.client.host if request.client else None,
        }

    @app.get("/redirect")
    async def redirect() -> Any:
        return RedirectResponse("/target")

    @app.get("/target")
    async def target() -> str:
        return "target"

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept(subprotocol=(socket.subprotocols or [None])[0])
        data = await socket.receive_json()
        await socket.send_json({"got": data, "header": socket.headers.get("x-h")})
        raw = await socket.receive_bytes()
        await socket.send_bytes(raw * 2)
        await socket.close(code=4000)

    @app.websocket("/deny")
    async def deny(socket: WebSocket) -> None:
        await socket.close(code=4403)

    return app


def test_http_round_trip() -> None:
    client = TestClient(make_app())
    r = client.post("/echo", params={"a": "1"}, content=b"payload")
    assert r.json() == {
        "body": "payload",
        "query": {"a": "1"},
        "host": "testserver",
        "client": "testclient",
    }


def test_redirects_followed_by_default_and_optional() -> None:
    client = TestClient(make_app())
    assert client.get("/redirect").text == "target"
    assert client.get("/redirect", follow_redirects=False).status_code == 307


def test_websocket_session_json_bytes_subprotocol_and_close() -> None:
    client = TestClient(make_app())
    with client.websocket_connect("/ws", subprotocols=["chat"], headers={"x-h": "v"}) as ws:
        assert ws.subprotocol == "chat"
        ws.send_json({"a": 1})
        assert ws.receive_json() == {"got": {"a": 1}, "header": "v"}
        ws.send_bytes(b"ab")
        assert ws.receive_bytes() == b"abab"
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 4000


def test_websocket_denied() -> None:
    with pytest.raises(WebSocketDisconnect) as info:
        TestClient(make_app()).websocket_connect("/deny")
    assert info.value.code == 4403


def test_plain_asgi_app_and_server_exceptions() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["path"] == "/crash":
            raise ValueError("crash")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})

    with TestClient(app) as client:
        assert client.get("/").text == "ab"
        with pytest.raises(ValueError, match="crash"):
            client.get("/crash")
    assert TestClient(app, raise_server_exceptions=False).get("/crash").status_code == 500


def test_unraised_server_exceptions_are_logged_with_their_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App(openapi_url=None)

    @app.get("/crash")
    async def crash() -> str:
        raise ZeroDivisionError("the real cause")

    with caplog.at_level(logging.ERROR, logger="celeris.error"):
        r = TestClient(app, raise_server_exceptions=False).get("/crash")
    assert r.status_code == 500
    assert "the real cause" not in r.text
    [record] = [rec for rec in caplog.records if rec.name == "celeris.error"]
    assert record.getMessage() == "Exception in application (GET /crash)"
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError


async def test_async_client_http_and_websocket() -> None:
    async with AsyncTestClient(make_app()) as client:
        r = await client.post("/echo", content=b"x")
        assert r.json()["body"] == "x"
        async with client.websocket_connect("/ws", headers={"x-h": "w"}) as ws:
            await ws.send_json([1])
            assert await ws.receive_json() == {"got": [1], "header": "w"}
            await ws.send_bytes(b"z")
            assert await ws.receive_bytes() == b"zz"
        ws2 = await client.websocket_connect("/ws")
        await ws2.send_text('"t"')
        assert (await ws2.receive())["text"] == '{"got":"t","header":null}'
        await ws2.close()
