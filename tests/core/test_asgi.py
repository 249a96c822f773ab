from __future__ import annotations

from typing import Any

from celeris.core.asgi import ASGIConnection, scope_of
from celeris.types import FastRequest


def make_scope(**overrides: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"x=1",
        "root_path": "",
        "headers": [(b"host", b"example.com")],
        "client": ["1.2.3.4", 5555],
        "server": ("example.com", 80),
    }
    scope.update(overrides)
    return scope


class Recorder:
    def __init__(self, messages: list[dict[str, Any]] | None = None) -> None:
        self.incoming = list(messages or [])
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


async def test_connection_attributes_and_protocol() -> None:
    scope = make_scope()
    rec = Recorder()
    conn = ASGIConnection(scope, rec.receive, rec.send)
    assert isinstance(conn, FastRequest)
    assert conn.method == "GET"
    assert conn.path == "/a b"
    assert conn.raw_path == b"/a%20b"
    assert conn.client == ("1.2.3.4", 5555)  # list normalised to a tuple
    assert conn.headers == [(b"host", b"example.com")]
    assert conn.state == {}
    assert scope["state"] is conn.state
    assert scope_of(conn) is scope


async def test_respond_sends_start_and_body() -> None:
    rec = Recorder()
    conn = ASGIConnection(make_scope(), rec.receive, rec.send)
    await conn.respond(201, [(b"content-length", b"2")], b"ok")
    assert rec.sent == [
        {"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"2")]},
        {"type": "http.response.body", "body": b"ok"},
    ]


async def test_head_respond_drops_body() -> None:
    rec = Recorder()
    conn = ASGIConnection(make_scope(method="HEAD"), rec.receive, rec.send)
    await conn.respond(200, [(b"content-length", b"2")], b"ok")
    assert rec.sent[1]["body"] == b""


async def test_disconnect_is_remembered() -> None:
    rec = Recorder([{"type": "http.request", "body": b"x"}, {"type": "http.disconnect"}])
    conn = ASGIConnection(make_scope(), rec.receive, rec.send)
    assert not conn.is_disconnected()
    assert (await conn.receive())["type"] == "http.request"
    assert (await conn.receive())["type"] == "http.disconnect"
    assert conn.is_disconnected()
    assert (await conn.receive())["type"] == "http.disconnect"  # no further call to receive


async def test_missing_raw_path_and_scope_of_other_fast_request() -> None:
    scope = make_scope()
    del scope["raw_path"]
    rec = Recorder()
    conn = ASGIConnection(scope, rec.receive, rec.send)
    assert conn.raw_path == b"/a b"

    class Fake:
        scheme = "https"
        method = "POST"
        http_version = "1.1"
        path = "/p"
        raw_path = b"/p"
        root_path = ""
        query_string = b"q=1"
        headers = [(b"a", b"b")]
        client = ("h", 1)
        server = ("s", 443)
        state: dict[str, Any] = {}

        async def receive(self) -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(self, message: dict[str, Any]) -> None:
            pass

        async def respond(self, status: int, headers: Any, body: bytes) -> None:
            pass

        def is_disconnected(self) -> bool:
            return False

    built = scope_of(Fake())
    assert built["type"] == "http"
    assert built["method"] == "POST"
    assert built["scheme"] == "https"
    assert built["query_string"] == b"q=1"
    assert built["headers"] == [(b"a", b"b")]
    assert built["asgi"]["version"] == "3.0"
