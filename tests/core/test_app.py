"""App: return values, errors, exception handlers, fast lane, ASGI, WebSockets, state."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from celeris import (
    App,
    BackgroundTasks,
    Depends,
    HTTPError,
    JSONResponse,
    NotFound,
    PlainTextResponse,
    Request,
    RequestValidationError,
    Response,
    StreamingResponse,
    WebSocket,
    WebSocketDisconnect,
)
from celeris.core.routing import NoMatchFound, RouteConflict
from celeris.testing import TestClient
from celeris.types import FastLaneApp, Message, RawHeaders, fast_lane_of


class User(msgspec.Struct):
    name: str


@dataclasses.dataclass
class Pair:
    a: int
    b: int


# --- return values --------------------------------------------------------------------------


@pytest.fixture
def app() -> App:
    app = App()

    @app.get("/text")
    async def text() -> str:
        return "hi"

    @app.get("/bytes")
    async def raw() -> bytes:
        return b"\x01\x02"

    @app.get("/dict")
    async def as_dict() -> dict[str, int]:
        return {"a": 1}

    @app.get("/list")
    async def as_list() -> list[int]:
        return [1, 2]

    @app.get("/struct")
    async def struct() -> User:
        return User("u")

    @app.get("/dataclass")
    async def dc() -> Pair:
        return Pair(1, 2)

    @app.get("/filtered")
    async def filtered() -> User:
        return {"name": "n", "password": "secret"}  # type: ignore[return-value]

    @app.get("/model", response_model=User)
    async def with_model() -> dict[str, Any]:
        return {"name": "m", "token": "t"}

    @app.get("/bad-return")
    async def bad_return() -> User:
        return {"nope": 1}  # type: ignore[return-value]

    @app.get("/none")
    async def none() -> None:
        return None

    @app.post("/created", status_code=201)
    async def created() -> dict[str, bool]:
        return {"ok": True}

    @app.delete("/gone", status_code=202)
    async def gone() -> None:
        return None

    @app.get("/response")
    async def response() -> Response:
        r = PlainTextResponse("custom", status_code=203, headers={"x-a": "b"})
        r.set_cookie("k", "v", httponly=True)
        return r

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> Any:
            yield b"a"
            yield b"b"

        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/sync")
    def sync() -> dict[str, bool]:
        return {"in_thread": threading.current_thread() is not threading.main_thread()}

    return app


@pytest.fixture
def client(app: App) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def test_str_is_text_plain(client: TestClient) -> None:
    r = client.get("/text")
    assert r.text == "hi"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_bytes_is_octet_stream(client: TestClient) -> None:
    r = client.get("/bytes")
    assert r.content == b"\x01\x02"
    assert r.headers["content-type"] == "application/octet-stream"


def test_containers_and_models_are_json(client: TestClient) -> None:
    assert client.get("/dict").json() == {"a": 1}
    assert client.get("/list").json() == [1, 2]
    assert client.get("/struct").json() == {"name": "u"}
    assert client.get("/dataclass").json() == {"a": 1, "b": 2}
    assert client.get("/dict").headers["content-type"] == "application/json"


def test_return_annotation_filters_fields(client: TestClient) -> None:
    assert client.get("/filtered").json() == {"name": "n"}
    assert client.get("/model").json() == {"name": "m"}


def test_return_value_not_matching_annotation_is_500(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    r = client.get("/bad-return")
    assert r.status_code == 500
    assert "nope" not in r.text


def test_none_is_204_unless_status_code(client: TestClient) -> None:
    r = client.get("/none")
    assert r.status_code == 204
    assert r.content == b""
    assert client.delete("/gone").status_code == 202
    assert client.post("/created").status_code == 201


def test_response_returned_as_is(client: TestClient) -> None:
    r = client.get("/response")
    assert r.status_code == 203
    assert r.text == "custom"
    assert r.headers["x-a"] == "b"
    assert "HttpOnly" in r.headers["set-cookie"]


def test_streaming(client: TestClient) -> None:
    assert client.get("/stream").text == "ab"


def test_sync_handlers_run_in_threads(client: TestClient) -> None:
    assert client.get("/sync").json() == {"in_thread": True}


# --- errors ---------------------------------------------------------------------------------


def test_http_error_is_problem_json() -> None:
    app = App()

    @app.get("/items/{n}")
    async def item(n: int) -> None:
        raise HTTPError(404, f"No such item {n}")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPError(418, headers={"x-why": "tea"})

    client = TestClient(app)
    r = client.get("/items/3")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No such item 3",
    }
    assert client.get("/teapot").headers["x-why"] == "tea"


def test_unhandled_exception_is_500_without_internals() -> None:
    app = App()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password is hunter2")

    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/boom")
    assert r.status_code == 500
    assert "hunter2" not in r.text
    assert r.json()["status"] == 500
    with pytest.raises(RuntimeError, match="hunter2"):
        TestClient(app).get("/boom")


def test_debug_shows_traceback_html_or_json() -> None:
    app = App(debug=True)

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("<script>x</script>")

    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/boom", headers={"accept": "text/html"})
    assert r.status_code == 500
    assert "text/html" in r.headers["content-type"]
    assert "&lt;script&gt;" in r.text
    assert "Traceback" in r.text
    r = client.get("/boom", headers={"accept": "application/json"})
    assert r.json()["detail"] == "ValueError: <script>x</script>"
    assert any("boom" in line for line in r.json()["traceback"])


def test_exception_handlers_by_class_and_status() -> None:
    class Custom(Exception):
        pass

    class Sub(Custom):
        pass

    app = App(
        exception_handlers={
            KeyError: lambda request, exc: PlainTextResponse("key", status_code=400)
        }
    )

    @app.exception_handler(Custom)
    async def on_custom(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {"custom": type(exc).__name__, "path": request.url.path}, status_code=409
        )

    @app.exception_handler(404)
    async def on_404(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("nothing here", status_code=404)

    @app.get("/sub")
    async def sub() -> None:
        raise Sub()

    @app.get("/key")
    async def key() -> None:
        raise KeyError("k")

    @app.get("/nf")
    async def nf() -> None:
        raise NotFound()

    client = TestClient(app)
    assert client.get("/sub").json() == {"custom": "Sub", "path": "/sub"}
    assert client.get("/key").text == "key"
    assert client.get("/nf").text == "nothing here"
    assert client.get("/unknown").text == "nothing here"


def test_500_handler_and_broken_handler() -> None:
    app = App()

    @app.exception_handler(500)
    async def on_500(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"sorry: {type(exc).__name__}", status_code=500)

    @app.get("/boom")
    async def boom() -> None:
        raise ZeroDivisionError

    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    assert r.text == "sorry: ZeroDivisionError"


def test_route_conflict_raises_at_startup_with_both_names() -> None:
    app = App()

    @app.get("/x/{a}")
    async def first(a: str) -> str:
        return a

    @app.get("/x/{b}")
    async def second(b: str) -> str:
        return b

    with pytest.raises(RouteConflict, match="first.*second"), TestClient(app):
        pass


# --- structure ------------------------------------------------------------------------------


def test_url_for_and_root_path() -> None:
    app = App(root_path="/prefix")

    @app.get("/items/{item_id:int}", name="item")
    async def item(item_id: int, request: Request) -> str:
        return request.url_for("item", item_id=item_id + 1)

    assert app.url_for("item", item_id=1) == "/prefix/items/1"
    client = TestClient(app)
    assert client.get("/prefix/items/1").text == "/prefix/items/2"
    with pytest.raises(NoMatchFound):
        app.url_for("missing")


def test_state_and_background_tasks() -> None:
    app = App()
    app.state.counter = 0
    done: list[int] = []

    @app.post("/bump")
    async def bump(request: Request, tasks: BackgroundTasks) -> int:
        request.app.state.counter += 1
        tasks.add_task(done.append, request.app.state.counter)
        return request.app.state.counter

    client = TestClient(app)
    assert client.post("/bump").json() == 1
    assert client.post("/bump").json() == 2
    assert done == [1, 2]


def test_cannot_change_after_start() -> None:
    app = App()
    app.build_middleware_stack()
    with pytest.raises(RuntimeError):
        app.add_middleware(lambda app: app)
    with pytest.raises(RuntimeError):
        app.mount("/x", App())


def test_app_is_asgi_and_fast_lane() -> None:
    app = App()
    assert isinstance(app, FastLaneApp)
    assert fast_lane_of(app) is not None


class FakeConn:
    """A FastRequest as a server would hand it over."""

    def __init__(self, method: str, path: str, query: bytes = b"", body: bytes = b"") -> None:
        self.scheme = "http"
        self.method = method
        self.http_version = "1.1"
        self.path = path
        self.raw_path = path.encode()
        self.root_path = ""
        self.query_string = query
        self.headers: RawHeaders = [(b"host", b"test")]
        self.client = ("127.0.0.1", 1)
        self.server = ("127.0.0.1", 80)
        self.state: dict[str, Any] = {}
        self._body = body
        self.responded: list[tuple[int, RawHeaders, bytes]] = []
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        body, self._body = self._body, b""
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def respond(self, status: int, headers: RawHeaders, body: bytes) -> None:
        self.responded.append((status, headers, body))

    def is_disconnected(self) -> bool:
        return False


async def test_fast_lane_runs_the_same_pipeline() -> None:
    app = App()

    @app.get("/items/{n}")
    async def item(n: int, q: str = "") -> dict[str, Any]:
        return {"n": n, "q": q}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("x")

    handler = app.fast_lane()
    assert handler is not None
    conn = FakeConn("GET", "/items/3", b"q=z")
    await handler(conn)
    ((status, headers, body),) = conn.responded
    assert status == 200
    assert body == b'{"n":3,"q":"z"}'
    conn = FakeConn("GET", "/nope")
    await handler(conn)
    assert conn.responded[0][0] == 404
    conn = FakeConn("GET", "/boom")
    with pytest.raises(RuntimeError, match="x"):
        await handler(conn)  # answered with a 500, then raised for the server to log (as ASGI)
    assert conn.responded[0][0] == 500


async def test_fast_lane_with_asgi_middleware_goes_through_the_stack() -> None:
    class Tag:
        def __init__(self, app: Any, value: str) -> None:
            self.app = app
            self.value = value

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def tagged(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-tag", self.value.encode()),
                    ]
                await send(message)

            await self.app(scope, receive, tagged)

    app = App()
    app.add_middleware(Tag, value="v")

    @app.get("/")
    async def index() -> str:
        return "ok"

    handler = app.fast_lane()
    assert handler is not None
    conn = FakeConn("GET", "/")
    await handler(conn)
    start = conn.sent[0]
    assert start["status"] == 200
    assert (b"x-tag", b"v") in start["headers"]
    assert TestClient(app).get("/").headers["x-tag"] == "v"


def test_run_passes_options_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import celeris.server

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        seen.update(options, app=app)

    monkeypatch.setattr(celeris.server, "run", fake_run)
    app = App()
    app.run(port=9999, workers=2, access_log=False)
    assert seen == {
        "app": app,
        "host": "127.0.0.1",
        "port": 9999,
        "workers": 2,
        "access_log": False,
    }


# --- WebSockets -----------------------------------------------------------------------------


def test_websocket_route_with_params_and_query() -> None:
    app = App()

    @app.websocket("/ws/{room}")
    async def chat(ws: WebSocket, room: str, name: str = "anon") -> None:
        await ws.accept()
        await ws.send_text(f"{name}@{room}")
        async for message in ws.iter_text():
            await ws.send_text(message.upper())

    client = TestClient(app)
    with client.websocket_connect("/ws/lobby?name=bo") as ws:
        assert ws.receive_text() == "bo@lobby"
        ws.send_text("hi")
        assert ws.receive_text() == "HI"


def test_websocket_unknown_path_and_bad_params_are_refused() -> None:
    app = App()

    @app.websocket("/ws")
    async def ws_handler(ws: WebSocket, n: int) -> None:
        await ws.accept()

    client = TestClient(app)
    with pytest.raises(WebSocketDisconnect) as info:
        client.websocket_connect("/nope")
    assert info.value.code == 1008
    with pytest.raises(WebSocketDisconnect):
        client.websocket_connect("/ws?n=x")


def test_websocket_handler_error_closes_1011(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.websocket("/ws")
    async def ws_handler(ws: WebSocket) -> None:
        await ws.accept()
        raise RuntimeError("ws boom")

    client = TestClient(app)
    caplog.set_level(logging.CRITICAL)
    ws = client.websocket_connect("/ws")
    with pytest.raises((WebSocketDisconnect, RuntimeError)):
        ws.receive_text()


def test_websocket_error_handlers_see_unhandled_errors_after_the_1011_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    seen: list[tuple[str, str, str]] = []

    @app.on_websocket_error
    async def observe(ws: WebSocket, exc: Exception) -> None:
        seen.append((ws.path, ws.query_params.get("q", ""), repr(exc)))

    @app.on_websocket_error
    def broken(ws: WebSocket, exc: Exception) -> None:  # sync: run in the thread pool
        seen.append(("sync", ws.path, type(exc).__name__))
        raise ValueError("the observer itself fails")

    @app.websocket("/boom")
    async def boom(ws: WebSocket) -> None:
        await ws.accept()
        raise RuntimeError("ws boom")

    @app.websocket("/bye")
    async def bye(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4001, "deliberate")

    @app.websocket("/denied")
    async def denied(ws: WebSocket) -> None:
        raise HTTPError(403, "no")

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws.iter_text():
            await ws.send_text(message)

    client = TestClient(app)
    # NOTE: leaving the session waits for the app, whose handlers run after the close is sent
    with client.websocket_connect("/boom?q=1") as ws, pytest.raises(WebSocketDisconnect) as info:
        ws.receive_text()
    assert (info.value.code, info.value.reason) == (1011, "internal error")  # as without handlers
    assert seen == [
        ("/boom", "1", "RuntimeError('ws boom')"),
        ("sync", "/boom", "RuntimeError"),
    ]
    assert "the WebSocket error handler" in caplog.text
    seen.clear()
    with client.websocket_connect("/bye") as ws, pytest.raises(WebSocketDisconnect) as info:
        ws.receive_text()
    assert info.value.code == 4001
    with pytest.raises(WebSocketDisconnect):
        client.websocket_connect("/denied")
    with client.websocket_connect("/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
    assert seen == []


def test_a_mounted_app_without_error_hooks_uses_its_parents(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parent, sub, own, deeper = App(), App(), App(), App()
    seen: list[str] = []

    def error_hooks(app: App, who: str, key: type[Exception] | int) -> None:
        async def on_500(request: Request, exc: Exception) -> Response:
            seen.append(f"{who} 500 {request.url.path} {exc}")
            return PlainTextResponse(f"{who} says sorry", status_code=500)

        async def on_ws(ws: WebSocket, exc: Exception) -> None:
            seen.append(f"{who} ws {ws.path} {exc}")

        app.add_exception_handler(key, on_500)
        app.on_websocket_error(on_ws)

    error_hooks(parent, "parent", 500)
    error_hooks(own, "own", Exception)

    for app in (sub, own, deeper):

        @app.get("/boom")
        async def boom() -> str:
            raise RuntimeError("boom")

        @app.websocket("/ws")
        async def failing(ws: WebSocket) -> None:
            await ws.accept()
            raise RuntimeError("ws boom")

    sub.mount("/deeper", deeper)
    parent.mount("/sub", sub)
    parent.mount("/own", own)
    client = TestClient(parent, raise_server_exceptions=False)
    caplog.set_level(logging.CRITICAL)
    assert client.get("/sub/boom").text == "parent says sorry"
    assert client.get("/sub/deeper/boom").text == "parent says sorry"  # the nearest with one
    assert client.get("/own/boom").text == "own says sorry"  # its own first, the parent's not
    for path in ("/sub/ws", "/sub/deeper/ws", "/own/ws"):
        with client.websocket_connect(path) as ws, pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 1011
    assert seen == [
        "parent 500 /sub/boom boom",
        "parent 500 /sub/deeper/boom boom",
        "own 500 /own/boom boom",
        "parent ws /sub/ws ws boom",
        "parent ws /sub/deeper/ws ws boom",
        "own ws /own/ws ws boom",
    ]
    assert sub.exception_handlers == {}  # nothing copied: looked up when an error happens
    assert sub.websocket_error_handlers == []


def test_validation_error_handler_can_be_replaced() -> None:
    app = App()

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"bad": [e["loc"] for e in exc.errors]}, status_code=400)

    @app.get("/n")
    async def n(n: int) -> int:
        return n

    r = TestClient(app).get("/n", params={"n": "x"})
    assert r.status_code == 400
    assert r.json() == {"bad": [["query", "n"]]}


def test_routes_added_after_early_compile_are_seen_and_refused_once_serving() -> None:
    app = App(openapi_url=None)

    @app.get("/a")
    async def a() -> str:
        return "a"

    assert [r.path for r in app.routes] == ["/a"]

    @app.get("/b")
    async def b() -> str:
        return "b"

    client = TestClient(app)
    assert client.get("/b").text == "b"
    with pytest.raises(RuntimeError, match="started"):
        app.get("/c")


def test_websocket_dependency_refusal_and_cleanup() -> None:
    events: list[str] = []

    async def resource() -> AsyncIterator[str]:
        events.append("open")
        yield "r"
        events.append("close")

    async def guard(token: str = "") -> None:
        if token != "ok":
            raise HTTPError(403, "no token")

    app = App()

    @app.websocket("/ws", dependencies=[Depends(guard)])
    async def ws_handler(ws: WebSocket, r: str = Depends(resource)) -> None:
        await ws.accept()
        await ws.send_text(r)

    client = TestClient(app)
    with pytest.raises(WebSocketDisconnect) as info:
        client.websocket_connect("/ws")
    assert info.value.code == 1008
    with client.websocket_connect("/ws?token=ok") as ws:
        assert ws.receive_text() == "r"
    assert events == ["open", "close"]


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_thread_pool_size_is_checked(size: Any) -> None:
    with pytest.raises(ValueError, match="thread_pool_size"):
        App(thread_pool_size=size)


def test_exception_handler_for_exception_only_catches_unhandled_errors() -> None:
    app = App()

    @app.exception_handler(Exception)
    async def on_any(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"oops {type(exc).__name__}", status_code=500)

    @app.get("/boom")
    async def boom() -> None:
        raise LookupError

    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/boom").text == "oops LookupError"
    r = client.get("/missing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_add_exception_handler_checks_its_key() -> None:
    app = App()
    app.add_exception_handler(409, lambda request, exc: PlainTextResponse("c", status_code=409))
    with pytest.raises(TypeError):
        app.add_exception_handler(200, lambda request, exc: None)
    with pytest.raises(TypeError):
        app.add_exception_handler(str, lambda request, exc: None)  # type: ignore[arg-type]

    @app.get("/c")
    async def c() -> None:
        raise HTTPError(409)

    assert TestClient(app).get("/c").text == "c"


def test_extensions_run_once_before_routes_compile() -> None:
    calls: list[App] = []

    def extension(app: App) -> None:
        calls.append(app)

        @app.get("/added")
        async def added() -> str:
            return "added"

    class Extended(App):
        extensions = [*App.extensions, extension]

    app = Extended(openapi_url=None)
    assert [r.path for r in app.routes] == ["/added"]

    @app.get("/late")
    async def late() -> str:
        return "late"

    client = TestClient(app)
    assert client.get("/added").text == "added"
    assert client.get("/late").text == "late"
    assert calls == [app]
    assert [r.path for r in App(openapi_url=None).routes] == []
