from __future__ import annotations

from typing import Any

import pytest

from celeris.core.responses import PlainTextResponse
from celeris.core.websocket import WebSocket, WebSocketDisconnect, WebSocketState


class Peer:
    """The server side of a fake ASGI WebSocket connection."""

    def __init__(self, incoming: list[dict[str, Any]], **scope: Any) -> None:
        self.incoming = [{"type": "websocket.connect"}, *incoming]
        self.sent: list[dict[str, Any]] = []
        self.scope: dict[str, Any] = {
            "type": "websocket",
            "path": "/ws/room",
            "raw_path": b"/ws/room",
            "query_string": b"token=abc",
            "scheme": "ws",
            "headers": [(b"host", b"example.com"), (b"cookie", b"sid=1")],
            "client": ("1.2.3.4", 9),
            "server": ("example.com", 80),
            "subprotocols": ["chat", "superchat"],
        }
        self.scope.update(scope)

    async def receive(self) -> dict[str, Any]:
        if not self.incoming:
            return {"type": "websocket.disconnect", "code": 1006}
        return self.incoming.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def ws(self) -> WebSocket:
        return WebSocket(self.scope, self.receive, self.send, path_params={"room": "room"})


def text(t: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": t}


def binary(b: bytes) -> dict[str, Any]:
    return {"type": "websocket.receive", "bytes": b}


def test_connection_details() -> None:
    ws = Peer([]).ws()
    assert ws.path == "/ws/room"
    assert ws.path_params == {"room": "room"}
    assert ws.query_params["token"] == "abc"
    assert ws.headers["host"] == "example.com"
    assert ws.cookies == {"sid": "1"}
    assert ws.client is not None
    assert ws.client.port == 9
    assert str(ws.url) == "ws://example.com/ws/room?token=abc"
    assert ws.subprotocols == ["chat", "superchat"]
    ws.state.user = "u"
    assert ws.scope["state"] == {"user": "u"}
    with pytest.raises(ValueError, match="websocket"):
        WebSocket({"type": "http"}, Peer([]).receive, Peer([]).send)


async def test_echo_roundtrip() -> None:
    peer = Peer(
        [
            text("hi"),
            binary(b"\x00"),
            text('{"a": 1}'),
            {"type": "websocket.disconnect", "code": 1001},
        ]
    )
    ws = peer.ws()
    await ws.accept(subprotocol="chat", headers={"x-a": "1"})
    assert ws.application_state is WebSocketState.CONNECTED
    await ws.send_text(await ws.receive_text())
    await ws.send_bytes(await ws.receive_bytes())
    await ws.send_json(await ws.receive_json())
    await ws.send_json([1], mode="binary")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert info.value.code == 1001
    assert peer.sent == [
        {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-a", b"1")]},
        {"type": "websocket.send", "text": "hi"},
        {"type": "websocket.send", "bytes": b"\x00"},
        {"type": "websocket.send", "text": '{"a":1}'},
        {"type": "websocket.send", "bytes": b"[1]"},
    ]
    assert ws.client_state is WebSocketState.DISCONNECTED
    with pytest.raises(RuntimeError, match="disconnected"):
        await ws.receive()


async def test_iterators_stop_on_close() -> None:
    peer = Peer([text("a"), text("b"), {"type": "websocket.disconnect", "code": 1000}])
    ws = peer.ws()
    await ws.accept()
    assert [m async for m in ws.iter_text()] == ["a", "b"]

    peer = Peer([binary(b"a"), {"type": "websocket.disconnect", "code": 1000}])
    ws = peer.ws()
    await ws.accept()
    assert [m async for m in ws.iter_bytes()] == [b"a"]

    peer = Peer([text("[1]"), binary(b'{"b":2}'), {"type": "websocket.disconnect", "code": 1000}])
    ws = peer.ws()
    await ws.accept()
    assert [m async for m in ws.iter_json()] == [[1], {"b": 2}]


async def test_wrong_message_kind_closes_1003() -> None:
    peer = Peer([binary(b"x")])
    ws = peer.ws()
    await ws.accept()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert info.value.code == 1003
    assert peer.sent[-1] == {
        "type": "websocket.close",
        "code": 1003,
        "reason": "expected a text message",
    }

    peer = Peer([text("x")])
    ws = peer.ws()
    await ws.accept()
    with pytest.raises(WebSocketDisconnect, match="binary"):
        await ws.receive_bytes()


async def test_malformed_json_closes_1007() -> None:
    peer = Peer([text("{nope")])
    ws = peer.ws()
    await ws.accept()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_json()
    assert info.value.code == 1007
    assert peer.sent[-1]["code"] == 1007


async def test_misuse_gives_clear_errors() -> None:
    peer = Peer([text("x")])
    ws = peer.ws()
    with pytest.raises(RuntimeError, match='call "accept" first'):
        await ws.receive_text()
    with pytest.raises(RuntimeError, match="accept"):
        await ws.send_text("x")
    with pytest.raises(ValueError, match="not offered"):
        await ws.accept(subprotocol="nope")
    await ws.accept()
    with pytest.raises(RuntimeError, match="already accepted"):
        await ws.accept()
    await ws.close(1000, "bye")
    await ws.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await ws.send_text("late")
    assert peer.sent[-1] == {"type": "websocket.close", "code": 1000, "reason": "bye"}


async def test_close_before_accept_and_unexpected_first_message() -> None:
    peer = Peer([])
    ws = peer.ws()
    await ws.close(4000)
    assert peer.sent == [{"type": "websocket.close", "code": 4000, "reason": ""}]

    peer = Peer([])
    peer.incoming = [text("early")]
    with pytest.raises(RuntimeError, match="websocket.connect"):
        await peer.ws().accept()


async def test_deny_with_extension() -> None:
    peer = Peer([], extensions={"websocket.http.response": {}})
    ws = peer.ws()
    await ws.deny(PlainTextResponse("go away", status_code=403))
    assert peer.sent[0]["type"] == "websocket.http.response.start"
    assert peer.sent[0]["status"] == 403
    assert peer.sent[1] == {"type": "websocket.http.response.body", "body": b"go away"}
    assert ws.application_state is WebSocketState.DISCONNECTED


async def test_deny_without_extension_closes_1008() -> None:
    peer = Peer([])
    ws = peer.ws()
    await ws.deny(PlainTextResponse("no", status_code=403))
    assert peer.sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]
    with pytest.raises(RuntimeError, match="before accept"):
        await ws.deny(PlainTextResponse("no"))


async def test_send_failure_becomes_disconnect() -> None:
    peer = Peer([])

    async def broken(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            raise ConnectionResetError("gone")

    ws = WebSocket(peer.scope, peer.receive, broken)
    await ws.accept()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("x")
    assert info.value.code == 1006
