"""The short lane: routes that need no Context answer as they would through the full path."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from celeris import App, Depends, Header, HTTPError, PlainTextResponse, Request, Response
from celeris.core.background import BackgroundTask
from celeris.core.lane import Lane
from celeris.core.routing import Route, RouteTable
from celeris.testing import TestClient

from .test_app import FakeConn


class Item(msgspec.Struct):
    name: str
    price: float


def make_app(**options: Any) -> App:
    app = App(**options)
    done: list[str] = []
    app.state.done = done

    def marker() -> str:
        return "dep"

    @app.get("/text")
    async def text() -> str:
        return "plain"

    @app.get("/json")
    async def json() -> dict[str, int]:
        return {"a": 1}

    @app.get("/struct")
    async def struct() -> Item:
        return Item("pen", 1.5)

    @app.get("/sync")
    def sync() -> str:
        return "from a thread"

    @app.get("/params/{n}")
    async def params(n: int, q: str = "") -> dict[str, Any]:
        return {"n": n, "q": q}

    @app.post("/body")
    async def body(item: Item, verbose: bool = False) -> dict[str, Any]:
        return {"name": item.name, "verbose": verbose}

    # the same path: a short GET and a POST with a dependency (the full path)
    @app.get("/mixed")
    async def mixed_get() -> str:
        return "short"

    @app.post("/mixed")
    async def mixed_post(value: str = Depends(marker)) -> str:
        return value

    @app.get("/response")
    async def response() -> Response:
        return PlainTextResponse(
            "made", status_code=201, background=BackgroundTask(done.append, "background ran")
        )

    @app.get("/teapot")
    async def teapot() -> str:
        raise HTTPError(418, "short and stout")

    @app.get("/request")
    async def with_request(request: Request) -> str:
        return request.url.path

    return app


def test_short_routes_are_answered_by_the_lane() -> None:
    app = make_app()
    app.build_middleware_stack()
    lane = app._entry
    assert isinstance(lane, Lane)
    short = {route.path for route in lane.shorts}
    assert {"/text", "/json", "/struct", "/sync", "/params/{n}", "/body"} <= short
    assert "/request" in short  # a Request parameter binds without a Context
    assert lane.shorts[next(r for r in lane.shorts if r.path == "/request")].flow is not None
    # the POST has a dependency: answered by the lane too, through an (empty) flow
    assert set(lane.static["/mixed"]) == {"GET", "HEAD", "POST"}
    assert lane.static["/mixed"]["POST"].flow is not None


def test_short_routes_answer_like_the_full_path() -> None:
    with TestClient(make_app()) as client:
        assert client.get("/text").text == "plain"
        assert client.get("/text").headers["content-type"] == "text/plain; charset=utf-8"
        assert client.get("/json").json() == {"a": 1}
        assert client.get("/struct").json() == {"name": "pen", "price": 1.5}
        assert client.get("/sync").text == "from a thread"
        assert client.get("/params/3", params={"q": "x"}).json() == {"n": 3, "q": "x"}
        answer = client.post("/body?verbose=1", json={"name": "ink", "price": 2})
        assert answer.json() == {"name": "ink", "verbose": True}
        assert client.get("/mixed").text == "short"
        assert client.post("/mixed").text == "dep"
        assert client.get("/request").text == "/request"
        head = client.head("/text")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == "5"


def test_short_route_errors_are_answered_as_problems() -> None:
    with TestClient(make_app()) as client:
        teapot = client.get("/teapot")
        assert teapot.status_code == 418
        assert teapot.headers["content-type"] == "application/problem+json"
        assert teapot.json()["detail"] == "short and stout"
        invalid = client.get("/params/x")
        assert invalid.status_code == 422
        assert invalid.json()["errors"][0]["loc"] == ["path", "n"]
        bad_body = client.post("/body", json={"name": "ink"})
        assert bad_body.status_code == 422


def test_short_route_responses_run_their_background_task() -> None:
    app = make_app()
    with TestClient(app) as client:
        answer = client.get("/response")
    assert (answer.status_code, answer.text) == (201, "made")
    assert app.state.done == ["background ran"]


def test_the_lane_matches_below_the_root_path() -> None:
    with TestClient(make_app(root_path="/api")) as client:
        assert client.get("/api/text").text == "plain"
        assert client.get("/api/params/4").json() == {"n": 4, "q": ""}


def test_function_middleware_sees_short_routes_too() -> None:
    app = make_app()
    seen: list[str] = []

    @app.middleware
    async def record(request: Request, call_next: Any) -> Response:
        seen.append(request.url.path)
        response: Response = await call_next(request)
        response.headers["x-seen"] = "yes"
        return response

    with TestClient(app) as client:
        answer = client.get("/text")
    assert not isinstance(app._entry, Lane)  # the middleware must wrap every route
    assert (answer.text, answer.headers["x-seen"]) == ("plain", "yes")
    assert seen == ["/text"]


def test_a_huge_integer_path_segment_is_no_match() -> None:
    app = App()

    @app.get("/items/{n:int}")
    async def item(n: int) -> dict[str, int]:
        return {"n": n}

    with TestClient(app) as client:
        assert client.get("/items/" + "9" * 4300).status_code == 200
        assert client.get("/items/" + "9" * 4301).status_code == 404  # int() would refuse it


async def test_an_error_while_matching_is_answered_with_500() -> None:
    class BrokenTable(RouteTable):
        def match(self, method: str, path: str) -> tuple[Route | None, dict[str, Any]]:
            raise RuntimeError("the matcher broke")

    app = make_app()
    app.build_middleware_stack()
    lane = Lane(app, BrokenTable([]))
    conn = FakeConn("GET", "/anything")
    with pytest.raises(RuntimeError, match="the matcher broke"):
        await lane(conn)  # answered, then raised for the server to log (as a handler error)
    assert conn.responded[0][0] == 500


def _by_keyword(endpoint: Any) -> Any:
    """A decorator whose wrapper takes keywords only (``functools.wraps`` hides that)."""
    import functools

    @functools.wraps(endpoint)
    async def wrapper(**kwargs: Any) -> Any:
        return await endpoint(**kwargs)

    return wrapper


def _by_keyword_signed(endpoint: Any) -> Any:
    """The same, with the signature set by hand (as celeris.cache's route option does)."""
    import inspect

    async def wrapper(**kwargs: Any) -> Any:
        return await endpoint(**kwargs)

    wrapper.__signature__ = inspect.signature(endpoint)  # type: ignore[attr-defined]
    wrapper.__annotations__ = endpoint.__annotations__
    return wrapper


def test_values_go_positionally_only_where_the_function_takes_them() -> None:
    app = App()

    async def agent(
        user_agent: Annotated[str, Header()] = "", *, tag: str = "t"
    ) -> str:  # keyword-only: by name
        return f"{user_agent}/{tag}"

    async def plain(x_n: Annotated[int, Header()] = 0) -> int:  # positional
        return x_n

    @_by_keyword
    async def wrapped_dep(x_n: Annotated[int, Header()] = 0) -> int:
        return x_n * 10

    @app.get("/one/{a}")
    async def one(a: int, b: str = "", c: float = 0.5) -> dict[str, Any]:
        return {"a": a, "b": b, "c": c}

    @app.get("/two/{a}")
    @_by_keyword
    async def two(a: int, b: str = "") -> dict[str, Any]:
        return {"a": a, "b": b}

    @app.get("/signed/{a}")
    @_by_keyword_signed
    async def signed(a: int, b: str = "") -> dict[str, Any]:
        return {"a": a, "b": b}

    @app.get("/three")
    async def three(*, q: int = 1) -> int:
        return q

    @app.get("/deps")
    async def deps(
        request: Request,
        a: str = Depends(agent),
        n: int = Depends(plain),
        w: int = Depends(wrapped_dep),
        *,
        last: str = "z",
    ) -> dict[str, Any]:
        return {"a": a, "n": n, "w": w, "last": last, "path": request.url.path}

    @app.get("/pos")
    async def pos(n: int = Depends(plain), q: str = "") -> dict[str, Any]:
        return {"n": n, "q": q}

    app.build_middleware_stack()
    lane = app._entry
    assert isinstance(lane, Lane)
    plans = {route.path: route.plan for route in lane.table.routes if route.plan is not None}
    assert plans["/one/{a}"].positional
    assert plans["/pos"].positional
    assert not plans["/two/{a}"].positional
    assert not plans["/three"].positional
    assert not plans["/signed/{a}"].positional
    assert not plans["/deps"].positional
    with TestClient(app) as client:
        assert client.get("/one/3?b=x&c=2").json() == {"a": 3, "b": "x", "c": 2.0}
        assert client.get("/two/4?b=y").json() == {"a": 4, "b": "y"}
        assert client.get("/three?q=7").json() == 7
        assert client.get("/signed/5?b=z").json() == {"a": 5, "b": "z"}
        got = client.get("/deps?last=q", headers={"user-agent": "ua", "x-n": "2"}).json()
        assert got == {"a": "ua/t", "n": 2, "w": 20, "last": "q", "path": "/deps"}
        assert client.get("/pos?q=r", headers={"x-n": "5"}).json() == {"n": 5, "q": "r"}
        problem = client.get("/one/notanint")
        assert problem.status_code == 422
        assert client.get("/pos", headers={"x-n": "bad"}).status_code == 422
