"""A real celeris App on the celeris server: the fast lane answers byte for byte like ASGI."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from celeris import App, HTTPError
from celeris.server.config import Config
from celeris.server.server import Server
from celeris.types import fast_lane_of

pytestmark = pytest.mark.e2e


def make_app() -> App:
    app = App()

    @app.get("/")
    async def index() -> str:
        return "Hello, World!"

    @app.get("/json")
    async def as_json() -> dict[str, Any]:
        return {"message": "Hello, World!"}

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    @app.post("/echo")
    async def echo(payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    @app.get("/slow")
    async def slow() -> str:
        await asyncio.sleep(0.01)
        return "slow"

    @app.get("/timeout")
    async def timeout_first() -> dict[str, bool]:
        # asyncio.timeout() on a handler's first line needs a current Task, as on uvicorn.
        async with asyncio.timeout(1):
            in_task = asyncio.current_task() is not None
            await asyncio.sleep(0)
        return {"in_task": in_task}

    @app.get("/sync")
    def blocking() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/missing")
    async def missing() -> str:
        raise HTTPError(404, "No such thing")

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("secret")

    @app.get("/profiles/{name}")
    async def profile(name: str) -> str:
        return name

    @app.get("/a/b")
    async def a_b() -> str:
        return "static"

    return app


@asynccontextmanager
async def serving(app: Any, **options: Any) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = Server(Config(access_log=False, **options), app)
    server.started = asyncio.Event()
    task = asyncio.create_task(server.serve([sock]))
    await asyncio.wait_for(server.started.wait(), 10)
    try:
        yield sock.getsockname()[1]
    finally:
        server.request_stop()
        await asyncio.wait_for(task, 30)
        sock.close()


async def exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    response = await asyncio.wait_for(reader.read(-1), 10)
    writer.close()
    return b"\r\n".join(
        line for line in response.split(b"\r\n") if not line.lower().startswith(b"date: ")
    )


ENCODED_SLASH_PARAM = b"GET /profiles/a%2Fb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
ENCODED_SLASH_STATIC = b"GET /a%2Fb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /items/3?q=x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /items/abc HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{"a": 1}',
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{bad}",
    b"GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /sync HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /timeout HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /missing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /nowhere HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"DELETE / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /boom HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    ENCODED_SLASH_PARAM,
    ENCODED_SLASH_STATIC,
    b"GET /nowhere HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\nGET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
]


async def test_the_app_offers_a_fast_lane() -> None:
    assert fast_lane_of(make_app()) is not None


@pytest.mark.parametrize("request_bytes", REQUESTS)
async def test_fast_lane_and_asgi_answer_identically(request_bytes: bytes) -> None:
    async with serving(make_app()) as port:
        fast = await exchange(port, request_bytes)
    async with serving(make_app(), fast_lane=False) as port:
        asgi = await exchange(port, request_bytes)
    assert fast == asgi
    assert fast.startswith(b"HTTP/1.1 ")
    if b"/timeout" in request_bytes:
        assert fast.endswith(b'{"in_task":true}')
    assert b"secret" not in fast


async def test_an_encoded_slash_stays_in_its_segment_on_the_fast_lane() -> None:
    async with serving(make_app()) as port:
        param = await exchange(port, ENCODED_SLASH_PARAM)
        static = await exchange(port, ENCODED_SLASH_STATIC)
    assert param.startswith(b"HTTP/1.1 200 ")
    assert param.endswith(b"\r\n\r\na/b")
    assert static.startswith(b"HTTP/1.1 404 ")


@pytest.mark.parametrize("fast_lane", [True, False], ids=["fast-lane", "asgi"])
@pytest.mark.parametrize("host", [b"exa mple.org", b"a/b", b"user@a", b"a:b"])
async def test_a_host_that_is_not_uri_host_and_port_is_400_on_both_lanes(
    fast_lane: bool, host: bytes
) -> None:
    async with serving(make_app(), fast_lane=fast_lane) as port:
        response = await exchange(port, b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host)
    assert response.startswith(b"HTTP/1.1 400 "), response
    assert b'"detail":"Invalid Host header"' in response
    assert b"Hello" not in response
