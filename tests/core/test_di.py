"""Dependency injection: nesting, caching, sync/async, generator clean-up, route deps."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import msgspec
import pytest

from celeris import (
    App,
    BackgroundTasks,
    Body,
    Depends,
    Form,
    Header,
    HTTPError,
    Path,
    Request,
    Router,
    WebSocket,
)
from celeris.testing import TestClient


def test_nested_dependencies_with_own_params() -> None:
    app = App()

    def settings() -> dict[str, int]:
        return {"page": 10}

    async def pager(limit: int = 0, cfg: dict[str, int] = Depends(settings)) -> int:
        return limit or cfg["page"]

    @app.get("/items")
    async def items(size: int = Depends(pager)) -> int:
        return size

    client = TestClient(app)
    assert client.get("/items").json() == 10
    assert client.get("/items", params={"limit": "3"}).json() == 3
    r = client.get("/items", params={"limit": "x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "limit"]


def test_resolved_once_per_request_unless_use_cache_false() -> None:
    app = App()
    calls: list[str] = []

    async def counted() -> int:
        calls.append("c")
        return len(calls)

    async def a(v: int = Depends(counted)) -> int:
        return v

    async def b(v: int = Depends(counted)) -> int:
        return v

    @app.get("/cached")
    async def cached(
        x: int = Depends(a), y: int = Depends(b), z: int = Depends(counted)
    ) -> list[int]:
        return [x, y, z]

    @app.get("/fresh")
    async def fresh(
        x: int = Depends(counted), y: int = Depends(counted, use_cache=False)
    ) -> list[int]:
        return [x, y]

    client = TestClient(app)
    assert client.get("/cached").json() == [1, 1, 1]
    calls.clear()
    assert client.get("/fresh").json() == [1, 2]


def test_sync_dependencies_run_in_threads() -> None:
    app = App()
    main = threading.get_ident()

    def where() -> bool:
        return threading.get_ident() != main

    @app.get("/")
    async def index(in_thread: bool = Depends(where)) -> bool:
        return in_thread

    assert TestClient(app).get("/").json() is True


def test_generator_cleanup_runs_after_response_and_sees_errors() -> None:
    app = App()
    events: list[str] = []

    async def resource() -> AsyncIterator[str]:
        events.append("open")
        try:
            yield "r"
        except Exception as exc:
            events.append(f"error:{type(exc).__name__}")
            raise
        finally:
            events.append("close")

    def sync_resource() -> Iterator[str]:
        events.append("sync-open")
        yield "s"
        events.append("sync-close")

    @app.get("/ok")
    async def ok(r: str = Depends(resource), s: str = Depends(sync_resource)) -> str:
        events.append("handler")
        return r + s

    @app.get("/fail")
    async def fail(r: str = Depends(resource)) -> str:
        raise HTTPError(409, "nope")

    client = TestClient(app)
    assert client.get("/ok").text == "rs"
    assert events == ["open", "sync-open", "handler", "sync-close", "close"]
    events.clear()
    r = client.get("/fail")
    assert r.status_code == 409
    assert events == ["open", "error:HTTPError", "close"]


def test_route_router_and_app_dependencies() -> None:
    seen: list[str] = []

    async def app_dep() -> None:
        seen.append("app")

    async def router_dep(x_key: Annotated[str, Header()]) -> None:
        seen.append("router")
        if x_key != "secret":
            raise HTTPError(401, "bad key")

    async def route_dep() -> None:
        seen.append("route")

    app = App(dependencies=[Depends(app_dep)])
    router = Router(prefix="/api", dependencies=[Depends(router_dep)])

    @router.get("/x", dependencies=[Depends(route_dep)])
    async def x() -> str:
        return "x"

    app.include_router(router)
    client = TestClient(app)
    assert client.get("/api/x", headers={"x-key": "secret"}).text == "x"
    assert seen == ["app", "router", "route"]
    assert client.get("/api/x", headers={"x-key": "no"}).status_code == 401
    r = client.get("/api/x")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["header", "x-key"]


def test_dependency_gets_request_and_background() -> None:
    app = App()
    done: list[str] = []

    async def audit(request: Request, tasks: BackgroundTasks) -> str:
        tasks.add_task(done.append, request.url.path)
        return request.method

    @app.get("/audit")
    async def handler(method: str = Depends(audit)) -> str:
        return method

    assert TestClient(app).get("/audit").text == "GET"
    assert done == ["/audit"]


def test_validation_errors_across_deps_and_handler_are_collected() -> None:
    app = App()

    async def dep(a: int) -> int:
        return a

    @app.get("/")
    async def handler(b: int, d: int = Depends(dep)) -> int:
        return b + d

    r = TestClient(app).get("/", params={"a": "x", "b": "y"})
    assert {tuple(e["loc"]) for e in r.json()["errors"]} == {("query", "a"), ("query", "b")}


def test_depends_rejects_non_callables() -> None:
    with pytest.raises(TypeError):
        Depends("nope")  # type: ignore[arg-type]


class Pet(msgspec.Struct):
    name: str
    age: int


def test_json_body_needs_a_json_content_type_or_none() -> None:
    app = App(openapi_url=None)

    @app.post("/pets")
    async def create(pet: Pet) -> Pet:
        return pet

    @app.post("/pair")
    async def pair(a: Annotated[int, Body()], b: Annotated[int, Body()]) -> int:
        return a + b

    @app.post("/raw")
    async def raw(data: bytes) -> int:
        return len(data)

    client = TestClient(app)
    body = b'{"name": "rex", "age": 3.0}'
    for content_type in (
        "application/json",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ):
        r = client.post("/pets", content=body, headers={"content-type": content_type})
        assert r.json() == {"name": "rex", "age": 3}, content_type
    assert client.post("/pets", content=body).json() == {"name": "rex", "age": 3}
    for path, payload in (("/pets", body), ("/pair", b'{"a": 1, "b": 2}')):
        r = client.post(path, content=payload, headers={"content-type": "text/plain"})
        assert r.status_code == 415
        assert r.headers["content-type"] == "application/problem+json"
        assert "text/plain" in r.json()["detail"]
    assert client.post("/pair", content=b'{"a": 1, "b": 2.0}').text == "3"
    r = client.post("/raw", content=b"xyz", headers={"content-type": "text/plain"})
    assert r.text == "3"


def test_repeated_scalar_form_field_is_refused() -> None:
    app = App(openapi_url=None)

    @app.post("/f")
    async def form(
        note: Annotated[str, Form()], tags: Annotated[list[str], Form()]
    ) -> dict[str, Any]:
        return {"note": note, "tags": tags}

    client = TestClient(app)
    ok = client.post("/f", data={"note": "n", "tags": ["a", "b"]})
    assert ok.json() == {"note": "n", "tags": ["a", "b"]}
    r = client.post("/f", data={"note": ["n", "m"], "tags": ["a"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["form", "note"]


# --- Depends(scope="function"): clean-up before the response ---------------------------------


async def _call_asgi(app: App, path: str, events: list[str], query: bytes = b"") -> int:
    """Send one GET through ``app`` as ASGI; record "sent" when the response starts."""
    status: list[int] = []
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            events.append("sent")

    await app(scope, receive, send)  # type: ignore[arg-type]
    return status[0]


def _scoped_app(events: list[str], scope: str | None) -> App:
    app = App()

    async def resource() -> AsyncIterator[str]:
        events.append("enter")
        yield "r"
        events.append("exit")

    dep = Depends(resource) if scope is None else Depends(resource, scope=scope)  # type: ignore[arg-type]

    @app.get("/")
    async def handler(value: str = dep) -> str:
        events.append("handler")
        return value

    return app


async def test_generator_clean_up_runs_after_the_response_by_default() -> None:
    events: list[str] = []
    assert await _call_asgi(_scoped_app(events, None), "/", events) == 200
    assert events == ["enter", "handler", "sent", "exit"]
    events.clear()
    assert await _call_asgi(_scoped_app(events, "request"), "/", events) == 200
    assert events == ["enter", "handler", "sent", "exit"]


async def test_function_scope_cleans_up_before_the_response() -> None:
    events: list[str] = []
    assert await _call_asgi(_scoped_app(events, "function"), "/", events) == 200
    assert events == ["enter", "handler", "exit", "sent"]


class Clash(Exception):
    pass


def test_function_scope_error_goes_through_exception_handlers() -> None:
    app = App()
    seen: list[str] = []

    async def unit_of_work() -> AsyncIterator[None]:
        try:
            yield
        except HTTPError:
            seen.append("rolled back")
            raise
        raise Clash("commit failed")

    @app.exception_handler(Clash)
    async def clash(request: Request, exc: Exception) -> Any:
        return HTTPError(409, str(exc)).to_response()

    @app.get("/ok", dependencies=[Depends(unit_of_work, scope="function")])
    async def ok() -> str:
        return "never seen"

    @app.get("/fail")
    async def fail(_: None = Depends(unit_of_work, scope="function")) -> str:
        raise HTTPError(418, "teapot")

    with TestClient(app) as client:
        r = client.get("/ok")
        assert r.status_code == 409
        assert r.json()["detail"] == "commit failed"
        r = client.get("/fail")
        assert r.status_code == 418
        assert seen == ["rolled back"]


def test_unhandled_function_scope_error_is_a_500() -> None:
    app = App()

    def broken() -> Iterator[int]:  # NOTE: a sync generator, cleaned up in the thread pool
        yield 1
        raise RuntimeError("boom")

    @app.get("/")
    def handler(n: int = Depends(broken, scope="function")) -> int:
        return n

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/")
    assert r.status_code == 500
    assert "boom" not in r.text


async def test_callable_declares_its_default_scope() -> None:
    events: list[str] = []
    app = App()

    async def resource() -> AsyncIterator[None]:
        yield
        events.append("exit")

    resource.celeris_dependency_scope = "function"  # type: ignore[attr-defined]

    @app.get("/early")
    async def early(_: None = Depends(resource)) -> str:
        return ""

    @app.get("/late")
    async def late(_: None = Depends(resource, scope="request")) -> str:
        return ""

    assert await _call_asgi(app, "/early", events) == 200
    assert events == ["exit", "sent"]
    events.clear()
    assert await _call_asgi(app, "/late", events) == 200
    assert events == ["sent", "exit"]


def test_bad_scopes_fail_at_start_up() -> None:
    async def gen() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(ValueError, match="scope"):
        Depends(gen, scope="session")  # type: ignore[arg-type]

    def odd() -> int:
        return 1

    odd.celeris_dependency_scope = "app"  # type: ignore[attr-defined]
    app = App()

    @app.get("/")
    async def handler(n: int = Depends(odd)) -> int:
        return n

    with pytest.raises(TypeError, match="celeris_dependency_scope"), TestClient(app):
        pass

    async def outer(n: int = Depends(gen, scope="function")) -> AsyncIterator[int]:
        yield n

    app2 = App()

    @app2.get("/")
    async def handler2(n: int = Depends(outer)) -> int:
        return n

    with pytest.raises(TypeError, match="give it scope='function'"), TestClient(app2):
        pass


async def test_function_scope_sees_a_binding_failure_before_the_response() -> None:
    events: list[str] = []
    app = App()

    async def resource() -> AsyncIterator[int]:
        try:
            yield 1
        except HTTPError as exc:
            events.append(f"saw {exc.status_code}")
            raise

    @app.get("/")
    async def handler(n: int = Depends(resource, scope="function"), limit: int = 1) -> int:
        return n + limit

    status = await _call_asgi(app, "/", events, b"limit=x")
    assert status == 422
    assert events == ["saw 422", "sent"]


def test_function_scope_under_function_middleware_and_websockets() -> None:
    events: list[str] = []
    app = App()

    async def resource() -> AsyncIterator[int]:
        yield 1
        events.append("exit")

    @app.middleware
    async def record(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        events.append("middleware")
        return response

    @app.get("/")
    async def handler(n: int = Depends(resource, scope="function")) -> int:
        return n

    @app.websocket("/ws")
    async def socket(ws: WebSocket, n: int = Depends(resource, scope="function")) -> None:
        await ws.accept()
        await ws.send_text(str(n))
        events.append("handler done")

    with TestClient(app) as client:
        assert client.get("/").json() == 1
        assert events == ["exit", "middleware"]
        events.clear()
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "1"
    assert events[:2] == ["handler done", "exit"]


def test_body_routes_without_dependencies_answer_as_routes_with_them() -> None:
    # Body-and-text routes take the short lane (no Context); a route-level dependency
    # sends the same handler through solve(). Both must answer byte for byte alike.
    class Item(msgspec.Struct):
        name: str
        size: int

    app = App()

    def nothing() -> None:
        return None

    async def create(item: Item, q: int, x_tag: Annotated[str, Header()] = "-") -> Item:
        return Item(f"{item.name}/{q}/{x_tag}", item.size)

    app.post("/short")(create)
    app.post("/long", dependencies=[Depends(nothing)])(create)
    client = TestClient(app)
    cases: list[dict[str, Any]] = [
        {"json": {"name": "a", "size": 1}, "params": {"q": 2}, "headers": {"x-tag": "t"}},
        {"json": {"name": "a", "size": "big"}, "params": {"q": "nope"}},  # both wrong: order
        {"json": {"name": "a"}, "params": {}},
        {"content": b"{not json", "params": {"q": 1}},
        {"content": b'{"name": "a", "size": 1}', "params": {"q": 1},
         "headers": {"content-type": "text/plain"}},
        {"content": b"", "params": {"q": 1}},
    ]  # fmt: skip
    for case in cases:
        short = client.post("/short", **case)
        long = client.post("/long", **case)
        assert (short.status_code, short.headers.get("content-type"), short.content) == (
            long.status_code,
            long.headers.get("content-type"),
            long.content,
        ), case
    assert client.post("/short", **cases[0]).json() == {"name": "a/2/t", "size": 1}
    statuses = [client.post("/short", **case).status_code for case in cases]
    assert statuses == [200, 422, 422, 400, 415, 422]


def test_dependencies_read_the_routes_path_parameters_at_any_depth() -> None:
    # Regression: a dependency's own plan was compiled without the route's path parameters,
    # so `room` was looked for in the query string (422 "query.room: Field required").
    app = App()

    def room_of(room: str) -> str:
        return room.upper()

    def shout(up: str = Depends(room_of)) -> str:
        return up + "!"

    def checked(room: Annotated[str, Path()]) -> None:
        if room == "closed":
            raise HTTPError(403, "closed")

    router = Router(prefix="/rooms/{room}", dependencies=[Depends(checked)])

    @router.get("/messages")
    async def messages(room: str, loud: str = Depends(shout)) -> dict[str, str]:
        return {"room": room, "loud": loud}

    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/rooms/abc/messages").json() == {"room": "abc", "loud": "ABC!"}
        assert client.get("/rooms/closed/messages").status_code == 403
        spec = client.get("/openapi.json").json()
    params = spec["paths"]["/rooms/{room}/messages"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in params] == [("room", "path")]
