"""A bare ASGI callable answering /plaintext and /json: the 1.0 line of bench/overhead.py."""

from __future__ import annotations

from typing import Any

import msgspec

from bench.apps.sql import HELLO

_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_JSON = [(b"content-type", b"application/json")]
_NOT_FOUND = [(b"content-type", b"text/plain; charset=utf-8")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer two paths; 404 otherwise. Lifespan is acknowledged and ignored."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/plaintext":
        status, headers, body = 200, _TEXT, HELLO.encode()
    elif path == "/json":
        status, headers, body = 200, _JSON, msgspec.json.encode({"message": HELLO})
    else:
        status, headers, body = 404, _NOT_FOUND, b"Not Found"
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
