"""signature: compiled plans are introspectable and catch mistakes at start-up."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celeris import (
    App,
    BackgroundTasks,
    Body,
    Depends,
    Header,
    Query,
    Request,
    Response,
    WebSocket,
)
from celeris.core.params import MISSING
from celeris.core.signature import Kind, compile_plan, make_renderer
from celeris.testing import TestClient


class Item(msgspec.Struct):
    name: str


def get_db() -> str:
    return "db"


def test_plan_describes_each_parameter() -> None:
    async def handler(
        item_id: int,
        item: Item,
        request: Request,
        tasks: BackgroundTasks,
        db: Annotated[str, Depends(get_db)],
        q: str | None = None,
        x_token: Annotated[str, Header()] = "t",
        size: int = Query(10, alias="page-size"),
    ) -> Item:
        return item

    plan = compile_plan(handler, path_params={"item_id"}, status_code=201)
    info = {p.name: p for p in plan.params}
    assert info["item_id"].kind is Kind.PATH
    assert info["item_id"].type is int
    assert info["item_id"].required
    assert info["item"].kind is Kind.BODY
    assert plan.body_type is Item
    assert not plan.body_embed
    assert info["request"].kind is Kind.REQUEST
    assert info["tasks"].kind is Kind.BACKGROUND
    assert info["db"].kind is Kind.DEPENDENCY
    assert info["db"].dependency is not None
    assert info["q"].kind is Kind.QUERY
    assert info["q"].default is None
    assert not info["q"].required
    assert info["x_token"].alias == "x-token"
    assert info["x_token"].kind is Kind.HEADER
    assert info["size"].alias == "page-size"
    assert info["size"].default == 10
    assert plan.response_type is Item
    assert plan.status_code == 201
    assert not plan.simple
    assert plan.is_async
    assert {p.name for p in plan.iter_all()} >= {"item_id", "q", "x_token", "size"}


def test_simple_plan_for_no_params() -> None:
    def handler() -> str:
        return "x"

    plan = compile_plan(handler)
    assert plan.simple
    assert not plan.is_async
    assert plan.params == ()


def test_constraints_survive_marker_removal() -> None:
    async def handler(n: Annotated[int, msgspec.Meta(ge=1), Query()]) -> int:
        return n

    (p,) = compile_plan(handler).params
    assert p.kind is Kind.QUERY
    assert p.type is int
    assert p.default is MISSING


def test_several_body_params_embed() -> None:
    async def handler(a: Annotated[int, Body()], b: Annotated[Item, Body()]) -> None:
        return None

    plan = compile_plan(handler)
    assert plan.body_embed
    assert plan.body_type is None
    assert len(plan.body_params) == 2


def test_marker_in_both_places_is_an_error() -> None:
    async def handler(q: Annotated[int, Query()] = Query(1)) -> None:
        return None

    with pytest.raises(TypeError, match="both"):
        compile_plan(handler)


def test_two_markers_in_annotated_is_an_error() -> None:
    async def handler(q: Annotated[int, Query(), Header()]) -> None:
        return None

    with pytest.raises(TypeError, match="more than one"):
        compile_plan(handler)


def test_unresolvable_annotation_is_a_clear_error() -> None:
    async def handler(q: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
        return None

    with pytest.raises(TypeError, match="cannot resolve"):
        compile_plan(handler)


def test_websocket_handler_cannot_take_a_body() -> None:
    async def handler(ws: WebSocket, item: Item) -> None:
        return None

    with pytest.raises(TypeError, match="WebSocket"):
        compile_plan(handler, websocket=True)


def test_callable_objects_and_generators() -> None:
    class Dep:
        async def __call__(self, n: int = 1) -> int:
            return n

    plan = compile_plan(Dep())
    assert plan.is_async
    assert plan.params[0].name == "n"

    def gen() -> Any:
        yield 1

    async def agen() -> Any:
        yield 1

    assert compile_plan(gen).is_generator
    assert compile_plan(agen).is_async_generator


def test_renderer() -> None:
    render = make_renderer(Any, None)
    r = render("hi")
    assert r.body == b"hi"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    r = render({"a": 1})
    assert r.body == b'{"a":1}'
    assert r.headers["content-type"] == "application/json"
    r = render(b"\x00")
    assert r.headers["content-type"] == "application/octet-stream"
    assert render(None).status_code == 204
    own = Response("x", status_code=202)
    assert render(own) is own
    assert make_renderer(Any, 201)(None).status_code == 201
    assert make_renderer(Item, None)({"name": "n", "secret": 1}).body == b'{"name":"n"}'


class Cat(msgspec.Struct, tag="cat"):
    lives: int


class Dog(msgspec.Struct, tag="dog"):
    good: bool


def test_union_of_models_without_marker_is_the_body() -> None:
    async def adopt(pet: Cat | Dog, maybe: Cat | None = None, n: int | None = None) -> None: ...

    plan = compile_plan(adopt)
    kinds = {p.name: p.kind for p in plan.params}
    assert kinds == {"pet": Kind.BODY, "maybe": Kind.BODY, "n": Kind.QUERY}


def test_repeated_scalar_query_key_is_refused_lists_take_repeats() -> None:
    app = App(openapi_url=None)

    @app.get("/colors")
    async def colors(color: str | None = None, tag: list[str] | None = None) -> dict[str, Any]:
        return {"color": color, "tag": tag}

    client = TestClient(app)
    assert client.get("/colors?color=a&tag=x&tag=y").json() == {"color": "a", "tag": ["x", "y"]}
    r = client.get("/colors?color=a&color=b")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    (error,) = r.json()["errors"]
    assert error["loc"] == ["query", "color"]
    assert error["type"] == "multiple_values"
    # another key repeating does not disturb a single-valued one
    assert client.get("/colors?tag=1&color=c&tag=2").json() == {"color": "c", "tag": ["1", "2"]}


def test_query_null_is_a_value_not_none() -> None:
    app = App(openapi_url=None)

    @app.get("/n")
    async def n(limit: int | None = None, name: str | None = None) -> dict[str, Any]:
        return {"limit": limit, "name": name}

    client = TestClient(app)
    assert client.get("/n").json() == {"limit": None, "name": None}
    assert client.get("/n?name=null").json() == {"limit": None, "name": "null"}
    r = client.get("/n?limit=null")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "limit"]


def test_union_of_models_body_over_http() -> None:
    app = App(openapi_url=None)

    @app.post("/pets")
    async def adopt(pet: Cat | Dog) -> dict[str, str]:
        return {"kind": type(pet).__name__}

    client = TestClient(app)
    assert client.post("/pets", json={"type": "cat", "lives": 9.0}).json() == {"kind": "Cat"}
    assert client.post("/pets", json={"type": "dog", "good": True}).json() == {"kind": "Dog"}
    assert client.post("/pets", json={"type": "dog", "good": 1}).status_code == 422
    assert client.post("/pets?pet=x").status_code == 422  # the body is missing, not a query


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=6))
def test_scalar_query_keys_accept_one_value_only(keys: list[str]) -> None:
    query = "&".join(f"{key}={i}" for i, key in enumerate(keys))
    r = CLIENT.get(f"/q?{query}")
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        assert r.status_code == 422
        assert sorted(e["loc"][1] for e in r.json()["errors"]) == repeated
    else:
        assert r.json() == {k: int(keys.index(k)) for k in ("a", "b", "c") if k in keys} | {
            k: None for k in ("a", "b", "c") if k not in keys
        }


_QUERY_APP = App(openapi_url=None)


@_QUERY_APP.get("/q")
async def _query(
    a: int | None = None, b: int | None = None, c: int | None = None
) -> dict[str, Any]:
    return {"a": a, "b": b, "c": c}


CLIENT = TestClient(_QUERY_APP)
