"""bridge: the parent's function middleware and hooks wrap mounted apps (as in Starlette)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from celeris import App, Request, Response, StreamingResponse
from celeris.core.middleware import CallNext
from celeris.testing import TestClient
from celeris.types import Receive, Scope, Send


async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A plain ASGI app echoing its path, root path and body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    text = f"{scope['root_path']}|{scope['path']}|{body.decode()}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": text})


def parent_with(sub: object) -> tuple[App, list[str]]:
    seen: list[str] = []
    parent = App(openapi_url=None)

    @parent.middleware
    async def tag(request: Request, call_next: CallNext) -> Response:
        seen.append(f"mw {request.url.path}")
        response = await call_next(request)
        response.headers["x-parent"] = "yes"
        return response

    @parent.after_request
    def after(response: Response) -> None:
        seen.append(f"after {response.status_code}")

    @parent.get("/own")
    async def own() -> str:
        return "own"

    parent.mount("/sub", sub)
    return parent, seen


def test_parent_middleware_and_hooks_wrap_a_mounted_asgi_app() -> None:
    parent, seen = parent_with(raw_app)
    client = TestClient(parent)
    r = client.post("/sub/echo", content=b"hello")
    assert (r.status_code, r.text) == (201, "/sub|/sub/echo|hello")
    assert r.headers["x-parent"] == "yes"
    assert seen == ["mw /sub/echo", "after 201"]
    assert client.get("/own").headers["x-parent"] == "yes"


def test_parent_and_child_middleware_both_run_for_a_mounted_app() -> None:
    child = App(openapi_url=None)

    @child.middleware
    async def child_mw(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-child"] = "yes"
        return response

    @child.get("/items/{n}")
    async def item(n: int) -> dict[str, int]:
        return {"n": n}

    parent, _ = parent_with(child)
    r = TestClient(parent).get("/sub/items/4")
    assert r.json() == {"n": 4}
    assert (r.headers["x-parent"], r.headers["x-child"]) == ("yes", "yes")
    missing = TestClient(parent).get("/sub/items/x")
    assert missing.status_code == 422
    assert missing.headers["x-parent"] == "yes"


def test_a_before_hook_can_answer_for_a_mount_and_body_read_is_replayed() -> None:
    parent = App(openapi_url=None)

    @parent.before_request
    async def guard(request: Request) -> Response | None:
        if request.headers.get("x-block"):
            return Response("blocked", status_code=403)
        await request.body()  # the mounted app must still see the body
        return None

    parent.mount("/sub", raw_app)
    client = TestClient(parent)
    assert client.post("/sub/x", content=b"data").text == "/sub|/sub/x|data"
    blocked = client.post("/sub/x", content=b"data", headers={"x-block": "1"})
    assert (blocked.status_code, blocked.text) == (403, "blocked")


def test_streamed_body_of_a_mounted_app_is_forwarded() -> None:
    child = App(openapi_url=None)

    @child.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"part{i};".encode()

        return StreamingResponse(parts(), media_type="text/plain")

    parent, _ = parent_with(child)
    r = TestClient(parent).get("/sub/stream")
    assert r.text == "part0;part1;part2;"
    assert r.headers["x-parent"] == "yes"


def test_replaced_response_stops_the_mounted_app() -> None:
    stopped: list[str] = []

    async def endless(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            while True:
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                await asyncio.sleep(0)
        finally:
            stopped.append("stopped")

    parent = App(openapi_url=None)

    @parent.middleware
    async def replace(request: Request, call_next: CallNext) -> Response:
        await call_next(request)
        return Response("replaced")

    parent.mount("/sub", endless)
    assert TestClient(parent).get("/sub/").text == "replaced"
    assert stopped == ["stopped"]


def test_a_mounted_app_failing_before_its_response_gives_500() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    for sub in (broken, silent):
        parent, _ = parent_with(sub)
        client = TestClient(parent, raise_server_exceptions=False)
        r = client.get("/sub/x")
        assert r.status_code == 500
        assert "boom" not in r.text


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_without_function_middleware_mounts_are_called_directly(method: str) -> None:
    parent = App(openapi_url=None)
    parent.mount("/sub", raw_app)
    r = TestClient(parent).request(method, "/sub/a")
    assert r.status_code == 201
    assert "x-parent" not in r.headers
