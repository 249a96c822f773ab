"""WebSockets over real sockets, with the websockets client library as the peer."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.protocol import CLIENT, OPEN, Protocol

from celeris.types import Receive, Scope, Send

from .support import raw, serving, status_of


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send(
        {"type": "websocket.accept", "subprotocol": subprotocol, "headers": [(b"x-hello", b"1")]}
    )
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close-please":
            await send({"type": "websocket.close", "code": 4000, "reason": "asked"})
            return
        await send(
            {"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")}
        )


async def test_echo_text_and_bytes() -> None:
    async with serving(echo) as (_, port), connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"\x00\x01"
        assert ws.response.headers["x-hello"] == "1"
        assert "date" in ws.response.headers


async def test_fragmented_messages_are_reassembled() -> None:
    async with (
        serving(echo) as (_, port),
        connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws,
    ):
        await ws.send(["frag", "ment", "ed"])
        assert await ws.recv() == "fragmented"
        await ws.send([b"a", b"b"])
        assert await ws.recv() == b"ab"


async def test_subprotocol_is_negotiated() -> None:
    async with (
        serving(echo) as (_, port),
        connect(f"ws://127.0.0.1:{port}/", subprotocols=["chat"]) as ws,
    ):  # type: ignore[list-item]
        assert ws.subprotocol == "chat"


async def test_permessage_deflate_is_negotiated_and_works() -> None:
    async with serving(echo) as (_, port), connect(f"ws://127.0.0.1:{port}/") as ws:
        assert "permessage-deflate" in ws.response.headers.get("sec-websocket-extensions", "")
        await ws.send("x" * 10000)
        assert await ws.recv() == "x" * 10000


async def test_permessage_deflate_can_be_turned_off() -> None:
    async with (
        serving(echo, websocket_per_message_deflate=False) as (_, port),
        connect(f"ws://127.0.0.1:{port}/") as ws,
    ):
        assert "sec-websocket-extensions" not in ws.response.headers


async def test_server_close_code_reaches_the_client() -> None:
    async with serving(echo) as (_, port), connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send("close-please")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 4000


async def test_too_big_message_closes_with_1009() -> None:
    async with (
        serving(echo, limit_websocket_message=1000) as (_, port),
        connect(f"ws://127.0.0.1:{port}/", compression=None) as ws,
    ):
        await ws.send("y" * 2000)
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1009


async def _raw_ws(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    return reader, writer


async def _close_code(reader: asyncio.StreamReader) -> int:
    client = Protocol(CLIENT, state=OPEN)
    while True:
        data = await asyncio.wait_for(reader.read(65536), 5)
        if not data:
            client.receive_eof()
        else:
            client.receive_data(data)
        for event in client.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                return int.from_bytes(event.data[:2], "big")
        if not data:
            raise AssertionError("closed without a close frame")


def _masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    header = bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)])
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_invalid_utf8_closes_with_1007() -> None:
    async with serving(echo) as (_, port):
        reader, writer = await _raw_ws(port)
        writer.write(_masked(0x1, b"\xff\xfe"))
        assert await _close_code(reader) == 1007
        writer.close()


async def test_invalid_utf8_split_across_fragments_closes_with_1007() -> None:
    async with serving(echo) as (_, port):
        reader, writer = await _raw_ws(port)
        writer.write(_masked(0x1, b"ok\xe2", fin=False) + _masked(0x0, b"\x28\xa1"))
        assert await _close_code(reader) == 1007
        writer.close()


async def test_unmasked_client_frame_is_a_protocol_error() -> None:
    async with serving(echo) as (_, port):
        reader, writer = await _raw_ws(port)
        writer.write(b"\x81\x02hi")
        assert await _close_code(reader) == 1002
        writer.close()


async def test_bad_key_is_answered_400_and_bad_version_426() -> None:
    async with serving(echo) as (_, port):
        bad_key = await raw(
            port,
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: nope\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        assert status_of(bad_key) == 400
        bad_version = await raw(
            port,
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        assert status_of(bad_version) == 426
        assert b"sec-websocket-version: 13" in bad_version.lower()


async def test_app_closing_before_accept_denies_with_403() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close"})

    async with serving(app) as (_, port):
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"ws://127.0.0.1:{port}/"):
                pass
        assert info.value.response.status_code == 403


async def test_denial_response_extension() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            assert "websocket.http.response" in scope["extensions"]
            await receive()
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b"who are you"})

    async with serving(app) as (_, port):
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"ws://127.0.0.1:{port}/"):
                pass
        assert info.value.response.status_code == 401
        assert info.value.response.body == b"who are you"


async def test_client_disconnect_is_surfaced_with_its_code() -> None:
    codes: list[Any] = []
    done = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        codes.append(message.get("code"))
        done.set()

    async with serving(app) as (_, port):
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.close(code=4001)
        await asyncio.wait_for(done.wait(), 5)
    assert codes == [4001]


async def test_ping_timeout_closes_a_silent_peer() -> None:
    async with serving(echo, websocket_ping_interval=0.1, websocket_ping_timeout=0.1) as (_, port):
        reader, writer = await _raw_ws(port)
        client = Protocol(CLIENT, state=OPEN)
        seen: list[Opcode] = []
        while True:  # read pings without answering them
            data = await asyncio.wait_for(reader.read(65536), 5)
            if not data:
                break
            client.receive_data(data)
            seen.extend(e.opcode for e in client.events_received() if isinstance(e, Frame))
            if Opcode.CLOSE in seen:
                break
        writer.close()
    assert Opcode.PING in seen
    assert Opcode.CLOSE in seen


async def test_pong_keeps_the_connection_alive() -> None:
    async with (
        serving(echo, websocket_ping_interval=0.1, websocket_ping_timeout=0.2) as (_, port),
        connect(f"ws://127.0.0.1:{port}/") as ws,
    ):
        await asyncio.sleep(0.6)  # the client library answers pings
        await ws.send("still here")
        assert await ws.recv() == "still here"


async def test_many_messages_with_backpressure() -> None:
    async with (
        serving(echo) as (_, port),
        connect(f"ws://127.0.0.1:{port}/", compression=None, max_size=None) as ws,
    ):
        payload = b"p" * 100_000
        for _ in range(50):
            await ws.send(payload)
        for _ in range(50):
            assert await ws.recv() == payload


async def test_app_exception_after_accept_closes_with_1011() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            raise RuntimeError("boom")

    async with serving(app) as (_, port), connect(f"ws://127.0.0.1:{port}/") as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1011


async def test_graceful_shutdown_closes_websockets_with_1012() -> None:
    async with serving(echo) as (server, port):
        ws = await connect(f"ws://127.0.0.1:{port}/")
        server.request_stop()
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1012
        await ws.close()
