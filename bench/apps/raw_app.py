"""The floor: a bare uvloop + httptools protocol, no framework, the same endpoints.

Run as ``python -m bench.apps.raw_app PORT``. Responses on one connection are written in
request order, so pipelining works even when a database endpoint suspends.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import cast
from urllib.parse import parse_qs

import httptools
import msgspec
import uvloop
from jinja2 import Environment, FileSystemLoader

from bench.apps import pg
from bench.apps.models import USER_DECODER
from bench.apps.sql import HELLO, TEMPLATES, query_count

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"
HTML = b"text/html; charset=utf-8"
REASONS = {200: b"OK", 404: b"Not Found", 405: b"Method Not Allowed", 422: b"Unprocessable Entity"}
fortunes_template = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True).get_template(
    "fortunes.html"
)
encode = msgspec.json.encode
_date = b""


def _tick_date(loop: asyncio.AbstractEventLoop) -> None:
    global _date
    _date = formatdate(usegmt=True).encode()
    loop.call_later(1.0, _tick_date, loop)


def response(status: int, content_type: bytes, body: bytes) -> bytes:
    """Build one whole HTTP/1.1 response."""
    # PERF: one bytes join per response, the Date header ticked once a second.
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\nServer: raw\r\nDate: " % (status, REASONS[status]),
            _date,
            b"\r\nContent-Type: ",
            content_type,
            b"\r\nContent-Length: %d\r\n\r\n" % len(body),
            body,
        )
    )


def _item(path: str, query: dict[str, list[str]]) -> bytes:
    try:
        item_id = int(path[len("/items/") :])
    except ValueError:
        return response(404, JSON, b'{"detail":"not found"}')
    try:
        limit = int(query.get("limit", ["10"])[0])
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        return response(422, JSON, b'{"detail":"limit must be an integer in 1..100"}')
    q = query.get("q", [None])[0]
    return response(200, JSON, encode({"item_id": item_id, "q": q, "limit": limit}))


def _user(body: bytes) -> bytes:
    try:
        user = USER_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        return response(422, JSON, encode({"detail": str(exc)}))
    return response(200, JSON, encode(user))


async def _db(query: dict[str, list[str]]) -> bytes:
    return response(200, JSON, encode(await pg.single_query()))


async def _queries(query: dict[str, list[str]]) -> bytes:
    count = query_count(query.get("queries", [None])[0])
    return response(200, JSON, encode(await pg.multiple_queries(count)))


async def _fortunes(query: dict[str, list[str]]) -> bytes:
    rows = [{"id": i, "message": m} for i, m in await pg.fortunes()]
    return response(200, HTML, fortunes_template.render(fortunes=rows).encode())


async def _updates(query: dict[str, list[str]]) -> bytes:
    count = query_count(query.get("queries", [None])[0])
    return response(200, JSON, encode(await pg.updates(count)))


ASYNC_ROUTES: dict[str, Callable[[dict[str, list[str]]], Awaitable[bytes]]] = {
    "/db": _db,
    "/queries": _queries,
    "/fortunes": _fortunes,
    "/updates": _updates,
}


class HttpProtocol(asyncio.Protocol):
    """One connection: parse with httptools, answer in order."""

    __slots__ = ("body", "parser", "pending", "transport", "url")

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.pending: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._write(response(404, TEXT, b"no websockets on the floor"))
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        parsed = httptools.parse_url(self.url)
        path = parsed.path.decode()
        method = self.parser.get_method()
        body = b"".join(self.body)
        self.url = b""
        self.body = []
        query = parse_qs(parsed.query.decode()) if parsed.query else {}
        handler = ASYNC_ROUTES.get(path)
        if handler is not None:
            self._chain(handler(query))
            return
        if path == "/plaintext":
            out = response(200, TEXT, HELLO.encode())
        elif path == "/json":
            out = response(200, JSON, encode({"message": HELLO}))
        elif path.startswith("/items/"):
            out = _item(path, query)
        elif path == "/users" and method == b"POST":
            out = _user(body)
        else:
            out = response(404, JSON, b'{"detail":"not found"}')
        if self.pending is None:
            self._write(out)
        else:
            self._chain(_ready(out))

    def _chain(self, coro: Awaitable[bytes]) -> None:
        self.pending = asyncio.ensure_future(self._after(self.pending, coro))

    async def _after(self, previous: asyncio.Task[None] | None, coro: Awaitable[bytes]) -> None:
        out = await coro
        if previous is not None:
            await previous
        self._write(out)
        if self.pending is asyncio.current_task():
            self.pending = None

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def _ready(data: bytes) -> bytes:
    return data


def main(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until killed."""
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    _tick_date(loop)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = loop.run_until_complete(loop.create_server(HttpProtocol, sock=sock, backlog=4096))
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
