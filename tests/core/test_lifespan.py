"""Lifespan: startup/shutdown handlers, lifespan= context managers, state, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from celeris import App, Request
from celeris.core.lifespan import Lifespan
from celeris.testing import AsyncTestClient, TestClient


def test_startup_and_shutdown_handlers_in_order() -> None:
    events: list[str] = []

    def sync_start() -> None:
        events.append("sync-start")

    app = App(on_startup=[sync_start], on_shutdown=[lambda: events.append("ctor-stop")])

    @app.on_startup
    async def async_start() -> None:
        events.append("async-start")

    @app.on_shutdown
    async def stop() -> None:
        events.append("stop")

    with TestClient(app):
        assert events == ["sync-start", "async-start"]
    assert events == ["sync-start", "async-start", "ctor-stop", "stop"]


def test_lifespan_context_manager_state_reaches_requests() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append("enter")
        yield {"db": "connection"}
        events.append("exit")

    app = App(lifespan=lifespan)

    @app.get("/")
    async def index(request: Request) -> str:
        return str(request.state.db)

    with TestClient(app) as client:
        assert client.get("/").text == "connection"
        assert events == ["enter"]
    assert events == ["enter", "exit"]


def test_lifespan_without_app_argument_and_none_state() -> None:
    seen: list[str] = []

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        seen.append("in")
        yield None
        seen.append("out")

    with TestClient(App(lifespan=lifespan)):
        pass
    assert seen == ["in", "out"]


def test_startup_failure_is_reported_with_message() -> None:
    app = App()

    @app.on_startup
    def broken() -> None:
        raise RuntimeError("cannot reach the database")

    with pytest.raises(RuntimeError, match="cannot reach the database"), TestClient(app):
        pass


def test_lifespan_must_yield_a_mapping() -> None:
    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[Any]:
        yield 42

    with pytest.raises(RuntimeError, match="mapping"), TestClient(App(lifespan=lifespan)):
        pass


async def test_asgi_protocol_without_state_support_uses_app_state() -> None:
    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"cache": "memory"}

    app = App(lifespan=lifespan)
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert app.state.cache == "memory"


async def test_shutdown_failure_is_reported() -> None:
    lifespan = Lifespan(object(), on_shutdown=[lambda: 1 / 0])
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await lifespan({"type": "lifespan", "state": {}}, receive, send)
    assert sent[-1]["type"] == "lifespan.shutdown.failed"
    assert "ZeroDivisionError" in sent[-1]["message"]


async def test_async_client_runs_lifespan() -> None:
    events: list[str] = []
    app = App(on_startup=[lambda: events.append("up")], on_shutdown=[lambda: events.append("down")])

    @app.get("/")
    async def index() -> str:
        return "ok"

    async with AsyncTestClient(app) as client:
        assert (await client.get("/")).text == "ok"
        assert events == ["up"]
    assert events == ["up", "down"]


def test_mounted_apps_start_and_stop_with_their_parent() -> None:
    events: list[str] = []
    sub = App(
        on_startup=[lambda: events.append("sub-up")],
        on_shutdown=[lambda: events.append("sub-down")],
    )

    @asynccontextmanager
    async def sub_lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"sub_value": 1}

    sub2 = App(lifespan=sub_lifespan)

    @sub2.get("/v")
    async def value(request: Request) -> int:
        return request.state.sub_value

    parent = App(
        on_startup=[lambda: events.append("up")], on_shutdown=[lambda: events.append("down")]
    )
    parent.mount("/sub", sub)
    parent.mount("/sub2", sub2)
    with TestClient(parent) as client:
        assert events == ["up", "sub-up"]
        assert client.get("/sub2/v").json() == 1
    assert events == ["up", "sub-up", "sub-down", "down"]
