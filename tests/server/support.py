"""Helpers for server tests: run a real server in the test's loop and talk raw bytes to it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from celeris.server.config import Config
from celeris.server.server import Server
from celeris.types import Message, Receive, Scope, Send


@asynccontextmanager
async def serving(app: Any, **options: Any) -> AsyncIterator[tuple[Server, int]]:
    """Serve ``app`` on 127.0.0.1:<free port> inside the running loop."""
    options.setdefault("access_log", False)
    config = Config(host="127.0.0.1", port=0, **options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = Server(config, app)
    server.started = asyncio.Event()
    task = asyncio.create_task(server.serve([sock]))
    started = asyncio.create_task(server.started.wait())
    done, _ = await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        started.cancel()
        sock.close()
        task.result()
    try:
        yield server, port
    finally:
        server.request_stop()
        await asyncio.wait_for(task, 30)
        sock.close()


async def raw(port: int, data: bytes, *, timeout: float = 5.0, half_close: bool = False) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    if half_close:
        writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()


async def read_response(
    reader: asyncio.StreamReader, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response (Content-Length or chunked framing)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304) or status < 200:
        return status, headers, b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    else:
        body = await reader.read(-1)
    return status, headers, body


def status_of(response: bytes) -> int:
    """Return the status code of the first response in ``response``."""
    return int(response.split(b" ", 2)[1])


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with a JSON summary of the request (reads the whole body)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        more = message.get("more_body", False)
    payload = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "body": body.decode("latin-1"),
            "http_version": scope["http_version"],
            "scheme": scope["scheme"],
            "client": list(scope["client"]) if scope["client"] else None,
            "root_path": scope["root_path"],
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def message_types(messages: list[Message]) -> list[str]:
    """Return the ``type`` of each message."""
    return [m["type"] for m in messages]
