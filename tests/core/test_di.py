"""Dependency injection: nesting, caching, sync/async, generator clean-up, route deps."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import msgspec
import pytest

from celeris import App, BackgroundTasks, Body, Depends, Form, Header, HTTPError, Request, Router
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
