"""The per-request cycle: the fast lane (FastRequest) and ASGI behave the same."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from celeris.types import FastHandler, FastLaneApp, FastRequest, Receive, Scope, Send

from .support import raw, read_response, serving, status_of


class FakeApp:
    """A tiny celeris-like app: the same handler behind ASGI and the fast lane."""

    def __init__(self) -> None:
        self.fast_calls = 0
        self.asgi_calls = 0
        self.tasks_seen: list[bool] = []

    async def handle(self, request: FastRequest) -> None:
        if request.path == "/stream":
            await request.send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            for part in (b"a", b"b", b"c"):
                await request.send({"type": "http.response.body", "body": part, "more_body": True})
            await request.send({"type": "http.response.body", "body": b""})
            return
        if request.path == "/echo":
            body = b""
            while True:
                message = await request.receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            await request.respond(200, [(b"content-type", b"application/octet-stream")], body)
            return
        if request.path == "/sleep":
            await asyncio.sleep(0.01)
        if request.path == "/boom":
            raise RuntimeError("boom")
        self.tasks_seen.append(asyncio.current_task() is not None)
        payload = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode(),
            "version": request.http_version,
            "scheme": request.scheme,
            "state": sorted(request.state),
            "disconnected": request.is_disconnected(),
            "headers": [[k.decode(), v.decode()] for k, v in request.headers],
        }
        await request.respond(
            200, [(b"content-type", b"application/json")], json.dumps(payload).encode()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["ready"] = True
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.asgi_calls += 1
        await self.handle(_ScopeRequest(scope, receive, send))

    def fast_lane(self) -> FastHandler | None:
        async def handler(request: FastRequest) -> None:
            self.fast_calls += 1
            await self.handle(request)

        return handler


class _ScopeRequest:
    """FastRequest over an ASGI scope (what celeris.core.asgi does for the real app)."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        for key in (
            "scheme",
            "method",
            "http_version",
            "path",
            "raw_path",
            "root_path",
            "query_string",
            "client",
            "server",
            "state",
        ):
            setattr(self, key, scope[key])
        self.headers = list(scope["headers"])
        self.gone = False

    async def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    def is_disconnected(self) -> bool:
        return self.gone


def test_fake_app_is_a_fast_lane_app() -> None:
    assert isinstance(FakeApp(), FastLaneApp)


REQUESTS = [
    b"GET /x?y=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /stream HTTP/1.0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n",
    b"GET /sleep HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /boom HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
]


def _strip_date(response: bytes) -> bytes:
    return b"\r\n".join(line for line in response.split(b"\r\n") if not line.startswith(b"date: "))


@pytest.mark.parametrize("request_bytes", REQUESTS)
async def test_fast_lane_and_asgi_give_identical_bytes(request_bytes: bytes) -> None:
    app = FakeApp()
    async with serving(app) as (_, port):
        fast = await raw(port, request_bytes)
    async with serving(app, fast_lane=False) as (_, port):
        asgi = await raw(port, request_bytes)
    assert app.fast_calls == 1
    assert app.asgi_calls == 1
    assert _strip_date(fast) == _strip_date(asgi)
    assert status_of(fast) in (200, 500)


async def test_fast_lane_response_is_one_write_with_content_length() -> None:
    async with serving(FakeApp()) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n" * 3)
        for _ in range(3):
            status, headers, body = await read_response(reader)
            assert status == 200
            assert int(headers["content-length"]) == len(body)
            assert json.loads(body)["state"] == ["ready"]
        writer.close()


async def test_a_handler_that_never_suspends_still_runs_in_a_task() -> None:
    # asyncio.timeout() and anyio need a current Task from a handler's first line, both lanes.
    app = FakeApp()
    async with serving(app) as (_, port):
        await raw(port, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    async with serving(app, fast_lane=False) as (_, port):
        await raw(port, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert app.tasks_seen == [True, True]


async def test_a_handler_that_suspends_is_finished_by_a_task() -> None:
    app = FakeApp()
    async with serving(app) as (_, port):
        response = await raw(port, b"GET /sleep HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert status_of(response) == 200
    assert app.tasks_seen == [True]


async def test_context_variables_do_not_leak_between_requests() -> None:
    import contextvars

    var: contextvars.ContextVar[int] = contextvars.ContextVar("var", default=0)
    seen: list[int] = []

    class App(FakeApp):
        async def handle(self, request: FastRequest) -> None:
            seen.append(var.get())
            var.set(var.get() + 1)
            await request.respond(200, [], b"")

    async with serving(App()) as (_, port):
        await raw(
            port,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 3
            + b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
    assert seen == [0, 0, 0, 0]


async def test_respond_twice_is_an_error_that_does_not_break_the_connection(caplog: Any) -> None:
    class App(FakeApp):
        async def handle(self, request: FastRequest) -> None:
            await request.respond(200, [], b"one")
            await request.respond(200, [], b"two")

    async with serving(App()) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert (await read_response(reader))[2] == b"one"
        writer.close()
    assert "respond() called after the response was started" in caplog.text


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-a", b"1\r\nSet-Cookie: evil=1")],
        [(b"content-type", b"text/plain; charset=utf-8"), (b"x-a", b"1\nSet-Cookie: evil=1")],
        [(b"content-length", b"1\r\nSet-Cookie: evil=1")],
        [(b"content-type", b"application/json\rSet-Cookie: evil=1")],
        [(b"content-type\r\nSet-Cookie: evil=1", b"application/json")],
    ],
)
async def test_respond_refuses_cr_or_lf_in_headers(headers: list[tuple[bytes, bytes]]) -> None:
    class App(FakeApp):
        async def handle(self, request: FastRequest) -> None:
            await request.respond(200, headers, b"x")

    async with serving(App()) as (_, port):
        response = await raw(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status_of(response) == 500
    assert b"evil" not in response


async def test_is_disconnected_turns_true_when_the_client_leaves() -> None:
    flags: list[bool] = []
    done = asyncio.Event()

    class App(FakeApp):
        async def handle(self, request: FastRequest) -> None:
            flags.append(request.is_disconnected())
            while not request.is_disconnected():
                await asyncio.sleep(0.01)
            flags.append(request.is_disconnected())
            done.set()

    async with serving(App()) as (_, port):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        await asyncio.sleep(0.05)
        writer.close()
        await asyncio.wait_for(done.wait(), 5)
    assert flags == [False, True]


async def test_content_length_shorter_than_declared_closes_the_connection() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"10")],
                }
            )
            await send({"type": "http.response.body", "body": b"short"})

    async with serving(app) as (_, port):
        response = await raw(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert response.endswith(b"short")


async def test_no_body_for_204_and_304() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            status = int(scope["path"][1:])
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async with serving(app) as (_, port):
        for status in (204, 304):
            response = await raw(
                port, b"GET /%d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % status
            )
            assert status_of(response) == status
            assert b"content-length" not in response
            assert b"transfer-encoding" not in response
