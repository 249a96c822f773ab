"""Routing: path compilation, the route table, routers, mounts, url_for."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote, unquote

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celeris import App, Depends, NotFound, Request, Response, Router, WebSocket
from celeris.core.routing import (
    ESCAPED_SLASH,
    NoMatchFound,
    Route,
    RouteConflict,
    RouteRegistrar,
    RouteTable,
    compile_path,
    is_wsgi,
    routing_path,
)
from celeris.testing import TestClient


async def handler() -> str:
    return "x"


def table(*routes: Route) -> RouteTable:
    return RouteTable(routes)


# --- compile_path ---------------------------------------------------------------------------


def test_static_path_has_no_params() -> None:
    compiled = compile_path("/a/b")
    assert compiled.is_static
    assert compiled.params == ()


def test_dynamic_path_params_and_shape() -> None:
    compiled = compile_path("/items/{item_id:int}/{name}")
    assert [n for n, _ in compiled.params] == ["item_id", "name"]
    assert compiled.shape == "/items/{int}/{str}"


@pytest.mark.parametrize("bad", ["items", "/a/{x:nope}", "/a/{x}/{x}", "/a/{x"])
def test_malformed_paths_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        compile_path(bad)


# --- the table ------------------------------------------------------------------------------


def test_static_lookup_and_auto_head() -> None:
    t = table(Route("/a", handler))
    assert t.match("GET", "/a")[0] is not None
    assert t.match("HEAD", "/a")[0] is t.match("GET", "/a")[0]
    assert t.match("POST", "/a")[0] is None
    assert t.allowed("/a") == {"GET", "HEAD"}


def test_converters_convert_and_reject() -> None:
    t = table(
        Route("/i/{v:int}", handler),
        Route("/f/{v:float}", handler),
        Route("/u/{v:uuid}", handler),
        Route("/p/{v:path}", handler),
    )
    assert t.match("GET", "/i/42")[1] == {"v": 42}
    assert t.match("GET", "/i/x")[0] is None
    assert t.match("GET", "/f/1.5")[1] == {"v": 1.5}
    u = uuid.uuid4()
    assert t.match("GET", f"/u/{u}")[1] == {"v": u}
    assert t.match("GET", "/u/not-a-uuid")[0] is None
    assert t.match("GET", "/p/a/b/c.txt")[1] == {"v": "a/b/c.txt"}


def test_static_segment_wins_over_dynamic() -> None:
    async def me() -> str:
        return "me"

    async def other(name: str) -> str:
        return name

    t = table(Route("/users/{name}", other), Route("/users/me", me))
    assert t.match("GET", "/users/me")[0].endpoint is me  # type: ignore[union-attr]
    assert t.match("GET", "/users/bob")[0].endpoint is other  # type: ignore[union-attr]
    t2 = table(Route("/a/{x}/{y}", other), Route("/a/{x}/b", me))
    assert t2.match("GET", "/a/1/b")[0].endpoint is me  # type: ignore[union-attr]


def test_typed_converter_tried_before_str() -> None:
    async def by_id(v: int) -> int:
        return v

    async def by_name(v: str) -> str:
        return v

    t = table(Route("/x/{v}", by_name), Route("/x/{v:int}", by_id))
    assert t.match("GET", "/x/7")[0].endpoint is by_id  # type: ignore[union-attr]
    assert t.match("GET", "/x/seven")[0].endpoint is by_name  # type: ignore[union-attr]


def test_per_method_matching_avoids_false_405() -> None:
    async def get_item(v: int) -> int:
        return v

    async def post_named(v: str) -> str:
        return v

    t = table(Route("/items/{v:int}", get_item), Route("/items/{v}", post_named, methods=["POST"]))
    assert t.match("POST", "/items/5")[0].endpoint is post_named  # type: ignore[union-attr]


def test_conflict_names_both_handlers() -> None:
    async def first(a: str) -> str:
        return a

    async def second(b: str) -> str:
        return b

    with pytest.raises(RouteConflict) as info:
        table(Route("/x/{a}", first), Route("/x/{b}", second))
    assert "first" in str(info.value)
    assert "second" in str(info.value)


def test_same_path_different_methods_is_fine() -> None:
    t = table(Route("/x", handler), Route("/x", handler, methods=["POST"]))
    assert t.allowed("/x") == {"GET", "HEAD", "POST"}


def test_url_for_errors() -> None:
    t = table(Route("/items/{item_id:int}", handler, name="item"))
    assert t.url_for("item", item_id=3) == "/items/3"
    with pytest.raises(NoMatchFound, match="no route named"):
        t.url_for("nope")
    with pytest.raises(NoMatchFound, match="item_id"):
        t.url_for("item")
    with pytest.raises(NoMatchFound, match="extra"):
        t.url_for("item", item_id=1, extra=2)
    with pytest.raises(NoMatchFound):
        t.url_for("item", item_id="abc")


segment = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=8
).filter(lambda s: s not in (".", ".."))


@settings(max_examples=60, deadline=None)
@given(
    statics=st.lists(segment, min_size=1, max_size=3),
    value=segment,
    number=st.integers(min_value=0, max_value=10**12),
)
def test_generated_paths_round_trip_through_url_for(
    statics: list[str], value: str, number: int
) -> None:
    path = "/" + "/".join(statics) + "/{name}/n/{num:int}"
    t = table(Route(path, handler, name="r"))
    url = t.url_for("r", name=value, num=number)
    route, params = t.match("GET", url)
    assert route is not None
    assert params == {"name": value, "num": number}


@settings(max_examples=40, deadline=None)
@given(
    paths=st.sets(
        st.lists(segment, min_size=1, max_size=3).map(lambda s: "/" + "/".join(s)), max_size=8
    )
)
def test_generated_static_paths_all_match_themselves(paths: set[str]) -> None:
    routes = [Route(p, handler, name=f"r{i}") for i, p in enumerate(sorted(paths))]
    t = table(*routes)
    for route in routes:
        assert t.match("GET", route.path)[0] is route


# --- routers --------------------------------------------------------------------------------


def test_routers_nest_with_prefix_and_tags() -> None:
    app = App(openapi_url=None)
    api = Router(prefix="/api", tags=["api"])
    v1 = Router(prefix="/v1", tags=["v1"])

    @v1.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    api.include_router(v1)
    app.include_router(api, prefix="/root")
    client = TestClient(app)
    assert client.get("/root/api/v1/items/3").json() == {"item_id": 3}
    (route,) = app.routes
    assert route.path == "/root/api/v1/items/{item_id}"
    assert route.tags == ["api", "v1"]
    assert app.url_for("item", item_id=9) == "/root/api/v1/items/9"


def test_routes_added_to_router_after_include_are_seen() -> None:
    app = App()
    router = Router(prefix="/r")
    app.include_router(router)

    @router.get("/late")
    async def late() -> str:
        return "late"

    assert TestClient(app).get("/r/late").text == "late"


def test_router_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        Router(prefix="nope")
    router = Router()
    with pytest.raises(ValueError):
        router.include_router(router)
    with pytest.raises(ValueError):
        router.add_route("/x", handler, ["FETCH"])
    with pytest.raises(TypeError):
        Router(dependencies=[lambda: 1])


def test_resource_methods_become_routes() -> None:
    class Thing:
        def __init__(self) -> None:
            self.store: dict[int, str] = {}

        async def on_get(self, id: int) -> dict[str, object]:
            return {"id": id, "value": self.store.get(id)}

        async def on_put(self, id: int, value: str) -> dict[str, object]:
            self.store[id] = value
            return {"id": id, "value": value}

    app = App()
    app.add_resource("/things/{id}", Thing())
    client = TestClient(app)
    assert client.put("/things/1", params={"value": "a"}).json() == {"id": 1, "value": "a"}
    assert client.get("/things/1").json() == {"id": 1, "value": "a"}
    r = client.delete("/things/1")
    assert r.status_code == 405
    assert "PUT" in r.headers["allow"]
    with pytest.raises(ValueError, match="no on_get"):
        Router().add_resource("/empty", object())


# --- HTTP behaviour -------------------------------------------------------------------------


@pytest.fixture
def client() -> TestClient:
    app = App()

    @app.get("/items/{item_id:int}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.post("/items")
    async def create() -> str:
        return "created"

    @app.get("/slash/")
    async def slash() -> str:
        return "slash"

    @app.get("/noslash")
    async def noslash() -> str:
        return "noslash"

    return TestClient(app, follow_redirects=False)


def test_unknown_path_is_404_problem(client: TestClient) -> None:
    r = client.get("/missing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404


def test_converter_failure_is_404(client: TestClient) -> None:
    assert client.get("/items/abc").status_code == 404


def test_wrong_method_is_405_with_allow(client: TestClient) -> None:
    r = client.delete("/items")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"POST", "OPTIONS"}


def test_head_works_where_get_does(client: TestClient) -> None:
    r = client.head("/items/3")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(b'{"item_id":3}'))


def test_automatic_options(client: TestClient) -> None:
    r = client.options("/items/3")
    assert r.status_code == 204
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_redirect_slashes_both_ways(client: TestClient) -> None:
    r = client.get("/slash?a=1")
    assert r.status_code == 308
    assert r.headers["location"] == "/slash/?a=1"
    r = client.get("/noslash/")
    assert r.status_code == 308
    assert r.headers["location"] == "/noslash"


def test_redirect_slashes_can_be_disabled() -> None:
    app = App(redirect_slashes=False)

    @app.get("/a")
    async def a() -> str:
        return "a"

    assert TestClient(app).get("/a/").status_code == 404


# --- mounts ---------------------------------------------------------------------------------


def test_mount_asgi_app_sees_root_path() -> None:
    async def raw(scope, receive, send):  # type: ignore[no-untyped-def]
        body = f"{scope['root_path']}|{scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    app = App()
    app.mount("/raw", raw)
    assert TestClient(app).get("/raw/x/y").text == "/raw|/raw/x/y"


def test_mount_wsgi_app_is_detected() -> None:
    def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()]

    assert is_wsgi(wsgi)
    app = App()
    app.mount("/wsgi", wsgi)
    r = TestClient(app).get("/wsgi/hello")
    assert r.status_code == 200
    assert r.text == "/wsgi|/hello"


def test_mount_another_app_keeps_its_routes_and_url_for() -> None:
    sub = App()

    @sub.get("/items/{n:int}")
    async def sub_item(n: int) -> dict[str, int]:
        return {"n": n}

    @sub.get("/link")
    async def link(request: Request) -> str:
        return request.url_for("sub_item", n=5)

    app = App(root_path="/proxy")
    app.mount("/sub", sub)
    client = TestClient(app, root_path="/proxy")
    assert client.get("/sub/items/4").json() == {"n": 4}
    assert client.get("/sub/link").text == "/proxy/sub/items/5"
    assert client.get("/sub/nope").status_code == 404
    assert sub.url_for("sub_item", n=1) == "/proxy/sub/items/1"


def test_first_segment_buckets_and_wildcard_first_segment() -> None:
    async def by_user(id: int) -> int:
        return id

    async def by_lang(lang: str) -> str:
        return lang

    async def anything(rest: str) -> str:
        return rest

    t = table(
        Route("/users/{id:int}", by_user),
        Route("/{lang}/about", by_lang),
        Route("/files/{rest:path}", anything),
    )
    assert t.match("GET", "/users/3")[0].endpoint is by_user  # type: ignore[union-attr]
    assert t.match("GET", "/users/about")[0].endpoint is by_lang  # type: ignore[union-attr]
    assert t.match("GET", "/de/about")[1] == {"lang": "de"}
    assert t.match("GET", "/files/a/b")[1] == {"rest": "a/b"}
    assert t.match("GET", "/files")[0] is None
    assert t.match("GET", "/")[0] is None


def test_many_dynamic_routes_each_match_their_own_paths() -> None:
    routes = [Route(f"/r{i}/{{id:int}}/x/{{name}}", handler, name=f"r{i}") for i in range(150)]
    t = table(*routes)
    for i in (0, 77, 149):
        route, params = t.match("GET", f"/r{i}/{i}/x/n{i}")
        assert route is routes[i]
        assert params == {"id": i, "name": f"n{i}"}


def test_local_types_in_string_annotations_resolve() -> None:
    # This module uses `from __future__ import annotations`: every annotation is a string.
    class LocalItem(msgspec.Struct):
        name: str

    async def local_dep(n: int = 1) -> int:
        return n

    app = App()

    @app.post("/local")
    async def local(item: LocalItem, n: Annotated[int, Depends(local_dep)]) -> LocalItem:
        return LocalItem(item.name * n)

    r = TestClient(app).post("/local", params={"n": "2"}, json={"name": "ab"})
    assert r.json() == {"name": "abab"}


@settings(max_examples=60, deadline=None)
@given(path=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_arbitrary_paths_never_500(path: str) -> None:
    app = App()

    @app.get("/items/{item_id:int}")
    async def item(item_id: int) -> int:
        return item_id

    @app.get("/files/{rest:path}")
    async def files(rest: str) -> str:
        return rest

    r = TestClient(app, follow_redirects=False).get("/" + quote(path, safe="/"))
    assert r.status_code in (200, 308, 404)


def test_versioned_router_prefixes_and_marks_its_routes() -> None:
    app = App(openapi_url=None)
    v1 = Router(version="v1", prefix="/items", tags=["items"])
    inner = Router(prefix="/deep")

    @v1.get("/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @inner.get("/x")
    async def deep() -> str:
        return "deep"

    v1.include_router(inner)
    v2 = Router(version="v2")

    @v2.get("/items/{item_id}")
    async def read_item_v2(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/plain")
    async def plain() -> str:
        return "plain"

    app.include_router(v1, prefix="/api")
    app.include_router(v2)
    client = TestClient(app)
    assert client.get("/api/v1/items/3").json() == {"item_id": 3}
    assert client.get("/api/v1/items/deep/x").text == "deep"
    assert client.get("/v2/items/4").json() == {"id": 4}
    versions = {r.path: r.version for r in app.routes}
    assert versions == {
        "/plain": None,
        "/api/v1/items/{item_id}": "v1",
        "/api/v1/items/deep/x": "v1",
        "/v2/items/{item_id}": "v2",
    }


def test_route_copies_keep_their_version() -> None:
    route = Route("/a", lambda: None)
    route.version = "v3"
    assert route.copy_with("/p", [], []).version == "v3"
    assert route.copy_with("/p", [], [], "v9").version == "v3"
    route.version = None
    assert route.copy_with("/p", [], [], "v9").version == "v9"


@pytest.mark.parametrize("version", ["", "v/1", "{v}", " v1", 1])
def test_router_version_must_be_a_segment(version: Any) -> None:
    with pytest.raises(ValueError, match="version"):
        Router(version=version)


def test_deprecated_route_sends_deprecation_header_on_every_response() -> None:
    app = App(openapi_url=None)

    @app.get("/old", deprecated=True)
    async def old() -> str:
        return "old"

    @app.get("/old/{n}", deprecated=True)
    async def old_n(n: int) -> Response:
        if n == 0:
            raise NotFound("zero")
        return Response(b"x", headers={"x-n": str(n)})

    @app.get("/new")
    async def new() -> str:
        return "new"

    client = TestClient(app)
    r = client.get("/old")
    assert (r.text, r.headers["deprecation"]) == ("old", "true")
    r = client.get("/old/2")
    assert (r.headers["x-n"], r.headers["deprecation"]) == ("2", "true")
    assert client.get("/old/0").headers["deprecation"] == "true"
    assert client.get("/old/nan").headers["deprecation"] == "true"  # 422 too
    assert "deprecation" not in client.get("/new").headers


def test_app_and_router_share_one_registrar() -> None:
    assert issubclass(Router, RouteRegistrar)
    assert issubclass(App, RouteRegistrar)
    for name in ("get", "post", "put", "patch", "delete", "head", "options", "websocket"):
        assert name not in vars(App), name
        assert name not in vars(Router), name
        assert getattr(App, name) is getattr(RouteRegistrar, name)
    with pytest.raises(TypeError):
        RouteRegistrar()  # type: ignore[abstract]


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_registrar_aliases_register_their_method(method: str) -> None:
    app, router = App(), Router(prefix="/r")

    async def handler() -> str:
        return method

    getattr(app, method)("/a")(handler)
    getattr(router, method)("/b")(handler)
    app.include_router(router)
    with TestClient(app) as client:
        for path in ("/a", "/r/b"):
            r = client.request(method.upper(), path)
            assert r.status_code == 200
            assert r.text == method


def test_include_router_options_are_checked() -> None:
    app, router = App(), Router()
    with pytest.raises(TypeError, match="unknown options"):
        app.include_router(router, prefx="/x")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="must start with '/'"):
        app.include_router(router, prefix="x")


# --- percent-encoded slashes (RFC 3986 2.2: %2F is data, not a separator) ---------------


def slash_app() -> App:
    app = App(openapi_url=None)

    @app.get("/profiles/{name}")
    async def profile(name: str) -> str:
        return name

    @app.get("/profiles/{name}/posts")
    async def posts(name: str) -> str:
        return "posts of " + name

    @app.get("/a/b")
    async def a_b() -> str:
        return "static a/b"

    @app.get("/files/{rest:path}")
    async def files(rest: str) -> str:
        return rest

    @app.get("/n/{n:int}")
    async def number(n: int) -> int:
        return n

    return app


@pytest.mark.parametrize(
    ("url", "status", "body"),
    [
        ("/profiles/a%2Fb", 200, "a/b"),
        ("/profiles/a%2fb", 200, "a/b"),
        ("/profiles/a%2Fb/posts", 200, "posts of a/b"),
        ("/profiles/caf%C3%A9%2F%25", 200, "café/%"),
        ("/profiles/a%252Fb", 200, "a%2Fb"),  # an encoded "%": the value is the text %2F
        ("/profiles/%2F", 200, "/"),
        ("/a%2Fb", 404, None),  # one segment "a/b": not the static route /a/b
        ("/a/b", 200, "static a/b"),
        ("/files/x%2Fy/z", 200, "x/y/z"),
        ("/n/1%2F2", 404, None),
    ],
)
def test_an_encoded_slash_stays_inside_its_segment(url: str, status: int, body: str | None) -> None:
    r = TestClient(slash_app()).get(url)
    assert r.status_code == status, r.text
    if body is not None:
        assert r.text == body


def test_an_encoded_slash_with_a_root_path_and_in_the_404_detail() -> None:
    client = TestClient(slash_app(), root_path="/proxy")
    assert client.get("/profiles/a%2Fb").text == "a/b"
    missing = client.get("/nothing/a%2Fb")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No route for /nothing/a%2Fb"


def test_an_encoded_slash_on_the_full_pipeline_and_websocket() -> None:
    app = slash_app()

    @app.before_request
    async def nothing(request: Request) -> None:
        return None

    @app.websocket("/ws/{room}")
    async def ws(socket: WebSocket, room: str) -> None:
        await socket.accept()
        await socket.send_text(room)
        await socket.close()

    with TestClient(app) as client:
        assert client.get("/profiles/a%2Fb").text == "a/b"
        assert client.get("/a%2Fb").status_code == 404
        with client.websocket_connect("/ws/x%2Fy") as socket:
            assert socket.receive_text() == "x/y"


def test_a_path_rewritten_by_middleware_is_routed_as_rewritten() -> None:
    inner = slash_app()

    async def rewrite(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "path": "/profiles/rewritten"}  # raw_path keeps the original
        await inner(scope, receive, send)

    assert TestClient(rewrite).get("/profiles/a%2Fb").text == "rewritten"


def test_routing_path_edge_cases() -> None:
    assert routing_path("/a/b", b"/a%2Fb") == f"/a{ESCAPED_SLASH}b"
    assert routing_path("/a/b", b"/a/b") == "/a/b"
    assert routing_path("/café", b"/caf%C3%A9") == "/café"  # no %2F: the path as it is
    assert routing_path("/root/a/b", b"/a%2Fb") == f"/root/a{ESCAPED_SLASH}b"
    assert routing_path("/a\x00/b", b"/a%00%2Fb") == f"/a\x00{ESCAPED_SLASH}b"


def test_url_for_escapes_values_and_they_route_back() -> None:
    t = table(
        Route("/profiles/{name}", handler, name="p"), Route("/f/{rest:path}", handler, name="f")
    )
    assert t.url_for("p", name="a/b c") == "/profiles/a%2Fb%20c"
    assert t.url_for("p", name="café") == "/profiles/caf%C3%A9"
    assert t.url_for("f", rest="x/y z") == "/f/x/y%20z"
    app = slash_app()
    with TestClient(app) as client:
        url = app.url_for("profile", name="a/b?c#d")
        assert client.get(url).text == "a/b?c#d"


def test_a_route_template_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        compile_path(f"/a{ESCAPED_SLASH}b")


@pytest.mark.parametrize("raw", ["/profiles/a%00b", "/profiles/a%00%2Fb", "/profiles/%00"])
def test_an_encoded_nul_is_data_never_a_slash(raw: str) -> None:
    r = TestClient(slash_app()).get(raw)
    assert r.status_code == 200
    assert r.text == unquote(raw.removeprefix("/profiles/"))


_ROUND_TRIP = slash_app()
_ROUND_TRIP_CLIENT = TestClient(_ROUND_TRIP)


@settings(max_examples=80, deadline=None)
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_any_value_routes_back_through_url_for(value: str) -> None:
    if value in (".", ".."):
        return  # NOTE: a dot segment: clients remove it from a URL
    url = _ROUND_TRIP.url_for("profile", name=value)
    r = _ROUND_TRIP_CLIENT.get(url)
    assert r.status_code == 200, (value, url)
    assert r.text == value
