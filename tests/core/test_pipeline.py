"""The per-route pipeline: Step order, early answers, errors, headers, specialisation."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from celeris import (
    App,
    Depends,
    Header,
    HTTPError,
    Query,
    Request,
    Response,
    Router,
    Step,
    WebSocket,
)
from celeris.core.lane import Lane
from celeris.core.pipeline import Flow
from celeris.core.responses import PlainTextResponse, StreamingResponse
from celeris.core.routing import Route
from celeris.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    RequestIDMiddleware,
    TrustedHostMiddleware,
)
from celeris.middleware import request_id as request_id_module
from celeris.middleware.request_id import RequestIDStep, _uuid_hex
from celeris.testing import TestClient

from ..server.support import read_response, serving
from .test_app import FakeConn


class Recorder(Step):
    """Logs its before/after into a shared list."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def before(self, request: Request) -> Response | None:
        self.log.append(f"{self.name}.before")
        return None

    async def after(self, request: Request, response: Response) -> None:
        self.log.append(f"{self.name}.after")
        response.headers.append("x-steps", self.name)


class Answer(Step):
    """Answers at once with a 418."""

    async def before(self, request: Request) -> Response | None:
        return PlainTextResponse("teapot", status_code=418)


class Refuse(Step):
    """Raises an HTTPError in before."""

    async def before(self, request: Request) -> Response | None:
        raise HTTPError(403, "refused by step")


def make_app(*steps: Step, log: list[str] | None = None) -> App:
    app = App(openapi_url=None)
    for step in steps:
        app.add_step(step)

    @app.get("/")
    async def index() -> str:
        if log is not None:
            log.append("handler")
        return "ok"

    return app


def test_before_in_order_after_in_reverse() -> None:
    log: list[str] = []
    app = make_app(Recorder("a", log), Recorder("b", log), log=log)
    r = TestClient(app).get("/")
    assert r.text == "ok"
    assert log == ["a.before", "b.before", "handler", "b.after", "a.after"]
    assert r.headers.get_list("x-steps") == ["b", "a"]


def test_an_early_answer_goes_through_the_after_of_earlier_steps_only() -> None:
    log: list[str] = []
    app = make_app(Recorder("a", log), Answer(), Recorder("c", log), log=log)
    r = TestClient(app).get("/")
    assert (r.status_code, r.text) == (418, "teapot")
    assert log == ["a.before", "a.after"]


def test_an_http_error_in_before_goes_through_exception_handlers_and_after() -> None:
    log: list[str] = []
    app = make_app(Recorder("a", log), Refuse(), log=log)

    @app.exception_handler(403)
    async def forbidden(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("custom 403", status_code=403)

    r = TestClient(app).get("/")
    assert (r.status_code, r.text) == (403, "custom 403")
    assert log == ["a.before", "a.after"]
    assert r.headers["x-steps"] == "a"


def test_after_runs_for_handler_errors_and_500s() -> None:
    log: list[str] = []
    app = App(openapi_url=None)
    app.add_step(Recorder("a", log))

    @app.get("/missing")
    async def missing() -> str:
        raise HTTPError(404, "nope")

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("boom")

    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/missing")
    assert (r.status_code, r.headers["x-steps"]) == (404, "a")
    r = client.get("/boom")
    assert (r.status_code, r.headers["x-steps"]) == (500, "a")
    with pytest.raises(RuntimeError, match="boom"):
        TestClient(app).get("/boom")


class Constant(Step):
    headers = (("X-Frame-Options", "DENY"), ("Content-Type", "text/evil"))


def test_constant_headers_are_added_without_override() -> None:
    app = App(openapi_url=None)
    app.add_step(Constant())

    @app.get("/")
    async def index() -> str:
        return "ok"

    @app.get("/framed")
    async def framed() -> Response:
        return PlainTextResponse("ok", headers={"x-frame-options": "SAMEORIGIN"})

    client = TestClient(app)
    r = client.get("/")
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/framed").headers["x-frame-options"] == "SAMEORIGIN"
    assert client.get("/nowhere").headers["x-frame-options"] == "DENY"  # 404s too


def test_bad_constant_headers_are_refused_at_start_up() -> None:
    class Split(Step):
        headers = (("x-a", "1\r\nset-cookie: a=b"),)

    app = make_app(Split())
    with pytest.raises(ValueError, match="CR or LF"):
        app.build_middleware_stack()


def test_route_steps_run_after_the_app_steps() -> None:
    log: list[str] = []
    app = App(openapi_url=None)
    app.add_step(Recorder("app", log))
    router = Router(prefix="/r", steps=[Recorder("router", log)])

    @router.get("/x", steps=[Recorder("route", log)])
    async def x() -> str:
        log.append("handler")
        return "x"

    @app.get("/plain")
    async def plain() -> str:
        log.append("handler")
        return "plain"

    app.include_router(router)
    client = TestClient(app)
    assert client.get("/r/x").text == "x"
    assert log == [
        "app.before",
        "router.before",
        "route.before",
        "handler",
        "route.after",
        "router.after",
        "app.after",
    ]
    log.clear()
    client.get("/plain")
    assert log == ["app.before", "handler", "app.after"]


class OnlyPosts(Step):
    """Runs on POST routes only; records the routes it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool, bool]] = []

    def for_route(self, route: Route) -> Step | None:
        assert route.plan is not None
        self.seen.append((route.path, route.csrf_exempt, route.plan.needs_request))
        return self if "POST" in route.methods else None

    async def before(self, request: Request) -> Response | None:
        return PlainTextResponse("step", status_code=409)


def test_for_route_none_skips_the_route_and_route_facts() -> None:
    step = OnlyPosts()
    app = App(openapi_url=None)
    app.add_step(step)

    def user_agent(request: Request) -> str:
        return request.headers.get("user-agent", "")

    @app.get("/get")
    async def get() -> str:
        return "get"

    @app.post("/post", csrf_exempt=True)
    async def post(ua: str = Depends(user_agent)) -> str:
        return "post"

    @app.websocket("/ws")
    async def ws() -> None:
        pass

    client = TestClient(app)
    assert client.get("/get").text == "get"
    assert client.post("/post").status_code == 409
    assert sorted(step.seen) == [("/get", False, False), ("/post", True, True)]
    routes = {r.path: r for r in app.routes}
    assert routes["/get"].flow is None  # costs the route nothing
    assert isinstance(routes["/post"].flow, Flow)


def test_hooks_make_every_route_need_the_request() -> None:
    step = OnlyPosts()
    app = App(openapi_url=None)
    app.add_step(step)

    @app.before_request
    async def noop(request: Request) -> None:
        return None

    @app.get("/get")
    async def get() -> str:
        return "get"

    app.build_middleware_stack()
    assert step.seen == [("/get", False, True)]


def test_csrf_exempt_on_routers_and_resources() -> None:
    app = App(openapi_url=None)
    router = Router(prefix="/hooks", csrf_exempt=True)

    @router.post("/in")
    async def incoming() -> str:
        return "ok"

    class Thing:
        async def on_post(self) -> str:
            return "ok"

    app.include_router(router)
    app.add_resource("/thing", Thing(), csrf_exempt=True)

    @app.post("/form")
    async def form() -> str:
        return "ok"

    exempt = {r.path: r.csrf_exempt for r in app.routes}
    assert exempt == {"/hooks/in": True, "/thing": True, "/form": False}


def test_request_session_without_a_sessions_step() -> None:
    app = App(openapi_url=None)

    @app.get("/")
    async def index(request: Request) -> str:
        return str(request.session)

    r = TestClient(app, raise_server_exceptions=False).get("/")
    assert r.status_code == 500
    with pytest.raises(RuntimeError, match=r"celeris\.sessions\.Sessions\(app=app\)"):
        TestClient(app).get("/")


def test_a_step_sets_the_session() -> None:
    class FakeSessions(Step):
        async def before(self, request: Request) -> Response | None:
            request.session = {"user": "ann"}
            return None

    app = App(openapi_url=None)
    app.add_step(FakeSessions())

    @app.get("/")
    async def index(request: Request) -> dict[str, Any]:
        return dict(request.session)

    assert TestClient(app).get("/").json() == {"user": "ann"}


def test_settings_and_add_step_checks() -> None:
    marker = object()
    assert App(settings=marker).settings is marker
    assert App().settings is None
    app = make_app()
    with pytest.raises(TypeError, match=r"celeris\.Step"):
        app.add_step(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="steps="):
        app.get("/bad", steps=[object()])(lambda: None)  # type: ignore[list-item]
    app.build_middleware_stack()
    with pytest.raises(RuntimeError, match="add a step"):
        app.add_step(Step())


# --- celeris's own middleware as steps: the same bytes as their ASGI form -------------------

MIDDLEWARE: list[tuple[Any, dict[str, Any]]] = [
    (TrustedHostMiddleware, {"allowed_hosts": ["test", "www.example.com"]}),
    (GZipMiddleware, {"minimum_size": 100}),
    (CORSMiddleware, {"allow_origins": ["https://ok.example"], "allow_methods": ["GET", "POST"]}),
    (RequestIDMiddleware, {"generator": lambda: "fixed-id"}),
]


def routes(app: App) -> App:
    @app.get("/text")
    async def text() -> str:
        return "hello"

    @app.get("/big")
    async def big() -> str:
        return "celeris " * 100

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for _ in range(5):
                yield b"streamed chunk " * 20

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/vary")
    async def vary() -> Response:
        return PlainTextResponse(
            "x" * 300, headers={"vary": "Cookie", "etag": '"abc"', "x-request-id": "mine"}
        )

    @app.post("/fail")
    async def fail() -> str:
        raise HTTPError(409, "conflict")

    return app


def stepped() -> App:
    app = App(openapi_url=None)
    for cls, options in MIDDLEWARE:
        app.add_middleware(cls, **options)
    return routes(app)


def as_asgi() -> Any:
    app: Any = routes(App(openapi_url=None))
    for cls, options in MIDDLEWARE:
        app = cls(app, **options)  # the last added is the outermost, as with add_middleware
    return app


async def call_asgi(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Any:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    sent: list[Any] = []
    requested = False

    async def receive() -> Any:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the client stays: a stream must end by itself
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], same_names_in_order(start["headers"]), body


def same_names_in_order(headers: Any) -> list[tuple[bytes, bytes]]:
    """Return the header pairs ordered by name only: repeated names keep their order.

    NOTE: where a route builds a Response object rather than answering from the short lane,
    content-length comes before content-type; nothing else about the order may differ.
    """
    return sorted((tuple(h) for h in headers), key=lambda h: h[0])


CASES = [
    ("GET", "/text", []),
    ("GET", "/text", [(b"origin", b"https://ok.example")]),
    ("GET", "/text", [(b"origin", b"https://evil.example")]),
    (
        "OPTIONS",
        "/text",
        [(b"origin", b"https://ok.example"), (b"access-control-request-method", b"POST")],
    ),
    (
        "OPTIONS",
        "/text",
        [(b"origin", b"https://evil.example"), (b"access-control-request-method", b"PUT")],
    ),
    ("GET", "/big", [(b"accept-encoding", b"gzip"), (b"origin", b"https://ok.example")]),
    ("GET", "/big", [(b"accept-encoding", b"br;q=0, gzip;q=0")]),
    ("GET", "/stream", [(b"accept-encoding", b"gzip")]),
    ("GET", "/vary", [(b"accept-encoding", b"gzip"), (b"origin", b"https://ok.example")]),
    ("POST", "/fail", [(b"origin", b"https://ok.example")]),
    ("GET", "/nowhere", [(b"origin", b"https://ok.example")]),
    ("GET", "/text", [(b"x-request-id", b"from-client")]),
    ("GET", "/text", [(b"x-request-id", b"bad id\x7f")]),
    ("HEAD", "/big", [(b"accept-encoding", b"gzip")]),
]


@pytest.mark.parametrize(("method", "path", "extra"), CASES)
async def test_builtin_middleware_as_steps_send_the_asgi_bytes(
    method: str, path: str, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"host", b"test"), *extra]
    app = stepped()
    app.build_middleware_stack()
    assert not app._stack or app._stack is app._asgi_entry  # every one became a step
    expected = await call_asgi(as_asgi(), method, path, headers)
    assert await call_asgi(app, method, path, headers) == expected


@pytest.mark.parametrize(
    ("host", "status"), [(b"evil.example", 400), (b"example.com", 301), (b"", 400)]
)
async def test_trusted_host_step_refuses_like_the_asgi_form(host: bytes, status: int) -> None:
    headers = [(b"host", host), (b"origin", b"https://ok.example")]
    expected = await call_asgi(as_asgi(), "GET", "/text", headers)
    assert expected[0] == status
    assert await call_asgi(stepped(), "GET", "/text", headers) == expected


@pytest.mark.parametrize(("method", "path", "extra"), CASES[:7])
async def test_fast_lane_and_asgi_send_the_same_answer(
    method: str, path: str, extra: list[tuple[bytes, bytes]]
) -> None:
    app = stepped()
    handler = app.fast_lane()
    assert handler is not None
    conn = FakeConn(method, path)
    conn.headers.extend(extra)
    await handler(conn)
    ((status, headers, body),) = conn.responded
    if not any(name == b"content-length" for name, _ in headers):
        headers = [*headers, (b"content-length", b"%d" % len(body))]  # as the server adds it
    expected = await call_asgi(stepped(), method, path, [(b"host", b"test"), *extra])
    assert (status, same_names_in_order(headers), body) == expected


def test_request_id_step_sets_the_state_and_websockets_keep_the_asgi_form() -> None:
    app = App(openapi_url=None)
    app.add_middleware(RequestIDMiddleware, generator=lambda: "gen-1")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["testserver"])

    @app.get("/")
    async def index(request: Request) -> str:
        return str(request.state.request_id)

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text(str(socket.scope["state"]["request_id"]))
        await socket.close()

    client = TestClient(app)
    r = client.get("/")
    assert (r.text, r.headers["x-request-id"]) == ("gen-1", "gen-1")
    with client.websocket_connect("/ws") as socket:
        assert socket.receive_text() == "gen-1"
    refused = TestClient(app, base_url="http://evil.example")
    assert refused.get("/").status_code == 400


def test_asgi_only_middleware_inside_keeps_celeris_middleware_asgi() -> None:
    seen: list[str] = []

    class Outer:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append("third-party")
            await self.app(scope, receive, send)

    app = App(openapi_url=None)
    app.add_middleware(Outer)  # added first: inside what follows
    app.add_middleware(RequestIDMiddleware, generator=lambda: "x")
    app.add_middleware(GZipMiddleware)

    @app.get("/")
    async def index() -> str:
        return "ok"

    r = TestClient(app).get("/")
    assert (r.text, r.headers["x-request-id"], seen) == ("ok", "x", ["third-party"])
    assert app.routes[0].flow is None  # no steps: both stayed ASGI, outside Outer


def test_uuid_hex_is_a_version_4_uuid() -> None:
    values = {_uuid_hex() for _ in range(200)}
    assert len(values) == 200
    for value in values:
        parsed = uuid.UUID(hex=value)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, value)


# --- the piped lane: routes with steps or flat dependencies answer as the full path ---------


def piped_app(*, flat: bool) -> App:
    """Routes whose dependencies are flat (the lane) or not (a generator: App._routed)."""
    log: list[str] = []
    app = App(openapi_url=None)
    app.state.log = log
    app.add_step(Recorder("a", log))

    async def agent(user_agent: str = Header("none")) -> str:
        return user_agent

    async def agent_gen(user_agent: str = Header("none")) -> Any:
        yield user_agent

    dependency = agent if flat else agent_gen

    async def count(x_count: int = Header(), x_tag: str = Header("-")) -> str:
        return f"{x_count}{x_tag}"

    async def count_gen(x_count: int = Header(), x_tag: str = Header("-")) -> Any:
        yield f"{x_count}{x_tag}"

    @app.get("/count")
    async def by_count(value: str = Depends(count if flat else count_gen)) -> str:
        return value

    async def limit(n: int = Query(ge=1)) -> int:
        return n

    async def nested(n: int = Depends(limit), request: Request = None) -> str:  # type: ignore[assignment]
        return f"{n}:{request.method}"

    @app.get("/agent")
    async def by_agent(ua: str = Depends(dependency)) -> str:
        return ua

    @app.get("/nested")
    async def by_nested(value: str = Depends(nested)) -> dict[str, str]:
        return {"value": value}

    @app.get("/boom")
    async def boom(ua: str = Depends(dependency)) -> str:
        raise RuntimeError("boom")

    @app.get("/teapot")
    async def teapot(ua: str = Depends(dependency)) -> str:
        raise HTTPError(418, "short and stout")

    return app


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/agent", {"user-agent": "probe"}),
        ("/agent", {}),
        ("/count", {"x-count": "2", "x-tag": "t"}),
        ("/count", {"x-count": "2"}),
        ("/count", {}),  # a required header missing: 422
        ("/count", {"x-count": "two"}),  # not an int: 422
        ("/nested?n=3", {}),
        ("/nested?n=0", {}),
        ("/nested", {}),
        ("/teapot", {}),
        ("/boom", {}),
    ],
)
def test_piped_routes_answer_as_the_full_path(path: str, headers: dict[str, str]) -> None:
    answers = []
    for flat in (True, False):
        app = piped_app(flat=flat)
        r = TestClient(app, raise_server_exceptions=False).get(path, headers=headers)
        answers.append((r.status_code, r.content, r.headers.get_list("x-steps"), app.state.log))
    assert answers[0] == answers[1]
    lane = piped_app(flat=True)
    lane.build_middleware_stack()
    assert isinstance(lane._entry, Lane)
    assert {r.path for r in lane._entry.shorts} >= {
        "/agent",
        "/count",
        "/nested",
        "/boom",
        "/teapot",
    }


def test_piped_dependency_header_values_are_validated_on_the_lane() -> None:
    app = piped_app(flat=True)
    client = TestClient(app)
    assert client.get("/count", headers={"x-count": "2", "x-tag": "t"}).text == "2t"
    assert client.get("/count", headers={"x-count": "2"}).text == "2-"
    for headers in ({}, {"x-count": "two"}):
        r = client.get("/count", headers=headers)
        assert r.status_code == 422
        assert [e["loc"] for e in r.json()["errors"]] == [["header", "x-count"]]


def test_piped_route_early_answer_and_failing_after() -> None:
    class BadAfter(Step):
        async def after(self, request: Request, response: Response) -> None:
            raise HTTPError(409, "after failed")

    log: list[str] = []
    app = App(openapi_url=None)
    app.add_step(Recorder("a", log))
    app.add_step(BadAfter())

    @app.get("/")
    async def index() -> str:
        return "ok"

    r = TestClient(app).get("/")
    assert r.status_code == 409
    assert log == ["a.before"]  # NOTE: the afters after a failing one do not run

    early = make_app(Recorder("a", log := []), Answer())
    r = TestClient(early).get("/")
    assert (r.status_code, r.headers["x-steps"]) == (418, "a")


def test_gzip_step_compresses_a_stream_chunk_by_chunk() -> None:
    app = App(openapi_url=None)
    app.add_middleware(GZipMiddleware, minimum_size=10)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for i in range(3):
                yield f"chunk {i} ".encode() * 50

        return StreamingResponse(chunks(), media_type="text/plain")

    r = TestClient(app).get("/stream", headers={"accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.text == "".join(f"chunk {i} " * 50 for i in range(3))


def test_request_ids_are_dropped_in_a_forked_child() -> None:
    first = _uuid_hex()
    request_id_module._ids.clear()  # what os.register_at_fork runs in the child
    after = {_uuid_hex() for _ in range(300)}
    assert first not in after
    assert len(after) == 300


async def test_request_state_is_per_request_on_celeris_server() -> None:
    # NOTE: the ASGI spec's scope["state"] is a copy of the lifespan state per request; on the
    # fast lane request.state (and RequestID's id, CSP nonces, CSRF tokens) must be too.
    app = App(openapi_url=None)

    @app.on_startup
    async def started() -> None:
        return None

    @app.get("/set")
    async def set_value(request: Request) -> str:
        request.state.secret = "from the first request"
        return "set"

    @app.get("/get")
    async def get_value(request: Request) -> str:
        return str(getattr(request.state, "secret", "unset"))

    async with serving(app) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path in (b"/set", b"/get"):
            writer.write(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            status, _, body = await read_response(reader)
            assert status == 200
        writer.close()
    assert body == b"unset"


async def test_mounted_apps_meet_the_steps_through_their_send_filters() -> None:
    async def child(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-child", b"1")]})
        await send({"type": "http.response.body", "body": b"mounted " * 100})

    def build(stepped_form: bool) -> Any:
        app: Any = App(openapi_url=None)
        app.mount("/sub", child)
        if stepped_form:
            for cls, options in MIDDLEWARE:
                app.add_middleware(cls, **options)
            return app
        for cls, options in MIDDLEWARE:
            app = cls(app, **options)
        return app

    headers = [
        (b"host", b"test"),
        (b"origin", b"https://ok.example"),
        (b"accept-encoding", b"gzip"),
    ]
    expected = await call_asgi(build(False), "GET", "/sub/page", headers)
    assert dict(expected[1])[b"content-encoding"] == b"gzip"
    assert await call_asgi(build(True), "GET", "/sub/page", headers) == expected


def test_a_subclass_overriding_before_of_a_builtin_step_gets_it_called() -> None:
    seen: list[str] = []

    class Custom(RequestIDStep):
        async def before(self, request: Request) -> Response | None:
            seen.append("custom")
            return await super().before(request)

    app = App(openapi_url=None)
    app.add_step(Custom(RequestIDMiddleware(None, generator=lambda: "c")))  # type: ignore[arg-type]

    @app.get("/")
    async def index() -> str:
        return "ok"

    r = TestClient(app).get("/")
    assert (seen, r.headers["x-request-id"]) == (["custom"], "c")
