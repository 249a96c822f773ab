"""Every example and named behaviour of API.md (Application, Errors, Structure, Testing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import msgspec
import pytest
from openapi_spec_validator import validate

import celeris
from celeris import (
    App,
    BackgroundTasks,
    BadRequest,
    Body,
    Conflict,
    Cookie,
    Depends,
    File,
    Forbidden,
    Form,
    Header,
    HTTPError,
    NotFound,
    Path,
    Query,
    Request,
    Response,
    Router,
    Unauthorized,
    UploadFile,
    WebSocket,
)
from celeris.testing import AsyncTestClient, TestClient

PUBLIC = [
    "App", "Router", "Request", "Response", "JSONResponse", "HTMLResponse", "PlainTextResponse",
    "RedirectResponse", "StreamingResponse", "FileResponse", "ServerSentEvents", "ServerSentEvent",
    "HTTPError", "NotFound", "BadRequest", "Unauthorized", "Forbidden", "Conflict", "WebSocket",
    "WebSocketDisconnect", "BackgroundTasks", "UploadFile", "Depends", "Query", "Header", "Cookie",
    "Body", "Form", "File", "Path", "status",
]  # fmt: skip


def test_public_names_are_importable() -> None:
    for name in PUBLIC:
        assert hasattr(celeris, name), name
        assert name in celeris.__all__, name
    assert issubclass(NotFound, HTTPError)
    assert celeris.status.HTTP_404_NOT_FOUND == 404


# --- "An application", as written ------------------------------------------------------------


class Item(msgspec.Struct):
    name: str
    price: float


app = App()  # App(debug=False, title="...", version="...")


@app.get("/")
async def index() -> str:  # str -> text/plain; utf-8
    return "Hello, World!"


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict:  # type: ignore[type-arg]
    return {"item_id": item_id, "q": q}  # dict/list -> application/json


@app.post("/items", status_code=201)
async def create_item(item: Item) -> Item:  # body parsed and validated from the annotation
    return item


@app.get("/sync")
def blocking() -> dict:  # type: ignore[type-arg]  # plain def handlers run in a worker thread pool
    return {"ok": True}


@app.websocket("/ws/{room}")
async def chat(ws: WebSocket, room: str) -> None:
    await ws.accept()
    async for message in ws.iter_text():
        await ws.send_text(message)


def test_application_example() -> None:
    client = TestClient(app)
    r = client.get("/")
    assert r.text == "Hello, World!"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    r = client.get("/items/5", params={"q": "x"})
    assert r.json() == {"item_id": 5, "q": "x"}
    assert r.headers["content-type"] == "application/json"
    r = client.post("/items", json={"name": "n", "price": 2.5})
    assert r.status_code == 201
    assert r.json() == {"name": "n", "price": 2.5}
    assert client.get("/sync").json() == {"ok": True}


def test_testing_example() -> None:
    with TestClient(app) as client:  # runs startup/shutdown
        r = client.get("/items/1", params={"q": "x"})
        assert r.status_code == 200
        assert r.json() == {"item_id": 1, "q": "x"}
        with client.websocket_connect("/ws/lobby") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "hi"


async def test_async_testing_example() -> None:
    async with AsyncTestClient(app) as client:
        r = await client.get("/items/1", params={"q": "x"})
        assert r.status_code == 200
        assert r.json() == {"item_id": 1, "q": "x"}
        async with client.websocket_connect("/ws/lobby") as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "hi"


def test_decorator_options() -> None:
    a = App()

    @a.route("/multi", methods=["GET", "POST"], name="multi", tags=["t"], summary="s",
             description="d", responses={404: NotFound}, operation_id="op", deprecated=True,
             include_in_schema=False)  # fmt: skip
    async def multi(request: Request) -> str:
        return request.method

    for verb in ("put", "patch", "delete", "head", "options"):
        getattr(a, verb)(f"/{verb}")(multi)
    client = TestClient(a)
    assert client.get("/multi").text == "GET"
    assert client.post("/multi").text == "POST"
    assert client.put("/put").text == "PUT"
    assert client.patch("/patch").text == "PATCH"
    assert client.delete("/delete").text == "DELETE"
    assert client.options("/options").text == "OPTIONS"
    assert client.head("/head").status_code == 200
    route = next(r for r in a.routes if r.name == "multi")
    assert route.methods == {"GET", "POST"}
    assert route.tags == ["t"]
    assert route.summary == "s"
    assert route.description == "d"
    assert route.responses == {404: NotFound}
    assert route.operation_id == "op"
    assert route.deprecated
    assert not route.include_in_schema


def test_path_converters_and_errors() -> None:
    a = App()

    @a.get("/n/{n:int}")
    async def n(n: int) -> int:
        return n

    @a.get("/u/{u:uuid}")
    async def u(u: str) -> str:
        return str(u)

    @a.get("/f/{rest:path}")
    async def f(rest: str) -> str:
        return rest

    @a.get("/typed/{x}")
    async def typed(x: int) -> int:
        return x

    client = TestClient(a)
    assert client.get("/n/4").json() == 4
    assert client.get("/n/x").status_code == 404
    assert client.get("/f/a/b").text == "a/b"
    assert client.get("/typed/x").status_code == 422


def test_explicit_sources() -> None:
    a = App()

    @a.post("/all/{p}")
    async def everything(
        p: Annotated[int, Path()],
        q: Annotated[int, Query()],
        x_token: Annotated[str, Header()],
        session: str = Cookie(),
        note: str = Body(embed=True),
    ) -> dict[str, Any]:
        return {"p": p, "q": q, "token": x_token, "session": session, "note": note}

    @a.post("/form")
    async def form(name: str = Form(), upload: UploadFile = File()) -> dict[str, Any]:
        return {"name": name, "file": upload.filename, "data": (await upload.read()).decode()}

    client = TestClient(a)
    r = client.post(
        "/all/1",
        params={"q": "2"},
        headers={"x-token": "t", "cookie": "session=s"},
        json={"note": "n"},
    )
    assert r.json() == {"p": 1, "q": 2, "token": "t", "session": "s", "note": "n"}
    r = client.post("/form", data={"name": "a"}, files={"upload": ("f.txt", b"hello")})
    assert r.json() == {"name": "a", "file": "f.txt", "data": "hello"}


def test_dependencies_background_and_generator_cleanup() -> None:
    a = App()
    log: list[str] = []

    async def db() -> AsyncIterator[str]:
        log.append("open")
        yield "db"
        log.append("close")

    def user(conn: str = Depends(db)) -> str:
        return f"user@{conn}"

    @a.get("/me")
    async def me(
        name: str = Depends(user), conn: str = Depends(db), tasks: BackgroundTasks = None
    ) -> str:  # type: ignore[assignment]
        tasks.add_task(log.append, "task")
        return name

    assert TestClient(a).get("/me").text == "user@db"
    assert log == ["open", "task", "close"]


def test_errors_section() -> None:
    a = App()

    @a.get("/items/{item_id}")
    async def item(item_id: int) -> None:
        raise HTTPError(404, "No such item")

    @a.get("/sub/{kind}")
    async def sub(kind: str) -> None:
        raise {
            "bad": BadRequest,
            "unauth": Unauthorized,
            "forbidden": Forbidden,
            "conflict": Conflict,
        }[kind]()

    @a.get("/limit")
    async def limit(limit: int) -> int:
        return limit

    @a.post("/json")
    async def body(item: Item) -> Item:
        return item

    class Custom(Exception):
        pass

    @a.exception_handler(Custom)
    async def on_custom(request: Request, exc: Custom) -> Response:
        return Response("custom", status_code=418)

    @a.get("/custom")
    async def custom() -> None:
        raise Custom()

    @a.get("/crash")
    async def crash() -> None:
        raise RuntimeError("internal detail")

    client = TestClient(a, raise_server_exceptions=False)
    r = client.get("/items/1")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No such item",
    }
    for kind, code in (("bad", 400), ("unauth", 401), ("forbidden", 403), ("conflict", 409)):
        assert client.get(f"/sub/{kind}").status_code == code
    r = client.get("/limit", params={"limit": "x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "limit"]
    assert {"msg", "type"} <= set(r.json()["errors"][0])
    assert client.post("/json", content=b"{oops").status_code == 400
    assert client.get("/nowhere").status_code == 404
    r = client.post("/limit")
    assert r.status_code == 405
    assert "GET" in r.headers["allow"]
    assert client.head("/limit", params={"limit": "1"}).status_code == 200
    assert "GET" in client.options("/limit").headers["allow"]
    assert client.get("/custom").status_code == 418
    r = client.get("/crash")
    assert r.status_code == 500
    assert "internal detail" not in r.text


def test_structure_section() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(a: App) -> AsyncIterator[None]:
        events.append("lifespan-start")
        yield
        events.append("lifespan-stop")

    a = App(lifespan=lifespan)
    a.state.greeting = "hello"

    async def require_key(x_key: Annotated[str, Header()] = "") -> None:
        if x_key != "k":
            raise HTTPError(401, "key")

    api = Router(prefix="/api", tags=["api"], dependencies=[Depends(require_key)])
    v1 = Router(prefix="/v1")

    @v1.get("/hello", name="hello")
    async def hello(request: Request) -> str:
        return request.app.state.greeting

    api.include_router(v1)
    a.include_router(api)

    class ThingResource:
        async def on_get(self, id: int) -> dict[str, int]:
            return {"id": id}

        async def on_post(self, id: int, item: Item) -> dict[str, Any]:
            return {"id": id, "name": item.name}

    a.add_resource("/things/{id}", ThingResource())

    sub = App()

    @sub.get("/ping")
    async def ping() -> str:
        return "pong"

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"wsgi"]

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi"})

    a.mount("/sub", sub)
    a.mount("/wsgi", wsgi)
    a.mount("/asgi", asgi)

    @a.middleware
    async def timing(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["x-mw"] = "1"
        return response

    @a.before_request
    async def before(request: Request) -> None:
        events.append("before")

    @a.after_request
    def after(response: Response) -> None:
        events.append("after")

    @a.on_startup
    def started() -> None:
        events.append("startup")

    @a.on_shutdown
    async def stopped() -> None:
        events.append("shutdown")

    with TestClient(a) as client:
        r = client.get("/api/v1/hello", headers={"x-key": "k"})
        assert r.text == "hello"
        assert r.headers["x-mw"] == "1"
        assert client.get("/api/v1/hello").status_code == 401
        assert client.get("/things/3").json() == {"id": 3}
        assert client.post("/things/3", json={"name": "n", "price": 1}).json() == {
            "id": 3,
            "name": "n",
        }
        assert client.get("/sub/ping").text == "pong"
        assert client.get("/wsgi/x").text == "wsgi"
        assert client.get("/asgi/x").text == "asgi"
        assert a.url_for("hello") == "/api/v1/hello"
    assert events[:2] == ["startup", "lifespan-start"]
    assert "before" in events
    assert "after" in events
    assert events[-2:] == ["lifespan-stop", "shutdown"]


def test_app_is_an_asgi_application() -> None:
    assert callable(app)
    assert TestClient(app).get("/").status_code == 200


@pytest.mark.parametrize("url", [None])
def test_openapi_url_setting_is_kept(url: str | None) -> None:
    a = App(openapi_url=url, docs_url=url, title="T", version="1", description="D")
    assert a.openapi_url is None
    assert a.docs_url is None
    assert a.title == "T"


# --- OpenAPI served by default ------------------------------------------------------------------


def _small_app(**options: Any) -> App:
    small = App(title="Small", version="2.0", **options)

    @small.get("/things/{thing_id}")
    async def read_thing(thing_id: int, q: str | None = None) -> Item:
        return Item(name=q or "x", price=float(thing_id))

    @small.post("/things", status_code=201)
    async def create_thing(item: Item) -> Item:
        return item

    return small


def test_every_app_serves_openapi_json_and_docs_by_default() -> None:
    client = TestClient(_small_app())
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    validate(spec)
    assert (spec["info"]["title"], spec["info"]["version"]) == ("Small", "2.0")
    assert set(spec["paths"]) == {"/things/{thing_id}", "/things"}
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "openapi.json" in docs.text


def test_openapi_url_none_disables_both_and_docs_url_none_only_docs() -> None:
    off = TestClient(_small_app(openapi_url=None))
    assert off.get("/openapi.json").status_code == 404
    assert off.get("/docs").status_code == 404
    no_docs = TestClient(_small_app(docs_url=None))
    assert no_docs.get("/openapi.json").status_code == 200
    assert no_docs.get("/docs").status_code == 404
    moved = TestClient(_small_app(openapi_url="/spec.json", docs_url="/api-docs"))
    assert moved.get("/spec.json").status_code == 200
    assert moved.get("/api-docs").status_code == 200
    assert moved.get("/openapi.json").status_code == 404
