"""Middleware: ASGI classes, @app.middleware functions, before/after hooks."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest

from celeris import App, HTTPError, PlainTextResponse, Request, Response, StreamingResponse
from celeris.core.middleware import Middleware, check_function_middleware
from celeris.testing import TestClient
from celeris.types import Message, Receive, Scope, Send


class HeaderMiddleware:
    """A pure ASGI middleware adding a header to every HTTP response."""

    def __init__(self, app: Any, name: str, value: str) -> None:
        self.app = app
        self.name = name.encode()
        self.value = value.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (self.name, self.value)]
            await send(message)

        await self.app(scope, receive, wrapped)


def test_asgi_middleware_order_last_added_outermost() -> None:
    order: list[str] = []

    class Record:
        def __init__(self, app: Any, label: str) -> None:
            self.app = app
            self.label = label

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                order.append(self.label)
            await self.app(scope, receive, send)

    app = App(
        middleware=[Middleware(Record, label="ctor-outer"), Middleware(Record, label="ctor-inner")]
    )
    app.add_middleware(Record, label="added-1")
    app.add_middleware(Record, label="added-2")

    @app.get("/")
    async def index() -> str:
        return "ok"

    TestClient(app).get("/")
    assert order == ["added-2", "added-1", "ctor-outer", "ctor-inner"]


def test_asgi_middleware_sees_errors_and_404() -> None:
    app = App()
    app.add_middleware(HeaderMiddleware, name="x-mw", value="1")
    client = TestClient(app)
    r = client.get("/missing")
    assert r.status_code == 404
    assert r.headers["x-mw"] == "1"


def test_middleware_spec_repr_and_checks() -> None:
    spec = Middleware(HeaderMiddleware, name="a", value="b")
    assert "HeaderMiddleware" in repr(spec)
    assert "name='a'" in repr(spec)
    with pytest.raises(TypeError):
        Middleware(42)  # type: ignore[arg-type]

    def not_async(request: Request, call_next: Any) -> Any:
        return None

    with pytest.raises(TypeError):
        check_function_middleware(not_async)

    async def wrong_arity(request: Request) -> Any:
        return None

    with pytest.raises(TypeError):
        check_function_middleware(wrong_arity)


def test_function_middleware_wraps_handlers_and_errors() -> None:
    app = App()
    calls: list[str] = []

    @app.middleware
    async def inner(request: Request, call_next: Any) -> Response:
        calls.append("inner")
        response = await call_next(request)
        response.headers["x-inner"] = "1"
        return response

    @app.middleware
    async def outer(request: Request, call_next: Any) -> Response:
        calls.append("outer")
        if request.headers.get("x-block"):
            return PlainTextResponse("blocked", status_code=403)
        response = await call_next(request)
        response.headers["x-outer"] = "1"
        return response

    @app.get("/items/{n}")
    async def item(n: int) -> dict[str, int]:
        return {"n": n}

    @app.get("/fail")
    async def fail() -> None:
        raise HTTPError(409, "conflict")

    client = TestClient(app)
    r = client.get("/items/1")
    assert r.json() == {"n": 1}
    assert r.headers["x-inner"] == "1"
    assert r.headers["x-outer"] == "1"
    assert calls == ["outer", "inner"]
    r = client.get("/fail")
    assert r.status_code == 409
    assert r.headers["x-inner"] == "1"
    assert client.get("/nope").headers["x-outer"] == "1"
    assert client.get("/items/x").status_code == 422
    r = client.get("/items/1", headers={"x-block": "1"})
    assert r.status_code == 403
    assert "x-inner" not in r.headers


def test_function_middleware_keeps_streaming_and_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    app = App()

    @app.middleware
    async def set_var(request: Request, call_next: Any) -> Response:
        var.set("from-mw")
        return await call_next(request)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> Any:
            yield var.get().encode()
            yield b"|done"

        return StreamingResponse(gen())

    assert TestClient(app).get("/stream").text == "from-mw|done"


def test_function_middleware_can_catch_unhandled_errors() -> None:
    app = App()

    @app.middleware
    async def guard(request: Request, call_next: Any) -> Response:
        try:
            return await call_next(request)
        except RuntimeError:
            return PlainTextResponse("caught", status_code=503)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("x")

    assert TestClient(app).get("/boom").text == "caught"


def test_function_middleware_must_return_a_response() -> None:
    app = App()

    @app.middleware
    async def broken(request: Request, call_next: Any) -> Any:
        return "nope"

    @app.get("/")
    async def index() -> str:
        return "ok"

    r = TestClient(app, raise_server_exceptions=False).get("/")
    assert r.status_code == 500


def test_before_and_after_hooks_sync_and_async() -> None:
    app = App()
    log: list[str] = []

    @app.before_request
    def auth(request: Request) -> Response | None:
        log.append("before-sync")
        if request.query_params.get("deny"):
            return PlainTextResponse("denied", status_code=401)
        return None

    @app.before_request
    async def stamp(request: Request) -> None:
        log.append("before-async")
        request.state.user = "ann"

    @app.after_request
    async def add_header(response: Response) -> None:
        response.headers["x-after"] = "yes"

    @app.after_request
    def replace(response: Response) -> Response | None:
        if response.status_code == 401:
            return PlainTextResponse("replaced", status_code=401)
        return None

    @app.get("/")
    async def index(request: Request) -> str:
        log.append("handler")
        return request.state.user

    client = TestClient(app)
    r = client.get("/")
    assert r.text == "ann"
    assert r.headers["x-after"] == "yes"
    assert log == ["before-sync", "before-async", "handler"]
    log.clear()
    r = client.get("/", params={"deny": "1"})
    assert r.status_code == 401
    assert r.text == "replaced"
    assert log == ["before-sync"]
