"""Other frameworks' ASGI apps run unchanged on the celeris server (test dependencies only)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from celeris.server.config import Config
from celeris.server.server import Server

pytestmark = pytest.mark.e2e

starlette = pytest.importorskip("starlette")
fastapi = pytest.importorskip("fastapi")
django = pytest.importorskip("django")
pydantic = pytest.importorskip("pydantic")


class Item(pydantic.BaseModel):
    name: str
    price: float


@asynccontextmanager
async def serving(app: Any, **options: Any) -> AsyncIterator[tuple[Server, int]]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = Server(Config(access_log=False, **options), app)
    server.started = asyncio.Event()
    task = asyncio.create_task(server.serve([sock]))
    await asyncio.wait_for(server.started.wait(), 10)
    try:
        yield server, sock.getsockname()[1]
    finally:
        server.request_stop()
        await asyncio.wait_for(task, 30)
        sock.close()


async def request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    data = await asyncio.wait_for(reader.read(-1), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        out = b""
        while True:
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line, 16)
            if not size:
                break
            out += body[:size]
            body = body[size + 2 :]
        body = out
    return int(lines[0].split()[1]), headers, body


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    events: list[str] = []

    async def lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        yield {"greeting": "hello"}
        events.append("shutdown")

    async def home(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "greeting": request.state.greeting,
                "body": body.decode(),
                "root_path": request.scope["root_path"],
                "url": str(request.url),
            }
        )

    async def stream(request: Request) -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for i in range(3):
                yield b"part%d;" % i

        return StreamingResponse(parts(), media_type="text/plain")

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(text[::-1])
        await websocket.close()

    app = Starlette(
        routes=[
            Route("/", home, methods=["GET", "POST"]),
            Route("/stream", stream),
            WebSocketRoute("/ws", ws),
        ],
        lifespan=asynccontextmanager(lifespan),
    )
    app.state.events = events
    return app


async def test_starlette_http_streaming_lifespan_state_and_root_path() -> None:
    app = starlette_app()
    async with serving(app, root_path="/prefix") as (_, port):
        status, _, body = await request(
            port,
            b"POST /prefix/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        )
        assert status == 200
        data = json.loads(body)
        assert data["greeting"] == "hello"
        assert data["body"] == "abc"
        assert data["root_path"] == "/prefix"
        status, headers, body = await request(
            port, b"GET /prefix/stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        assert status == 200
        assert headers["transfer-encoding"] == "chunked"
        assert body == b"part0;part1;part2;"
    assert app.state.events == ["startup", "shutdown"]


async def test_starlette_websocket() -> None:
    from websockets.asyncio.client import connect

    async with serving(starlette_app()) as (_, port), connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send("abc")
        assert await ws.recv() == "cba"


async def test_fastapi_validation_and_errors() -> None:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/items")
    async def create(item: Item) -> dict[str, Any]:
        return {"name": item.name, "price": item.price}

    @app.get("/items/{item_id}")
    def read(item_id: int) -> dict[str, int]:  # a sync handler: FastAPI's thread pool
        return {"item_id": item_id}

    async with serving(app) as (_, port):
        body = b'{"name": "x", "price": 1.5}'
        status, _, data = await request(
            port,
            b"POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (len(body), body),
        )
        assert status == 200
        assert json.loads(data) == {"name": "x", "price": 1.5}
        status, _, data = await request(
            port, b"GET /items/7 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        assert json.loads(data) == {"item_id": 7}
        status, _, _ = await request(
            port, b"GET /items/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        assert status == 422
        status, _, data = await request(
            port, b"GET /openapi.json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        assert status == 200
        assert "/items" in json.loads(data)["paths"]


def _django_app() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only",
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["*"],
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
        )
    import django as dj

    dj.setup()
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def _django_view(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "q": request.GET.get("q"),
            "body": request.body.decode(),
        }
    )


def _urlpatterns() -> list[Any]:
    from django.urls import path

    return [path("hello/", _django_view)]


async def test_django_asgi_handler() -> None:
    app = _django_app()
    sys.modules[__name__].urlpatterns = _urlpatterns()  # type: ignore[attr-defined]
    async with serving(app) as (_, port):
        status, _, data = await request(
            port,
            b"POST /hello/?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        )
        assert status == 200
        assert json.loads(data) == {"method": "POST", "path": "/hello/", "q": "1", "body": "hi"}
        status, _, _ = await request(
            port, b"GET /missing/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        assert status == 404
