"""WSGI apps on the server: detected, run on a bounded thread pool, bodies streamed both ways."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from celeris.server.config import Config
from celeris.server.importer import ImportFromStringError, import_from_string
from celeris.server.server import load_app
from celeris.server.wsgi import is_wsgi

from .support import echo_app, raw, read_response, serving, status_of


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from ", environ["PATH_INFO"].encode()]


class Callable:
    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return hello(environ, start_response)


async def asgi(scope: Any, receive: Any, send: Any) -> None:
    pass


class AsgiClass:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        pass


def test_wsgi_callables_are_told_from_asgi_ones() -> None:
    assert is_wsgi(hello)
    assert is_wsgi(Callable())
    assert not is_wsgi(asgi)
    assert not is_wsgi(AsgiClass())
    assert not is_wsgi(echo_app)
    assert not is_wsgi(Callable)  # a class is a factory of apps, not one
    assert not is_wsgi(42)


def test_interface_decides_how_the_app_is_loaded() -> None:
    assert import_from_string(hello) is hello  # auto: detected
    with pytest.raises(ImportFromStringError, match="or --interface wsgi"):
        import_from_string(hello, interface="asgi3")
    wrapped = load_app(hello, Config())
    assert wrapped is not hello
    assert not is_wsgi(wrapped)
    assert load_app(echo_app, Config()) is echo_app


def streaming_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """Read the body in pieces and answer in pieces, noting the threads it runs on."""
    stream = environ["wsgi.input"]
    got = 0
    while piece := stream.read(65536):
        got += len(piece)
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"read %d bytes on %s\n" % (got, threading.current_thread().name.encode())
    for i in range(3):
        yield b"part %d\n" % i


async def test_a_wsgi_app_streams_bodies_and_keeps_the_servers_limits() -> None:
    async with serving(load_app(streaming_app, Config()), limit_request_body=1024 * 1024) as (
        _,
        port,
    ):
        body = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        response = await raw(
            port,
            b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + body * 4
            + b"0\r\n\r\n",
        )
        assert status_of(response) == 200
        assert b"read 262144 bytes on WSGI" in response
        assert b"part 2\n" in response
        too_big = await raw(port, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n")
        assert status_of(too_big) == 413  # answered by the server: the app never ran


def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    time.sleep(0.3)
    start_response("200 OK", [])
    return [b"done"]


async def test_the_thread_pool_is_bounded() -> None:
    async with serving(load_app(slow_app, Config(wsgi_threads=2))) as (_, port):

        async def one() -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            status = (await read_response(reader))[0]
            writer.close()
            return status

        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.gather(*(one() for _ in range(4))) == [200] * 4
        assert loop.time() - started >= 0.55  # 4 requests of 0.3 s on 2 threads: two rounds


async def test_a_websocket_upgrade_to_a_wsgi_app_is_denied() -> None:
    async with serving(load_app(hello, Config())) as (_, port):
        response = await raw(
            port,
            b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
    assert status_of(response) == 403
