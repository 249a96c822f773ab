"""ASGI lifespan: startup before serving, shutdown after, failures stop the server."""

from __future__ import annotations

import asyncio

import pytest

from celeris.server.lifespan import Lifespan, LifespanError
from celeris.types import Receive, Scope, Send

from .support import raw, serving, status_of


async def test_startup_and_shutdown_run_in_order() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        else:
            events.append("request")
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async with serving(app) as (_, port):
        await raw(port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert events == ["lifespan.startup", "request", "lifespan.shutdown"]


async def test_startup_failure_message_stops_the_server() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})

    with pytest.raises(LifespanError, match="database unreachable"):
        async with serving(app):
            pass


async def test_startup_exception_stops_the_server_with_the_apps_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise ConnectionError("no redis")

    with pytest.raises(LifespanError, match="ConnectionError: no redis"):
        async with serving(app):
            pass


async def test_an_app_without_lifespan_support_is_served() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with serving(app) as (_, port):
        assert (
            status_of(await raw(port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
            == 200
        )


async def test_shutdown_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})

    lifespan = Lifespan(app, {})
    await lifespan.startup()
    await lifespan.shutdown()
    assert "flush failed" in caplog.text


async def test_state_is_shared_with_the_app() -> None:
    state: dict[str, object] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        scope["state"]["pool"] = "ready"
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    lifespan = Lifespan(app, state)
    await lifespan.startup()
    assert state == {"pool": "ready"}
    await asyncio.wait_for(lifespan.shutdown(), 5)
